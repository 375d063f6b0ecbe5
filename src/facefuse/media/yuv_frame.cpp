#include "facefuse/media/yuv_frame.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace facefuse::media {
namespace {

// Limited-range 8-bit YUV from full-range RGB (ITU-R BT.601 / BT.709):
//   Y  = 16  + 219/255 · (Kr·R + Kg·G + Kb·B)
//   Cb = 128 + 112/(255·(1−Kb)) · (B − (Kr·R + Kg·G + Kb·B))
//   Cr = 128 + 112/(255·(1−Kr)) · (R − (Kr·R + Kg·G + Kb·B))
// as integers scaled by 2^16 (the largest product, 1020 · 0.44 · 2^16 for a 2×2 chroma sum, fits
// an int32 with room to spare).
struct FixedPointMatrix {
  static constexpr int kShift = 16;
  int yr, yg, yb;  // Y
  int ur, ug, ub;  // Cb
  int vr, vg, vb;  // Cr
};

FixedPointMatrix fixed_point_matrix(YuvMatrix matrix) {
  const double kr = matrix == YuvMatrix::kBt709 ? 0.2126 : 0.299;
  const double kb = matrix == YuvMatrix::kBt709 ? 0.0722 : 0.114;
  const double kg = 1.0 - kr - kb;
  const double scale = 1 << FixedPointMatrix::kShift;
  auto q = [&](double v) { return static_cast<int>(std::lround(v * scale)); };
  const double ys = 219.0 / 255.0, us = 112.0 / (255.0 * (1.0 - kb)), vs = 112.0 / (255.0 * (1.0 - kr));
  return {q(ys * kr),  q(ys * kg),  q(ys * kb),         //
          q(-us * kr), q(-us * kg), q(us * (1.0 - kb)), //
          q(vs * (1.0 - kr)), q(-vs * kg), q(-vs * kb)};
}

uint8_t to_sample(int scaled, int offset, int shift) {
  int v = (scaled + (offset << shift) + (1 << (shift - 1))) >> shift;
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

}  // namespace

std::optional<YuvMatrix> yuv_matrix_for_colour_space(const std::string& colour_space) {
  if (colour_space == "bt709") return YuvMatrix::kBt709;
  // av_color_space_name names an untagged stream "unknown"; "" when it has no name at all.
  if (colour_space == "smpte170m" || colour_space == "bt470bg" || colour_space == "unknown" || colour_space.empty()) {
    return YuvMatrix::kBt601;
  }
  return std::nullopt;
}

namespace {

// Offset of the first byte where a and b differ (n if none), and one past the last one (0 if
// none); compared 8 bytes at a time.
size_t first_difference(const uint8_t* a, const uint8_t* b, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t wa, wb;
    std::memcpy(&wa, a + i, 8);
    std::memcpy(&wb, b + i, 8);
    if (wa != wb) break;
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  return n;
}

size_t end_of_difference(const uint8_t* a, const uint8_t* b, size_t n) {
  size_t i = n;
  for (; i >= 8; i -= 8) {
    uint64_t wa, wb;
    std::memcpy(&wa, a + i - 8, 8);
    std::memcpy(&wb, b + i - 8, 8);
    if (wa != wb) break;
  }
  for (; i > 0; --i) {
    if (a[i - 1] != b[i - 1]) return i;
  }
  return 0;
}

}  // namespace

cv::Rect overwrite_changed_pixels(const cv::Mat& before, const cv::Mat& after, YuvFrame& yuv) {
  CV_Assert(before.type() == CV_8UC3 && after.type() == CV_8UC3 && before.size() == after.size() &&
            after.size() == yuv.size() && yuv.size().width % 2 == 0 && yuv.size().height % 2 == 0);
  const FixedPointMatrix m = fixed_point_matrix(yuv.matrix);
  constexpr int s = FixedPointMatrix::kShift;
  const size_t row_bytes = static_cast<size_t>(after.cols) * 3;
  int left = after.cols, right = -1, top = after.rows, bottom = -1;
  // Per pixel of the two rows' changed span: 1 where it changed. The loops below have no branch
  // per pixel (every sample of the span is converted and the changed ones are kept), which the
  // compiler vectorises; a face's span is mostly changed anyway.
  std::vector<uint8_t> changed_flags[2] = {std::vector<uint8_t>(after.cols), std::vector<uint8_t>(after.cols)};
  for (int y = 0; y < after.rows; y += 2) {
    const uint8_t* rows_after[2] = {after.ptr<uint8_t>(y), after.ptr<uint8_t>(y + 1)};
    const uint8_t* rows_before[2] = {before.ptr<uint8_t>(y), before.ptr<uint8_t>(y + 1)};
    const bool row_changed[2] = {std::memcmp(rows_before[0], rows_after[0], row_bytes) != 0,
                                 std::memcmp(rows_before[1], rows_after[1], row_bytes) != 0};
    if (!row_changed[0] && !row_changed[1]) continue;
    top = std::min(top, row_changed[0] ? y : y + 1);
    bottom = row_changed[1] ? y + 1 : y;
    // Only the 2×2 blocks between the first and last changed byte of the two rows are visited (a
    // face is a fraction of the frame's width; the blocks outside would all be skipped anyway).
    size_t first = row_bytes, end = 0;
    for (int dy = 0; dy < 2; ++dy) {
      if (!row_changed[dy]) continue;
      first = std::min(first, first_difference(rows_before[dy], rows_after[dy], row_bytes));
      end = std::max(end, end_of_difference(rows_before[dy], rows_after[dy], row_bytes));
    }
    const int x_begin = static_cast<int>(first / 3) & ~1;
    const int x_end = std::min(after.cols, (static_cast<int>((end + 2) / 3) + 1) & ~1);
    const int span = x_end - x_begin;
    for (int dy = 0; dy < 2; ++dy) {
      const uint8_t* p = rows_after[dy] + 3 * x_begin;  // B, G, R
      const uint8_t* q = rows_before[dy] + 3 * x_begin;
      uint8_t* luma = yuv.y.ptr<uint8_t>(y + dy) + x_begin;
      uint8_t* changed = changed_flags[dy].data();
      for (int i = 0; i < span; ++i) {
        const int b = p[3 * i], g = p[3 * i + 1], r = p[3 * i + 2];
        const bool differs = (b != q[3 * i]) | (g != q[3 * i + 1]) | (r != q[3 * i + 2]);
        const uint8_t converted = to_sample(m.yr * r + m.yg * g + m.yb * b, 16, s);
        luma[i] = differs ? converted : luma[i];
        changed[i] = differs;
      }
      for (int i = 0; i < span; ++i) {
        if (changed[i]) {
          left = std::min(left, x_begin + i);
          break;
        }
      }
      for (int i = span - 1; i >= 0; --i) {
        if (changed[i]) {
          right = std::max(right, x_begin + i);
          break;
        }
      }
    }
    uint8_t* cb = yuv.u.ptr<uint8_t>(y / 2) + x_begin / 2;
    uint8_t* cr = yuv.v.ptr<uint8_t>(y / 2) + x_begin / 2;
    const uint8_t* p0 = rows_after[0] + 3 * x_begin;
    const uint8_t* p1 = rows_after[1] + 3 * x_begin;
    const uint8_t* c0 = changed_flags[0].data();
    const uint8_t* c1 = changed_flags[1].data();
    for (int k = 0; k < span / 2; ++k) {
      const int i = 2 * k, o = 6 * k;
      // Sums of the 2×2 block's four pixels: two more bits of scale.
      const int b_sum = p0[o] + p0[o + 3] + p1[o] + p1[o + 3];
      const int g_sum = p0[o + 1] + p0[o + 4] + p1[o + 1] + p1[o + 4];
      const int r_sum = p0[o + 2] + p0[o + 5] + p1[o + 2] + p1[o + 5];
      const bool block_changed = (c0[i] | c0[i + 1] | c1[i] | c1[i + 1]) != 0;
      const uint8_t new_cb = to_sample(m.ur * r_sum + m.ug * g_sum + m.ub * b_sum, 128, s + 2);
      const uint8_t new_cr = to_sample(m.vr * r_sum + m.vg * g_sum + m.vb * b_sum, 128, s + 2);
      cb[k] = block_changed ? new_cb : cb[k];
      cr[k] = block_changed ? new_cr : cr[k];
    }
  }
  if (bottom < 0) return {};
  return {left, top, right - left + 1, bottom - top + 1};
}

}  // namespace facefuse::media
