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

// Mouth opening: distance between the inner upper lip (61–63) and inner lower lip (65–67) means,
// over the mouth width (corners 48–54). ~0 closed, ~0.1 talking, 0.3–0.6 laughing or yawning.
float mouth_open_ratio(const Landmarks68& points);

// Eye opening (the usual eye aspect ratio), both eyes averaged: (|37−41| + |38−40|) / (2·|36−39|)
// and the same for 42–47. ~0.3 open, < 0.15 closed (a blink).
float eye_open_ratio(const Landmarks68& points);
// The same for one eye: `first` = 36 (the image-left eye, points 36–41) or 42 (points 42–47); 0 for
// any other index.
float one_eye_open_ratio(const Landmarks68& points, int first);

// Roll of the face, degrees: angle of the line from the image-left eye centre to the image-right
// one (positive = clockwise in the image, y down). 0 for an upright face.
float roll_degrees(const Landmarks68& points);

}  // namespace facefuse::face
