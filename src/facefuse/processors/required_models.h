// Which catalogue models a job will open, known before it runs: the service refuses a job whose
// models are not installed at submit (409 model_not_installed) instead of queueing a job that can
// only fail in the worker.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"

namespace facefuse::processors {

// A catalogue model a job needs, and the option that asks for it (for messages).
struct RequiredModel {
  std::string id;
  std::string kind;
  std::string needed_for;  // e.g. "face_swapper_model 'inswapper_128'"
};

// The catalogue models that `processors` with `options` (validated by validate_options, so every
// option is present) open: the face analyser's detector and landmarker, the recognizer in
// reference mode, each processor's model and its helpers (ArcFace, embedding converter, occluder,
// parser). Choices that need no file (the classical swapper, dlib_hog) add nothing. The
// recognizer "auto" needs ArcFace when it is installed in `models_dir`, else dlib's.
// kInvalidArgument for an unknown model id or a bad catalogue contract.
Result<std::vector<RequiredModel>> required_models(const std::vector<std::string>& processors,
                                                   const nlohmann::json& options,
                                                   const std::filesystem::path& models_dir);

// kModelNotInstalled for the first required model whose file is missing or empty, naming the
// model, the option that needs it and the command that installs it.
Status check_required_models(const std::vector<std::string>& processors, const nlohmann::json& options,
                             const std::filesystem::path& models_dir);

}  // namespace facefuse::processors
