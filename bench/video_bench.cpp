// Video benchmark, all figures from one invocation on this machine:
//  1. throughput: `facefuse run` end to end (classical swap) vs a plain FFmpeg decode + encode of the
//     same file with the same encoder, preset and CRF → ratio (target ≥ 0.5 on 2 cores; issue 17
//     aims at 0.65), on a 30 s 720p zoom over a photo and on a 720p talking-head shot whose face
//     fills a third of the frame; optionally an older build's binary run alternately with this one
//     (before/after figures) and the per-stage split of facefuse's CPU time (--split);
//  2. memory (--long): peak RSS of `facefuse run` on a 1-minute and a 10-minute clip made from the
//     same material → ratio (target: within 10 %).
//
//   facefuse_bench_video TESTDATA_DIR [--long] [--runs N] [--clip videos/NAME]... [--baseline-cli BIN] [--split]
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

// Runs a command (no shell, output discarded) and reports its wall time, CPU time and peak resident
// memory.
ChildResult run_child(const std::vector<std::string>& argv) {
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    // The child's progress lines and messages would bury the figures: silenced.
    const int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) {
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
    }
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

// One facefuse CLI run of `clip` as a child (so an older build's binary is measured the same way).
ChildResult run_facefuse(const std::string& binary, const std::filesystem::path& source,
                         const std::filesystem::path& clip, const std::filesystem::path& output,
                         const std::string& preset, int quality) {
  return run_child({binary, "run", "--log-level", "error", "-s", source.string(), "-t", clip.string(), "-o",
                    output.string(), "--output-video-preset", preset, "--output-video-quality",
                    std::to_string(quality), "--face-selector-mode", "many"});
}

std::string join_figures(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += fmt::format("{}{:.2f}", out.empty() ? "" : ", ", x);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage =
      "usage: %s TESTDATA_DIR [--long] [--runs N] [--clip videos/NAME]... [--source photos/NAME]\n"
      "       [--baseline-cli OLD_FACEFUSE] [--split]\n"
      "  --runs N            runs per clip (default 1); medians are printed\n"
      "  --clip NAME         clip under TESTDATA_DIR (default: videos/bench_720p_30s.mp4 and\n"
      "                      videos/talking_head_720p.mp4)\n"
      "  --source NAME       source photo under TESTDATA_DIR (default: photos/astronaut.png, a ~114 px\n"
      "                      face; photos/jesper.jpg has a ~650 px one)\n"
      "  --baseline-cli BIN  also run an older build's facefuse binary, alternating with this one\n"
      "  --split             also run the pipeline in-process once per clip and print its time split\n";
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each run's line shows as it ends, also into a file
  if (int code = bench::usage_exit(argc, argv, usage); code >= 0) {
    return code;
  }
  std::filesystem::path data = argv[1];
  bool long_run = false, split = false;
  int runs = 1;
  std::vector<std::string> clip_names;
  std::string baseline_cli, source_name = "photos/astronaut.png";
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--long") {
      long_run = true;
    } else if (a == "--split") {
      split = true;
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--clip" && i + 1 < argc) {
      clip_names.emplace_back(argv[++i]);
    } else if (a == "--source" && i + 1 < argc) {
      source_name = argv[++i];
    } else if (a == "--baseline-cli" && i + 1 < argc) {
      baseline_cli = argv[++i];
    } else {
      std::fprintf(stderr, usage, argv[0]);
      return 2;
    }
  }
  if (clip_names.empty()) clip_names = {"videos/bench_720p_30s.mp4", "videos/talking_head_720p.mp4"};
  auto source = data / source_name;
  auto tmp = std::filesystem::temp_directory_path() / fmt::format("facefuse-bench-{}", getpid());
  std::filesystem::create_directories(tmp);
  const std::string preset = "veryfast";
  const int quality = 80;
  const int crf = media::quality_to_crf("libx264", quality);
  std::printf("facefuse video benchmark\nmachine: %s, %u hardware threads; encoder libx264 preset %s CRF %d, "
              "source %s\n",
              bench::cpu_model().c_str(), std::thread::hardware_concurrency(), preset.c_str(), crf,
              source.filename().c_str());
  if (!baseline_cli.empty()) {
    std::printf("baseline binary: %s (run alternately with this build's)\n", baseline_cli.c_str());
  }

  for (const auto& name : clip_names) {
    const auto clip = data / name;
    auto info = media::probe_video(clip);
    if (!info) {
      std::fprintf(stderr, "bench: %s (run scripts/make_test_videos)\n", info.status().to_string().c_str());
      return 1;
    }
    const double frames = static_cast<double>(info->frame_count);
    std::printf("\nclip: %s, %dx%d, %lld frames at %.2f fps\n", name.c_str(), info->width, info->height,
                static_cast<long long>(info->frame_count), info->fps);
    // Per run: the ffmpeg program decoding and re-encoding the clip (video only, the baseline), this
    // build's facefuse and, when given, the older one; the order of the two facefuse runs alternates.
    // Ratios are facefuse fps / ffmpeg fps of the same run (wall) and ffmpeg CPU / facefuse CPU per
    // frame (all threads; steadier than wall time when other work shares the machine).
    std::vector<double> wall_new, wall_old, cpu_new, cpu_old, ffmpeg_fps;
    for (int run = 0; run < runs; ++run) {
      auto baseline = run_child({"ffmpeg", "-nostdin", "-v", "error", "-y", "-i", clip.string(), "-an", "-c:v",
                                 "libx264", "-preset", preset, "-crf", std::to_string(crf), "-pix_fmt", "yuv420p",
                                 (tmp / "baseline.mp4").string()});
      if (baseline.exit_code != 0) {
        std::fprintf(stderr, "bench: ffmpeg baseline failed\n");
        return 1;
      }
      ffmpeg_fps.push_back(frames / baseline.seconds);
      auto measure = [&](const std::string& binary, std::vector<double>& wall, std::vector<double>& cpu) {
        auto r = run_facefuse(binary, source, clip, tmp / "facefuse.mp4", preset, quality);
        if (r.exit_code != 0) {
          std::fprintf(stderr, "bench: %s failed on %s (exit %d)\n", binary.c_str(), name.c_str(), r.exit_code);
          return false;
        }
        wall.push_back(baseline.seconds / r.seconds);
        cpu.push_back(baseline.cpu_seconds / r.cpu_seconds);
        std::printf("  run %d %-5s %6.1f fps (ffmpeg %5.1f fps): wall ratio %.2f, CPU ratio %.2f\n", run + 1,
                    &wall == &wall_new ? "new" : "old", frames / r.seconds, frames / baseline.seconds, wall.back(),
                    cpu.back());
        return true;
      };
      const bool old_first = !baseline_cli.empty() && run % 2 == 1;
      if (old_first && !measure(baseline_cli, wall_old, cpu_old)) return 1;
      if (!measure(FACEFUSE_BINARY, wall_new, cpu_new)) return 1;
      if (!baseline_cli.empty() && !old_first && !measure(baseline_cli, wall_old, cpu_old)) return 1;
    }
    std::printf("  %-34s %.1f fps\n", "ffmpeg decode + encode, median", bench::median(ffmpeg_fps));
    std::printf("  %-34s wall %.2f [%s], CPU %.2f [%s]   (target >= 0.50)\n", "ratio facefuse / ffmpeg, median",
                bench::median(wall_new), join_figures(wall_new).c_str(), bench::median(cpu_new), join_figures(cpu_new).c_str());
    if (!baseline_cli.empty()) {
      std::printf("  %-34s wall %.2f [%s], CPU %.2f [%s]\n", "baseline binary, median", bench::median(wall_old),
                  join_figures(wall_old).c_str(), bench::median(cpu_old), join_figures(cpu_old).c_str());
    }
    if (!split) continue;
    pipeline::JobSpec spec;
    spec.sources = {source};
    spec.target = clip;
    spec.output = tmp / "facefuse.mp4";
    spec.models_dir = default_models_dir();
    spec.video.preset = preset;
    spec.video.quality = quality;
    spec.options = {{"face_selector_mode", "many"}};
    auto report = pipeline::run_job(spec);
    if (!report) {
      std::fprintf(stderr, "bench: %s\n", report.status().to_string().c_str());
      return 1;
    }
    const auto& t = report->timings;
    double cpu = t.analyse_ms + t.track_ms + t.process_ms + t.write_ms;
    std::printf("  time split (ms per frame, summed over threads; encode runs in its own thread; %d faces swapped):\n",
                report->processed_faces);
    for (auto [stage, ms] : {std::pair{"analyse (detect + landmarks)", t.analyse_ms},
                             std::pair{"track + select", t.track_ms}, std::pair{"process (swap)", t.process_ms},
                             std::pair{"encode", t.write_ms}}) {
      std::printf("    %-30s %8.2f  %5.1f %%\n", stage, ms / static_cast<double>(report->frames), 100.0 * ms / cpu);
    }
    std::printf("    %-30s %8.0f ms\n", "model loading (once)", t.open_ms);
  }
  std::printf("\n");

  if (long_run) {
    std::printf("peak memory, `facefuse run` on clips made from the same material:\n");
    long rss[2] = {0, 0};
    const char* clips[2] = {"videos/long_720p_1min.mp4", "videos/long_720p_10min.mp4"};
    for (int i = 0; i < 2; ++i) {
      // ultrafast: only the length matters for memory.
      auto r = run_facefuse(FACEFUSE_BINARY, source, data / clips[i], tmp / "long.mp4", "ultrafast", quality);
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
