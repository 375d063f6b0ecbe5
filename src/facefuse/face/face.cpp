#include "facefuse/face/face.h"

namespace facefuse::face {

static cv::Point2f mean_of(const Landmarks68& p, int first, int last) {
  cv::Point2f sum(0, 0);
  for (int i = first; i <= last; ++i) sum += p[i];
  return sum / static_cast<float>(last - first + 1);
}

Landmarks5 landmarks5_from_68(const Landmarks68& points) {
  return {mean_of(points, 36, 41), mean_of(points, 42, 47), points[30], points[48], points[54]};
}

}  // namespace facefuse::face
