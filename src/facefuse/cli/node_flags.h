// Flags that `facefuse serve` and `facefuse worker` share, registered by one function each so
// the two verbs spell, document and default them identically: where the jobs and blobs live
// (--data, --storage) and how the worker pool leases tasks (--workers, --grace-seconds,
// --lease-seconds, --task-stall-seconds). A flag that both verbs need belongs here.
#pragma once

#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "facefuse/storage/s3_options.h"

namespace facefuse::cli {

struct StoreFlags {
  std::filesystem::path& data_dir;  // SQLite job store <data>/jobs.db, file storage, temp space
  std::string& store_uri;           // empty: sqlite://<data>/jobs.db (jobs/job_store_uri.h)
  std::string& storage_uri;         // empty: file://<data>/storage
  storage::S3Options& s3;           // s3:// storage (storage_flags.h)
  int64_t& presign_ttl_seconds;
};

struct WorkerPoolFlags {
  int& workers;
  double& grace_seconds;
  double& lease_seconds;
  double& task_stall_seconds;
};

// --data (default ~/.facefuse/service, FACEFUSE_DATA), --store (FACEFUSE_STORE; store_flags.h),
// --storage (FACEFUSE_STORAGE) with the S3 options and --presign-ttl (storage_flags.h).
void add_store_flags(CLI::App& command, const StoreFlags& flags);
// --workers (FACEFUSE_WORKERS; `workers_help` says what the verb does with them), --grace-seconds,
// --lease-seconds, --task-stall-seconds (FACEFUSE_TASK_STALL_SECONDS).
void add_worker_pool_flags(CLI::App& command, const WorkerPoolFlags& flags, const std::string& workers_help);

}  // namespace facefuse::cli
