// The "classical" face swapper (no model): the source face is warped onto the target face by a
// piecewise-affine map over the 68 landmarks, colour-matched in L*a*b*, and blended in with a
// feathered landmark mask (multi-band or Poisson). DESIGN.md §4.2.
//
// Identity lives in the inner-face proportions: the source's eyes, brows, nose and mouth keep
// their own layout — a similarity transform (rotation, uniform scale, shift) fitted from the
// source's inner face to the target's — and only the jaw and the mask boundary bend toward the
// target. `morph` sets the balance (see ClassicalSwapOptions::morph).
//
// Steps, all on the target's face region (mask outline's box + 25 % of the face size):
//   1. source mirrored when the two faces look opposite ways (estimate_yaw);
//   2. destination landmarks = source landmarks placed by the inner-face similarity, pulled toward
//      the target's by `morph`; then the target's expression (ClassicalGeometry): its eyelids
//      around the source's eye corners, its whole mouth; Delaunay triangles (cv::Subdiv2D) over
//      them plus a ring around the face and frame points enclosing it give a piecewise-affine
//      sampling map (one cv::remap) that never folds (face/fold_free_warp.h);
//   3. mask = hull of the warped jaw + raised brows (and the target's raised brows), only where the
//      source has pixels, eroded and feathered by fractions of the face size (face_mask.h); on the
//      forehead, temples and upper cheeks it keeps only pixels that are skin in both faces (so
//      neither face's hair is pasted as a patch); glasses on the target keep their frame (the
//      target's pixels, face/glasses.h); optional inner-mouth cut-out;
//   4. colour: L*a*b* mean/std transfer inside the mask, then a smooth local lighting gain (the
//      target's shading and coloured light, measured on skin only); a source face upsampled more
//      than 1.5× gets the target's own fine skin detail (the band it cannot carry); an open target
//      mouth keeps its own inner mouth (teeth, tongue), a blinking target its own closed eyes;
//   5. multi-band (Laplacian pyramid) or Poisson blend, then out = frame·(1 − m) + swapped·m with
//      m = mask · blend.
//
// Cost is O(face region), not O(frame): only the target's face box (plus a margin) is read,
// warped, blended and written; the source image is sampled only around its face (downscaled
// first when it is much larger than the target's); skin analysis runs on a copy reduced to a
// ~64–128 px face.
// Thread-safety: classical_swap is a pure function of its arguments (no global state); calls on
// different frames may run concurrently, and `source` may be shared read-only between them.
#pragma once

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"
#include "facefuse/face/face.h"

namespace facefuse::processors {

enum class ClassicalBlendMode { kMultiBand, kPoisson };

// Which face's expression and pose the swap shows (issue 17).
enum class ClassicalGeometry {
  // Default: identity from the source (its inner-face layout at rest, similarity-placed), the
  // expression and pose from the target: the source's layout is re-posed to the target's head pose
  // (a generic 3D face fitted to both, face/head_pose.h),
  // the eyelids and the mouth (lips, opening, smile) take the target's shape around the source's
  // eye corners and mouth corners, and an open target mouth keeps its own inner mouth (teeth,
  // tongue). The warp never folds (face/fold_free_warp.h).
  kTargetExpression,
  // The pre-issue-17 geometry: the whole inner face is the source's (its mouth and eyelids too).
  // Kept as the quality benchmark's baseline (bench/quality_bench.cpp).
  kSourceExpression,
  // kTargetExpression without the 3D re-posing: the source's 2D layout placed by the similarity
  // only (the default until the generic 3D face; the quality benchmark's second baseline).
  kTargetExpressionFlat,
};

struct ClassicalSwapOptions {
  // --face-swapper-blend, 0–1: how much of the swapped face is shown (0 = the target is kept,
  // the frame is not modified at all).
  float blend = 1.0f;
  // --face-swapper-morph, 0–1: how far the warped source bends toward the target's landmarks.
  //   0    pure similarity: source jaw and inner face both keep the source's proportions;
  //   0.5  the jaw/outline follows the target fully, the inner face keeps the source's layout;
  //   1    full piecewise-affine warp onto all of the target's landmarks.
  // Outline weight = min(1, 2·morph); inner-face weight = max(0, 2·morph − 1). The default was
  // chosen by the identity test (tests/processors/classical_swapper_test.cpp): it keeps the
  // source's identity while the face fills the target's outline.
  float morph = 0.5f;
  // --face-mask-blur, 0–1: feather width of the mask edge as a fraction of face size
  // (face::SwapMaskOptions).
  float face_mask_blur = 0.3f;
  ClassicalBlendMode blend_mode = ClassicalBlendMode::kMultiBand;
  // Keep the target's inner mouth (teeth, tongue) instead of the source's.
  bool mouth_mask = false;
  ClassicalGeometry geometry = ClassicalGeometry::kTargetExpression;
  // Match the swapped face's sharpness to the target's (decision 0006): sharpen the source's own
  // fine detail until the inner face is nearly as sharp as the target's (0.9×), or soften a face
  // much sharper than its photo (over 1.3×, down to 1.1×). On for still images; FaceSwapper turns
  // it off for video and live frames: it costs 0.4–4 ms per face, its gain is solved per frame (a
  // source of flicker), and large video faces are swapped on a reduced copy and keep the target's
  // own detail finer than it (FaceSwapper::swap_reduced).
  bool match_target_sharpness = true;
};

struct SwapSourceFace {
  cv::Mat image;   // BGR uint8, the whole source image (only the face's surroundings are read)
  face::Face face; // in `image` pixels, with 68 landmarks
  // The strands of hair over the face's forehead are already painted over in `image`
  // (face/forehead_strands.h; prepared_source does it once): classical_swap does it on its copy of
  // the face's surroundings otherwise.
  bool strands_removed = false;
};

// Swaps `source` onto `target_face` inside `frame` (BGR uint8), in place. Pixels are modified
// only inside the target's face region, and only where the returned mask is > 0.
//
// `out_mask` (optional): CV_32FC1, frame-sized, in [0, 1]: the exact per-pixel weight with
// which the swapped face was composited, out = frame·(1 − m) + swapped·m; it already includes
// `blend`. Pixels where m == 0 are bit-identical to the input.
//
// Errors: kInvalidArgument when the frame or source image is empty or not BGR uint8, when a face
// lacks 68 landmarks, or an option is out of [0, 1]. A target face too small to swap (under
// ~8 px) or entirely outside the frame is not an error: the frame is left as is (empty mask).
// Wall time of the parts of one classical_swap call, milliseconds (for benchmarks).
struct ClassicalSwapTimings {
  double warp_ms = 0;   // correspondences, piecewise-affine map, remap of the source
  double mask_ms = 0;   // mask, skin gating, colour and lighting match
  double blend_ms = 0;  // multi-band / Poisson blend and compositing into the frame
};

Status classical_swap(cv::Mat& frame, const face::Face& target_face, const SwapSourceFace& source,
                      const ClassicalSwapOptions& options, cv::Mat* out_mask = nullptr,
                      ClassicalSwapTimings* timings = nullptr);

// Yaw of a face from its 68 landmarks, in about [−1, 1]: where the nose tip (30) lies between
// the two ends of the jaw (0 and 16) along the line joining them, 0 = frontal, positive = nose
// toward the image's right (point 16), negative = toward the image's left.
float estimate_yaw(const face::Landmarks68& points);

// Landmarks of the horizontally mirrored image (x → image_width − 1 − x), renumbered with the
// 68-point left/right permutation so each index keeps its meaning (jaw 0 stays the image-left end).
face::Landmarks68 mirror_landmarks68(const face::Landmarks68& points, int image_width);

// The source as classical_swap reads it for target faces up to `max_target_size` pixels
// (face::face_size): its face's surroundings only, reduced so the face is at most 1.5× that size
// (classical_swap's own limit), and mirrored when `mirrored` (should_mirror_source then says no for
// the targets that asked for it, their yaws now pointing the same way). classical_swap on it gives
// what it gives on `source` for such targets, up to resampling, without reading, reducing and
// flipping the whole source photo on every call: video and live frames swap from one made per job.
// Its forehead strands are painted over (SwapSourceFace::strands_removed).
SwapSourceFace prepared_source(const SwapSourceFace& source, float max_target_size, bool mirrored);

// Whether classical_swap uses the mirrored source for this source/target pair: their yaws point
// opposite ways, each by more than kMirrorYawThreshold.
inline constexpr float kMirrorYawThreshold = 0.08f;
bool should_mirror_source(const face::Landmarks68& source, const face::Landmarks68& target);
// The same for a target face, whose yaw is its track's (Face::track_yaw) when it has one.
bool should_mirror_source(const face::Landmarks68& source, const face::Face& target);

}  // namespace facefuse::processors
