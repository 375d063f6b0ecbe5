#include "facefuse/server/serve.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "facefuse/core/paths.h"
#include "facefuse/jobs/job_store_uri.h"
#include "facefuse/inference/session_cache.h"
#include "facefuse/jobs/task_runner.h"
#include "facefuse/jobs/webhook.h"
#include "facefuse/jobs/worker_pool.h"
#include "facefuse/server/api_keys.h"
#include "facefuse/server/api_server.h"
#include "facefuse/server/json_log.h"
#include "facefuse/server/media_links.h"
#include "facefuse/server/metrics.h"
#include "facefuse/server/node_common.h"
#include "facefuse/server/system_stats.h"
#include "facefuse/storage/free_space.h"

namespace facefuse::server {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kAdminTenant = "default";

// Whether `fd` is usable for showing the admin key: open and not /dev/null (main.cpp points closed
// standard descriptors at /dev/null, where a key printed once would be lost for good).
bool shows_output(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  struct stat null_st {};
  if (S_ISCHR(st.st_mode) && stat("/dev/null", &null_st) == 0 && st.st_rdev == null_st.st_rdev) return false;
  return true;
}

// The first run of an authenticated server creates an admin key and prints it once — on stdout,
// or on stderr (the log) when stdout is closed or /dev/null; when neither can show it, the server
// refuses to start rather than create a key nobody can ever read. A key given in
// FACEFUSE_ADMIN_KEY is registered instead (and on every start, idempotently). API nodes starting at
// once on one PostgreSQL store issue one key between them: the check, the print and the insert are
// one transaction serialised across nodes (JobStore::add_first_api_key); the others print none.
Status ensure_admin_key(jobs::JobStore& store) {
  std::string given = env_or("FACEFUSE_ADMIN_KEY", "");
  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (!given.empty()) {
    if (!is_well_formed_api_key(given)) {
      return invalid_argument("FACEFUSE_ADMIN_KEY is not a facefuse key ('ff_' + 52 base32 characters): unset it to "
                              "have one generated, or use one printed by an earlier first run");
    }
    FF_ASSIGN_OR_RETURN(auto existing, store.find_api_key(hash_api_key(given)));
    if (existing) return Status::ok();
    FF_ASSIGN_OR_RETURN(std::string id, jobs::new_id("key_"));
    Status added = store.add_api_key({id, kAdminTenant, hash_api_key(given), "submit,read,admin", now_s * 1000});
    if (added.is_ok()) return added;
    // Another node registered the same key a moment ago (the hash is unique).
    FF_ASSIGN_OR_RETURN(existing, store.find_api_key(hash_api_key(given)));
    return existing ? Status::ok() : added;
  }
  FF_ASSIGN_OR_RETURN(int64_t count, store.api_key_count());
  if (count > 0) return Status::ok();
  FILE* out = shows_output(STDOUT_FILENO) ? stdout : shows_output(STDERR_FILENO) ? stderr : nullptr;
  if (out == nullptr) {
    return failed_precondition("the one-time admin API key cannot be shown: stdout and stderr are both closed or "
                               "/dev/null. Start facefuse serve with stdout or stderr open once, or set "
                               "FACEFUSE_ADMIN_KEY to a key of your own");
  }
  FF_ASSIGN_OR_RETURN(IssuedApiKey issued, issue_api_key(kAdminTenant, Scopes{Scope::kSubmit, Scope::kRead, Scope::kAdmin}, now_s));
  // Shown first, stored second (in the same transaction): a key that could not be shown is never valid.
  auto show = [&]() -> Status {
    std::fprintf(out, "facefuse: admin API key (shown only now, keep it): %s\n", issued.plaintext.c_str());
    if (std::fflush(out) != 0 || std::ferror(out) != 0) {
      return failed_precondition(fmt::format("the one-time admin API key could not be written to {} ({}): start with "
                                             "a working stdout or set FACEFUSE_ADMIN_KEY",
                                             out == stdout ? "stdout" : "stderr", errno_text(errno)));
    }
    return Status::ok();
  };
  return store
      .add_first_api_key({issued.record.id, issued.record.tenant, issued.record.hash,
                          format_scopes(issued.record.scopes), now_s * 1000},
                         show)
      .status();
}

// One server per data directory: its temp space and the embedded store's single-writer
// assumptions are not shared. The lock dies with the process (even on kill -9), so a restart
// never finds a stale lock. The descriptor stays open for the life of the process on purpose.
Status lock_data_directory(const fs::path& data) {
  fs::path lock_path = data / "serve.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return failed_precondition(fmt::format("cannot open {}: {}", lock_path.string(), errno_text(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return failed_precondition(fmt::format("another facefuse serve is using {}: stop it or pass a different --data",
                                           data.string()));
  }
  return Status::ok();
}

// Multipart bodies of uploads cut short by a crash: nobody will finish them.
void remove_abandoned_uploads(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove_all(entry.path(), ec);
}

// Every connection is a descriptor: the soft limit (often 1 024) would cap idle connections and
// WebSockets far below --max-connections, so raise it to the hard limit.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::debug(json{{"msg", "descriptor limit raised"}, {"from", before}, {"to", limit.rlim_cur}}.dump());
  }
}

}  // namespace

Status serve(const ServeOptions& options) {
  // Taken by sigwait() below: blocked before any thread starts (node_common.h).
  const sigset_t signals = block_stop_signals();

  FF_RETURN_IF_ERROR(init_json_logging(options.log_level));
  FF_ASSIGN_OR_RETURN(ListenAddress listen, parse_listen_address(options.listen));
  if (!options.metrics_listen.empty()) FF_RETURN_IF_ERROR(parse_listen_address(options.metrics_listen).status());
  raise_descriptor_limit();
  if (options.workers < 0 || options.workers > 64) {
    return invalid_argument("--workers must be between 0 (an API node: jobs run on `facefuse worker` processes) and 64");
  }
  FF_RETURN_IF_ERROR(check_worker_pool_options(options));
  const fs::path data = options.data_dir;
  // Uploads, outputs and keys live here: never in a directory another user owns or can write to.
  FF_RETURN_IF_ERROR(check_private_directory(data, "data directory"));
  std::error_code ec;
  fs::create_directories(data / "tmp" / "uploads", ec);
  if (ec) {
    return failed_precondition(fmt::format("cannot create {}: {}", (data / "tmp" / "uploads").string(),
                                           errno_text(ec.value())));
  }
  FF_ASSIGN_OR_RETURN(jobs::StoreUri store_uri,
                      jobs::parse_store_uri(options.store_uri, "sqlite://" + fs::absolute(data / "jobs.db").string()));
  // The SQLite store and its data directory belong to one server; PostgreSQL nodes share the database.
  if (store_uri.kind == jobs::StoreKind::kSqlite) {
    FF_RETURN_IF_ERROR(lock_data_directory(data));
    remove_abandoned_uploads(data / "tmp" / "uploads");
  }

  FF_ASSIGN_OR_RETURN(auto store, jobs::open_job_store(store_uri));
  FF_ASSIGN_OR_RETURN(MediaLinkSigner signer,
                      open_media_link_signer(data, *store, store_uri.kind == jobs::StoreKind::kPostgres,
                                             options.media_link_ttl_seconds));
  FF_ASSIGN_OR_RETURN(auto blobs,
                      open_node_storage(data, options.storage_uri, options.s3, options.presign_ttl_seconds, signer));
  const std::string storage_uri = blobs->uri();
  auto media_links = std::make_shared<const MediaLinkSigner>(std::move(signer));
  if (options.auth) FF_RETURN_IF_ERROR(ensure_admin_key(*store));

  // One model cache for the process: every task of the pool (and /detect) shares its sessions.
  inference::SessionCache sessions;
  inference::SessionOptions session = options.session;
  session.cache = &sessions;
  jobs::ExecutionSettings execution =
      execution_settings(options.models_dir, session, options.workers, options.limits.max_pixels);

  jobs::JobServiceConfig service_config;
  service_config.temp_root = data / "tmp";
  service_config.execution = execution;
  service_config.limits = options.limits;
  service_config.max_active_jobs = options.max_active_jobs;
  service_config.engine_version = options.version;
  service_config.url_fetch.allow_private = options.allow_private_urls;
  service_config.min_free_bytes = static_cast<uint64_t>(std::max<int64_t>(0, options.min_free_mb)) * 1024 * 1024;
  service_config.ballast = data / "disk_ballast";
  if (Status b = storage::ensure_ballast(service_config.ballast, service_config.ballast_bytes, service_config.min_free_bytes);
      !b.is_ok()) {
    spdlog::warn(json{{"msg", "no disk ballast"}, {"error", b.message()}}.dump());
  }
  jobs::JobService service(service_config, *store, *blobs);
  jobs::TaskRunner runner(data / "tmp", execution, *store, *blobs);

  jobs::WorkerPoolConfig pool_config =
      worker_pool_config(options.workers, options.lease_seconds, options.task_stall_seconds, options.session);
  jobs::WorkerPool pool(pool_config, *store, runner);

  ServiceMetrics metrics;
  SystemStats system;
  JobWebhooks webhooks(options.allow_private_urls, media_links);
  // Every terminal state reaches the job's webhook once: from a worker, a cache hit or a cancel.
  auto notify_finished = [&webhooks](const jobs::Job& job) { webhooks.notify(job); };
  pool.set_on_task_end([&](const jobs::TaskOutcome& outcome) {
    if (outcome.status.is_ok()) metrics.add_frames_processed(static_cast<uint64_t>(std::max<int64_t>(0, outcome.frames)));
    if (outcome.seconds > 0 && outcome.frames > 0) metrics.set_frames_per_second(outcome.frames / outcome.seconds);
    if (!outcome.job_finished) return;
    auto job = store->get_job(outcome.lease.job.id);
    if (!job) return;
    if (is_terminal(job->state)) notify_finished(*job);
    if (job->started_at_ms == 0) return;
    metrics.observe_queue_wait((job->started_at_ms - job->created_at_ms) / 1000.0);
    metrics.observe_processing((job->finished_at_ms - job->started_at_ms) / 1000.0);
    spdlog::info(json{{"msg", "job finished"}, {"job_id", job->id}, {"status", jobs::job_state_name(job->state)},
                      {"seconds", (job->finished_at_ms - job->started_at_ms) / 1000.0}}.dump());
  });
  pool.set_on_interruption([&metrics](std::string_view reason, const jobs::Lease&) {
    metrics.add_task_interruption(reason);
  });
  service.set_hooks([&pool] { pool.wake(); }, [&pool](const std::string& job_id) { pool.cancel_job(job_id); },
                    notify_finished);

  ApiServerConfig api_config;
  api_config.listen = options.listen;
  api_config.metrics_listen = options.metrics_listen;
  api_config.http = options.http;
  api_config.max_streams = options.max_streams;
  api_config.max_streams_per_address = options.max_streams_per_address;
  api_config.max_streams_per_key = options.max_streams_per_key;
  api_config.auth = options.auth;
  api_config.key_rate_per_second = options.rate_limit;
  api_config.key_rate_burst = options.rate_burst;
  api_config.ip_rate_per_second = options.ip_rate_limit;
  api_config.ip_rate_burst = options.ip_rate_burst;
  api_config.version = options.version;
  api_config.upload_temp_dir = data / "tmp" / "uploads";
  api_config.models_dir = options.models_dir;
  api_config.session = execution.session;
  api_config.media_links = media_links;
  api_config.operator_tenant = kAdminTenant;
  api_config.direct_upload_ttl_seconds = options.presign_ttl_seconds;
  api_config.live = options.live;
  ApiServer api(api_config, service, pool, metrics, system);
  FF_RETURN_IF_ERROR(api.start());
  // Other nodes' writes (PostgreSQL NOTIFY): idle workers claim at once, watchers get events at once.
  // Removed before `api` and `pool` go away (set_listeners returns once no call is running).
  jobs::ScopedStoreListeners listeners(
      *store, {[&pool] { pool.wake(); }, [&api](const std::string&) { api.notify_job_event(); }});
  FF_RETURN_IF_ERROR(pool.start());

  // Retention and storage accounting on this API node (one node per pass: the store's lock).
  jobs::Janitor janitor(*store, *blobs, options.retention);
  janitor.start(options.janitor_interval_ms, [&metrics](const Result<jobs::JanitorPass>& pass) {
    if (!pass.is_ok()) {
      metrics.observe_janitor_pass("failed", 0);
      spdlog::warn(json{{"msg", "janitor pass failed"}, {"error", pass.status().message()}}.dump());
      return;
    }
    if (!pass->ran) {
      metrics.observe_janitor_pass("skipped", 0);
      return;
    }
    metrics.observe_janitor_pass("ran", pass->seconds);
    for (const auto& [kind, usage] : pass->usage) {
      metrics.set_storage_usage(kind, static_cast<double>(usage.objects), static_cast<double>(usage.bytes));
    }
    json deleted = json::object();
    for (const auto& [reason, n] : pass->deleted_objects) {
      metrics.add_janitor_deleted(reason, static_cast<double>(n));
      deleted[reason] = n;
    }
    const bool changed = !deleted.empty() || pass->uploads_deleted > 0 || pass->outputs_expired > 0 ||
                         pass->jobs_deleted > 0;
    // A pass that changed nothing (most of them) is logged at debug only.
    spdlog::log(changed ? spdlog::level::info : spdlog::level::debug,
                json{{"msg", "janitor pass"}, {"seconds", pass->seconds}, {"deleted_objects", deleted},
                     {"uploads_deleted", pass->uploads_deleted}, {"uploads_kept_in_use", pass->uploads_kept_in_use},
                     {"outputs_expired", pass->outputs_expired}, {"jobs_deleted", pass->jobs_deleted}}.dump());
  });

  const std::string& host = listen.host;
  if (!options.auth && host != "127.0.0.1" && host != "localhost" && host != "::1") {
    spdlog::warn(json{{"msg", "--no-auth on a non-loopback address: anyone who can reach it can submit jobs and read "
                              "every output"}, {"listen", options.listen}}.dump());
  }
  std::string url = api.url();
  spdlog::info(json{{"msg", "serving"}, {"url", url}, {"data", fs::absolute(data).string()}, {"storage", storage_uri}, {"store", jobs::redact_store_uri(store_uri.target)},
                    {"workers", options.workers}, {"threads_per_task", execution.processing_threads},
                    {"auth", options.auth}}.dump());
  if (!options.metrics_listen.empty()) {
    ListenAddress metrics = parse_listen_address(options.metrics_listen).value();
    metrics.port = api.metrics_port();
    std::string metrics_url = fmt::format("http://{}/metrics", metrics.authority());
    spdlog::info(json{{"msg", "metrics listener"}, {"url", metrics_url}}.dump());
    std::printf("facefuse: metrics on %s (the API port answers /metrics with 404)\n", metrics_url.c_str());
  }
  std::printf("facefuse: serving on %s (open it in a browser; API under %sapi/v1, docs/openapi.yaml)\n", url.c_str(),
              url.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info(json{{"msg", "draining"}, {"signal", signal_number}, {"grace_seconds", options.grace_seconds}}.dump());
  exit_on_next_stop_signal(signals);  // a second signal while draining ends the process at once
  api.set_draining();
  janitor.stop();
  pool.drain(static_cast<int64_t>(options.grace_seconds * 1000));
  api.stop();
  webhooks.stop();
  spdlog::info(json{{"msg", "stopped"}}.dump());
  return Status::ok();
}

}  // namespace facefuse::server
