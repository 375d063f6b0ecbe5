// AgeGenderClassifier: a face's apparent gender and age from face-api's AgeGenderNet (a small
// Xception-style network), run through ONNX Runtime from face_api_age_gender.onnx (made at setup by
// tools/convert_face_api_age_gender.py from the weights in npm @vladmandic/face-api). It drives the
// face selector's gender and age filters (face_selector.h) and the studio's face gallery.
//
// Input crop, exactly as face-api makes it for a face with 68 landmarks (FaceLandmarks.align →
// alignMinBbox(0.2), extractFaceTensors, NetInput.toBatchTensor(112, true)):
//   1. box: the bounding box of the 68 points grown by 10 % of its width/height on each side
//      (faces without 68 landmarks: Face::box grown the same way), clipped to the frame, then x, y,
//      width and height each floored to whole pixels; no rotation (face-api does not align);
//   2. that region padded with black to a square, centred (the odd pixel goes after: bottom/right);
//   3. resized to 112×112 by TensorFlow's legacy bilinear resize (source = dest × in/out, no
//      half-pixel offset, edge clamped) — cv::resize uses half-pixel centres, so it is done here;
//   4. model input `image` float32 [1,112,112,3], NHWC, RGB, 0..255 (the graph subtracts face-api's
//      mean RGB and divides by 255).
// Outputs: `age` [1,1] in years (a regression: not clamped, not a range) and `gender` [1,2] softmax
// [P(male), P(female)]. tests/tools/test_age_gender_converter.py checks this recipe against
// face-api's own tfjs code (44 real faces: |age diff| < 3e-5 years).
//
// Cost: one 112×112 inference per face (docs/benchmarks.md "age/gender classifier"); jobs open it
// only when a gender or age filter is set.
//
// Thread-safety: immutable after open(); classify() may be called from many threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"
#include "facefuse/face/face.h"
#include "facefuse/inference/onnx_session.h"

namespace facefuse::face {

class AgeGenderClassifier {
 public:
  static constexpr std::string_view kModelFile = "face_api_age_gender.onnx";
  static constexpr int kInputSize = 112;      // model input side, pixels
  static constexpr double kBoxPadding = 0.2;  // face-api's minBoxPadding: total growth, half per side

  // Opens models_dir/face_api_age_gender.onnx and checks its contract. Missing file →
  // kFailedPrecondition naming the file and telling to run scripts/setup.
  static Result<std::shared_ptr<AgeGenderClassifier>> open(const std::filesystem::path& models_dir,
                                                           const inference::SessionOptions& options = {});

  // Gender and age of `face` in a BGR uint8 frame.
  Result<FaceAttributes> classify(const cv::Mat& bgr, const Face& face) const;
  // Fills Face::attributes of each face that has none yet (classified faces keep theirs).
  Status classify(const cv::Mat& bgr, std::vector<Face>& faces) const;

  // face-api's crop box of `face` in whole pixels, clipped to a frame of `frame_size`; empty when
  // the face lies outside the frame. kInvalidArgument for non-finite landmarks.
  static Result<cv::Rect> crop_box(const Face& face, cv::Size frame_size);
  // The model input of `face`: 112×112 RGB float32 (CV_32FC3) as face-api prepares it (steps 1–3).
  static Result<cv::Mat> model_input(const cv::Mat& bgr, const Face& face);

 private:
  explicit AgeGenderClassifier(std::shared_ptr<inference::OnnxSession> session) : session_(std::move(session)) {}
  std::shared_ptr<inference::OnnxSession> session_;
};

}  // namespace facefuse::face
