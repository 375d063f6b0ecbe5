#include "facefuse/storage/blob_store.h"

#include <fmt/format.h>

#include "facefuse/storage/file_blob_store.h"

namespace facefuse::storage {

namespace {
constexpr size_t kMaxKeyLength = 512;

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}
}  // namespace

Status validate_key(std::string_view key) {
  if (key.empty()) return invalid_argument("storage key is empty");
  if (key.size() > kMaxKeyLength) return invalid_argument(fmt::format("storage key is longer than {} characters", kMaxKeyLength));
  if (key.front() == '/') return invalid_argument(fmt::format("storage key '{}' is absolute: keys are relative", key));
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view segment = key.substr(start, end - start);
    if (segment.empty()) return invalid_argument(fmt::format("storage key '{}' has an empty path segment", key));
    if (segment.front() == '.') {
      return invalid_argument(fmt::format("storage key '{}' has a segment starting with '.' ('{}'): no '.', '..' or "
                                          "hidden names", key, segment));
    }
    for (char c : segment) {
      if (!is_key_char(c)) {
        return invalid_argument(fmt::format("storage key '{}' has the character '{}': use letters, digits, '.', '_', "
                                            "'-' and '/'", key, c));
      }
    }
    start = end + 1;
  }
  return Status::ok();
}

Result<std::unique_ptr<BlobStore>> open_blob_store(const std::string& uri) {
  constexpr std::string_view kFileScheme = "file://";
  std::string path = uri;
  if (uri.rfind(kFileScheme, 0) == 0) {
    path = uri.substr(kFileScheme.size());
  } else if (uri.find("://") != std::string::npos) {
    return unsupported(fmt::format("storage '{}': only file://DIR (or a directory path) is supported here", uri));
  }
  if (path.empty()) return invalid_argument("storage URI has no directory: use file:///abs/dir");
  FF_ASSIGN_OR_RETURN(auto store, FileBlobStore::open(path));
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace facefuse::storage
