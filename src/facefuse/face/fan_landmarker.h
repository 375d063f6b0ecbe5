// FaceFusion's 2dfan4 68-point landmarker (2dfan4.onnx, 2D-FAN with 4 hourglass stacks), with
// FaceFusion 3.x's pre- and post-processing (shared/CONTRACTS.md):
//   crop      the box (FaceFusion's detector convention: Detection::detector_box) is scaled by
//             195 / max(w, h) and centred in a 256 x 256 crop: translation = (256 − (x1 + x2,
//             y1 + y2)·scale)·0.5; bilinear, zero border.
//   contrast  the crop goes through Lab and back as FaceFusion does (its BGR crop read as RGB), and
//             when the mean L is below 30 (a dark face) L is equalised with CLAHE (clip limit 2,
//             8 x 8 tiles).
//   input     `input` [1,3,256,256] float32, BGR, x / 255.
//   outputs   landmarks [1,68,3] (x, y in 64-px heatmap space, third value unused) and heatmaps
//             [1,68,64,64]; points × 4 are crop pixels, mapped back through the inverse crop.
//   score     the mean over the 68 points of each heatmap's maximum, mapped [0, 0.9] → [0, 1].
//
// box_from_landmarks() is FaceFusion's box from 68 points (their axis-aligned extent), which
// feeds the points of one video frame back as the box of the next.
//
// Thread-safety: landmarks() and detect() are const and safe to call from many threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "facefuse/face/face.h"
#include "facefuse/inference/onnx_session.h"

namespace facefuse::face {

class FanLandmarker final : public FaceLandmarker {
 public:
  static constexpr int kInputSize = 256;
  static constexpr int kHeatmapSize = 64;

  struct Result68 {
    Landmarks68 points;  // source-image pixels
    float score = 0.0f;  // [0, 1]
  };

  // Opens the model and checks its contract (input `input` [1,3,256,256]; outputs [1,68,3] and
  // [1,68,64,64]).
  static Result<std::unique_ptr<FanLandmarker>> open(const std::filesystem::path& model_path,
                                                     const inference::SessionOptions& session);

  std::string_view name() const override { return "2dfan4"; }
  // FaceFusion feeds 2dfan4 the detector's own box.
  cv::Rect2f input_box(const Detection& detection) const override { return detection.detector_box; }
  Result<Landmarks68> landmarks(const cv::Mat& bgr, const cv::Rect2f& box) const override;
  cv::Rect2f box_from_landmarks(const Landmarks68& points) const override;

  // Points and score for the face in `box` (FaceFusion's detector convention).
  Result<Result68> detect(const cv::Mat& bgr, const cv::Rect2f& box) const;

  // The crop transform for `box`: crop pixel = scale · source pixel + translation.
  static cv::Matx23d crop_matrix(const cv::Rect2f& box);

 private:
  FanLandmarker(std::shared_ptr<inference::OnnxSession> session, int landmarks_output, int heatmaps_output);
  std::shared_ptr<inference::OnnxSession> session_;
  int landmarks_output_;
  int heatmaps_output_;
};

}  // namespace facefuse::face
