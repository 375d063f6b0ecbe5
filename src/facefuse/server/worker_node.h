// `facefuse worker`: a process that runs jobs and serves no API (distributed mode, issue 12). It
// claims tasks from the job store, fetches their inputs from the blob store into a private
// scratch directory, runs them with the same WorkerPool/TaskRunner as `serve`'s in-process
// workers, commits outputs and segments, and heartbeats its leases. Its models stay loaded
// between tasks (one SessionCache for the process).
//
// `--store` names the job store as for `serve`: PostgreSQL for workers on many machines (LISTEN/NOTIFY
// wakes them when a task becomes claimable), or by default the SQLite store <data>/jobs.db with the
// file storage <data>/storage: `serve --workers 0` plus N workers on one data directory is a
// single-host cluster (SQLite in WAL mode serialises their writes). Workers do not take serve.lock.
//
// Scratch: <data>/tmp/worker-<pid>/<job_id>/ (inputs, attempt directories). Removed when the
// process stops, a job's directory within ~2 s of the job's end (whoever finished it); directories of workers that no
// longer run (killed with -9) are removed by the next worker that starts.
//
// With metrics_listen, /metrics, /healthz and /readyz are served there (worker_status.h); /readyz
// turns 503 as soon as the worker drains.
//
// Stops (exit 0) on SIGTERM/SIGINT/SIGHUP after the running chunks finished or were released
// within grace_seconds, after max_tasks tasks, or after idle_exit_seconds without a task. A second
// signal exits at once. Logs are JSON lines on stderr, as `serve` writes them.
#pragma once

#include <cstdint>
#include <string>

#include "facefuse/core/status.h"
#include "facefuse/server/node_common.h"

namespace facefuse::server {

// The shared fields (data, store, storage, worker pool, models, ...) are NodeOptions' (node_common.h).
struct WorkerOptions : NodeOptions {
  int64_t max_tasks = 0;            // > 0: exit after this many tasks ended
  double idle_exit_seconds = 0;     // > 0: exit after this long without a task
  int device_id = -1;               // >= 0: GPU index for this worker's sessions (else the global flag)
  int64_t max_pixels = 0;           // 0: the engine's default
  std::string metrics_listen;       // HOST:PORT of the health and metrics listener (worker_status.h); empty: none
};

// Runs until a stop condition above; ok after a clean stop. kInvalidArgument for bad options;
// other errors when the data directory, store or storage cannot be used.
Status run_worker(const WorkerOptions& options);

}  // namespace facefuse::server
