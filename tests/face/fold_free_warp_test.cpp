// Fold-free piecewise-affine warps (face/fold_free_warp.h) and the landmark measures of
// face/face_geometry.h, on synthetic point sets: property tests over random poses and
// perturbations (no photos needed — the guarantee must hold for any input).
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "facefuse/face/face_geometry.h"
#include "facefuse/face/fold_free_warp.h"

namespace facefuse::face {
namespace {

cv::Point2f similarity(cv::Point2f p, float angle, float scale, cv::Point2f shift) {
  const float c = std::cos(angle) * scale, s = std::sin(angle) * scale;
  return {c * p.x - s * p.y + shift.x, s * p.x + c * p.y + shift.y};
}

// Property: whatever the destination (random roll ±60°, scale 0.3–3×, per-point jitter up to 40 %
// of the face size, one side squeezed as by a turned head), after unfold_destination no triangle
// of the returned triangulation is folded, the triangulation covers every distinct point, and a
// destination that was a similarity image of the source is left exactly as it was.
TEST(FoldFreeWarp, NoTriangleFoldsAfterTheRepairOverRandomPoses) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  int folded_before = 0, trials = 300;
  for (int trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE(trial);
    const float size = 100.0f;
    std::vector<cv::Point2f> source;
    for (int i = 0; i < 80; ++i) source.emplace_back(200 + size * unit(rng), 200 + size * 1.2f * unit(rng));
    const float angle = 1.05f * unit(rng), scale = 1.65f + 1.35f * unit(rng);
    const cv::Point2f shift(300 + 50 * unit(rng), 300 + 50 * unit(rng));
    const float jitter = 0.4f * size * scale * std::abs(unit(rng));
    const float squeeze = 0.5f + 0.5f * std::abs(unit(rng));  // one side compressed
    std::vector<cv::Point2f> rest, destination;
    for (const auto& p : source) {
      rest.push_back(similarity(p, angle, scale, shift));
      cv::Point2f q = p;
      if (q.x < 200) q.x = 200 - (200 - q.x) * squeeze;
      destination.push_back(similarity(q, angle, scale, shift) + cv::Point2f(jitter * unit(rng), jitter * unit(rng)));
    }
    folded_before += count_folded(source, destination, delaunay_triangles(destination), size) > 0 ? 1 : 0;
    int moved = 0;
    auto triangles = unfold_destination(source, destination, rest, size, &moved);
    EXPECT_EQ(count_folded(source, destination, triangles, size), 0);
    EXPECT_EQ(triangles, delaunay_triangles(destination));
    EXPECT_GE(triangles.size(), source.size());  // a triangulation of n points has ≥ n − 2 triangles

    std::vector<cv::Point2f> exact = rest;
    auto untouched = unfold_destination(source, exact, rest, size, &moved);
    EXPECT_EQ(count_folded(source, exact, untouched, size), 0);
    EXPECT_EQ(moved, 0);
    EXPECT_EQ(exact, rest);
  }
  // The perturbations really produce folds to repair in most trials.
  EXPECT_GT(folded_before, trials / 2);
}

TEST(FoldFreeWarp, DetectsAReversedTriangleButToleratesASliver) {
  const std::vector<cv::Point2f> destination = {{0, 0}, {100, 0}, {0, 100}};
  const TriangleIndices t{0, 1, 2};
  EXPECT_FALSE(is_folded({{0, 0}, {50, 0}, {0, 50}}, destination, t, 100.0f));
  EXPECT_TRUE(is_folded({{0, 0}, {-50, 0}, {0, 50}}, destination, t, 100.0f));   // mirrored
  EXPECT_FALSE(is_folded({{0, 0}, {50, 0}, {50, 0.05f}}, destination, t, 100.0f));  // crossed by a hair
}

// A 68-point face built by hand: eyes 60 px apart, an eye 30 × `eye_open_px`, a mouth 50 px wide
// opening `mouth_open_px`, brows (flat, 30 px wide) `left_brow_px` / `right_brow_px` over the eyes'
// line.
Landmarks68 drawn_face(float eye_open_px, float mouth_open_px, float roll_rad, float left_brow_px = 18.0f,
                       float right_brow_px = 18.0f) {
  Landmarks68 p(kLandmarkCount68, cv::Point2f(0, 0));
  for (int k = 0; k < 5; ++k) {
    p[17 + k] = {-45.0f + 7.5f * k, -left_brow_px};
    p[22 + k] = {15.0f + 7.5f * k, -right_brow_px};
  }
  for (int i = 0; i <= 16; ++i) p[i] = {-70.0f + 140.0f * i / 16.0f, 40.0f + 40.0f * std::sin(3.14159f * i / 16.0f)};
  auto eye = [&](int first, float cx) {
    p[first] = {cx - 15, 0};
    p[first + 1] = {cx - 5, -eye_open_px / 2};
    p[first + 2] = {cx + 5, -eye_open_px / 2};
    p[first + 3] = {cx + 15, 0};
    p[first + 4] = {cx + 5, eye_open_px / 2};
    p[first + 5] = {cx - 5, eye_open_px / 2};
  };
  eye(36, -30);
  eye(42, 30);
  p[48] = {-25, 60};
  p[54] = {25, 60};
  for (int i = 61; i <= 63; ++i) p[i] = {-10.0f + 10.0f * (i - 61), 60 - mouth_open_px / 2};
  for (int i = 65; i <= 67; ++i) p[i] = {10.0f - 10.0f * (i - 65), 60 + mouth_open_px / 2};
  for (auto& q : p) q = similarity(q, roll_rad, 1.0f, {0, 0});
  return p;
}

TEST(FaceGeometry, MeasuresOpeningsAndRollScaleFree) {
  Landmarks68 a = drawn_face(9.0f, 20.0f, 0.0f);
  EXPECT_NEAR(inter_ocular_distance(a), 60.0f, 1e-3f);
  EXPECT_NEAR(mouth_open_ratio(a), 20.0f / 50.0f, 1e-4f);
  EXPECT_NEAR(eye_open_ratio(a), 9.0f / 30.0f, 1e-4f);
  EXPECT_NEAR(roll_degrees(a), 0.0f, 1e-3f);
  Landmarks68 b = drawn_face(9.0f, 20.0f, 0.5f);
  for (auto& q : b) q = q * 3.0f + cv::Point2f(500, 20);
  EXPECT_NEAR(mouth_open_ratio(b), 0.4f, 1e-4f);
  EXPECT_NEAR(eye_open_ratio(b), 0.3f, 1e-4f);
  EXPECT_NEAR(roll_degrees(b), 0.5f * 180.0f / 3.14159265f, 1e-2f);
  EXPECT_EQ(mouth_open_ratio(Landmarks68{}), 0.0f);
}

TEST(FaceGeometry, MeasuresEachBrowsRaiseOverItsEye) {
  // The image-left brow raised 6 px more than the right one, on a face rolled and scaled.
  Landmarks68 a = drawn_face(9.0f, 20.0f, 0.4f, 24.0f, 18.0f);
  for (auto& q : a) q = q * 2.0f + cv::Point2f(300, 40);
  EXPECT_NEAR(brow_raise_ratio(a, 17), 24.0f / 60.0f, 1e-4f);
  EXPECT_NEAR(brow_raise_ratio(a, 22), 18.0f / 60.0f, 1e-4f);
  // Upside down (the mouth above the eyes in the image): still measured away from the mouth.
  for (auto& q : a) q = cv::Point2f(q.x, -q.y);
  EXPECT_NEAR(brow_raise_ratio(a, 17), 0.4f, 1e-4f);
  EXPECT_EQ(brow_raise_ratio(a, 36), 0.0f);
}

}  // namespace
}  // namespace facefuse::face
