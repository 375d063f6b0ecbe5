// DlibRecognizer: dlib's ResNet face descriptor (dlib_face_recognition_resnet_model_v1, 128-d),
// run through ONNX Runtime from dlib_face_recognition_resnet.onnx (made at setup by
// tools/convert_face_api_recognizer.py from the weights in npm @vladmandic/face-api).
//
// Pipeline, exactly as dlib's dnn_face_recognition_ex does it:
//   1. face chip: dlib::get_face_chip_details(shape, 150, 0.25) — a similarity transform that
//      puts landmarks 27–54 and 60–64 of the 68 on dlib's mean face shape with 25 % padding —
//      and dlib::extract_image_chip (bilinear, through an image pyramid when shrinking by 2× or
//      more). Landmark coordinates are used with sub-pixel precision (dlib rounds its own shape
//      predictor output to whole pixels; for whole-pixel input the chip is identical to dlib's).
//   2. model input `image`: float32 [1,150,150,3], NHWC, RGB, raw 0..255; the graph subtracts
//      dlib's mean RGB (122.782, 117.001, 104.298) and divides by 256 itself.
//   3. model output `descriptor`: float32 [1,128], not normalised (norms 1.3–1.6 on real faces).
// Distance is Euclidean; two faces are the same person when it is below 0.6 (dlib's rule, which
// dlib reports as 99.38 % accurate on LFW).
//
// Faces without 68 landmarks fall back to the 5 alignment points, fitted to the positions those
// points have on the same mean face (eye centres = means of 36–41 / 42–47, nose tip 30, mouth
// corners 48 / 54). That chip is close to, but not the same as, dlib's; prefer 68 landmarks.
//
// Thread-safety: immutable after open(); embed() may be called from many threads at once.
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

class DlibRecognizer final : public FaceRecognizer {
 public:
  static constexpr std::string_view kModelFile = "dlib_face_recognition_resnet.onnx";
  static constexpr int kChipSize = 150;            // chip side, pixels
  static constexpr double kChipPadding = 0.25;     // fraction of the mean-face extent on each side
  static constexpr int kDescriptorSize = 128;
  static constexpr float kSamePersonDistance = 0.6f;  // Euclidean

  // Opens models_dir/dlib_face_recognition_resnet.onnx and checks its input/output contract.
  // Missing file → kFailedPrecondition naming the file and telling to run scripts/setup.
  static Result<std::shared_ptr<DlibRecognizer>> open(const std::filesystem::path& models_dir,
                                                      const inference::SessionOptions& options = {});

  std::string_view name() const override { return "dlib_resnet"; }
  // 128-d descriptor of `face` (68 landmarks preferred, else its 5 points) in a BGR uint8 frame.
  Result<std::vector<float>> embed(const cv::Mat& bgr, const Face& face) const override;
  // Euclidean distance; +infinity when the sizes differ (descriptors of different recognizers).
  float distance(const std::vector<float>& a, const std::vector<float>& b) const override;
  float same_person_threshold() const override { return kSamePersonDistance; }

  // dlib's 150×150 face chip of `face`, BGR uint8 (the model sees it channel-reversed).
  // kInvalidArgument when the frame is not BGR uint8 or the face has no usable landmarks.
  static Result<cv::Mat> face_chip(const cv::Mat& bgr, const Face& face);
  // Descriptor of a chip made by face_chip (BGR uint8, kChipSize × kChipSize).
  Result<std::vector<float>> embed_chip(const cv::Mat& bgr_chip) const;

 private:
  explicit DlibRecognizer(std::shared_ptr<inference::OnnxSession> session);
  std::shared_ptr<inference::OnnxSession> session_;
};

}  // namespace facefuse::face
