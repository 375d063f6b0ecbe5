#include "facefuse/storage/blob_store.h"

#include <unistd.h>

#include <atomic>

#include <fmt/format.h>

#include "facefuse/storage/file_blob_store.h"
#include "facefuse/storage/s3_blob_store.h"

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

std::filesystem::path temp_path_beside(const std::filesystem::path& target) {
  static std::atomic<uint64_t> counter{0};
  return target.parent_path() / fmt::format(".tmp-{}-{}-{}", ::getpid(), counter.fetch_add(1), target.filename().string());
}

Result<std::string> BlobStore::presigned_get_url(std::string_view, int64_t) {
  return unsupported(fmt::format("storage {} has no presigned URLs", uri()));
}

Result<std::string> BlobStore::presigned_put_url(std::string_view, int64_t, int64_t, const std::string&) {
  return unsupported(fmt::format("storage {} has no presigned URLs", uri()));
}

Result<std::unique_ptr<BlobStore>> open_blob_store(const std::string& uri, const S3Options& s3) {
  constexpr std::string_view kFileScheme = "file://";
  constexpr std::string_view kS3Scheme = "s3://";
  std::string path = uri;
  if (uri.rfind(kS3Scheme, 0) == 0) {
    const std::string rest = uri.substr(kS3Scheme.size());
    const size_t slash = rest.find('/');
    const std::string bucket = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (!prefix.empty()) {
      if (Status s = validate_key(prefix); !s.is_ok()) {
        return invalid_argument(fmt::format("storage '{}': the prefix after the bucket is not usable: {}", uri, s.message()));
      }
    }
    FF_ASSIGN_OR_RETURN(auto store, S3BlobStore::open(bucket, prefix, s3));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  if (uri.rfind(kFileScheme, 0) == 0) {
    path = uri.substr(kFileScheme.size());
  } else if (uri.find("://") != std::string::npos) {
    return unsupported(fmt::format("storage '{}': use file://DIR, a directory path or s3://bucket/prefix", uri));
  }
  if (path.empty()) return invalid_argument("storage URI has no directory: use file:///abs/dir");
  FF_ASSIGN_OR_RETURN(auto store, FileBlobStore::open(path));
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace facefuse::storage
