#include "facefuse/pipeline/face_selection.h"

#include "facefuse/face/face_selector.h"

namespace facefuse::pipeline {
namespace {

Result<face::FaceSelectorOptions> selector_options(const nlohmann::json& options) {
  face::FaceSelectorOptions s;
  FF_ASSIGN_OR_RETURN(s.mode, face::parse_face_selector_mode(options.value("face_selector_mode", "reference")));
  FF_ASSIGN_OR_RETURN(s.order, face::parse_face_selector_order(options.value("face_selector_order", "large-small")));
  s.reference_face_position = static_cast<int>(options.value("reference_face_position", 0.0));
  auto distance = options.find("reference_face_distance");
  if (distance != options.end() && distance->is_number()) s.reference_face_distance = distance->get<float>();
  FF_RETURN_IF_ERROR(face::validate_face_selector_options(s));
  return s;
}

}  // namespace

bool selection_needs_recognizer(const nlohmann::json& options) {
  return options.value("face_selector_mode", "reference") == "reference";
}

Result<SelectionResult> select_target_faces(const face::FaceAnalyser& analyser, const cv::Mat& frame,
                                            const cv::Mat& reference_frame, const nlohmann::json& options) {
  FF_ASSIGN_OR_RETURN(face::FaceSelectorOptions selector, selector_options(options));
  SelectionResult result;
  FF_ASSIGN_OR_RETURN(auto faces, analyser.analyse(frame));
  result.found = static_cast<int>(faces.size());
  if (faces.empty()) return result;
  if (selector.mode != face::FaceSelectorMode::kReference) {
    FF_ASSIGN_OR_RETURN(result.selected, face::select_faces(faces, selector));
    return result;
  }
  const face::FaceRecognizer* recognizer = analyser.recognizer();
  if (recognizer == nullptr) return internal_error("reference face selection needs an analyser with a recognizer");
  FF_RETURN_IF_ERROR(analyser.embed(frame, faces));
  std::vector<face::Face> reference_faces;
  if (reference_frame.data == frame.data) {
    reference_faces = faces;
  } else {
    FF_ASSIGN_OR_RETURN(reference_faces, analyser.analyse(reference_frame));
    FF_RETURN_IF_ERROR(analyser.embed(reference_frame, reference_faces));
  }
  FF_ASSIGN_OR_RETURN(face::Face reference_face, face::select_reference_face(reference_faces, selector));
  face::FaceReference reference{{reference_face.embedding}, recognizer};
  FF_ASSIGN_OR_RETURN(result.selected, face::select_faces(faces, selector, &reference));
  return result;
}

}  // namespace facefuse::pipeline
