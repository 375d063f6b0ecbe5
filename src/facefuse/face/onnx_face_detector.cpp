#include "facefuse/face/onnx_face_detector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/box_convention.h"
#include "facefuse/inference/session_cache.h"

namespace facefuse::face {

namespace {

constexpr std::array<int, 3> kStrides{8, 16, 32};
constexpr int kYoloRows = 20;  // cx, cy, w, h, score, 5 × (x, y, visibility)

// Fallback rule of `box` (see the header): the 5-point fit is used when its side is within this
// factor of the model box's width and its centre within this fraction of that width.
constexpr float kFitMaxScale = 1.5f;
constexpr float kFitMaxShift = 0.3f;

bool uses_anchor_grid(OnnxDetectorFamily family) { return family != OnnxDetectorFamily::kYoloFace; }
int anchors_per_cell(OnnxDetectorFamily family) { return family == OnnxDetectorFamily::kYuNet ? 1 : 2; }
size_t output_count(OnnxDetectorFamily family) {
  switch (family) {
    case OnnxDetectorFamily::kYoloFace: return 1;
    case OnnxDetectorFamily::kScrfd:
    case OnnxDetectorFamily::kRetinaFace: return 9;
    case OnnxDetectorFamily::kYuNet: return 12;
  }
  return 0;
}

// Model input value of a BGR byte (the padding canvas is byte 0).
float normalise(OnnxDetectorFamily family, float byte) {
  switch (family) {
    case OnnxDetectorFamily::kYoloFace: return byte / 255.0f;
    case OnnxDetectorFamily::kScrfd:
    case OnnxDetectorFamily::kRetinaFace: return (byte - 127.5f) / 128.0f;
    case OnnxDetectorFamily::kYuNet: return byte;
  }
  return byte;
}

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  const float uni = a.area() + b.area() - inter;
  return uni > 0.0f ? inter / uni : 0.0f;
}

// The dlib-convention box of a detection (header: fit to the 5 points, or the fallback square).
cv::Rect2f fit_dlib_box(const cv::Rect2f& model_box, const Landmarks5& points) {
  const cv::Point2f centre(model_box.x + model_box.width / 2, model_box.y + model_box.height / 2);
  const float width = model_box.width;
  const cv::Rect2f fitted = dlib_box_from_landmarks5(points);
  const cv::Point2f shift = (fitted.tl() + fitted.br()) * 0.5f - centre;
  const bool plausible = width > 0 && fitted.width > width / kFitMaxScale && fitted.width < width * kFitMaxScale &&
                         std::hypot(shift.x, shift.y) < kFitMaxShift * width;
  if (plausible) return fitted;
  return {centre.x - width / 2, centre.y - width / 2, width, width};
}

}  // namespace

struct OnnxFaceDetector::Candidate {
  cv::Rect2f box;       // model box (x1, y1, x2 − x1, y2 − y1)
  cv::Rect2f dlib_box;  // fitted in the frame the model saw, so that rotated faces fit upright
  float score = 0.0f;
  Landmarks5 points{};
};

std::string_view onnx_detector_family_name(OnnxDetectorFamily family) {
  switch (family) {
    case OnnxDetectorFamily::kYoloFace: return "yolo_face";
    case OnnxDetectorFamily::kScrfd: return "scrfd";
    case OnnxDetectorFamily::kRetinaFace: return "retinaface";
    case OnnxDetectorFamily::kYuNet: return "yunet";
  }
  return "?";
}

Result<OnnxDetectorFamily> parse_onnx_detector_family(std::string_view name) {
  for (auto f : {OnnxDetectorFamily::kYoloFace, OnnxDetectorFamily::kScrfd, OnnxDetectorFamily::kRetinaFace,
                 OnnxDetectorFamily::kYuNet}) {
    if (onnx_detector_family_name(f) == name) return f;
  }
  return invalid_argument(fmt::format("'{}' is not an ONNX face detector: use yolo_face, scrfd, retinaface or yunet", name));
}

std::vector<std::string_view> onnx_detector_sizes(OnnxDetectorFamily family) {
  if (family == OnnxDetectorFamily::kScrfd || family == OnnxDetectorFamily::kRetinaFace) {
    return {"160x160", "320x320", "480x480", "512x512", "640x640"};
  }
  return {"640x640"};
}

float onnx_detector_nms_threshold(size_t angle_count) {
  switch (angle_count) {
    case 2: return 0.3f;
    case 3: return 0.2f;
    case 4: return 0.1f;
    default: return 0.4f;
  }
}

FrameRotation frame_rotation(int angle, cv::Size size) {
  const cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(static_cast<float>(size.width) / 2.0f,
                                                        static_cast<float>(size.height) / 2.0f),
                                            angle, 1.0);
  cv::Matx23d r;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) r(i, j) = m.at<double>(i, j);
  }
  // Canvas = the extent of the rotated frame; shift so the frame lands in it whole.
  const double w = std::abs(r(0, 0)) * size.width + std::abs(r(0, 1)) * size.height;
  const double h = std::abs(r(1, 0)) * size.width + std::abs(r(1, 1)) * size.height;
  r(0, 2) += (w - size.width) * 0.5;
  r(1, 2) += (h - size.height) * 0.5;
  return {r, cv::Size(static_cast<int>(w), static_cast<int>(h))};
}

cv::Point2f transform_point(const cv::Matx23d& m, cv::Point2f p) {
  return {static_cast<float>(m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2)),
          static_cast<float>(m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2))};
}

cv::Rect2f transform_box(const cv::Matx23d& m, const cv::Rect2f& b) {
  const std::array<cv::Point2f, 4> corners{transform_point(m, b.tl()), transform_point(m, {b.x + b.width, b.y}),
                                           transform_point(m, b.br()), transform_point(m, {b.x, b.y + b.height})};
  float x0 = corners[0].x, y0 = corners[0].y, x1 = x0, y1 = y0;
  for (const auto& p : corners) {
    x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

std::vector<size_t> non_max_suppression(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores,
                                        float iou_threshold) {
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<size_t> kept;
  for (size_t i : order) {
    const bool overlaps = std::any_of(kept.begin(), kept.end(),
                                      [&](size_t k) { return iou(boxes[i], boxes[k]) > iou_threshold; });
    if (!overlaps) kept.push_back(i);
  }
  return kept;
}

OnnxFaceDetector::OnnxFaceDetector(std::shared_ptr<inference::OnnxSession> session, const Options& options)
    : session_(std::move(session)), options_(options) {}

Result<std::unique_ptr<OnnxFaceDetector>> OnnxFaceDetector::open(const std::filesystem::path& model_path,
                                                                 const Options& options) {
  const auto family_name = onnx_detector_family_name(options.family);
  const auto sizes = onnx_detector_sizes(options.family);
  const std::string size_text = fmt::format("{}x{}", options.size.width, options.size.height);
  if (std::find(sizes.begin(), sizes.end(), size_text) == sizes.end()) {
    return invalid_argument(fmt::format("face detector size {} is not available for {}: use {}", size_text, family_name,
                                        fmt::join(sizes, ", ")));
  }
  if (!(options.score_threshold >= 0.0f && options.score_threshold <= 1.0f)) {
    return invalid_argument(fmt::format("face detector score must be in [0, 1], got {}", options.score_threshold));
  }
  if (options.angles.empty() || options.angles.size() > 4) {
    return invalid_argument("face detector angles: give 1 to 4 of 0, 90, 180, 270");
  }
  for (size_t i = 0; i < options.angles.size(); ++i) {
    const int a = options.angles[i];
    if (a != 0 && a != 90 && a != 180 && a != 270) {
      return invalid_argument(fmt::format("face detector angle {} is not valid: use 0, 90, 180 or 270", a));
    }
    if (std::find(options.angles.begin(), options.angles.begin() + static_cast<long>(i), a) !=
        options.angles.begin() + static_cast<long>(i)) {
      return invalid_argument(fmt::format("face detector angle {} is listed twice", a));
    }
  }

  FF_ASSIGN_OR_RETURN(auto session, inference::open_session(model_path, options.session));
  const auto& inputs = session->inputs();
  auto fixed_mismatch = [](int64_t dim, int want) { return dim > 0 && dim != want; };
  if (inputs.size() != 1 || inputs[0].name != "input" || inputs[0].shape.size() != 4 ||
      fixed_mismatch(inputs[0].shape[1], 3)) {
    return invalid_argument(fmt::format("{} is not a {} model: expected one input 'input' [1,3,H,W]", model_path.string(),
                                        family_name));
  }
  if (fixed_mismatch(inputs[0].shape[2], options.size.height) || fixed_mismatch(inputs[0].shape[3], options.size.width)) {
    return invalid_argument(fmt::format("{} takes a fixed {}x{} input: use --face-detector-size {}x{}",
                                        model_path.string(), inputs[0].shape[3], inputs[0].shape[2], inputs[0].shape[3],
                                        inputs[0].shape[2]));
  }
  const auto& outputs = session->outputs();
  bool layout_ok = outputs.size() == output_count(options.family);
  if (layout_ok && options.family == OnnxDetectorFamily::kYoloFace) {
    layout_ok = outputs[0].shape.size() == 3 && !fixed_mismatch(outputs[0].shape[1], kYoloRows);
  } else if (layout_ok) {
    // Trailing dimension of each group of 3 outputs (one per stride).
    const std::vector<int64_t> trailing = options.family == OnnxDetectorFamily::kYuNet
                                              ? std::vector<int64_t>{1, 1, 4, 10}
                                              : std::vector<int64_t>{1, 4, 10};
    for (size_t i = 0; i < outputs.size() && layout_ok; ++i) {
      layout_ok = !outputs[i].shape.empty() && !fixed_mismatch(outputs[i].shape.back(), static_cast<int>(trailing[i / 3]));
    }
  }
  if (!layout_ok) {
    return invalid_argument(fmt::format(
        "{} is not a {} model: expected {} (see docs/models.md)", model_path.string(), family_name,
        options.family == OnnxDetectorFamily::kYoloFace ? "one output [1,20,N]"
        : options.family == OnnxDetectorFamily::kYuNet
            ? "12 outputs cls/obj/bbox/kps x strides 8/16/32 with last dimensions 1/1/4/10"
            : "9 outputs scores/boxes/keypoints x strides 8/16/32 with last dimensions 1/4/10"));
  }
  return std::unique_ptr<OnnxFaceDetector>(new OnnxFaceDetector(std::move(session), options));
}

void OnnxFaceDetector::decode_yolo(const std::vector<inference::Tensor>& outputs, std::vector<Candidate>& out) const {
  const inference::Tensor& t = outputs[0];
  const size_t n = t.element_count() / kYoloRows;
  auto at = [&](int row, size_t j) { return t.data[static_cast<size_t>(row) * n + j]; };
  for (size_t j = 0; j < n; ++j) {
    const float score = at(4, j);
    if (!(score > options_.score_threshold)) continue;
    Candidate c;
    c.score = score;
    const float cx = at(0, j), cy = at(1, j), w = at(2, j), h = at(3, j);
    c.box = cv::Rect2f(cx - w / 2, cy - h / 2, w, h);
    for (int k = 0; k < 5; ++k) c.points[k] = cv::Point2f(at(5 + 3 * k, j), at(6 + 3 * k, j));
    out.push_back(c);
  }
}

Status OnnxFaceDetector::decode_anchor_grid(const std::vector<inference::Tensor>& outputs,
                                            std::vector<Candidate>& out) const {
  const bool yunet = options_.family == OnnxDetectorFamily::kYuNet;
  const int per_cell = anchors_per_cell(options_.family);
  for (size_t level = 0; level < kStrides.size(); ++level) {
    const int s = kStrides[level];
    const int cols = options_.size.width / s;
    const size_t count = static_cast<size_t>(cols) * static_cast<size_t>(options_.size.height / s) *
                         static_cast<size_t>(per_cell);
    // Output groups: scrfd/retinaface scores, boxes, kps; yunet cls, obj, bbox, kps.
    const inference::Tensor& score_t = outputs[level];
    const inference::Tensor* obj_t = yunet ? &outputs[3 + level] : nullptr;
    const inference::Tensor& box_t = outputs[(yunet ? 6 : 3) + level];
    const inference::Tensor& kps_t = outputs[(yunet ? 9 : 6) + level];
    if (score_t.element_count() != count || (obj_t != nullptr && obj_t->element_count() != count) ||
        box_t.element_count() != 4 * count || kps_t.element_count() != 10 * count) {
      return invalid_argument(fmt::format("{} output for stride {} has {} anchors, expected {} for a {}x{} input",
                                          name(), s, score_t.element_count(), count, options_.size.width,
                                          options_.size.height));
    }
    for (size_t i = 0; i < count; ++i) {
      const float score = yunet ? score_t.data[i] * obj_t->data[i] : score_t.data[i];
      if (!(score > options_.score_threshold)) continue;
      const size_t cell = i / static_cast<size_t>(per_cell);
      const cv::Point2f anchor(static_cast<float>(static_cast<int>(cell) % cols * s),
                               static_cast<float>(static_cast<int>(cell) / cols * s));
      const float* d = box_t.data.data() + 4 * i;
      const float* k = kps_t.data.data() + 10 * i;
      const float fs = static_cast<float>(s);
      Candidate c;
      c.score = score;
      if (yunet) {
        const cv::Point2f centre = anchor + cv::Point2f(d[0], d[1]) * fs;
        const float w = std::exp(d[2]) * fs, h = std::exp(d[3]) * fs;
        c.box = cv::Rect2f(centre.x - w / 2, centre.y - h / 2, w, h);
      } else {
        c.box = cv::Rect2f(anchor.x - d[0] * fs, anchor.y - d[1] * fs, (d[0] + d[2]) * fs, (d[1] + d[3]) * fs);
      }
      for (int p = 0; p < 5; ++p) c.points[p] = anchor + cv::Point2f(k[2 * p], k[2 * p + 1]) * fs;
      out.push_back(c);
    }
  }
  return Status::ok();
}

Status OnnxFaceDetector::detect_upright(const cv::Mat& bgr, std::vector<Candidate>& out) const {
  const int W = options_.size.width, H = options_.size.height;
  // Shrink to fit (never enlarge), as FaceFusion's restrict_frame: int() truncation, bilinear.
  cv::Mat fitted = bgr;
  if (bgr.rows > H || bgr.cols > W) {
    const double scale = std::min(static_cast<double>(H) / bgr.rows, static_cast<double>(W) / bgr.cols);
    const int w = std::max(1, static_cast<int>(bgr.cols * scale));
    const int h = std::max(1, static_cast<int>(bgr.rows * scale));
    cv::resize(bgr, fitted, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  }
  const float ratio_x = static_cast<float>(bgr.cols) / static_cast<float>(fitted.cols);
  const float ratio_y = static_cast<float>(bgr.rows) / static_cast<float>(fitted.rows);

  // NCHW BGR; the zero canvas is normalised like the image.
  inference::Tensor input = inference::Tensor::zeros({1, 3, H, W});
  std::fill(input.data.begin(), input.data.end(), normalise(options_.family, 0.0f));
  const size_t plane = static_cast<size_t>(W) * static_cast<size_t>(H);
  for (int y = 0; y < fitted.rows; ++y) {
    const uint8_t* src = fitted.ptr<uint8_t>(y);
    for (int x = 0; x < fitted.cols; ++x) {
      for (int c = 0; c < 3; ++c) {
        input.data[c * plane + static_cast<size_t>(y) * W + x] = normalise(options_.family, src[3 * x + c]);
      }
    }
  }
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run({input}));

  const size_t first = out.size();
  if (uses_anchor_grid(options_.family)) {
    FF_RETURN_IF_ERROR(decode_anchor_grid(outputs, out));
  } else {
    decode_yolo(outputs, out);
  }
  for (size_t i = first; i < out.size(); ++i) {
    Candidate& c = out[i];
    c.box = cv::Rect2f(c.box.x * ratio_x, c.box.y * ratio_y, c.box.width * ratio_x, c.box.height * ratio_y);
    for (auto& p : c.points) p = cv::Point2f(p.x * ratio_x, p.y * ratio_y);
    c.dlib_box = fit_dlib_box(c.box, c.points);
  }
  return Status::ok();
}

Result<std::vector<Detection>> OnnxFaceDetector::detect(const cv::Mat& bgr) const {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    return invalid_argument("face detection needs a non-empty 8-bit BGR image (CV_8UC3)");
  }
  std::vector<Candidate> candidates;
  for (int angle : options_.angles) {
    if (angle == 0) {
      FF_RETURN_IF_ERROR(detect_upright(bgr, candidates));
      continue;
    }
    const FrameRotation rotation = frame_rotation(angle, bgr.size());
    cv::Mat rotated;
    cv::warpAffine(bgr, rotated, rotation.matrix, rotation.size);
    const size_t first = candidates.size();
    FF_RETURN_IF_ERROR(detect_upright(rotated, candidates));
    cv::Matx23d inverse;
    cv::invertAffineTransform(rotation.matrix, inverse);
    for (size_t i = first; i < candidates.size(); ++i) {
      Candidate& c = candidates[i];
      c.box = transform_box(inverse, c.box);
      c.dlib_box = transform_box(inverse, c.dlib_box);
      for (auto& p : c.points) p = transform_point(inverse, p);
    }
  }

  std::vector<cv::Rect2f> boxes;
  std::vector<float> scores;
  for (const auto& c : candidates) {
    boxes.push_back(c.box);
    scores.push_back(c.score);
  }
  std::vector<Detection> detections;
  for (size_t i : non_max_suppression(boxes, scores, onnx_detector_nms_threshold(options_.angles.size()))) {
    const Candidate& c = candidates[i];
    Detection d;
    d.detector_box = c.box;
    d.box = c.dlib_box;
    d.score = c.score;
    d.landmarks5 = c.points;
    detections.push_back(d);
  }
  return detections;
}

}  // namespace facefuse::face
