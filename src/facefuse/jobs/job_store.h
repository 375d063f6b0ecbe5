// JobStore: jobs, leased tasks, progress events, API keys and uploads behind one interface, so the
// embedded SQLite store and the PostgreSQL store of distributed mode are exchangeable.
// Every state change is one transaction: a crash between two calls never leaves a job half-moved.
//
// Leases: claim_task() hands a task to one worker until lease_expires_at; the worker extends it
// with heartbeat(). A task whose lease expired (the worker died) is claimable again, so a crash or
// restart loses nothing. Calls that need the lease (heartbeat, progress, complete, fail, release)
// return kFailedPrecondition when the caller no longer holds it; the caller must then drop its
// result (another worker redoes or has redone the task).
//
// Attempts: every claim counts one attempt, whether the task was pending or its lease had expired
// (a worker that died holding it — possibly killed by the task itself, e.g. an input that crashes
// the decoder). An expired lease on a task that already used max_attempts is not handed out
// again: the task fails and its job fails with error code kCrashedWorkerError ("crashed_worker"),
// so one poisonous input cannot take down every worker that touches it, forever. Except a lease
// lost to the store itself: on PostgreSQL, a lease last renewed before the database server started
// (a restart or failover cut every worker off, so no holder could renew) is handed on without
// counting an attempt — still an interruption (Lease::lease_expired), not a crash of the task.
//
// Threading: implementations are safe to call from several threads.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/jobs/job.h"

namespace facefuse::jobs {

struct NewTask {
  TaskKind kind = TaskKind::kImage;
  int chunk_index = 0;
  int64_t frame_begin = 0, frame_end = 0;
};

// A job to insert: `job` with its id, tenant, request, kind, fingerprint, idempotency key,
// frames_total and input_summary set; `tasks` empty for a job created already completed (cache hit).
struct NewJob {
  Job job;
  std::vector<NewTask> tasks;
  // > 0: the tenant may hold at most this many pending + processing jobs; see create_job.
  int64_t max_active_jobs = 0;
};

struct CreatedJob {
  Job job;
  bool created = true;  // false: an earlier job with the same tenant + Idempotency-Key was returned
};

struct JobPage {
  std::vector<Job> jobs;
  std::string next_cursor;  // empty on the last page
};

struct Lease {
  Task task;
  Job job;
  // The task was claimed from a worker whose lease expired (it died, was killed or lost the
  // store): an interruption, counted as facefuse_task_interruptions_total{reason="lease_expired"}
  // by the claiming process. False for a pending task (first run, retry, or a released task).
  bool lease_expired = false;
};

// Progress of one leased task. For chunks, frames_done counts this chunk's frames; the job's
// figures are summed over its chunks. For image tasks, fraction is the task's own 0–1 progress.
struct TaskProgress {
  std::string step;
  int64_t frames_done = 0;
  double fraction = 0.0;
};

// What a worker hands back with a finished task.
struct TaskResult {
  std::string output_key;           // image and merge tasks: the committed output; "" for chunks
  std::optional<int> source_faces;  // faces found in the source image when the task analysed it (face
                                    // swapper); written into the job's input_summary.source_faces
  // Image and merge tasks: the job's figures ({"target_faces", "faces_swapped", "warnings"}), merged
  // into its stored input_summary when the job completes; job_to_json shows faces_swapped and
  // warnings at the top level of the job.
  nlohmann::json result_summary = nlohmann::json::object();
};

struct RetryPolicy {
  int max_attempts = 3;
  int64_t base_backoff_ms = 1000;  // attempt n waits base · 2^(n−1), capped at max_backoff_ms
  int64_t max_backoff_ms = 30000;

  // The wait before the next try after attempt `attempt` (1-based) failed, ms.
  int64_t backoff_ms(int attempt) const {
    return std::min(max_backoff_ms, base_backoff_ms << std::min(attempt - 1, 20));
  }
};

// Job error code of a job whose task exhausted its attempts by crashing (expired leases).
inline constexpr const char* kCrashedWorkerError = "crashed_worker";
// Job error code of a job whose task held a current lease without frame progress for longer than
// the stall limit (fail_stalled_tasks): a hung decoder or model keeps heartbeating forever otherwise.
inline constexpr const char* kStalledError = "stalled";
// The job error message for a stalled task, the same from every store: "the chunk 2 task made no
// frame progress for 31 s on worker 'host:12/w0' (attempt 1); ...".
std::string stalled_task_message(const Task& task, int64_t now_ms);
// The job error message for a task claim_task gave up on after `attempts` expired leases, the same
// from every store: "the chunk 2 task was attempted 3 times and each worker stopped ...".
std::string crashed_worker_message(const Task& task, int attempts);

// Both stores' list_jobs cursor (next_cursor is the seq of the page's last job): the seq to list
// below, INT64_MAX for "" (the first page); kInvalidArgument for anything this server did not return.
Result<int64_t> parse_job_cursor(const std::string& cursor);

// A job's figures after one of its tasks reported, the same in every store. Videos (frames_total
// > 0) from `chunk_frames_done`, the frames of its chunks (done chunks whole): the merge is a stream
// copy, so frames carry the job to 99 %. Images: `fraction`, the image task's own progress.
// Progress never moves below job.progress (a retried chunk restarts at 0).
struct JobFigures {
  double progress = 0;      // 0–1
  double fps = 0;           // frames per second since the job started; 0 = not known yet
  double eta_seconds = -1;  // -1 = not known
};
JobFigures job_figures(const Job& job, int64_t chunk_frames_done, double fraction, int64_t now_ms);

// Schema versions across a blue/green switch (docs/decisions/0008-schema-compatibility-for-blue-green.md).
// A store records its schema `version` and `compatible_from`: the oldest binary schema version that
// can still run on it (each migration declares it; a store of an older rule has none: pass `version`).
// A binary of schema `binary` migrates a store behind it, runs on a store at its version, and also
// on a store ahead of it as long as binary >= compatible_from (version N keeps running while
// version N+1 has migrated the shared database). Otherwise kFailedPrecondition naming the three
// versions; `store` names the store in the message ("the PostgreSQL job store"), `fix` ends it.
Status check_schema_compatible(std::string_view store, int version, int compatible_from, int binary,
                               std::string_view fix);

struct ApiKeyRecord {
  std::string id;      // public key id (the part of the key before the secret)
  std::string tenant;
  std::string key_hash;  // hex sha256 of the full key; the key itself is never stored
  std::string scopes;    // comma-separated: submit,read,admin
  int64_t created_at_ms = 0;
};

struct Upload {
  std::string id;
  std::string tenant;
  std::string storage_key;
  std::string filename;  // the client's name, for display only (never used as a path)
  std::string sha256;
  int64_t size = 0;
  std::string media;     // "image" | "video"
  nlohmann::json info = nlohmann::json::object();  // width, height, frame_count, duration_sec, ...
  int64_t created_at_ms = 0;
};

// Wake-ups from other processes sharing the store (PostgreSQL LISTEN/NOTIFY). `task_ready`: some
// process made a task claimable (idle workers should claim now instead of at their next poll);
// `job_event`: an event of that job was written (event pushers should read it now). Both run on a
// store thread: they must be cheap, must not block and must not call the store. After the store
// lost and regained its connection it calls task_ready once, since wake-ups in between were lost.
struct StoreListeners {
  std::function<void()> task_ready;
  std::function<void(const std::string& job_id)> job_event;
};

// A named lock one process holds across nodes sharing a store (JobStore::try_lock): released when
// this object is destroyed (or the process dies: PostgreSQL drops a dead session's locks).
class StoreLock {
 public:
  virtual ~StoreLock() = default;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Installs (or, with empty ones, removes) the listeners. Once it returns, the previous listeners
  // are not running and will not be called again. The default does nothing: a single-process store
  // (SQLite) has no other writer to hear from, and in-process callers wake each other directly.
  virtual void set_listeners(StoreListeners listeners) {}

  virtual Status check_ready() = 0;

  // Inserts the job, its tasks and its first event. With an idempotency key already used by the
  // tenant, returns that job instead (created = false), whatever the quota.
  //
  // Quota (job.max_active_jobs > 0, job not already terminal): counting the tenant's pending +
  // processing jobs and inserting are ONE write transaction, serialised against every other
  // create_job of the tenant — on any connection or process sharing the store — so concurrent
  // submits can never exceed the limit. At the limit: kQuotaExceeded, nothing inserted. SQLite
  // gets this from BEGIN IMMEDIATE (one writer at a time); a PostgreSQL store must serialise per
  // tenant inside the transaction before counting (e.g. pg_advisory_xact_lock on the tenant, or
  // SELECT ... FOR UPDATE on a per-tenant row): a plain READ COMMITTED count + insert is not enough.
  // A job created already completed (a cache hit) uses no worker and is never refused.
  virtual Result<CreatedJob> create_job(const NewJob& job) = 0;
  // kNotFound when missing. Fills Job::tasks (kind, index, state, attempts per task, by task id)
  // and Job::attempts (their sum).
  virtual Result<Job> get_job(const std::string& job_id) = 0;
  // Newest first; `cursor` is next_cursor of the previous page (empty for the first).
  virtual Result<JobPage> list_jobs(const std::string& tenant, std::optional<JobState> state, int limit,
                                    const std::string& cursor) = 0;
  // The newest completed job of the tenant with this fingerprint and an output.
  virtual Result<std::optional<Job>> find_cached(const std::string& tenant, const std::string& fingerprint) = 0;
  virtual Result<std::vector<Task>> job_tasks(const std::string& job_id) = 0;

  // Leases the claimable task (pending and due, or leased with an expired lease) of a non-terminal
  // job with the highest job priority, then the oldest job, then the task's order; its job turns
  // processing. Lease::lease_expired says the task was taken over from an expired lease. The
  // claim counts as progress for the stall sweep. attempts is incremented. Contract for every store:
  // in the same transaction, a task whose lease expired with attempts >= max_attempts is set
  // failed (last_error says why), its job's other tasks cancelled and the job failed with
  // error_code kCrashedWorkerError and a message naming the task and the attempt count (plus a
  // "state" event); the search then goes on to the next claimable task. On PostgreSQL the
  // selection must lock the row (FOR UPDATE SKIP LOCKED) before this check.
  virtual Result<std::optional<Lease>> claim_task(const std::string& owner, int64_t lease_ms,
                                                  int max_attempts = RetryPolicy{}.max_attempts) = 0;
  // Extends the lease. Returns true when the job was cancelled (or otherwise ended) meanwhile,
  // so the worker should stop at the next frame.
  virtual Result<bool> heartbeat(int64_t task_id, const std::string& owner, int64_t lease_ms) = 0;
  virtual Status report_progress(int64_t task_id, const std::string& owner, const TaskProgress& progress) = 0;
  // Marks the task done. A chunk unblocks the merge when it is the last; an image or merge task
  // completes the job with result.output_key. result.source_faces, when set, is recorded in the
  // job's input_summary in the same transaction (so GET /jobs/{id} shows it from the first task on).
  virtual Status complete_task(int64_t task_id, const std::string& owner, const TaskResult& result) = 0;
  // Retryable failures go back to pending after a backoff until attempts run out; permanent ones
  // (and exhausted retries) fail the job at once and cancel its other tasks.
  virtual Status fail_task(int64_t task_id, const std::string& owner, const Status& error, bool retryable,
                           const RetryPolicy& policy) = 0;
  // Gives the task back untouched (graceful stop): pending again, the attempt not counted.
  virtual Status release_task(int64_t task_id, const std::string& owner) = 0;

  // Stall sweep: in one transaction, every task whose lease is current but whose progress has not
  // advanced for more than `stall_ms` is failed (last_error "stalled: ..."), its job's other tasks
  // cancelled and the job failed with error_code kStalledError and stalled_task_message (plus a
  // "state" event). Progress advances when the task is claimed, when report_progress brings more
  // frames_done (chunks) and on every report_progress of image and merge tasks (they report
  // stages, not frames). The holder learns it at its next heartbeat or progress report
  // (kFailedPrecondition: the lease is gone) and stops. Returns how many tasks were failed.
  // Worker pools call it every few seconds when --task-stall-seconds is set; concurrent sweeps of
  // several processes fail each task once.
  virtual Result<int> fail_stalled_tasks(int64_t stall_ms) = 0;

  // pending → cancelled at once; processing → cancel_requested (workers stop at the next frame and
  // call finish_cancelled). kFailedPrecondition for terminal jobs.
  virtual Result<Job> request_cancel(const std::string& job_id) = 0;
  virtual Status finish_cancelled(const std::string& job_id) = 0;
  // Terminal jobs only (kFailedPrecondition otherwise): removes the job, its tasks and events.
  virtual Status delete_job(const std::string& job_id) = 0;

  // Events with seq > since, oldest first, at most `limit`.
  virtual Result<std::vector<JobEvent>> events_since(const std::string& job_id, int64_t since, int limit) = 0;

  // Tasks waiting to be claimed (pending, blocked excluded).
  virtual Result<int64_t> queue_depth() = 0;
  // Jobs by state over every tenant (metrics), or of one tenant (what that tenant's keys may see);
  // every state is present, 0 when none.
  virtual Result<std::map<std::string, int64_t>> job_counts_by_state() = 0;
  virtual Result<std::map<std::string, int64_t>> tenant_job_counts(const std::string& tenant) = 0;

  virtual Status add_api_key(const ApiKeyRecord& key) = 0;
  virtual Result<std::optional<ApiKeyRecord>> find_api_key(const std::string& key_hash) = 0;
  virtual Result<int64_t> api_key_count() = 0;
  // The first key of a store, once, however many nodes start at the same moment: stores `key` only
  // when the store holds no key yet, in one transaction serialised with every other caller of this
  // (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE). `announce` runs inside it, after the
  // check and before the insert — `serve` prints the one-time key there — and when it fails nothing
  // is stored and its status is returned. true: stored; false: a key existed (announce not called).
  virtual Result<bool> add_first_api_key(const ApiKeyRecord& key, const std::function<Status()>& announce) = 0;
  // The tenant's keys, oldest first. The records carry key_hash for the store's callers; it is
  // never shown to clients.
  virtual Result<std::vector<ApiKeyRecord>> list_api_keys(const std::string& tenant) = 0;
  // Revokes a key: find_api_key no longer returns it from the moment this returns. kNotFound when
  // missing or owned by another tenant.
  virtual Status delete_api_key(const std::string& tenant, const std::string& key_id) = 0;

  virtual Status add_upload(const Upload& upload) = 0;
  // kNotFound when missing or owned by another tenant.
  virtual Result<Upload> get_upload(const std::string& tenant, const std::string& upload_id) = 0;
  // Removes the upload's record and returns it (the caller then removes its blob). kNotFound like
  // get_upload; kFailedPrecondition while a pending or processing job of the tenant reads it (as
  // source or target) — checked and deleted in one transaction, so no job can start using it in
  // between. Finished jobs keep their own request and outputs and do not hold an upload.
  virtual Result<Upload> delete_upload(const std::string& tenant, const std::string& upload_id) = 0;

  // A secret every node of the store shares (e.g. "media_link": the key that signs /media links, so
  // a link one API node hands out works on all of them): the stored value of `name`, storing
  // `candidate` first when there is none. Nodes starting together all get the same value (insert if
  // absent, then read). Anyone who can read the store can read it.
  virtual Result<std::string> shared_secret(const std::string& name, const std::string& candidate) = 0;

  // ---- Retention (jobs/janitor.h). Pages are ordered by id; `after_id` is the last id of the
  // previous page ("" for the first), so a caller deleting rows as it goes never skips one.

  // Uploads of every tenant created before `before_ms` (Unix ms), at most `limit`.
  virtual Result<std::vector<Upload>> uploads_created_before(int64_t before_ms, const std::string& after_id,
                                                             int limit) = 0;
  // Terminal jobs of every tenant that finished before `before_ms`, at most `limit` (Job::tasks not
  // filled). `with_live_output`: only completed jobs whose output has not expired (output_key set,
  // output_expired_at_ms 0).
  virtual Result<std::vector<Job>> terminal_jobs_finished_before(int64_t before_ms, bool with_live_output,
                                                                 const std::string& after_id, int limit) = 0;
  // Records that the job's output objects are gone (retention deleted them, or they were found
  // missing): output_expired_at_ms = at_ms, so the job keeps its row and output_key but shows no
  // output_url, /media of the output answers 410 and find_cached never returns it. Idempotent (an
  // expired output keeps its first time); kNotFound for a missing job, kFailedPrecondition for one
  // that is not terminal.
  virtual Status expire_output(const std::string& job_id, int64_t at_ms) = 0;
  // The jobs among `ids` that exist (any order; Job::tasks not filled): the orphan sweep's look-up.
  virtual Result<std::vector<Job>> jobs_by_ids(const std::vector<std::string>& ids) = 0;
  // The ids among `ids` that have an upload row (any tenant, any order).
  virtual Result<std::vector<std::string>> existing_upload_ids(const std::vector<std::string>& ids) = 0;

  // Takes the lock `name` without waiting: a lock object while held, nullptr when another holder
  // (another node on PostgreSQL: pg_try_advisory_lock on a session of its own; another thread of
  // this process on SQLite, whose store has one node) has it.
  virtual Result<std::unique_ptr<StoreLock>> try_lock(const std::string& name) = 0;
};

// Installs listeners on a store for the life of this object: declared after what the listeners call
// (a worker pool, an API server), it removes them before those go away.
class ScopedStoreListeners {
 public:
  ScopedStoreListeners(JobStore& store, StoreListeners listeners) : store_(store) {
    store_.set_listeners(std::move(listeners));
  }
  ~ScopedStoreListeners() { store_.set_listeners({}); }
  ScopedStoreListeners(const ScopedStoreListeners&) = delete;
  ScopedStoreListeners& operator=(const ScopedStoreListeners&) = delete;

 private:
  JobStore& store_;
};

// Opens (creating and migrating) the SQLite store at `path`: WAL journal, a busy timeout, schema
// version checked. A path longer than SQLite accepts (kSqliteMaxPathBytes) is kInvalidArgument
// saying so, instead of SQLite's bare "unable to open database file".
inline constexpr size_t kSqliteMaxPathBytes = 504;  // unix VFS MAX_PATHNAME 512 − "-journal" (8)
Result<std::unique_ptr<JobStore>> open_sqlite_job_store(const std::filesystem::path& path);

}  // namespace facefuse::jobs
