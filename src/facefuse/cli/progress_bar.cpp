#include "facefuse/cli/progress_bar.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace facefuse::cli {
namespace {

// "frames 120/750, 31.2 fps, ETA 0:20" for video stages; empty for image stages.
std::string frame_details(const pipeline::ProgressEvent& e) {
  if (e.frames_total <= 0) return {};
  std::string s = fmt::format("frames {}/{}", e.frames_done, e.frames_total);
  if (e.fps > 0) s += fmt::format(", {:.1f} fps", e.fps);
  if (e.eta_seconds >= 0) {
    auto eta = static_cast<long>(e.eta_seconds + 0.5);
    s += fmt::format(", ETA {}:{:02}", eta / 60, eta % 60);
  }
  return s;
}

}  // namespace

ProgressBar::ProgressBar(std::FILE* out) : out_(out), tty_(isatty(fileno(out)) != 0) {}

void ProgressBar::update(const pipeline::ProgressEvent& event) {
  double fraction = std::clamp(event.fraction, 0.0, 1.0);
  int percent = static_cast<int>(fraction * 100.0 + 0.5);
  std::string details = frame_details(event);
  if (tty_) {
    constexpr int kWidth = 30;
    std::string bar(static_cast<size_t>(fraction * kWidth), '#');
    bar.resize(kWidth, '.');
    std::fprintf(out_, "\r[%s] %3d%% %-18s %-40s", bar.c_str(), percent, event.stage.c_str(), details.c_str());
    std::fflush(out_);
    drawn_ = true;
    return;
  }
  // Not a terminal: one line per stage change, and at most one every 2 s within a stage.
  auto now = std::chrono::steady_clock::now();
  if (event.stage != last_stage_ || now - last_line_ >= std::chrono::seconds(2)) {
    std::fprintf(out_, "facefuse: %3d%% %s%s%s\n", percent, event.stage.c_str(), details.empty() ? "" : " ", details.c_str());
    last_stage_ = event.stage;
    last_line_ = now;
  }
}

void ProgressBar::finish() {
  if (tty_ && drawn_) std::fprintf(out_, "\n");
  drawn_ = false;
}

}  // namespace facefuse::cli
