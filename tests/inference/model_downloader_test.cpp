// `facefuse models download/verify` and the ModelDownloader API against a local HTTP server
// (tests/tools/model_server.py) that serves generated files named like catalogue files in the
// layout of FaceFusion's release assets, with failure modes per URL prefix: complete, truncated,
// norange, corrupt, 404, slow, stall, flaky.
#include <curl/curl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <zlib.h>

#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "facefuse/core/error_codes.h"
#include "facefuse/inference/model_catalog.h"
#include "facefuse/inference/model_downloader.h"
#include "inference/zlib_crc32.h"
#include "support/test_support.h"

extern char** environ;

namespace facefuse::testing {
namespace {

using inference::ModelEntry;

constexpr size_t kModelBytes = 3'000'000;  // big enough that a half transfer is visibly partial
const char* const kModelId = "gfpgan_1.4";  // a catalogue entry whose file the server provides
const char* const kRelease = "models-3.0.0";

size_t collect(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::string http_get(const std::string& url) {
  std::string body;
  CURL* h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(h);
  curl_easy_cleanup(h);
  return body;
}

// One server for the suite; each test uses its own models directory.
class ModelDownload : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TempDir();
    std::filesystem::create_directories(root_->path() / kRelease);
    served_ = std::string(kModelBytes, '\0');
    uint32_t x = 2463534242u;  // xorshift: incompressible, reproducible bytes
    for (auto& c : served_) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      c = static_cast<char>(x);
    }
    testing::write_file_bytes(root_->path() / kRelease / "gfpgan_1.4.onnx", served_);
    testing::write_file_bytes(root_->path() / kRelease / "gfpgan_1.4.hash", testing::zlib_crc32_hex(served_));
    // Small stand-ins for the --all-defaults models, at their catalogue release paths.
    for (const auto& id : inference::embedded_model_catalog().download_defaults) {
      const ModelEntry* m = inference::embedded_model_catalog().find(id);
      if (id == kModelId) continue;  // served above
      std::filesystem::create_directories(root_->path() / m->release);
      std::string bytes = "stand-in for " + m->file + std::string(50000, static_cast<char>(m->file.size()));
      testing::write_file_bytes(root_->path() / m->release / m->file, bytes);
      testing::write_file_bytes(root_->path() / m->release / m->hash_file(), testing::zlib_crc32_hex(bytes));
    }
    // A file without a .hash on the server: only a catalogue hash can verify it.
    testing::write_file_bytes(root_->path() / kRelease / "no_sidecar.onnx", served_);

    auto port_file = root_->path() / "port";
    std::string script = std::string(FACEFUSE_SOURCE_DIR) + "/tests/tools/model_server.py";
    std::string root = root_->path().string();
    std::string port_path = port_file.string();
    std::vector<char*> argv = {const_cast<char*>("/usr/bin/python3"), script.data(), const_cast<char*>("--root"),
                               root.data(), const_cast<char*>("--port-file"), port_path.data(), nullptr};
    ASSERT_EQ(posix_spawn(&server_pid_, "/usr/bin/python3", nullptr, nullptr, argv.data(), environ), 0);
    for (int i = 0; i < 200 && !std::filesystem::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(std::filesystem::exists(port_file)) << "model_server.py did not start";
    base_ = "http://127.0.0.1:" + testing::read_file_bytes(port_file);
  }

  static void TearDownTestSuite() {
    if (server_pid_ > 0) {
      kill(server_pid_, SIGTERM);
      waitpid(server_pid_, nullptr, 0);
    }
    delete root_;
  }

  static std::string url(const std::string& mode) { return base_ + "/" + mode; }

  // Requests the server saw for `file` under `mode`, as {range, status} objects.
  static std::vector<nlohmann::json> requests_for(const std::string& mode, const std::string& file) {
    std::vector<nlohmann::json> out;
    for (const auto& r : nlohmann::json::parse(http_get(base_ + "/_log"))) {
      if (r["path"] == "/" + mode + "/" + kRelease + "/" + file) out.push_back(r);
    }
    return out;
  }

  CommandResult download(const std::string& mode, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--models-dir", models_.path().string(), "models", "download", kModelId,
                                     "--models-url", url(mode)};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_facefuse(args);
  }

  std::filesystem::path installed() const { return models_.path() / "gfpgan_1.4.onnx"; }
  std::filesystem::path part() const { return models_.path() / "gfpgan_1.4.onnx.part"; }

  std::string model_state_in_list(bool verify) {
    std::vector<std::string> args = {"--models-dir", models_.path().string(), "models", "list", "--json"};
    if (verify) args.push_back("--verify");
    CommandResult r = run_facefuse(args);
    EXPECT_EQ(r.exit_code, kExitOk) << r.output;
    auto doc = nlohmann::json::parse(r.output);
    for (const auto& m : doc["models"]) {
      if (m["id"] == kModelId) return m["state"];
    }
    return "absent";
  }

  static TempDir* root_;
  static std::string served_;
  static std::string base_;
  static pid_t server_pid_;
  TempDir models_;
};

TempDir* ModelDownload::root_ = nullptr;
std::string ModelDownload::served_;
std::string ModelDownload::base_;
pid_t ModelDownload::server_pid_ = 0;

TEST_F(ModelDownload, CompleteDownloadIsVerifiedAndInstalled) {
  CommandResult r = download("complete");
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_TRUE(testing::read_file_bytes(installed()) == served_);
  EXPECT_FALSE(std::filesystem::exists(part()));
  EXPECT_EQ(testing::read_file_bytes(models_ / "gfpgan_1.4.hash"), testing::zlib_crc32_hex(served_)) << "FaceFusion's sidecar is kept";
  EXPECT_NE(r.output.find(testing::zlib_crc32_hex(served_)), std::string::npos) << r.output;
  EXPECT_EQ(model_state_in_list(/*verify=*/true), "installed");
  CommandResult verify = run_facefuse({"--models-dir", models_.path().string(), "models", "verify", kModelId});
  EXPECT_EQ(verify.exit_code, kExitOk) << verify.output;
  EXPECT_NE(verify.output.find("matches"), std::string::npos) << verify.output;
}

TEST_F(ModelDownload, TruncatedTransferResumesWithARangeRequest) {
  CommandResult r = download("truncated");
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_TRUE(testing::read_file_bytes(installed()) == served_);
  auto requests = requests_for("truncated", "gfpgan_1.4.onnx");
  ASSERT_GE(requests.size(), 2u);
  EXPECT_TRUE(requests[0]["range"].is_null());
  EXPECT_EQ(requests[1]["range"], "bytes=" + std::to_string(kModelBytes / 2) + "-") << "resumes after the half received";
  EXPECT_EQ(requests[1]["status"], 206);
}

TEST_F(ModelDownload, ServerIgnoringRangeRestartsFromTheStart) {
  CommandResult r = download("norange");
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_TRUE(testing::read_file_bytes(installed()) == served_) << "the 200 answer replaced the partial file, not appended to it";
  auto requests = requests_for("norange", "gfpgan_1.4.onnx");
  ASSERT_GE(requests.size(), 2u);
  EXPECT_FALSE(requests[1]["range"].is_null());
  EXPECT_EQ(requests[1]["status"], 200);
}

TEST_F(ModelDownload, CorruptDownloadIsDeletedAndReported) {
  CommandResult r = download("corrupt");
  EXPECT_EQ(r.exit_code, kExitProcessingFailure) << r.output;
  EXPECT_NE(r.output.find("corrupt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("deleted"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(installed()));
  EXPECT_FALSE(std::filesystem::exists(part())) << "corrupt bytes must not be resumed later";
  EXPECT_EQ(model_state_in_list(/*verify=*/false), "missing");
}

TEST_F(ModelDownload, NotFoundSaysWhereToPlaceTheFileByHand) {
  CommandResult r = download("404");
  EXPECT_EQ(r.exit_code, kExitProcessingFailure) << r.output;
  EXPECT_NE(r.output.find("HTTP 404"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("place it at " + installed().string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(url("404") + "/models-3.0.0/gfpgan_1.4.onnx"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(installed()));
}

TEST_F(ModelDownload, OfflineSaysWhereToPlaceTheFileByHand) {
  // Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
  CommandResult r = run_facefuse({"--models-dir", models_.path().string(), "models", "download", kModelId,
                                  "--models-url", "http://127.0.0.1:9", "--retries", "0"});
  EXPECT_EQ(r.exit_code, kExitProcessingFailure) << r.output;
  EXPECT_NE(r.output.find("place it at " + installed().string()), std::string::npos) << r.output;
}

TEST_F(ModelDownload, ValidInstalledFileIsNotDownloadedAgain) {
  ASSERT_EQ(download("complete").exit_code, kExitOk);
  size_t before = requests_for("complete", "gfpgan_1.4.onnx").size() + requests_for("complete", "gfpgan_1.4.hash").size();
  CommandResult again = download("complete");
  EXPECT_EQ(again.exit_code, kExitOk) << again.output;
  EXPECT_NE(again.output.find("already installed"), std::string::npos) << again.output;
  size_t after = requests_for("complete", "gfpgan_1.4.onnx").size() + requests_for("complete", "gfpgan_1.4.hash").size();
  EXPECT_EQ(after, before) << "a file that matches its sidecar CRC32 needs no request at all";
  CommandResult forced = download("complete", {"--force"});
  EXPECT_EQ(forced.exit_code, kExitOk) << forced.output;
  EXPECT_GT(requests_for("complete", "gfpgan_1.4.onnx").size() + requests_for("complete", "gfpgan_1.4.hash").size(),
            after);
}

TEST_F(ModelDownload, AllDefaultsFromTheMirrorInTheEnvironment) {
  // FACEFUSE_MODELS_URL is read by the child process started by run_facefuse.
  ASSERT_EQ(setenv("FACEFUSE_MODELS_URL", url("complete").c_str(), 1), 0);
  CommandResult r = run_facefuse({"--models-dir", models_.path().string(), "models", "download", "--all-defaults"});
  unsetenv("FACEFUSE_MODELS_URL");
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  const auto& defaults = inference::embedded_model_catalog().download_defaults;
  ASSERT_FALSE(defaults.empty());
  for (const auto& id : defaults) {
    const ModelEntry* m = inference::embedded_model_catalog().find(id);
    EXPECT_EQ(inference::model_state(*m, models_.path(), inference::IntegrityCheck::kHash),
              inference::ModelState::kInstalled) << id;
  }
  CommandResult both = run_facefuse({"--models-dir", models_.path().string(), "models", "download", "--all-defaults",
                                     kModelId});
  EXPECT_EQ(both.exit_code, kExitBadInput) << "ids and --all-defaults together are ambiguous";
}

TEST_F(ModelDownload, ServerErrorsAreRetried) {
  CommandResult r = download("flaky");
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_TRUE(testing::read_file_bytes(installed()) == served_);
  auto requests = requests_for("flaky", "gfpgan_1.4.onnx");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0]["status"], 503);
  EXPECT_EQ(requests[1]["status"], 200);
}

TEST_F(ModelDownload, StalledTransferTimesOutAndResumes) {
  CommandResult r = download("stall", {"--low-speed-timeout", "1"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_TRUE(testing::read_file_bytes(installed()) == served_);
  auto requests = requests_for("stall", "gfpgan_1.4.onnx");
  ASSERT_GE(requests.size(), 2u);
  EXPECT_FALSE(requests.back()["range"].is_null()) << "the retry continued the partial file";
}

TEST_F(ModelDownload, TricklingServerFailsCleanlyAndTheNextRunResumes) {
  CommandResult r = download("slow", {"--low-speed-timeout", "1", "--retries", "1"});
  EXPECT_EQ(r.exit_code, kExitProcessingFailure) << r.output;
  EXPECT_NE(r.output.find("after 2 attempts"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("place it at"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(installed())) << "nothing half-written is installed";
  // A network failure keeps the partial file: the next run continues it.
  ASSERT_TRUE(std::filesystem::exists(part()));
  auto partial = std::filesystem::file_size(part());
  ASSERT_GT(partial, 0u);
  CommandResult next_run = download("complete");
  ASSERT_EQ(next_run.exit_code, kExitOk) << next_run.output;
  EXPECT_TRUE(testing::read_file_bytes(installed()) == served_);
  auto requests = requests_for("complete", "gfpgan_1.4.onnx");
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back()["range"], "bytes=" + std::to_string(partial) + "-");
  EXPECT_EQ(requests.back()["status"], 206);
}

TEST_F(ModelDownload, UnknownIdExitsTwoAndListsValidIds) {
  CommandResult r = run_facefuse({"--models-dir", models_.path().string(), "models", "download", "inswapper_129"});
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.output;
  EXPECT_NE(r.output.find("unknown model 'inswapper_129'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("inswapper_128"), std::string::npos) << r.output;
  CommandResult none = run_facefuse({"--models-dir", models_.path().string(), "models", "download"});
  EXPECT_EQ(none.exit_code, kExitBadInput) << none.output;
  CommandResult setup_only = run_facefuse({"--models-dir", models_.path().string(), "models", "download", "blazeface_back_256"});
  EXPECT_EQ(setup_only.exit_code, kExitBadInput) << setup_only.output;
}

TEST_F(ModelDownload, VerifyFlipsToCorruptWhenAByteChanges) {
  ASSERT_EQ(download("complete").exit_code, kExitOk);
  std::string changed = served_;
  changed[kModelBytes / 3] ^= 0x40;
  testing::write_file_bytes(installed(), changed);
  CommandResult verify = run_facefuse({"--models-dir", models_.path().string(), "models", "verify", kModelId});
  EXPECT_EQ(verify.exit_code, kExitProcessingFailure) << verify.output;
  EXPECT_NE(verify.output.find("corrupt"), std::string::npos) << verify.output;
  EXPECT_EQ(model_state_in_list(/*verify=*/true), "corrupt");
  EXPECT_EQ(model_state_in_list(/*verify=*/false), "installed") << "a plain listing does not hash";
  // And `download` replaces the damaged file.
  CommandResult repaired = download("complete");
  EXPECT_EQ(repaired.exit_code, kExitOk) << repaired.output;
  EXPECT_TRUE(testing::read_file_bytes(installed()) == served_);
}

// The library API, with a catalogue hash instead of the server's .hash file.
TEST_F(ModelDownload, ApiUsesTheCatalogueHashAndReportsProgress) {
  inference::ModelEntry entry;
  entry.id = "no_sidecar";
  entry.file = "no_sidecar.onnx";
  entry.kind = "face_parser";
  entry.release = kRelease;
  entry.hash = testing::zlib_crc32_hex(served_);
  entry.size = static_cast<int64_t>(kModelBytes);
  inference::DownloadOptions options;
  options.base_url = url("truncated");
  options.first_retry_delay = std::chrono::milliseconds(10);
  inference::ModelDownloader downloader(models_.path(), options);
  inference::DownloadProgress last;
  auto report = downloader.download(entry, [&](const inference::DownloadProgress& p) { last = p; });
  ASSERT_TRUE(report) << report.status().to_string();
  EXPECT_FALSE(report->already_installed);
  EXPECT_TRUE(report->resumed);
  EXPECT_EQ(report->attempts, 2);
  EXPECT_EQ(report->crc32, entry.hash);
  EXPECT_EQ(last.bytes_done, static_cast<int64_t>(kModelBytes));
  EXPECT_EQ(last.bytes_total, static_cast<int64_t>(kModelBytes));
  EXPECT_TRUE(testing::read_file_bytes(models_ / "no_sidecar.onnx") == served_);

  entry.hash = "00000000";  // a catalogue hash the bytes do not have
  options.force = true;
  options.base_url = url("complete");
  auto rejected = inference::ModelDownloader(models_.path(), options).download(entry);
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(rejected.status().message().find("corrupt"), std::string::npos);
}

TEST_F(ModelDownload, ConcurrentDownloadsOfOneModelDoNotShareThePartialFile) {
  const ModelEntry* model = inference::embedded_model_catalog().find(kModelId);
  ASSERT_NE(model, nullptr);
  inference::DownloadOptions options;
  options.base_url = url("truncated");  // every first transfer breaks off: a retry window to collide in
  options.first_retry_delay = std::chrono::milliseconds(200);
  std::vector<Result<inference::DownloadReport>> reports(2, Status(StatusCode::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reports.size(); ++i) {
    threads.emplace_back([&, i] { reports[i] = inference::ModelDownloader(models_.path(), options).download(*model); });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(reports[0]) << reports[0].status().to_string();
  ASSERT_TRUE(reports[1]) << reports[1].status().to_string();
  EXPECT_NE(reports[0]->already_installed, reports[1]->already_installed) << "one downloads, the other finds it";
  EXPECT_TRUE(testing::read_file_bytes(installed()) == served_);
}

TEST_F(ModelDownload, ApiRefusesModelsThatSetupInstalls) {
  auto entry = inference::find_model("blazeface_back_256");
  ASSERT_TRUE(entry);
  auto result = inference::ModelDownloader(models_.path(), {}).download(**entry);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("scripts/setup"), std::string::npos);
}

}  // namespace
}  // namespace facefuse::testing
