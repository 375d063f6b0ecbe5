// `facefuse serve`: flags → server::ServeOptions; the service itself lives in server/serve.h.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "facefuse/inference/onnx_session.h"
#include "facefuse/server/serve.h"

namespace facefuse::cli {

struct ServeFlags {
  server::ServeOptions options;
  double max_upload_mb = 500;
  double max_live_frame_mb = 2;  // → options.live.max_frame_bytes
  bool no_auth = false;
  // Retention durations as given ("7d", "12h", "0"), parsed by run_serve_command (jobs/janitor.h).
  std::string retain_uploads = "0", retain_outputs = "0", retain_jobs = "0";
  std::string janitor_interval = "5m", orphan_grace = "1h";
};

// Adds the `serve` verb with its flags bound to `flags`.
CLI::App* add_serve_command(CLI::App& app, ServeFlags& flags);

// Runs the service with the global flags (models directory, inference backend, log level);
// returns the exit code (0 after a graceful stop, 2 for bad flags, 1 when it cannot start).
int run_serve_command(ServeFlags flags, const std::string& models_dir, const inference::SessionOptions& session,
                      const std::string& log_level);

}  // namespace facefuse::cli
