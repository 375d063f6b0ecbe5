#include "facefuse/core/paths.h"

#include <cstdlib>

namespace facefuse {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

static std::filesystem::path user_home() { return env_or("HOME", "/tmp"); }

std::filesystem::path facefuse_home() {
  return env_or("FACEFUSE_HOME", (user_home() / ".local/share/facefuse").string());
}

std::filesystem::path default_models_dir() {
  return env_or("FACEFUSE_MODELS_DIR", (facefuse_home() / "models").string());
}

std::filesystem::path facefuse_cache() {
  return env_or("FACEFUSE_CACHE", (user_home() / ".cache/facefuse").string());
}

}  // namespace facefuse
