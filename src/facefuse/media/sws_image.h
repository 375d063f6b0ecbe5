// BGR images that libswscale may read and write safely: every sws_scale source or destination
// that is a cv::Mat goes through here (VideoReader, VideoWriter, the tests' reference decoder).
//
// Why: libswscale's SIMD paths work on whole blocks of pixels, not on the image's width. Measured
// with FFmpeg 5.1 on x86-64: yuv420p → bgr24 writes whole 16-pixel blocks per row, up to 42 bytes
// past the end of a row (24 bytes for every width ≡ 8 mod 16: 1080, 1000, 1288, 1928, 360...),
// and bgr24 → yuv420p reads up to 16 bytes past the end of its source for every width. Into a
// tightly packed cv::Mat (step = cols·3) the last row's excess lands outside the allocation: heap
// corruption and an abort on portrait phone videos (issue 11, item 1).
//
// The layout used instead, for a rows×cols CV_8UC3 image:
//   - row stride (step) = cols rounded up to a multiple of 64 pixels, times 3 bytes: a multiple
//     of 64 bytes (the alignment libswscale's AVX2/AVX-512 code likes) and at least one whole
//     16-pixel block longer than any row's pixels, so block writes stay inside their row;
//   - one spare row after the last one, so reads or writes past the last row stay allocated.
// The image is a view (ROI) into that buffer: `step` > cols·3 unless cols is a multiple of 64, so
// it is not continuous; every OpenCV function, and every facefuse function that walks rows with
// ptr(y), handles that. cv::Mat reference counting is unchanged (the view holds the buffer).
//
// Threading: free functions on the caller's cv::Mat; thread-safe for distinct matrices.
#pragma once

#include <opencv2/core.hpp>

namespace facefuse::media {

// Row alignment of a swscale-safe image, pixels (64 pixels × 3 bytes = 192 bytes = 3 × 64).
inline constexpr int kSwsRowAlignPixels = 64;

// Makes `image` a rows×cols CV_8UC3 image with the swscale-safe layout above. Its current buffer
// is reused when it already has this layout and size and no other cv::Mat shares it (so a frame
// handed to another thread is never overwritten); otherwise a new buffer is allocated. Contents
// are unspecified.
void create_sws_bgr(cv::Mat& image, int rows, int cols);

// True when libswscale may read (or write) `image` (CV_8UC3) with its own step: the step is
// 64-byte aligned and has the slack above, and a spare row follows the last one inside the same
// allocation. Images made by create_sws_bgr are; a plain cv::Mat(rows, cols, CV_8UC3) is not.
bool is_sws_safe_bgr(const cv::Mat& image);

// `bgr` itself when it is swscale-safe, else a copy of it in `staging` (laid out by
// create_sws_bgr, reused between calls). For handing a caller's image to sws_scale as its source.
const cv::Mat& sws_safe_source(const cv::Mat& bgr, cv::Mat& staging);

}  // namespace facefuse::media
