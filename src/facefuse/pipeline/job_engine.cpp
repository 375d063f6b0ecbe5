#include "facefuse/pipeline/job_engine.h"

#include <algorithm>

#include <fmt/format.h>

#include "facefuse/media/image_io.h"
#include "facefuse/processors/registry.h"

namespace facefuse::pipeline {
namespace {

Result<face::FaceSelectorOptions> selector_options(const nlohmann::json& options) {
  face::FaceSelectorOptions s;
  FF_ASSIGN_OR_RETURN(s.mode, face::parse_face_selector_mode(options.at("face_selector_mode").get<std::string>()));
  FF_ASSIGN_OR_RETURN(s.order, face::parse_face_selector_order(options.at("face_selector_order").get<std::string>()));
  s.reference_face_position = options.at("reference_face_position").get<int>();
  if (options.at("reference_face_distance").is_number()) {
    s.reference_face_distance = options.at("reference_face_distance").get<float>();
  }
  if (options.at("face_selector_gender").is_string()) {
    FF_ASSIGN_OR_RETURN(s.gender, face::parse_face_selector_gender(options.at("face_selector_gender").get<std::string>()));
  }
  // Whole years, start <= end: checked by processors::validate_options.
  s.age_start = options.at("face_selector_age_start").get<int>();
  s.age_end = options.at("face_selector_age_end").get<int>();
  FF_RETURN_IF_ERROR(face::validate_face_selector_options(s));
  return s;
}

}  // namespace

Result<std::unique_ptr<JobEngine>> JobEngine::open(const JobSpec& spec) {
  std::unique_ptr<JobEngine> engine(new JobEngine());
  FF_ASSIGN_OR_RETURN(engine->options_, processors::validate_options(spec.processors, spec.options));
  FF_ASSIGN_OR_RETURN(engine->selector_, selector_options(engine->options_));
  if (spec.sources.empty()) return invalid_argument("no source image given: pass one or more with -s");

  processors::ProcessorContext context;
  context.models_dir = spec.models_dir;
  context.options = engine->options_;
  context.session = spec.session;
  for (const auto& source : spec.sources) {
    FF_ASSIGN_OR_RETURN(cv::Mat image, media::read_image(source, {spec.max_pixels}));
    context.source_images.push_back(std::move(image));
    context.source_names.push_back(source.string());
  }

  face::FaceAnalyserOptions analyser_options;
  analyser_options.models_dir = spec.models_dir;
  analyser_options.detector = engine->options_.at("face_detector").get<std::string>();
  analyser_options.detector_size = engine->options_.at("face_detector_size").get<std::string>();
  analyser_options.detector_angles = engine->options_.at("face_detector_angles").get<std::vector<int>>();
  analyser_options.landmarker = engine->options_.at("face_landmarker").get<std::string>();
  if (engine->options_.at("face_detector_score").is_number()) {
    analyser_options.detector_score = engine->options_.at("face_detector_score").get<float>();
  }
  analyser_options.with_recognizer = engine->needs_reference();
  analyser_options.recognizer = engine->options_.at("face_recognizer").get<std::string>();
  analyser_options.session = spec.session;
  int min_size = engine->options_.at("face_detector_min_size").get<int>();
  analyser_options.min_face_size = min_size > 0 ? min_size : spec.min_face_size;
  FF_ASSIGN_OR_RETURN(engine->analyser_, face::FaceAnalyser::open(analyser_options));
  if (engine->selector_.filters_faces()) {  // opened only when a gender/age filter is set
    FF_ASSIGN_OR_RETURN(engine->classifier_, face::AgeGenderClassifier::open(spec.models_dir, spec.session));
  }
  context.analyser = engine->analyser_.get();  // the processors read the sources with it
  if (min_size <= 0 && spec.frame_min_face_size && *spec.frame_min_face_size != analyser_options.min_face_size) {
    FF_ASSIGN_OR_RETURN(engine->frame_analyser_, engine->analyser_->with_min_face_size(*spec.frame_min_face_size));
  }

  for (const auto& name : spec.processors) {
    FF_ASSIGN_OR_RETURN(const processors::ProcessorInfo* info, processors::find_processor(name));
    auto processor = info->create();
    FF_RETURN_IF_ERROR(processor->open(context));
    engine->chain_.push_back(std::move(processor));
  }
  return engine;
}

Status JobEngine::set_reference_frame(const cv::Mat& frame) {
  FF_ASSIGN_OR_RETURN(auto faces, analyser().analyse(frame));
  return set_reference_faces(frame, std::move(faces));
}

Status JobEngine::set_reference_faces(const cv::Mat& frame, std::vector<face::Face> faces) {
  reference_.reset();
  if (faces.empty()) return Status::ok();
  FF_RETURN_IF_ERROR(classify(frame, faces));
  FF_ASSIGN_OR_RETURN(auto kept, face::filter_faces(faces, selector_));
  if (kept.empty()) return Status::ok();  // no face of this frame passes the gender/age filters
  FF_RETURN_IF_ERROR(analyser().embed(frame, faces));
  FF_ASSIGN_OR_RETURN(face::Face reference, face::select_reference_face(faces, selector_));
  reference_ = reference.embedding;
  return Status::ok();
}

Status JobEngine::classify(const cv::Mat& frame, std::vector<face::Face>& faces) const {
  if (!classifier_) return Status::ok();
  return classifier_->classify(frame, faces);
}

Result<std::vector<face::Face>> JobEngine::select(const cv::Mat& frame, std::vector<face::Face> faces) const {
  if (faces.empty()) return faces;
  if (!needs_reference()) {
    FF_RETURN_IF_ERROR(classify(frame, faces));
    return face::select_faces(faces, selector_);
  }
  if (!reference_) return std::vector<face::Face>{};
  FF_RETURN_IF_ERROR(analyser().embed(frame, faces));
  face::FaceReference reference{{*reference_}, analyser().recognizer()};
  return face::select_faces(faces, selector_, &reference);
}

std::vector<int> JobEngine::source_face_counts() const {
  for (const auto& processor : chain_) {
    std::vector<int> counts = processor->source_face_counts();
    if (!counts.empty()) return counts;
  }
  return {};
}

std::vector<processors::ProcessorWarning> JobEngine::take_processor_warnings() {
  std::vector<processors::ProcessorWarning> out;
  for (const auto& processor : chain_) {
    for (auto& w : processor->take_warnings()) out.push_back(std::move(w));
  }
  return out;
}

Status JobEngine::process(processors::FrameContext& frame) const {
  for (const auto& processor : chain_) FF_RETURN_IF_ERROR(processor->process(frame));
  return Status::ok();
}

void add_result_warnings(const JobSpec& spec, const nlohmann::json& options, const std::string& target_name,
                         JobReport& report) {
  const bool video = report.frames > 0;
  const bool reference_mode = options.value("face_selector_mode", std::string()) == "reference";
  const auto requested = static_cast<int64_t>(options.value("reference_frame_number", 0.0));
  const bool filtered = options.value("face_selector_gender", nlohmann::json()).is_string() ||
                        options.value("face_selector_age_start", 0.0) > face::kMinFaceSelectorAge ||
                        options.value("face_selector_age_end", 100.0) < face::kMaxFaceSelectorAge;
  if (video && reference_mode && report.target_faces > 0) {
    if (!report.reference_frame) {
      report.warnings.push_back(fmt::format("no face {}found from reference_frame_number {} on to take the reference "
                                            "face from: nothing was swapped (face_selector_mode many or one swaps "
                                            "faces without a reference)",
                                            filtered ? "passing the face selector's gender/age filters " : "",
                                            requested));
    } else if (*report.reference_frame != requested) {
      report.warnings.push_back(fmt::format("reference frame {} has no face: the reference face was taken from frame "
                                            "{}, the first frame after it with a face",
                                            requested, *report.reference_frame));
    }
  }
  if (report.target_faces == 0) {
    report.warnings.push_back(video ? fmt::format("no face found in any frame of {}: the output is the target "
                                                  "re-encoded",
                                                  target_name)
                                    : fmt::format("no face found in the target {}: the output is the target unchanged",
                                                  target_name));
    return;
  }
  if (report.processed_faces > 0) return;
  const bool swapper =
      std::find(spec.processors.begin(), spec.processors.end(), "face_swapper") != spec.processors.end();
  std::string why = "the face selector kept none of them";
  if (filtered && !reference_mode) {
    why = "none passes the face selector's gender/age filters (face_selector_gender, face_selector_age_start/end)";
  } else if (filtered && video && !report.reference_frame) {
    why = "no face of the reference frames passes the face selector's gender/age filters, so there is no reference "
          "face";
  } else if (reference_mode) {
    why = video && !report.reference_frame
              ? "there is no reference face"
              : "none is the person of the reference face: raise reference_face_distance, choose the reference "
                "with reference_frame_number / reference_face_position, or use face_selector_mode many";
  }
  report.warnings.push_back(fmt::format("{} face(s) found in {}{} but none was {}: {}", report.target_faces,
                                        target_name, video ? " (counted over all frames)" : "",
                                        swapper ? "swapped" : "processed", why));
}

void JobEngine::close() {
  for (const auto& processor : chain_) processor->close();
}

}  // namespace facefuse::pipeline
