// The sharpness measure of a face swap (issue 17, "soft at 100 %"): how much fine detail the swapped
// inner face keeps against the target's own at the same scale. Used by the quality benchmark
// (bench/quality_bench.cpp), the realism tests and the soft-result warning of still-image swaps
// (face_swapper.cpp).
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::face {

// The inner face — the convex hull of points 17–67 (brows, eyes, nose, mouth) — as a CV_8UC1 mask
// over `area` (image coordinates of the points; the mask's pixel (0, 0) is area.tl()). The region
// both the sharpness measure below and the swap's sharpness match (classical_swapper.cpp) weigh.
cv::Mat inner_face_mask(const Landmarks68& points, const cv::Rect& area);

// Mean squared 3×3 Laplacian of the grey image inside the inner face — the hull of
// `target_points` 17–67 (brows, eyes, nose, mouth) — in `result` over the same in `target`: < 1 means
// softer than the target. `target` and `result` are the same-sized BGR uint8 images before and
// after the swap; only the face's region (face_region with a 0.15 brow raise and a 0.25 margin) is
// read. 0 when the target's inner face is flat (no energy).
double inner_face_sharpness_ratio(const cv::Mat& target, const cv::Mat& result, const Landmarks68& target_points);

// The face size (face_size, px) at which inner_face_energy compares two different faces: the size
// of the copy a large video face is swapped on (FaceSwapper), so the band compared is the band the
// source replaces there.
inline constexpr float kCommonFaceSize = 192.0f;

// The measure of inner_face_sharpness_ratio for one face on its own, at a common scale: the mean
// squared 3×3 Laplacian of the grey image inside the inner face (hull of points 17–67), with the
// face's region (face_region, 0.15 brow raise, 0.1 margin) resampled so the face is `face_px`
// (area averaging by the whole part of a reduction, bilinear for the rest). Grey levels² per px².
// 0 without a face. `image` BGR uint8.
double inner_face_energy(const cv::Mat& image, const Landmarks68& points, float face_px = kCommonFaceSize);

}  // namespace facefuse::face
