// Object storage behind one interface, chosen by URI scheme (DESIGN.md §2): file://DIR now,
// s3://bucket/prefix next. Keys are relative slash-separated names ("outputs/<job>/output.jpg");
// every key is validated before use, so no key can reach outside the store's root.
//
// Threading: implementations are safe to use from several threads at once; two writers of the
// same key race, the last complete put wins (each put is atomic).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::storage {

// A valid key: 1–512 characters of [A-Za-z0-9._-] segments joined by single '/'; no empty segment,
// no segment starting with '.' (so no "." or ".." and no clash with the stores' temporary files),
// not absolute, no backslash, no '%' (so no percent-encoded traversal can be decoded later).
// kInvalidArgument naming the problem otherwise.
Status validate_key(std::string_view key);

struct BlobInfo {
  int64_t size = 0;  // bytes
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // The URI this store was opened from (file:///abs/dir).
  virtual std::string uri() const = 0;

  // Copies the local file at `local` to `key` atomically: readers see the old object or the whole
  // new one, never a partial one. Streams, so any size works.
  virtual Status put_file(std::string_view key, const std::filesystem::path& local) = 0;

  // Makes the object available as a local file at `local` (a copy, or a hard link where the store
  // is on the same file system). Writes `local` atomically.
  virtual Status get_file(std::string_view key, const std::filesystem::path& local) = 0;

  // kNotFound when the key does not exist.
  virtual Result<BlobInfo> stat(std::string_view key) = 0;

  // Up to `length` bytes from byte `offset` (fewer at the end of the object).
  virtual Result<std::string> read_range(std::string_view key, int64_t offset, int64_t length) = 0;

  // Removing a missing key is not an error.
  virtual Status remove(std::string_view key) = 0;
  // Removes every key that starts with `prefix` + "/" (a job's temporary keys, its outputs).
  virtual Status remove_prefix(std::string_view prefix) = 0;

  // Keys under `prefix` + "/", sorted.
  virtual Result<std::vector<std::string>> list(std::string_view prefix) = 0;

  // Can this store write and read right now? (readiness probe)
  virtual Status check_ready() = 0;
};

// Opens the store a URI names: "file:///abs/dir" or a plain directory path. kUnsupported for
// other schemes (s3:// is the next issue).
Result<std::unique_ptr<BlobStore>> open_blob_store(const std::string& uri);

}  // namespace facefuse::storage
