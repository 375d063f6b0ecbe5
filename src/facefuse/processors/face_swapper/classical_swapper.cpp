#include "facefuse/processors/face_swapper/classical_swapper.h"

#include <chrono>

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/blending.h"
#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/fold_free_warp.h"
#include "facefuse/face/forehead_strands.h"
#include "facefuse/face/glasses.h"
#include "facefuse/face/head_pose.h"
#include "facefuse/face/inner_face_sharpness.h"

namespace facefuse::processors {
namespace {

using face::Landmarks68;

// Geometry constants, all relative to the face's own size (face::face_size) or its outline.
constexpr float kMinFaceSize = 8.0f;      // px; below this there is nothing to swap
constexpr float kRegionMargin = 0.25f;    // target region = mask outline's box + this × face size
constexpr float kSourceMargin = 0.6f;     // source region read around the source outline
constexpr float kRingRaise = 0.5f;        // brows of the warp's boundary ring raised by this × chin-to-brow
constexpr float kRingScale = 1.35f;       // ring = outline scaled by this about the landmarks' centroid
constexpr float kMaxSourceOversample = 1.5f;  // source face at most this × the target's size before warping
constexpr float kValidFeather = 0.04f;    // feather of the mask where the source image ends
constexpr float kLightingSigma = 0.12f;   // scale of the lighting match, × face size
constexpr float kAnalysisFaceSize = 64.0f;  // px: skin analysis runs with the face at most this size
constexpr float kForeheadStart = 0.02f;   // skin-gated forehead band starts this × chin-to-brow above the brows
constexpr float kForeheadGateBlur = 0.03f;  // sigma of the forehead gate, × face size
constexpr float kOpenMouthRatio = 0.05f;    // target mouth-open ratio above which its inner mouth is kept
constexpr float kOpenSourceMouthRatio = 0.10f;  // source mouth-open ratio above which the target's whole mouth is kept
constexpr float kInnerMouthFeather = 0.008f;  // sigma of the kept inner mouth's edge, × face size
constexpr float kBlinkRatioStart = 0.55f;  // target eye open less than this × the source's: its own eye fades in
constexpr float kBlinkRatioFull = 0.4f;    // ... and replaces the source's entirely below this
constexpr float kClosedEyeStart = 0.15f;   // ... and its eye-open ratio under this (a nearly closed eye)
constexpr float kClosedEyeFull = 0.10f;
constexpr float kBlinkGrow = 1.15f;        // the pasted eye: the eye's outline grown about its centre
constexpr float kBlinkReach = 0.2f;        // ... and reaching this × the eye's width above and below its lids
constexpr float kBlinkFeather = 0.12f;     // sigma of its edge, × the eye's width
constexpr float kMaxUnturnDegrees = 20.0f;  // the re-pose turns a source at most this far toward the camera
constexpr float kMaxPitchTurnDegrees = 30.0f;   // ... and tips it up or down at most this far
constexpr float kDetailMinUpsample = 1.5f;      // source face upsampled more than this: add the target's fine detail
constexpr float kDetailSigmaPerUpsample = 0.5f;  // px of blur per unit of upsampling: the band the source lacks
// Sharpening matched to the target's sharpness (match_target_sharpness).
// Inner-face Laplacian energy aimed at, × the target's (the bound is 0.8). 0.85 until session 19: a
// 41 px glasses target reached it on what the match expects the blend to show, and the blended
// result measured 0.78×.
constexpr double kSharpenGoal = 0.9;
constexpr double kSharpenSigma = 1.0;     // px: blur of the unsharp mask (the finest band: what a 3×3 Laplacian sees)
constexpr float kSharpenCoring = 2.0f;    // grey levels: detail weaker than this is noise or quantisation, left alone
constexpr double kSharpenMaxGain = 3.0;   // at most this × the source's own (cored) detail is added
constexpr float kSharpenMinIod = 20.0f;   // px: target faces with a smaller inter-ocular distance are not sharpened,
constexpr float kSharpenFullIod = 30.0f;  // ... from this one the gain may reach kSharpenMaxGain (linear between)
constexpr float kSharpenMouthGrow = 1.5f;  // the mouth is left as it is: outer lips grown this × about their centre
constexpr float kSharpenFeather = 0.02f;   // sigma of the sharpened zone's edge, × face size
// BGR → grey weights of cv::COLOR_BGR2GRAY, for cv::transform on float images: the sharpness
// match measures the grey image's Laplacian, and the grey of a sum is the sum of the greys.
const cv::Matx13f kBgrToGray(0.114f, 0.587f, 0.299f);
constexpr double kSoftenAbove = 1.3;       // a face sharper than this × the target's is softened ...
constexpr double kSoftenGoal = 1.1;        // ... to this × the target's inner-face Laplacian energy
// px: the blurs tried in turn for softening, each mixed in by a solved weight; the first that can
// reach the goal is used (the last, at full weight, when none can).
constexpr std::array<double, 6> kSoftenSigmas = {0.6, 0.9, 1.3, 1.8, 2.5, 3.5};

// 68-point left/right permutation: index i of the mirrored face is index kMirror68[i] of the original.
constexpr std::array<int, 68> kMirror68 = {
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,  // jaw
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,                    // brows
    27, 28, 29, 30,                                            // nose bridge
    35, 34, 33, 32, 31,                                        // nostrils
    45, 44, 43, 42, 47, 46,                                    // eye on the image's left ← right eye
    39, 38, 37, 36, 41, 40,                                    // eye on the image's right ← left eye
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,            // outer lips
    64, 63, 62, 61, 60, 67, 66, 65,                            // inner lips
};

// p' = [a −b; b a]·p + t: rotation, uniform scale and shift.
struct Similarity {
  float a = 1, b = 0, tx = 0, ty = 0;
  cv::Point2f operator()(cv::Point2f p) const { return {a * p.x - b * p.y + tx, b * p.x + a * p.y + ty}; }
  Similarity inverse() const {
    float d = a * a + b * b;
    float ia = a / d, ib = -b / d;
    return {ia, ib, -(ia * tx - ib * ty), -(ib * tx + ia * ty)};
  }
};

// Weighted least-squares similarity from `src` to `dst` (closed form, Umeyama without reflection).
Similarity fit_similarity(const std::vector<cv::Point2f>& src, const std::vector<cv::Point2f>& dst,
                          const std::vector<float>& weight) {
  double sw = 0;
  cv::Point2d ms(0, 0), md(0, 0);
  for (size_t i = 0; i < src.size(); ++i) {
    sw += weight[i];
    ms += cv::Point2d(src[i]) * weight[i];
    md += cv::Point2d(dst[i]) * weight[i];
  }
  ms /= sw;
  md /= sw;
  double num_a = 0, num_b = 0, den = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    cv::Point2d s = cv::Point2d(src[i]) - ms, d = cv::Point2d(dst[i]) - md;
    num_a += weight[i] * (s.x * d.x + s.y * d.y);
    num_b += weight[i] * (s.x * d.y - s.y * d.x);
    den += weight[i] * (s.x * s.x + s.y * s.y);
  }
  Similarity m;
  if (den <= 1e-9) return m;
  m.a = static_cast<float>(num_a / den);
  m.b = static_cast<float>(num_b / den);
  m.tx = static_cast<float>(md.x - (m.a * ms.x - m.b * ms.y));
  m.ty = static_cast<float>(md.y - (m.b * ms.x + m.a * ms.y));
  return m;
}

// The inner face that carries identity: brows, nose, eyes (weight 1) and the outer lips (0.5,
// they move with expression). The inner lips and the jaw are left out.
Similarity fit_inner_face(const Landmarks68& src, const Landmarks68& dst) {
  std::vector<cv::Point2f> s, d;
  std::vector<float> w;
  for (int i = 17; i <= 59; ++i) {
    s.push_back(src[i]);
    d.push_back(dst[i]);
    w.push_back(i >= 48 ? 0.5f : 1.0f);
  }
  return fit_similarity(s, d, w);
}

cv::Point2f centroid(const std::vector<cv::Point2f>& points) {
  cv::Point2f c(0, 0);
  for (const auto& p : points) c += p;
  return c / static_cast<float>(points.size());
}

// Outline scaled about the landmarks' centroid: the boundary ring of the warp.
std::vector<cv::Point2f> boundary_ring(const Landmarks68& points) {
  auto outline = face::swap_mask_outline(points, kRingRaise);
  cv::Point2f c = centroid(points);
  for (auto& p : outline) p = c + (p - c) * kRingScale;
  return outline;
}

// The similarity taking a → a2 and b → b2 exactly.
Similarity similarity_from_two(cv::Point2f a, cv::Point2f b, cv::Point2f a2, cv::Point2f b2) {
  return fit_similarity({a, b}, {a2, b2}, {1.0f, 1.0f});
}

// The target's expression drawn into the destination layout: each eye's lids (37, 38, 40, 41 /
// 43, 44, 46, 47) take the target's shape, carried by the similarity that takes the target's eye
// corners onto the destination's (where the eyes sit and how wide they are stay the source's:
// identity; how open they are is the target's). The mouth (48–67) is placed exactly on the
// target's: keeping the source's mouth corners and drawing the target's lip shape between them
// was measured worse on every count (bench/quality_bench.cpp, 12 pairs: pose error 0.082 vs 0.067
// IOD, mouth-open error 0.064 vs 0.042, identity margin 0.258 vs 0.247 — the same win rate) and
// looks wrong: a wide smile's corners around a pursed mouth. Returns the target → destination
// similarity of the mouth (the identity today; kept so the inner mouth follows any placement).
Similarity apply_target_expression(Landmarks68& dst, const Landmarks68& target) {
  auto carry = [&](int corner_a, int corner_b, std::initializer_list<int> points) {
    const Similarity m = similarity_from_two(target[corner_a], target[corner_b], dst[corner_a], dst[corner_b]);
    for (int i : points) dst[i] = m(target[i]);
    return m;
  };
  carry(36, 39, {37, 38, 40, 41});
  carry(42, 45, {43, 44, 46, 47});
  for (int i = 48; i <= 67; ++i) dst[i] = target[i];
  return {};  // the mouth is the target's own: identity
}

// The target's own pixels moved by `target_to_dst` into `polygon` (destination, region coordinates)
// of the foreground `fg8` (the region's `work` part), with an edge feathered by `sigma` px and at
// most `strength` (0–1). Used for the target's inner mouth (teeth, tongue, the dark opening: a
// swapped face whose lips open like the target's must show what is behind them, and the source has
// nothing there) and for a blinking target's closed eyes.
void paste_target_polygon(cv::Mat& fg8, const cv::Rect& work, const cv::Mat& target_region,
                          const std::vector<cv::Point2f>& polygon, const Similarity& target_to_dst, float sigma,
                          float strength) {
  const int pad = static_cast<int>(std::ceil(3.0f * sigma)) + 1;
  cv::Rect box = cv::boundingRect(polygon);
  box = cv::Rect(box.x - pad, box.y - pad, box.width + 2 * pad, box.height + 2 * pad) & work;
  if (box.width < 2 || box.height < 2 || strength <= 0.0f) return;
  cv::Mat alpha;
  face::polygon_mask(polygon, box).convertTo(alpha, CV_32F, strength / 255.0);
  if (sigma > 0.3f) cv::GaussianBlur(alpha, alpha, cv::Size(0, 0), sigma, sigma, cv::BORDER_CONSTANT);
  // Target pixels: the destination pixel p (region coordinates) shows target pixel target_to_dst⁻¹(p).
  const Similarity& m = target_to_dst;
  const cv::Matx23f forward(m.a, -m.b, m.tx - static_cast<float>(box.x), m.b, m.a, m.ty - static_cast<float>(box.y));
  cv::Mat inner;
  cv::warpAffine(target_region, inner, forward, box.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  cv::Mat fg = fg8(cv::Rect(box.tl() - work.tl(), box.size()));
  for (int y = 0; y < box.height; ++y) {
    auto* f = fg.ptr<cv::Vec3b>(y);
    const auto* t = inner.ptr<cv::Vec3b>(y);
    const float* a = alpha.ptr<float>(y);
    for (int x = 0; x < box.width; ++x) {
      if (a[x] <= 0.0f) continue;
      for (int c = 0; c < 3; ++c) f[x][c] = cv::saturate_cast<uchar>(f[x][c] + (t[x][c] - f[x][c]) * a[x]);
    }
  }
}

// A blinking target: how much of its own eye (lids, lashes) replaces the source's (one eye). The
// target's eye must be nearly closed (eye-open ratio under kClosedEyeStart, fully from
// kClosedEyeFull: a smile's squint, 0.17–0.18 on the test photos, is not a blink) and much less open
// than the source's (under kBlinkRatioStart of it, fully from kBlinkRatioFull). An open source eye
// squeezed between closing lids still shows its iris, and re-detection reads it as open (talking
// head: the result's eyes stayed at 0.89× their median where the target blinked).
float blink_strength(float target_ratio, float source_ratio) {
  if (source_ratio <= 0.0f) return 0.0f;
  auto ramp = [](float v, float start, float full) { return std::clamp((start - v) / (start - full), 0.0f, 1.0f); };
  return std::min(ramp(target_ratio / source_ratio, kBlinkRatioStart, kBlinkRatioFull),
                  ramp(target_ratio, kClosedEyeStart, kClosedEyeFull));
}

bool valid_options(const ClassicalSwapOptions& o) {
  auto in01 = [](float v) { return v >= 0.0f && v <= 1.0f; };  // false for NaN
  return in01(o.blend) && in01(o.morph) && in01(o.face_mask_blur);
}

// Source image prepared for warping: the face's surroundings, downscaled when the source face is
// much larger than the target's (so bilinear sampling does not alias), mirrored when needed.
struct WorkingSource {
  cv::Mat image;         // BGR uint8
  Landmarks68 points;    // in `image` pixels
};

WorkingSource prepare_source(const SwapSourceFace& source, float target_size, bool mirror,
                             face::Face* prepared_face = nullptr) {
  const Landmarks68& s = source.face.landmarks68;
  float source_size = face::face_size(s);
  cv::Rect crop = face::face_region(s, kRingRaise, kSourceMargin, source.image.size());
  WorkingSource w;
  w.image = source.image(crop);
  w.points.resize(s.size());
  float scale = 1.0f;
  if (source_size > kMaxSourceOversample * target_size) scale = kMaxSourceOversample * target_size / source_size;
  if (scale < 1.0f) {
    cv::Size size(std::max(1, cvRound(crop.width * scale)), std::max(1, cvRound(crop.height * scale)));
    cv::resize(w.image, w.image, size, 0, 0, cv::INTER_AREA);
  }
  const float sx = static_cast<float>(w.image.cols) / crop.width, sy = static_cast<float>(w.image.rows) / crop.height;
  // Pixel centres: x_work + 0.5 = (x_src − crop.x + 0.5)·scale.
  auto to_work = [&](cv::Point2f p) {
    return cv::Point2f((p.x - crop.x + 0.5f) * sx - 0.5f, (p.y - crop.y + 0.5f) * sy - 0.5f);
  };
  for (size_t i = 0; i < s.size(); ++i) w.points[i] = to_work(s[i]);
  // A fringe's strands are painted over with the forehead's skin (face/forehead_strands.h): the
  // forehead gate below cannot see them on its reduced copy, and they were pasted onto the target's
  // forehead. A new image when there are any (w.image may be a view of the caller's photo).
  if (!source.strands_removed) w.image = face::without_forehead_strands(w.image, w.points);
  if (mirror) {
    cv::Mat flipped;
    cv::flip(w.image, flipped, 1);
    w.image = flipped;
    w.points = mirror_landmarks68(w.points, w.image.cols);
  }
  if (prepared_face != nullptr) {
    *prepared_face = source.face;
    prepared_face->landmarks68 = w.points;
    prepared_face->landmarks5 = face::landmarks5_from_68(w.points);
    prepared_face->detector_landmarks5.reset();
    cv::Point2f tl = to_work(source.face.box.tl()), br = to_work(source.face.box.br());
    if (mirror) {
      const float right = static_cast<float>(w.image.cols - 1), left_edge = right - br.x;
      br.x = right - tl.x;
      tl.x = left_edge;
    }
    prepared_face->box = cv::Rect2f(tl, br);
  }
  return w;
}

// Piecewise-affine sampling map from the target region to the working source image: for every
// region pixel, the source position to sample (CV_32FC1 map_x, map_y), plus which pixels fall
// inside the source image (CV_8UC1, 255 = inside).
struct WarpMap {
  cv::Mat map_x, map_y, inside;
};

WarpMap build_warp_map(const std::vector<cv::Point2f>& src_points, const std::vector<cv::Point2f>& dst_points,
                       const std::vector<face::TriangleIndices>& triangles, const Similarity& fallback_dst_to_src,
                       cv::Size region_size, cv::Size source_size) {
  // Each destination pixel lies in one triangle of the destination triangulation (fold-free, see
  // face/fold_free_warp.h); its affine map samples the source.
  cv::Mat label(region_size, CV_32SC1, cv::Scalar(-1));
  std::vector<cv::Matx23f> affines;  // destination (region) → source (working image)
  for (const auto& ids : triangles) {
    cv::Point2f d[3] = {dst_points[ids[0]], dst_points[ids[1]], dst_points[ids[2]]};
    cv::Point2f s[3] = {src_points[ids[0]], src_points[ids[1]], src_points[ids[2]]};
    float area2 = (d[1] - d[0]).cross(d[2] - d[0]);
    if (std::abs(area2) < 1e-2f) continue;
    cv::Mat a = cv::getAffineTransform(d, s);
    affines.emplace_back(cv::Matx23f(a));
    cv::Point poly[3];
    for (int k = 0; k < 3; ++k) poly[k] = cv::Point(cvRound(d[k].x * 16), cvRound(d[k].y * 16));
    cv::fillConvexPoly(label, poly, 3, cv::Scalar(static_cast<int>(affines.size()) - 1), cv::LINE_8, 4);
  }
  const Similarity& f = fallback_dst_to_src;
  cv::Matx23f fallback(f.a, -f.b, f.tx, f.b, f.a, f.ty);

  WarpMap m;
  m.map_x.create(region_size, CV_32FC1);
  m.map_y.create(region_size, CV_32FC1);
  m.inside.create(region_size, CV_8UC1);
  const float max_x = static_cast<float>(source_size.width - 1), max_y = static_cast<float>(source_size.height - 1);
  for (int y = 0; y < region_size.height; ++y) {
    const int* l = label.ptr<int>(y);
    float* mx = m.map_x.ptr<float>(y);
    float* my = m.map_y.ptr<float>(y);
    uchar* in = m.inside.ptr<uchar>(y);
    for (int x = 0; x < region_size.width; ++x) {
      const cv::Matx23f& a = l[x] >= 0 ? affines[l[x]] : fallback;
      float sx = a(0, 0) * x + a(0, 1) * y + a(0, 2);
      float sy = a(1, 0) * x + a(1, 1) * y + a(1, 2);
      mx[x] = sx;
      my[x] = sy;
      in[x] = (sx >= 0.0f && sy >= 0.0f && sx <= max_x && sy <= max_y) ? 255 : 0;
    }
  }
  return m;
}

// The target's pose as the re-pose may turn the source to it (face/head_pose.h): the re-pose has
// no pixels for what turning a source far reveals, so
// - its yaw is limited so that the source is turned toward the camera by at most
//   kMaxUnturnDegrees: a turned source's hidden cheek is stretched out of the few pixels of the
//   silhouette (and dlib's points on that side are the silhouette's, not the face's). Turning it
//   further away is not limited (hiding needs no pixels). Strongly turned source (fitted yaw −32°)
//   onto a frontal target: pose error 0.092 → 0.070 IOD (bench-quality); the other pairs within
//   ±0.005;
// - its pitch differs from the source's by at most kMaxPitchTurnDegrees either way: a face seen
//   from above (jesper.jpg, fitted pitch −36°) tipped 50° up onto one seen from below
//   (new_wave_2.jpg, +15°) had its brows and upper lids stretched over the forehead into a blurred
//   smear (bench pair 34, decision 0006).
face::HeadPose limit_repose(const face::HeadPose& from, face::HeadPose to) {
  const float pitch = std::clamp(to.pitch, from.pitch - kMaxPitchTurnDegrees, from.pitch + kMaxPitchTurnDegrees);
  // How far |yaw| comes down toward 0 on the source's side: all of it when the target looks the
  // other way.
  const bool same_side = std::signbit(to.yaw) == std::signbit(from.yaw);
  const float revealed = same_side ? std::abs(from.yaw) - std::abs(to.yaw) : std::abs(from.yaw);
  const float yaw = revealed <= kMaxUnturnDegrees ? to.yaw
                    : from.yaw > 0.0f             ? from.yaw - kMaxUnturnDegrees
                                                  : from.yaw + kMaxUnturnDegrees;
  if (yaw == to.yaw && pitch == to.pitch) return to;
  to.rotation = face::rotation_from_angles(yaw, pitch, to.roll);
  to.yaw = yaw;
  to.pitch = pitch;
  return to;
}

// The part of the foreground whose sharpness is matched to the target's: the source's outline
// without the mouth (outer lips grown kSharpenMouthGrow×: the target's own lip positions and the
// pasted inner mouth, left as they are), feathered; CV_32FC1 over `work`.
cv::Mat sharpness_match_zone(const cv::Mat& hard, const cv::Rect& work, const Landmarks68& dst, float target_size) {
  std::vector<cv::Point2f> mouth(dst.begin() + 48, dst.begin() + 60);
  cv::Point2f centre(0, 0);
  for (const auto& q : mouth) centre += q * (1.0f / static_cast<float>(mouth.size()));
  for (auto& q : mouth) q = centre + (q - centre) * kSharpenMouthGrow;
  cv::Mat zone = hard.clone(), where;
  zone.setTo(0, face::polygon_mask(mouth, work));
  zone.convertTo(where, CV_32F, 1.0 / 255.0);
  const double sigma = kSharpenFeather * target_size;
  if (sigma > 0.3) cv::GaussianBlur(where, where, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
  return where;
}

// The weight t (0–1) with which `change` (grey levels per channel over `work`) brings the inner
// face's Laplacian energy of what the blend shows from e0 to `goal`: with t the energy is
// mean (L(shown) + t·L(mask·grey(change)))² = e0 + 2·t·e1 + t²·e2, solved in closed form. `root`
// +1 takes the larger root (adding detail), −1 the smaller (taking it away). Negative when no t
// reaches the goal (e2 = 0, or no real root).
double energy_matching_weight(const cv::Mat& change, const cv::Mat& mask, const cv::Mat& l_shown,
                              const cv::Mat& inner_mask, double e0, double goal, int root) {
  cv::Mat change_gray, l_change;
  cv::transform(change, change_gray, kBgrToGray);
  cv::Laplacian(mask.mul(change_gray), l_change, CV_32F, 3);
  const double e1 = cv::mean(l_shown.mul(l_change), inner_mask)[0];
  const double e2 = cv::mean(l_change.mul(l_change), inner_mask)[0];
  const double disc = e1 * e1 - e2 * (e0 - goal);
  if (e2 <= 0.0 || disc < 0.0) return -1.0;
  return (-e1 + root * std::sqrt(disc)) / e2;
}

// fg8 += weight · change, per channel.
void add_weighted(cv::Mat& fg8, const cv::Mat& change, float weight) {
  for (int y = 0; y < fg8.rows; ++y) {
    auto* f8 = fg8.ptr<cv::Vec3b>(y);
    const auto* d = change.ptr<cv::Vec3f>(y);
    for (int x = 0; x < fg8.cols; ++x) {
      for (int c = 0; c < 3; ++c) f8[x][c] = cv::saturate_cast<uchar>(f8[x][c] + weight * d[x][c]);
    }
  }
}

// The swapped face's sharpness matched to the target's, both ways (issue 17, "soft at 100 %"; a
// face pasted sharper than the photo around it gives itself away as much as a blurred one). The
// measure is the mean squared 3×3 Laplacian of the grey image over the inner face (hull of the
// target's points 17–67, the region of face/inner_face_sharpness.h), of what the blend will show
// (target + mask·(foreground − target)) against the target's own; the zone changed is
// sharpness_match_zone (the mouth is left alone in both directions: sharpening or softening the
// lips moved dlib's re-detected mouth by up to 0.02–0.04, decision 0006).
//
// Softer than kSharpenGoal × the target: the foreground gets a·(its own detail finer than
// kSharpenSigma px, per channel), a solved in closed form so the energy reaches kSharpenGoal; no
// gain when the face is already that sharp. What keeps it from giving the re-detected face away
// (decision 0006: an uncored, ungated version moved dlib's mouth and pose points on small faces):
// - only detail the source has: a pixel's detail d (its three channels, grey levels) is cored by
//   m/(m + kSharpenCoring²), m = mean of d² over the channels, so noise, quantisation and a
//   blurred source's flat areas are not amplified into grain;
// - the mouth is left alone (with only the lips themselves left out, the bench's pose worst went
//   0.075 → 0.104 IOD);
// - target faces under kSharpenMinIod px between the eyes are not sharpened (untried: the bench's
//   smallest target is 30 px) and the gain ramps up to kSharpenFullIod. Until session 19 the ramp
//   ran from 40 to 60 px. Sharpening the smaller faces moves dlib's re-detected mouth on a laughing
//   30 px face (0.059 → 0.073 in the plain run) and the ghost measure on a 44 px one (0.21 → 0.33:
//   the dark strands of a tilted, blurred source, crisper); over probe seeds 1–3 the bench's worst
//   pose error did not move (0.085 / 0.106 / 0.082 → 0.081 / 0.086 / 0.082) and its worst
//   open-mouth error moved within the re-detection noise (0.071 / 0.070 / 0.078 → 0.081 / 0.071 /
//   0.078), for three of the six pairs under 0.8× brought over it (decision 0006);
// - the gain is at most kSharpenMaxGain (at 5× a motion-blurred source's streaks, a halo along its
//   nose and a turned source's warp tear stand out at 100 %, for 0.32 → 0.51× on the worst pair).
// Sharper than kSoftenAbove × the target (a sharp source on a soft, small or defocused target
// face: 11 of the bench's 34 pairs, up to 9.6×): the foreground is mixed toward a Gaussian blur of
// itself, the first of kSoftenSigmas whose solved weight reaches kSoftenGoal.
// `fg8` (CV_8UC3) is changed in place; `bg8` is the target under it, `mask` (CV_32FC1) the blend's
// mask and `hard` (CV_8UC1) the source's outline, all over `work` (region coordinates, as `dst`
// and `target`).
void match_target_sharpness(cv::Mat& fg8, const cv::Mat& bg8, const cv::Mat& mask, const cv::Mat& hard,
                            const cv::Rect& work, const Landmarks68& dst, const Landmarks68& target,
                            float target_size) {
  const cv::Mat inner_mask = face::inner_face_mask(target, work);
  if (cv::countNonZero(inner_mask) == 0) return;

  // How sharp the blend's grey image is as it stands, against the target's.
  cv::Mat fg, fg_gray, bg_gray;
  fg8.convertTo(fg, CV_32FC3);
  cv::transform(fg, fg_gray, kBgrToGray);
  {
    cv::Mat bg;
    bg8.convertTo(bg, CV_32FC3);
    cv::transform(bg, bg_gray, kBgrToGray);
  }
  const cv::Mat shown = bg_gray + mask.mul(fg_gray - bg_gray);
  cv::Mat l_shown, l_target;
  cv::Laplacian(shown, l_shown, CV_32F, 3);
  cv::Laplacian(bg_gray, l_target, CV_32F, 3);
  const double e0 = cv::mean(l_shown.mul(l_shown), inner_mask)[0];
  const double e_target = cv::mean(l_target.mul(l_target), inner_mask)[0];

  if (e0 > kSoftenAbove * e_target) {
    const cv::Mat where = sharpness_match_zone(hard, work, dst, target_size);
    cv::Mat change;
    double weight = 1.0;
    for (double sigma : kSoftenSigmas) {
      cv::GaussianBlur(fg, change, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
      change -= fg;
      for (int y = 0; y < change.rows; ++y) {
        auto* d = change.ptr<cv::Vec3f>(y);
        const float* w = where.ptr<float>(y);
        for (int x = 0; x < change.cols; ++x) d[x] *= w[x];
      }
      const double t = energy_matching_weight(change, mask, l_shown, inner_mask, e0, kSoftenGoal * e_target, -1);
      if (t >= 0.0 && t <= 1.0) {
        weight = t;
        break;
      }
    }
    add_weighted(fg8, change, static_cast<float>(weight));
    return;
  }

  const float iod = face::inter_ocular_distance(target);
  const double cap =
      kSharpenMaxGain * std::clamp((iod - kSharpenMinIod) / (kSharpenFullIod - kSharpenMinIod), 0.0f, 1.0f);
  const double goal = kSharpenGoal * e_target;
  if (cap <= 0.0 || e0 >= goal) return;
  const cv::Mat where = sharpness_match_zone(hard, work, dst, target_size);
  // The cored detail (grey levels per channel), already weighted by `where`.
  cv::Mat detail;
  cv::GaussianBlur(fg, detail, cv::Size(0, 0), kSharpenSigma, kSharpenSigma, cv::BORDER_REPLICATE);
  detail = fg - detail;
  const float core2 = kSharpenCoring * kSharpenCoring;
  for (int y = 0; y < detail.rows; ++y) {
    auto* d = detail.ptr<cv::Vec3f>(y);
    const float* w = where.ptr<float>(y);
    for (int x = 0; x < detail.cols; ++x) {
      const float m = d[x].dot(d[x]) / 3.0f;
      d[x] *= w[x] * m / (m + core2);
    }
  }
  const double a = energy_matching_weight(detail, mask, l_shown, inner_mask, e0, goal, +1);
  if (a > 0.0) add_weighted(fg8, detail, static_cast<float>(std::min(cap, a)));
}

}  // namespace

float estimate_yaw(const face::Landmarks68& p) {
  if (p.size() != static_cast<size_t>(face::kLandmarkCount68)) return 0.0f;
  cv::Point2f axis = p[16] - p[0];
  float len2 = axis.dot(axis);
  if (len2 < 1e-6f) return 0.0f;
  float t = (p[30] - p[0]).dot(axis) / len2;
  return std::clamp(2.0f * t - 1.0f, -1.0f, 1.0f);
}

face::Landmarks68 mirror_landmarks68(const face::Landmarks68& points, int image_width) {
  face::Landmarks68 out(points.size());
  if (points.size() != kMirror68.size()) return out;
  for (size_t i = 0; i < kMirror68.size(); ++i) {
    const cv::Point2f& p = points[kMirror68[i]];
    out[i] = {static_cast<float>(image_width - 1) - p.x, p.y};
  }
  return out;
}

SwapSourceFace prepared_source(const SwapSourceFace& source, float max_target_size, bool mirrored) {
  if (source.image.empty() || !source.face.has_landmarks68()) return source;
  SwapSourceFace prepared;
  WorkingSource w = prepare_source(source, max_target_size, mirrored, &prepared.face);
  prepared.image = w.image.clone();  // its own compact copy: the whole source photo is not kept
  prepared.strands_removed = true;
  return prepared;
}

namespace {

bool should_mirror(float source_yaw, float target_yaw) {
  return source_yaw * target_yaw < 0.0f && std::abs(source_yaw) > kMirrorYawThreshold &&
         std::abs(target_yaw) > kMirrorYawThreshold;
}

}  // namespace

bool should_mirror_source(const face::Landmarks68& source, const face::Landmarks68& target) {
  return should_mirror(estimate_yaw(source), estimate_yaw(target));
}

bool should_mirror_source(const face::Landmarks68& source, const face::Face& target) {
  return should_mirror(estimate_yaw(source), target.track_yaw ? *target.track_yaw : estimate_yaw(target.landmarks68));
}

Status classical_swap(cv::Mat& frame, const face::Face& target_face, const SwapSourceFace& source,
                      const ClassicalSwapOptions& options, cv::Mat* out_mask, ClassicalSwapTimings* timings) {
  auto lap_start = std::chrono::steady_clock::now();
  auto lap = [&](double ClassicalSwapTimings::*field) {
    auto now = std::chrono::steady_clock::now();
    if (timings != nullptr) timings->*field += std::chrono::duration<double, std::milli>(now - lap_start).count();
    lap_start = now;
  };
  if (frame.empty() || frame.type() != CV_8UC3) return invalid_argument("classical_swap needs a BGR uint8 frame");
  if (source.image.empty() || source.image.type() != CV_8UC3) {
    return invalid_argument("classical_swap needs a BGR uint8 source image");
  }
  if (!target_face.has_landmarks68() || !source.face.has_landmarks68()) {
    return invalid_argument("classical_swap needs 68 landmarks on the source and target faces: run the dlib_68 landmarker");
  }
  if (!valid_options(options)) {
    return invalid_argument(fmt::format("face_swapper options out of range: blend {}, morph {}, face_mask_blur {} (each 0–1)",
                                        options.blend, options.morph, options.face_mask_blur));
  }
  if (out_mask != nullptr) *out_mask = cv::Mat::zeros(frame.size(), CV_32FC1);

  const Landmarks68& target = target_face.landmarks68;
  const float target_size = face::face_size(target);
  const float source_size = face::face_size(source.face.landmarks68);
  if (options.blend <= 0.0f || target_size < kMinFaceSize || source_size < 2.0f) return Status::ok();
  face::SwapMaskOptions mask_options;
  mask_options.face_mask_blur = options.face_mask_blur;
  const cv::Rect region = face::face_region(target, mask_options.brow_raise, kRegionMargin, frame.size());
  if (region.width < 4 || region.height < 4) return Status::ok();
  const cv::Point2f origin(region.tl());

  // Source, mirrored when it looks the other way.
  const bool mirror = should_mirror_source(source.face.landmarks68, target_face);
  WorkingSource src = prepare_source(source, target_size, mirror);
  if (src.image.cols < 2 || src.image.rows < 2) return Status::ok();

  // Destination of every source landmark (region coordinates): the source's own layout placed by
  // a similarity fitted on the inner face, then pulled toward the target's landmarks — the
  // outline by w_outline, the inner face by w_inner.
  Landmarks68 target_local(target.size());
  for (size_t i = 0; i < target.size(); ++i) target_local[i] = target[i] - origin;
  // to_target places the source image's own points (the warp's rest layout and frame points).
  const Similarity to_target = fit_inner_face(src.points, target_local);
  const bool target_expression = options.geometry != ClassicalGeometry::kSourceExpression;
  const float w_outline = std::min(1.0f, 2.0f * options.morph);
  const float w_inner = std::max(0.0f, 2.0f * options.morph - 1.0f);
  // The source's layout as its head would show it in the target's pose: the generic 3D face fitted
  // to both gives each source point a depth, and the source is turned to the target's rotation
  // (face/head_pose.h). Its proportions (identity) are kept; a frontal source's nose lands where a
  // turned target's nose is; a turned source is turned toward the camera by at most
  // kMaxUnturnDegrees and tipped by at most kMaxPitchTurnDegrees (limit_repose). Then the similarity
  // on the inner face places it.
  const bool repose = options.geometry == ClassicalGeometry::kTargetExpression;
  Landmarks68 layout = src.points;
  if (repose) {
    const face::HeadPose source_pose = face::fit_head_pose(src.points);
    layout =
        face::repose_landmarks(src.points, source_pose, limit_repose(source_pose, face::fit_head_pose(target_local)));
  }
  const Similarity layout_to_target = repose ? fit_inner_face(layout, target_local) : to_target;
  Landmarks68 placed(target.size());
  for (size_t i = 0; i < target.size(); ++i) placed[i] = layout_to_target(layout[i]);
  Landmarks68 dst(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    float w = i <= 16 ? w_outline : w_inner;
    dst[i] = placed[i] + (target_local[i] - placed[i]) * w;
  }
  Similarity mouth_to_dst;
  if (target_expression) mouth_to_dst = apply_target_expression(dst, target_local);

  // Correspondences: 68 landmarks, a ring around the face, the region's corners and edge midpoints
  // (which move rigidly with the similarity, so the map is defined over the whole region).
  std::vector<cv::Point2f> src_points(src.points.begin(), src.points.end());
  std::vector<cv::Point2f> dst_points(dst.begin(), dst.end());
  {
    auto ring_src = boundary_ring(src.points), ring_dst = boundary_ring(dst);
    src_points.insert(src_points.end(), ring_src.begin(), ring_src.end());
    dst_points.insert(dst_points.end(), ring_dst.begin(), ring_dst.end());
    const Similarity to_source = to_target.inverse();
    // The frame points enclose the region and every face point (a face cut by the frame border
    // has landmarks outside the region): a frame point inside the face would make its triangles
    // fold and pull the face's outline in when they are repaired.
    float x0 = 0, y0 = 0, x1 = static_cast<float>(region.width - 1), y1 = static_cast<float>(region.height - 1);
    for (const auto& p : dst_points) {
      cv::Point2f r = to_target(src_points[&p - dst_points.data()]);
      x0 = std::min({x0, p.x, r.x});
      y0 = std::min({y0, p.y, r.y});
      x1 = std::max({x1, p.x, r.x});
      y1 = std::max({y1, p.y, r.y});
    }
    const float pad = 0.1f * target_size;
    const cv::Point2f c((x0 + x1) / 2, (y0 + y1) / 2);
    for (cv::Point2f p : {cv::Point2f(x0, y0), cv::Point2f(c.x, y0), cv::Point2f(x1, y0), cv::Point2f(x1, c.y),
                          cv::Point2f(x1, y1), cv::Point2f(c.x, y1), cv::Point2f(x0, y1), cv::Point2f(x0, c.y)}) {
      // Pushed a little further out so border pixels are inside a triangle.
      cv::Point2f dir = p - c;
      float n = std::hypot(dir.x, dir.y);
      cv::Point2f q = n > 0 ? p + dir * (pad / n) : p;
      dst_points.push_back(q);
      src_points.push_back(to_source(q));
    }
  }
  std::vector<face::TriangleIndices> triangles;
  if (target_expression) {
    // No triangle may fold: points of reversed triangles relax toward the source's own layout
    // placed by the similarity (which keeps every orientation), and the mask follows them.
    std::vector<cv::Point2f> rest(src_points.size());
    for (size_t i = 0; i < src_points.size(); ++i) rest[i] = to_target(src_points[i]);
    triangles = face::unfold_destination(src_points, dst_points, rest, face::face_size(src.points));
    std::copy(dst_points.begin(), dst_points.begin() + static_cast<std::ptrdiff_t>(dst.size()), dst.begin());
  } else {
    triangles = face::delaunay_triangles(dst_points);
  }
  WarpMap map = build_warp_map(src_points, dst_points, triangles, to_target.inverse(), region.size(), src.image.size());

  cv::Mat warped;
  cv::remap(src.image, warped, map.map_x, map.map_y, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  lap(&ClassicalSwapTimings::warp_ms);

  // Mask: hull of the warped source's outline and the target's raised brows (so the target's brows
  // are always covered), only where the source image has pixels; eroded and feathered with the
  // target's face size.
  const cv::Rect local(cv::Point(0, 0), region.size());
  cv::Mat hard;
  bool source_ends_inside = false;  // the source image ends within the outline
  {
    auto outline = face::swap_mask_outline(dst, mask_options.brow_raise);
    auto target_outline = face::swap_mask_outline(target_local, mask_options.brow_raise);
    outline.insert(outline.end(), target_outline.begin() + face::kJawPointCount, target_outline.end());
    std::vector<cv::Point2f> hull;
    cv::convexHull(outline, hull);
    hard = face::polygon_mask(hull, local);
    if (target_expression) {
      // Never beyond the target's own outline (hull of its 68 points and raised brows; the source's
      // raised brows too, so its forehead may reach higher: `outline` past its jaw holds both
      // faces' raised brows): on a turned target the fold repair
      // relaxes the far-side jaw of a frontal source toward its own layout, past the target's
      // silhouette, and the face stuck out over the background as a jagged, streaked flap (the
      // bench's laughing target turned 38°). 8 of the 34 bench pairs change; identity margin
      // 0.171 → 0.168, pose and open-mouth worst within the re-detection noise (decision 0006).
      std::vector<cv::Point2f> own(target_local.begin(), target_local.end());
      own.insert(own.end(), outline.begin() + face::kJawPointCount, outline.end());
      std::vector<cv::Point2f> own_hull;
      cv::convexHull(own, own_hull);
      cv::bitwise_and(hard, face::polygon_mask(own_hull, local), hard);
    }
    const int before = cv::countNonZero(hard);
    cv::bitwise_and(hard, map.inside, hard);
    source_ends_inside = cv::countNonZero(hard) < before;
  }
  // Everything that can change lies inside the source's outline (`hard`): the feather, the colour
  // work and the blend run on its bounding box grown by the reach of the blend's coarsest level.
  const int levels = face::multiband_levels(target_size, region.size());
  const cv::Rect outline_box = cv::boundingRect(hard);
  if (outline_box.empty()) return Status::ok();
  cv::Rect work = outline_box;
  {
    const int reach = 2 << levels;
    work = cv::Rect(work.x - reach, work.y - reach, work.width + 2 * reach, work.height + 2 * reach) & local;
  }
  const float blur = options.face_mask_blur;
  cv::Mat mask(region.size(), CV_32FC1, cv::Scalar(0));
  cv::Mat mask_work = mask(work);
  face::feather_mask_fast(hard(work), mask_options.erosion * target_size,
                          blur * face::kSwapMaskFeatherPerBlur * target_size, mask_work);
  if (source_ends_inside) {
    // Where the source image ends (a source face at its image border), fade out before the edge.
    cv::multiply(mask_work, face::feather_mask(map.inside(work), 0.0f, kValidFeather * target_size), mask_work);
  }

  // Skin analysis runs on a reduced copy of the region (the face about kAnalysisFaceSize pixels
  // wide): its results are smooth, and this keeps a close-up as cheap as a small face.
  const cv::Mat target_region = frame(region);
  // An integer reduction factor keeps OpenCV's fast area-averaging path.
  const int factor = std::max(1, static_cast<int>(target_size / kAnalysisFaceSize));
  const float analysis_scale = 1.0f / static_cast<float>(factor);
  const cv::Size small_size(std::max(1, region.width / factor), std::max(1, region.height / factor));
  const cv::Rect small_local(cv::Point(0, 0), small_size);
  const cv::Rect shrinkable(0, 0, std::min(region.width, small_size.width * factor),
                            std::min(region.height, small_size.height * factor));
  const float sx = analysis_scale, sy = analysis_scale;
  auto to_small = [&](const Landmarks68& p) {
    Landmarks68 out(p.size());
    for (size_t i = 0; i < p.size(); ++i) out[i] = {(p[i].x + 0.5f) * sx - 0.5f, (p[i].y + 0.5f) * sy - 0.5f};
    return out;
  };
  auto shrink = [&](const cv::Mat& image, int interpolation) {
    if (factor == 1) return image.clone();
    cv::Mat out;
    cv::resize(image(shrinkable), out, small_size, 0, 0, interpolation);
    return out;
  };
  auto shrink_float = [&](const cv::Mat& bgr8) {
    cv::Mat out;
    shrink(bgr8, cv::INTER_AREA).convertTo(out, CV_32FC3, 1.0 / 255.0);
    return out;
  };
  const Landmarks68 dst_small = to_small(dst), target_small = to_small(target_local);
  const cv::Mat hard_small = shrink(hard, cv::INTER_AREA) > 127;
  const cv::Mat target_small_float = shrink_float(target_region);
  const cv::Mat warped_small = shrink_float(warped);
  cv::Mat target_small_lab, warped_small_lab;
  cv::cvtColor(target_small_float, target_small_lab, cv::COLOR_BGR2Lab);
  cv::cvtColor(warped_small, warped_small_lab, cv::COLOR_BGR2Lab);
  cv::Mat gate_small;  // forehead/temple skin gate on the reduced grid (empty: none)
  const cv::Mat dst_cheeks_small = face::cheek_mask(dst_small, small_local);
  const cv::Mat target_skin_small = face::skin_likelihood_lab(target_small_lab, face::cheek_mask(target_small, small_local));
  {
    // Forehead, temples and the sides of the cheeks (above the mouth corners, outside the brows,
    // eyes, nose and mouth): the mask keeps only what is skin in the source *and* in the target,
    // so neither face's fringe or strands of hair are pasted as a patch, and the target's hairline
    // stays. The chin and jaw below the mouth are not gated (a beard belongs to the face).
    const cv::Point2f up = face::face_up_direction(target_small);
    const cv::Point2f mouth_line = (target_small[48] + target_small[54]) * 0.5f;
    const float height = static_cast<float>(cv::norm(target_small[8] - (target_small[19] + target_small[24]) * 0.5f));
    std::vector<cv::Point2f> features;
    for (int i = 17; i <= 26; ++i) {
      cv::Point2f a = target_small[i], b = dst_small[i];
      features.push_back((a.dot(up) > b.dot(up) ? a : b) + up * (kForeheadStart * height));
    }
    for (int i = 27; i <= 59; ++i) {
      features.push_back(target_small[i]);
      features.push_back(dst_small[i]);
    }
    std::vector<cv::Point2f> hull;
    cv::convexHull(features, hull);
    cv::Mat zone = face::polygon_mask(hull, small_local);
    cv::bitwise_not(zone, zone);
    for (int y = 0; y < zone.rows; ++y) {
      uchar* z = zone.ptr<uchar>(y);
      for (int x = 0; x < zone.cols; ++x) {
        if ((cv::Point2f(static_cast<float>(x), static_cast<float>(y)) - mouth_line).dot(up) <= 0.0f) z[x] = 0;
      }
    }
    cv::bitwise_and(zone, hard_small, zone);
    if (cv::countNonZero(zone) > 0) {
      cv::Mat skin = face::skin_likelihood_lab(warped_small_lab, dst_cheeks_small).mul(target_skin_small);
      cv::Mat gate(small_size, CV_32FC1, cv::Scalar(1));
      skin.copyTo(gate, zone);
      const double sigma = kForeheadGateBlur * target_size * analysis_scale;
      if (sigma > 0.3) cv::GaussianBlur(gate, gate, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
      gate_small = gate;
    }
  }
  if (target_expression) {
    // Glasses on the target stay the target's: their frame is kept out of the mask (face/glasses.h;
    // in video decided per track, Face::glasses_weight).
    const cv::Mat frame_mask = face::glasses_frame_mask(frame(region), target_local, nullptr, target_face.glasses_weight);
    if (!frame_mask.empty()) {
      cv::Mat keep = 1.0f - frame_mask(work);
      cv::multiply(mask_work, keep, mask_work);
    }
    // So do sunglasses (eyes the target's photo does not show: the source's are not painted over
    // them).
    const cv::Mat covering = face::covered_eye_mask(frame(region), target_local);
    if (!covering.empty()) {
      cv::Mat keep = 1.0f - covering(work);
      cv::multiply(mask_work, keep, mask_work);
    }
  }
  if (options.mouth_mask) {
    cv::Mat keep = 1.0f - face::mouth_mask(target, region, blur);
    cv::multiply(mask_work, keep(work), mask_work);
  }
  {
    // The gate sampled back at full resolution (bilinear), the float rounding of the blurred gate
    // clamped, and no invisible tails: the changed area is exactly mask > 0.
    std::optional<face::BilinearUpsampler> gate_up;
    if (!gate_small.empty()) gate_up.emplace(gate_small, analysis_scale, work.tl(), work.width);
    for (int y = 0; y < work.height; ++y) {
      float* m = mask_work.ptr<float>(y);
      const float* g = gate_up ? gate_up->row(y) : nullptr;
      for (int x = 0; x < work.width; ++x) {
        float v = g != nullptr ? m[x] * g[x] : m[x];
        v = std::min(v, 1.0f);
        m[x] = v < 1.0f / 512.0f ? 0.0f : v;
      }
    }
  }

  // Colour: the warped source takes the target's L*a*b* statistics inside the mask (measured on
  // the reduced copies), then its local lighting (weights: skin in both faces inside the source's
  // outline, so eyes, brows and mouths, which sit at different places in the two faces, do not
  // shade each other).
  const face::LabTransfer lab = face::fit_lab_transfer_lab(warped_small_lab, target_small_lab, shrink(mask, cv::INTER_AREA));
  // Colour-matched source in place (warped is not needed any more), only inside the outline's box:
  // outside the outline the foreground is replaced by the target below.
  cv::Mat fg8 = warped(work);
  {
    cv::Mat inside_outline = warped(outline_box);
    face::apply_lab_transfer(inside_outline, lab);
  }
  cv::Mat gain_small, skin_small;
  {
    cv::Mat fg_small_lab = warped_small_lab.clone(), fg_small;
    face::apply_lab_transfer_lab(fg_small_lab, lab);
    cv::cvtColor(fg_small_lab, fg_small, cv::COLOR_Lab2BGR);
    cv::Mat weight = face::skin_likelihood_lab(fg_small_lab, dst_cheeks_small).mul(target_skin_small);
    weight.setTo(0.0f, hard_small == 0);
    gain_small = face::lighting_gain(fg_small, target_small_float, weight,
                                     kLightingSigma * target_size * analysis_scale);
    skin_small = weight;
  }
  // Detail the source cannot carry: a source face upsampled by k (smaller than the target's) has no
  // detail finer than ~k px. That band is taken from the target's own skin (its pores, grain and
  // noise: the target minus a Gaussian blur of sigma kDetailSigmaPerUpsample·k px), only where both
  // faces are skin (the skin weight above, which leaves out eyes, brows, nostrils and lips, so none
  // of the target's features are drawn into the new face).
  const float upsample = target_size / std::max(1.0f, face::face_size(src.points));
  const bool add_detail = target_expression && upsample > kDetailMinUpsample;
  cv::Mat detail;  // CV_16SC3 over `work`: target − blurred target
  if (add_detail) {
    cv::Mat blurred;
    const double sigma = kDetailSigmaPerUpsample * upsample;
    cv::GaussianBlur(target_region(work), blurred, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
    cv::subtract(target_region(work), blurred, detail, cv::noArray(), CV_16SC3);
  }
  // Foreground (8-bit, in place): the colour-matched source times the lighting gain (sampled back
  // from the reduced grid) inside its outline, the target itself outside, so no source background
  // leaks into the blend's coarse levels.
  const cv::Mat bg8 = target_region(work);
  const cv::Mat hard_work = hard(work);
  {
    face::BilinearUpsampler gain_up(gain_small, analysis_scale, work.tl(), work.width);
    std::optional<face::BilinearUpsampler> skin_up;
    if (add_detail) skin_up.emplace(skin_small, analysis_scale, work.tl(), work.width);
    for (int y = 0; y < work.height; ++y) {
      auto* f8 = fg8.ptr<cv::Vec3b>(y);
      const auto* b8 = bg8.ptr<cv::Vec3b>(y);
      const uchar* h = hard_work.ptr<uchar>(y);
      const float* g = gain_up.row(y);
      const float* skin = add_detail ? skin_up->row(y) : nullptr;
      const cv::Vec3s* d = add_detail ? detail.ptr<cv::Vec3s>(y) : nullptr;
      for (int x = 0; x < work.width; ++x) {
        if (h[x] == 0) {
          f8[x] = b8[x];
          continue;
        }
        if (skin != nullptr) {
          const float w = std::clamp(skin[x], 0.0f, 1.0f);
          for (int c = 0; c < 3; ++c) f8[x][c] = cv::saturate_cast<uchar>(f8[x][c] * g[3 * x + c] + w * d[x][c]);
        } else {
          for (int c = 0; c < 3; ++c) f8[x][c] = cv::saturate_cast<uchar>(f8[x][c] * g[3 * x + c]);
        }
      }
    }
  }
  // A source whose own mouth is open (teeth showing) has nothing that can close: its teeth would
  // show between any lips. Then the target's whole mouth (lips too) is kept.
  const bool source_mouth_open = face::mouth_open_ratio(src.points) > kOpenSourceMouthRatio;
  if (target_expression && (source_mouth_open || face::mouth_open_ratio(target_local) > kOpenMouthRatio)) {
    // The whole mouth (outer lips 48–59) or its inside (inner lips 60–67).
    const std::vector<cv::Point2f> lips = source_mouth_open ? std::vector<cv::Point2f>(dst.begin() + 48, dst.begin() + 60)
                                                            : std::vector<cv::Point2f>(dst.begin() + 60, dst.begin() + 68);
    paste_target_polygon(fg8, work, target_region, lips, mouth_to_dst, kInnerMouthFeather * target_size, 1.0f);
  }
  if (target_expression) {
    // A blinking target keeps its own closed eyes (lids and lashes, moved by the similarity of the
    // eye corners like the lids of the warp): the eye's outline grown about its centre so the lid
    // creases and lashes come along. Whether the eye is closed is read on the frame's own points
    // (Face::unsmoothed_eye_open): in video the tracker's smoothed ones half-open a closing eye.
    const cv::Point2f up = face::face_up_direction(dst);
    for (int c0 : {36, 42}) {
      const float target_open = target_face.unsmoothed_eye_open ? (*target_face.unsmoothed_eye_open)[c0 == 36 ? 0 : 1]
                                                                : face::one_eye_open_ratio(target_local, c0);
      const float strength = blink_strength(target_open, face::one_eye_open_ratio(src.points, c0));
      if (strength <= 0.0f) continue;
      const Similarity eye_to_dst = similarity_from_two(target_local[c0], target_local[c0 + 3], dst[c0], dst[c0 + 3]);
      cv::Point2f centre(0, 0);
      for (int i = c0; i < c0 + 6; ++i) centre += dst[i] * (1.0f / 6.0f);
      const float eye_width = static_cast<float>(cv::norm(dst[c0 + 3] - dst[c0]));
      // The lids of a closed eye nearly touch: the patch also reaches kBlinkReach eye widths above
      // the upper lid (37, 38) and below the lower one (40, 41).
      std::vector<cv::Point2f> patch;
      for (int k = 0; k < 6; ++k) {
        const float side = (k == 1 || k == 2) ? 1.0f : (k >= 4 ? -1.0f : 0.0f);
        patch.push_back(centre + (dst[c0 + k] - centre) * kBlinkGrow + up * (side * kBlinkReach * eye_width));
      }
      paste_target_polygon(fg8, work, target_region, patch, eye_to_dst, kBlinkFeather * eye_width, strength);
    }
  }

  if (target_expression && options.match_target_sharpness) match_target_sharpness(fg8, bg8, mask_work, hard_work, work, dst, target_local, target_size);

  lap(&ClassicalSwapTimings::mask_ms);
  cv::Mat frame_work = frame(cv::Rect(work.tl() + region.tl(), work.size()));
  if (options.blend_mode == ClassicalBlendMode::kPoisson) {
    FF_ASSIGN_OR_RETURN(cv::Mat poisson, face::poisson_blend(fg8, bg8, mask_work));
    cv::Mat blended;
    poisson.convertTo(blended, CV_32FC3, 1.0 / 255.0);
    if (options.blend < 1.0f) mask *= options.blend;
    face::composite(frame_work, blended, mask_work);
  } else {
    face::multiband_composite(frame_work, fg8, mask_work, levels, options.blend);
    if (options.blend < 1.0f) mask *= options.blend;
  }
  if (out_mask != nullptr) mask.copyTo((*out_mask)(region));
  lap(&ClassicalSwapTimings::blend_ms);
  return Status::ok();
}

}  // namespace facefuse::processors
