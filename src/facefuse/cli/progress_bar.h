// Progress on stderr: a redrawn bar on a terminal, plain periodic lines otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "facefuse/pipeline/job_spec.h"

namespace facefuse::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out);
  void update(const pipeline::ProgressEvent& event);
  void finish();

 private:
  std::FILE* out_;
  bool tty_;
  bool drawn_ = false;
  std::string last_stage_;
  std::chrono::steady_clock::time_point last_line_{};
};

}  // namespace facefuse::cli
