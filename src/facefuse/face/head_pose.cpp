#include "facefuse/face/head_pose.h"

#include <algorithm>
#include <cmath>

namespace facefuse::face {
namespace {

// Points that take part in the fit: brows (17–26), nose (27–35) and eyes (36–47). See the header
// for why the jaw and the mouth are left out.
constexpr int kFitFirst = 17;
constexpr int kFitLast = 47;
constexpr int kFitCount = kFitLast - kFitFirst + 1;
constexpr int kGaussNewtonRounds = 8;
constexpr float kRadToDeg = static_cast<float>(180.0 / M_PI);

struct Params {
  double yaw = 0, pitch = 0, roll = 0;  // radians
  double scale = 1, tx = 0, ty = 0;
};

cv::Matx33d rotation(double yaw, double pitch, double roll) {
  const double cy = std::cos(yaw), sy = std::sin(yaw), cp = std::cos(pitch), sp = std::sin(pitch);
  const double cr = std::cos(roll), sr = std::sin(roll);
  const cv::Matx33d rz(cr, -sr, 0, sr, cr, 0, 0, 0, 1);
  const cv::Matx33d ry(cy, 0, sy, 0, 1, 0, -sy, 0, cy);
  const cv::Matx33d rx(1, 0, 0, 0, cp, -sp, 0, sp, cp);
  return rz * ry * rx;
}

// Residuals (2 per fitted point, pixels) of `p` against `points`.
void residuals(const Params& p, const Landmarks68& points, double* out) {
  const cv::Matx33d r = rotation(p.yaw, p.pitch, p.roll);
  const auto& model = generic_face_shape68();
  for (int i = kFitFirst; i <= kFitLast; ++i) {
    const cv::Vec3d m(model[i].x, model[i].y, model[i].z);
    const cv::Vec3d c = r * m;
    const int k = 2 * (i - kFitFirst);
    out[k] = p.scale * c[0] + p.tx - points[i].x;
    out[k + 1] = p.scale * c[1] + p.ty - points[i].y;
  }
}

// Starting point: the least-squares affine camera, its two rows made orthonormal (closed form).
Params initial_guess(const Landmarks68& points) {
  const auto& model = generic_face_shape68();
  cv::Vec3d mm(0, 0, 0);
  cv::Vec2d pm(0, 0);
  for (int i = kFitFirst; i <= kFitLast; ++i) {
    mm += cv::Vec3d(model[i].x, model[i].y, model[i].z);
    pm += cv::Vec2d(points[i].x, points[i].y);
  }
  mm *= 1.0 / kFitCount;
  pm *= 1.0 / kFitCount;
  cv::Matx23d a = cv::Matx23d::zeros();
  cv::Matx33d b = cv::Matx33d::zeros();
  for (int i = kFitFirst; i <= kFitLast; ++i) {
    const cv::Vec3d m = cv::Vec3d(model[i].x, model[i].y, model[i].z) - mm;
    const cv::Vec2d q = cv::Vec2d(points[i].x, points[i].y) - pm;
    a += q * m.t();
    b += m * m.t();
  }
  const cv::Matx23d affine = a * b.inv(cv::DECOMP_SVD);
  cv::Mat w, u, vt;
  cv::SVD::compute(cv::Mat(affine), w, u, vt);
  Params p;
  p.scale = 0.5 * (w.at<double>(0) + w.at<double>(1));
  const cv::Mat rows = u * vt.rowRange(0, 2);  // 2×3, orthonormal rows
  const cv::Vec3d r0(rows.at<double>(0, 0), rows.at<double>(0, 1), rows.at<double>(0, 2));
  const cv::Vec3d r1(rows.at<double>(1, 0), rows.at<double>(1, 1), rows.at<double>(1, 2));
  const cv::Vec3d r2 = r0.cross(r1);
  // R = Rz·Ry·Rx: R20 = −sin(yaw), R21 = cos(yaw)·sin(pitch), R22 = cos(yaw)·cos(pitch),
  // R10 = sin(roll)·cos(yaw), R00 = cos(roll)·cos(yaw).
  p.yaw = std::asin(std::clamp(-r2[0], -1.0, 1.0));
  p.pitch = std::atan2(r2[1], r2[2]);
  p.roll = std::atan2(r1[0], r0[0]);
  const cv::Vec3d c = rotation(p.yaw, p.pitch, p.roll) * mm;
  p.tx = pm[0] - p.scale * c[0];
  p.ty = pm[1] - p.scale * c[1];
  return p;
}

}  // namespace

const std::array<cv::Point3f, kLandmarkCount68>& generic_face_shape68() {
  static const std::array<cv::Point3f, kLandmarkCount68> shape = {{
#include "facefuse/face/generic_face_shape68.inc"
  }};
  return shape;
}

cv::Matx33f rotation_from_angles(float yaw, float pitch, float roll) {
  const double k = M_PI / 180.0;
  return cv::Matx33f(rotation(yaw * k, pitch * k, roll * k));
}

HeadPose fit_head_pose(const Landmarks68& points) {
  HeadPose out;
  if (points.size() != static_cast<size_t>(kLandmarkCount68)) return out;
  Params p = initial_guess(points);
  // Gauss–Newton on (yaw, pitch, roll, scale, tx, ty) with a numeric Jacobian: 62 residuals, 6
  // unknowns, converges in a few rounds from the affine start.
  constexpr int kN = 2 * kFitCount;
  double r[kN], r2[kN];
  for (int round = 0; round < kGaussNewtonRounds; ++round) {
    residuals(p, points, r);
    cv::Mat jac(kN, 6, CV_64F);
    for (int j = 0; j < 6; ++j) {
      Params q = p;
      double* field[6] = {&q.yaw, &q.pitch, &q.roll, &q.scale, &q.tx, &q.ty};
      const double h = j < 3 ? 1e-4 : (j == 3 ? 1e-4 * p.scale : 1e-2);
      *field[j] += h;
      residuals(q, points, r2);
      for (int k = 0; k < kN; ++k) jac.at<double>(k, j) = (r2[k] - r[k]) / h;
    }
    cv::Mat delta;
    if (!cv::solve(jac, -cv::Mat(kN, 1, CV_64F, r), delta, cv::DECOMP_SVD)) break;
    double* field[6] = {&p.yaw, &p.pitch, &p.roll, &p.scale, &p.tx, &p.ty};
    for (int j = 0; j < 6; ++j) *field[j] += delta.at<double>(j);
    if (cv::norm(delta.rowRange(0, 3)) < 1e-6) break;
  }
  residuals(p, points, r);
  double sum = 0;
  for (int k = 0; k < kN; k += 2) sum += r[k] * r[k] + r[k + 1] * r[k + 1];
  out.rotation = cv::Matx33f(rotation(p.yaw, p.pitch, p.roll));
  out.scale = static_cast<float>(p.scale);
  out.shift = {static_cast<float>(p.tx), static_cast<float>(p.ty)};
  out.yaw = static_cast<float>(p.yaw) * kRadToDeg;
  out.pitch = static_cast<float>(p.pitch) * kRadToDeg;
  out.roll = static_cast<float>(p.roll) * kRadToDeg;
  out.residual = p.scale > 0 ? static_cast<float>(std::sqrt(sum / kFitCount) / p.scale) : 0.0f;
  return out;
}

Landmarks68 repose_landmarks(const Landmarks68& points, const HeadPose& from, const HeadPose& to) {
  if (points.size() != static_cast<size_t>(kLandmarkCount68)) return points;
  const auto& model = generic_face_shape68();
  const cv::Matx33f turn = to.rotation * from.rotation.t();
  Landmarks68 out(points.size());
  for (int i = 0; i < kLandmarkCount68; ++i) {
    // Depth of this point under `from` (px, toward the camera), from the generic face.
    const float depth = from.scale * (from.rotation * cv::Vec3f(model[i].x, model[i].y, model[i].z))[2];
    const cv::Vec3f lifted(points[i].x - from.shift.x, points[i].y - from.shift.y, depth);
    const cv::Vec3f turned = turn * lifted;
    out[i] = {turned[0] + from.shift.x, turned[1] + from.shift.y};
  }
  return out;
}

}  // namespace facefuse::face
