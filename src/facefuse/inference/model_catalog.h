// The model catalogue: data (models/catalog.json, embedded at build time), not code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::inference {

struct ModelEntry {
  std::string id;
  std::string file;
  std::string kind;  // face_detector | face_landmarker | face_recognizer | face_swapper | ...
  std::string description;
  std::string source;
  std::string license;
  bool is_default = false;
};

enum class ModelState { kInstalled, kMissing, kCorrupt };
const char* model_state_name(ModelState state);

const std::vector<ModelEntry>& model_catalog();
Result<const ModelEntry*> find_model(const std::string& id);

// Installed = present and non-empty in `models_dir`; corrupt = present but empty or unreadable.
ModelState model_state(const ModelEntry& model, const std::filesystem::path& models_dir);

// The path of an installed model, or kFailedPrecondition saying how to install it.
Result<std::filesystem::path> require_model(const std::string& id, const std::filesystem::path& models_dir);

}  // namespace facefuse::inference
