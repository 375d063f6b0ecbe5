// Where facefuse keeps things on disk, resolved from FACEFUSE_* environment variables.
//   FACEFUSE_MODELS_DIR  models directory        (default $FACEFUSE_HOME/models, or the installed
//                                                 <prefix>/share/facefuse/models while that does not exist)
//   FACEFUSE_HOME        data home                (default ~/.local/share/facefuse)
//   FACEFUSE_CACHE       download/test-data cache (default ~/.cache/facefuse)
// "~" is $HOME, or the passwd entry's home of the effective user when HOME is unset or empty
// (systemd units without User=), never /tmp: a world-writable fallback lets another user plant
// the directory that then receives the uploads.
//
// Threading: every function here may be called from any thread (they read the environment, so
// nothing may setenv() concurrently).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "facefuse/core/status.h"

namespace facefuse {

// $HOME, else the effective user's home from the passwd database; empty when neither exists
// (an arbitrary uid in a container): then facefuse_home()/facefuse_cache() are empty too, and
// check_private_directory() refuses them saying to set HOME or FACEFUSE_HOME.
std::filesystem::path user_home();
std::filesystem::path facefuse_home();
// The user's models directory ($FACEFUSE_MODELS_DIR or $FACEFUSE_HOME/models): where
// `facefuse models download` writes.
std::filesystem::path user_models_dir();
// user_models_dir(), except that an installed tree's read-only default models
// (installed_models_dir()) are used while FACEFUSE_MODELS_DIR is unset and the user's directory
// does not exist yet.
std::filesystem::path default_models_dir();
// <prefix>/share/facefuse/models beside an installed binary (<prefix>/bin/facefuse); empty when the
// running executable is not in such a layout (the build tree).
std::filesystem::path installed_models_dir();
std::filesystem::path facefuse_cache();

// A directory facefuse keeps private data in (the service's data directory, a models directory it
// writes to): created with mode 0700 (parents as needed) when missing; refused with
// kFailedPrecondition when it exists but is not a directory, is owned by another user than the
// effective one, or is writable by group or others — a message naming the owner/mode and the fix.
// `what` names it in messages ("data directory"). Empty `dir` is refused (no home directory).
Status check_private_directory(const std::filesystem::path& dir, const std::string& what);

// "Permission denied (errno 13)"-style text for an errno value, for messages that must say why an
// operation on a path failed.
std::string errno_text(int error_number);

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
