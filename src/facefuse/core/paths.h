// Where facefuse keeps things on disk, resolved from FACEFUSE_* environment variables.
//   FACEFUSE_MODELS_DIR  models directory        (default $FACEFUSE_HOME/models)
//   FACEFUSE_HOME        data home                (default ~/.local/share/facefuse)
//   FACEFUSE_CACHE       download/test-data cache (default ~/.cache/facefuse)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "facefuse/core/status.h"

namespace facefuse {

std::filesystem::path facefuse_home();
std::filesystem::path default_models_dir();
std::filesystem::path facefuse_cache();

// Value of environment variable `name`, or `fallback` when unset or empty.
std::string env_or(const char* name, const std::string& fallback);

// The absolute path that `relative` (a storage key or file name received from a client) names
// under `root`, with symlinks in its existing prefix resolved. Refused with invalid_argument:
// empty names, absolute paths, `..` segments, backslashes, NUL bytes, percent-encoded dots,
// slashes, backslashes, NULs or percents (%2e %2f %5c %00 %25, any case: a later decoding step
// must not turn a checked name into a traversal), the root itself, and names whose resolved path
// leaves the root through a symlink. `root` need not exist yet. Thread-safe.
Result<std::filesystem::path> resolve_under_root(const std::filesystem::path& root, std::string_view relative);

}  // namespace facefuse
