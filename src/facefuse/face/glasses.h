// Glasses on a face, found from its 68 points and pixels, so a face swap can keep the target's
// frame (issue 17: glasses on the target were partly erased). Classical methods only, no model.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <array>
#include <optional>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::face {

// What glasses_frame_mask looked at (for tests and the benchmark).
struct GlassesEvidence {
  // Largest fraction of the nose-bridge box's width crossed by a thin line in one row (0–1).
  float bridge = 0.0f;
  bool found = false;  // bridge ≥ the threshold: the face wears glasses
};

// The frame of the glasses worn by the face with 68 points `points` (in `image` pixels) over
// `image` (BGR uint8, e.g. a face region), as CV_32FC1 of image's size in [0, 1] (1 = frame), or an
// empty Mat when the face wears none (or its inter-ocular distance, IOD, is under 12 px).
//
// A frame is a thin line, darker or brighter than what is around it, and its bridge crosses the nose
// between the eyes, which nothing else on a face does (brows stop at the nose, the nose's own shading
// runs along it). On a grey copy with the IOD at most 48 px: thin structures = max(black-hat, top-hat)
// with a disc of 0.1 IOD, standing out by ≥ 14 grey levels; glasses when in some row of the bridge box
// (the middle half between the inner eye corners 39 and 42, from 0.08 IOD under the brows' inner ends
// to point 29) at least 80 % of the columns are thin structures (with the row below). The frame is
// then the thin structures inside an ellipse of 1.1 × 0.8 IOD around each eye and in the bridge box,
// less the eyes (their outline grown by 0.04 IOD) and the brows (a 0.12 IOD line along 17–21,
// 22–26), with gaps of up to 0.2 IOD along the eyes' line closed (a rim running along the brows
// would otherwise be kept in pieces). Measured on the 34 targets of bench-quality: the two with glasses 1.00, the
// others 0.00–0.44; a small face behind thin frames (2008_001009.jpg, IOD ~30 px) 0.30 is missed, and sunglasses
// (anne_helene.jpg) 0.09.
//
// `decided_weight` (a video track's decision, Face::glasses_weight): when set, the bridge test is
// not made on this image — 0 returns an empty Mat at once, anything above keeps the frame's thin
// structures scaled by it.
cv::Mat glasses_frame_mask(const cv::Mat& image, const Landmarks68& points, GlassesEvidence* evidence = nullptr,
                           std::optional<float> decided_weight = std::nullopt);

// The bridge score (GlassesEvidence::bridge) of the face with 68 points `points` in `frame` (BGR
// uint8, a whole video frame: only the region around the eyes is looked at); 0 for a face under
// 12 px between the eyes.
float glasses_bridge_score(const cv::Mat& frame, const Landmarks68& points);

// How much of a track's glasses frame a swap keeps, from the mean bridge score of its recent
// detections: 0 up to a mean of 0.35, 1 from 0.55, linear between. One frame's score is noisy on
// thin frames (a soft 640x480 talking head with rimless glasses: 0.36–1.00, mean 0.66, over the
// 0.8 of a single photo on only 14 of 68 frames), while faces without glasses stay low (three test
// clips: means 0.07–0.23, at most 0.31; photos at most 0.44).
float glasses_keep_weight(float mean_bridge);

// Eyes covered by sunglasses, hair or a hand: an eye whose outline grown kCoveredEyeGrow× about
// its centre is darker than kCoveredEyeDarkness × the cheeks' median grey level and flatter
// (standard deviation) than kCoveredEyeFlatness × it. Over the test photos' 120 faces
// (2026-12-07, the quality bench's --survey) exactly the three behind sunglasses pass on both
// eyes (anne_helene.jpg 0.26–0.34 / 0.04–0.07, People-Anne_Helene.jpg 0.29–0.35 / 0.05–0.06,
// cold_water.jpg 0.10–0.16 / 0.03–0.06); the darkest open eyes (deep-set, in shadow) are as dark,
// 0.29–0.38, but keep their detail (0.17–0.23), and the flattest dark one, the far eye of a face
// turned 32° with motion blur (sample4.jpg), has 0.30 / 0.12: the flatness bound sits between.
// Faces under kCoveredEyesMinIod px between the eyes are not judged (a 10 px rabbit and a dark
// 11 px face passed).
inline constexpr float kCoveredEyeGrow = 1.6f;
inline constexpr float kCoveredEyeDarkness = 0.45f;
inline constexpr float kCoveredEyeFlatness = 0.095f;
inline constexpr float kCoveredEyesMinIod = 14.0f;

// Which eyes of the face with 68 points `points` (in `image` pixels; image-left eye 36–41 first,
// then 42–47) are covered, by the rule above. `image` BGR uint8.
std::array<bool, 2> covered_eyes(const cv::Mat& image, const Landmarks68& points);

// What covers the covered eyes (sunglasses' lenses, mostly) as CV_32FC1 of image's size in [0, 1]
// (1 = covering), or an empty Mat when no eye is covered: around each covered eye, inside the
// ellipse glasses_frame_mask looks in (1.1 × 0.8 IOD), the pixels darker than kCoveringDarkness ×
// the cheeks' level, closed over the lens's reflections, grown by a few per cent of the IOD (its
// rim) and feathered. A face swap keeps the target's pixels there: a swap cannot show eyes that
// the target's photo does not, and painting the source's open eyes over the lenses looks absurd.
inline constexpr float kCoveringDarkness = 0.6f;
cv::Mat covered_eye_mask(const cv::Mat& image, const Landmarks68& points);

}  // namespace facefuse::face
