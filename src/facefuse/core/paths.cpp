#include "facefuse/core/paths.h"

#include <algorithm>
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

namespace facefuse {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True when `text` holds a %XX escape that decodes to a character that can build a traversal once
// some later layer decodes the name: '.', '/', '\\', NUL, or '%' itself (double encoding).
bool has_encoded_traversal(std::string_view text) {
  for (std::size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] != '%') continue;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) continue;
    const char decoded = static_cast<char>(hi * 16 + lo);
    if (decoded == '.' || decoded == '/' || decoded == '\\' || decoded == '\0' || decoded == '%') return true;
  }
  return false;
}

bool has_dot_dot_segment(std::string_view text) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('/', start), text.size());
    if (text.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

// Whether `path` is `root` or lies below it, compared by whole components (so /data2 is not
// under /data). Both must be lexically normal and absolute.
bool is_within(const std::filesystem::path& root, const std::filesystem::path& path) {
  auto r = root.begin();
  auto p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // the empty last component of a root ending in '/'
    if (p == path.end() || *r != *p) return false;
  }
  return true;
}

}  // namespace

Result<std::filesystem::path> resolve_under_root(const std::filesystem::path& root, std::string_view relative) {
  const auto refuse = [&](const char* why) {
    return invalid_argument(std::string("path '") + std::string(relative.substr(0, relative.find('\0'))) +
                            "' refused: " + why + "; give a name relative to the storage root");
  };
  if (relative.empty()) return refuse("it is empty");
  if (relative.find('\0') != std::string_view::npos) return refuse("it contains a NUL byte");
  if (relative.front() == '/') return refuse("it is absolute");
  if (relative.find('\\') != std::string_view::npos) return refuse("it contains a backslash");
  if (has_dot_dot_segment(relative)) return refuse("it contains a '..' segment");
  if (has_encoded_traversal(relative)) return refuse("it contains a percent-encoded '.', '/', '\\\\', '%' or NUL");

  std::error_code ec;
  const std::filesystem::path canonical_root = std::filesystem::weakly_canonical(std::filesystem::absolute(root), ec);
  if (ec) return internal_error("cannot resolve storage root '" + root.string() + "': " + ec.message());
  const std::filesystem::path resolved = std::filesystem::weakly_canonical(canonical_root / relative, ec);
  if (ec) return internal_error("cannot resolve '" + std::string(relative) + "' under '" + root.string() + "': " + ec.message());
  if (!is_within(canonical_root, resolved)) return refuse("it leaves the storage root through a symlink");
  if (resolved.lexically_relative(canonical_root) == ".") return refuse("it names the storage root itself");
  return resolved;
}

}  // namespace facefuse
