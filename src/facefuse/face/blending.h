// Blending of a warped face into a frame: LAB colour transfer, multi-band (Laplacian pyramid)
// blending, Poisson blending (cv::seamlessClone) and the final masked composite.
//
// Every function works on images of one face region, not whole frames: callers pass views
// (cv::Mat(frame, region)) or region-sized buffers, so the cost is O(face), whatever the frame
// size. All inputs of one call have the same size. Colour images are BGR; masks are CV_32FC1 in
// [0, 1] (1 = foreground).
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"

namespace facefuse::face {

// Shifts the L*a*b* mean and standard deviation of `foreground` inside the mask to those of
// `reference` inside the same mask (Reinhard et al. 2001), per channel. `foreground` and
// `reference` are CV_32FC3 BGR in [0, 1]; `foreground` is modified in place (all its pixels, with
// the statistics of the masked ones) and stays in [0, 1]. Pixels with mask > 0.5 take part in the
// statistics. Each channel's std ratio is clamped to [1 / max_std_ratio, max_std_ratio] so a flat
// or tiny region cannot blow the contrast up. No-op when fewer than 16 pixels are in the mask.
void transfer_color_lab(cv::Mat& foreground, const cv::Mat& reference, const cv::Mat& mask,
                        float max_std_ratio = 2.0f);

// Number of pyramid levels for a face of `face_size_px` pixels in a region of `region_size`:
// the coarsest level still shows the face about 12 pixels wide and the region at least 8 pixels;
// at least 1.
int multiband_levels(float face_size_px, cv::Size region_size);

// Burt–Adelson multi-band blend: Laplacian pyramids of `foreground` and `background` are mixed
// level by level with the Gaussian pyramid of `mask`, then collapsed. CV_32FC3 in, CV_32FC3 out
// (same value range as the inputs). `levels` = number of Laplacian levels (1 = plain alpha blend).
cv::Mat multiband_blend(const cv::Mat& foreground, const cv::Mat& background, const cv::Mat& mask, int levels);

// Poisson blend: cv::seamlessClone (NORMAL_CLONE) of `foreground` into `background` where
// mask > 0.5, with the foreground kept in place (no shift). CV_8UC3 in, CV_8UC3 out. The mask
// is cleared on a one-pixel border (seamlessClone needs a boundary); an empty mask returns a copy
// of the background. kInternal if OpenCV fails.
Result<cv::Mat> poisson_blend(const cv::Mat& foreground, const cv::Mat& background, const cv::Mat& mask);

// frame_region = frame_region·(1 − w) + blended·w, rounded, for pixels with w > 0 only: pixels
// where w == 0 keep their exact values. `frame_region` CV_8UC3 (usually a view into the frame),
// `blended` CV_32FC3 in [0, 1], `weight` CV_32FC1 in [0, 1].
void composite(cv::Mat& frame_region, const cv::Mat& blended, const cv::Mat& weight);

}  // namespace facefuse::face
