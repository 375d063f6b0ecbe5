#include "facefuse/server/worker_node.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "facefuse/core/paths.h"
#include "facefuse/inference/session_cache.h"
#include "facefuse/jobs/job_store_uri.h"
#include "facefuse/jobs/task_runner.h"
#include "facefuse/jobs/worker_pool.h"
#include "facefuse/media/image_io.h"
#include "facefuse/server/json_log.h"
#include "facefuse/server/media_links.h"
#include "facefuse/server/metrics.h"
#include "facefuse/server/node_common.h"
#include "facefuse/server/worker_status.h"

namespace facefuse::server {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kScratchPrefix = "worker-";

// The options checked before anything starts; returns the --metrics-listen address (parsed once,
// nullopt when the flag is not given).
Result<std::optional<ListenAddress>> check_options(const WorkerOptions& o) {
  if (o.workers < 1 || o.workers > 64) return invalid_argument("--workers must be between 1 and 64");
  FF_RETURN_IF_ERROR(check_worker_pool_options(o));
  if (o.max_tasks < 0) return invalid_argument("--max-tasks must be 0 (no limit) or more");
  if (o.idle_exit_seconds < 0) return invalid_argument("--idle-exit-seconds must be 0 (never) or more");
  if (o.device_id < -1) return invalid_argument("--device-id must be a GPU index (0 or more)");
  if (o.media_link_ttl_seconds < 1) return invalid_argument("--media-link-ttl must be at least 1 (seconds)");
  if (o.metrics_listen.empty()) return std::optional<ListenAddress>();
  auto address = parse_listen_address(o.metrics_listen);
  if (!address) return invalid_argument(fmt::format("--metrics-listen: {}", address.status().message()));
  return std::optional<ListenAddress>(*address);
}

// Scratch directories of workers that no longer run (kill -9, power loss): nobody else removes them.
void remove_dead_workers_scratch(const fs::path& tmp) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(tmp, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kScratchPrefix, 0) != 0) continue;
    char* end = nullptr;
    long pid = std::strtol(name.c_str() + std::char_traits<char>::length(kScratchPrefix), &end, 10);
    if (pid <= 0 || *end != '\0' || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), ec);
  }
}

// A job's inputs stay in the scratch directory between its chunks; once the job has ended (on
// this worker or another) or is gone, they are removed.
void remove_ended_jobs_scratch(const fs::path& scratch, jobs::JobStore& store) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(scratch, ec)) {
    auto job = store.get_job(entry.path().filename().string());
    if ((!job && job.status().code() == StatusCode::kNotFound) || (job && jobs::is_terminal(job->state))) {
      fs::remove_all(entry.path(), ec);
    }
  }
}

}  // namespace

Status run_worker(const WorkerOptions& options) {
  // Taken by sigtimedwait() below: blocked before any thread starts (node_common.h).
  const sigset_t signals = block_stop_signals();

  FF_RETURN_IF_ERROR(init_json_logging(options.log_level));
  FF_ASSIGN_OR_RETURN(const std::optional<ListenAddress> metrics_listen, check_options(options));
  const fs::path data = options.data_dir;
  FF_RETURN_IF_ERROR(check_private_directory(data, "data directory"));
  const fs::path scratch = data / "tmp" / fmt::format("{}{}", kScratchPrefix, ::getpid());
  std::error_code ec;
  fs::create_directories(scratch, ec);
  if (ec) return failed_precondition(fmt::format("cannot create {}: {}", scratch.string(), errno_text(ec.value())));
  remove_dead_workers_scratch(data / "tmp");

  FF_ASSIGN_OR_RETURN(jobs::StoreUri store_uri,
                      jobs::parse_store_uri(options.store_uri, "sqlite://" + fs::absolute(data / "jobs.db").string()));
  FF_ASSIGN_OR_RETURN(auto store, jobs::open_job_store(store_uri));
  FF_ASSIGN_OR_RETURN(MediaLinkSigner signer,
                      open_media_link_signer(data, *store, store_uri.kind == jobs::StoreKind::kPostgres,
                                             options.media_link_ttl_seconds));
  FF_ASSIGN_OR_RETURN(auto blobs,
                      open_node_storage(data, options.storage_uri, options.s3, options.presign_ttl_seconds, signer));
  const std::string storage_uri = blobs->uri();
  JobWebhooks webhooks(options.allow_private_urls, std::make_shared<const MediaLinkSigner>(std::move(signer)));

  // The models stay loaded between tasks: every task of this process opens them through one cache.
  inference::SessionCache sessions;
  inference::SessionOptions session = options.session;
  if (options.device_id >= 0) session.device_id = options.device_id;
  session.cache = &sessions;
  jobs::ExecutionSettings execution =
      execution_settings(options.models_dir, session, options.workers,
                         options.max_pixels > 0 ? options.max_pixels : media::kDefaultMaxPixels);
  jobs::TaskRunner runner(scratch, execution, *store, *blobs);
  jobs::WorkerPoolConfig pool_config =
      worker_pool_config(options.workers, options.lease_seconds, options.task_stall_seconds, session);
  pool_config.max_tasks = options.max_tasks;
  jobs::WorkerPool pool(pool_config, *store, runner);
  jobs::JobStore& store_ref = *store;
  ServiceMetrics metrics;  // served with --metrics-listen
  pool.set_on_task_end([&](const jobs::TaskOutcome& outcome) {
    if (outcome.status.is_ok()) metrics.add_frames_processed(static_cast<uint64_t>(std::max<int64_t>(0, outcome.frames)));
    if (outcome.seconds > 0 && outcome.frames > 0) metrics.set_frames_per_second(outcome.frames / outcome.seconds);
    if (outcome.job_finished) {
      auto job = store_ref.get_job(outcome.lease.job.id);
      if (job && jobs::is_terminal(job->state)) {
        webhooks.notify(*job);
        if (job->started_at_ms > 0) {
          metrics.observe_queue_wait((job->started_at_ms - job->created_at_ms) / 1000.0);
          metrics.observe_processing((job->finished_at_ms - job->started_at_ms) / 1000.0);
        }
      }
    }
    remove_ended_jobs_scratch(scratch, store_ref);
  });
  // Interruptions are logged, counted in the "stopped" line and, with --metrics-listen, on /metrics.
  std::atomic<int64_t> lease_expired{0}, released{0};
  pool.set_on_interruption([&](std::string_view reason, const jobs::Lease& lease) {
    (reason == "released" ? released : lease_expired)++;
    metrics.add_task_interruption(reason);
    spdlog::info(json{{"msg", "task interrupted"}, {"reason", reason}, {"job_id", lease.job.id},
                      {"task_id", lease.task.id}}.dump());
  });
  // Another process submitted or released a task (PostgreSQL NOTIFY): claim it at once.
  jobs::ScopedStoreListeners listeners(*store, {[&pool] { pool.wake(); }, {}});
  FF_RETURN_IF_ERROR(pool.start());
  WorkerStatusServer status_server(pool_config.node_id, options.version, pool, *store, metrics);
  if (metrics_listen) {
    if (Status listening = status_server.start(*metrics_listen); !listening.is_ok()) {
      pool.drain(0);
      return Status(listening.code(), fmt::format("--metrics-listen {}: {}", options.metrics_listen, listening.message()));
    }
    ListenAddress address = *metrics_listen;
    address.port = status_server.port();  // the bound port when the flag asked for port 0
    spdlog::info(json{{"msg", "metrics listener"}, {"url", fmt::format("http://{}/metrics", address.authority())}}.dump());
  }
  spdlog::info(json{{"msg", "worker started"}, {"node", pool_config.node_id}, {"data", fs::absolute(data).string()},
                    {"store", jobs::redact_store_uri(store_uri.target)},
                    {"storage", storage_uri}, {"workers", options.workers},
                    {"threads_per_task", execution.processing_threads}, {"device_id", session.device_id},
                    {"max_tasks", options.max_tasks}, {"idle_exit_seconds", options.idle_exit_seconds}}.dump());

  std::string reason;
  int64_t grace_ms = 0;
  // A job whose last task ran on another worker ends without a task here: look for such leftovers
  // every few seconds too, not only when this worker's own tasks end.
  auto next_scratch_sweep = std::chrono::steady_clock::now();
  for (;;) {
    if (std::chrono::steady_clock::now() >= next_scratch_sweep) {
      remove_ended_jobs_scratch(scratch, *store);
      next_scratch_sweep = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    }
    timespec wait{0, 200'000'000};  // 200 ms: how quickly --max-tasks / --idle-exit-seconds are noticed
    int signal_number = sigtimedwait(&signals, nullptr, &wait);
    if (signal_number > 0) {
      reason = fmt::format("signal {}", signal_number);
      grace_ms = static_cast<int64_t>(options.grace_seconds * 1000);
      break;
    }
    if (pool.exhausted()) {
      reason = "max tasks";
      break;
    }
    if (options.idle_exit_seconds > 0 && pool.idle_ms() >= static_cast<int64_t>(options.idle_exit_seconds * 1000)) {
      reason = "idle";
      break;
    }
  }
  spdlog::info(json{{"msg", "draining"}, {"reason", reason}, {"grace_seconds", grace_ms / 1000.0},
                    {"tasks", pool.tasks_ended()}}.dump());
  exit_on_next_stop_signal(signals);  // a second signal while draining ends the process at once
  status_server.set_draining();
  pool.drain(grace_ms);
  status_server.stop();
  webhooks.stop();
  fs::remove_all(scratch, ec);
  spdlog::info(json{{"msg", "stopped"}, {"reason", reason}, {"tasks", pool.tasks_ended()},
                    {"interruptions", {{"lease_expired", lease_expired.load()}, {"released", released.load()}}}}.dump());
  return Status::ok();
}

}  // namespace facefuse::server
