// Where facefuse keeps things on disk, resolved from FACEFUSE_* environment variables.
//   FACEFUSE_MODELS_DIR  models directory        (default $FACEFUSE_HOME/models)
//   FACEFUSE_HOME        data home                (default ~/.local/share/facefuse)
//   FACEFUSE_CACHE       download/test-data cache (default ~/.cache/facefuse)
#pragma once

#include <filesystem>
#include <string>

namespace facefuse {

std::filesystem::path facefuse_home();
std::filesystem::path default_models_dir();
std::filesystem::path facefuse_cache();

// Value of environment variable `name`, or `fallback` when unset or empty.
std::string env_or(const char* name, const std::string& fallback);

}  // namespace facefuse
