// Piecewise-affine warps that never fold (issue 17): a warp maps each triangle of a destination
// triangulation to the triangle of the same three point indices in the source. When a source
// triangle has the opposite orientation of its destination triangle, that patch of the source is
// pasted mirrored and overlaps its neighbours — the "folded face" of a tilted or turned head. The
// repair moves destination points back toward a rest layout that is a similarity image of the
// source (which cannot fold: a similarity without reflection keeps every orientation) until no
// triangle is reversed.
//
// Coordinates: any common pixel space per argument (source points in source-image pixels,
// destination and rest points in destination pixels). Thread-safety: pure functions.
#pragma once

#include <array>
#include <vector>

#include <opencv2/core.hpp>

namespace facefuse::face {

using TriangleIndices = std::array<int, 3>;

// Delaunay triangles of `points` as index triples into `points` (cv::Subdiv2D). A point equal to
// an earlier one (exact float coordinates) is left out; its index appears in no triangle.
std::vector<TriangleIndices> delaunay_triangles(const std::vector<cv::Point2f>& points);

// Twice the signed area of triangle t in `points` (positive = counter-clockwise in y-down pixels).
float signed_area2(const std::vector<cv::Point2f>& points, const TriangleIndices& t);

// A triangle is folded when its source image is reversed: signed source area, taken with the
// destination triangle's orientation as positive, below −kFoldAreaTolerance × the source's scale²
// (`source_scale`, e.g. the face size in pixels). A sliver (a closed mouth's inner lips, which
// dlib often lets touch or cross by a pixel) is squashed, not folded: invisible, so tolerated.
inline constexpr float kFoldAreaTolerance = 2e-4f;
bool is_folded(const std::vector<cv::Point2f>& source, const std::vector<cv::Point2f>& destination,
               const TriangleIndices& t, float source_scale);
int count_folded(const std::vector<cv::Point2f>& source, const std::vector<cv::Point2f>& destination,
                 const std::vector<TriangleIndices>& triangles, float source_scale);

// Moves `destination` points (same size as `source` and `rest`) toward `rest` until the Delaunay
// triangulation of the destination has no folded triangle: the vertices of folded triangles
// halfway each round, then (after kUnfoldRounds) all the way. `rest` must be a similarity
// (rotation, uniform scale, shift — no reflection) of `source`. Returns the final triangulation;
// `moved_out` (optional) receives how many points moved.
inline constexpr int kUnfoldRounds = 6;
std::vector<TriangleIndices> unfold_destination(const std::vector<cv::Point2f>& source,
                                                std::vector<cv::Point2f>& destination,
                                                const std::vector<cv::Point2f>& rest, float source_scale,
                                                int* moved_out = nullptr);

}  // namespace facefuse::face
