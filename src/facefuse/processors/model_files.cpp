#include "facefuse/processors/model_files.h"

#include <fmt/format.h>

namespace facefuse::processors {

Result<InstalledModel> require_installed_model(const std::string& id, std::string_view kind,
                                               const std::filesystem::path& models_dir) {
  auto found = inference::find_model(id);
  if (!found) return invalid_argument(found.status().message());
  const inference::ModelEntry* entry = *found;
  if (entry->kind != kind) {
    return invalid_argument(fmt::format("model {} is a {}, not a {}", id, entry->kind, kind));
  }
  const auto path = models_dir / entry->file;
  switch (inference::model_state(*entry, models_dir)) {
    case inference::ModelState::kInstalled: return InstalledModel{entry, path};
    case inference::ModelState::kMissing:
      return failed_precondition(fmt::format(
          "model {} is not installed: {} is missing. Run `facefuse models download {}`, or copy FaceFusion's "
          "{} (release {}) there by hand (docs/models.md), or point --models-dir at FaceFusion's .assets/models",
          id, path.string(), id, entry->file, entry->release.empty() ? "see docs/models.md" : entry->release));
    case inference::ModelState::kCorrupt:
      return failed_precondition(fmt::format("model file {} is empty or unreadable: delete it and run `facefuse models "
                                             "download {}` (docs/models.md)",
                                             path.string(), id));
  }
  return internal_error("unreachable");
}

std::vector<std::string> catalog_model_ids(std::string_view kind) {
  std::vector<std::string> ids;
  for (const auto& m : inference::model_catalog()) {
    if (m.kind == kind) ids.push_back(m.id);
  }
  return ids;
}

}  // namespace facefuse::processors
