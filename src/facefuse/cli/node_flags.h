// Flags that `facefuse serve` and `facefuse worker` share, registered by one function each so
// the two verbs spell, document and default them identically: where the jobs and blobs live
// (--data, --storage) and how the worker pool leases tasks (--workers, --grace-seconds,
// --lease-seconds, --task-stall-seconds). A flag that both verbs need belongs here.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "facefuse/server/node_common.h"

namespace facefuse::cli {

// Each binds its flags to the fields of `options` (server/node_common.h) they are named after.
// --data (default ~/.facefuse/service, FACEFUSE_DATA), --store (FACEFUSE_STORE; store_flags.h),
// --storage (FACEFUSE_STORAGE) with the S3 options and --presign-ttl (storage_flags.h).
void add_store_flags(CLI::App& command, server::NodeOptions& options);
// --workers (FACEFUSE_WORKERS; `workers_help` says what the verb does with them), --grace-seconds,
// --lease-seconds, --task-stall-seconds (FACEFUSE_TASK_STALL_SECONDS).
void add_worker_pool_flags(CLI::App& command, server::NodeOptions& options, const std::string& workers_help);

// What both verbs take from the global flags (models directory, inference backend, log level), and
// the version they report.
void set_node_globals(server::NodeOptions& options, const std::string& models_dir,
                      const inference::SessionOptions& session, const std::string& log_level);
// The exit code of a verb that ended with `status` (its message on stderr): 0 after a clean stop, 1
// when the node could not run (kUnavailable), otherwise exit_code_for() (2 for bad flags).
int node_exit_code(const Status& status);

}  // namespace facefuse::cli
