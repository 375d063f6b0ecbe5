// What the API does with jobs, independent of HTTP: register uploads (sniffed, limited, hashed,
// stored), submit jobs (validated, planned into tasks, answered from the result cache, deduplicated
// by Idempotency-Key), read, cancel and delete them — always within one tenant: another tenant's
// job or upload is kNotFound, exactly like a missing one.
//
// Threading: all methods are safe to call from several threads (the HTTP server's).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "facefuse/jobs/job_request.h"
#include "facefuse/jobs/job_store.h"
#include "facefuse/jobs/storage_keys.h"
#include "facefuse/storage/blob_store.h"
#include "facefuse/storage/url_fetch.h"

namespace facefuse::jobs {

struct ServiceLimits {
  int64_t max_upload_bytes = 500LL * 1024 * 1024;
  int64_t max_pixels = 40'000'000;      // per image or video frame
  double max_video_seconds = 600.0;
};

struct JobServiceConfig {
  std::filesystem::path temp_root;  // <data>/tmp: one private directory per job underneath
  ExecutionSettings execution;
  ServiceLimits limits;
  std::string engine_version;       // part of the result-cache fingerprint
  storage::UrlFetchOptions url_fetch;  // source/target "url" inputs (max_bytes follows the upload limit)
  int64_t max_active_jobs = 0;      // per tenant, pending + processing (0 = no limit); more → kQuotaExceeded
  // Free-space reserve of the file system holding temp_root (serve --min-free-mb), bytes: uploads
  // and submits at or below it → kInsufficientStorage (storage/free_space.h). 0: no reserve.
  uint64_t min_free_bytes = 0;
  // storage::ensure_ballast file kept so deletes work on a disk another process filled; empty:
  // none. Released when a delete finds under 1 MiB free, allocated again after a delete when the
  // reserve stays free.
  std::filesystem::path ballast;
  uint64_t ballast_bytes = 8u << 20;
};

class JobService {
 public:
  JobService(JobServiceConfig config, JobStore& store, storage::BlobStore& blobs);

  const JobServiceConfig& config() const { return config_; }
  JobStore& store() { return store_; }
  storage::BlobStore& blobs() { return blobs_; }

  // Takes ownership of the local file `file` (moved into storage, then removed). Content decides
  // the media: kUnsupported for anything but JPEG/PNG/WebP images and whitelisted video
  // containers, kInvalidMedia for an image without pixels (0×0), kLimitExceeded over the size,
  // pixel or duration limits, kInsufficientStorage at the free-space reserve. The stored display
  // name is storage::sanitize_display_name(client_filename). `upload_id`: the id to use (a direct
  // upload's), or "" for a new one. Stored under the tenant's uploads prefix (storage_keys.h).
  Result<Upload> register_upload(const std::string& tenant, const std::filesystem::path& file,
                                 const std::string& client_filename, const std::string& upload_id = "");

  // kModelNotInstalled when a model the processors and options need is not installed;
  // kQuotaExceeded when the tenant already has config.max_active_jobs pending or processing jobs
  // (checked atomically with the insert: JobStore::create_job).
  Result<CreatedJob> submit(const std::string& tenant, const nlohmann::json& body, const std::string& idempotency_key);
  Result<Job> get(const std::string& tenant, const std::string& job_id);
  // pending → cancelled at once; processing → cancel requested, and on_cancel_ (the local worker
  // pool) is told so it stops at the next frame.
  Result<Job> cancel(const std::string& tenant, const std::string& job_id);
  // Terminal jobs only; removes the job's outputs, segments and temp files.
  Status remove(const std::string& tenant, const std::string& job_id);
  // Removes an upload and its file. kNotFound for a missing or another tenant's upload;
  // kFailedPrecondition while a pending or processing job uses it (JobStore::delete_upload).
  // Never refused for lack of space: deleting is how a full disk is freed.
  Status remove_upload(const std::string& tenant, const std::string& upload_id);
  // kInsufficientStorage while the data directory's file system is at the reserve.
  Status check_free_space() const;

  // on_submit: a new job was queued (wake the workers); on_cancel: a running job was asked to
  // cancel (stop its tasks); on_finished: a job ended here rather than in a worker (a cache hit,
  // a pending job cancelled) — webhooks.
  void set_hooks(std::function<void()> on_submit, std::function<void(const std::string&)> on_cancel,
                 std::function<void(const Job&)> on_finished);

  // The fingerprint of a normalised request: sha256 of the inputs' checksums, output settings,
  // processors and options, the engine version and the installed model files' identities.
  std::string fingerprint(const nlohmann::json& request) const;

 private:
  Result<CreatedJob> submit_checked(const std::string& tenant, const nlohmann::json& body,
                                    const std::string& idempotency_key);
  // Before a delete: frees the ballast when the disk is nearly full. After: takes it back if
  // there is room.
  void make_room_for_delete();
  void restore_ballast();
  // `target_upload`: the request's target upload, as the submit's checks read it.
  Result<NewJob> plan(const std::string& job_id, const std::string& tenant, nlohmann::json request,
                      const Upload& target_upload);
  // Replaces {"url": ...} (or its aliases image_url / video_url) and {"key": ...} (an object of the
  // tenant's prefix in this store) in body.source / body.target by an upload of that file.
  Status fetch_url_inputs(const std::string& tenant, nlohmann::json& body);

  JobServiceConfig config_;
  JobStore& store_;
  storage::BlobStore& blobs_;
  std::function<void()> on_submit_;
  std::function<void(const std::string&)> on_cancel_;
  std::function<void(const Job&)> on_finished_;
};

// A new random id with `prefix` ("job_", "up_"): 16 lowercase hex characters after it.
Result<std::string> new_id(const std::string& prefix);

}  // namespace facefuse::jobs
