#include "facefuse/face/crop_tensor.h"

namespace facefuse::face {

inference::Tensor rgb_planes(const cv::Mat& bgr, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  auto t = inference::Tensor::zeros({1, 3, bgr.rows, bgr.cols});
  const size_t plane = static_cast<size_t>(bgr.rows) * bgr.cols;
  for (int y = 0; y < bgr.rows; ++y) {
    const auto* row = bgr.ptr<cv::Vec3b>(y);
    for (int x = 0; x < bgr.cols; ++x) {
      const size_t i = static_cast<size_t>(y) * bgr.cols + x;
      for (int c = 0; c < 3; ++c) t.data[c * plane + i] = (row[x][2 - c] / 255.0f - mean[c]) / std[c];
    }
  }
  return t;
}

}  // namespace facefuse::face
