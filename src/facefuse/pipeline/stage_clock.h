// Wall-clock laps for per-stage timings.
#pragma once

#include <chrono>

namespace facefuse::pipeline {

class StageClock {
 public:
  // Milliseconds since the previous lap (or construction).
  double lap_ms() {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }
  double total_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ = start_;
};

}  // namespace facefuse::pipeline
