#include "facefuse/face/box_convention.h"

#include <array>

namespace facefuse::face {

namespace {

// Mean positions in the dlib box (fractions of its side), left-right symmetric. Eyes and nose as
// measured for BlazeFace's keypoints (blazeface_detector.cpp); the mouth corners sit half a mouth
// width (0.455 eye distances) either side of the mouth keypoint (x = 0.5, y = 0.7113) and 0.06 eye
// distances above it, the eye distance being 0.3988 of the side.
const std::array<cv::Point2f, 5> kLandmarks5InDlibBox{{
    {0.3006f, 0.2998f},  // eye on the image's left
    {0.6994f, 0.2998f},  // eye on the image's right
    {0.5f, 0.5134f},     // nose tip
    {0.3185f, 0.6874f},  // mouth corner on the image's left
    {0.6815f, 0.6874f},  // mouth corner on the image's right
}};

}  // namespace

cv::Rect2f fit_square_to_template(std::span<const cv::Point2f> points, std::span<const cv::Point2f> template_points) {
  // Least squares for left + t.x·side = p.x, top + t.y·side = p.y over all points.
  cv::Point2f mean_p(0, 0), mean_t(0, 0);
  for (size_t i = 0; i < points.size(); ++i) {
    mean_p += points[i];
    mean_t += template_points[i];
  }
  const float n = static_cast<float>(points.size());
  mean_p /= n;
  mean_t /= n;
  float num = 0, den = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const cv::Point2f dt = template_points[i] - mean_t;
    num += dt.dot(points[i] - mean_p);
    den += dt.dot(dt);
  }
  const float side = num / den;
  return {mean_p.x - mean_t.x * side, mean_p.y - mean_t.y * side, side, side};
}

cv::Rect2f dlib_box_from_landmarks5(const Landmarks5& points) {
  return fit_square_to_template(points, kLandmarks5InDlibBox);
}

std::span<const cv::Point2f> landmarks5_in_dlib_box() { return kLandmarks5InDlibBox; }

}  // namespace facefuse::face
