// Drawing of one analysed face for the face_debugger processor (and for looking at test
// outputs): box, score, index label, the 5 alignment points, the 68 landmarks and the outline of
// a mask. Line widths and marker sizes scale with the face, so a 30-pixel face and a 600-pixel
// face are both readable.
//
// Colours (BGR): box green, 68 points yellow-cyan, 5 points red, mask outline magenta, label
// white on the box colour.
// Thread-safety: draws only into `frame`.
#pragma once

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::processors {

// Draws `face` (image coordinates of `frame`, BGR uint8) with its `index` (as listed by
// `facefuse detect`). `mask_or_null`: CV_32FC1 (or CV_8UC1) mask of the frame's size, e.g. the
// out_mask of classical_swap; its 0.5 level line is drawn. A null, empty or differently sized
// mask is skipped.
void draw_face_debug(cv::Mat& frame, const face::Face& face, int index, const cv::Mat* mask_or_null);

}  // namespace facefuse::processors
