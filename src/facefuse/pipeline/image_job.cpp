#include "facefuse/pipeline/image_job.h"

#include <fmt/format.h>

#include "facefuse/media/image_io.h"
#include "facefuse/media/synthetic_label.h"
#include "facefuse/pipeline/job_engine.h"
#include "facefuse/pipeline/stage_clock.h"

namespace facefuse::pipeline {

Result<JobReport> run_image_job(const JobSpec& spec, const ProgressCallback& progress) {
  media::ImageTraits traits;
  FF_ASSIGN_OR_RETURN(cv::Mat target, media::read_image(spec.target, {spec.max_pixels}, &traits));
  return run_image_job_on(spec, std::move(target), spec.target.string(), progress, &traits);
}

Result<JobReport> run_image_job_on(const JobSpec& spec, cv::Mat target, const std::string& target_name,
                                   const ProgressCallback& progress, const media::ImageTraits* traits) {
  auto step = [&](const char* stage, double fraction) {
    if (progress) progress({stage, fraction});
  };
  JobReport report;
  report.output = spec.output;
  StageClock clock;
  FF_RETURN_IF_ERROR(media::check_image_output_path(spec.output));

  step("loading models", 0.1);
  FF_ASSIGN_OR_RETURN(auto engine, JobEngine::open(spec));
  report.timings.open_ms = clock.lap_ms();
  report.source_faces = engine->source_face_counts();

  step("analysing target", 0.5);
  FF_ASSIGN_OR_RETURN(auto faces, engine->analyser().analyse(target));
  report.target_faces = static_cast<int>(faces.size());
  if (engine->needs_reference()) {
    // Embedded once here: the reference and the selection both use these embeddings.
    FF_RETURN_IF_ERROR(engine->analyser().embed(target, faces));
    FF_RETURN_IF_ERROR(engine->set_reference_faces(target, faces));
  }
  FF_ASSIGN_OR_RETURN(auto selected, engine->select(target, std::move(faces)));
  report.processed_faces = static_cast<int>(selected.size());
  report.timings.analyse_ms = clock.lap_ms();
  add_result_warnings(spec, engine->options(), target_name, report);

  step("processing", 0.7);
  processors::FrameContext frame{std::move(target), std::move(selected), 0, /*still_image=*/true};
  FF_RETURN_IF_ERROR(engine->process(frame));
  for (auto& w : processors::render_warnings(engine->take_processor_warnings()))
    report.warnings.push_back(std::move(w));
  engine->close();
  report.timings.process_ms = clock.lap_ms();

  step("writing", 0.9);
  media::ImageWriteOptions write;
  write.quality = spec.output_quality;
  write.traits = traits;  // grey stays grey, transparency is kept (PNG/WebP)
  if (spec.synthetic_label) write.xmp = media::synthetic_media_xmp();
  const auto output_format = media::image_format_for_path(spec.output);
  if (traits != nullptr && !traits->alpha.empty() && output_format && *output_format == media::ImageFormat::kJpeg) {
    report.warnings.push_back(fmt::format("{} has transparency, which JPEG cannot hold: write a .png or .webp to keep it",
                                          target_name));
  }
  FF_RETURN_IF_ERROR(media::write_image(spec.output, frame.frame, write));
  report.timings.write_ms = clock.lap_ms();
  report.seconds = clock.total_ms() / 1000.0;
  step("done", 1.0);
  return report;
}

}  // namespace facefuse::pipeline
