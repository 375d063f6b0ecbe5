// `facefuse serve`: the embedded single-node service — SQLite job store and file storage under
// one data directory, the API server and the in-process worker pool (DESIGN.md §1, §5).
//
// Data directory layout:
//   <data>/serve.lock               held by the running server (one server per data directory;
//                                   SQLite store only: PostgreSQL nodes may share a data directory)
//   <data>/media_link.key           secret of the signed media links (0600, made on first start)
//   <data>/disk_ballast             8 MiB released when a delete finds the disk full (storage/free_space.h)
//   <data>/jobs.db (+ -wal, -shm)   job store
//   <data>/storage/                 file:// blob store: uploads/, jobs/<id>/segments/, outputs/<id>/
//   <data>/tmp/<job_id>/            per-job temp space (inputs, attempt directories)
//   <data>/tmp/uploads/             multipart bodies while they stream in
#pragma once

#include <filesystem>
#include <string>

#include "facefuse/core/status.h"
#include "facefuse/jobs/janitor.h"
#include "facefuse/jobs/job_service.h"
#include "facefuse/server/http_server.h"
#include "facefuse/server/live_swap.h"
#include "facefuse/server/node_common.h"

namespace facefuse::server {

// The shared fields (data, store, storage, worker pool, models, ...) are NodeOptions' (node_common.h);
// `workers` may be 0 here: an API node (no claims) whose tasks run on `facefuse worker` processes.
struct ServeOptions : NodeOptions {
  std::string listen = "127.0.0.1:8080";  // PORT alone: 127.0.0.1:PORT (http_server.h)
  std::string metrics_listen;     // host:port for /metrics + /healthz only; empty: /metrics on `listen`
  HttpLimits http;                // threads, timeouts, header/body/connection limits (http_server.h)
  int max_streams = 8192;         // open WebSockets + event streams in total
  int max_streams_per_address = 1024;
  int max_streams_per_key = 100;
  bool auth = true;
  double rate_limit = 20;         // requests per second per API key
  double rate_burst = 40;
  double ip_rate_limit = 50;      // requests per second per client address
  double ip_rate_burst = 100;
  int64_t max_active_jobs = 100;  // per tenant (pending + processing)
  int64_t min_free_mb = 512;      // free-space reserve of the data directory (storage/free_space.h)
  jobs::ServiceLimits limits;
  LiveConfig live;                // GET /api/v1/live: sessions per server, key and address; frame limits
  jobs::RetentionPolicy retention;         // --retain-* and --orphan-grace (all 0: nothing is deleted)
  int64_t janitor_interval_ms = 5 * 60 * 1000;  // between janitor passes
};

// Runs until SIGTERM, SIGINT or SIGHUP, then drains (not ready, no new claims, running tasks finished or
// released within grace_seconds) and returns ok. A second signal exits at once. Errors: the data
// directory, store or listen address cannot be used.
Status serve(const ServeOptions& options);

}  // namespace facefuse::server
