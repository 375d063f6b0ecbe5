// FaceFusion's paste-back of a processed aligned crop into the frame (CONTRACTS.md "Masks and
// paste-back"): the frame → crop affine is inverted, the crop's four corners are mapped into the
// frame and bounded (floor/ceil, clipped to the frame), and only that box is touched: the crop and
// its mask are warped into the box (crop with BORDER_REPLICATE, mask with zero border, both
// bilinear) and out = frame·(1 − m) + crop·m, truncated to uint8 as numpy's astype does. Cost is
// O(face box), never O(frame); pixels outside the box, and inside it where m = 0, stay
// bit-identical.
//
// Thread-safety: pure functions.
#pragma once

#include <opencv2/core.hpp>

namespace facefuse::face {

// The frame box the crop covers: bound of the inverse-mapped crop corners, clipped to `frame_size`
// (may be empty when the face lies outside the frame).
cv::Rect paste_box(const cv::Mat& affine, cv::Size crop_size, cv::Size frame_size);

// Blends `crop` (BGR, uint8 or float 0–255 as FaceFusion's model output, the aligned crop's size) into `frame` (BGR uint8) in place through
// `mask` (CV_32FC1 of the crop's size, clipped to [0, 1] here). `affine` is the 2×3 CV_64F frame →
// crop matrix used to cut the crop. Returns the box that was written.
cv::Rect paste_back(cv::Mat& frame, const cv::Mat& crop, const cv::Mat& mask, const cv::Mat& affine);

}  // namespace facefuse::face
