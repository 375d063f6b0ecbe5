// Which target faces a job processes, from the job's options (face_selector_mode,
// face_selector_order, reference_face_position, reference_face_distance).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "facefuse/core/status.h"
#include "facefuse/face/face_analyser.h"

namespace facefuse::pipeline {

struct SelectionResult {
  std::vector<face::Face> selected;  // in selector order
  int found = 0;                     // faces found in the frame
};

// Analyses `frame` and selects faces. For reference mode the reference is the face at
// reference_face_position (in selector order) of `reference_frame` (the target itself for an
// image job); the analyser must have a recognizer then.
Result<SelectionResult> select_target_faces(const face::FaceAnalyser& analyser, const cv::Mat& frame,
                                            const cv::Mat& reference_frame, const nlohmann::json& options);

// True when the options need identity embeddings (reference mode).
bool selection_needs_recognizer(const nlohmann::json& options);

}  // namespace facefuse::pipeline
