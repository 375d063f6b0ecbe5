#include "facefuse/face/glasses.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"

namespace facefuse::face {
namespace {

// All lengths in inter-ocular distances (IOD) unless said otherwise.
constexpr float kGlassesIod = 48.0f;       // px: glasses are looked for on a copy with at most this IOD
constexpr float kGlassesLine = 0.1f;       // a frame is thinner than this
constexpr float kGlassesContrast = 14.0f;  // grey levels: a frame stands out from its surroundings by this
constexpr float kGlassesBridge = 0.8f;     // fraction of the bridge box's width a frame's bridge crosses
constexpr float kRimGapClose = 0.2f;       // IOD: gaps along a rim this long are closed (glasses_frame_mask)
// Mean bridge score over a video track's recent detections (glasses_keep_weight).
constexpr float kTrackBridgeNone = 0.35f;  // at or under this the track wears none
constexpr float kTrackBridgeFull = 0.55f;  // from this its frame is kept fully

// The thin structures of a face region on the copy glasses are looked for on, and how far they
// cross the nose bridge (the bridge test of glasses_frame_mask).
struct ThinStructures {
  float scale = 1.0f;  // copy pixels per region pixel
  float d = 0.0f;      // inter-ocular distance on the copy, px
  Landmarks68 p;       // the face's points on the copy
  cv::Mat thin;        // CV_8UC1 on the copy: 255 = a thin line standing out
  cv::Rect bridge;     // the bridge box on the copy
  float bridge_score = 0.0f;
};

// Empty for a face under 12 px between the eyes or whose bridge box is degenerate.
std::optional<ThinStructures> find_thin_structures(const cv::Mat& region_bgr, const Landmarks68& points) {
  if (points.size() != static_cast<size_t>(kLandmarkCount68) || region_bgr.empty() || region_bgr.type() != CV_8UC3) return {};
  const float iod = inter_ocular_distance(points);
  if (iod < 12.0f) return {};
  ThinStructures t;
  t.scale = std::min(1.0f, kGlassesIod / iod);
  cv::Mat gray;
  cv::cvtColor(region_bgr, gray, cv::COLOR_BGR2GRAY);
  if (t.scale < 1.0f) cv::resize(gray, gray, cv::Size(), t.scale, t.scale, cv::INTER_AREA);
  t.p.resize(points.size());
  for (size_t i = 0; i < points.size(); ++i) t.p[i] = (points[i] + cv::Point2f(0.5f, 0.5f)) * t.scale - cv::Point2f(0.5f, 0.5f);
  const Landmarks68& p = t.p;
  t.d = iod * t.scale;
  const int k = std::max(3, 2 * static_cast<int>(kGlassesLine * t.d / 2.0f) + 1);
  const cv::Mat disc = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k));
  cv::Mat dark, bright;
  cv::morphologyEx(gray, dark, cv::MORPH_BLACKHAT, disc);
  cv::morphologyEx(gray, bright, cv::MORPH_TOPHAT, disc);
  t.thin = cv::max(dark, bright) > kGlassesContrast;
  const cv::Rect all(0, 0, gray.cols, gray.rows);
  const float x0 = p[39].x + 0.25f * (p[42].x - p[39].x), x1 = p[39].x + 0.75f * (p[42].x - p[39].x);
  const float y0 = std::max(p[21].y, p[22].y) + 0.08f * t.d, y1 = p[29].y;
  t.bridge = cv::Rect(cv::Point(cvRound(x0), cvRound(y0)), cv::Point(cvRound(x1) + 1, cvRound(y1) + 1)) & all;
  if (t.bridge.width < 3 || t.bridge.height < 2) return {};
  const cv::Rect& bridge = t.bridge;
  for (int y = bridge.y; y + 1 < bridge.y + bridge.height; ++y) {
    int hit = 0;
    for (int x = bridge.x; x < bridge.x + bridge.width; ++x) hit += (t.thin.at<uchar>(y, x) | t.thin.at<uchar>(y + 1, x)) ? 1 : 0;
    t.bridge_score = std::max(t.bridge_score, static_cast<float>(hit) / bridge.width);
  }
  return t;
}

// `polygon` (image coordinates) as a mask over its own bounding box inside `region`, and that box
// relative to the region (where it lies in `gray`, the image's part at `region`): a few per cent
// of the face region's pixels, where a region-sized mask would scan them all on every video frame.
std::pair<cv::Mat, cv::Rect> polygon_in(const cv::Rect& region, const std::vector<cv::Point2f>& polygon) {
  cv::Rect box = cv::boundingRect(polygon);
  box = cv::Rect(box.x - 1, box.y - 1, box.width + 2, box.height + 2) & region;  // whole edge pixels
  if (box.empty()) return {};
  return {polygon_mask(polygon, box), box - region.tl()};
}

// Median grey level inside `polygon` (image coordinates) over `gray` (the image's part at
// `region`); −1 when the polygon covers no pixel.
double median_inside(const cv::Mat& gray, const cv::Rect& region, const std::vector<cv::Point2f>& polygon) {
  const auto [mask, box] = polygon_in(region, polygon);
  std::vector<uchar> values;
  for (int y = 0; y < mask.rows; ++y) {
    for (int x = 0; x < mask.cols; ++x) {
      if (mask.at<uchar>(y, x)) values.push_back(gray.at<uchar>(box.y + y, box.x + x));
    }
  }
  if (values.empty()) return -1.0;
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

// The face's grey region (face_region with a 0.15 brow raise and a 0.1 margin), its place, and the
// cheeks' level: the median grey of the triangles of the jaw's upper points and the nostril's
// outer end below each eye, which nothing but a hand or a scarf covers in an ordinary photo.
struct EyeSurroundings {
  cv::Rect region;
  cv::Mat gray;
  double skin = 0;  // grey level; 0 when the cheeks could not be measured
};

EyeSurroundings eye_surroundings(const cv::Mat& image, const Landmarks68& p) {
  EyeSurroundings out;
  out.region = face_region(p, 0.15f, 0.1f, image.size());
  if (out.region.width < 4 || out.region.height < 4) return out;
  cv::cvtColor(image(out.region), out.gray, cv::COLOR_BGR2GRAY);
  int cheeks = 0;
  for (const auto& [a, b, c] : {std::array{1, 3, 31}, std::array{15, 13, 35}}) {
    if (const double level = median_inside(out.gray, out.region, {p[a], p[b], p[c]}); level >= 0) {
      out.skin += level;
      ++cheeks;
    }
  }
  out.skin = cheeks > 0 ? out.skin / cheeks : 0.0;
  return out;
}

// The centre of the eye whose outline is points first … first + 5.
cv::Point2f eye_centre(const Landmarks68& p, int first) {
  cv::Point2f c(0, 0);
  for (int i = first; i < first + 6; ++i) c += p[i] * (1.0f / 6.0f);
  return c;
}

// Where glasses are looked for around the eye whose outline is points first … first + 5: an
// ellipse of 1.1 × 0.8 inter-ocular distances `d` along the eye's corners, shifted by `offset`.
cv::RotatedRect eye_zone(const Landmarks68& p, int first, float d, cv::Point2f offset = {0, 0}) {
  const float angle =
      std::atan2(p[first + 3].y - p[first].y, p[first + 3].x - p[first].x) * 180.0f / static_cast<float>(CV_PI);
  return cv::RotatedRect(eye_centre(p, first) + offset, cv::Size2f(1.1f * d, 0.8f * d), angle);
}

// covered_eyes on the face's measured surroundings.
std::array<bool, 2> covered_eyes_in(const EyeSurroundings& around, const Landmarks68& p) {
  std::array<bool, 2> covered{false, false};
  if (around.skin <= 0) return covered;
  for (int eye = 0; eye < 2; ++eye) {
    const int first = eye == 0 ? 36 : 42;
    const cv::Point2f centre = eye_centre(p, first);
    std::vector<cv::Point2f> outline;
    for (int i = first; i < first + 6; ++i) outline.push_back(centre + (p[i] - centre) * kCoveredEyeGrow);
    const auto [mask, box] = polygon_in(around.region, outline);
    if (mask.empty() || cv::countNonZero(mask) == 0) continue;
    cv::Scalar mean, stddev;
    cv::meanStdDev(around.gray(box), mean, stddev, mask);
    covered[eye] = mean[0] < kCoveredEyeDarkness * around.skin && stddev[0] < kCoveredEyeFlatness * around.skin;
  }
  return covered;
}

// Faces too small to judge (kCoveredEyesMinIod) or without 68 points.
bool judged(const cv::Mat& image, const Landmarks68& p) {
  return !image.empty() && p.size() == static_cast<size_t>(kLandmarkCount68) &&
         inter_ocular_distance(p) >= kCoveredEyesMinIod;
}

}  // namespace

std::array<bool, 2> covered_eyes(const cv::Mat& image, const Landmarks68& p) {
  if (!judged(image, p)) return {false, false};
  return covered_eyes_in(eye_surroundings(image, p), p);
}

cv::Mat covered_eye_mask(const cv::Mat& image, const Landmarks68& p) {
  if (!judged(image, p)) return {};
  const EyeSurroundings around = eye_surroundings(image, p);
  const std::array<bool, 2> covered = covered_eyes_in(around, p);
  if (!covered[0] && !covered[1]) return {};
  const float d = inter_ocular_distance(p);
  cv::Mat zone(around.gray.size(), CV_8UC1, cv::Scalar(0));
  for (int eye = 0; eye < 2; ++eye) {
    if (covered[eye])
      cv::ellipse(zone, eye_zone(p, eye == 0 ? 36 : 42, d, -cv::Point2f(around.region.tl())), cv::Scalar(255),
                  cv::FILLED);
  }
  cv::Mat dark = (around.gray < kCoveringDarkness * around.skin) & zone;
  // Reflections on the lens are bright spots inside the dark: closed over (0.15 IOD); the rim
  // around the lens and its anti-aliased edge: grown by 0.04 IOD.
  const auto disc = [](float px) {
    const int k = std::max(3, 2 * static_cast<int>(px / 2.0f) + 1);
    return cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k));
  };
  cv::morphologyEx(dark, dark, cv::MORPH_CLOSE, disc(0.15f * d));
  cv::dilate(dark, dark, disc(0.08f * d));
  cv::Mat lens;
  dark.convertTo(lens, CV_32F, 1.0 / 255.0);
  const double sigma = std::max(0.5, 0.02 * d);
  cv::GaussianBlur(lens, lens, cv::Size(0, 0), sigma, sigma);
  cv::Mat out(image.size(), CV_32FC1, cv::Scalar(0));
  lens.copyTo(out(around.region));
  return out;
}

cv::Mat glasses_frame_mask(const cv::Mat& region_bgr, const Landmarks68& points, GlassesEvidence* evidence,
                           std::optional<float> decided_weight) {
  if (decided_weight && *decided_weight <= 0.0f) return {};
  const std::optional<ThinStructures> found = find_thin_structures(region_bgr, points);
  if (!found) return {};
  const float best = found->bridge_score, d = found->d, scale = found->scale;
  const Landmarks68& p = found->p;
  const cv::Rect& bridge = found->bridge;
  const cv::Mat& thin = found->thin;
  if (evidence != nullptr) *evidence = {best, best >= kGlassesBridge};
  if (!decided_weight && best < kGlassesBridge) return {};
  cv::Mat zone(thin.size(), CV_8UC1, cv::Scalar(0));
  for (int first : {36, 42}) cv::ellipse(zone, eye_zone(p, first, d), cv::Scalar(255), cv::FILLED);
  zone(bridge).setTo(255);
  const int line = std::max(1, cvRound(0.12f * d));
  for (int first : {36, 42}) {
    std::vector<cv::Point> eye;
    for (int i = first; i < first + 6; ++i) eye.emplace_back(cvRound(p[i].x), cvRound(p[i].y));
    cv::fillConvexPoly(zone, eye, cv::Scalar(0));
    cv::polylines(zone, eye, true, cv::Scalar(0), std::max(1, cvRound(0.08f * d)));
  }
  const cv::Mat around_eyes = zone.clone();  // before the brows are cut out
  for (int first : {17, 22}) {
    std::vector<cv::Point> brow;
    for (int i = first; i < first + 5; ++i) brow.emplace_back(cvRound(p[i].x), cvRound(p[i].y));
    cv::polylines(zone, brow, false, cv::Scalar(0), line);
  }
  cv::Mat frame8 = thin & zone;
  {
    // Where the brows are cut out, a rim running along them was kept in pieces (a dashed rim on a
    // talking head's frames): gaps of up to kRimGapClose IOD between pieces lying along the eyes'
    // line are closed (a line-shaped closing), inside the eye zones but never over the eyes.
    const int length = std::max(3, cvRound(kRimGapClose * d) | 1);
    cv::Mat along(length, length, CV_8UC1, cv::Scalar(0));
    const cv::Point2f axis = (p[45] - p[36]) * (1.0f / std::max(1e-3f, static_cast<float>(cv::norm(p[45] - p[36]))));
    const cv::Point2f c(static_cast<float>(length / 2), static_cast<float>(length / 2));
    const cv::Point2f half = axis * (0.5f * static_cast<float>(length - 1));
    cv::line(along, c - half, c + half, cv::Scalar(255), 1);
    cv::Mat closed;
    cv::morphologyEx(frame8, closed, cv::MORPH_CLOSE, along);
    frame8 |= closed & around_eyes;
  }
  cv::Mat frame;
  frame8.convertTo(frame, CV_32F, 1.0 / 255.0);
  if (scale < 1.0f) cv::resize(frame, frame, region_bgr.size(), 0, 0, cv::INTER_LINEAR);
  const double sigma = 0.5 / scale;  // px: half a pixel of the copy, so the kept frame has no hard edge
  cv::GaussianBlur(frame, frame, cv::Size(0, 0), sigma, sigma);
  return cv::min(frame * (1.5 * decided_weight.value_or(1.0f)), 1.0);
}

float glasses_bridge_score(const cv::Mat& frame, const Landmarks68& points) {
  if (points.size() != static_cast<size_t>(kLandmarkCount68) || frame.empty()) return 0.0f;
  // The eyes, brows and nose bridge with half an inter-ocular distance around them.
  const std::vector<cv::Point2f> around_eyes(points.begin() + 17, points.begin() + 48);
  const float margin = 0.5f * inter_ocular_distance(points);
  cv::Rect2f box = cv::boundingRect(around_eyes);
  box = cv::Rect2f(box.x - margin, box.y - margin, box.width + 2 * margin, box.height + 2 * margin);
  const cv::Rect region = cv::Rect(box) & cv::Rect(0, 0, frame.cols, frame.rows);
  if (region.empty()) return 0.0f;
  Landmarks68 local(points.size());
  for (size_t i = 0; i < points.size(); ++i) local[i] = points[i] - cv::Point2f(region.tl());
  const std::optional<ThinStructures> found = find_thin_structures(frame(region), local);
  return found ? found->bridge_score : 0.0f;
}

float glasses_keep_weight(float mean_bridge) {
  return std::clamp((mean_bridge - kTrackBridgeNone) / (kTrackBridgeFull - kTrackBridgeNone), 0.0f, 1.0f);
}

}  // namespace facefuse::face
