#include "facefuse/face/inner_face_sharpness.h"

#include <vector>

#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_mask.h"

namespace facefuse::face {

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
    cv::Mat gray, f, lap;
    cv::cvtColor(image(region), gray, cv::COLOR_BGR2GRAY);
    gray.convertTo(f, CV_32F);
    cv::Laplacian(f, lap, CV_32F, 3);
    return cv::mean(lap.mul(lap), inner_mask)[0];
  };
  const double of_target = energy(target);
  return of_target > 0 ? energy(result) / of_target : 0.0;
}

}  // namespace facefuse::face
