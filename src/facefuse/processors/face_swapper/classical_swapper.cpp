#include "facefuse/processors/face_swapper/classical_swapper.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/imgcodecs.hpp>  // DEVDEBUG

#include "facefuse/face/blending.h"
#include "facefuse/face/face_mask.h"

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
constexpr float kForeheadStart = 0.05f;   // skin-gated forehead band starts this × chin-to-brow above the brows
constexpr float kForeheadGateBlur = 0.03f;  // sigma of the forehead gate, × face size

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

WorkingSource prepare_source(const SwapSourceFace& source, float target_size, bool mirror) {
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
  for (size_t i = 0; i < s.size(); ++i) {
    // Pixel centres: x_work + 0.5 = (x_src − crop.x + 0.5)·scale.
    w.points[i] = {(s[i].x - crop.x + 0.5f) * sx - 0.5f, (s[i].y - crop.y + 0.5f) * sy - 0.5f};
  }
  if (mirror) {
    cv::Mat flipped;
    cv::flip(w.image, flipped, 1);
    w.image = flipped;
    w.points = mirror_landmarks68(w.points, w.image.cols);
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
                       const Similarity& fallback_dst_to_src, cv::Size region_size, cv::Size source_size) {
  // Delaunay triangulation of the destination points (each destination pixel lies in one triangle).
  cv::Rect2f bounds = face::bounding_box(dst_points);
  cv::Rect outer(cvFloor(bounds.x) - 8, cvFloor(bounds.y) - 8, cvCeil(bounds.width) + 17, cvCeil(bounds.height) + 17);
  cv::Subdiv2D subdiv(outer);
  std::unordered_map<uint64_t, int> index_of;  // exact float coordinates → point index (first wins)
  auto key = [](cv::Point2f p) {
    uint32_t x, y;
    std::memcpy(&x, &p.x, 4);
    std::memcpy(&y, &p.y, 4);
    return (static_cast<uint64_t>(x) << 32) | y;
  };
  for (size_t i = 0; i < dst_points.size(); ++i) {
    if (index_of.emplace(key(dst_points[i]), static_cast<int>(i)).second) subdiv.insert(dst_points[i]);
  }
  std::vector<cv::Vec6f> triangles;
  subdiv.getTriangleList(triangles);

  cv::Mat label(region_size, CV_32SC1, cv::Scalar(-1));
  std::vector<cv::Matx23f> affines;  // destination (region) → source (working image)
  for (const auto& t : triangles) {
    std::array<int, 3> ids{};
    bool ok = true;
    for (int k = 0; k < 3 && ok; ++k) {
      auto it = index_of.find(key({t[2 * k], t[2 * k + 1]}));
      ok = it != index_of.end();
      if (ok) ids[k] = it->second;
    }
    if (!ok) continue;  // a triangle touching Subdiv2D's virtual outer vertices
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

bool should_mirror_source(const face::Landmarks68& source, const face::Landmarks68& target) {
  float ys = estimate_yaw(source), yt = estimate_yaw(target);
  return ys * yt < 0.0f && std::abs(ys) > kMirrorYawThreshold && std::abs(yt) > kMirrorYawThreshold;
}

Status classical_swap(cv::Mat& frame, const face::Face& target_face, const SwapSourceFace& source,
                      const ClassicalSwapOptions& options, cv::Mat* out_mask) {
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
  const bool mirror = should_mirror_source(source.face.landmarks68, target);
  WorkingSource src = prepare_source(source, target_size, mirror);
  if (src.image.cols < 2 || src.image.rows < 2) return Status::ok();

  // Destination of every source landmark (region coordinates): the source's own layout placed by
  // a similarity fitted on the inner face, then pulled toward the target's landmarks — the
  // outline by w_outline, the inner face by w_inner.
  Landmarks68 target_local(target.size());
  for (size_t i = 0; i < target.size(); ++i) target_local[i] = target[i] - origin;
  const Similarity to_target = fit_inner_face(src.points, target_local);
  const float w_outline = std::min(1.0f, 2.0f * options.morph);
  const float w_inner = std::max(0.0f, 2.0f * options.morph - 1.0f);
  Landmarks68 dst(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    cv::Point2f placed = to_target(src.points[i]);
    float w = i <= 16 ? w_outline : w_inner;
    dst[i] = placed + (target_local[i] - placed) * w;
  }

  // Correspondences: 68 landmarks, a ring around the face, the region's corners and edge midpoints
  // (which move rigidly with the similarity, so the map is defined over the whole region).
  std::vector<cv::Point2f> src_points(src.points.begin(), src.points.end());
  std::vector<cv::Point2f> dst_points(dst.begin(), dst.end());
  {
    auto ring_src = boundary_ring(src.points), ring_dst = boundary_ring(dst);
    src_points.insert(src_points.end(), ring_src.begin(), ring_src.end());
    dst_points.insert(dst_points.end(), ring_dst.begin(), ring_dst.end());
    const Similarity to_source = to_target.inverse();
    const float w = static_cast<float>(region.width - 1), h = static_cast<float>(region.height - 1);
    const float pad = 0.1f * target_size;
    for (cv::Point2f p : {cv::Point2f(0, 0), cv::Point2f(w / 2, 0), cv::Point2f(w, 0), cv::Point2f(w, h / 2),
                          cv::Point2f(w, h), cv::Point2f(w / 2, h), cv::Point2f(0, h), cv::Point2f(0, h / 2)}) {
      // Push the frame points a little outside the region so border pixels are inside a triangle.
      cv::Point2f c(w / 2, h / 2), dir = p - c;
      float n = std::hypot(dir.x, dir.y);
      cv::Point2f q = n > 0 ? p + dir * (pad / n) : p;
      dst_points.push_back(q);
      src_points.push_back(to_source(q));
    }
  }
  WarpMap map = build_warp_map(src_points, dst_points, to_target.inverse(), region.size(), src.image.size());

  cv::Mat warped;
  cv::remap(src.image, warped, map.map_x, map.map_y, cv::INTER_LINEAR, cv::BORDER_REPLICATE);

  // Mask: hull of the warped source's outline and the target's raised brows (so the target's brows
  // are always covered), only where the source image has pixels; eroded and feathered with the
  // target's face size.
  cv::Mat hard;
  {
    auto outline = face::swap_mask_outline(dst, mask_options.brow_raise);
    auto target_outline = face::swap_mask_outline(target_local, mask_options.brow_raise);
    outline.insert(outline.end(), target_outline.begin() + 17, target_outline.end());
    std::vector<cv::Point2f> hull;
    cv::convexHull(outline, hull);
    hard = face::polygon_mask(hull, cv::Rect(cv::Point(0, 0), region.size()));
    cv::bitwise_and(hard, map.inside, hard);
  }
  const float blur = options.face_mask_blur;
  cv::Mat mask = face::feather_mask(hard, mask_options.erosion * target_size,
                                    blur * face::kSwapMaskFeatherPerBlur * target_size);
  if (static_cast<size_t>(cv::countNonZero(map.inside)) < map.inside.total()) {
    // Where the source image ends (a source face at its image border), fade out before the edge.
    cv::Mat inside_soft = face::feather_mask(map.inside, 0.0f, kValidFeather * target_size);
    mask = mask.mul(inside_soft);
  }
  {
    // Forehead and temples (above the eyes, outside the brows and eyes): the mask keeps only what
    // is skin in the source *and* in the target, so neither's fringe or temple hair is pasted as a
    // patch, and the target's hairline stays.
    const cv::Point2f up = face::face_up_direction(target_local);
    const cv::Point2f eyes = (target_local[39] + target_local[42]) * 0.5f;
    const float height = static_cast<float>(cv::norm(target_local[8] - (target_local[19] + target_local[24]) * 0.5f));
    std::vector<cv::Point2f> features;
    for (int i = 17; i <= 26; ++i) {
      cv::Point2f a = target_local[i], b = dst[i];
      features.push_back((a.dot(up) > b.dot(up) ? a : b) + up * (kForeheadStart * height));
    }
    for (int i = 36; i <= 47; ++i) {
      features.push_back(target_local[i]);
      features.push_back(dst[i]);
    }
    std::vector<cv::Point2f> hull;
    cv::convexHull(features, hull);
    const cv::Rect local(cv::Point(0, 0), region.size());
    cv::Mat zone = face::polygon_mask(hull, local);
    cv::bitwise_not(zone, zone);
    for (int y = 0; y < zone.rows; ++y) {
      uchar* z = zone.ptr<uchar>(y);
      for (int x = 0; x < zone.cols; ++x) {
        if ((cv::Point2f(static_cast<float>(x), static_cast<float>(y)) - eyes).dot(up) <= 0.0f) z[x] = 0;
      }
    }
    cv::bitwise_and(zone, hard, zone);
    if (cv::countNonZero(zone) > 0) {
      cv::Mat fg_check, bg_check;
      warped.convertTo(fg_check, CV_32FC3, 1.0 / 255.0);
      frame(region).convertTo(bg_check, CV_32FC3, 1.0 / 255.0);
      cv::Mat skin = face::skin_likelihood(fg_check, face::cheek_mask(dst, local))
                         .mul(face::skin_likelihood(bg_check, face::cheek_mask(target_local, local)));
      cv::Mat gate(region.size(), CV_32FC1, cv::Scalar(1));
      skin.copyTo(gate, zone);
      const double sigma = kForeheadGateBlur * target_size;
      if (sigma > 0.3) cv::GaussianBlur(gate, gate, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
      mask = mask.mul(gate);
      if (getenv("FF_SWAP_DEBUG")) {  // DEVDEBUG
        cv::Mat a, b, z; face::skin_likelihood(fg_check, face::cheek_mask(dst, local)).convertTo(a, CV_8U, 255);
        face::skin_likelihood(bg_check, face::cheek_mask(target_local, local)).convertTo(b, CV_8U, 255);
        cv::Mat row; cv::hconcat(std::vector<cv::Mat>{a, b, zone, face::cheek_mask(dst, local)}, row); cv::imwrite(std::string(getenv("FF_SWAP_DEBUG")) + ".skin.png", row);
      }
    }
  }
  if (options.mouth_mask) {
    cv::Mat mouth = face::mouth_mask(target, region, blur);
    mask = mask.mul(1.0f - mouth);
  }
  mask.setTo(0.0f, mask < 1.0f / 512.0f);  // no invisible tails: the changed area is exactly mask > 0

  // Colour: the warped source takes the target's L*a*b* statistics inside the mask. Outside the
  // source's outline it is replaced by the target, so no source background leaks into the blend.
  cv::Mat target_region = frame(region);
  cv::Mat fg, bg;
  warped.convertTo(fg, CV_32FC3, 1.0 / 255.0);
  target_region.convertTo(bg, CV_32FC3, 1.0 / 255.0);
  face::transfer_color_lab(fg, bg, mask);
  cv::Mat outside_face;
  cv::bitwise_not(hard, outside_face);
  bg.copyTo(fg, outside_face);

  cv::Mat blended;
  if (options.blend_mode == ClassicalBlendMode::kPoisson) {
    cv::Mat fg8;
    fg.convertTo(fg8, CV_8UC3, 255.0);
    FF_ASSIGN_OR_RETURN(cv::Mat poisson, face::poisson_blend(fg8, target_region, mask));
    poisson.convertTo(blended, CV_32FC3, 1.0 / 255.0);
  } else {
    blended = face::multiband_blend(fg, bg, mask, face::multiband_levels(target_size, region.size()));
  }

  if (getenv("FF_SWAP_DEBUG")) {  // DEVDEBUG
    cv::Mat m8; mask.convertTo(m8, CV_8U, 255); cv::cvtColor(m8, m8, cv::COLOR_GRAY2BGR);
    cv::Mat f8, b8, c8; fg.convertTo(f8, CV_8UC3, 255); bg.convertTo(b8, CV_8UC3, 255); blended.convertTo(c8, CV_8UC3, 255);
    cv::Mat row; cv::hconcat(std::vector<cv::Mat>{b8, f8, m8, c8}, row); cv::imwrite(getenv("FF_SWAP_DEBUG"), row);
  }
  cv::Mat weight = mask * options.blend;
  face::composite(target_region, blended, weight);
  if (out_mask != nullptr) weight.copyTo((*out_mask)(region));
  return Status::ok();
}

}  // namespace facefuse::processors
