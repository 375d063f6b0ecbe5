// Face detectors and landmarkers by the names users pass (--face-detector, --face-landmarker,
// the API's options.face_detector). The list of names is explicit here; there is no static
// self-registration.
//
//   detectors:   "blazeface" (default; BlazeFace full-range 256, or short-range 128 via options)
//                "dlib_hog"  (dlib's HOG frontal face detector; no model file)
//                "yolo_face", "scrfd", "retinaface", "yunet" (FaceFusion's models, when installed:
//                onnx_face_detector.h)
//   landmarkers: "dlib_68"   (default; dlib's 68-point shape predictor)
//                "2dfan4"    (FaceFusion's model, when installed: fan_landmarker.h)
//
// All detectors return Detection::box in the same (dlib 68-landmark) convention, scores in [0, 1]
// and 5 points in face.h order; the FaceFusion detectors also keep their own box
// (Detection::detector_box), which is what 2dfan4 is fed. Scores are not calibrated against each
// other: each detector has its own default threshold (blazeface 0.6 and dlib_hog 0.55, measured on
// the labelled photos; FaceFusion's models 0.5, FaceFusion's default).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/face/blazeface_detector.h"
#include "facefuse/face/face.h"
#include "facefuse/inference/onnx_session.h"

namespace facefuse::face {

inline constexpr std::string_view kDefaultFaceDetector = "blazeface";
inline constexpr std::string_view kDefaultFaceLandmarker = "dlib_68";

struct DetectorOptions {
  // Faces scoring below this are dropped (FaceFusion's --face-detector-score). Unset = the
  // detector's tuned default: blazeface 0.6, dlib_hog 0.55.
  std::optional<float> score_threshold;
  // Smallest face (box side, source pixels) the detector should find anywhere in a frame; larger
  // values are faster. blazeface: tiles so that such faces stay detectable (a 1920 x 1280 frame:
  // 22 model runs for 40 px, 7 for 80 px, 1 for 0). dlib_hog: upsamples frames up to 1.3 MP
  // until its 80 px window reaches this size. 0 = no extra effort (a single pass, no upsampling).
  int min_face_size = 40;
  // blazeface only: full range (256) by default; short range (128) for close-ups, which always
  // runs as a single pass (min_face_size is ignored: close-ups have no small faces to tile for).
  BlazeFaceVariant blazeface_variant = BlazeFaceVariant::kFullRange;
  // FaceFusion's detectors only: model input size "WxH" (onnx_detector_sizes) and the angles the
  // frame is also searched at (0, 90, 180, 270). blazeface and dlib_hog ignore the size and refuse
  // angles other than {0}.
  std::string size = "640x640";
  std::vector<int> angles{0};
  // ONNX models only: execution provider and threads.
  inference::SessionOptions session;
};

// Valid names, default first.
std::vector<std::string_view> face_detector_names();
std::vector<std::string_view> face_landmarker_names();

// The catalogue id (models/catalog.json) of the model file a detector or landmarker opens, for
// checking a job's models before it runs: nullopt for dlib_hog (built into dlib). Jobs use
// blazeface's full-range model. Names are not validated here (create_face_* do that).
std::optional<std::string> face_detector_model_id(std::string_view name);
std::string face_landmarker_model_id(std::string_view name);

// Unknown name → invalid_argument listing the valid names; missing model file →
// failed_precondition naming the expected path and how to install it (scripts/setup for the
// defaults, `facefuse models download <id>` and docs/models.md for FaceFusion's models).
Result<std::shared_ptr<FaceDetector>> create_face_detector(std::string_view name,
                                                           const std::filesystem::path& models_dir,
                                                           const DetectorOptions& options = {});
Result<std::shared_ptr<FaceLandmarker>> create_face_landmarker(std::string_view name,
                                                               const std::filesystem::path& models_dir,
                                                               const inference::SessionOptions& session = {});

}  // namespace facefuse::face
