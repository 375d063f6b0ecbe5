// Head pose from 68 landmarks and re-posing (face/head_pose.h), on synthetic projections of the
// generic face (where the true pose is known) and on the generic face itself. The swapper's use of
// it on real photos is tested in tests/processors/classical_swapper_test.cpp.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "facefuse/face/face_geometry.h"
#include "facefuse/face/head_pose.h"

namespace facefuse::face {
namespace {

// The generic face seen with the given angles (degrees), `scale` px per model unit, origin at `shift`.
Landmarks68 project(float yaw, float pitch, float roll, float scale, cv::Point2f shift) {
  const cv::Matx33f r = rotation_from_angles(yaw, pitch, roll);
  Landmarks68 out;
  for (const auto& m : generic_face_shape68()) {
    const cv::Vec3f c = r * cv::Vec3f(m.x, m.y, m.z);
    out.emplace_back(scale * c[0] + shift.x, scale * c[1] + shift.y);
  }
  return out;
}

float max_distance(const Landmarks68& a, const Landmarks68& b) {
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, static_cast<float>(cv::norm(a[i] - b[i])));
  return worst;
}

// The derived shape is a face: symmetric about x = 0, unit inter-ocular distance, the nose tip in
// front of the eyes and the jaw's ends behind them (scripts/derive_face_shape).
TEST(HeadPose, GenericFaceIsASymmetricFaceWithTheNoseInFront) {
  const auto& m = generic_face_shape68();
  Landmarks68 front;
  for (const auto& p : m) front.emplace_back(p.x, p.y);
  EXPECT_NEAR(inter_ocular_distance(front), 1.0f, 1e-3f);
  const float eye_z = (m[36].z + m[39].z + m[42].z + m[45].z) / 4;
  EXPECT_GT(m[30].z - eye_z, 0.3f) << "nose tip should stand well in front of the eye corners";
  EXPECT_LT(m[0].z, eye_z);
  EXPECT_LT(m[16].z, eye_z);
  EXPECT_NEAR(m[30].x, 0.0f, 1e-3f);
  EXPECT_NEAR(m[0].x, -m[16].x, 1e-3f);
  EXPECT_NEAR(m[0].z, m[16].z, 1e-3f);
  EXPECT_LT(m[19].y, m[30].y);  // brows above the nose tip, chin below (y down)
  EXPECT_GT(m[8].y, m[57].y);
}

// Property over random poses (yaw ±60°, pitch ±30°, roll ±45°, 20–400 px per IOD) with dlib-like
// noise (2 % of the IOD per coordinate): the fit recovers every angle within 4° (noise-free: 0.1°).
TEST(HeadPose, FitRecoversTheAnglesOfAProjectedGenericFace) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE(trial);
    const float yaw = 60 * unit(rng), pitch = 30 * unit(rng), roll = 45 * unit(rng);
    const float scale = 210 + 190 * unit(rng);
    const bool noisy = trial % 2 == 1;
    Landmarks68 points = project(yaw, pitch, roll, scale, {500 + 100 * unit(rng), 400 + 100 * unit(rng)});
    if (noisy) {
      for (auto& p : points) p += cv::Point2f(noise(rng), noise(rng)) * (0.02f * scale);
    }
    const HeadPose pose = fit_head_pose(points);
    const float tolerance = noisy ? 4.0f : 0.1f;
    EXPECT_NEAR(pose.yaw, yaw, tolerance);
    EXPECT_NEAR(pose.pitch, pitch, tolerance);
    EXPECT_NEAR(pose.roll, roll, tolerance);
    EXPECT_NEAR(pose.scale, scale, (noisy ? 0.05f : 0.001f) * scale);
    if (!noisy) {
      EXPECT_LT(pose.residual, 1e-3f);
    }
  }
}

// Re-posing the generic face from one pose to another gives exactly its projection in the other
// pose (at the first pose's scale and position); the same pose gives the points back.
TEST(HeadPose, ReposingTheGenericFaceGivesItsViewInTheOtherPose) {
  const cv::Point2f shift(320, 240);
  const Landmarks68 frontal = project(0, 0, 0, 100, shift);
  const Landmarks68 turned = project(45, -10, 15, 100, shift);
  const HeadPose from = fit_head_pose(frontal), to = fit_head_pose(turned);
  EXPECT_LT(max_distance(repose_landmarks(frontal, from, to), turned), 0.05f);
  EXPECT_LT(max_distance(repose_landmarks(turned, to, from), frontal), 0.05f);
  EXPECT_LT(max_distance(repose_landmarks(turned, to, to), turned), 1e-3f);
}

// A face that is not the generic one keeps its own proportions: a face with eyes 20 % wider apart,
// turned to 40° and back, is about the same face again. Not exactly: its depths are the generic
// face's, and the widened eyes sit at other depths once turned (measured: 3.1 % of the IOD at most;
// bound 5 %).
TEST(HeadPose, ReposingKeepsTheFacesOwnProportions) {
  Landmarks68 wide = project(0, 0, 0, 100, {300, 300});
  for (int i = 36; i <= 47; ++i) wide[i].x = 300 + (wide[i].x - 300) * 1.2f;
  const HeadPose pose = fit_head_pose(wide);
  HeadPose turned = pose;
  turned.rotation = rotation_from_angles(40, 0, 0) * pose.rotation;
  const Landmarks68 there = repose_landmarks(wide, pose, turned);
  // The eyes' spread is foreshortened by the turn, not lost: the turned face's IOD is about
  // cos(40°) of the original's.
  EXPECT_NEAR(inter_ocular_distance(there) / inter_ocular_distance(wide), std::cos(40 * M_PI / 180), 0.08);
  const Landmarks68 back = repose_landmarks(there, turned, pose);
  EXPECT_LT(max_distance(back, wide), 0.05f * inter_ocular_distance(wide));
}

TEST(HeadPose, WrongPointCountGivesTheIdentityPose) {
  const HeadPose pose = fit_head_pose(Landmarks68(5, cv::Point2f(1, 1)));
  EXPECT_EQ(pose.yaw, 0.0f);
  EXPECT_EQ(pose.scale, 1.0f);
  const Landmarks68 few(5, cv::Point2f(3, 4));
  EXPECT_EQ(repose_landmarks(few, pose, pose), few);
}

}  // namespace
}  // namespace facefuse::face
