// Boxes in the dlib 68-landmark convention (the extent dlib's HOG detector reports and dlib's
// shape predictor was trained on: roughly brows to chin, cheek to cheek, square) fitted to a
// face's keypoints. Every detector reports Detection::box in this convention (face.h).
#pragma once

#include <span>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::face {

// The square (left, top, side) that puts `template_points` (positions inside the square as
// fractions of its side) closest to `points` in the least-squares sense (scale + translation, no
// rotation). The spans must have the same length, at least 2, with template points not all equal.
cv::Rect2f fit_square_to_template(std::span<const cv::Point2f> points, std::span<const cv::Point2f> template_points);

// The dlib-convention box implied by 5 alignment points in face.h order, from mean positions
// measured on the 43 labelled faces of dlib's VOC photos (eyes, nose and mouth centre as used by
// the BlazeFace box fit; mouth corners from the same faces' 68-point corners 48 and 54).
cv::Rect2f dlib_box_from_landmarks5(const Landmarks5& points);

// The positions (fractions of the dlib box side) that dlib_box_from_landmarks5 fits.
std::span<const cv::Point2f> landmarks5_in_dlib_box();

}  // namespace facefuse::face
