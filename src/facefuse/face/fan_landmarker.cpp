#include "facefuse/face/fan_landmarker.h"

#include <algorithm>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/onnx_face_detector.h"
#include "facefuse/inference/session_cache.h"

namespace facefuse::face {

namespace {

constexpr float kCropExtent = 195.0f;     // box side in crop pixels
constexpr float kDarkMeanL = 30.0f;       // 8-bit L below which the crop gets CLAHE
constexpr double kClaheClipLimit = 2.0;
constexpr float kScoreFullHeat = 0.9f;    // mean heatmap maximum that maps to score 1

}  // namespace

FanLandmarker::FanLandmarker(std::shared_ptr<inference::OnnxSession> session, int landmarks_output,
                             int heatmaps_output)
    : session_(std::move(session)), landmarks_output_(landmarks_output), heatmaps_output_(heatmaps_output) {}

Result<std::unique_ptr<FanLandmarker>> FanLandmarker::open(const std::filesystem::path& model_path,
                                                           const inference::SessionOptions& session_options) {
  FF_ASSIGN_OR_RETURN(auto session, inference::open_session(model_path, session_options));
  const auto& in = session->inputs();
  auto dim_ok = [](int64_t dim, int want) { return dim <= 0 || dim == want; };
  const bool input_ok = in.size() == 1 && in[0].name == "input" && in[0].shape.size() == 4 &&
                        dim_ok(in[0].shape[1], 3) && dim_ok(in[0].shape[2], kInputSize) &&
                        dim_ok(in[0].shape[3], kInputSize);
  int landmarks = -1, heatmaps = -1;
  const auto& out = session->outputs();
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& s = out[i].shape;
    if (s.size() == 3 && dim_ok(s[1], kLandmarkCount68) && dim_ok(s[2], 3)) landmarks = static_cast<int>(i);
    if (s.size() == 4 && dim_ok(s[1], kLandmarkCount68) && dim_ok(s[2], kHeatmapSize) && dim_ok(s[3], kHeatmapSize)) {
      heatmaps = static_cast<int>(i);
    }
  }
  if (!input_ok || out.size() != 2 || landmarks < 0 || heatmaps < 0) {
    return invalid_argument(fmt::format("{} is not a 2dfan4 model: expected input 'input' [1,3,256,256] and outputs "
                                        "[1,68,3] (landmarks) and [1,68,64,64] (heatmaps)",
                                        model_path.string()));
  }
  return std::unique_ptr<FanLandmarker>(new FanLandmarker(std::move(session), landmarks, heatmaps));
}

cv::Matx23d FanLandmarker::crop_matrix(const cv::Rect2f& box) {
  const double scale = kCropExtent / std::max<double>(std::max(box.width, box.height), 1.0);
  const double tx = (kInputSize - (2.0 * box.x + box.width) * scale) * 0.5;
  const double ty = (kInputSize - (2.0 * box.y + box.height) * scale) * 0.5;
  return {scale, 0.0, tx, 0.0, scale, ty};
}

Result<FanLandmarker::Result68> FanLandmarker::detect(const cv::Mat& bgr, const cv::Rect2f& box) const {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    return invalid_argument("2dfan4 needs a non-empty 8-bit BGR image (CV_8UC3)");
  }
  if (!(box.width > 0 && box.height > 0)) return invalid_argument("2dfan4 needs a face box with a positive size");
  const cv::Matx23d m = crop_matrix(box);
  cv::Mat crop;
  cv::warpAffine(bgr, crop, m, cv::Size(kInputSize, kInputSize), cv::INTER_LINEAR, cv::BORDER_CONSTANT);

  // FaceFusion converts its BGR crop with RGB2Lab (channels taken as RGB) and back, equalising L
  // only for dark crops; the round trip itself also rounds the pixels, so it is kept.
  cv::Mat lab;
  cv::cvtColor(crop, lab, cv::COLOR_RGB2Lab);
  std::vector<cv::Mat> channels;
  cv::split(lab, channels);
  if (cv::mean(channels[0])[0] < kDarkMeanL) {
    cv::createCLAHE(kClaheClipLimit)->apply(channels[0], channels[0]);
    cv::merge(channels, lab);
  }
  cv::cvtColor(lab, crop, cv::COLOR_Lab2RGB);

  inference::Tensor input = inference::Tensor::zeros({1, 3, kInputSize, kInputSize});
  const size_t plane = static_cast<size_t>(kInputSize) * kInputSize;
  for (int y = 0; y < kInputSize; ++y) {
    const uint8_t* src = crop.ptr<uint8_t>(y);
    for (int x = 0; x < kInputSize; ++x) {
      for (int c = 0; c < 3; ++c) input.data[c * plane + static_cast<size_t>(y) * kInputSize + x] = src[3 * x + c] / 255.0f;
    }
  }
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run({input}));
  const inference::Tensor& points = outputs[landmarks_output_];
  const inference::Tensor& heat = outputs[heatmaps_output_];
  const size_t heat_plane = static_cast<size_t>(kHeatmapSize) * kHeatmapSize;
  if (points.element_count() != 3 * kLandmarkCount68 || heat.element_count() != kLandmarkCount68 * heat_plane) {
    return internal_error("2dfan4 returned outputs of unexpected sizes");
  }

  cv::Matx23d inverse;
  cv::invertAffineTransform(m, inverse);
  constexpr float kToCrop = static_cast<float>(kInputSize) / kHeatmapSize;
  Result68 result;
  result.points.reserve(kLandmarkCount68);
  float max_sum = 0.0f;
  for (int i = 0; i < kLandmarkCount68; ++i) {
    result.points.push_back(
        transform_point(inverse, cv::Point2f(points.data[3 * i] * kToCrop, points.data[3 * i + 1] * kToCrop)));
    const float* h = heat.data.data() + static_cast<size_t>(i) * heat_plane;
    max_sum += *std::max_element(h, h + heat_plane);
  }
  result.score = std::clamp(max_sum / kLandmarkCount68 / kScoreFullHeat, 0.0f, 1.0f);
  return result;
}

Result<Landmarks68> FanLandmarker::landmarks(const cv::Mat& bgr, const cv::Rect2f& box) const {
  FF_ASSIGN_OR_RETURN(auto result, detect(bgr, box));
  return std::move(result.points);
}

cv::Rect2f FanLandmarker::box_from_landmarks(const Landmarks68& points) const {
  if (points.empty()) return {};
  float x0 = points[0].x, y0 = points[0].y, x1 = x0, y1 = y0;
  for (const auto& p : points) {
    x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

}  // namespace facefuse::face
