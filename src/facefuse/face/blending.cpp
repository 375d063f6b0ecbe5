#include "facefuse/face/blending.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

namespace facefuse::face {

namespace {

// Gaussian blur of `image` with `sigma` pixels, on a reduced grid when sigma is large (the result
// is smooth anyway), returned at full size.
cv::Mat smooth(const cv::Mat& image, float sigma) {
  cv::Mat out;
  int factor = sigma >= 16.0f ? 4 : (sigma >= 8.0f ? 2 : 1);
  if (factor == 1 || image.cols < 2 * factor || image.rows < 2 * factor) {
    cv::GaussianBlur(image, out, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
    return out;
  }
  cv::Mat small;
  cv::resize(image, small, cv::Size((image.cols + factor - 1) / factor, (image.rows + factor - 1) / factor), 0, 0,
             cv::INTER_AREA);
  cv::GaussianBlur(small, small, cv::Size(0, 0), sigma / factor, sigma / factor, cv::BORDER_REPLICATE);
  cv::resize(small, out, image.size(), 0, 0, cv::INTER_LINEAR);
  return out;
}

cv::Mat to_float(const cv::Mat& bgr) {
  if (bgr.type() == CV_32FC3) return bgr;
  cv::Mat out;
  bgr.convertTo(out, CV_32FC3, 1.0 / 255.0);
  return out;
}

// out = a · m (3 channels times one), in place into a.
void multiply_by_mask(cv::Mat& a, const cv::Mat& m) {
  for (int y = 0; y < a.rows; ++y) {
    auto* pa = a.ptr<cv::Vec3f>(y);
    const float* pm = m.ptr<float>(y);
    for (int x = 0; x < a.cols; ++x) pa[x] *= pm[x];
  }
}

}  // namespace

LabTransfer fit_lab_transfer_lab(const cv::Mat& foreground_lab, const cv::Mat& reference_lab, const cv::Mat& mask,
                                 float max_std_ratio) {
  CV_Assert(foreground_lab.type() == CV_32FC3 && reference_lab.type() == CV_32FC3 && mask.type() == CV_32FC1);
  CV_Assert(foreground_lab.size() == reference_lab.size() && foreground_lab.size() == mask.size());
  LabTransfer t;
  cv::Mat inside = mask > 0.5f;
  if (cv::countNonZero(inside) < 16) return t;
  cv::Scalar fg_mean, fg_std, ref_mean, ref_std;
  cv::meanStdDev(foreground_lab, fg_mean, fg_std, inside);
  cv::meanStdDev(reference_lab, ref_mean, ref_std, inside);
  const float hi = std::max(max_std_ratio, 1.0f), lo = 1.0f / hi;
  for (int c = 0; c < 3; ++c) {
    float ratio = fg_std[c] > 1e-3 ? static_cast<float>(ref_std[c] / fg_std[c]) : 1.0f;
    t.gain[c] = std::clamp(ratio, lo, hi);
    t.offset[c] = static_cast<float>(ref_mean[c] - fg_mean[c] * t.gain[c]);
  }
  return t;
}

LabTransfer fit_lab_transfer(const cv::Mat& foreground, const cv::Mat& reference, const cv::Mat& mask,
                             float max_std_ratio) {
  CV_Assert((foreground.type() == CV_32FC3 || foreground.type() == CV_8UC3) && reference.type() == foreground.type());
  cv::Mat fg_lab, ref_lab;
  cv::cvtColor(to_float(foreground), fg_lab, cv::COLOR_BGR2Lab);
  cv::cvtColor(to_float(reference), ref_lab, cv::COLOR_BGR2Lab);
  return fit_lab_transfer_lab(fg_lab, ref_lab, mask, max_std_ratio);
}

void apply_lab_transfer_lab(cv::Mat& lab, const LabTransfer& t) {
  CV_Assert(lab.type() == CV_32FC3);
  for (int y = 0; y < lab.rows; ++y) {
    auto* p = lab.ptr<cv::Vec3f>(y);
    for (int x = 0; x < lab.cols; ++x) {
      for (int c = 0; c < 3; ++c) p[x][c] = p[x][c] * t.gain[c] + t.offset[c];
      p[x][0] = std::clamp(p[x][0], 0.0f, 100.0f);
    }
  }
}

void apply_lab_transfer(cv::Mat& image, const LabTransfer& t) {
  CV_Assert(image.type() == CV_32FC3 || image.type() == CV_8UC3);
  if (image.empty()) return;
  cv::Mat lab;
  cv::cvtColor(image, lab, cv::COLOR_BGR2Lab);
  if (image.type() == CV_8UC3) {
    // 8-bit L*a*b*: L8 = L·255/100, a8 = a + 128, b8 = b + 128.
    const float offset8[3] = {t.offset[0] * 2.55f, t.offset[1] + 128.0f * (1.0f - t.gain[1]),
                              t.offset[2] + 128.0f * (1.0f - t.gain[2])};
    cv::Mat lut(1, 256, CV_8UC3);
    for (int v = 0; v < 256; ++v) {
      for (int c = 0; c < 3; ++c) lut.at<cv::Vec3b>(0, v)[c] = cv::saturate_cast<uchar>(v * t.gain[c] + offset8[c]);
    }
    cv::LUT(lab, lut, lab);
    cv::cvtColor(lab, image, cv::COLOR_Lab2BGR);
    return;
  }
  apply_lab_transfer_lab(lab, t);
  cv::cvtColor(lab, image, cv::COLOR_Lab2BGR);
  cv::min(cv::max(image, 0.0), 1.0, image);
}

void transfer_color_lab(cv::Mat& foreground, const cv::Mat& reference, const cv::Mat& mask, float max_std_ratio) {
  apply_lab_transfer(foreground, fit_lab_transfer(foreground, reference, mask, max_std_ratio));
}

cv::Mat lighting_gain(const cv::Mat& foreground, const cv::Mat& reference, const cv::Mat& weight, float sigma_px) {
  CV_Assert(foreground.size() == reference.size() && foreground.size() == weight.size());
  CV_Assert(weight.type() == CV_32FC1);
  cv::Mat gain(foreground.size(), CV_32FC3, cv::Scalar(1, 1, 1));
  if (sigma_px < 0.5f || cv::countNonZero(weight > 0.0f) < 16) return gain;
  cv::Mat fg = to_float(foreground).clone(), ref = to_float(reference).clone();
  multiply_by_mask(fg, weight);
  multiply_by_mask(ref, weight);
  cv::Mat fg_mean = smooth(fg, sigma_px), ref_mean = smooth(ref, sigma_px), den = smooth(weight, sigma_px);
  // Confidence of the local estimate: full where the weighted pixels around carry at least 10 %
  // of the kernel, fading to "no change" where there are none.
  constexpr float kFullConfidence = 0.1f, kTiny = 1e-4f;
  for (int y = 0; y < gain.rows; ++y) {
    auto* g = gain.ptr<cv::Vec3f>(y);
    const auto* fm = fg_mean.ptr<cv::Vec3f>(y);
    const auto* rm = ref_mean.ptr<cv::Vec3f>(y);
    const float* d = den.ptr<float>(y);
    for (int x = 0; x < gain.cols; ++x) {
      float confidence = std::clamp(d[x] / kFullConfidence, 0.0f, 1.0f);
      if (confidence <= 0.0f) continue;
      for (int c = 0; c < 3; ++c) {
        // Both means carry the same normalisation (den), so their ratio needs no division by it.
        float ratio = std::clamp((rm[x][c] + kTiny) / (fm[x][c] + kTiny), 0.5f, 2.0f);
        g[x][c] = 1.0f + (ratio - 1.0f) * confidence;
      }
    }
  }
  return gain;
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

cv::Mat multiband_detail(const cv::Mat& difference, const cv::Mat& mask, int levels) {
  CV_Assert(difference.type() == CV_32FC3 && mask.type() == CV_32FC1 && difference.size() == mask.size());
  levels = std::max(levels, 1);
  // Gaussian pyramids of the difference and of the mask; level 0 is full size.
  std::vector<cv::Mat> gd{difference}, gm{mask};
  for (int i = 1; i < levels; ++i) {
    if (gd.back().cols < 2 || gd.back().rows < 2) break;
    cv::Mat d, m;
    cv::pyrDown(gd.back(), d);
    cv::pyrDown(gm.back(), m);
    gd.push_back(d);
    gm.push_back(m);
  }
  const int n = static_cast<int>(gd.size());

  // Coarsest level: the Gaussian band times its mask; then each finer Laplacian band times its
  // mask, added to the upsampled sum: sum_i = up(sum_{i+1}) + m_i·(d_i − up(d_{i+1})).
  cv::Mat sum = gd[n - 1].clone();
  multiply_by_mask(sum, gm[n - 1]);
  for (int i = n - 2; i >= 0; --i) {
    cv::Mat up_d, up_sum;
    cv::pyrUp(gd[i + 1], up_d, gd[i].size());
    cv::pyrUp(sum, up_sum, gd[i].size());
    for (int y = 0; y < up_sum.rows; ++y) {
      auto* s = up_sum.ptr<cv::Vec3f>(y);
      const auto* d = gd[i].ptr<cv::Vec3f>(y);
      const auto* u = up_d.ptr<cv::Vec3f>(y);
      const float* m = gm[i].ptr<float>(y);
      for (int x = 0; x < up_sum.cols; ++x) s[x] += (d[x] - u[x]) * m[x];
    }
    sum = up_sum;
  }
  return sum;
}

cv::Mat multiband_blend(const cv::Mat& foreground, const cv::Mat& background, const cv::Mat& mask, int levels) {
  CV_Assert(foreground.type() == CV_32FC3 && background.type() == CV_32FC3 && mask.type() == CV_32FC1);
  CV_Assert(foreground.size() == background.size() && foreground.size() == mask.size());
  cv::Mat out(background.size(), CV_32FC3);
  cv::add(background, multiband_detail(foreground - background, mask, levels), out);
  return out;
}

BilinearUpsampler::BilinearUpsampler(const cv::Mat& small, cv::Point2f scale, cv::Point offset, int width)
    : small_(small), scale_y_(scale.y), offset_(offset), channels_(small.channels()) {
  CV_Assert(small.depth() == CV_32F && !small.empty() && width >= 0);
  const int sw = small.cols;
  x0_.resize(width);
  x1_.resize(width);
  ax_.resize(width);
  for (int x = 0; x < width; ++x) {
    float fx = (static_cast<float>(x + offset.x) + 0.5f) * scale.x - 0.5f;
    int i = static_cast<int>(std::floor(fx));
    float a = fx - static_cast<float>(i);
    int i0 = std::clamp(i, 0, sw - 1), i1 = std::clamp(i + 1, 0, sw - 1);
    x0_[x] = i0 * channels_;
    x1_[x] = i1 * channels_;
    ax_[x] = a;
  }
  for (auto& row : rows_) row.resize(static_cast<size_t>(width) * channels_);
  out_.resize(static_cast<size_t>(width) * channels_);
}

const float* BilinearUpsampler::row(int y) {
  const int sh = small_.rows;
  float fy = (static_cast<float>(y + offset_.y) + 0.5f) * scale_y_ - 0.5f;
  int j = static_cast<int>(std::floor(fy));
  const float b = fy - static_cast<float>(j);
  const int j0 = std::clamp(j, 0, sh - 1), j1 = std::clamp(j + 1, 0, sh - 1);
  if (cached_[0] != j0) {
    if (cached_[1] == j0) {  // moved down one small row: the lower row becomes the upper one
      std::swap(rows_[0], rows_[1]);
      std::swap(cached_[0], cached_[1]);
    } else {
      columns_of_row(j0, rows_[0].data());
      cached_[0] = j0;
    }
  }
  if (cached_[1] != j1) {
    columns_of_row(j1, rows_[1].data());
    cached_[1] = j1;
  }
  const float* r0 = rows_[0].data();
  const float* r1 = rows_[1].data();
  float* o = out_.data();
  const size_t n = out_.size();
  for (size_t i = 0; i < n; ++i) o[i] = r0[i] + (r1[i] - r0[i]) * b;
  return o;
}

void BilinearUpsampler::columns_of_row(int index, float* dst) const {
  // The channel count as a constant for the common cases, so the inner loop unrolls.
  switch (channels_) {
    case 1: interpolate_columns<1>(index, dst); break;
    case 3: interpolate_columns<3>(index, dst); break;
    case 4: interpolate_columns<4>(index, dst); break;
    default: interpolate_columns<0>(index, dst); break;
  }
}

template <int kChannels>
void BilinearUpsampler::interpolate_columns(int index, float* dst) const {
  const int width = static_cast<int>(ax_.size()), cn = kChannels > 0 ? kChannels : channels_;
  const float* t = small_.ptr<float>(index);
  for (int x = 0; x < width; ++x) {
    const float* p0 = t + x0_[x];
    const float* p1 = t + x1_[x];
    const float a = ax_[x];
    for (int c = 0; c < cn; ++c) dst[x * cn + c] = p0[c] + (p1[c] - p0[c]) * a;
  }
}

void multiband_composite(cv::Mat& frame_region, const cv::Mat& foreground, const cv::Mat& mask, int levels,
                         float blend) {
  CV_Assert(frame_region.type() == CV_8UC3 && foreground.type() == CV_8UC3 && mask.type() == CV_32FC1);
  CV_Assert(frame_region.size() == foreground.size() && frame_region.size() == mask.size());
  const int w = frame_region.cols, h = frame_region.rows;
  if (w == 0 || h == 0 || blend <= 0.0f) return;
  levels = std::max(levels, 1);
  if (levels == 1 || w < 2 || h < 2) {
    // Plain alpha blend: background + mask·(foreground − background).
    for (int y = 0; y < h; ++y) {
      auto* f = frame_region.ptr<cv::Vec3b>(y);
      const auto* g = foreground.ptr<cv::Vec3b>(y);
      const float* m = mask.ptr<float>(y);
      for (int x = 0; x < w; ++x) {
        if (m[x] <= 0.0f) continue;
        const float k = m[x] * m[x] * blend;
        for (int c = 0; c < 3; ++c) f[x][c] = cv::saturate_cast<uchar>(f[x][c] + (g[x][c] - f[x][c]) * k);
      }
    }
    return;
  }
  // Level 1 (half size): 2×2 means of the difference (0–255 units) and of the mask.
  const int hw = (w + 1) / 2, hh = (h + 1) / 2;
  cv::Mat d1(hh, hw, CV_32FC3), m1(hh, hw, CV_32FC1);
  for (int j = 0; j < hh; ++j) {
    const int ya = 2 * j, yb = std::min(2 * j + 1, h - 1);
    const auto* fa = frame_region.ptr<cv::Vec3b>(ya);
    const auto* fb = frame_region.ptr<cv::Vec3b>(yb);
    const auto* ga = foreground.ptr<cv::Vec3b>(ya);
    const auto* gb = foreground.ptr<cv::Vec3b>(yb);
    const float* ma = mask.ptr<float>(ya);
    const float* mb = mask.ptr<float>(yb);
    auto* d = d1.ptr<cv::Vec3f>(j);
    float* m = m1.ptr<float>(j);
    for (int i = 0; i < hw; ++i) {
      const int xa = 2 * i, xb = std::min(2 * i + 1, w - 1);
      for (int c = 0; c < 3; ++c) {
        int s = (ga[xa][c] - fa[xa][c]) + (ga[xb][c] - fa[xb][c]) + (gb[xa][c] - fb[xa][c]) + (gb[xb][c] - fb[xb][c]);
        d[i][c] = 0.25f * static_cast<float>(s);
      }
      m[i] = 0.25f * (ma[xa] + ma[xb] + mb[xa] + mb[xb]);
    }
  }
  // Levels 1 … levels − 1: Burt–Adelson on the half-size grid.
  cv::Mat s1 = multiband_detail(d1, m1, levels - 1);
  // Level 0: sum_0 = up(s1) + m0·(d0 − up(d1)), with bilinear up.
  cv::Mat both;
  cv::merge(std::vector<cv::Mat>{s1, d1}, both);
  BilinearUpsampler up(both, 0.5f, cv::Point(0, 0), w);
  for (int y = 0; y < h; ++y) {
    const float* m = mask.ptr<float>(y);
    bool any = false;
    for (int x = 0; x < w && !any; ++x) any = m[x] > 0.0f;
    if (!any) continue;
    const float* u = up.row(y);
    auto* f = frame_region.ptr<cv::Vec3b>(y);
    const auto* g = foreground.ptr<cv::Vec3b>(y);
    for (int x = 0; x < w; ++x) {
      if (m[x] <= 0.0f) continue;
      const float k = m[x] * blend;
      const float* p = u + 6 * x;
      for (int c = 0; c < 3; ++c) {
        const float s = p[c] + m[x] * (static_cast<float>(g[x][c] - f[x][c]) - p[3 + c]);
        f[x][c] = cv::saturate_cast<uchar>(f[x][c] + s * k);
      }
    }
  }
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
  // seamlessClone solves over the mask's bounding box, which nudges pixels outside the mask too.
  background.copyTo(out, hard == 0);
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
