// BlobStore on S3-compatible object storage (AWS S3, MinIO, Ceph RGW, R2, GCS interop), selected by
// --storage s3://bucket[/prefix]. libcurl does the HTTP; every request is signed with our SigV4
// (storage/sigv4.h). Bodies stream both ways (a file is read and written in 64 KiB pieces, never
// held in memory); objects larger than the part size go up as multipart uploads, aborted when they
// fail. Requests that fail with a connection error, a timeout, 5xx or throttling (429, SlowDown,
// RequestTimeout) are retried with exponential backoff and full jitter; every other error is
// turned into a Status naming what to fix (missing bucket, refused credentials, clock skew,
// unreachable endpoint). Secrets never appear in messages or logs.
//
// Threading: an S3BlobStore is safe to use from several threads at once (each request uses its own
// curl handle; credentials are cached behind a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "facefuse/storage/blob_store.h"
#include "facefuse/storage/s3_options.h"

namespace facefuse::storage {

class S3BlobStore final : public BlobStore {
 public:
  // `bucket`: a DNS-compatible bucket name; `prefix`: "" or slash-separated segments that every key
  // is put under. Does not contact the server (check_ready() does).
  static Result<std::unique_ptr<S3BlobStore>> open(const std::string& bucket, const std::string& prefix,
                                                   S3Options options);

  std::string uri() const override;
  Status put_file(std::string_view key, const std::filesystem::path& local) override;
  Status get_file(std::string_view key, const std::filesystem::path& local) override;
  Result<BlobInfo> stat(std::string_view key) override;
  Result<std::string> read_range(std::string_view key, int64_t offset, int64_t length) override;
  Status remove(std::string_view key) override;
  Status remove_prefix(std::string_view prefix) override;
  Result<std::vector<std::string>> list(std::string_view prefix) override;
  Result<std::vector<BlobEntry>> list_entries(std::string_view prefix) override;
  Status remove_keys(const std::vector<std::string>& keys) override;
  // HEAD of the bucket.
  Status check_ready() override;
  Result<std::string> presigned_get_url(std::string_view key, int64_t ttl_seconds) override;
  Result<std::string> presigned_put_url(std::string_view key, int64_t ttl_seconds, int64_t content_length,
                                        const std::string& content_type) override;

  ~S3BlobStore() override;

 private:
  struct Impl;
  explicit S3BlobStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facefuse::storage
