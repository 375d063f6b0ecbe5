#include "facefuse/inference/model_catalog.h"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace facefuse::inference {

extern const char* const kModelCatalogJson;  // generated from models/catalog.json

const char* model_state_name(ModelState state) {
  switch (state) {
    case ModelState::kInstalled: return "installed";
    case ModelState::kMissing: return "missing";
    case ModelState::kCorrupt: return "corrupt";
  }
  return "?";
}

const std::vector<ModelEntry>& model_catalog() {
  static const std::vector<ModelEntry> catalog = [] {
    std::vector<ModelEntry> entries;
    auto doc = nlohmann::json::parse(kModelCatalogJson);
    for (const auto& m : doc.at("models")) {
      ModelEntry entry;
      entry.id = m.at("id");
      entry.file = m.at("file");
      entry.kind = m.at("kind");
      entry.description = m.value("description", "");
      entry.source = m.value("source", "");
      entry.license = m.value("license", "");
      entry.is_default = m.value("default", false);
      entry.release = m.value("release", "");
      entry.size = m.value("size", int64_t{0});
      entry.hash = m.value("hash", "");
      entry.contract = m.value("contract", nlohmann::json());
      entries.push_back(std::move(entry));
    }
    return entries;
  }();
  return catalog;
}

Result<const ModelEntry*> find_model(const std::string& id) {
  for (const auto& m : model_catalog()) {
    if (m.id == id) return &m;
  }
  return not_found(fmt::format("unknown model '{}': `facefuse models list` shows the catalogue", id));
}

ModelState model_state(const ModelEntry& model, const std::filesystem::path& models_dir) {
  std::error_code ec;
  auto path = models_dir / model.file;
  if (!std::filesystem::exists(path, ec)) return ModelState::kMissing;
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size == 0) return ModelState::kCorrupt;
  std::ifstream probe(path, std::ios::binary);
  return probe ? ModelState::kInstalled : ModelState::kCorrupt;
}

Result<std::filesystem::path> require_model(const std::string& id, const std::filesystem::path& models_dir) {
  FF_ASSIGN_OR_RETURN(const ModelEntry* model, find_model(id));
  auto path = models_dir / model->file;
  switch (model_state(*model, models_dir)) {
    case ModelState::kInstalled: return path;
    case ModelState::kMissing:
      return failed_precondition(fmt::format("model {} is not installed (expected {}): run scripts/setup, or set "
                                             "--models-dir/FACEFUSE_MODELS_DIR to the directory that holds it",
                                             id, path.string()));
    case ModelState::kCorrupt:
      return failed_precondition(fmt::format("model file {} is empty or unreadable: delete it and run scripts/setup",
                                             path.string()));
  }
  return internal_error("unreachable");
}

}  // namespace facefuse::inference
