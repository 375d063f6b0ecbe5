#include "facefuse/face/blazeface_detector.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/box_convention.h"
#include "facefuse/inference/session_cache.h"

namespace facefuse::face {

namespace {

constexpr int kAnchorCount = 896;
constexpr int kRegressorCount = 16;
constexpr int kKeypointCount = 6;
// MediaPipe clips logits to ±100 before the sigmoid.
constexpr float kScoreClip = 100.0f;

// The box in the dlib 68-landmark convention is fitted to BlazeFace's keypoints: the square
// (left, top, side) that puts this template of mean keypoint positions (fractions of the side,
// measured on the 43 faces of dlib's labelled VOC photos, whose boxes are dlib HOG boxes; made
// left-right symmetric) closest to the keypoints, in the least-squares sense. Measured there:
// mean IoU with dlib's boxes 0.82 against 0.75 for the best fixed scaling of BlazeFace's own box,
// and 68-point landmark failures (error > 0.1 of the eye distance, one predictor pass) 2 of 42
// faces against 11.
const std::array<cv::Point2f, 4> kKeypointsInBox{{
    {0.3006f, 0.2998f},  // subject's right eye (image left)
    {0.6994f, 0.2998f},  // subject's left eye
    {0.5f, 0.5134f},     // nose tip
    {0.5f, 0.7113f},     // mouth centre
}};
// Fallback for faces whose keypoints are degenerate (profile views): BlazeFace's own box
// (centre cx, cy, size w, h) → dlib_cx = cx + dx·w, dlib_cy = cy + dy·h, side = s·w, from the
// median ratios on the same faces.
struct BoxCalibration {
  float dx, dy, s;
};
constexpr BoxCalibration kBoxCalibration{0.0f, -0.027f, 1.077f};
// The keypoint fit is used when its side is within this factor of the calibrated box's and its
// centre within this fraction of the side from it.
constexpr float kKeypointBoxMaxScale = 1.5f;
constexpr float kKeypointBoxMaxShift = 0.3f;

// Mouth corners from BlazeFace's mouth centre, in the frame of the eyes: u along the eye line
// (from the image-left eye to the image-right eye), v perpendicular to it pointing to the chin,
// both in units of the eye distance. Measured on dlib's labelled faces: the 68-point corners 48
// and 54 relative to BlazeFace's mouth keypoint.
constexpr float kMouthCornerU = 0.455f;  // half mouth width / eye distance
constexpr float kMouthCornerV = -0.06f;  // corners sit this much above (-) the mouth keypoint

// Candidates down to this score are kept as evidence when several tiling levels run.
constexpr float kEvidenceFloor = 0.25f;

// A tile's candidate whose box reaches this close (fraction of the box side) to an inner tile
// edge is cut by the tile: a neighbouring tile or a coarser level sees the whole face.
constexpr float kTileEdgeMargin = 0.05f;

// The full-range model still finds faces of about this many input pixels (box side); tiles are
// sized so that `min_face_size` maps to at least this. Measured on the labelled faces.
constexpr float kMinDetectableInputPx = 20.0f;
// ... and finds them reliably (score mostly above 0.8) from about this size; the fused score
// counts a level only from here.
constexpr float kReliableInputPx = 24.0f;
// Tile candidates larger than this fraction of the tile are dropped: mostly parts of a big face
// that the coarser levels see whole.
constexpr float kTileMaxFace = 0.4f;

float sigmoid(float x) {
  x = std::clamp(x, -kScoreClip, kScoreClip);
  return 1.0f / (1.0f + std::exp(-x));
}

float box_iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  float inter = (a & b).area();
  float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

// See kKeypointsInBox and kBoxCalibration.
cv::Rect2f dlib_convention_box(const cv::Rect2f& raw, const std::array<cv::Point2f, 6>& keypoints) {
  const float side = kBoxCalibration.s * raw.width;
  const cv::Point2f centre(raw.x + raw.width / 2 + kBoxCalibration.dx * raw.width,
                           raw.y + raw.height / 2 + kBoxCalibration.dy * raw.height);
  const cv::Rect2f calibrated(centre.x - side / 2, centre.y - side / 2, side, side);

  const cv::Rect2f fitted =
      fit_square_to_template(std::span<const cv::Point2f>(keypoints.data(), kKeypointsInBox.size()), kKeypointsInBox);
  const float fit_side = fitted.width;
  const cv::Point2f shift = (fitted.tl() + fitted.br()) * 0.5f - centre;
  const bool plausible = fit_side > side / kKeypointBoxMaxScale && fit_side < side * kKeypointBoxMaxScale &&
                         std::hypot(shift.x, shift.y) < kKeypointBoxMaxShift * side;
  return plausible ? fitted : calibrated;
}

}  // namespace

struct BlazeFaceDetector::Candidate {
  cv::Rect2f box;  // raw BlazeFace extent, source pixels
  std::array<cv::Point2f, kKeypointCount> keypoints;
  float score = 0.0f;
  int level = 0;  // tiling level that produced it
};

const char* blazeface_model_file(BlazeFaceVariant variant) {
  return variant == BlazeFaceVariant::kFullRange ? "blazeface_back_256.onnx" : "blazeface_front_128.onnx";
}

BlazeFaceDetector::BlazeFaceDetector(std::shared_ptr<inference::OnnxSession> session, const Options& options,
                                     int input_size)
    : session_(std::move(session)), options_(options), input_size_(input_size) {
  // 16x16 grid x 2 anchors, then 8x8 grid x 6 anchors; MediaPipe's SSD anchors with fixed size.
  anchors_.reserve(kAnchorCount);
  for (auto [grid, per_cell] : {std::pair{16, 2}, std::pair{8, 6}}) {
    for (int y = 0; y < grid; ++y) {
      for (int x = 0; x < grid; ++x) {
        for (int k = 0; k < per_cell; ++k) {
          anchors_.emplace_back((x + 0.5f) / static_cast<float>(grid), (y + 0.5f) / static_cast<float>(grid));
        }
      }
    }
  }
}

Result<std::unique_ptr<BlazeFaceDetector>> BlazeFaceDetector::open(const std::filesystem::path& model_path,
                                                                   const Options& options) {
  if (!(options.score_threshold >= 0.0f && options.score_threshold <= 1.0f)) {
    return invalid_argument(fmt::format("face detector score threshold must be in [0, 1], got {}", options.score_threshold));
  }
  if (!(options.merge_iou > 0.0f && options.merge_iou < 1.0f)) {
    return invalid_argument(fmt::format("BlazeFace merge IoU must be in (0, 1), got {}", options.merge_iou));
  }
  if (options.min_face_size < 0) {
    return invalid_argument(fmt::format("minimum face size must be >= 0 pixels, got {}", options.min_face_size));
  }
  FF_ASSIGN_OR_RETURN(auto session, inference::open_session(model_path, options.session));
  const auto& inputs = session->inputs();
  const int expected = options.variant == BlazeFaceVariant::kFullRange ? 256 : 128;
  if (inputs.size() != 1 || inputs[0].shape.size() != 4 || inputs[0].shape[1] != expected ||
      inputs[0].shape[2] != expected || inputs[0].shape[3] != 3) {
    return invalid_argument(fmt::format("{} is not a BlazeFace {} model: expected one input [1,{},{},3] (NHWC RGB)",
                                        model_path.string(), expected == 256 ? "full-range" : "short-range",
                                        expected, expected));
  }
  std::unique_ptr<BlazeFaceDetector> detector(new BlazeFaceDetector(session, options, expected));
  const auto& outputs = session->outputs();
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& s = outputs[i].shape;
    if (s.size() != 3) continue;
    int idx = static_cast<int>(i);
    if (s[1] == 512 && s[2] == 1) detector->scores512_ = idx;
    if (s[1] == 384 && s[2] == 1) detector->scores384_ = idx;
    if (s[1] == 512 && s[2] == kRegressorCount) detector->boxes512_ = idx;
    if (s[1] == 384 && s[2] == kRegressorCount) detector->boxes384_ = idx;
  }
  if (outputs.size() != 4 || detector->scores512_ < 0 || detector->scores384_ < 0 || detector->boxes512_ < 0 ||
      detector->boxes384_ < 0) {
    return invalid_argument(fmt::format(
        "{} is not a BlazeFace model: expected outputs [1,512,1], [1,384,1], [1,512,16], [1,384,16]",
        model_path.string()));
  }
  return detector;
}

std::vector<BlazeFaceDetector::Tile> BlazeFaceDetector::plan(cv::Size size) const {
  std::vector<Tile> tiles{{cv::Rect(0, 0, size.width, size.height), 0}};
  if (options_.min_face_size <= 0 || size.empty()) return tiles;
  const int long_side = std::max(size.width, size.height);
  // Side of the finest tiles: `min_face_size` source pixels become kMinDetectableInputPx input
  // pixels. Each coarser level doubles the side until one tile would cover the frame (which the
  // whole-frame pass already does).
  std::vector<int> sides;
  const int finest = static_cast<int>(std::ceil(static_cast<float>(input_size_) *
                                                static_cast<float>(options_.min_face_size) / kMinDetectableInputPx));
  for (int side = finest; side < long_side; side *= 2) sides.insert(sides.begin(), side);
  int level = 0;
  for (int side : sides) {
    ++level;
    // Tiles overlap by a quarter of their side, so faces up to that size lie whole in some tile;
    // larger ones are the coarser level's (whose smallest detectable face,
    // 2·side·kMinDetectableInputPx/S = 0.16·side, is smaller than the overlap).
    const int stride = side - side / 4;
    auto starts = [&](int extent) {
      if (extent <= side) return std::vector<int>{0};
      const int n = static_cast<int>(std::ceil(static_cast<double>(extent - side) / stride)) + 1;
      // Spread evenly so the first tile starts and the last one ends at the frame's edges.
      std::vector<int> v;
      for (int i = 0; i < n; ++i) v.push_back(static_cast<int>(std::lround(static_cast<double>(extent - side) * i / (n - 1))));
      return v;
    };
    for (int y : starts(size.height)) {
      for (int x : starts(size.width)) {
        tiles.push_back({cv::Rect(x, y, std::min(side, size.width), std::min(side, size.height)), level});
      }
    }
  }
  return tiles;
}

std::vector<cv::Rect> BlazeFaceDetector::plan_tiles(cv::Size size) const {
  std::vector<cv::Rect> rects;
  for (const auto& t : plan(size)) rects.push_back(t.rect);
  return rects;
}

Status BlazeFaceDetector::detect_region(const cv::Mat& bgr, const cv::Rect& region, int level, bool finest,
                                        float floor, std::vector<Candidate>& out) const {
  const bool whole_frame = level == 0;
  const int s = input_size_;
  const float scale = static_cast<float>(s) / static_cast<float>(std::max(region.width, region.height));
  const int w = std::max(1, static_cast<int>(std::lround(region.width * scale)));
  const int h = std::max(1, static_cast<int>(std::lround(region.height * scale)));
  // Letterbox: the region keeps its aspect ratio, centred on black (-1 after normalisation).
  const int pad_x = (s - w) / 2;
  const int pad_y = (s - h) / 2;
  cv::Mat resized;
  cv::resize(bgr(region), resized, cv::Size(w, h), 0, 0, scale < 1.0f ? cv::INTER_AREA : cv::INTER_LINEAR);

  inference::Tensor input = inference::Tensor::zeros({1, s, s, 3});
  std::fill(input.data.begin(), input.data.end(), -1.0f);
  for (int y = 0; y < h; ++y) {
    const uint8_t* src = resized.ptr<uint8_t>(y);
    float* dst = input.data.data() + (static_cast<size_t>(y + pad_y) * s + pad_x) * 3;
    for (int x = 0; x < w; ++x) {
      // BGR → RGB, [0, 255] → [-1, 1].
      dst[3 * x + 0] = src[3 * x + 2] / 127.5f - 1.0f;
      dst[3 * x + 1] = src[3 * x + 1] / 127.5f - 1.0f;
      dst[3 * x + 2] = src[3 * x + 0] / 127.5f - 1.0f;
    }
  }
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run({input}));

  // Model coordinates (input pixels, 0 = left edge of the first pixel) → source pixels with
  // integer coordinates at pixel centres, the convention of dlib and cv::warpAffine.
  auto to_source = [&](float ix, float iy) {
    return cv::Point2f((ix - static_cast<float>(pad_x)) / scale + static_cast<float>(region.x) - 0.5f,
                       (iy - static_cast<float>(pad_y)) / scale + static_cast<float>(region.y) - 0.5f);
  };
  // Inner tile edges in source pixels (frame edges are not cuts).
  const float inner_left = region.x > 0 ? static_cast<float>(region.x) - 0.5f : -1e9f;
  const float inner_top = region.y > 0 ? static_cast<float>(region.y) - 0.5f : -1e9f;
  const float inner_right = region.br().x < bgr.cols ? static_cast<float>(region.br().x) - 0.5f : 1e9f;
  const float inner_bottom = region.br().y < bgr.rows ? static_cast<float>(region.br().y) - 0.5f : 1e9f;

  auto decode = [&](int scores_idx, int boxes_idx, int anchor_offset, int count) {
    const float* scores = outputs[scores_idx].data.data();
    const float* regs = outputs[boxes_idx].data.data();
    const float fs = static_cast<float>(s);
    for (int i = 0; i < count; ++i) {
      const float score = sigmoid(scores[i]);
      if (score < floor) continue;
      const float* r = regs + static_cast<size_t>(i) * kRegressorCount;
      const cv::Point2f a = anchors_[anchor_offset + i] * fs;
      const cv::Point2f c = to_source(a.x + r[0], a.y + r[1]);
      const float bw = r[2] / scale, bh = r[3] / scale;
      if (!(bw > 0 && bh > 0)) continue;
      Candidate cand;
      cand.score = score;
      cand.level = level;
      cand.box = cv::Rect2f(c.x - bw / 2, c.y - bh / 2, bw, bh);
      // A coarser level's faces below the detectable size are noise (often one box over two
      // small faces); the finer tiles see them properly.
      if (!finest && std::max(r[2], r[3]) < kMinDetectableInputPx) continue;
      if (!whole_frame) {
        const float mx = kTileEdgeMargin * bw, my = kTileEdgeMargin * bh;
        if (std::max(bw, bh) > kTileMaxFace * static_cast<float>(std::max(region.width, region.height))) continue;
        if (cand.box.x < inner_left + mx || cand.box.y < inner_top + my ||
            cand.box.x + bw > inner_right - mx || cand.box.y + bh > inner_bottom - my) {
          continue;
        }
      }
      for (int k = 0; k < kKeypointCount; ++k) cand.keypoints[k] = to_source(a.x + r[4 + 2 * k], a.y + r[5 + 2 * k]);
      out.push_back(cand);
    }
  };
  decode(scores512_, boxes512_, 0, 512);
  decode(scores384_, boxes384_, 512, 384);
  return Status::ok();
}

Result<std::vector<Detection>> BlazeFaceDetector::detect(const cv::Mat& bgr) const {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    return invalid_argument("face detection needs a non-empty 8-bit BGR image (CV_8UC3)");
  }
  std::vector<Candidate> candidates;
  const auto tiles = plan(bgr.size());
  const int finest = tiles.back().level;
  // With several levels, candidates below the threshold are kept as evidence for the fused score.
  const float floor = finest > 0 ? std::min(options_.score_threshold, kEvidenceFloor) : options_.score_threshold;
  for (const auto& tile : tiles) {
    FF_RETURN_IF_ERROR(detect_region(bgr, tile.rect, tile.level, tile.level == finest, floor, candidates));
  }
  // Side (source pixels) of the regions of each level.
  std::vector<float> level_side(finest + 1, 0.0f);
  for (const auto& tile : tiles) level_side[tile.level] = static_cast<float>(std::max(tile.rect.width, tile.rect.height));

  // Weighted merging (MediaPipe): take the best remaining candidate, average it with every
  // remaining candidate overlapping it by more than merge_iou, weights = scores.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<bool> used(candidates.size(), false);
  std::vector<Detection> detections;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (used[i]) continue;
    const Candidate& best = candidates[i];
    float total = 0.0f;
    float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    std::array<cv::Point2f, kKeypointCount> kps{};
    std::vector<float> level_score(finest + 1, 0.0f);
    for (size_t j = i; j < candidates.size(); ++j) {
      if (used[j] || box_iou(best.box, candidates[j].box) <= options_.merge_iou) continue;
      used[j] = true;
      const Candidate& c = candidates[j];
      level_score[c.level] = std::max(level_score[c.level], c.score);
      total += c.score;
      x0 += c.box.x * c.score;
      y0 += c.box.y * c.score;
      x1 += (c.box.x + c.box.width) * c.score;
      y1 += (c.box.y + c.box.height) * c.score;
      for (int k = 0; k < kKeypointCount; ++k) kps[k] += c.keypoints[k] * c.score;
    }
    x0 /= total, y0 /= total, x1 /= total, y1 /= total;
    for (auto& p : kps) p /= total;

    // Fused score: the mean, over the levels that should see this face (big enough for the
    // level's scale, small enough to lie whole in one of its tiles), of the level's best score.
    // A real face scores alike at every scale; a face-like texture rarely does (measured: the
    // false positives tiling adds score high in one tile only).
    float fused = 0.0f;
    int eligible = 0;
    const float side = std::max(x1 - x0, y1 - y0);
    for (int level = 0; level <= finest; ++level) {
      const float input_px = side * static_cast<float>(input_size_) / level_side[level];
      const bool big_enough = input_px >= kReliableInputPx || level == finest;
      const bool whole_in_tile = level == 0 || side <= level_side[level] / 4;
      if (big_enough && whole_in_tile) {
        fused += level_score[level];
        ++eligible;
      }
    }
    fused = eligible > 0 ? fused / static_cast<float>(eligible) : best.score;
    if (fused < options_.score_threshold) continue;

    Detection d;
    d.score = fused;
    d.box = dlib_convention_box(cv::Rect2f(x0, y0, x1 - x0, y1 - y0), kps);
    d.detector_box = d.box;
    // Keypoint 0 is the subject's right eye (image left for an upright face), as in face.h.
    const cv::Point2f eye_l = kps[0], eye_r = kps[1], mouth = kps[3];
    const cv::Point2f u = eye_r - eye_l;
    const cv::Point2f v(-u.y, u.x);  // perpendicular, towards the chin for an upright face
    d.landmarks5 = {eye_l, eye_r, kps[2], mouth - kMouthCornerU * u + kMouthCornerV * v,
                    mouth + kMouthCornerU * u + kMouthCornerV * v};
    detections.push_back(d);
  }
  return detections;
}

}  // namespace facefuse::face
