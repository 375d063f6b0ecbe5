// The model catalogue: data (models/catalog.json, embedded at build time), not code.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  std::string release;     // facefusion-assets release tag holding the file (FaceFusion models)
  int64_t size = 0;        // bytes; 0 = unknown
  std::string hash;        // CRC32, 8 lowercase hex digits; empty = unknown
  nlohmann::json contract; // how to run the model (docs/models.md); null for models without one
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
