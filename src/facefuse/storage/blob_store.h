// Object storage behind one interface, chosen by URI scheme (DESIGN.md §2): file://DIR or
// s3://bucket[/prefix] (storage/s3_blob_store.h). Keys are relative slash-separated names ("outputs/<job>/output.jpg");
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
#include "facefuse/storage/s3_options.h"

namespace facefuse::storage {

// A valid key: 1–512 characters of [A-Za-z0-9._-] segments joined by single '/'; no empty segment,
// no segment starting with '.' (so no "." or ".." and no clash with the stores' temporary files),
// not absolute, no backslash, no '%' (so no percent-encoded traversal can be decoded later).
// kInvalidArgument naming the problem otherwise.
Status validate_key(std::string_view key);

// A unique hidden name beside `target`, where a store writes a file before renaming it into place:
// the same directory, so the rename is atomic; a leading '.', so no valid key names it (list()
// skips it).
std::filesystem::path temp_path_beside(const std::filesystem::path& target);

struct BlobInfo {
  int64_t size = 0;  // bytes
};

// One object of a listing with what retention and accounting need (storage::BlobStore::list_entries).
struct BlobEntry {
  std::string key;
  int64_t size = 0;         // bytes
  int64_t modified_ms = 0;  // last write, Unix ms (S3: LastModified; file store: mtime)
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // The URI this store was opened from (file:///abs/dir, s3://bucket/prefix).
  virtual std::string uri() const = 0;

  // Copies the local file at `local` to `key` atomically: readers see the old object or the whole
  // new one, never a partial one. Streams, so any size works. The file store may hard-link `local`
  // instead of copying it: replace or delete `local` afterwards, never rewrite it in place.
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
  // Every object under `prefix` + "/" (or of the whole store for ""), sorted by key, with its size
  // and last-modified time: one ListObjectsV2 walk on S3, one directory walk on files. Objects under
  // names that are not valid keys (another program's, temporary files) are left out.
  virtual Result<std::vector<BlobEntry>> list_entries(std::string_view prefix) = 0;
  // Removes these keys; missing ones are not an error. S3 sends DeleteObjects requests of up to
  // 1000 keys; the file store unlinks each and then drops the directories that became empty.
  // Every key is validated first (nothing is removed when one is invalid).
  virtual Status remove_keys(const std::vector<std::string>& keys) = 0;

  // Can this store write and read right now? (readiness probe)
  virtual Status check_ready() = 0;

  // A URL anyone can GET `key` from, without credentials, for `ttl_seconds` (1..604800): stores a
  // browser can reach directly (S3). kUnsupported otherwise (the file store's objects are served
  // by the API under /media with its own signed links, server/media_links.h).
  virtual Result<std::string> presigned_get_url(std::string_view key, int64_t ttl_seconds);
  // A URL to PUT exactly `content_length` bytes of `content_type` to `key` for `ttl_seconds`; both
  // are bound into the signature. kUnsupported where presigned_get_url is.
  virtual Result<std::string> presigned_put_url(std::string_view key, int64_t ttl_seconds, int64_t content_length,
                                                const std::string& content_type);
};

// Opens the store a URI names: "file:///abs/dir", a plain directory path, or "s3://bucket[/prefix]"
// (configured by `s3`; ignored for the others). kInvalidArgument for a malformed URI or bad S3
// options, kUnsupported for other schemes. Does not contact an S3 server (check_ready() does).
Result<std::unique_ptr<BlobStore>> open_blob_store(const std::string& uri, const S3Options& s3 = {});

}  // namespace facefuse::storage
