// Progress on stderr: a redrawn bar on a terminal, plain periodic lines otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace facefuse::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out);
  // stage: what is happening; fraction: 0–1 of the whole job.
  void update(const std::string& stage, double fraction);
  void finish();

 private:
  std::FILE* out_;
  bool tty_;
  bool drawn_ = false;
  std::string last_stage_;
  std::chrono::steady_clock::time_point last_line_{};
};

}  // namespace facefuse::cli
