#include "facefuse/face/fold_free_warp.h"

#include <cstdint>
#include <cstring>
#include <unordered_map>

#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_mask.h"

namespace facefuse::face {

std::vector<TriangleIndices> delaunay_triangles(const std::vector<cv::Point2f>& points) {
  std::vector<TriangleIndices> out;
  if (points.size() < 3) return out;
  const cv::Rect2f bounds = bounding_box(points);
  const cv::Rect outer(cvFloor(bounds.x) - 8, cvFloor(bounds.y) - 8, cvCeil(bounds.width) + 17,
                       cvCeil(bounds.height) + 17);
  cv::Subdiv2D subdiv(outer);
  std::unordered_map<uint64_t, int> index_of;  // exact float coordinates → point index (first wins)
  auto key = [](cv::Point2f p) {
    uint32_t x, y;
    std::memcpy(&x, &p.x, 4);
    std::memcpy(&y, &p.y, 4);
    return (static_cast<uint64_t>(x) << 32) | y;
  };
  for (size_t i = 0; i < points.size(); ++i) {
    if (index_of.emplace(key(points[i]), static_cast<int>(i)).second) subdiv.insert(points[i]);
  }
  std::vector<cv::Vec6f> triangles;
  subdiv.getTriangleList(triangles);
  out.reserve(triangles.size());
  for (const auto& t : triangles) {
    TriangleIndices ids{};
    bool ok = true;
    for (int k = 0; k < 3 && ok; ++k) {
      auto it = index_of.find(key({t[2 * k], t[2 * k + 1]}));
      ok = it != index_of.end();
      if (ok) ids[k] = it->second;
    }
    if (ok) out.push_back(ids);  // else a triangle touching Subdiv2D's virtual outer vertices
  }
  return out;
}

float signed_area2(const std::vector<cv::Point2f>& p, const TriangleIndices& t) {
  return (p[t[1]] - p[t[0]]).cross(p[t[2]] - p[t[0]]);
}

bool is_folded(const std::vector<cv::Point2f>& source, const std::vector<cv::Point2f>& destination,
               const TriangleIndices& t, float source_scale) {
  const float d = signed_area2(destination, t);
  if (d == 0.0f) return false;  // an empty destination triangle shows nothing
  const float s = signed_area2(source, t) * (d > 0.0f ? 1.0f : -1.0f);
  return s < -2.0f * kFoldAreaTolerance * source_scale * source_scale;
}

int count_folded(const std::vector<cv::Point2f>& source, const std::vector<cv::Point2f>& destination,
                 const std::vector<TriangleIndices>& triangles, float source_scale) {
  int n = 0;
  for (const auto& t : triangles) n += is_folded(source, destination, t, source_scale) ? 1 : 0;
  return n;
}

std::vector<TriangleIndices> unfold_destination(const std::vector<cv::Point2f>& source,
                                                std::vector<cv::Point2f>& destination,
                                                const std::vector<cv::Point2f>& rest, float source_scale,
                                                int* moved_out) {
  std::vector<char> moved(destination.size(), 0);
  std::vector<TriangleIndices> triangles = delaunay_triangles(destination);
  for (int round = 0;; ++round) {
    std::vector<char> offending(destination.size(), 0);
    bool any = false;
    for (const auto& t : triangles) {
      if (!is_folded(source, destination, t, source_scale)) continue;
      any = true;
      for (int v : t) offending[v] = 1;
    }
    if (!any) break;
    // Halfway first (keeps as much of the wanted shape as possible), then all the way: at `rest`
    // every triangle has the source's orientation, so this ends after at most one snap per point.
    const float step = round < kUnfoldRounds ? 0.5f : 1.0f;
    bool changed = false;
    for (size_t i = 0; i < destination.size(); ++i) {
      if (!offending[i]) continue;
      const cv::Point2f next = destination[i] + (rest[i] - destination[i]) * step;
      changed = changed || next != destination[i];
      destination[i] = next;
      moved[i] = 1;
    }
    if (!changed) {
      // Every offending vertex already sits at rest while a triangle is still reversed (its other
      // vertices are at rest too only if rest itself folds, which a similarity cannot): snap all.
      for (size_t i = 0; i < destination.size(); ++i) {
        moved[i] = moved[i] || destination[i] != rest[i];
        destination[i] = rest[i];
      }
      triangles = delaunay_triangles(destination);
      break;
    }
    triangles = delaunay_triangles(destination);
  }
  if (moved_out != nullptr) {
    int n = 0;
    for (char m : moved) n += m;
    *moved_out = n;
  }
  return triangles;
}

}  // namespace facefuse::face
