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

}  // namespace facefuse::face
