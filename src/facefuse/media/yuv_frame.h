// Decoded 8-bit 4:2:0 frames kept as they came out of the decoder, so the video path can hand the
// encoder the original samples everywhere a processor did not change the picture.
//
// Why: converting a whole decoded frame YUV → BGR → YUV adds ±1 rounding noise to every sample.
// The encoder then spends bits (and time: x264 took ~20 % more CPU than on the original frames at
// CRF 10) on noise. Re-converting only the region a processor changed keeps the rest bit-exact.
#pragma once

#include <optional>
#include <string>

#include <opencv2/core.hpp>

namespace facefuse::media {

// The colour matrix of limited-range ("TV", Y 16–235, Cb/Cr 16–240) 8-bit YUV.
enum class YuvMatrix { kBt601, kBt709 };

// The matrix a decoder's frame is interpreted with, from FFmpeg's colour-space name
// (av_color_space_name: "bt709", "smpte170m", "bt470bg", "unknown", ...): untagged streams are
// BT.601, as VideoReader (and the ffmpeg tool) read them. nullopt for matrices facefuse does not
// write (BT.2020, SMPTE 240M, FCC, YCgCo, ...).
std::optional<YuvMatrix> yuv_matrix_for_colour_space(const std::string& colour_space);

// One yuv420p frame: `y` is CV_8UC1 rows×cols, `u` and `v` CV_8UC1 (rows/2)×(cols/2). Only even
// sizes are used here (the encoder's yuv420p needs them). Empty when the frame was not kept.
struct YuvFrame {
  cv::Mat y, u, v;
  YuvMatrix matrix = YuvMatrix::kBt601;

  bool empty() const { return y.empty(); }
  cv::Size size() const { return y.size(); }
  YuvFrame clone() const { return {y.clone(), u.clone(), v.clone(), matrix}; }
};

// Converts the pixels of `after` that differ from `before` (both CV_8UC3, the size of `yuv`) to
// limited-range YUV with `yuv.matrix` and writes them over `yuv`: luma per changed pixel, chroma
// (the mean of the 2×2 block's four pixels in `after`) for every block holding a changed pixel.
// Unchanged samples keep their decoded values exactly — no edge where a converted rectangle
// would meet them (VideoReader's fast YUV→BGR is ~1 luma level darker than an exact inverse, so
// re-converting unchanged pixels would show). Returns the smallest rectangle holding every
// changed pixel (empty when none). One pass: unchanged rows cost a memcmp.
cv::Rect overwrite_changed_pixels(const cv::Mat& before, const cv::Mat& after, YuvFrame& yuv);

}  // namespace facefuse::media
