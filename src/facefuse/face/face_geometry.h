// Measures of a face's pose and expression from its 68 landmarks (dlib/iBUG layout, face.h), used
// by the classical swapper to keep the target's expression and pose, and by the quality benchmark
// and tests to check that it did. All ratios are scale-free (a 30-pixel and a 600-pixel face of
// the same expression give the same numbers).
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include "facefuse/face/face.h"

namespace facefuse::face {

// Distance between the eye centres (means of 36–41 and 42–47), pixels: the unit of landmark errors.
float inter_ocular_distance(const Landmarks68& points);

// Mean distance between the corresponding points of two 68-point sets, pixels; infinity unless
// both have 68 points.
float mean_point_distance(const Landmarks68& a, const Landmarks68& b);

// Mouth opening: distance between the inner upper lip (61–63) and inner lower lip (65–67) means,
// over the mouth width (corners 48–54). ~0 closed, ~0.1 talking, 0.3–0.6 laughing or yawning.
float mouth_open_ratio(const Landmarks68& points);

// Eye opening (the usual eye aspect ratio), both eyes averaged: (|37−41| + |38−40|) / (2·|36−39|)
// and the same for 42–47. ~0.3 open, < 0.15 closed (a blink).
float eye_open_ratio(const Landmarks68& points);
// The same for one eye: `first` = 36 (the image-left eye, points 36–41) or 42 (points 42–47); 0 for
// any other index.
float one_eye_open_ratio(const Landmarks68& points, int first);

// How high a brow sits over its eye: the mean distance of the brow's five points from the line
// through the eye's corners, over the inter-ocular distance (positive above the eye, away from the
// mouth). `first` = 17 (the image-left brow 17–21 over the eye 36–41) or 22 (22–26 over 42–47); 0
// for any other index. ~0.3 at rest; a raised brow reads 0.05–0.1 more, a frown less.
float brow_raise_ratio(const Landmarks68& points, int first);

// Roll of the face, degrees: angle of the line from the image-left eye centre to the image-right
// one (positive = clockwise in the image, y down). 0 for an upright face.
float roll_degrees(const Landmarks68& points);

// Faces at least this size (face_size, px) are checked by seen_from_the_side: on smaller ones the
// detector's points are too coarse (a frontal 57 px face of camera.png has its detector eyes
// 0.43 IOD apart).
inline constexpr float kProfileCheckMinFaceSize = 80.0f;
// A face seen in profile: dlib's 68 points cannot follow it (its shape model spans about ±45°), so
// they draw a three-quarter face across the cheek and the hair, and a swap built on them is torn.
// The detector still sees one eye: its two eye points lie less than kProfileEyeRatio × the 68
// points' inter-ocular distance apart, and its nose tip more than kProfileNoseOffset of it from
// point 30. On the test photos' 50 faces of ≥ kProfileCheckMinFaceSize px (blazeface, 2026-12-06)
// only sample2.jpg's woman in profile is both (0.08 and 0.92); every other face has its detector
// eyes ≥ 0.85 of the 68 points' distance apart and its nose ≤ 0.46 IOD off. False without the
// detector's points (Face::detector_landmarks5) or 68 landmarks, and under the size.
inline constexpr float kProfileEyeRatio = 0.5f;
inline constexpr float kProfileNoseOffset = 0.5f;
bool seen_from_the_side(const Face& face);

}  // namespace facefuse::face
