// Face alignment: FaceFusion's 5-point warp templates, the similarity transform that maps a face's
// 5 points onto a template, and the crop it produces (CONTRACTS.md, "Alignment templates").
//
// Coordinate spaces:
//   - frame space: source-image pixels, x right, y down (face.h).
//   - template space: normalised crop coordinates in [0, 1] (x / crop width, y / crop height).
//   - crop space: pixels of the aligned crop, template × crop size.
// The affine returned by estimate_alignment is a 2×3 CV_64F matrix mapping frame space → crop
// space (the orientation cv::warpAffine expects without WARP_INVERSE_MAP). Paste-back inverts it.
//
// All functions are pure and thread-safe.
#pragma once

#include <array>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"
#include "facefuse/face/face.h"

namespace facefuse::face {

// FaceFusion's warp templates (names as in FaceFusion's WARP_TEMPLATE_SET).
enum class AlignmentTemplate {
  kArcface112V1,   // "arcface_112_v1"
  kArcface112V2,   // "arcface_112_v2" (arcface recognizers)
  kArcface128,     // "arcface_128" (inswapper, hyperswap)
  kDflWholeFace,   // "dfl_whole_face"
  kFfhq512,        // "ffhq_512" (GFPGAN-class enhancers)
  kMtcnn512,       // "mtcnn_512"
  kStyleganex384,  // "styleganex_384"
};

// The 5 template points in Landmarks5 order (left eye, right eye, nose, left mouth corner,
// right mouth corner as seen in the image), normalised to [0, 1] of the crop, double precision as
// published in CONTRACTS.md.
using AlignmentTemplatePoints = std::array<cv::Point2d, 5>;

const AlignmentTemplatePoints& alignment_template_points(AlignmentTemplate which);

// "arcface_112_v1", ...
std::string_view alignment_template_name(AlignmentTemplate which);
// All templates in the order of the enum.
const std::vector<AlignmentTemplate>& alignment_templates();
// Name → template; unknown names are kInvalidArgument listing the valid names.
Result<AlignmentTemplate> parse_alignment_template(std::string_view name);

// The template points in crop pixels: x · crop.width, y · crop.height.
std::array<cv::Point2f, 5> alignment_template_pixels(AlignmentTemplate which, cv::Size crop);

// 4-DoF similarity (rotation, uniform scale, translation) from the face's 5 points (frame space)
// onto template × crop (crop space), fitted exactly as FaceFusion does with
// cv::estimateAffinePartial2D(RANSAC, reprojection threshold 100 crop pixels): points further than
// 100 px from the best 2-point model are dropped, the rest are refined by least squares. For real
// faces all 5 points are inliers and this is the least-squares similarity. Returns a 2×3 CV_64F
// frame → crop matrix, or an empty Mat when the points are degenerate (all equal, non-finite).
cv::Mat estimate_alignment(const Landmarks5& landmarks, AlignmentTemplate which, cv::Size crop);

// The aligned crop of `frame` (any type cv::warpAffine accepts, usually BGR uint8) of size `crop`,
// sampled with INTER_AREA and BORDER_REPLICATE like FaceFusion's warp_face_by_face_landmark_5.
// `affine` is the frame → crop matrix from estimate_alignment. An empty affine or frame gives an
// empty result.
cv::Mat warp_face(const cv::Mat& frame, const cv::Mat& affine, cv::Size crop);

}  // namespace facefuse::face
