// Face masks built from 68 landmarks (dlib/iBUG layout, see face.h).
//
// Coordinate spaces: landmarks are in image pixels (x right, y down; pixel (x, y) has its centre
// at (x, y), OpenCV's convention). Every mask here is computed for a `region` of that image only
// (a cv::Rect in the same pixel space, usually face_region(...)), never for the whole image, so
// its cost is O(face). A returned mask has region.size(); mask(row, col) belongs to image pixel
// (region.x + col, region.y + row). The region may extend past the image: callers clip it first
// when they need it inside (face_region does).
//
// Masks are CV_32FC1 with values in [0, 1] (1 = face). All sizes (erosion, feather, brow raise)
// are fractions of the face's own size, never fixed pixel counts, so a 30-pixel face and a
// 600-pixel face get the same mask shape.
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <array>

#include <initializer_list>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::face {

// Size of a face in pixels: the square root of the area of the polygon jaw (0–16) + brows
// (26–17). About 0.9 × the face width for a frontal face; stable under yaw and roll.
float face_size(const Landmarks68& points);

// Unit vector from the chin (8) toward the eyes: "up" in the face's own frame (handles roll).
cv::Point2f face_up_direction(const Landmarks68& points);

// Outline of the swap mask, in the landmarks' space: jaw 0 → 16, then brows 26 → 17 moved "up"
// (face_up_direction) by `brow_raise` × the chin-to-brow height, so the forehead just above the
// brows is inside. A closed polygon (the last point connects to the first); its first
// kJawPointCount points are the jaw's, the rest the raised brows'.
inline constexpr int kJawPointCount = 17;
std::vector<cv::Point2f> swap_mask_outline(const Landmarks68& points, float brow_raise);

// Smallest axis-aligned box holding `points` (empty for no points).
cv::Rect2f bounding_box(const std::vector<cv::Point2f>& points);

// Bounding box of swap_mask_outline(points, brow_raise) grown by `margin` × face_size on every
// side, rounded outward to whole pixels and clipped to `image_size` (may be empty when the face
// lies entirely outside the image).
cv::Rect face_region(const Landmarks68& points, float brow_raise, float margin, cv::Size image_size);

// Smooth mask from a binary one (CV_8UC1, non-zero = inside), using the Euclidean distance d
// (pixels) of each inside pixel to the nearest outside pixel of `hard_mask`:
//   mask = smoothstep((d - erosion_px) / feather_px)
// i.e. 0 within `erosion_px` of the edge, rising to 1 over the next `feather_px`. The mask is 0
// everywhere outside `hard_mask` (the feather lies inside the shape). Pixels at the border of
// `hard_mask` count as having inside neighbours beyond it (a face cut by the image border stays
// 1 up to that border). feather_px <= 0 gives a hard mask with a one-pixel anti-aliased edge.
cv::Mat feather_mask(const cv::Mat& hard_mask, float erosion_px, float feather_px);

// feather_mask written into `out` (CV_32FC1, hard_mask's size; may be a view), computed faster for
// wide feathers: when feather_px and erosion_px are several pixels, the distance transform runs on
// a grid reduced 2× or 4× (blocks inside when at least half their pixels are) and is interpolated
// back bilinearly (distances off by about a pixel, invisible across a feather of ≥ 8 px); out is
// still 0 wherever hard_mask is 0.
void feather_mask_fast(const cv::Mat& hard_mask, float erosion_px, float feather_px, cv::Mat& out);

// Fills `polygon` (image space) into a CV_8UC1 mask of region.size() (255 inside), with
// sub-pixel vertex precision.
cv::Mat polygon_mask(const std::vector<cv::Point2f>& polygon, const cv::Rect& region);

struct SwapMaskOptions {
  // --face-mask-blur, 0–1: feather width = face_mask_blur × kSwapMaskFeatherPerBlur × face_size.
  float face_mask_blur = 0.3f;
  // Brows raised by this fraction of the chin-to-brow height: with the default erosion and feather
  // the mask is at full strength over the brows, so the swap never shows two pairs of eyebrows.
  float brow_raise = 0.15f;
  // The mask starts this fraction of face_size inside the outline (landmarks on the jaw are noisy
  // by a few percent of the face, and the background must not show through).
  float erosion = 0.03f;
};
inline constexpr float kSwapMaskFeatherPerBlur = 0.25f;

// The swap mask: convex hull of swap_mask_outline (jaw + raised brows), eroded and feathered in
// proportion to face size.
cv::Mat swap_mask(const Landmarks68& points, const cv::Rect& region, const SwapMaskOptions& options = {});

// Inner-mouth mask (the hull of the inner lips 60–67: teeth, tongue, mouth opening), grown by
// 2 % of face_size and feathered outward by face_mask_blur × 0.1 × face_size. ~0 for a closed mouth.
cv::Mat mouth_mask(const Landmarks68& points, const cv::Rect& region, float face_mask_blur = 0.3f);

// Cheek skin of a face, for colour statistics: the two triangles jaw 1–3 / nose 29, 31 and
// jaw 13–15 / nose 29, 35 (CV_8UC1, 255 inside, region.size()).
cv::Mat cheek_mask(const Landmarks68& points, const cv::Rect& region);

// How much each pixel of `bgr` (CV_32FC3 BGR in [0, 1]) looks like the skin sampled where
// `reference` (CV_8UC1) is non-zero: 1 = skin, 0 = something else (hair, brows, background).
// L*a*b* distance to the reference's mean in units of its standard deviation (floored at 5 L*
// and 3 a*b* units); only pixels darker than the skin count in L* (a shiny forehead is still
// skin); 1 up to 2 units, falling smoothly to 0 at 3.5. All 1 when the reference has < 16 pixels.
cv::Mat skin_likelihood(const cv::Mat& bgr, const cv::Mat& reference);
// The same from float L*a*b* (cv::cvtColor of CV_32FC3 BGR in [0, 1], COLOR_BGR2Lab), for
// callers that already have it.
cv::Mat skin_likelihood_lab(const cv::Mat& lab, const cv::Mat& reference);

// FaceFusion's area masks (CONTRACTS.md "Area masks"): convex hull of the area's points,
// Gaussian blur with sigma = kAreaMaskSigma × face_size, then clip to [0.5, 1] and rescale to
// [0, 1] (which pulls the edge inside the hull, as FaceFusion's fixed sigma 5 does in its crop).
//   upper-face: 0, 1, 2, 31–35, 14, 15, 16, 26–17
//   lower-face: 3–13, 35–31
//   mouth:      48–67
// Several areas: the hull of all their points, as FaceFusion does.
enum class FaceMaskArea { kUpperFace, kLowerFace, kMouth };
inline constexpr float kAreaMaskSigma = 0.03f;
std::vector<int> face_mask_area_points(FaceMaskArea area);
cv::Mat area_mask(const Landmarks68& points, const cv::Rect& region, std::initializer_list<FaceMaskArea> areas);
cv::Mat area_mask(const Landmarks68& points, const cv::Rect& region, const std::vector<FaceMaskArea>& areas);

// FaceFusion's static box mask for an aligned crop (CONTRACTS.md "Masks and paste-back"), used by
// the model-based swappers and enhancers. For crop width W:
//   blur_amount = int(W · 0.5 · face_mask_blur), blur_area = max(blur_amount / 2, 1) (integer),
//   a border of max(blur_area, padding%) rows/columns on each side is zeroed, then, when
//   blur_amount > 0, a Gaussian blur with sigma = blur_amount · 0.25.
// 128 crop at blur 0.3 → blur_amount 19, a 9-px border, sigma 4.75.
struct BoxMaskGeometry {
  int blur_amount = 0;
  int border_top = 0, border_right = 0, border_bottom = 0, border_left = 0;  // zeroed rows/columns
  double sigma = 0.0;  // 0: no blur
};
// padding_percent: top, right, bottom, left, each 0–100 (FaceFusion's --face-mask-padding).
BoxMaskGeometry box_mask_geometry(cv::Size crop, float face_mask_blur, const std::array<int, 4>& padding_percent = {});
// CV_32FC1 of `crop` size in [0, 1].
cv::Mat box_mask(cv::Size crop, float face_mask_blur, const std::array<int, 4>& padding_percent = {});

// FaceFusion's softening of crop masks (occlusion, region, area): GaussianBlur of clip(m, 0, 1) with
// sigma kCropMaskSigma crop pixels, clipped to [0.5, 1] and rescaled: (m − 0.5) · 2. A hard edge
// ends up just inside the shape, at full strength ~0 px further in than a plain blur would.
inline constexpr double kCropMaskSigma = 5.0;
cv::Mat soften_crop_mask(const cv::Mat& mask);

// FaceFusion's area mask in an aligned crop: `crop_landmarks68` are the target's 68 landmarks
// mapped into the crop (cv::transform with the frame → crop affine); the areas' points are
// truncated to integers (numpy astype(int32)), their convex hull filled with 1 and softened
// (soften_crop_mask). CV_32FC1 of `crop` size.
cv::Mat crop_area_mask(const std::vector<cv::Point2f>& crop_landmarks68, cv::Size crop,
                       const std::vector<FaceMaskArea>& areas);
// "upper-face" | "lower-face" | "mouth".
Result<FaceMaskArea> parse_face_mask_area(std::string_view name);

}  // namespace facefuse::face
