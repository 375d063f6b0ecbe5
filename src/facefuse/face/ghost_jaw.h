// The "ghost jaw" measure of a face swap (issue 17): a second jaw line in the result — an edge
// running along the target's jaw, just inside it, that the target itself does not have (the source's
// jaw edge or the shadow under its jaw warped inside the target's jaw, or the target's jaw left
// beside a new one). Used by the quality benchmark (bench/quality_bench.cpp) and the realism tests;
// not by the swap itself.
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::face {

// Fraction of the target's jaw (the polyline through points 1–15, one sample per pixel) along which
// `result` has a second jaw line, in [0, 1]: 0 = none, 1 = all along the jaw. `target` and `result`
// are the same-sized BGR uint8 images before and after the swap; `target_points` the target face's
// 68 points (its inter-ocular distance, IOD, is the unit below).
//
// With n the jaw's unit normal pointing into the face and I the grey image smoothed with
// σ = 0.015 IOD, e(I, q) = |∇I(q) · n| is the strength of an edge parallel to the jaw at q. A sample
// p is doubled when, somewhere 0.06–0.35 IOD inside the jaw, the result's e exceeds the target's
// strongest e within ±0.03 IOD of the same place (an edge moved by a pixel is no new edge) by at
// least half the jaw contour's own strength (the target's e within ±0.03 IOD of p, at least the
// face's mean gradient).
float ghost_jaw_fraction(const cv::Mat& target, const cv::Mat& result, const Landmarks68& target_points);

}  // namespace facefuse::face
