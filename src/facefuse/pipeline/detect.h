// Face discovery for `facefuse detect` and POST /api/v1/detect: the faces of an image with the
// indices that --reference-face-position / reference_face_index select.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"
#include "facefuse/inference/onnx_session.h"
#include "facefuse/media/image_io.h"

namespace facefuse::pipeline {

struct DetectRequest {
  std::filesystem::path image;  // an image, or a video (then frame_number picks the frame)
  int64_t frame_number = 0;
  std::filesystem::path models_dir;
  inference::SessionOptions session;
  std::string detector = "blazeface";
  float detector_score = -1.0f;  // < 0: the detector's default
  std::string detector_size = "640x640";  // FaceFusion's detectors only
  std::vector<int> detector_angles{0};    // FaceFusion's detectors only
  std::string landmarker = "dlib_68";
  std::string order = "large-small";
  bool include_landmarks68 = false;
  // Classify each face's apparent gender and age (face_api_age_gender.onnx; ~0.4× the dlib
  // descriptor's time per face, docs/benchmarks.md). Skipped, with "age_gender": false in the answer, when the model is not
  // installed.
  bool include_attributes = true;
  int64_t max_pixels = media::kDefaultMaxPixels;
};

// {"image", "width", "height", "detector", "landmarker", "order", "age_gender", "faces": [{"index",
//  "box": [x, y, w, h], "score", "landmarks_5": [[x, y] × 5], "landmarks_68"?: [[x, y] × 68],
//  "gender"?: "female"|"male", "gender_probability"?: P(that gender), "age"?: years (0.1)}]}
// in image pixels; "box" is in the landmarker's input convention (face.h). "age_gender" says
// whether the gender/age fields are present.
Result<nlohmann::json> detect_faces(const DetectRequest& request);

}  // namespace facefuse::pipeline
