#include "facefuse/pipeline/detect.h"

#include <cmath>

#include "facefuse/face/age_gender_classifier.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/face/face_selector.h"
#include "facefuse/pipeline/run_job.h"

namespace facefuse::pipeline {
namespace {

// Pixel coordinates to 0.01 px: finer digits are noise and bloat the JSON.
double round2(float v) { return std::round(v * 100.0) / 100.0; }

nlohmann::json point_list(const auto& points) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : points) out.push_back({round2(p.x), round2(p.y)});
  return out;
}

}  // namespace

Result<nlohmann::json> detect_faces(const DetectRequest& request) {
  FF_ASSIGN_OR_RETURN(face::FaceSelectorOrder order, face::parse_face_selector_order(request.order));
  FF_ASSIGN_OR_RETURN(cv::Mat image, read_target_frame(request.image, request.frame_number, request.max_pixels));
  face::FaceAnalyserOptions options;
  options.models_dir = request.models_dir;
  options.detector = request.detector;
  options.detector_score = request.detector_score;
  options.detector_size = request.detector_size;
  options.detector_angles = request.detector_angles;
  options.landmarker = request.landmarker;
  options.session = request.session;
  FF_ASSIGN_OR_RETURN(auto analyser, face::FaceAnalyser::open(options));
  FF_ASSIGN_OR_RETURN(auto faces, analyser->analyse(image));
  faces = face::sort_faces(std::move(faces), order);
  bool classified = false;
  if (request.include_attributes) {
    auto classifier = face::AgeGenderClassifier::open(request.models_dir, request.session);
    if (classifier.is_ok()) {
      FF_RETURN_IF_ERROR((*classifier)->classify(image, faces));
      classified = true;
    } else if (classifier.status().code() != StatusCode::kFailedPrecondition) {  // not just missing
      return classifier.status();
    }
  }

  nlohmann::json out = {{"image", request.image.string()}, {"frame", request.frame_number},
                        {"width", image.cols}, {"height", image.rows},
                        {"detector", request.detector},   {"landmarker", request.landmarker},
                        {"order", request.order}, {"age_gender", classified}};
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < faces.size(); ++i) {
    const auto& f = faces[i];
    nlohmann::json entry = {{"index", i},
                            {"box", {round2(f.box.x), round2(f.box.y), round2(f.box.width), round2(f.box.height)}},
                            {"score", std::round(f.score * 1000.0) / 1000.0},
                            {"landmarks_5", point_list(f.landmarks5)}};
    if (request.include_landmarks68) entry["landmarks_68"] = point_list(f.landmarks68);
    if (f.attributes) {
      const face::Gender gender = f.attributes->gender();
      const float p = gender == face::Gender::kMale ? f.attributes->male_probability : 1.0f - f.attributes->male_probability;
      entry["gender"] = face::gender_name(gender);
      entry["gender_probability"] = std::round(p * 1000.0) / 1000.0;
      entry["age"] = std::round(f.attributes->age * 10.0) / 10.0;
    }
    list.push_back(std::move(entry));
  }
  out["faces"] = std::move(list);
  return out;
}

}  // namespace facefuse::pipeline
