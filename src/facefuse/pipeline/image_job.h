// Image → image workflow: read target and sources, analyse, select faces, run the processors in
// the order given, write the output atomically.
#pragma once

#include "facefuse/pipeline/job_spec.h"

namespace facefuse::pipeline {

// Validates everything that can be validated before heavy work (options, paths, formats, models),
// then runs. A target without faces is not an error: the output is the target, with a warning.
// On any failure no output file is left behind.
Result<JobReport> run_image_job(const JobSpec& spec, const ProgressCallback& progress = {});

}  // namespace facefuse::pipeline
