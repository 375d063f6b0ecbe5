#include "facefuse/face/face_geometry.h"

#include <cmath>
#include <limits>

#include "facefuse/face/face_mask.h"

namespace facefuse::face {
namespace {

cv::Point2f mean_of(const Landmarks68& p, int first, int last) {
  cv::Point2f sum(0, 0);
  for (int i = first; i <= last; ++i) sum += p[i];
  return sum / static_cast<float>(last - first + 1);
}

float distance(cv::Point2f a, cv::Point2f b) { return std::hypot(a.x - b.x, a.y - b.y); }

}  // namespace

float inter_ocular_distance(const Landmarks68& p) {
  if (p.size() != kLandmarkCount68) return 0.0f;
  return distance(mean_of(p, 36, 41), mean_of(p, 42, 47));
}

float mean_point_distance(const Landmarks68& a, const Landmarks68& b) {
  if (a.size() != kLandmarkCount68 || b.size() != kLandmarkCount68) return std::numeric_limits<float>::infinity();
  float sum = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) sum += distance(a[i], b[i]);
  return sum / static_cast<float>(a.size());
}

float mouth_open_ratio(const Landmarks68& p) {
  if (p.size() != kLandmarkCount68) return 0.0f;
  const float width = distance(p[48], p[54]);
  if (width <= 0.0f) return 0.0f;
  return distance(mean_of(p, 61, 63), mean_of(p, 65, 67)) / width;
}

float one_eye_open_ratio(const Landmarks68& p, int first) {
  if (p.size() != kLandmarkCount68 || (first != 36 && first != 42)) return 0.0f;
  // Corners first and first + 3; upper lid first + 1, + 2 over lower lid first + 5, + 4.
  const float width = distance(p[first], p[first + 3]);
  if (width <= 0.0f) return 0.0f;
  return (distance(p[first + 1], p[first + 5]) + distance(p[first + 2], p[first + 4])) / (2.0f * width);
}

float eye_open_ratio(const Landmarks68& p) {
  if (p.size() != kLandmarkCount68) return 0.0f;
  return 0.5f * (one_eye_open_ratio(p, 36) + one_eye_open_ratio(p, 42));
}

float brow_raise_ratio(const Landmarks68& p, int first) {
  if (p.size() != kLandmarkCount68 || (first != 17 && first != 22)) return 0.0f;
  const float iod = inter_ocular_distance(p);
  const int eye = first == 17 ? 36 : 42;
  const cv::Point2f corner = p[eye], along = p[eye + 3] - p[eye];
  const float width = std::hypot(along.x, along.y);
  if (iod <= 0.0f || width <= 0.0f) return 0.0f;
  // The eye line's normal, turned to the side away from the mouth.
  cv::Point2f up(along.y / width, -along.x / width);
  if (((p[48] + p[54]) * 0.5f - corner).dot(up) > 0.0f) up = -up;
  return (mean_of(p, first, first + 4) - corner).dot(up) / iod;
}

float roll_degrees(const Landmarks68& p) {
  if (p.size() != kLandmarkCount68) return 0.0f;
  const cv::Point2f d = mean_of(p, 42, 47) - mean_of(p, 36, 41);
  return static_cast<float>(std::atan2(d.y, d.x) * 180.0 / M_PI);
}

bool seen_from_the_side(const Face& face) {
  if (!face.detector_landmarks5 || !face.has_landmarks68()) return false;
  const Landmarks68& p = face.landmarks68;
  if (face_size(p) < kProfileCheckMinFaceSize) return false;
  const float iod = inter_ocular_distance(p);
  if (iod <= 0.0f) return false;
  const Landmarks5& detected = *face.detector_landmarks5;
  return distance(detected[0], detected[1]) < kProfileEyeRatio * iod &&
         distance(detected[2], p[30]) > kProfileNoseOffset * iod;
}

}  // namespace facefuse::face
