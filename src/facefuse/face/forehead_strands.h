// Strands of hair hanging over a source face's forehead (a fringe), painted over with the skin
// around them before the face is swapped (issue 17): the swap keeps the source's forehead skin
// where both foreheads are skin (the forehead gate of the classical swap), and thin strands pass
// that gate — the skin test runs on a reduced copy where a strand is a fraction of a pixel — so a
// source with a fringe left dark strands across the target's forehead (bench pair 1, jesper_2.jpg
// onto new_wave_2.jpg, and the talking head with jesper_2.jpg).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::face {

// Where the strands lie: the forehead band (from kStrandZoneStart to kStrandZoneEnd × face_size
// above the brows, 17–26) of `bgr` (BGR uint8; `points` its face's 68 landmarks in its pixels),
// pixels of a thin dark line — the grey image's black-hat with a disc of kStrandWidth × face_size
// over kStrandContrast grey levels — grown by one pixel. CV_8UC1 of bgr's size, 255 = strand.
// The brows and eyes lie under the band. A fringe flags 56 % of it (jesper_2.jpg); foreheads
// without one 0–15 % (the hair above the hairline, which the swap's forehead gate leaves out
// anyway, and wrinkles, which are painted over too).
inline constexpr float kStrandZoneStart = 0.03f;
inline constexpr float kStrandZoneEnd = 0.5f;
inline constexpr float kStrandWidth = 0.04f;
inline constexpr float kStrandContrast = 20.0f;
cv::Mat forehead_strands_mask(const cv::Mat& bgr, const Landmarks68& points);

// The forehead band looked in, as a polygon in the points' pixels (the brows raised by
// kStrandZoneStart × face_size, then by kStrandZoneEnd × face_size, back to front); empty when the
// points are not 68.
std::vector<cv::Point2f> forehead_band(const Landmarks68& points);

// `bgr` with its forehead strands painted over (cv::inpaint, Telea, from the pixels around them):
// a new image, or `bgr` itself (not copied) when there are none or the points are not 68.
cv::Mat without_forehead_strands(const cv::Mat& bgr, const Landmarks68& points);

}  // namespace facefuse::face
