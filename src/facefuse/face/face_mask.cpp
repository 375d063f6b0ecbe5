#include "facefuse/face/face_mask.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <opencv2/imgproc.hpp>

#include "facefuse/face/blending.h"

namespace facefuse::face {
namespace {

// Skin likelihood: 1 up to kSkinFull standard deviations from the cheeks' colour, 0 from kSkinNone.
constexpr float kSkinFull = 2.0f;
constexpr float kSkinNone = 3.5f;

constexpr int kSubpixelShift = 4;  // fillPoly vertex precision: 1/16 pixel
constexpr float kSubpixelScale = 1 << kSubpixelShift;

cv::Point2f mean_of(const Landmarks68& p, int first, int last) {
  cv::Point2f sum(0, 0);
  for (int i = first; i <= last; ++i) sum += p[i];
  return sum / static_cast<float>(last - first + 1);
}

float smoothstep01(float t) {
  t = std::clamp(t, 0.0f, 1.0f);
  return t * t * (3.0f - 2.0f * t);
}

std::vector<cv::Point> to_fixed_point(const std::vector<cv::Point2f>& polygon, cv::Point2f origin) {
  std::vector<cv::Point> out;
  out.reserve(polygon.size());
  for (const auto& p : polygon) {
    out.emplace_back(cvRound((p.x - origin.x) * kSubpixelScale), cvRound((p.y - origin.y) * kSubpixelScale));
  }
  return out;
}

}  // namespace

cv::Rect2f bounding_box(const std::vector<cv::Point2f>& points) {
  if (points.empty()) return {};
  float x0 = points[0].x, y0 = points[0].y, x1 = x0, y1 = y0;
  for (const auto& p : points) {
    x0 = std::min(x0, p.x);
    y0 = std::min(y0, p.y);
    x1 = std::max(x1, p.x);
    y1 = std::max(y1, p.y);
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

float face_size(const Landmarks68& points) {
  std::vector<cv::Point2f> outline(points.begin(), points.begin() + 17);
  for (int i = 26; i >= 17; --i) outline.push_back(points[i]);
  std::vector<cv::Point2f> hull;
  cv::convexHull(outline, hull);
  return std::sqrt(static_cast<float>(cv::contourArea(hull)));
}

cv::Point2f face_up_direction(const Landmarks68& points) {
  cv::Point2f up = mean_of(points, 36, 47) - points[8];
  float n = std::hypot(up.x, up.y);
  return n > 1e-6f ? up / n : cv::Point2f(0, -1);
}

std::vector<cv::Point2f> swap_mask_outline(const Landmarks68& points, float brow_raise) {
  std::vector<cv::Point2f> outline(points.begin(), points.begin() + 17);
  cv::Point2f up = face_up_direction(points);
  cv::Point2f brow_mid = mean_of(points, 17, 26);
  cv::Point2f chin_to_brow = brow_mid - points[8];
  float height = std::hypot(chin_to_brow.x, chin_to_brow.y);
  cv::Point2f lift = up * (brow_raise * height);
  for (int i = 26; i >= 17; --i) outline.push_back(points[i] + lift);
  return outline;
}

cv::Rect face_region(const Landmarks68& points, float brow_raise, float margin, cv::Size image_size) {
  auto outline = swap_mask_outline(points, brow_raise);
  cv::Rect2f box = bounding_box(outline);
  float grow = margin * face_size(points);
  int x0 = static_cast<int>(std::floor(box.x - grow));
  int y0 = static_cast<int>(std::floor(box.y - grow));
  int x1 = static_cast<int>(std::ceil(box.x + box.width + grow)) + 1;
  int y1 = static_cast<int>(std::ceil(box.y + box.height + grow)) + 1;
  return cv::Rect(cv::Point(x0, y0), cv::Point(x1, y1)) & cv::Rect(0, 0, image_size.width, image_size.height);
}

cv::Mat polygon_mask(const std::vector<cv::Point2f>& polygon, const cv::Rect& region) {
  cv::Mat mask = cv::Mat::zeros(region.size(), CV_8UC1);
  if (polygon.size() < 3 || region.empty()) return mask;
  std::vector<std::vector<cv::Point>> polys{to_fixed_point(polygon, cv::Point2f(region.tl()))};
  cv::fillPoly(mask, polys, cv::Scalar(255), cv::LINE_8, kSubpixelShift);
  return mask;
}

cv::Mat feather_mask(const cv::Mat& hard_mask, float erosion_px, float feather_px) {
  CV_Assert(hard_mask.type() == CV_8UC1);
  cv::Mat out(hard_mask.size(), CV_32FC1, cv::Scalar(0));
  if (hard_mask.empty()) return out;
  // Pad with "inside" so that the border of the mask is not an edge (a face cut by the image
  // border is not feathered along that border).
  cv::Mat padded;
  cv::copyMakeBorder(hard_mask, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(255));
  cv::Mat dist;
  cv::distanceTransform(padded, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE, CV_32F);
  // A pixel at distance 1 from an outside pixel has its centre half a pixel inside the edge.
  const float ramp = std::max(feather_px, 1.0f);
  const float start = erosion_px + 0.5f;
  for (int y = 0; y < out.rows; ++y) {
    const float* d = dist.ptr<float>(y + 1) + 1;
    const uchar* h = hard_mask.ptr<uchar>(y);
    float* o = out.ptr<float>(y);
    for (int x = 0; x < out.cols; ++x) {
      o[x] = h[x] != 0 ? smoothstep01((d[x] - start) / ramp) : 0.0f;
    }
  }
  return out;
}

void feather_mask_fast(const cv::Mat& hard_mask, float erosion_px, float feather_px, cv::Mat& out) {
  CV_Assert(hard_mask.type() == CV_8UC1);
  CV_Assert(out.type() == CV_32FC1 && out.size() == hard_mask.size());
  const float ramp = std::max(feather_px, 1.0f);
  const int f = (ramp >= 32.0f && erosion_px >= 4.0f) ? 4 : ((ramp >= 8.0f && erosion_px >= 2.0f) ? 2 : 1);
  const int w = hard_mask.cols, h = hard_mask.rows;
  if (f == 1 || w < 4 * f || h < 4 * f) {
    feather_mask(hard_mask, erosion_px, feather_px).copyTo(out);
    return;
  }
  // Reduced binary mask, padded with "inside" (as feather_mask does).
  const int sw = (w + f - 1) / f, sh = (h + f - 1) / f;
  cv::Mat padded(sh + 2, sw + 2, CV_8UC1, cv::Scalar(255));
  std::vector<int> count(sw);
  for (int j = 0; j < sh; ++j) {
    std::fill(count.begin(), count.end(), 0);
    const int y1 = std::min(h, (j + 1) * f);
    for (int y = j * f; y < y1; ++y) {
      const uchar* r = hard_mask.ptr<uchar>(y);
      for (int x = 0; x < w; ++x) count[x / f] += r[x] != 0;
    }
    uchar* p = padded.ptr<uchar>(j + 1) + 1;
    for (int i = 0; i < sw; ++i) {
      const int n = (y1 - j * f) * (std::min(w, (i + 1) * f) - i * f);
      p[i] = 2 * count[i] >= n ? 255 : 0;
    }
  }
  cv::Mat dist;
  cv::distanceTransform(padded, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE, CV_32F);
  BilinearUpsampler up(dist(cv::Rect(1, 1, sw, sh)), 1.0f / static_cast<float>(f), cv::Point(0, 0), w);
  const float start = erosion_px + 0.5f, scale = static_cast<float>(f) / ramp, bias = start / ramp;
  for (int y = 0; y < h; ++y) {
    const uchar* hm = hard_mask.ptr<uchar>(y);
    float* o = out.ptr<float>(y);
    const float* d = up.row(y);
    for (int x = 0; x < w; ++x) o[x] = hm[x] != 0 ? smoothstep01(d[x] * scale - bias) : 0.0f;
  }
}

cv::Mat swap_mask(const Landmarks68& points, const cv::Rect& region, const SwapMaskOptions& options) {
  CV_Assert(points.size() == static_cast<size_t>(kLandmarkCount68));
  float size = face_size(points);
  std::vector<cv::Point2f> hull;
  cv::convexHull(swap_mask_outline(points, options.brow_raise), hull);
  cv::Mat hard = polygon_mask(hull, region);
  float blur = std::clamp(options.face_mask_blur, 0.0f, 1.0f);
  return feather_mask(hard, options.erosion * size, blur * kSwapMaskFeatherPerBlur * size);
}

cv::Mat mouth_mask(const Landmarks68& points, const cv::Rect& region, float face_mask_blur) {
  CV_Assert(points.size() == static_cast<size_t>(kLandmarkCount68));
  cv::Mat out(region.size(), CV_32FC1, cv::Scalar(0));
  if (region.empty()) return out;
  float size = face_size(points);
  std::vector<cv::Point2f> inner(points.begin() + 60, points.begin() + 68);
  std::vector<cv::Point2f> hull;
  cv::convexHull(inner, hull);
  cv::Mat hard = polygon_mask(hull, region);
  // Grow outward: distance of outside pixels to the inner-mouth hull.
  cv::Mat outside;
  cv::bitwise_not(hard, outside);
  cv::Mat dist;
  cv::distanceTransform(outside, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE, CV_32F);
  const float grow = 0.02f * size;
  const float ramp = std::max(std::clamp(face_mask_blur, 0.0f, 1.0f) * 0.1f * size, 1.0f);
  if (cv::countNonZero(hard) == 0) return out;  // distanceTransform of an all-outside image is meaningless
  for (int y = 0; y < out.rows; ++y) {
    const float* d = dist.ptr<float>(y);
    float* o = out.ptr<float>(y);
    for (int x = 0; x < out.cols; ++x) o[x] = 1.0f - smoothstep01((d[x] - grow) / ramp);
  }
  return out;
}

cv::Mat cheek_mask(const Landmarks68& points, const cv::Rect& region) {
  CV_Assert(points.size() == static_cast<size_t>(kLandmarkCount68));
  cv::Mat left = polygon_mask({points[1], points[2], points[3], points[31], points[29]}, region);
  cv::Mat right = polygon_mask({points[15], points[29], points[35], points[13], points[14]}, region);
  cv::bitwise_or(left, right, left);
  return left;
}

cv::Mat skin_likelihood_lab(const cv::Mat& lab, const cv::Mat& reference) {
  CV_Assert(lab.type() == CV_32FC3 && reference.type() == CV_8UC1 && lab.size() == reference.size());
  cv::Mat out(lab.size(), CV_32FC1, cv::Scalar(1));
  if (cv::countNonZero(reference) < 16) return out;
  cv::Scalar mean, stddev;
  cv::meanStdDev(lab, mean, stddev, reference);
  const float ml = static_cast<float>(mean[0]), ma = static_cast<float>(mean[1]), mb = static_cast<float>(mean[2]);
  const float sl = std::max(static_cast<float>(stddev[0]), 5.0f);
  const float sa = std::max(static_cast<float>(stddev[1]), 3.0f);
  const float sb = std::max(static_cast<float>(stddev[2]), 3.0f);
  for (int y = 0; y < lab.rows; ++y) {
    const auto* p = lab.ptr<cv::Vec3f>(y);
    float* o = out.ptr<float>(y);
    for (int x = 0; x < lab.cols; ++x) {
      float dl = std::max(0.0f, ml - p[x][0]) / sl, da = (p[x][1] - ma) / sa, db = (p[x][2] - mb) / sb;
      float d = std::sqrt(dl * dl + da * da + db * db);
      o[x] = 1.0f - smoothstep01((d - kSkinFull) / (kSkinNone - kSkinFull));
    }
  }
  return out;
}

cv::Mat skin_likelihood(const cv::Mat& bgr, const cv::Mat& reference) {
  CV_Assert(bgr.type() == CV_32FC3);
  cv::Mat lab;
  cv::cvtColor(bgr, lab, cv::COLOR_BGR2Lab);
  return skin_likelihood_lab(lab, reference);
}

std::vector<int> face_mask_area_points(FaceMaskArea area) {
  switch (area) {
    case FaceMaskArea::kUpperFace:
      return {0, 1, 2, 31, 32, 33, 34, 35, 14, 15, 16, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17};
    case FaceMaskArea::kLowerFace:
      return {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 35, 34, 33, 32, 31};
    case FaceMaskArea::kMouth: {
      std::vector<int> ids;
      for (int i = 48; i <= 67; ++i) ids.push_back(i);
      return ids;
    }
  }
  return {};
}

cv::Mat area_mask(const Landmarks68& points, const cv::Rect& region, const std::vector<FaceMaskArea>& areas) {
  CV_Assert(points.size() == static_cast<size_t>(kLandmarkCount68));
  cv::Mat out(region.size(), CV_32FC1, cv::Scalar(0));
  if (region.empty() || areas.empty()) return out;
  std::vector<cv::Point2f> selected;
  for (FaceMaskArea area : areas) {
    for (int i : face_mask_area_points(area)) selected.push_back(points[i]);
  }
  std::vector<cv::Point2f> hull;
  cv::convexHull(selected, hull);
  polygon_mask(hull, region).convertTo(out, CV_32F, 1.0 / 255.0);
  double sigma = kAreaMaskSigma * face_size(points);
  if (sigma > 0.1) cv::GaussianBlur(out, out, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
  // FaceFusion: (clip(m, 0.5, 1) - 0.5) * 2.
  cv::min(cv::max(out, 0.5), 1.0, out);
  out = (out - 0.5) * 2.0;
  return out;
}

cv::Mat area_mask(const Landmarks68& points, const cv::Rect& region, std::initializer_list<FaceMaskArea> areas) {
  return area_mask(points, region, std::vector<FaceMaskArea>(areas));
}

BoxMaskGeometry box_mask_geometry(cv::Size crop, float face_mask_blur, const std::array<int, 4>& padding_percent) {
  BoxMaskGeometry g;
  // Integer truncation exactly as FaceFusion's int(...) and //.
  g.blur_amount = static_cast<int>(crop.width * 0.5 * static_cast<double>(face_mask_blur));
  const int blur_area = std::max(g.blur_amount / 2, 1);
  g.border_top = std::max(blur_area, crop.height * padding_percent[0] / 100);
  g.border_right = std::max(blur_area, crop.width * padding_percent[1] / 100);
  g.border_bottom = std::max(blur_area, crop.height * padding_percent[2] / 100);
  g.border_left = std::max(blur_area, crop.width * padding_percent[3] / 100);
  g.sigma = g.blur_amount > 0 ? g.blur_amount * 0.25 : 0.0;
  return g;
}

cv::Mat box_mask(cv::Size crop, float face_mask_blur, const std::array<int, 4>& padding_percent) {
  const BoxMaskGeometry g = box_mask_geometry(crop, face_mask_blur, padding_percent);
  cv::Mat mask(crop, CV_32FC1, cv::Scalar(1.0f));
  auto zero = [&](cv::Rect r) {
    r &= cv::Rect(0, 0, crop.width, crop.height);
    if (!r.empty()) mask(r).setTo(0.0f);
  };
  zero({0, 0, crop.width, g.border_top});
  zero({0, crop.height - g.border_bottom, crop.width, g.border_bottom});
  zero({0, 0, g.border_left, crop.height});
  zero({crop.width - g.border_right, 0, g.border_right, crop.height});
  if (g.sigma > 0.0) cv::GaussianBlur(mask, mask, cv::Size(0, 0), g.sigma);
  return mask;
}

cv::Mat soften_crop_mask(const cv::Mat& mask) {
  cv::Mat out;
  cv::min(cv::max(mask, 0.0), 1.0, out);
  cv::GaussianBlur(out, out, cv::Size(0, 0), kCropMaskSigma);
  cv::min(cv::max(out, 0.5), 1.0, out);
  out = (out - 0.5) * 2.0;
  return out;
}

cv::Mat crop_area_mask(const std::vector<cv::Point2f>& crop_landmarks68, cv::Size crop,
                       const std::vector<FaceMaskArea>& areas) {
  CV_Assert(crop_landmarks68.size() == static_cast<size_t>(kLandmarkCount68));
  cv::Mat mask(crop, CV_32FC1, cv::Scalar(0));
  std::vector<cv::Point> points;
  for (FaceMaskArea area : areas) {
    for (int i : face_mask_area_points(area)) {
      // numpy's astype(int32) truncates toward zero.
      points.emplace_back(static_cast<int>(crop_landmarks68[i].x), static_cast<int>(crop_landmarks68[i].y));
    }
  }
  if (points.size() < 3) return mask;
  std::vector<cv::Point> hull;
  cv::convexHull(points, hull);
  cv::fillConvexPoly(mask, hull, cv::Scalar(1.0));
  return soften_crop_mask(mask);
}

Result<FaceMaskArea> parse_face_mask_area(std::string_view name) {
  if (name == "upper-face") return FaceMaskArea::kUpperFace;
  if (name == "lower-face") return FaceMaskArea::kLowerFace;
  if (name == "mouth") return FaceMaskArea::kMouth;
  return invalid_argument("unknown face mask area '" + std::string(name) + "': use upper-face, lower-face or mouth");
}

}  // namespace facefuse::face
