// Direct uploads (issue 13): the client PUTs the file straight to the object store with a presigned
// URL instead of streaming it through the API.
//
//   begin(tenant, filename, size, content_type) → {upload_id, put_url, expires_at}: put_url is a
//     presigned S3 PUT of _incoming/<upload_id>/object with Content-Length and Content-Type bound
//     into the signature (the store refuses any other size or type); a manifest of what was
//     promised is written beside it (_incoming/<upload_id>/manifest.json).
//   complete(tenant, upload_id) → the Upload, usable in jobs: the object's size (HEAD) must be
//     the promised one; its first bytes (a ranged GET) must be the promised type; then the whole
//     object goes through JobService::register_upload like a streamed upload (content sniffing,
//     pixel and duration limits, sha256) and is stored under the tenant's uploads prefix. The
//     staging object is removed whatever the outcome, so a client that PUTs again after complete()
//     changes nothing that was verified. Completing twice returns the same upload.
//   Unfinished ones expire after the TTL (the presigned URL's): complete() refuses them and
//     expire() (run at most once a minute from begin/complete) removes them.
//
// Only stores that presign (S3): with file storage begin() is kFailedPrecondition naming the
// streamed route instead. Manifests live in the blob store, so any API node of a cluster can
// complete an upload another node began.
//
// Threading: safe to call from several threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "facefuse/jobs/job_service.h"

namespace facefuse::jobs {

struct DirectUploadTicket {
  std::string upload_id;
  std::string put_url;
  int64_t expires_at_ms = 0;   // Unix ms; the URL and the upload expire together
  int64_t size = 0;            // bytes the PUT must carry (Content-Length)
  std::string content_type;    // the PUT's Content-Type
};

class DirectUploads {
 public:
  // `ttl_seconds`: how long put_url is valid and the upload may be completed (1–604800).
  DirectUploads(JobService& service, int64_t ttl_seconds);

  // kInvalidArgument for a bad filename/size, kLimitExceeded over the upload limit, kUnsupported
  // for a content type not in the list, kFailedPrecondition when the store cannot presign.
  Result<DirectUploadTicket> begin(const std::string& tenant, const std::string& filename, int64_t size,
                                   const std::string& content_type);
  // kNotFound for an unknown upload or another tenant's; kFailedPrecondition when expired or
  // nothing was PUT yet (the client may PUT and complete again); kInvalidArgument for a size other
  // than the promised one; kUnsupported when the bytes are not the promised type; then
  // register_upload's codes. After any failure but "nothing PUT yet" the upload is gone.
  Result<Upload> complete(const std::string& tenant, const std::string& upload_id);
  // Removes every staged upload whose expiry is before `now_ms` (and staged objects without a
  // manifest); returns how many uploads were removed.
  Result<int> expire(int64_t now_ms);

 private:
  Result<Upload> complete_checked(const std::string& tenant, const std::string& upload_id);
  void maybe_expire();

  JobService& service_;
  int64_t ttl_seconds_;
  std::atomic<int64_t> last_expiry_ms_{0};
};

}  // namespace facefuse::jobs
