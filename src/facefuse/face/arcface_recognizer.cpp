#include "facefuse/face/arcface_recognizer.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/face/alignment.h"
#include "facefuse/face/crop_tensor.h"
#include "facefuse/inference/session_cache.h"

namespace facefuse::face {

std::vector<float> embedding_norm(const std::vector<float>& embedding) {
  double sum = 0;
  for (float v : embedding) sum += double(v) * v;
  const double norm = std::sqrt(sum);
  std::vector<float> out(embedding.size(), 0.0f);
  if (norm <= 0) return out;
  for (size_t i = 0; i < embedding.size(); ++i) out[i] = static_cast<float>(embedding[i] / norm);
  return out;
}

ArcfaceRecognizer::ArcfaceRecognizer(std::shared_ptr<inference::OnnxSession> session) : session_(std::move(session)) {}

Result<std::shared_ptr<ArcfaceRecognizer>> ArcfaceRecognizer::open(const std::filesystem::path& model_path,
                                                                   const inference::SessionOptions& options) {
  FF_ASSIGN_OR_RETURN(auto session, inference::open_session(model_path, options));
  const auto& in = session->inputs();
  const auto& out = session->outputs();
  const auto dim_ok = [](int64_t got, int64_t want) { return got == want || got < 0; };
  const bool input_ok = in.size() == 1 && in[0].shape.size() == 4 && dim_ok(in[0].shape[0], 1) &&
                        dim_ok(in[0].shape[1], 3) && dim_ok(in[0].shape[2], kCropSize) &&
                        dim_ok(in[0].shape[3], kCropSize);
  const bool output_ok = !out.empty() && !out[0].shape.empty() && dim_ok(out[0].shape.back(), kEmbeddingSize);
  if (!input_ok || !output_ok) {
    return invalid_argument(fmt::format(
        "{} is not an ArcFace recognizer: expected input [1,3,{},{}] and output [1,{}], got input [{}] and output "
        "[{}]; install FaceFusion's arcface_w600k_r50.onnx",
        model_path.string(), kCropSize, kCropSize, kEmbeddingSize,
        in.empty() ? "" : fmt::format("{}", fmt::join(in[0].shape, ",")),
        out.empty() ? "" : fmt::format("{}", fmt::join(out[0].shape, ","))));
  }
  return std::shared_ptr<ArcfaceRecognizer>(new ArcfaceRecognizer(std::move(session)));
}

inference::Tensor ArcfaceRecognizer::input_tensor(const cv::Mat& bgr_crop) {
  return rgb_planes(bgr_crop, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f});  // x / 127.5 − 1
}

Result<std::vector<float>> ArcfaceRecognizer::embed(const cv::Mat& bgr, const Face& face) const {
  if (bgr.empty() || bgr.type() != CV_8UC3) return invalid_argument("arcface recognizer needs a BGR uint8 frame");
  const cv::Size crop_size(kCropSize, kCropSize);
  const cv::Mat affine = estimate_alignment(face.landmarks5, AlignmentTemplate::kArcface112V2, crop_size);
  if (affine.empty()) return invalid_argument("face landmarks are degenerate; cannot align the face for ArcFace");
  const cv::Mat crop = warp_face(bgr, affine, crop_size);
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run({input_tensor(crop)}));
  if (outputs.empty() || outputs[0].data.size() != kEmbeddingSize) {
    return internal_error(fmt::format("{} returned no {}-d embedding", session_->path().filename().string(),
                                      kEmbeddingSize));
  }
  return std::move(outputs[0].data);
}

float ArcfaceRecognizer::distance(const std::vector<float>& a, const std::vector<float>& b) const {
  if (a.size() != b.size() || a.empty()) return std::numeric_limits<float>::infinity();
  const auto na = embedding_norm(a), nb = embedding_norm(b);
  double cosine = 0;
  for (size_t i = 0; i < na.size(); ++i) cosine += double(na[i]) * nb[i];
  return static_cast<float>((1.0 - cosine) / 2.0);
}

}  // namespace facefuse::face
