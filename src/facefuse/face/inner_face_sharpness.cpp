#include "facefuse/face/inner_face_sharpness.h"

#include <vector>

#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_mask.h"

namespace facefuse::face {

double inner_face_sharpness_ratio(const cv::Mat& target, const cv::Mat& result, const Landmarks68& target_points) {
  CV_Assert(target.type() == CV_8UC3 && result.type() == CV_8UC3 && target.size() == result.size());
  const cv::Rect region = face_region(target_points, 0.15f, 0.25f, target.size());
  std::vector<cv::Point2f> inner(target_points.begin() + 17, target_points.end()), hull;
  cv::convexHull(inner, hull);
  const cv::Mat inner_mask = polygon_mask(hull, region);
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
