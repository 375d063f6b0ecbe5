// Model inputs from aligned face crops, shared by the ONNX recognizer, swappers and enhancers.
#pragma once

#include <array>

#include <opencv2/core.hpp>

#include "facefuse/inference/onnx_session.h"

namespace facefuse::face {

// A BGR uint8 image → [1,3,H,W] float32 RGB planes, (x / 255 − mean[c]) / std[c] (mean/std in RGB
// order, 0–1 units: FaceFusion's contracts).
inference::Tensor rgb_planes(const cv::Mat& bgr, const std::array<float, 3>& mean, const std::array<float, 3>& std);

}  // namespace facefuse::face
