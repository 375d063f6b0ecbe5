// Resolving a FaceFusion model id of the catalogue (models/catalog.json) to its installed file,
// with the message a user needs when it is missing: which file, where, and how to get it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "facefuse/core/status.h"
#include "facefuse/inference/model_catalog.h"

namespace facefuse::processors {

struct InstalledModel {
  const inference::ModelEntry* entry = nullptr;
  std::filesystem::path path;
};

// The catalogue entry `id` of kind `kind` and its file in `models_dir`. Unknown id or wrong kind →
// kInvalidArgument; missing or empty file → kFailedPrecondition naming the file and pointing to
// `facefuse models download <id>` and docs/models.md.
Result<InstalledModel> require_installed_model(const std::string& id, std::string_view kind,
                                               const std::filesystem::path& models_dir);

// Ids of the catalogue's models of `kind`, in catalogue order.
std::vector<std::string> catalog_model_ids(std::string_view kind);

}  // namespace facefuse::processors
