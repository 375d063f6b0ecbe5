#include "facefuse/core/paths.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <vector>

#include <fmt/format.h>

namespace facefuse {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

std::filesystem::path user_home() {
  if (std::string home = env_or("HOME", ""); !home.empty()) return home;
  // getpwuid_r: reentrant; the buffer size hint may be -1 (no limit known).
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<size_t>(hint) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(geteuid(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) return {};
  if (found->pw_dir == nullptr || found->pw_dir[0] != '/') return {};
  return found->pw_dir;
}

namespace {
// `home`/`suffix`, or empty when the home is unknown (never a relative path).
std::filesystem::path under_home(const char* suffix) {
  const auto home = user_home();
  return home.empty() ? std::filesystem::path() : home / suffix;
}
}  // namespace

std::filesystem::path facefuse_home() {
  if (std::string v = env_or("FACEFUSE_HOME", ""); !v.empty()) return v;
  return under_home(".local/share/facefuse");
}

std::filesystem::path user_models_dir() {
  if (std::string v = env_or("FACEFUSE_MODELS_DIR", ""); !v.empty()) return v;
  const auto home = facefuse_home();
  return home.empty() ? home : home / "models";
}

std::filesystem::path installed_models_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec || exe.parent_path().filename() != "bin") return {};
  const auto dir = exe.parent_path().parent_path() / "share" / "facefuse" / "models";
  return std::filesystem::is_directory(dir, ec) ? dir : std::filesystem::path();
}

std::filesystem::path default_models_dir() {
  const auto user = user_models_dir();
  if (!env_or("FACEFUSE_MODELS_DIR", "").empty()) return user;
  std::error_code ec;
  if (!user.empty() && std::filesystem::exists(user, ec)) return user;
  const auto installed = installed_models_dir();
  return installed.empty() ? user : installed;
}

std::filesystem::path facefuse_cache() {
  if (std::string v = env_or("FACEFUSE_CACHE", ""); !v.empty()) return v;
  return under_home(".cache/facefuse");
}

std::string errno_text(int error_number) {
  return fmt::format("{} (errno {})", std::generic_category().message(error_number), error_number);
}

Status check_private_directory(const std::filesystem::path& dir, const std::string& what) {
  if (dir.empty()) {
    return failed_precondition(fmt::format("no {} given and no home directory to put it in: HOME is unset and user id "
                                           "{} has no home in the passwd database; set HOME or FACEFUSE_HOME, or "
                                           "pass the directory explicitly",
                                           what, geteuid()));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return failed_precondition(fmt::format("cannot use {} {}: {}", what, dir.string(), errno_text(errno)));
    }
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path().empty() ? "." : dir.parent_path(), ec);
    if (ec) {
      return failed_precondition(fmt::format("cannot create the parent of {} {}: {}", what, dir.string(),
                                             errno_text(ec.value())));
    }
    // 0700: uploads, outputs and keys are the user's alone (umask can only narrow it further).
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return failed_precondition(fmt::format("cannot create {} {}: {}", what, dir.string(), errno_text(errno)));
    }
    if (::stat(dir.c_str(), &st) != 0) {
      return failed_precondition(fmt::format("cannot use {} {}: {}", what, dir.string(), errno_text(errno)));
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    return failed_precondition(fmt::format("{} {} exists but is not a directory: remove it or choose another path",
                                           what, dir.string()));
  }
  if (st.st_uid != geteuid()) {
    return failed_precondition(fmt::format("refusing {} {}: it is owned by user id {}, not by the user running facefuse "
                                           "(id {}); someone else may read or plant files there. Use a directory "
                                           "you own (chown it, or pass another path)",
                                           what, dir.string(), st.st_uid, geteuid()));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return failed_precondition(fmt::format("refusing {} {}: its mode {:04o} lets {} write into it; run `chmod go-w {}` "
                                           "(or 700) or choose another directory",
                                           what, dir.string(), st.st_mode & 07777,
                                           (st.st_mode & S_IWOTH) != 0 ? "every user" : "its group", dir.string()));
  }
  return Status::ok();
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
