// Image → image workflow: read target and sources, analyse, select faces, run the processors in
// the order given, write the output atomically.
#pragma once

#include <opencv2/core.hpp>

#include "facefuse/media/image_io.h"
#include "facefuse/pipeline/job_spec.h"

namespace facefuse::pipeline {

// Validates everything that can be validated before heavy work (options, paths, formats, models),
// then runs. A target without faces is not an error: the output is the target, with a warning.
// On any failure no output file is left behind.
Result<JobReport> run_image_job(const JobSpec& spec, const ProgressCallback& progress = {});

// The same on a target already in memory (e.g. a frame taken from a video); `target_name` is used
// in messages; `traits` (optional) is what the target file was — the output is written like it
// (grayscale kept grayscale, alpha kept for PNG/WebP outputs).
Result<JobReport> run_image_job_on(const JobSpec& spec, cv::Mat target, const std::string& target_name,
                                   const ProgressCallback& progress = {}, const media::ImageTraits* traits = nullptr);

}  // namespace facefuse::pipeline
