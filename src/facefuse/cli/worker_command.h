// `facefuse worker`: flags → server::WorkerOptions; the process itself lives in server/worker_node.h.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "facefuse/inference/onnx_session.h"
#include "facefuse/server/worker_node.h"

namespace facefuse::cli {

// Adds the `worker` verb with its flags bound to `options`.
CLI::App* add_worker_command(CLI::App& app, server::WorkerOptions& options);

// Runs the worker with the global flags (models directory, inference backend, log level); returns
// the exit code (0 after a clean stop, 2 for bad flags, 1 when it cannot start).
int run_worker_command(server::WorkerOptions options, const std::string& models_dir,
                       const inference::SessionOptions& session, const std::string& log_level);

}  // namespace facefuse::cli
