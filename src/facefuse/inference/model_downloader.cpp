#include "facefuse/inference/model_downloader.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "facefuse/core/log.h"

namespace facefuse::inference {

std::string model_download_url(const ModelEntry& model, std::string_view base_url) {
  std::string base(base_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/{}/{}", base, model.release, model.file);
}

std::string model_hash_url(const ModelEntry& model, std::string_view base_url) {
  std::string base(base_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/{}/{}", base, model.release, model.hash_file());
}

namespace {

constexpr int64_t kMaxHashFileBytes = 1024;
constexpr auto kMaxRetryDelay = std::chrono::seconds(30);
constexpr auto kProgressInterval = std::chrono::milliseconds(100);

// libcurl's global state (SSL library set-up) must be initialised once before the first handle;
// it holds no per-download state.
void ensure_curl_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlHandleDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using CurlHandle = std::unique_ptr<CURL, CurlHandleDeleter>;

// How one HTTP attempt ended.
enum class AttemptResult { kDone, kRetry, kFail };

struct AttemptOutcome {
  AttemptResult result = AttemptResult::kFail;
  std::string reason;  // for messages: "HTTP 404", "Timeout was reached", ...
  long http_status = 0;
};

bool is_retryable_curl_error(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// The common options of every request: redirects (GitHub answers with one to its CDN), http(s)
// only, timeouts that turn a dead or stalled connection into a retryable error.
CurlHandle new_handle(const std::string& url, const DownloadOptions& options, char* error_buffer) {
  ensure_curl_initialised();
  CurlHandle handle(curl_easy_init());
  if (!handle) return handle;
  CURL* h = handle.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);  // 4xx/5xx: no body written, CURLE_HTTP_RETURNED_ERROR
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(options.low_speed_bytes_per_second));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.low_speed_time.count()));
  curl_easy_setopt(h, CURLOPT_USERAGENT, "facefuse/0.1 (models download)");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  error_buffer[0] = '\0';
  return handle;
}

AttemptOutcome classify(CURL* handle, CURLcode code, const char* error_buffer) {
  AttemptOutcome out;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &out.http_status);
  if (code == CURLE_OK) {
    out.result = AttemptResult::kDone;
    return out;
  }
  if (code == CURLE_HTTP_RETURNED_ERROR) {
    out.reason = fmt::format("HTTP {}", out.http_status);
    out.result = out.http_status >= 500 || out.http_status == 429 ? AttemptResult::kRetry : AttemptResult::kFail;
    return out;
  }
  out.reason = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  out.result = is_retryable_curl_error(code) ? AttemptResult::kRetry : AttemptResult::kFail;
  return out;
}

// Runs `attempt` until it is done, fails for good, or max_attempts are used, sleeping with
// exponential backoff between retryable failures.
template <typename AttemptFn>
AttemptOutcome with_retries(const DownloadOptions& options, const std::string& what, int* attempts, AttemptFn attempt) {
  const int max_attempts = std::max(options.max_attempts, 1);
  auto delay = options.first_retry_delay;
  AttemptOutcome outcome;
  for (int i = 1; i <= max_attempts; ++i) {
    *attempts = i;
    outcome = attempt();
    if (outcome.result != AttemptResult::kRetry) return outcome;
    if (i == max_attempts) break;
    spdlog::warn("{}: {} (attempt {} of {}), retrying in {} ms", what, outcome.reason, i, max_attempts, delay.count());
    std::this_thread::sleep_for(delay);
    delay = std::min<std::chrono::milliseconds>(delay * 2, kMaxRetryDelay);
  }
  outcome.result = AttemptResult::kFail;
  outcome.reason += fmt::format(" after {} attempt{}", *attempts, *attempts == 1 ? "" : "s");
  return outcome;
}

size_t append_to_string(char* data, size_t size, size_t count, void* user) {
  auto* text = static_cast<std::string*>(user);
  if (text->size() + size * count > kMaxHashFileBytes) return 0;  // not a .hash file
  text->append(data, size * count);
  return size * count;
}

// State shared with the callbacks of one file transfer into the .part file.
struct FileTransfer {
  CURL* handle = nullptr;
  std::filesystem::path part_path;
  std::FILE* file = nullptr;
  int64_t offset = 0;               // bytes of .part the request asked to continue from
  int64_t content_range_start = -1;  // from the final response's Content-Range
  int64_t content_range_total = -1;
  int64_t total = -1;                // size of the whole file once known
  bool started = false;
  bool range_mismatch = false;
  bool restarted = false;  // the server ignored the Range request (200): .part truncated
  std::string model_id;
  const DownloadProgressCallback* progress = nullptr;
  std::chrono::steady_clock::time_point last_progress{};
};

size_t read_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<FileTransfer*>(user);
  std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (e.g. after a redirect)
    t->content_range_start = -1;
    t->content_range_total = -1;
  }
  constexpr std::string_view kContentRange = "content-range:";
  if (line.size() > kContentRange.size()) {
    std::string head(line.substr(0, kContentRange.size()));
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (head == kContentRange) {
      long long start = -1, end = -1, total = -1;
      std::string value(line.substr(kContentRange.size()));
      if (std::sscanf(value.c_str(), " bytes %lld-%lld/%lld", &start, &end, &total) >= 2) {
        t->content_range_start = start;
        t->content_range_total = total;
      }
    }
  }
  return size * count;
}

// First body bytes decide how to use the .part: 206 continues it (after checking that the range
// starts where we asked), 200 means the server sent the whole file, so it starts over.
bool start_body(FileTransfer* t) {
  long status = 0;
  curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
  if (status == 206) {
    if (t->content_range_start != t->offset) {
      t->range_mismatch = true;
      return false;
    }
    t->total = t->content_range_total;
  } else {
    if (t->offset > 0) {
      t->restarted = true;
      t->offset = 0;
      if (std::freopen(t->part_path.c_str(), "wb", t->file) == nullptr) {
        t->file = nullptr;
        return false;
      }
    }
    curl_off_t length = -1;
    curl_easy_getinfo(t->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    t->total = length >= 0 ? static_cast<int64_t>(length) : -1;
  }
  t->started = true;
  return true;
}

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<FileTransfer*>(user);
  if (!t->started && !start_body(t)) return 0;
  if (t->file == nullptr) return 0;
  return std::fwrite(data, size, count, t->file);
}

int report_progress(void* user, curl_off_t, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<FileTransfer*>(user);
  if (t->progress == nullptr || !*t->progress || !t->started) return 0;
  auto clock = std::chrono::steady_clock::now();
  int64_t done = t->offset + static_cast<int64_t>(now);
  if (clock - t->last_progress < kProgressInterval && done != t->total) return 0;
  t->last_progress = clock;
  (*t->progress)({t->model_id, done, t->total});
  return 0;
}

// An exclusive flock on the models directory for the duration of one download: another process
// (or thread) downloading into the same directory waits, then finds the model installed instead
// of writing into the same .part. Released when destroyed.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::filesystem::path& dir) : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  bool locked() const { return fd_ >= 0; }

 private:
  int fd_;
};

int64_t file_size_or_zero(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

// Writes `text` to `path` through a temporary file and a rename.
Status write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  auto temp = path;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return unavailable(fmt::format("cannot write {}", temp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) return unavailable(fmt::format("cannot rename {} to {}: {}", temp.string(), path.string(), ec.message()));
  return Status::ok();
}

// The CRC32 in a release's .hash file, or kUnavailable with the reason it could not be fetched.
Result<std::string> fetch_crc32(const std::string& hash_url, const DownloadOptions& options) {
  std::string text;
  int attempts = 0;
  char error_buffer[CURL_ERROR_SIZE];
  auto outcome = with_retries(options, hash_url, &attempts, [&] {
    text.clear();
    CurlHandle handle = new_handle(hash_url, options, error_buffer);
    if (!handle) return AttemptOutcome{AttemptResult::kFail, "cannot create an HTTP handle", 0};
    curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, append_to_string);
    curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &text);
    return classify(handle.get(), curl_easy_perform(handle.get()), error_buffer);
  });
  if (outcome.result != AttemptResult::kDone) {
    return unavailable(fmt::format("cannot fetch the checksum from {}: {}", hash_url, outcome.reason));
  }
  auto parsed = parse_crc32_text(text);
  if (!parsed) return unavailable(fmt::format("{} does not hold a CRC32 ({})", hash_url, parsed.status().message()));
  return parsed;
}

// Brings `part_path` up to the whole file at `url`: each attempt continues what is there with a
// Range request (or starts over when the server answers 200). Counts attempts and resumption in
// `report`. A network failure leaves the .part for the next run; a 4xx removes it.
AttemptOutcome download_to_part(const std::string& url, const std::filesystem::path& part_path,
                                const DownloadOptions& options, const std::string& model_id,
                                const DownloadProgressCallback& progress, DownloadReport* report) {
  char error_buffer[CURL_ERROR_SIZE];
  auto outcome = with_retries(options, url, &report->attempts, [&] {
    FileTransfer transfer;
    transfer.part_path = part_path;
    transfer.model_id = model_id;
    transfer.progress = &progress;
    transfer.offset = file_size_or_zero(part_path);
    const int64_t requested_offset = transfer.offset;
    transfer.file = std::fopen(part_path.c_str(), "ab");
    if (transfer.file == nullptr) {
      return AttemptOutcome{AttemptResult::kFail, fmt::format("cannot write {}", part_path.string()), 0};
    }
    CurlHandle handle = new_handle(url, options, error_buffer);
    if (!handle) {
      std::fclose(transfer.file);
      return AttemptOutcome{AttemptResult::kFail, "cannot create an HTTP handle", 0};
    }
    CURL* h = handle.get();
    transfer.handle = h;
    // CURLOPT_RANGE rather than CURLOPT_RESUME_FROM: the latter fails on a 200 answer, while a
    // server without Range support should simply restart the download.
    const std::string range = fmt::format("{}-", requested_offset);
    if (requested_offset > 0) curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, report_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    CURLcode code = curl_easy_perform(h);
    bool closed = transfer.file != nullptr && std::fclose(transfer.file) == 0;
    AttemptOutcome out = classify(h, code, error_buffer);
    if (requested_offset > 0 && transfer.started && !transfer.restarted) report->resumed = true;
    if (transfer.restarted) spdlog::info("{}: the server ignored the Range request; downloading from the start", model_id);
    if (transfer.range_mismatch || out.http_status == 416) {
      // The server's range does not continue our .part, or the .part is longer than the file.
      std::error_code ec;
      std::filesystem::remove(part_path, ec);
      return AttemptOutcome{AttemptResult::kRetry, "the server did not continue the partial file", out.http_status};
    }
    if (out.result == AttemptResult::kDone && !closed) {
      return AttemptOutcome{AttemptResult::kFail, fmt::format("cannot write {}", part_path.string()), 0};
    }
    return out;
  });
  if (outcome.result != AttemptResult::kDone && outcome.http_status >= 400 && outcome.http_status < 500) {
    std::error_code ec;
    std::filesystem::remove(part_path, ec);
  }
  return outcome;
}

}  // namespace

ModelDownloader::ModelDownloader(std::filesystem::path models_dir, DownloadOptions options)
    : models_dir_(std::move(models_dir)), options_(std::move(options)) {}

Result<DownloadReport> ModelDownloader::download(const ModelEntry& model, const DownloadProgressCallback& progress) const {
  if (!model.downloadable()) {
    return invalid_argument(fmt::format("model {} is not downloadable: scripts/setup installs it ({})", model.id,
                                        model.source));
  }
  const std::string base = options_.base_url.empty() ? embedded_model_catalog().download_base_url : options_.base_url;
  const std::string url = model_download_url(model, base);
  const std::string hash_url = model_hash_url(model, base);
  const auto final_path = models_dir_ / model.file;
  auto part_path = final_path;
  part_path += ".part";
  auto by_hand = [&](const std::string& what) {
    return unavailable(fmt::format("{}. To install it by hand, download {} (CRC32 in {}) and place it at {}; or "
                                   "point --models-url/FACEFUSE_MODELS_URL at a mirror serving BASE/{}/{}",
                                   what, url, hash_url, final_path.string(), model.release, model.file));
  };
  // The CRC32 to check against: the catalogue's, else the release's .hash file (fetched once).
  std::string expected = model.hash;
  auto ensure_expected = [&]() -> Status {
    if (!expected.empty()) return Status::ok();
    auto fetched = fetch_crc32(hash_url, options_);
    if (!fetched) return by_hand(fmt::format("{}: {}", model.id, fetched.status().message()));
    expected = *fetched;
    return Status::ok();
  };

  std::error_code ec;
  std::filesystem::create_directories(models_dir_, ec);
  if (ec) return unavailable(fmt::format("cannot create the models directory {}: {}", models_dir_.string(), ec.message()));
  DirectoryLock lock(models_dir_);
  if (!lock.locked()) return unavailable(fmt::format("cannot lock the models directory {}", models_dir_.string()));
  DownloadReport report;
  report.path = final_path;

  // An installed file that verifies is kept. With a catalogue hash or a .hash beside the file this
  // needs no network at all.
  if (!options_.force && std::filesystem::exists(final_path, ec)) {
    auto local = expected_model_hash(model, models_dir_);
    std::string want = local ? *local : std::string();
    if (want.empty()) {
      FF_RETURN_IF_ERROR(ensure_expected());
      want = expected;
    }
    auto actual = file_crc32(final_path);
    if (actual && *actual == want) {
      report.already_installed = true;
      report.crc32 = *actual;
      report.bytes = file_size_or_zero(final_path);
      if (!expected.empty()) FF_RETURN_IF_ERROR(write_file_atomically(models_dir_ / model.hash_file(), expected));
      return report;
    }
    spdlog::info("{}: installed file {} does not match its CRC32; downloading it again", model.id, final_path.string());
  }
  FF_RETURN_IF_ERROR(ensure_expected());

  auto outcome = download_to_part(url, part_path, options_, model.id, progress, &report);
  if (outcome.result != AttemptResult::kDone) {
    return by_hand(fmt::format("cannot download {} from {}: {}", model.id, url, outcome.reason));
  }
  report.bytes = file_size_or_zero(part_path);
  auto actual = file_crc32(part_path);
  bool size_ok = model.size <= 0 || report.bytes == model.size;
  if (!actual || *actual != expected || !size_ok || report.bytes == 0) {
    std::filesystem::remove(part_path, ec);  // never installed, never resumed
    return unavailable(fmt::format("downloaded {} is corrupt (CRC32 {}, expected {}; {} bytes) and was deleted; "
                                   "run the command again, or install it by hand from {} to {}",
                                   model.id, actual ? *actual : "unreadable", expected, report.bytes, url,
                                   final_path.string()));
  }
  std::filesystem::rename(part_path, final_path, ec);  // atomic within the models directory
  if (ec) return unavailable(fmt::format("cannot move {} to {}: {}", part_path.string(), final_path.string(), ec.message()));
  FF_RETURN_IF_ERROR(write_file_atomically(models_dir_ / model.hash_file(), expected));
  report.crc32 = expected;
  if (progress) progress({model.id, report.bytes, report.bytes});
  return report;
}

}  // namespace facefuse::inference
