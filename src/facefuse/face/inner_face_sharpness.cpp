#include "facefuse/face/inner_face_sharpness.h"

#include <algorithm>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"

namespace facefuse::face {
namespace {

// Mean squared 3×3 Laplacian of a grey uint8 image where `mask` is set (grey levels² per px²).
double laplacian_energy(const cv::Mat& gray, const cv::Mat& mask) {
  cv::Mat f, lap;
  gray.convertTo(f, CV_32F);
  cv::Laplacian(f, lap, CV_32F, 3);
  return cv::mean(lap.mul(lap), mask)[0];
}

}  // namespace

cv::Mat inner_face_mask(const Landmarks68& points, const cv::Rect& area) {
  std::vector<cv::Point2f> inner(points.begin() + 17, points.end()), hull;
  cv::convexHull(inner, hull);
  return polygon_mask(hull, area);
}

double inner_face_sharpness_ratio(const cv::Mat& target, const cv::Mat& result, const Landmarks68& target_points) {
  CV_Assert(target.type() == CV_8UC3 && result.type() == CV_8UC3 && target.size() == result.size());
  const cv::Rect region = face_region(target_points, 0.15f, 0.25f, target.size());
  const cv::Mat inner_mask = inner_face_mask(target_points, region);
  auto energy = [&](const cv::Mat& image) {
    cv::Mat gray;
    cv::cvtColor(image(region), gray, cv::COLOR_BGR2GRAY);
    return laplacian_energy(gray, inner_mask);
  };
  const double of_target = energy(target);
  return of_target > 0 ? energy(result) / of_target : 0.0;
}

double inner_face_energy(const cv::Mat& image, const Landmarks68& points, float face_px) {
  CV_Assert(image.empty() || image.type() == CV_8UC3);
  if (image.empty() || points.size() != static_cast<size_t>(kLandmarkCount68)) return 0.0;
  const float size = face_size(points);
  const cv::Rect region = face_region(points, 0.15f, 0.1f, image.size());
  if (size < 2.0f || region.width < 4 || region.height < 4) return 0.0;
  // Measured on every video detection of a face up to 700+ px: grey first, and the reduction's whole
  // part by area averaging on its own (OpenCV's fast path; a fractional INTER_AREA factor cost
  // ~1 ms per frame of the zoom clip), the rest (under 2×) bilinearly.
  cv::Mat gray, reduced, resized;
  cv::cvtColor(image(region), gray, cv::COLOR_BGR2GRAY);
  const int whole = std::max(1, static_cast<int>(size / face_px));
  if (whole > 1) {
    const cv::Rect even(0, 0, gray.cols - gray.cols % whole, gray.rows - gray.rows % whole);
    cv::resize(gray(even), reduced, cv::Size(even.width / whole, even.height / whole), 0, 0, cv::INTER_AREA);
  } else {
    reduced = gray;
  }
  const double scale = face_px * whole / size;  // of `reduced`: over 0.5
  cv::resize(reduced, resized, cv::Size(), scale, scale, cv::INTER_LINEAR);
  Landmarks68 scaled(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    // Pixel centres: x' + 0.5 = (x − region.x + 0.5) / whole · scale.
    scaled[i] = {static_cast<float>((points[i].x - region.x + 0.5) / whole * scale - 0.5),
                 static_cast<float>((points[i].y - region.y + 0.5) / whole * scale - 0.5)};
  }
  const cv::Mat mask = inner_face_mask(scaled, cv::Rect(0, 0, resized.cols, resized.rows));
  return cv::countNonZero(mask) > 0 ? laplacian_energy(resized, mask) : 0.0;
}

}  // namespace facefuse::face
