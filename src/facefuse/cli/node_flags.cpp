#include "facefuse/cli/node_flags.h"

#include <cstdio>

#include "facefuse/cli/storage_flags.h"
#include "facefuse/cli/store_flags.h"
#include "facefuse/core/error_codes.h"
#include "facefuse/core/paths.h"

namespace facefuse::cli {

void add_store_flags(CLI::App& command, server::NodeOptions& flags) {
  // Empty when there is no home directory at all: the verb then refuses, saying to set HOME or --data.
  const auto home = facefuse_home();
  flags.data_dir = home.empty() ? home : home / "service";
  command.add_option("--data", flags.data_dir, "data directory: job store (jobs.db), storage, temp space")
      ->envname("FACEFUSE_DATA")->capture_default_str();
  add_store_uri_flag(command, flags.store_uri);
  add_storage_flags(command, flags.storage_uri, flags.s3, flags.presign_ttl_seconds);
}

void add_worker_pool_flags(CLI::App& command, server::NodeOptions& flags, const std::string& workers_help) {
  command.add_option("--workers", flags.workers, workers_help)->envname("FACEFUSE_WORKERS")->capture_default_str();
  command.add_option("--grace-seconds", flags.grace_seconds, "on SIGTERM, how long running tasks may finish before "
                                                             "their leases are released")->capture_default_str();
  command.add_option("--lease-seconds", flags.lease_seconds, "task lease: a crashed worker's task runs again this "
                                                             "long after its last heartbeat")->capture_default_str();
  command.add_option("--task-stall-seconds", flags.task_stall_seconds,
                     "fail a task (error 'stalled') whose worker heartbeats but processes no frame for this long; "
                     "0 = never")
      ->envname("FACEFUSE_TASK_STALL_SECONDS")->capture_default_str();
}

void set_node_globals(server::NodeOptions& options, const std::string& models_dir,
                      const inference::SessionOptions& session, const std::string& log_level) {
  options.models_dir = models_dir;
  options.session = session;
  options.log_level = log_level;
  options.version = "facefuse 0.1.0";
}

int node_exit_code(const Status& status) {
  if (status.is_ok()) return kExitOk;
  std::fprintf(stderr, "facefuse: error: %s\n", status.message().c_str());
  return status.code() == StatusCode::kUnavailable ? kExitProcessingFailure : exit_code_for(status.code());
}

}  // namespace facefuse::cli
