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
};

// Adds the `serve` verb with its flags bound to `flags`.
CLI::App* add_serve_command(CLI::App& app, ServeFlags& flags);

// Runs the service with the global flags (models directory, inference backend, log level);
// returns the exit code (0 after a graceful stop, 2 for bad flags, 1 when it cannot start).
int run_serve_command(ServeFlags flags, const std::string& models_dir, const inference::SessionOptions& session,
                      const std::string& log_level);

}  // namespace facefuse::cli
