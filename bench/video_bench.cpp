// Video benchmark, all figures from one invocation on this machine:
//  1. throughput: facefuse end to end (classical swap, one face, 720p, 30 s) vs a plain FFmpeg
//     decode + encode of the same file with the same encoder, preset and CRF → ratio
//     (target ≥ 0.5 on 2 cores), with the per-stage split of facefuse's CPU time;
//  2. memory (--long): peak RSS of `facefuse run` on a 1-minute and a 10-minute clip made from the
//     same material → ratio (target: within 10 %).
//
//   facefuse_bench_video TESTDATA_DIR [--long]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "facefuse/core/paths.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/media/video_writer.h"
#include "facefuse/pipeline/run_job.h"
#include "bench_support.h"

using namespace facefuse;

namespace {

struct ChildResult {
  int exit_code = -1;
  double seconds = 0;
  double cpu_seconds = 0;  // user + system, all threads
  long peak_rss_kb = 0;
};

double cpu_seconds(const rusage& u) {
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Runs a command (no shell) and reports its wall time and peak resident memory.
ChildResult run_child(const std::vector<std::string>& argv) {
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  ChildResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.cpu_seconds = cpu_seconds(usage);
  r.peak_rss_kb = usage.ru_maxrss;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TESTDATA_DIR [--long]\n", argv[0]);
    return 2;
  }
  std::filesystem::path data = argv[1];
  bool long_run = argc > 2 && std::string(argv[2]) == "--long";
  auto clip = data / "videos/bench_720p_30s.mp4";
  auto source = data / "photos/astronaut.png";
  auto tmp = std::filesystem::temp_directory_path() / fmt::format("facefuse-bench-{}", getpid());
  std::filesystem::create_directories(tmp);
  const std::string preset = "veryfast";
  const int quality = 80;
  const int crf = media::quality_to_crf("libx264", quality);

  auto info = media::probe_video(clip);
  if (!info) {
    std::fprintf(stderr, "bench: %s (run scripts/make_test_videos)\n", info.status().to_string().c_str());
    return 1;
  }
  std::printf("facefuse video benchmark\nmachine: %s, %u hardware threads\n", bench::cpu_model().c_str(),
              std::thread::hardware_concurrency());
  std::printf("clip: %s, %dx%d, %lld frames at %.2f fps; encoder libx264 preset %s CRF %d\n\n",
              clip.filename().c_str(), info->width, info->height, static_cast<long long>(info->frame_count), info->fps,
              preset.c_str(), crf);

  // 1. Baseline: the ffmpeg program decoding and re-encoding the same clip (video only).
  auto baseline = run_child({"ffmpeg", "-nostdin", "-v", "error", "-y", "-i", clip.string(), "-an", "-c:v", "libx264",
                             "-preset", preset, "-crf", std::to_string(crf), "-pix_fmt", "yuv420p",
                             (tmp / "baseline.mp4").string()});
  if (baseline.exit_code != 0) {
    std::fprintf(stderr, "bench: ffmpeg baseline failed\n");
    return 1;
  }
  double baseline_fps = static_cast<double>(info->frame_count) / baseline.seconds;

  pipeline::JobSpec spec;
  spec.sources = {source};
  spec.target = clip;
  spec.output = tmp / "facefuse.mp4";
  spec.models_dir = default_models_dir();
  spec.video.preset = preset;
  spec.video.quality = quality;
  spec.options = {{"face_selector_mode", "many"}};
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  auto report = pipeline::run_job(spec);
  getrusage(RUSAGE_SELF, &after);
  if (!report) {
    std::fprintf(stderr, "bench: %s\n", report.status().to_string().c_str());
    return 1;
  }
  double facefuse_fps = static_cast<double>(report->frames) / report->seconds;
  std::printf("%-34s %8.1f fps  (%.1f s)\n", "ffmpeg decode + encode (baseline)", baseline_fps, baseline.seconds);
  std::printf("%-34s %8.1f fps  (%.1f s, %d faces swapped)\n", "facefuse run (classical swap)", facefuse_fps,
              report->seconds, report->processed_faces);
  std::printf("%-34s %8.2f     (target >= 0.50)\n", "ratio facefuse / baseline", facefuse_fps / baseline_fps);
  // CPU time is steadier than wall time when other work shares the machine.
  const double frames = static_cast<double>(info->frame_count);
  const double facefuse_cpu_ms = 1000.0 * (cpu_seconds(after) - cpu_seconds(before)) / frames;
  const double baseline_cpu_ms = 1000.0 * baseline.cpu_seconds / frames;
  std::printf("%-34s %8.1f ms ffmpeg, %.1f ms facefuse: ratio %.2f\n\n", "CPU time per frame (all threads)",
              baseline_cpu_ms, facefuse_cpu_ms, baseline_cpu_ms / facefuse_cpu_ms);
  const auto& t = report->timings;
  double cpu = t.analyse_ms + t.track_ms + t.process_ms + t.write_ms;
  std::printf("facefuse time split (ms per frame, summed over threads; encode runs in its own thread):\n");
  for (auto [name, ms] : {std::pair{"analyse (detect + landmarks)", t.analyse_ms}, std::pair{"track + select", t.track_ms},
                          std::pair{"process (swap)", t.process_ms}, std::pair{"encode", t.write_ms}}) {
    std::printf("  %-30s %8.2f  %5.1f %%\n", name, ms / static_cast<double>(report->frames), 100.0 * ms / cpu);
  }
  std::printf("  %-30s %8.0f ms\n\n", "model loading (once)", t.open_ms);

  if (long_run) {
    std::printf("peak memory, `facefuse run` on clips made from the same material:\n");
    long rss[2] = {0, 0};
    const char* clips[2] = {"videos/long_720p_1min.mp4", "videos/long_720p_10min.mp4"};
    for (int i = 0; i < 2; ++i) {
      auto r = run_child({FACEFUSE_BINARY, "run", "--log-level", "error", "-s", source.string(), "-t",
                          (data / clips[i]).string(), "-o", (tmp / "long.mp4").string(), "--output-video-preset",
                          "ultrafast", "--face-selector-mode", "many"});
      if (r.exit_code != 0) {
        std::fprintf(stderr, "bench: facefuse failed on %s (make it with scripts/make_test_videos --long)\n", clips[i]);
        return 1;
      }
      rss[i] = r.peak_rss_kb;
      std::printf("  %-28s peak RSS %7.1f MB  (%.0f s)\n", clips[i], static_cast<double>(r.peak_rss_kb) / 1024.0, r.seconds);
    }
    std::printf("  ratio 10 min / 1 min: %.3f (target within 1.10)\n",
                static_cast<double>(rss[1]) / static_cast<double>(rss[0]));
  }
  std::filesystem::remove_all(tmp);
  return 0;
}
