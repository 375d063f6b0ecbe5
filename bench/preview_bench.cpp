// The studio's preview (POST /api/v1/preview → pipeline::PreviewRenderer) on a 720p frame made
// from a real photo and on a frame of a 720p video: cold (a fresh engine: source read and
// analysed, models loaded), warm (the engine reused, as when the user moves a slider) and, as the
// baseline of the same run, a full-size image job on the same frame (`facefuse run` path, output
// written). Prints the machine, the inputs, medians of N runs and the ratios to the baseline.
// Then video frames of two 720p videos: the renderer without its open decoders and frame cache (as
// before) against the current one, alternately, three slider patterns each.
// Goal (issue 15): warm 720p preview < 500 ms on the project's 2-core machine.
//
//   facefuse_bench_preview TESTDATA_DIR [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/core/paths.h"
#include "facefuse/pipeline/image_job.h"
#include "facefuse/pipeline/preview.h"
#include "bench_support.h"

using namespace facefuse;
namespace fs = std::filesystem;

namespace {

double median_ms(int runs, const std::function<bool()>& fn) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (!fn()) return -1;
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (int code = bench::usage_exit(argc, argv, "usage: %s TESTDATA_DIR [--runs N]\n"); code >= 0) {
    return code;
  }
  const fs::path testdata = argv[1];
  int runs = 7;
  if (argc >= 4 && std::string(argv[2]) == "--runs") runs = std::max(1, std::atoi(argv[3]));
  const fs::path temp = fs::temp_directory_path() / "facefuse_bench_preview";
  fs::create_directories(temp);

  // jesper.jpg cropped to 16:9 and scaled to 1280×720 (a real face in a 720p frame).
  cv::Mat photo = cv::imread((testdata / "photos" / "jesper.jpg").string());
  if (photo.empty()) {
    std::fprintf(stderr, "bench: %s is missing: run scripts/setup\n", (testdata / "photos" / "jesper.jpg").c_str());
    return 1;
  }
  int crop_h = std::min(photo.rows, photo.cols * 9 / 16);
  cv::Mat frame;
  cv::resize(photo(cv::Rect(0, (photo.rows - crop_h) / 2, crop_h * 16 / 9, crop_h)), frame, cv::Size(1280, 720), 0, 0,
             cv::INTER_AREA);
  const fs::path target = temp / "target_720p.jpg";
  cv::imwrite(target.string(), frame, {cv::IMWRITE_JPEG_QUALITY, 95});

  pipeline::JobSpec spec;
  spec.sources = {testdata / "photos" / "astronaut.png"};
  spec.target = target;
  spec.output = temp / "output.jpg";
  spec.models_dir = default_models_dir();
  spec.temp_dir = temp;

  std::printf("facefuse preview benchmark\nmachine: %s, %u hardware threads\n", bench::cpu_model().c_str(),
              std::thread::hardware_concurrency());
  std::printf("inputs: source photos/astronaut.png; target jesper.jpg as 1280x720 JPEG; video videos/face_720p.mp4 "
              "frame 50; preview max side %d px; %d runs each (median)\n",
              pipeline::PreviewSettings{}.max_side, runs);

  Status last;
  const double baseline = median_ms(runs, [&] {
    auto r = pipeline::run_image_job(spec);
    last = r ? Status::ok() : r.status();
    return static_cast<bool>(r);
  });
  const double cold = median_ms(runs, [&] {
    pipeline::PreviewRenderer fresh;
    auto r = fresh.render(spec, 0, "key");
    last = r ? Status::ok() : r.status();
    return static_cast<bool>(r);
  });
  pipeline::PreviewRenderer renderer;
  if (auto first = renderer.render(spec, 0, "key"); !first) {
    std::fprintf(stderr, "bench: %s\n", first.status().to_string().c_str());
    return 1;
  }
  const double warm = median_ms(runs, [&] {
    auto r = renderer.render(spec, 0, "key");
    last = r ? Status::ok() : r.status();
    return static_cast<bool>(r);
  });
  double warm_video = -1;
  const fs::path video = testdata / "videos" / "face_720p.mp4";
  if (fs::exists(video)) {
    pipeline::JobSpec vspec = spec;
    vspec.target = video;
    if (renderer.render(vspec, 50, "key")) {
      warm_video = median_ms(runs, [&] { return renderer.render(vspec, 50, "key") ? true : false; });
    }
  }
  if (baseline < 0 || cold < 0 || warm < 0) {
    std::fprintf(stderr, "bench: %s\n", last.to_string().c_str());
    return 1;
  }
  std::printf("%-44s %9s %9s\n", "step", "ms", "ratio");
  std::printf("%-44s %9.1f %9.2f\n", "baseline: full-size image job (run_image_job)", baseline, 1.0);
  std::printf("%-44s %9.1f %9.2f\n", "cold preview (engine opened)", cold, cold / baseline);
  std::printf("%-44s %9.1f %9.2f\n", "warm preview, 720p photo", warm, warm / baseline);
  if (warm_video >= 0) std::printf("%-44s %9.1f %9.2f\n", "warm preview, 720p video frame 50", warm_video, warm_video / baseline);
  std::printf("goal: warm 720p preview < 500 ms -> %s\n", warm < 500 && (warm_video < 0 || warm_video < 500) ? "met" : "NOT met");

  // Video frames far from frame 0: the renderer as it was (a decoder opened and seeked from the
  // keyframe on every render) against the one with open decoders and the reduced-frame cache,
  // alternately (old, new, old, new ...) so load changes on the machine hit both alike.
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto compare = [&](const fs::path& path, const char* label, int64_t start, int64_t last_frame) -> bool {
    if (!fs::exists(path)) return true;
    pipeline::PreviewSettings old_settings;
    old_settings.frame_cache_bytes = 0;
    old_settings.open_videos = 0;
    pipeline::PreviewRenderer old_renderer(old_settings);
    pipeline::PreviewRenderer new_renderer;
    pipeline::JobSpec vspec = spec;
    vspec.target = path;
    if (!old_renderer.render(vspec, start, "key") || !new_renderer.render(vspec, start, "key")) {
      std::fprintf(stderr, "bench: %s cannot be previewed\n", path.c_str());
      return false;
    }
    // `original`: the unprocessed frame the page shows as "before": decoding (and scaling) only.
    auto timed = [&](pipeline::PreviewRenderer& r, int64_t frame, bool original) {
      auto t0 = std::chrono::steady_clock::now();
      if (!r.render(vspec, frame, "key", original)) return -1.0;
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    };
    std::printf("\nvideo preview, %s, warm engine, %d runs each, old and new alternately (median ms)\n", label, runs);
    std::printf("%-52s %9s %9s %9s\n", "pattern", "old", "new", "new/old");
    const int64_t step = std::max<int64_t>(1, std::min<int64_t>(5, (last_frame - start) / (runs + 1)));
    const int64_t back = std::min<int64_t>(60, last_frame - start);
    struct Pattern {
      std::string name;
      std::function<int64_t(int)> frame;
      bool original;
    };
    const Pattern patterns[] = {
        {fmt::format("frame {} again (an option slider moved)", start), [&](int) { return start; }, false},
        {fmt::format("frame slider forward by {} frames", step), [&](int i) { return start + step * (i + 1); }, false},
        {fmt::format("frame slider back and forth ({} / {})", start, start + back),
         [&](int i) { return i % 2 == 0 ? start + back : start; }, false},
        {fmt::format("'before' frame {} again (decode only)", start), [&](int) { return start; }, true},
        {fmt::format("'before' frames back and forth (decode only)"),
         [&](int i) { return i % 2 == 0 ? start + back : start; }, true},
    };
    for (const auto& [name, frame, original] : patterns) {
      std::vector<double> old_ms, new_ms;
      for (int i = 0; i < runs; ++i) {
        old_ms.push_back(timed(old_renderer, frame(i), original));
        new_ms.push_back(timed(new_renderer, frame(i), original));
      }
      const double o = median(old_ms), n = median(new_ms);
      std::printf("%-52s %9.1f %9.1f %9.2f\n", name.c_str(), o, n, n / o);
    }
    return true;
  };
  if (!compare(testdata / "videos" / "face_720p.mp4", "videos/face_720p.mp4 (1280x720, 100 frames)", 50, 99) ||
      !compare(testdata / "videos" / "bench_720p_30s.mp4", "videos/bench_720p_30s.mp4 (1280x720, 750 frames)", 240,
               749)) {
    return 1;
  }
  fs::remove_all(temp);
  return 0;
}
