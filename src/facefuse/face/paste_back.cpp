#include "facefuse/face/paste_back.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace facefuse::face {
namespace {

// The crop → box matrix: the inverse affine shifted so the box's top-left is the origin.
cv::Mat box_matrix(const cv::Mat& affine, const cv::Rect& box) {
  cv::Mat inverse;
  cv::invertAffineTransform(affine, inverse);
  inverse.at<double>(0, 2) -= box.x;
  inverse.at<double>(1, 2) -= box.y;
  return inverse;
}

}  // namespace

cv::Rect paste_box(const cv::Mat& affine, cv::Size crop_size, cv::Size frame_size) {
  cv::Mat inverse;
  cv::invertAffineTransform(affine, inverse);
  const double w = crop_size.width, h = crop_size.height;
  const double corners[4][2] = {{0, 0}, {w, 0}, {w, h}, {0, h}};
  double x0 = 1e18, y0 = 1e18, x1 = -1e18, y1 = -1e18;
  for (const auto& c : corners) {
    const double x = inverse.at<double>(0, 0) * c[0] + inverse.at<double>(0, 1) * c[1] + inverse.at<double>(0, 2);
    const double y = inverse.at<double>(1, 0) * c[0] + inverse.at<double>(1, 1) * c[1] + inverse.at<double>(1, 2);
    x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
  }
  auto clip = [](double v, int hi) { return static_cast<int>(std::clamp(v, 0.0, static_cast<double>(hi))); };
  const int bx0 = clip(std::floor(x0), frame_size.width), by0 = clip(std::floor(y0), frame_size.height);
  const int bx1 = clip(std::ceil(x1), frame_size.width), by1 = clip(std::ceil(y1), frame_size.height);
  return {bx0, by0, std::max(0, bx1 - bx0), std::max(0, by1 - by0)};
}

cv::Rect paste_back(cv::Mat& frame, const cv::Mat& crop, const cv::Mat& mask, const cv::Mat& affine) {
  CV_Assert(frame.type() == CV_8UC3 && (crop.type() == CV_8UC3 || crop.type() == CV_32FC3) &&
            mask.type() == CV_32FC1 && mask.size() == crop.size());
  const cv::Rect box = paste_box(affine, crop.size(), frame.size());
  if (box.empty()) return box;
  const cv::Mat to_box = box_matrix(affine, box);
  cv::Mat box_mask, box_crop;
  cv::warpAffine(mask, box_mask, to_box, box.size());  // bilinear, zero outside the crop
  cv::Mat crop_f;
  crop.convertTo(crop_f, CV_32F);
  cv::warpAffine(crop_f, box_crop, to_box, box.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  cv::Mat roi = frame(box);
  for (int y = 0; y < roi.rows; ++y) {
    auto* out = roi.ptr<cv::Vec3b>(y);
    const auto* in = box_crop.ptr<cv::Vec3f>(y);
    const float* m = box_mask.ptr<float>(y);
    for (int x = 0; x < roi.cols; ++x) {
      const float w = std::clamp(m[x], 0.0f, 1.0f);
      if (w <= 0.0f) continue;
      for (int c = 0; c < 3; ++c) {
        // numpy: (frame·(1 − m) + crop·m).astype(uint8) truncates.
        const float v = out[x][c] * (1.0f - w) + in[x][c] * w;
        out[x][c] = static_cast<uchar>(std::clamp(v, 0.0f, 255.0f));
      }
    }
  }
  return box;
}

}  // namespace facefuse::face
