// The retention janitor (issue 13): deletes what the retention TTLs say has expired, sweeps
// orphans both ways, and measures the blob store. One pass:
//
//   1. takes the store lock "janitor" (JobStore::try_lock; on PostgreSQL a pg_try_advisory_lock, so
//      one API node at a time runs a pass and the others skip theirs);
//   2. lists every object of the blob store once, with sizes and times (BlobStore::list_entries);
//   3. uploads created more than `uploads_ms` ago: the row, then the object — except an upload a
//      pending or processing job reads (JobStore::delete_upload refuses it; kept until a later pass);
//   4. outputs of completed jobs that finished more than `outputs_ms` ago: the job row stays and
//      records output_expired_at (GET of the output answers 410), then the objects go;
//   5. terminal jobs that finished more than `jobs_ms` ago: the row with its tasks and events, then
//      every object left under its output and work prefixes;
//   6. when any TTL is set, the orphan sweep, both ways, for things older than `orphan_grace_ms`
//      (so an upload whose row is about to be written, or an output being committed, is never
//      taken): objects of the key layout (jobs/storage_keys.h parse_layout_key) whose upload or job
//      row is gone — or, for outputs and work segments, whose job ended without them being its
//      output — are deleted; upload rows whose object is missing are deleted (the upload could not
//      be used anyway; refused while a running job reads it, which then fails on its own), and
//      completed jobs whose output object is missing are marked expired like step 4 (the job stays
//      with its history; its output is gone either way). The direct-upload staging area _incoming/
//      is left to jobs/direct_uploads.h's own sweep;
//   7. deletes the collected keys in batches (S3: DeleteObjects of ≤ 1000 keys);
//   8. reports what is left by kind.
// Rows go before objects: a crash in between leaves orphans the next pass removes, never a row that
// promises a deleted object. Pending and processing jobs are never touched.
//
// Threading: run_pass() may be called from any thread (passes of one Janitor are serialised by the
// lock); start()/stop() from one thread. The callback runs on the janitor thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "facefuse/core/status.h"
#include "facefuse/jobs/job_store.h"
#include "facefuse/storage/blob_store.h"

namespace facefuse::jobs {

// Durations in ms; 0 = keep forever (the default: nothing is deleted unless asked).
struct RetentionPolicy {
  int64_t uploads_ms = 0;
  int64_t outputs_ms = 0;
  int64_t jobs_ms = 0;
  int64_t orphan_grace_ms = 3600 * 1000;  // objects and rows younger than this are never orphans

  bool any() const { return uploads_ms > 0 || outputs_ms > 0 || jobs_ms > 0; }
};

// "7d", "12h", "30m", "45s", "500ms", "0" (keep forever) → ms. kInvalidArgument naming `flag` otherwise.
Result<int64_t> parse_retention_duration(const std::string& text, const std::string& flag);

struct StorageUsage {
  int64_t objects = 0;
  int64_t bytes = 0;
};

// The kinds a pass reports (every one present, 0 when empty): uploads, outputs, segments (work
// prefixes: chunk segments of running video jobs), staging (_incoming/: unverified direct uploads),
// other (anything else under the storage root: objects of inputs by reference, older layouts' odd
// keys).
inline constexpr const char* kStorageKinds[] = {"uploads", "outputs", "segments", "staging", "other"};
const char* storage_kind_of(const std::string& key);

struct JanitorPass {
  bool ran = false;  // false: another node held the lock (nothing else is filled)
  double seconds = 0;
  std::map<std::string, StorageUsage> usage;  // what the store holds after the pass, by kind
  // Objects deleted, by reason: expired_upload, expired_output, expired_job, orphan.
  std::map<std::string, int64_t> deleted_objects;
  int64_t uploads_deleted = 0;         // rows (expired, or whose object was missing)
  int64_t uploads_kept_in_use = 0;     // expired, but a pending/processing job reads them
  int64_t outputs_expired = 0;         // jobs marked output_expired_at (TTL or object missing)
  int64_t jobs_deleted = 0;
};

class Janitor {
 public:
  Janitor(JobStore& store, storage::BlobStore& blobs, RetentionPolicy policy);
  ~Janitor();  // stops the thread
  Janitor(const Janitor&) = delete;
  Janitor& operator=(const Janitor&) = delete;

  // One pass now (see the top of this file). Errors: the store or blob store failed; what was done
  // before the failure stays done (each step is safe to repeat).
  Result<JanitorPass> run_pass();

  // Runs a pass every `interval_ms` (the first right away) on a thread of its own until stop();
  // `on_pass` gets each pass's result (metrics, logs).
  void start(int64_t interval_ms, std::function<void(const Result<JanitorPass>&)> on_pass);
  void stop();

 private:
  JobStore& store_;
  storage::BlobStore& blobs_;
  const RetentionPolicy policy_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace facefuse::jobs
