// The health and metrics listener of a `facefuse worker` (--metrics-listen HOST:PORT): a worker
// serves no API, but Prometheus scrapes it and an orchestrator probes it like an API node.
//
//   GET /metrics            Prometheus text (server/metrics.h series that a worker moves: workers,
//                           workers_busy, queue_depth, frames_processed_total, frames_per_second,
//                           job_queue_wait_seconds, job_processing_seconds,
//                           facefuse_task_interruptions_total{reason})
//   GET /healthz, /health   200 while the process runs: node id, version, uptime, workers and busy
//                           ones, tasks ended, model_loaded, last_inference_ms, draining
//   GET /readyz, /ready     200 while it claims work: the job store answers (checks.job_store and
//                           checks.job_store_latency_ms, as an API node) and it is not draining; else 503
// Anything else is 404 with the JSON error; nothing needs a key (bind it to a private interface).
// It runs on the same event-driven transport as `serve` (http_server.h), with few threads.
//
// Threading: start()/stop() from the owner; set_draining() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "facefuse/core/status.h"
#include "facefuse/jobs/job_store.h"
#include "facefuse/jobs/worker_pool.h"
#include "facefuse/server/http_server.h"
#include "facefuse/server/metrics.h"

namespace facefuse::server {

class WorkerStatusServer {
 public:
  // `pool`, `store` and `metrics` outlive this object (stop() before they go away).
  WorkerStatusServer(std::string node, std::string version, jobs::WorkerPool& pool, jobs::JobStore& store,
                     ServiceMetrics& metrics);
  ~WorkerStatusServer();

  // Binds `listen` (parsed by the caller with parse_listen_address). kUnavailable when it cannot be
  // bound.
  Status start(const ListenAddress& listen);
  int port() const;
  void set_draining() { draining_.store(true); }
  void stop();

 private:
  HttpResponse handle(HttpRequest& request);

  const std::string node_;
  const std::string version_;
  jobs::WorkerPool& pool_;
  jobs::JobStore& store_;
  ServiceMetrics& metrics_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> draining_{false};
  std::unique_ptr<HttpServer> http_;
};

}  // namespace facefuse::server
