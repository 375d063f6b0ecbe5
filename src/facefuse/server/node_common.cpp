#include "facefuse/server/node_common.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "facefuse/core/cpu_budget.h"
#include "facefuse/core/stack_thread.h"

namespace facefuse::server {

using nlohmann::json;

namespace {

// The thread (kernel id) that waits for the stop signals: the caller of block_stop_signals, then
// the waiter of exit_on_next_stop_signal. Read inside a signal handler, hence lock-free.
std::atomic<pid_t> g_stop_signal_taker{0};
static_assert(std::atomic<pid_t>::is_always_lock_free);

// Runs only on a thread that does not block the stop signals, i.e. one a library started before
// main() and so before the mask: OpenBLAS (linked through OpenCV and dlib) starts its pool from a
// load-time constructor. Under the default action a stop signal that the kernel hands to such a
// thread ends the whole process, which it does whenever the taker is not inside sigwait at that
// moment: `serve` still starting up or about to wait, the worker between two sigtimedwait calls.
// Re-sent to the taker, the signal stays pending on it (the taker blocks it) until its next wait.
extern "C" void forward_stop_signal(int signal_number) {
  const int saved_errno = errno;
  syscall(SYS_tgkill, getpid(), g_stop_signal_taker.load(), signal_number);
  errno = saved_errno;
}

}  // namespace

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  g_stop_signal_taker.store(gettid());
  struct sigaction forward {};
  forward.sa_handler = forward_stop_signal;
  forward.sa_flags = SA_RESTART;
  sigfillset(&forward.sa_mask);
  for (int number : {SIGTERM, SIGINT, SIGHUP}) sigaction(number, &forward, nullptr);
  return signals;
}

void exit_on_next_stop_signal(const sigset_t& signals) {
  auto waiter = StackThread::start("ff-signal", kThreadStackBytes, [signals]() mutable {
    g_stop_signal_taker.store(gettid());
    int again = 0;
    sigwait(&signals, &again);
    std::_Exit(128 + again);
  });
  if (waiter) waiter->detach();
}

std::string node_id() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return fmt::format("{}:{}", host, ::getpid());
}

jobs::ExecutionSettings execution_settings(const std::filesystem::path& models_dir,
                                           const inference::SessionOptions& session, int workers, int64_t max_pixels) {
  // CPU thread budget: workers × threads ≈ cores, so parallel tasks do not oversubscribe.
  const int cores = available_cpus();  // affinity and cgroup quota, not the host's CPU count
  jobs::ExecutionSettings execution;
  execution.models_dir = models_dir;
  execution.session = session;
  execution.processing_threads = std::max(1, cores / std::max(1, workers));
  if (execution.session.intra_op_threads == 0) execution.session.intra_op_threads = execution.processing_threads;
  execution.max_pixels = max_pixels;
  return execution;
}

Status check_worker_pool_options(const NodeOptions& o) {
  if (o.grace_seconds < 0) return invalid_argument("--grace-seconds must be 0 or more");
  if (o.lease_seconds < 1) return invalid_argument("--lease-seconds must be at least 1");
  if (o.task_stall_seconds < 0) return invalid_argument("--task-stall-seconds must be 0 (never) or more");
  return Status::ok();
}

jobs::WorkerPoolConfig worker_pool_config(int workers, double lease_seconds, double stall_seconds,
                                          const inference::SessionOptions& session) {
  jobs::WorkerPoolConfig config;
  config.workers = workers;
  config.node_id = node_id();
  config.lease_ms = static_cast<int64_t>(lease_seconds * 1000);
  config.heartbeat_ms = std::max<int64_t>(200, config.lease_ms / 3);
  config.stall_ms = static_cast<int64_t>(stall_seconds * 1000);
  // One GPU task per device; CPU tasks share the thread budget of execution_settings.
  config.device_slots = session.provider == inference::ExecutionProvider::kCpu ? 0 : 1;
  return config;
}

namespace {

jobs::WebhookSender::Options webhook_options(bool allow_private_urls) {
  jobs::WebhookSender::Options options;
  options.allow_private = allow_private_urls;
  options.on_finished = [](const jobs::WebhookDelivery& d, const jobs::WebhookOutcome& o) {
    spdlog::info(json{{"msg", o.delivered ? "webhook delivered" : "webhook not delivered"}, {"job_id", d.job_id},
                      {"attempts", o.attempts}, {"http_status", o.last_http_status},
                      {"error", o.last_error.message()}}.dump());
  };
  return options;
}

}  // namespace

Result<std::unique_ptr<storage::BlobStore>> open_node_storage(const std::filesystem::path& data,
                                                              const std::string& storage_uri,
                                                              const storage::S3Options& s3,
                                                              int64_t presign_ttl_seconds, MediaLinkSigner& signer) {
  const std::string uri =
      storage_uri.empty() ? "file://" + std::filesystem::absolute(data / "storage").string() : storage_uri;
  FF_ASSIGN_OR_RETURN(auto blobs, storage::open_blob_store(uri, s3));
  if (uri.starts_with("s3://")) {
    if (Status ready = blobs->check_ready(); !ready.is_ok()) {
      return Status(ready.code(), fmt::format("storage {}: {}", uri, ready.message()));
    }
    storage::BlobStore* presigning = blobs.get();
    signer.set_presigner([presigning, presign_ttl_seconds](std::string_view key) {
      return presigning->presigned_get_url(key, presign_ttl_seconds);
    });
  }
  return blobs;
}

Result<MediaLinkSigner> open_media_link_signer(const std::filesystem::path& data, jobs::JobStore& store,
                                               bool shared_store, int64_t ttl_seconds) {
  if (!shared_store) return MediaLinkSigner::open(data, ttl_seconds);
  if (ttl_seconds < 1) return invalid_argument("--media-link-ttl must be at least 1 second");
  FF_ASSIGN_OR_RETURN(std::string candidate, MediaLinkSigner::new_secret());
  FF_ASSIGN_OR_RETURN(std::string secret, store.shared_secret("media_link", candidate));
  return MediaLinkSigner(std::move(secret), ttl_seconds);
}

JobWebhooks::JobWebhooks(bool allow_private_urls, std::shared_ptr<const MediaLinkSigner> media_links)
    : media_links_(std::move(media_links)), sender_(webhook_options(allow_private_urls)) {}

void JobWebhooks::notify(const jobs::Job& job) {
  const json& hook = job.request.contains("webhook") ? job.request["webhook"] : json();
  if (!hook.is_object()) return;
  json body = jobs::job_to_json(job);
  // The receiver can fetch the output without a key for --media-link-ttl.
  sign_output_url(body, *media_links_,
                  std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  body["event"] = fmt::format("job.{}", jobs::job_state_name(job.state));
  Status queued = sender_.enqueue({hook["url"].get<std::string>(), hook.value("secret", std::string()), body.dump(), job.id});
  if (!queued.is_ok()) spdlog::warn(json{{"msg", "webhook dropped"}, {"job_id", job.id}, {"error", queued.message()}}.dump());
}

}  // namespace facefuse::server
