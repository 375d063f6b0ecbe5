// Downloads catalogue models from FaceFusion's release assets (or a mirror with the same layout):
// fetch <stem>.hash, then the file into <file>.part (resumed with an HTTP Range request when a
// .part exists and the server honours it; restarted when it answers 200), retry network errors
// and 5xx with exponential backoff, verify the CRC32, and rename into the models directory.
// A file whose CRC32 does not match is deleted, never installed.
// Thread- and process-safe: downloads into one models directory take an exclusive flock on it, so
// a second download of the same model waits and then finds it installed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "facefuse/core/status.h"
#include "facefuse/inference/model_catalog.h"

namespace facefuse::inference {

struct DownloadOptions {
  // Files are fetched from {base_url}/{release}/{file}; empty = the catalogue's download_base_url.
  std::string base_url;
  bool force = false;  // download even when a valid file is installed
  int max_attempts = 4;  // per file, counting the first
  std::chrono::milliseconds first_retry_delay{1000};  // doubled after each failed attempt, capped at 30 s
  std::chrono::seconds connect_timeout{15};
  // A transfer slower than low_speed_bytes_per_second for low_speed_time counts as a network
  // error (retried, resuming from what arrived).
  int64_t low_speed_bytes_per_second = 1024;
  std::chrono::seconds low_speed_time{30};
};

struct DownloadProgress {
  std::string model_id;
  int64_t bytes_done = 0;    // of the model file, including a resumed .part
  int64_t bytes_total = -1;  // -1 while unknown
};
using DownloadProgressCallback = std::function<void(const DownloadProgress&)>;

struct DownloadReport {
  std::filesystem::path path;
  bool already_installed = false;  // a valid file was present: nothing was fetched
  std::string crc32;
  int64_t bytes = 0;
  int attempts = 0;      // HTTP attempts for the model file
  bool resumed = false;  // at least one attempt continued a .part with a Range request
};

// {base}/{release}/{file} and {base}/{release}/{stem}.hash, base without a trailing slash.
std::string model_download_url(const ModelEntry& model, std::string_view base_url);
std::string model_hash_url(const ModelEntry& model, std::string_view base_url);

class ModelDownloader {
 public:
  ModelDownloader(std::filesystem::path models_dir, DownloadOptions options);

  // Installs `model` into the models directory. Errors are kUnavailable (exit code 1) and say
  // what failed, and where to place the file by hand (path + URL); kInvalidArgument for a model
  // that is not downloadable.
  Result<DownloadReport> download(const ModelEntry& model, const DownloadProgressCallback& progress = {}) const;

 private:
  std::filesystem::path models_dir_;
  DownloadOptions options_;
};

}  // namespace facefuse::inference
