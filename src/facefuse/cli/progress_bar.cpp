#include "facefuse/cli/progress_bar.h"

#include <unistd.h>

#include <algorithm>

namespace facefuse::cli {

ProgressBar::ProgressBar(std::FILE* out) : out_(out), tty_(isatty(fileno(out)) != 0) {}

void ProgressBar::update(const std::string& stage, double fraction) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  int percent = static_cast<int>(fraction * 100.0 + 0.5);
  if (tty_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(out_, "\r[%s] %3d%% %-24s", bar.c_str(), percent, stage.c_str());
    std::fflush(out_);
    drawn_ = true;
    return;
  }
  // Non-terminal: one line per stage change, and at most one per second within a stage.
  auto now = std::chrono::steady_clock::now();
  if (stage != last_stage_ || now - last_line_ >= std::chrono::seconds(1)) {
    std::fprintf(out_, "facefuse: %3d%% %s\n", percent, stage.c_str());
    last_stage_ = stage;
    last_line_ = now;
  }
}

void ProgressBar::finish() {
  if (tty_ && drawn_) std::fprintf(out_, "\n");
  drawn_ = false;
}

}  // namespace facefuse::cli
