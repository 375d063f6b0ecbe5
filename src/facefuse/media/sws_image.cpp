#include "facefuse/media/sws_image.h"

#include <cstdint>

namespace facefuse::media {
namespace {

constexpr size_t kRowAlignBytes = 64;

int padded_cols(int cols) { return (cols + kSwsRowAlignPixels - 1) / kSwsRowAlignPixels * kSwsRowAlignPixels; }

bool has_sws_layout(const cv::Mat& m, int rows, int cols) {
  if (m.type() != CV_8UC3 || m.rows != rows || m.cols != cols || m.dims != 2 || m.data == nullptr) return false;
  const size_t step = m.step[0];
  if (step != static_cast<size_t>(padded_cols(cols)) * 3) return false;
  if (reinterpret_cast<uintptr_t>(m.data) % kRowAlignBytes != 0) return false;
  // One spare row after the last one, inside the same allocation.
  return m.datalimit >= m.data && static_cast<size_t>(m.datalimit - m.data) >= (static_cast<size_t>(rows) + 1) * step;
}

}  // namespace

void create_sws_bgr(cv::Mat& image, int rows, int cols) {
  if (image.u != nullptr && image.u->refcount > 1) image.release();  // never overwrite a caller's copy
  if (has_sws_layout(image, rows, cols)) return;
  // cv::Mat allocations are 64-byte aligned (CV_MALLOC_ALIGN), and so is every row of this
  // buffer, its step being a multiple of 192 bytes.
  cv::Mat buffer(rows + 1, padded_cols(cols), CV_8UC3);
  image = buffer(cv::Rect(0, 0, cols, rows));
}

bool is_sws_safe_bgr(const cv::Mat& image) { return has_sws_layout(image, image.rows, image.cols); }

const cv::Mat& sws_safe_source(const cv::Mat& bgr, cv::Mat& staging) {
  if (is_sws_safe_bgr(bgr)) return bgr;
  create_sws_bgr(staging, bgr.rows, bgr.cols);
  bgr.copyTo(staging);
  return staging;
}

}  // namespace facefuse::media
