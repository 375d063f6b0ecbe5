#include "facefuse/cli/commands.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "facefuse/cli/progress_bar.h"
#include "facefuse/cli/serve_command.h"
#include "facefuse/cli/store_flags.h"
#include "facefuse/cli/worker_command.h"
#include "facefuse/core/error_codes.h"
#include "facefuse/core/log.h"
#include "facefuse/core/paths.h"
#include "facefuse/inference/model_catalog.h"
#include "facefuse/inference/model_downloader.h"
#include "facefuse/pipeline/detect.h"
#include "facefuse/pipeline/run_job.h"
#include "facefuse/processors/registry.h"

namespace facefuse::cli {
namespace {

struct GlobalFlags {
  std::string log_level = "info";
  bool log_json = false;
  std::string models_dir;
  std::string execution_provider = "cpu";
  int execution_device_id = 0;
  int execution_thread_count = 0;
};

// Ctrl-C / SIGTERM / SIGHUP (closed terminal, dropped SSH session) during `run` cancel the job at
// the next frame: temporary files are removed and no output is written. A second signal ends the
// process at once. SIGPIPE is ignored for the whole process (main.cpp).
pipeline::CancelToken* g_cancel_target = nullptr;
constexpr int kCancelSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void cancel_job_on_signal(int signal_number) {
  if (g_cancel_target != nullptr) {
    g_cancel_target->cancel();  // an atomic store: async-signal-safe
    g_cancel_target = nullptr;
  } else {
    std::_Exit(128 + signal_number);
  }
}

class CancelOnSignal {
 public:
  explicit CancelOnSignal(pipeline::CancelToken& token) {
    g_cancel_target = &token;
    for (int s : kCancelSignals) std::signal(s, cancel_job_on_signal);
  }
  ~CancelOnSignal() {
    for (int s : kCancelSignals) std::signal(s, SIG_DFL);
    g_cancel_target = nullptr;
  }
};

// Prints a Status the way a person can act on it and returns its exit code.
int report_failure(const Status& status) {
  std::fprintf(stderr, "facefuse: error: %s\n", status.message().c_str());
  return exit_code_for(status.code());
}

void add_global_flags(CLI::App& app, GlobalFlags& g) {
  app.add_option("--log-level", g.log_level, "trace, debug, info, warn, error or off")
      ->envname("FACEFUSE_LOG_LEVEL")->capture_default_str();
  app.add_flag("--log-json", g.log_json, "write log lines as JSON objects")->envname("FACEFUSE_LOG_JSON");
  app.add_option("--models-dir", g.models_dir, "directory with the model files")
      ->envname("FACEFUSE_MODELS_DIR")->capture_default_str();
  app.add_option("--execution-providers", g.execution_provider, "inference backend: cpu, cuda or tensorrt")
      ->envname("FACEFUSE_EXECUTION_PROVIDERS")->capture_default_str();
  app.add_option("--execution-device-id", g.execution_device_id, "GPU index for cuda/tensorrt")->capture_default_str();
  app.add_option("--execution-thread-count", g.execution_thread_count,
                 "threads per inference (0 = one per core)")->envname("FACEFUSE_EXECUTION_THREAD_COUNT")->capture_default_str();
}

Result<inference::SessionOptions> session_options(const GlobalFlags& g) {
  inference::SessionOptions so;
  FF_ASSIGN_OR_RETURN(so.provider, inference::parse_execution_provider(g.execution_provider));
  so.device_id = g.execution_device_id;
  if (g.execution_thread_count < 0) return invalid_argument("--execution-thread-count must be 0 or more");
  so.intra_op_threads = g.execution_thread_count;
  return so;
}

std::string flag_name(const std::string& option) {
  std::string flag = "--" + option;
  for (char& c : flag) if (c == '_') c = '-';
  return flag;
}

// "0,90" or "0 90" → [0, 90] (the CLI form of a number_list option).
Result<nlohmann::json> parse_number_list(const std::string& flag, const std::string& text) {
  nlohmann::json out = nlohmann::json::array();
  std::string item;
  std::istringstream in(text);
  while (in >> std::ws && std::getline(in, item, ',')) {
    std::istringstream words(item);
    std::string word;
    while (words >> word) {
      try {
        size_t used = 0;
        double v = std::stod(word, &used);
        if (used != word.size()) throw std::invalid_argument("trailing text");
        out.push_back(v == std::floor(v) ? nlohmann::json(static_cast<int64_t>(v)) : nlohmann::json(v));
      } catch (const std::exception&) {
        return invalid_argument(fmt::format("{} expects comma-separated numbers, got '{}'", flag, text));
      }
    }
  }
  return out;
}

// A default as the CLI spells it: strings bare, lists comma-separated.
std::string default_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (!value.is_array()) return value.dump();
  std::string text;
  for (const auto& item : value) text += (text.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
  return text;
}

std::string option_help(const processors::OptionSpec& spec) {
  std::string help = spec.help;
  if (!spec.choices.empty()) help += fmt::format(" ({})", fmt::join(spec.choices, ", "));
  else if (spec.type == "number") help += fmt::format(" [{}..{}]", spec.min, spec.max);
  return help;
}

// Flags generated from the processors' option schemas, so CLI and API accept the same options.
class SchemaFlags {
 public:
  void add_all(CLI::App& app) {
    add_group(app, "Face analysis", processors::common_options());
    for (const auto& p : processors::processor_registry()) add_group(app, std::string(p.name), p.options);
  }

  // The options the user set, as typed JSON values (validation of ranges happens in the library).
  Result<nlohmann::json> to_json() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, entry] : values_) {
      if (entry.bool_option != nullptr) {
        if (entry.bool_option->count() > 0) out[name] = entry.flag;
        continue;
      }
      if (entry.text.empty()) continue;
      if (entry.type == "number_list") {
        FF_ASSIGN_OR_RETURN(out[name], parse_number_list(flag_name(name), entry.text));
      } else if (entry.type == "number") {
        try {
          size_t used = 0;
          double v = std::stod(entry.text, &used);
          if (used != entry.text.size()) throw std::invalid_argument("trailing text");
          out[name] = v;
        } catch (const std::exception&) {
          return invalid_argument(fmt::format("{} expects a number, got '{}'", flag_name(name), entry.text));
        }
      } else {
        out[name] = entry.text;
      }
    }
    return out;
  }

 private:
  struct Entry {
    std::string type;
    std::string text;
    bool flag = false;
    CLI::Option* bool_option = nullptr;
  };

  void add_group(CLI::App& app, const std::string& group, const std::vector<processors::OptionSpec>& specs) {
    for (const auto& spec : specs) {
      if (values_.count(spec.name) != 0) continue;
      Entry& e = values_[spec.name];
      e.type = spec.type;
      if (spec.type == "boolean") {
        e.bool_option = app.add_flag(flag_name(spec.name), e.flag, option_help(spec))->group(group);
      } else {
        app.add_option(flag_name(spec.name), e.text, option_help(spec))
            ->group(group)
            ->default_str(default_text(spec.default_value));
      }
    }
  }

  std::map<std::string, Entry> values_;
};

// ---- models: list | download | verify ----

std::string human_size(int64_t bytes) {
  if (bytes <= 0) return "-";
  if (bytes < 1024 * 1024) return fmt::format("{:.1f} KB", bytes / 1024.0);
  return fmt::format("{:.1f} MB", bytes / (1024.0 * 1024.0));
}

int64_t installed_size(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

int run_models_list(const GlobalFlags& g, bool as_json, bool verify) {
  std::filesystem::path dir = g.models_dir;
  auto check = verify ? inference::IntegrityCheck::kHash : inference::IntegrityCheck::kPresence;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& m : inference::model_catalog()) {
    auto state = inference::model_state(m, dir, check);
    auto path = dir / m.file;
    int64_t size = state == inference::ModelState::kMissing ? m.size : installed_size(path);
    rows.push_back({{"id", m.id}, {"kind", m.kind}, {"state", inference::model_state_name(state)},
                    {"size", size}, {"path", path.string()}, {"license", m.license}, {"default", m.is_default},
                    {"downloadable", m.downloadable()}, {"release", m.release}});
  }
  if (as_json) {
    std::cout << nlohmann::json{{"models_dir", dir.string()}, {"verified", verify}, {"models", rows}}.dump(2) << "\n";
    return kExitOk;
  }
  // Paths share the models directory printed above: the table shows file names.
  std::cout << fmt::format("models directory: {}{}\n\n{:<28} {:<19} {:<9} {:>9}  {:<30} {}\n", dir.string(),
                           verify ? " (CRC32 checked)" : "", "ID", "KIND", "STATE", "SIZE", "FILE", "LICENCE");
  for (const auto& r : rows) {
    std::cout << fmt::format("{:<28} {:<19} {:<9} {:>9}  {:<30} {}\n", r["id"].get<std::string>(),
                             r["kind"].get<std::string>(), r["state"].get<std::string>(),
                             human_size(r["size"].get<int64_t>()),
                             std::filesystem::path(r["path"].get<std::string>()).filename().string(),
                             r["license"].get<std::string>());
  }
  return kExitOk;
}

// The catalogue entries named by `ids`, or exit code 2 with the valid ids when one is unknown.
std::optional<std::vector<const inference::ModelEntry*>> resolve_model_ids(const std::vector<std::string>& ids,
                                                                           bool downloadable_only) {
  std::vector<const inference::ModelEntry*> models;
  std::vector<std::string> valid;
  for (const auto& m : inference::model_catalog()) {
    if (!downloadable_only || m.downloadable()) valid.push_back(m.id);
  }
  for (const auto& id : ids) {
    const inference::ModelEntry* m = inference::embedded_model_catalog().find(id);
    if (m == nullptr || (downloadable_only && !m->downloadable())) {
      std::string problem = m == nullptr ? fmt::format("unknown model '{}'", id)
                                         : fmt::format("model '{}' is installed by scripts/setup, not downloaded", id);
      std::fprintf(stderr, "facefuse: error: %s; valid ids: %s\n", problem.c_str(),
                   fmt::format("{}", fmt::join(valid, ", ")).c_str());
      return std::nullopt;
    }
    models.push_back(m);
  }
  return models;
}

// Download progress on stderr: a redrawn bar on a terminal, else a line every 2 s and at the end.
class DownloadProgressPrinter {
 public:
  DownloadProgressPrinter() : tty_(isatty(fileno(stderr)) != 0) {}
  ~DownloadProgressPrinter() {
    if (tty_ && drawn_) std::fprintf(stderr, "\n");
  }

  void update(const inference::DownloadProgress& p) {
    double fraction = p.bytes_total > 0 ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 0.0;
    std::string sizes = fmt::format("{} of {}", human_size(p.bytes_done), p.bytes_total > 0 ? human_size(p.bytes_total) : "?");
    int percent = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * 100.0 + 0.5);
    if (tty_) {
      constexpr int kWidth = 30;
      std::string bar(static_cast<size_t>(std::clamp(fraction, 0.0, 1.0) * kWidth), '#');
      bar.resize(kWidth, '.');
      std::fprintf(stderr, "\r[%s] %3d%% %s %-24s", bar.c_str(), percent, p.model_id.c_str(), sizes.c_str());
      drawn_ = true;
      return;
    }
    auto now = std::chrono::steady_clock::now();
    bool finished = p.bytes_total > 0 && p.bytes_done >= p.bytes_total;
    if (finished && finished_printed_) return;
    finished_printed_ = finished_printed_ || finished;
    if (finished || now - last_line_ >= std::chrono::seconds(2)) {
      std::fprintf(stderr, "facefuse: %3d%% downloading %s (%s)\n", percent, p.model_id.c_str(), sizes.c_str());
      last_line_ = now;
    }
  }

 private:
  bool tty_;
  bool drawn_ = false;
  bool finished_printed_ = false;
  std::chrono::steady_clock::time_point last_line_{};
};

struct DownloadFlags {
  std::vector<std::string> ids;
  bool all_defaults = false;
  bool force = false;
  std::string models_url;
  int retries = 3;
  int connect_timeout_s = 15;
  int low_speed_timeout_s = 30;
};

int run_models_download(const GlobalFlags& g, const DownloadFlags& flags) {
  if (flags.ids.empty() == !flags.all_defaults) {
    std::fprintf(stderr, "facefuse: error: give model ids or --all-defaults (not both)\n");
    return kExitBadInput;
  }
  if (flags.retries < 0 || flags.connect_timeout_s <= 0 || flags.low_speed_timeout_s <= 0) {
    std::fprintf(stderr, "facefuse: error: --retries must be >= 0 and the timeouts > 0 seconds\n");
    return kExitBadInput;
  }
  auto ids = flags.all_defaults ? inference::embedded_model_catalog().download_defaults : flags.ids;
  auto models = resolve_model_ids(ids, /*downloadable_only=*/true);
  if (!models) return kExitBadInput;
  // Downloads land in a directory of the user's own, never in another user's or a shared writable
  // one (a planted model file would run in every later job).
  if (auto s = check_private_directory(g.models_dir, "models directory"); !s.is_ok()) return report_failure(s);
  inference::DownloadOptions options;
  options.base_url = flags.models_url;
  options.force = flags.force;
  options.max_attempts = flags.retries + 1;
  options.connect_timeout = std::chrono::seconds(flags.connect_timeout_s);
  options.low_speed_time = std::chrono::seconds(flags.low_speed_timeout_s);
  inference::ModelDownloader downloader(g.models_dir, options);
  int failures = 0;
  for (const auto* model : *models) {
    Result<inference::DownloadReport> report = [&] {
      DownloadProgressPrinter printer;
      return downloader.download(*model, [&](const inference::DownloadProgress& p) { printer.update(p); });
    }();
    if (!report) {
      std::fprintf(stderr, "facefuse: error: %s\n", report.status().message().c_str());
      ++failures;
      continue;
    }
    std::printf("%s: %s %s (%s, CRC32 %s)\n", model->id.c_str(),
                report->already_installed ? "already installed at" : "installed", report->path.c_str(),
                human_size(report->bytes).c_str(), report->crc32.c_str());
  }
  return failures == 0 ? kExitOk : kExitProcessingFailure;
}

int run_models_verify(const GlobalFlags& g, const std::vector<std::string>& ids) {
  std::filesystem::path dir = g.models_dir;
  std::vector<const inference::ModelEntry*> models;
  if (ids.empty()) {
    for (const auto& m : inference::model_catalog()) models.push_back(&m);
  } else {
    auto resolved = resolve_model_ids(ids, /*downloadable_only=*/false);
    if (!resolved) return kExitBadInput;
    models = *resolved;
  }
  int bad = 0;
  for (const auto* m : models) {
    auto state = inference::model_state(*m, dir, inference::IntegrityCheck::kHash);
    // Without ids, absent models are only listed; a named model must be installed.
    if (state == inference::ModelState::kCorrupt || (!ids.empty() && state == inference::ModelState::kMissing)) ++bad;
    std::string detail;
    auto expected = inference::expected_model_hash(*m, dir);
    if (state == inference::ModelState::kInstalled) {
      detail = expected->empty() ? "no CRC32 to check against" : "CRC32 " + *expected + " matches";
    } else if (state == inference::ModelState::kCorrupt) {
      detail = fmt::format("{}: run `facefuse models download {}`",
                           !expected ? expected.status().message()
                                     : fmt::format("empty, unreadable or not matching its CRC32 {}", *expected),
                           m->id);
    } else if (!ids.empty()) {
      detail = m->downloadable() ? fmt::format("install it: `facefuse models download {}`", m->id)
                                 : std::string("install it: scripts/setup");
    }
    std::printf("%-26s %-10s %s%s%s\n", m->id.c_str(), inference::model_state_name(state), (dir / m->file).c_str(),
                detail.empty() ? "" : "  ", detail.c_str());
  }
  return bad == 0 ? kExitOk : kExitProcessingFailure;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"facefuse — face swap engine: detect, align, swap and blend faces in images and videos.\n"
               "Examples:\n  facefuse run -s face.jpg -t photo.jpg -o out.jpg\n"
               "  facefuse run -s face.jpg -t clip.mp4 -o out.mp4",
               "facefuse"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags (--log-level, --models-dir, ...) may follow the verb
  app.set_version_flag("--version", "facefuse 0.1.0");
  GlobalFlags global;
  global.models_dir = default_models_dir().string();
  add_global_flags(app, global);

  // run
  pipeline::JobSpec job;
  std::vector<std::string> processors_list;
  SchemaFlags schema_flags;
  auto* run = app.add_subcommand("run", "Swap the face of the source image(s) into a target image or video");
  run->add_option("-s,--source", job.sources, "source image(s) holding the face to use; several images of the "
                                              "same person are allowed")->required();
  run->add_option("-t,--target", job.target, "target image or video whose faces are replaced")->required();
  run->add_option("-o,--output", job.output, "output image (.jpg, .png, .webp) or video (.mp4, .mkv, .mov, .webm); "
                                             "written only on success")->required();
  run->add_option("--processors", processors_list, "processors to apply, in order")
      ->default_str("face_swapper")->delimiter(',');
  run->add_option("--output-image-quality", job.output_quality, "JPEG/WebP quality 0-100")
      ->capture_default_str()->check(CLI::Range(0, 100));
  run->add_option("--max-pixels", job.max_pixels, "refuse images/frames with more pixels than this")->capture_default_str();
  run->add_option("--processing-threads", job.processing_threads, "video frames processed in parallel (0 = one per core)")
      ->capture_default_str();
  auto& video = job.video;
  const char* kVideo = "Video output";
  run->add_option("--trim-frame-start", video.trim_frame_start, "first target frame to keep")->group(kVideo)->capture_default_str();
  run->add_option("--trim-frame-end", video.trim_frame_end, "frame to stop before (-1 = end)")->group(kVideo)->capture_default_str();
  run->add_option("--output-video-fps", video.fps, "output frame rate (0 = the target's)")->group(kVideo)->capture_default_str();
  run->add_option("--output-video-scale", video.scale, "output size relative to the target")->group(kVideo)->capture_default_str();
  run->add_option("--output-video-encoder", video.encoder, "libx264, libx265 or libvpx-vp9")->group(kVideo)->capture_default_str();
  run->add_option("--output-video-preset", video.preset, "ultrafast .. veryslow")->group(kVideo)->capture_default_str();
  run->add_option("--output-video-quality", video.quality, "0-100, mapped to CRF")->group(kVideo)->capture_default_str();
  run->add_option("--output-audio-volume", video.audio_volume, "percent; 0 drops the audio")->group(kVideo)->capture_default_str();
  run->add_option("--chunk-frames", video.chunk_frames, "process in chunks of N frames and merge (0 = one pass)")
      ->group(kVideo)->capture_default_str();
  run->add_option("--frame", video.frame_number, "video target with an image output: the frame to use")->group(kVideo);
  bool no_synthetic_label = false;
  run->add_flag("--no-synthetic-label", no_synthetic_label,
                "do not mark the output as altered by face swapping (IPTC DigitalSourceType in XMP / container "
                "metadata; on by default) — e.g. for an intermediate file labelled later");
  schema_flags.add_all(*run);

  // detect
  std::string detect_image;
  auto* detect = app.add_subcommand("detect", "List the faces in an image or video frame as JSON (index, box, score, landmarks); "
                                              "indices are what --reference-face-position selects");
  detect->add_option("image", detect_image, "image or video to analyse")->required();
  int64_t detect_frame = 0;
  detect->add_option("--frame", detect_frame, "video: the frame to analyse")->capture_default_str();
  std::string detect_detector = "blazeface";
  std::string detect_order = "large-small";
  double detect_score = -1;
  std::string detect_size = "640x640", detect_angles = "0", detect_landmarker = "dlib_68";
  detect->add_option("--face-detector", detect_detector,
                     "blazeface, dlib_hog, or FaceFusion's yolo_face, scrfd, retinaface, yunet")
      ->capture_default_str();
  detect->add_option("--face-detector-score", detect_score, "minimum detector score 0-1 (default: the detector's)");
  detect->add_option("--face-detector-size", detect_size, "FaceFusion detectors: model input size WxH")
      ->capture_default_str();
  detect->add_option("--face-detector-angles", detect_angles,
                     "FaceFusion detectors: comma-separated angles (0, 90, 180, 270) to search the image at")
      ->capture_default_str();
  detect->add_option("--face-landmarker", detect_landmarker, "dlib_68 or FaceFusion's 2dfan4")->capture_default_str();
  detect->add_option("--face-selector-order", detect_order, "order of the indices")->capture_default_str();
  bool detect_landmarks = false;
  detect->add_flag("--landmarks-68", detect_landmarks, "include the 68 landmarks of each face");

  // serve (flags in serve_command.cpp)
  ServeFlags serve_flags;
  auto* serve = add_serve_command(app, serve_flags);
  std::string migrate_store;
  auto* migrate = add_migrate_command(app, migrate_store);

  // worker (flags in worker_command.cpp)
  server::WorkerOptions worker_options;
  auto* worker = add_worker_command(app, worker_options);

  // models
  auto* models = app.add_subcommand("models", "Model catalogue: list, download and verify models (docs/models.md)");
  models->require_subcommand(1);
  bool list_json = false;
  bool list_verify = false;
  auto* models_list = models->add_subcommand("list", "List models: installed, missing or corrupt, size, licence, path");
  models_list->add_flag("--json", list_json, "print JSON instead of a table");
  models_list->add_flag("--verify", list_verify, "check each installed file's CRC32 (reads every file)");
  DownloadFlags download_flags;
  auto* models_download = models->add_subcommand(
      "download", "Download FaceFusion models by id (resumable, CRC32-checked) into the models directory");
  models_download->add_option("ids", download_flags.ids, "model ids (`facefuse models list`)");
  models_download->add_flag("--all-defaults", download_flags.all_defaults,
                            "the models of the default FaceFusion-model workflow (docs/models.md)");
  models_download->add_flag("--force", download_flags.force, "download even when a valid file is installed");
  models_download->add_option("--models-url", download_flags.models_url,
                              "mirror base URL serving BASE/<release>/<file> (default: FaceFusion's GitHub releases)")
      ->envname("FACEFUSE_MODELS_URL");
  models_download->add_option("--retries", download_flags.retries, "retries per file after a network error or 5xx")
      ->capture_default_str();
  models_download->add_option("--connect-timeout", download_flags.connect_timeout_s, "seconds to connect")
      ->capture_default_str();
  models_download->add_option("--low-speed-timeout", download_flags.low_speed_timeout_s,
                              "seconds below 1 KiB/s before a transfer counts as stalled (then retried, resuming)")
      ->capture_default_str();
  std::vector<std::string> verify_ids;
  auto* models_verify = models->add_subcommand(
      "verify", "Check installed models against their CRC32 (exit 1 if one is corrupt or a named one is missing)");
  models_verify->add_option("ids", verify_ids, "model ids (default: every installed model)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string verb = app.get_subcommands().empty() ? "" : app.get_subcommands().front()->get_name() + " ";
    std::fprintf(stderr, "facefuse: error: %s\nRun 'facefuse %s--help' for the options.\n", e.what(), verb.c_str());
    return kExitBadInput;
  }

  if (auto s = init_logging(global.log_level, global.log_json); !s.is_ok()) return report_failure(s);
  // An installed tree's default models (share/facefuse/models) are read-only: downloads without an
  // explicit --models-dir go to the user's own models directory instead.
  if (models_download->parsed() && app.get_option("--models-dir")->count() == 0 &&
      env_or("FACEFUSE_MODELS_DIR", "").empty()) {
    global.models_dir = user_models_dir().string();
  }
  auto so = session_options(global);
  if (!so) return report_failure(so.status());

  if (run->parsed()) {
    job.models_dir = global.models_dir;
    job.session = *so;
    job.synthetic_label = !no_synthetic_label;
    if (!processors_list.empty()) job.processors = processors_list;
    auto options = schema_flags.to_json();
    if (!options) return report_failure(options.status());
    job.options = *options;
    ProgressBar bar(stderr);
    pipeline::CancelToken cancel;
    CancelOnSignal cancel_on_signal(cancel);
    auto report = pipeline::run_job(job, [&](const pipeline::ProgressEvent& e) { bar.update(e); }, &cancel);
    bar.finish();
    if (!report) return report_failure(report.status());
    for (const auto& w : report->warnings) std::fprintf(stderr, "facefuse: warning: %s\n", w.c_str());
    const auto& t = report->timings;
    spdlog::debug("timings (ms, summed over threads): open {:.0f}, analyse {:.0f}, track {:.0f}, process {:.0f}, "
                  "write {:.0f}; {} frames in {:.1f} s",
                  t.open_ms, t.analyse_ms, t.track_ms, t.process_ms, t.write_ms, report->frames, report->seconds);
    std::printf("%s\n", report->output.string().c_str());
    std::fprintf(stderr, "facefuse: wrote %s (%d of %d target face(s) processed)\n", report->output.string().c_str(),
                 report->processed_faces, report->target_faces);
    return kExitOk;
  }
  if (detect->parsed()) {
    pipeline::DetectRequest request;
    request.image = detect_image;
    request.frame_number = detect_frame;
    request.models_dir = global.models_dir;
    request.session = *so;
    request.detector = detect_detector;
    request.detector_score = static_cast<float>(detect_score);
    request.detector_size = detect_size;
    request.landmarker = detect_landmarker;
    auto angles = parse_number_list("--face-detector-angles", detect_angles);
    if (!angles) return report_failure(angles.status());
    request.detector_angles = angles->get<std::vector<int>>();
    request.order = detect_order;
    request.include_landmarks68 = detect_landmarks;
    auto result = pipeline::detect_faces(request);
    if (!result) return report_failure(result.status());
    std::cout << result->dump(2) << "\n";
    return kExitOk;
  }
  if (serve->parsed()) return run_serve_command(serve_flags, global.models_dir, *so, global.log_level);
  if (migrate->parsed()) return run_migrate_command(migrate_store);
  if (worker->parsed()) return run_worker_command(worker_options, global.models_dir, *so, global.log_level);
  if (models_list->parsed()) return run_models_list(global, list_json, list_verify);
  if (models_download->parsed()) return run_models_download(global, download_flags);
  if (models_verify->parsed()) return run_models_verify(global, verify_ids);
  return kExitBadInput;
}

}  // namespace facefuse::cli
