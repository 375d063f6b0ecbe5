#include "facefuse/cli/worker_command.h"

#include "facefuse/cli/node_flags.h"

namespace facefuse::cli {

CLI::App* add_worker_command(CLI::App& app, server::WorkerOptions& o) {
  auto* worker = app.add_subcommand("worker", "Run jobs without an API: claim tasks from the job store, run them and "
                                              "commit their outputs (with `serve --workers 0` API nodes; "
                                              "docs/service.md, Workers)");
  add_store_flags(*worker, o);
  add_worker_pool_flags(*worker, o,
                        "tasks this process runs at once (CPU threads are shared between them)");
  worker->add_option("--max-tasks", o.max_tasks, "exit (code 0) after this many tasks; 0 = no limit")
      ->envname("FACEFUSE_MAX_TASKS")->capture_default_str();
  worker->add_option("--idle-exit-seconds", o.idle_exit_seconds, "exit (code 0) after this long without a task; "
                                                                 "0 = never")
      ->envname("FACEFUSE_IDLE_EXIT_SECONDS")->capture_default_str();
  worker->add_option("--device-id", o.device_id, "GPU index this worker's models run on (cuda/tensorrt; default "
                                                 "--execution-device-id)")
      ->envname("FACEFUSE_DEVICE_ID");
  worker->add_option("--metrics-listen", o.metrics_listen, "HOST:PORT serving /metrics, /healthz and /readyz of this "
                                                           "worker (Prometheus, liveness/readiness probes); port 0 "
                                                           "picks a free one, logged as \"metrics listener\"")
      ->envname("FACEFUSE_METRICS_LISTEN");
  worker->add_flag("--allow-private-urls", o.allow_private_urls, "let webhooks of jobs this worker finishes reach "
                                                                "loopback, private and link-local addresses");
  worker->add_option("--media-link-ttl", o.media_link_ttl_seconds, "seconds the signed output_url of a webhook "
                                                                   "stays valid")->capture_default_str();
  return worker;
}

int run_worker_command(server::WorkerOptions options, const std::string& models_dir,
                       const inference::SessionOptions& session, const std::string& log_level) {
  set_node_globals(options, models_dir, session, log_level);
  return node_exit_code(server::run_worker(options));
}

}  // namespace facefuse::cli
