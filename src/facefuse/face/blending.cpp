#include "facefuse/face/blending.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

namespace facefuse::face {

void transfer_color_lab(cv::Mat& foreground, const cv::Mat& reference, const cv::Mat& mask, float max_std_ratio) {
  CV_Assert(foreground.type() == CV_32FC3 && reference.type() == CV_32FC3 && mask.type() == CV_32FC1);
  CV_Assert(foreground.size() == reference.size() && foreground.size() == mask.size());
  cv::Mat inside = mask > 0.5f;
  if (cv::countNonZero(inside) < 16) return;

  cv::Mat fg_lab, ref_lab;
  // Float BGR in [0, 1] → L in [0, 100], a and b in about [−127, 127].
  cv::cvtColor(foreground, fg_lab, cv::COLOR_BGR2Lab);
  cv::cvtColor(reference, ref_lab, cv::COLOR_BGR2Lab);
  cv::Scalar fg_mean, fg_std, ref_mean, ref_std;
  cv::meanStdDev(fg_lab, fg_mean, fg_std, inside);
  cv::meanStdDev(ref_lab, ref_mean, ref_std, inside);

  float gain[3], offset[3];
  const float lo = 1.0f / std::max(max_std_ratio, 1.0f), hi = std::max(max_std_ratio, 1.0f);
  for (int c = 0; c < 3; ++c) {
    float ratio = fg_std[c] > 1e-3 ? static_cast<float>(ref_std[c] / fg_std[c]) : 1.0f;
    gain[c] = std::clamp(ratio, lo, hi);
    offset[c] = static_cast<float>(ref_mean[c] - fg_mean[c] * gain[c]);
  }
  for (int y = 0; y < fg_lab.rows; ++y) {
    auto* p = fg_lab.ptr<cv::Vec3f>(y);
    for (int x = 0; x < fg_lab.cols; ++x) {
      for (int c = 0; c < 3; ++c) p[x][c] = p[x][c] * gain[c] + offset[c];
      p[x][0] = std::clamp(p[x][0], 0.0f, 100.0f);
    }
  }
  cv::cvtColor(fg_lab, foreground, cv::COLOR_Lab2BGR);
  cv::min(cv::max(foreground, 0.0), 1.0, foreground);
}

int multiband_levels(float face_size_px, cv::Size region_size) {
  int levels = 1;
  float face = face_size_px, side = static_cast<float>(std::min(region_size.width, region_size.height));
  while (face / 2.0f >= 12.0f && side / 2.0f >= 8.0f && levels < 8) {
    face /= 2.0f;
    side /= 2.0f;
    ++levels;
  }
  return levels;
}

cv::Mat multiband_blend(const cv::Mat& foreground, const cv::Mat& background, const cv::Mat& mask, int levels) {
  CV_Assert(foreground.type() == CV_32FC3 && background.type() == CV_32FC3 && mask.type() == CV_32FC1);
  CV_Assert(foreground.size() == background.size() && foreground.size() == mask.size());
  levels = std::max(levels, 1);

  // Gaussian pyramids; level 0 is full size.
  std::vector<cv::Mat> gf{foreground}, gb{background}, gm{mask};
  for (int i = 1; i < levels; ++i) {
    if (gf.back().cols < 2 || gf.back().rows < 2) break;
    cv::Mat f, b, m;
    cv::pyrDown(gf.back(), f);
    cv::pyrDown(gb.back(), b);
    cv::pyrDown(gm.back(), m);
    gf.push_back(f);
    gb.push_back(b);
    gm.push_back(m);
  }
  const int n = static_cast<int>(gf.size());

  auto mix = [](const cv::Mat& f, const cv::Mat& b, const cv::Mat& m) {
    cv::Mat out(f.size(), CV_32FC3);
    for (int y = 0; y < f.rows; ++y) {
      const auto* pf = f.ptr<cv::Vec3f>(y);
      const auto* pb = b.ptr<cv::Vec3f>(y);
      const float* pm = m.ptr<float>(y);
      auto* po = out.ptr<cv::Vec3f>(y);
      for (int x = 0; x < f.cols; ++x) po[x] = pb[x] + (pf[x] - pb[x]) * pm[x];
    }
    return out;
  };

  // Coarsest level: plain Gaussian blend; then add each finer blended Laplacian band.
  cv::Mat result = mix(gf[n - 1], gb[n - 1], gm[n - 1]);
  for (int i = n - 2; i >= 0; --i) {
    cv::Mat up_f, up_b, up_r;
    cv::pyrUp(gf[i + 1], up_f, gf[i].size());
    cv::pyrUp(gb[i + 1], up_b, gb[i].size());
    cv::pyrUp(result, up_r, gf[i].size());
    cv::Mat band = mix(gf[i] - up_f, gb[i] - up_b, gm[i]);
    result = up_r + band;
  }
  return result;
}

Result<cv::Mat> poisson_blend(const cv::Mat& foreground, const cv::Mat& background, const cv::Mat& mask) {
  if (foreground.type() != CV_8UC3 || background.type() != CV_8UC3 || mask.type() != CV_32FC1 ||
      foreground.size() != background.size() || foreground.size() != mask.size()) {
    return internal_error("poisson_blend needs same-size CV_8UC3 images and a CV_32FC1 mask");
  }
  cv::Mat hard = mask > 0.5f;
  if (hard.rows > 2 && hard.cols > 2) {
    cv::rectangle(hard, cv::Rect(0, 0, hard.cols, hard.rows), cv::Scalar(0), 1);
  } else {
    hard.setTo(0);
  }
  cv::Rect box = cv::boundingRect(hard);
  if (box.empty()) return background.clone();
  // seamlessClone places the mask's bounding box centred on `p` (integer division), so this centre
  // puts the foreground exactly where it is.
  cv::Point centre(box.x + box.width / 2, box.y + box.height / 2);
  cv::Mat out;
  try {
    cv::seamlessClone(foreground, background, hard, centre, out, cv::NORMAL_CLONE);
  } catch (const cv::Exception& e) {
    return internal_error(std::string("cv::seamlessClone failed: ") + e.what());
  }
  return out;
}

void composite(cv::Mat& frame_region, const cv::Mat& blended, const cv::Mat& weight) {
  CV_Assert(frame_region.type() == CV_8UC3 && blended.type() == CV_32FC3 && weight.type() == CV_32FC1);
  CV_Assert(frame_region.size() == blended.size() && frame_region.size() == weight.size());
  for (int y = 0; y < frame_region.rows; ++y) {
    auto* f = frame_region.ptr<cv::Vec3b>(y);
    const auto* b = blended.ptr<cv::Vec3f>(y);
    const float* w = weight.ptr<float>(y);
    for (int x = 0; x < frame_region.cols; ++x) {
      if (w[x] <= 0.0f) continue;
      for (int c = 0; c < 3; ++c) {
        float v = f[x][c] + (b[x][c] * 255.0f - f[x][c]) * w[x];
        f[x][c] = cv::saturate_cast<uchar>(v);
      }
    }
  }
}

}  // namespace facefuse::face
