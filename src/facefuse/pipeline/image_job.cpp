#include "facefuse/pipeline/image_job.h"

#include <chrono>

#include <fmt/format.h>

#include "facefuse/face/face_analyser.h"
#include "facefuse/media/image_io.h"
#include "facefuse/pipeline/face_selection.h"
#include "facefuse/processors/registry.h"

namespace facefuse::pipeline {
namespace {

class StageClock {
 public:
  double lap_ms() {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

Result<JobReport> run_image_job(const JobSpec& spec, const ProgressCallback& progress) {
  auto step = [&](const char* stage, double fraction) {
    if (progress) progress(stage, fraction);
  };
  JobReport report;
  report.output = spec.output;
  StageClock clock;

  // Cheap checks first, so a typo fails in milliseconds rather than after model loading.
  FF_ASSIGN_OR_RETURN(nlohmann::json options, processors::validate_options(spec.processors, spec.options));
  FF_RETURN_IF_ERROR(media::check_image_output_path(spec.output));
  if (spec.sources.empty()) return invalid_argument("no source image given: pass one or more with -s");

  step("reading images", 0.0);
  media::ImageReadOptions read_options{spec.max_pixels};
  FF_ASSIGN_OR_RETURN(cv::Mat target, media::read_image(spec.target, read_options));
  processors::ProcessorContext context;
  context.models_dir = spec.models_dir;
  context.options = options;
  for (const auto& source : spec.sources) {
    FF_ASSIGN_OR_RETURN(cv::Mat image, media::read_image(source, read_options));
    context.source_images.push_back(std::move(image));
    context.source_names.push_back(source.string());
  }
  report.timings.read_ms = clock.lap_ms();

  step("loading models", 0.1);
  face::FaceAnalyserOptions analyser_options;
  analyser_options.models_dir = spec.models_dir;
  analyser_options.detector = options.at("face_detector").get<std::string>();
  if (options.at("face_detector_score").is_number()) {
    analyser_options.detector_score = options.at("face_detector_score").get<float>();
  }
  analyser_options.with_recognizer = selection_needs_recognizer(options);
  analyser_options.session = spec.session;
  FF_ASSIGN_OR_RETURN(auto analyser, face::FaceAnalyser::open(analyser_options));
  context.analyser = analyser.get();

  step("analysing sources", 0.2);
  std::vector<std::unique_ptr<processors::FrameProcessor>> chain;
  for (const auto& name : spec.processors) {
    FF_ASSIGN_OR_RETURN(const processors::ProcessorInfo* info, processors::find_processor(name));
    auto processor = info->create();
    FF_RETURN_IF_ERROR(processor->open(context));
    chain.push_back(std::move(processor));
  }
  report.timings.open_ms = clock.lap_ms();

  step("analysing target", 0.5);
  FF_ASSIGN_OR_RETURN(SelectionResult selection, select_target_faces(*analyser, target, target, options));
  report.target_faces = selection.found;
  report.processed_faces = static_cast<int>(selection.selected.size());
  report.timings.analyse_ms = clock.lap_ms();
  if (selection.found == 0) {
    report.warnings.push_back(fmt::format("no face found in the target {}: the output is the target unchanged",
                                          spec.target.string()));
  }

  step("processing", 0.7);
  processors::FrameContext frame{target, std::move(selection.selected), 0};
  for (const auto& processor : chain) FF_RETURN_IF_ERROR(processor->process(frame));
  for (const auto& processor : chain) processor->close();
  report.timings.process_ms = clock.lap_ms();

  step("writing", 0.9);
  FF_RETURN_IF_ERROR(media::write_image(spec.output, frame.frame, spec.output_quality));
  report.timings.write_ms = clock.lap_ms();
  step("done", 1.0);
  return report;
}

}  // namespace facefuse::pipeline
