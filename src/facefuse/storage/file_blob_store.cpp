#include "facefuse/storage/file_blob_store.h"

#include <algorithm>
#include <fstream>

#include <sys/stat.h>

#include <fmt/format.h>

#include "facefuse/core/paths.h"

namespace facefuse::storage {

namespace fs = std::filesystem;

namespace {

Status copy_atomically(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (ec) return unavailable(fmt::format("cannot create directory {}: {}", to.parent_path().string(), ec.message()));
  fs::path tmp = temp_path_beside(to);
  // A hard link costs nothing when both sides are on one file system; otherwise copy.
  fs::create_hard_link(from, tmp, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      fs::remove(tmp, ec);
      return unavailable(fmt::format("cannot copy {} to {}: {}", from.string(), to.string(), ec.message()));
    }
  }
  fs::rename(tmp, to, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return unavailable(fmt::format("cannot move {} into place: {}", to.string(), ec.message()));
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<FileBlobStore>> FileBlobStore::open(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return unavailable(fmt::format("cannot create storage directory {}: {}", root.string(), ec.message()));
  fs::path absolute = fs::canonical(root, ec);
  if (ec) return unavailable(fmt::format("cannot resolve storage directory {}: {}", root.string(), ec.message()));
  return std::unique_ptr<FileBlobStore>(new FileBlobStore(absolute));
}

std::string FileBlobStore::uri() const { return "file://" + root_.string(); }

Result<fs::path> FileBlobStore::path_of(std::string_view key) const {
  FF_RETURN_IF_ERROR(validate_key(key));
  // The key is clean text; the resolution also refuses a symlink inside the root that leads out.
  return resolve_under_root(root_, key);
}

Status FileBlobStore::put_file(std::string_view key, const fs::path& local) {
  FF_ASSIGN_OR_RETURN(fs::path target, path_of(key));
  std::error_code ec;
  if (!fs::is_regular_file(local, ec)) return not_found(fmt::format("cannot store {}: not a file", local.string()));
  return copy_atomically(local, target);
}

Status FileBlobStore::get_file(std::string_view key, const fs::path& local) {
  FF_ASSIGN_OR_RETURN(fs::path source, path_of(key));
  std::error_code ec;
  if (!fs::is_regular_file(source, ec)) return not_found(fmt::format("storage key '{}' does not exist", key));
  return copy_atomically(source, local);
}

Result<BlobInfo> FileBlobStore::stat(std::string_view key) {
  FF_ASSIGN_OR_RETURN(fs::path source, path_of(key));
  std::error_code ec;
  auto size = fs::file_size(source, ec);
  if (ec || !fs::is_regular_file(source)) return not_found(fmt::format("storage key '{}' does not exist", key));
  return BlobInfo{static_cast<int64_t>(size)};
}

Result<std::string> FileBlobStore::read_range(std::string_view key, int64_t offset, int64_t length) {
  FF_ASSIGN_OR_RETURN(fs::path source, path_of(key));
  if (offset < 0 || length < 0) return invalid_argument("read_range: offset and length must be 0 or more");
  std::ifstream in(source, std::ios::binary);
  if (!in) return not_found(fmt::format("storage key '{}' does not exist", key));
  in.seekg(offset);
  std::string data(static_cast<size_t>(length), '\0');
  in.read(data.data(), length);
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

Status FileBlobStore::remove(std::string_view key) {
  FF_ASSIGN_OR_RETURN(fs::path target, path_of(key));
  std::error_code ec;
  fs::remove(target, ec);
  if (ec) return unavailable(fmt::format("cannot remove storage key '{}': {}", key, ec.message()));
  return Status::ok();
}

Status FileBlobStore::remove_prefix(std::string_view prefix) {
  FF_ASSIGN_OR_RETURN(fs::path dir, path_of(prefix));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return unavailable(fmt::format("cannot remove storage prefix '{}': {}", prefix, ec.message()));
  return Status::ok();
}

Result<std::vector<std::string>> FileBlobStore::list(std::string_view prefix) {
  FF_ASSIGN_OR_RETURN(fs::path dir, path_of(prefix));
  std::vector<std::string> keys;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return keys;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string relative = fs::relative(it->path(), root_).generic_string();
    if (validate_key(relative).is_ok()) keys.push_back(relative);  // skips temporary files
  }
  if (ec) return unavailable(fmt::format("cannot list storage prefix '{}': {}", prefix, ec.message()));
  std::sort(keys.begin(), keys.end());
  return keys;
}

Result<std::vector<BlobEntry>> FileBlobStore::list_entries(std::string_view prefix) {
  fs::path dir = root_;
  if (!prefix.empty()) {
    FF_ASSIGN_OR_RETURN(dir, path_of(prefix));
  }
  std::vector<BlobEntry> entries;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return entries;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code entry_ec;
    if (!it->is_regular_file(entry_ec)) continue;
    std::string relative = fs::relative(it->path(), root_).generic_string();
    if (!validate_key(relative).is_ok()) continue;  // temporary files and foreign names
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;  // removed while listing
    const int64_t modified_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    entries.push_back({std::move(relative), static_cast<int64_t>(st.st_size), modified_ms});
  }
  if (ec) return unavailable(fmt::format("cannot list storage prefix '{}': {}", prefix, ec.message()));
  std::sort(entries.begin(), entries.end(), [](const BlobEntry& a, const BlobEntry& b) { return a.key < b.key; });
  return entries;
}

Status FileBlobStore::remove_keys(const std::vector<std::string>& keys) {
  std::vector<fs::path> paths;
  for (const auto& key : keys) {
    FF_ASSIGN_OR_RETURN(fs::path target, path_of(key));
    paths.push_back(std::move(target));
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    std::error_code ec;
    fs::remove(paths[i], ec);
    if (ec) return unavailable(fmt::format("cannot remove storage key '{}': {}", keys[i], ec.message()));
    // Day and id directories would pile up empty otherwise; fs::remove refuses a non-empty one.
    for (fs::path dir = paths[i].parent_path(); dir != root_ && dir.string().size() > root_.string().size();
         dir = dir.parent_path()) {
      if (!fs::remove(dir, ec) || ec) break;
    }
  }
  return Status::ok();
}

Status FileBlobStore::check_ready() {
  fs::path probe = temp_path_beside(root_ / "ready-probe");
  {
    std::ofstream out(probe, std::ios::binary);
    out << "ok";
    if (!out) return unavailable(fmt::format("storage directory {} is not writable", root_.string()));
  }
  std::error_code ec;
  fs::remove(probe, ec);
  return Status::ok();
}

}  // namespace facefuse::storage
