// ArcfaceRecognizer: InsightFace's ArcFace ResNet-50 (arcface_w600k_r50.onnx, FaceFusion's
// recognizer), 512-d identity embeddings. Needed by the embedding-based face swappers
// (inswapper, hyperswap, simswap, ghost), which were trained on this model's embeddings.
//
// Pipeline (CONTRACTS.md "Recognizer arcface_w600k_r50"):
//   1. 112×112 crop aligned on the face's 5 points with template arcface_112_v2 (alignment.h);
//   2. model input `input`: float32 [1,3,112,112] NCHW, RGB, x / 127.5 − 1;
//   3. output [1,512]: the raw embedding (embed() returns it unnormalised; embedding_norm() gives
//      e / ‖e‖).
// Distance: (1 − cos) / 2, same person below 0.3 (cosine > 0.4), FaceFusion's rule.
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

class ArcfaceRecognizer final : public FaceRecognizer {
 public:
  static constexpr int kCropSize = 112;
  static constexpr int kEmbeddingSize = 512;
  static constexpr float kSamePersonDistance = 0.3f;  // (1 − cos) / 2

  // Opens `model_path` and checks its contract (one input [1,3,112,112], first output 512 values).
  static Result<std::shared_ptr<ArcfaceRecognizer>> open(const std::filesystem::path& model_path,
                                                         const inference::SessionOptions& options = {});

  std::string_view name() const override { return "arcface"; }
  // Raw (unnormalised) 512-d embedding of `face` (its 5 points) in a BGR uint8 frame.
  Result<std::vector<float>> embed(const cv::Mat& bgr, const Face& face) const override;
  float distance(const std::vector<float>& a, const std::vector<float>& b) const override;
  float same_person_threshold() const override { return kSamePersonDistance; }

  // The model input for an aligned 112×112 BGR uint8 crop: [1,3,112,112], RGB, x / 127.5 − 1.
  static inference::Tensor input_tensor(const cv::Mat& bgr_crop);

 private:
  explicit ArcfaceRecognizer(std::shared_ptr<inference::OnnxSession> session);
  std::shared_ptr<inference::OnnxSession> session_;
};

// e / ‖e‖ (a zero vector stays zero).
std::vector<float> embedding_norm(const std::vector<float>& embedding);

}  // namespace facefuse::face
