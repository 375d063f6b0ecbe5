// SQLite JobStore (single node). One connection behind a mutex: SQLite serialises writers anyway,
// and a single connection keeps each call one transaction without busy retries between threads.
// BEGIN IMMEDIATE takes the write lock up front, so a second process on the same file (a restarted
// server while the old one is still exiting) waits on the busy timeout instead of failing midway.
#include <filesystem>
#include <iterator>
#include <mutex>
#include <set>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "facefuse/jobs/job_store.h"

namespace facefuse::jobs {

namespace {

constexpr int kBusyTimeoutMs = 10000;

// Schema migrations, forward only: migration N takes a store at version N−1 to N. A new column or
// index is a new entry at the end; an applied entry is never edited (stores in the field ran it).
// Version 1 is the seed's schema; it says IF NOT EXISTS so stores created before versioning pass.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  state TEXT NOT NULL,
  request TEXT NOT NULL,
  kind TEXT NOT NULL,
  fingerprint TEXT NOT NULL DEFAULT '',
  idempotency_key TEXT,
  progress REAL NOT NULL DEFAULT 0,
  step TEXT NOT NULL DEFAULT '',
  eta_seconds REAL NOT NULL DEFAULT -1,
  frames_done INTEGER NOT NULL DEFAULT 0,
  frames_total INTEGER NOT NULL DEFAULT 0,
  fps REAL NOT NULL DEFAULT 0,
  input_summary TEXT NOT NULL DEFAULT '{}',
  output_key TEXT NOT NULL DEFAULT '',
  error_code TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '',
  cached INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL DEFAULT 0,
  finished_at INTEGER NOT NULL DEFAULT 0,
  event_seq INTEGER NOT NULL DEFAULT 0,
  UNIQUE (tenant, idempotency_key)
);
CREATE INDEX IF NOT EXISTS jobs_tenant_state ON jobs (tenant, state, seq);
CREATE INDEX IF NOT EXISTS jobs_fingerprint ON jobs (tenant, fingerprint, state);
CREATE TABLE IF NOT EXISTS tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  chunk_index INTEGER NOT NULL DEFAULT 0,
  frame_begin INTEGER NOT NULL DEFAULT 0,
  frame_end INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  not_before INTEGER NOT NULL DEFAULT 0,
  frames_done INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_claim ON tasks (state, not_before, id);
CREATE INDEX IF NOT EXISTS tasks_job ON tasks (job_id);
CREATE TABLE IF NOT EXISTS job_events (
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  storage_key TEXT NOT NULL,
  filename TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  media TEXT NOT NULL,
  info TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql";

// Version 2 (issue 12): job priority (claims go priority DESC, then age) and when a leased task's
// frames last advanced (the stall sweep, fail_stalled_tasks).
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN progress_at INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 3 (issue 12): secrets the store's nodes share (the media-link key), as PostgreSQL's version 3;
// an SQLite store's nodes are the processes on one data directory. Additive.
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE node_secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql";

// Version 4 (issue 13, retention): when the janitor deleted a job's output (jobs/janitor.h). Additive
// and safe for version-2/3 binaries: expire_output also clears the job's fingerprint, so an older
// binary's result cache (which does not know the column) can never answer with an expired output.
constexpr const char* kSchemaV4 = R"sql(
ALTER TABLE jobs ADD COLUMN output_expired_at INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 5 (issue 12, claim latency): the claimable jobs in claim order, so claim_task walks jobs
// from the first in line and stops at its first claimable task instead of sorting every candidate
// (10 000 pending one-task jobs: 12 ms per claim before, < 0.3 ms after). Additive: an index.
constexpr const char* kSchemaV5 = R"sql(
CREATE INDEX jobs_claim_order ON jobs (priority DESC, seq) WHERE state IN ('pending', 'processing');
)sql";

// `compatible_from`: the oldest binary schema version that still runs correctly on the store once this
// migration is applied (docs/decisions/0008-schema-compatibility-for-blue-green.md); as in
// postgres_job_store.cpp (version 2: a version-1 binary never sets progress_at).
struct Migration {
  int version;
  int compatible_from;
  const char* sql;
};
constexpr Migration kMigrations[] = {
    {1, 1, kSchemaV1},
    {2, 2, kSchemaV2},
    {3, 2, kSchemaV3},
    {4, 2, kSchemaV4},
    {5, 2, kSchemaV5},
};
constexpr int kSchemaVersion = kMigrations[std::size(kMigrations) - 1].version;
constexpr int kCompatibleFrom = kMigrations[std::size(kMigrations) - 1].compatible_from;
static_assert(kCompatibleFrom <= kSchemaVersion);

constexpr const char* kJobColumns =
    "id, tenant, state, request, kind, fingerprint, COALESCE(idempotency_key, '') AS idempotency_key, progress, step, eta_seconds, "
    "frames_done, frames_total, fps, input_summary, output_key, error_code, error_message, cached, cancel_requested, "
    "created_at, updated_at, started_at, finished_at, priority, output_expired_at";

constexpr const char* kTaskColumns =
    "id, job_id, kind, chunk_index, frame_begin, frame_end, state, attempts, lease_owner, lease_expires_at, not_before, "
    "frames_done, last_error, progress_at";

// Rows are read by column name (the SELECT lists above alias every computed column), so adding a
// column or reordering a SELECT cannot shift the fields of a row.
Job read_job(SQLite::Statement& q) {
  Job j;
  j.id = q.getColumn("id").getString();
  j.tenant = q.getColumn("tenant").getString();
  j.state = parse_job_state(q.getColumn("state").getString()).value();
  j.request = nlohmann::json::parse(q.getColumn("request").getString());
  j.kind = q.getColumn("kind").getString();
  j.fingerprint = q.getColumn("fingerprint").getString();
  j.idempotency_key = q.getColumn("idempotency_key").getString();
  j.progress = q.getColumn("progress").getDouble();
  j.step = q.getColumn("step").getString();
  j.eta_seconds = q.getColumn("eta_seconds").getDouble();
  j.frames_done = q.getColumn("frames_done").getInt64();
  j.frames_total = q.getColumn("frames_total").getInt64();
  j.fps = q.getColumn("fps").getDouble();
  j.input_summary = nlohmann::json::parse(q.getColumn("input_summary").getString());
  j.output_key = q.getColumn("output_key").getString();
  j.error_code = q.getColumn("error_code").getString();
  j.error_message = q.getColumn("error_message").getString();
  j.cached = q.getColumn("cached").getInt() != 0;
  j.cancel_requested = q.getColumn("cancel_requested").getInt() != 0;
  j.created_at_ms = q.getColumn("created_at").getInt64();
  j.updated_at_ms = q.getColumn("updated_at").getInt64();
  j.started_at_ms = q.getColumn("started_at").getInt64();
  j.finished_at_ms = q.getColumn("finished_at").getInt64();
  j.priority = q.getColumn("priority").getInt();
  j.output_expired_at_ms = q.getColumn("output_expired_at").getInt64();
  return j;
}

Task read_task(SQLite::Statement& q) {
  Task t;
  t.id = q.getColumn("id").getInt64();
  t.job_id = q.getColumn("job_id").getString();
  t.kind = parse_task_kind(q.getColumn("kind").getString());
  t.chunk_index = q.getColumn("chunk_index").getInt();
  t.frame_begin = q.getColumn("frame_begin").getInt64();
  t.frame_end = q.getColumn("frame_end").getInt64();
  t.state = parse_task_state(q.getColumn("state").getString());
  t.attempts = q.getColumn("attempts").getInt();
  t.lease_owner = q.getColumn("lease_owner").getString();
  t.lease_expires_at_ms = q.getColumn("lease_expires_at").getInt64();
  t.not_before_ms = q.getColumn("not_before").getInt64();
  t.frames_done = q.getColumn("frames_done").getInt64();
  t.last_error = q.getColumn("last_error").getString();
  t.progress_at_ms = q.getColumn("progress_at").getInt64();
  return t;
}

ApiKeyRecord read_api_key(SQLite::Statement& q) {
  return {q.getColumn("id").getString(), q.getColumn("tenant").getString(), q.getColumn("key_hash").getString(),
          q.getColumn("scopes").getString(), q.getColumn("created_at").getInt64()};
}

Upload read_upload(SQLite::Statement& q) {
  Upload u;
  u.id = q.getColumn("id").getString();
  u.tenant = q.getColumn("tenant").getString();
  u.storage_key = q.getColumn("storage_key").getString();
  u.filename = q.getColumn("filename").getString();
  u.sha256 = q.getColumn("sha256").getString();
  u.size = q.getColumn("size").getInt64();
  u.media = q.getColumn("media").getString();
  u.info = nlohmann::json::parse(q.getColumn("info").getString());
  u.created_at_ms = q.getColumn("created_at").getInt64();
  return u;
}

class SqliteJobStore final : public JobStore {
 public:
  explicit SqliteJobStore(const std::filesystem::path& path)
      : db_(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX, kBusyTimeoutMs) {
    db_.exec("PRAGMA journal_mode=WAL");
    db_.exec("PRAGMA synchronous=NORMAL");
    db_.exec("PRAGMA foreign_keys=ON");
  }

  // Brings the schema to kSchemaVersion in one write transaction (BEGIN IMMEDIATE: a second process
  // opening the same file waits, then finds the work done). A store ahead of this binary is used as it
  // is when its compatible_from allows this binary, refused otherwise (check_schema_compatible).
  Status migrate() {
    return guarded("open job store", [&]() -> Status {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      db_.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      // NULL: written by a binary from before the rule, which could run on nothing newer than itself.
      SQLite::Statement has_column(db_, "SELECT COUNT(*) AS n FROM pragma_table_info('schema_version') WHERE name = "
                                        "'compatible_from'");
      has_column.executeStep();
      if (has_column.getColumn("n").getInt() == 0) db_.exec("ALTER TABLE schema_version ADD COLUMN compatible_from INTEGER");
      SQLite::Statement q(db_, "SELECT version, COALESCE(compatible_from, version) AS compatible_from FROM schema_version");
      const bool has_row = q.executeStep();
      const int current = has_row ? q.getColumn("version").getInt() : 0;
      const int compatible_from = has_row ? q.getColumn("compatible_from").getInt() : 0;
      FF_RETURN_IF_ERROR(check_schema_compatible("the job store", current, compatible_from, kSchemaVersion,
                                                 "a newer facefuse wrote it and this one cannot run on it; run that "
                                                 "version, or use a new --data directory"));
      for (const Migration& m : kMigrations) {
        if (m.version > current) db_.exec(m.sql);
      }
      if (!has_row) {
        db_.exec(fmt::format("INSERT INTO schema_version (version, compatible_from) VALUES ({}, {})", kSchemaVersion,
                             kCompatibleFrom));
      } else if (current < kSchemaVersion) {
        db_.exec(fmt::format("UPDATE schema_version SET version = {}, compatible_from = {}", kSchemaVersion,
                             kCompatibleFrom));
      }
      tx.commit();
      return Status::ok();
    });
  }

  Status check_ready() override {
    return guarded("check job store", [&]() -> Status {
      SQLite::Statement q(db_, "SELECT COUNT(*) FROM schema_version");
      q.executeStep();
      return Status::ok();
    });
  }

  Result<CreatedJob> create_job(const NewJob& in) override {
    return guarded_result<CreatedJob>("create job", [&]() -> Result<CreatedJob> {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      const Job& j = in.job;
      if (!j.idempotency_key.empty()) {
        SQLite::Statement q(db_, fmt::format("SELECT {} FROM jobs WHERE tenant = ? AND idempotency_key = ?", kJobColumns));
        q.bind(1, j.tenant);
        q.bind(2, j.idempotency_key);
        if (q.executeStep()) return CreatedJob{read_job(q), false};
      }
      // Counted under the write lock BEGIN IMMEDIATE took: no other insert can slip in between.
      if (in.max_active_jobs > 0 && !is_terminal(j.state)) {
        SQLite::Statement count(db_, "SELECT COUNT(*) AS n FROM jobs WHERE tenant = ? AND state IN ('pending', 'processing')");
        count.bind(1, j.tenant);
        count.executeStep();
        const int64_t active = count.getColumn("n").getInt64();
        if (active >= in.max_active_jobs) {
          return quota_exceeded(fmt::format("this tenant already has {} pending or processing jobs (limit {}): wait for "
                                            "some to finish, then submit again",
                                            active, in.max_active_jobs));
        }
      }
      int64_t now = now_ms();
      SQLite::Statement ins(db_,
                            "INSERT INTO jobs (id, tenant, state, request, kind, fingerprint, idempotency_key, progress, "
                            "step, frames_total, input_summary, output_key, cached, created_at, updated_at, started_at, "
                            "finished_at, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      ins.bind(1, j.id);
      ins.bind(2, j.tenant);
      ins.bind(3, job_state_name(j.state));
      ins.bind(4, j.request.dump());
      ins.bind(5, j.kind);
      ins.bind(6, j.fingerprint);
      if (j.idempotency_key.empty()) ins.bind(7); else ins.bind(7, j.idempotency_key);
      ins.bind(8, j.progress);
      ins.bind(9, j.step);
      ins.bind(10, j.frames_total);
      ins.bind(11, j.input_summary.dump());
      ins.bind(12, j.output_key);
      ins.bind(13, j.cached ? 1 : 0);
      ins.bind(14, now);
      ins.bind(15, now);
      ins.bind(16, is_terminal(j.state) ? now : 0);
      ins.bind(17, is_terminal(j.state) ? now : 0);
      ins.bind(18, j.priority);
      ins.exec();
      for (const auto& t : in.tasks) {
        SQLite::Statement ti(db_, "INSERT INTO tasks (job_id, kind, chunk_index, frame_begin, frame_end, state) "
                                  "VALUES (?, ?, ?, ?, ?, ?)");
        ti.bind(1, j.id);
        ti.bind(2, task_kind_name(t.kind));
        ti.bind(3, t.chunk_index);
        ti.bind(4, t.frame_begin);
        ti.bind(5, t.frame_end);
        ti.bind(6, task_state_name(t.kind == TaskKind::kMerge ? TaskState::kBlocked : TaskState::kPending));
        ti.exec();
      }
      append_state_event(j.id);
      Job created = load_job(j.id).value();
      tx.commit();
      return CreatedJob{std::move(created), true};
    });
  }

  Result<Job> get_job(const std::string& job_id) override {
    return guarded_result<Job>("read job", [&]() -> Result<Job> {
      FF_ASSIGN_OR_RETURN(Job job, load_job(job_id));
      SQLite::Statement q(db_, "SELECT kind, chunk_index, state, attempts FROM tasks WHERE job_id = ? ORDER BY id");
      q.bind(1, job_id);
      job.attempts = 0;
      while (q.executeStep()) {
        job.tasks.push_back({parse_task_kind(q.getColumn("kind").getString()), q.getColumn("chunk_index").getInt(),
                             parse_task_state(q.getColumn("state").getString()), q.getColumn("attempts").getInt()});
        job.attempts += job.tasks.back().attempts;
      }
      return job;
    });
  }

  Result<JobPage> list_jobs(const std::string& tenant, std::optional<JobState> state, int limit,
                            const std::string& cursor) override {
    return guarded_result<JobPage>("list jobs", [&]() -> Result<JobPage> {
      FF_ASSIGN_OR_RETURN(const int64_t before, parse_job_cursor(cursor));
      std::string sql = fmt::format("SELECT {}, seq FROM jobs WHERE tenant = ? AND seq < ?{} ORDER BY seq DESC LIMIT ?",
                                    kJobColumns, state ? " AND state = ?" : "");
      SQLite::Statement q(db_, sql);
      int i = 1;
      q.bind(i++, tenant);
      q.bind(i++, before);
      if (state) q.bind(i++, job_state_name(*state));
      q.bind(i++, limit + 1);
      JobPage page;
      int64_t last_seq = 0;
      while (q.executeStep()) {
        if (static_cast<int>(page.jobs.size()) == limit) {
          page.next_cursor = std::to_string(last_seq);
          break;
        }
        page.jobs.push_back(read_job(q));
        last_seq = q.getColumn("seq").getInt64();
      }
      return page;
    });
  }

  Result<std::optional<Job>> find_cached(const std::string& tenant, const std::string& fingerprint) override {
    return guarded_result<std::optional<Job>>("look up the result cache", [&]() -> Result<std::optional<Job>> {
      SQLite::Statement q(db_, fmt::format("SELECT {} FROM jobs WHERE tenant = ? AND fingerprint = ? AND state = "
                                           "'completed' AND output_key != '' AND output_expired_at = 0 ORDER BY seq DESC "
                                           "LIMIT 1",
                                           kJobColumns));
      q.bind(1, tenant);
      q.bind(2, fingerprint);
      if (!q.executeStep()) return std::optional<Job>();
      return std::optional<Job>(read_job(q));
    });
  }

  Result<std::vector<Task>> job_tasks(const std::string& job_id) override {
    return guarded_result<std::vector<Task>>("read tasks", [&]() -> Result<std::vector<Task>> {
      SQLite::Statement q(db_, fmt::format("SELECT {} FROM tasks WHERE job_id = ? ORDER BY id", kTaskColumns));
      q.bind(1, job_id);
      std::vector<Task> tasks;
      while (q.executeStep()) tasks.push_back(read_task(q));
      return tasks;
    });
  }

  Result<std::optional<Lease>> claim_task(const std::string& owner, int64_t lease_ms, int max_attempts) override {
    return guarded_result<std::optional<Lease>>("claim a task", [&]() -> Result<std::optional<Lease>> {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      int64_t now = now_ms();
      int64_t task_id = 0;
      bool lease_expired = false;
      while (true) {
        SQLite::Statement q(db_,
            // CROSS JOIN fixes the join order (SQLite's rule): jobs in jobs_claim_order's order,
            // each probed for its tasks through tasks_job (in id order), so the first claimable
            // task ends the scan; joined from tasks, SQLite sorts every candidate task per claim.
            "SELECT t.id, t.state, t.attempts FROM jobs j CROSS JOIN tasks t ON t.job_id = j.id "
            "WHERE j.state IN ('pending', 'processing') AND j.cancel_requested = 0 AND "
            "((t.state = 'pending' AND t.not_before <= ?) OR (t.state = 'leased' AND t.lease_expires_at < ?)) "
            "ORDER BY j.priority DESC, j.seq, t.id LIMIT 1");
        q.bind(1, now);
        q.bind(2, now);
        if (!q.executeStep()) {
          tx.commit();  // keeps the jobs failed below, if any
          return std::optional<Lease>();
        }
        task_id = q.getColumn("id").getInt64();
        const bool expired = q.getColumn("state").getString() == "leased";
        const int attempts = q.getColumn("attempts").getInt();
        lease_expired = expired;
        if (!expired || attempts < max_attempts) break;
        // Every worker that held it stopped without a word (crashed, OOM-killed, SIGKILL): give up.
        Task task = load_task(task_id);
        fail_job_with_task(task, kCrashedWorkerError, crashed_worker_message(task, attempts),
                           fmt::format("{}: lease expired on attempt {} of {}", kCrashedWorkerError, attempts,
                                       max_attempts));
      }
      SQLite::Statement up(db_, "UPDATE tasks SET state = 'leased', lease_owner = ?, lease_expires_at = ?, "
                                "attempts = attempts + 1, frames_done = 0, progress_at = ? WHERE id = ?");
      up.bind(1, owner);
      up.bind(2, now + lease_ms);
      up.bind(3, now);
      up.bind(4, task_id);
      up.exec();
      Task task = load_task(task_id);
      Job job = load_job(task.job_id).value();
      if (job.state == JobState::kPending) {
        SQLite::Statement js(db_, "UPDATE jobs SET state = 'processing', step = 'processing', started_at = ?, "
                                  "updated_at = ? WHERE id = ?");
        js.bind(1, now);
        js.bind(2, now);
        js.bind(3, job.id);
        js.exec();
        append_state_event(job.id);
        job = load_job(job.id).value();
      }
      tx.commit();
      return std::optional<Lease>(Lease{std::move(task), std::move(job), lease_expired});
    });
  }

  Result<bool> heartbeat(int64_t task_id, const std::string& owner, int64_t lease_ms) override {
    return guarded_result<bool>("extend a lease", [&]() -> Result<bool> {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Task task, held_task(task_id, owner));
      SQLite::Statement up(db_, "UPDATE tasks SET lease_expires_at = ? WHERE id = ?");
      up.bind(1, now_ms() + lease_ms);
      up.bind(2, task_id);
      up.exec();
      Job job = load_job(task.job_id).value();
      tx.commit();
      return job.cancel_requested || is_terminal(job.state);
    });
  }

  Status report_progress(int64_t task_id, const std::string& owner, const TaskProgress& p) override {
    return guarded("record progress", [&]() -> Status {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Task task, held_task(task_id, owner));
      // Progress for the stall sweep: a chunk's frames advanced; image and merge tasks report stages.
      const bool advanced = task.kind != TaskKind::kChunk || p.frames_done > task.frames_done;
      SQLite::Statement up(db_, "UPDATE tasks SET frames_done = ?, progress_at = ? WHERE id = ?");
      up.bind(1, p.frames_done);
      up.bind(2, advanced ? now_ms() : task.progress_at_ms);
      up.bind(3, task_id);
      up.exec();
      refresh_job_figures(task.job_id, p.step, p.fraction);
      append_event(task.job_id, "progress");
      tx.commit();
      return Status::ok();
    });
  }

  Status complete_task(int64_t task_id, const std::string& owner, const TaskResult& result) override {
    return guarded("complete a task", [&]() -> Status {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Task task, held_task(task_id, owner));
      set_task_state(task_id, TaskState::kDone, "");
      if (result.source_faces) record_source_faces(task.job_id, *result.source_faces);
      int64_t now = now_ms();
      if (task.kind == TaskKind::kChunk) {
        SQLite::Statement left(db_, "SELECT COUNT(*) AS n FROM tasks WHERE job_id = ? AND kind = 'chunk' AND state != 'done'");
        left.bind(1, task.job_id);
        left.executeStep();
        bool last_chunk = left.getColumn("n").getInt64() == 0;
        if (last_chunk) {
          SQLite::Statement unblock(db_, "UPDATE tasks SET state = 'pending' WHERE job_id = ? AND state = 'blocked'");
          unblock.bind(1, task.job_id);
          unblock.exec();
        }
        refresh_job_figures(task.job_id, last_chunk ? "merging" : "processing", 0.0);
        append_event(task.job_id, "progress");
      } else {
        if (!result.result_summary.empty()) record_result_summary(task.job_id, result.result_summary);
        SQLite::Statement js(db_, "UPDATE jobs SET state = 'completed', progress = 1, step = 'done', eta_seconds = 0, "
                                  "frames_done = frames_total, output_key = ?, updated_at = ?, finished_at = ? WHERE id = ?");
        js.bind(1, result.output_key);
        js.bind(2, now);
        js.bind(3, now);
        js.bind(4, task.job_id);
        js.exec();
        append_state_event(task.job_id);
      }
      tx.commit();
      return Status::ok();
    });
  }

  Status fail_task(int64_t task_id, const std::string& owner, const Status& error, bool retryable,
                   const RetryPolicy& policy) override {
    return guarded("record a task failure", [&]() -> Status {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Task task, held_task(task_id, owner));
      int64_t now = now_ms();
      if (retryable && task.attempts < policy.max_attempts) {
        const int64_t backoff = policy.backoff_ms(task.attempts);
        SQLite::Statement up(db_, "UPDATE tasks SET state = 'pending', lease_owner = '', lease_expires_at = 0, "
                                  "not_before = ?, last_error = ? WHERE id = ?");
        up.bind(1, now + backoff);
        up.bind(2, error.to_string());
        up.bind(3, task_id);
        up.exec();
        append_event(task.job_id, "retry", {{"attempt", task.attempts}, {"retry_in_seconds", backoff / 1000.0},
                                            {"message", error.message()}});
      } else {
        fail_job_with_task(task, status_code_name(error.code()), error.message(), error.to_string());
      }
      tx.commit();
      return Status::ok();
    });
  }

  Status release_task(int64_t task_id, const std::string& owner) override {
    return guarded("release a task", [&]() -> Status {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_RETURN_IF_ERROR(held_task(task_id, owner).status());
      SQLite::Statement up(db_, "UPDATE tasks SET state = 'pending', lease_owner = '', lease_expires_at = 0, "
                                "attempts = MAX(attempts - 1, 0), frames_done = 0 WHERE id = ?");
      up.bind(1, task_id);
      up.exec();
      tx.commit();
      return Status::ok();
    });
  }

  Result<int> fail_stalled_tasks(int64_t stall_ms) override {
    return guarded_result<int>("fail stalled tasks", [&]() -> Result<int> {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      const int64_t now = now_ms();
      std::vector<Task> stalled;
      {
        SQLite::Statement q(db_, fmt::format("SELECT {} FROM tasks WHERE state = 'leased' AND lease_expires_at >= ? "
                                             "AND progress_at < ? ORDER BY id", kTaskColumns));
        q.bind(1, now);
        q.bind(2, now - stall_ms);
        while (q.executeStep()) stalled.push_back(read_task(q));
      }
      int failed = 0;
      for (const Task& task : stalled) {
        // A second stalled task of a job failed above was cancelled with it: one failure per job.
        if (load_task(task.id).state != TaskState::kLeased) continue;
        const std::string message = stalled_task_message(task, now);
        fail_job_with_task(task, kStalledError, message, fmt::format("{}: {}", kStalledError, message));
        ++failed;
      }
      tx.commit();
      return failed;
    });
  }

  Result<Job> request_cancel(const std::string& job_id) override {
    return guarded_result<Job>("cancel a job", [&]() -> Result<Job> {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Job job, load_job(job_id));
      if (is_terminal(job.state)) {
        return failed_precondition(fmt::format("job {} is already {}: only pending or processing jobs can be cancelled",
                                               job_id, job_state_name(job.state)));
      }
      if (job.state == JobState::kPending) {
        mark_cancelled(job_id);
      } else {
        SQLite::Statement js(db_, "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?");
        js.bind(1, now_ms());
        js.bind(2, job_id);
        js.exec();
        append_event(job_id, "cancel_requested");
      }
      Job out = load_job(job_id).value();
      tx.commit();
      return out;
    });
  }

  Status finish_cancelled(const std::string& job_id) override {
    return guarded("finish a cancellation", [&]() -> Status {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Job job, load_job(job_id));
      if (!is_terminal(job.state)) mark_cancelled(job_id);
      tx.commit();
      return Status::ok();
    });
  }

  Status delete_job(const std::string& job_id) override {
    return guarded("delete a job", [&]() -> Status {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Job job, load_job(job_id));
      if (!is_terminal(job.state)) {
        return failed_precondition(fmt::format("job {} is {}: cancel it first, only finished jobs can be deleted",
                                               job_id, job_state_name(job.state)));
      }
      for (const char* sql : {"DELETE FROM job_events WHERE job_id = ?", "DELETE FROM tasks WHERE job_id = ?",
                              "DELETE FROM jobs WHERE id = ?"}) {
        SQLite::Statement d(db_, sql);
        d.bind(1, job_id);
        d.exec();
      }
      tx.commit();
      return Status::ok();
    });
  }

  Result<std::vector<JobEvent>> events_since(const std::string& job_id, int64_t since, int limit) override {
    return guarded_result<std::vector<JobEvent>>("read job events", [&]() -> Result<std::vector<JobEvent>> {
      SQLite::Statement q(db_, "SELECT seq, created_at, data FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq "
                               "LIMIT ?");
      q.bind(1, job_id);
      q.bind(2, since);
      q.bind(3, limit);
      std::vector<JobEvent> events;
      while (q.executeStep()) {
        events.push_back({q.getColumn("seq").getInt64(), q.getColumn("created_at").getInt64(),
                          nlohmann::json::parse(q.getColumn("data").getString())});
      }
      return events;
    });
  }

  Result<int64_t> queue_depth() override {
    return guarded_result<int64_t>("count queued tasks", [&]() -> Result<int64_t> {
      SQLite::Statement q(db_, "SELECT COUNT(*) AS n FROM tasks WHERE state = 'pending'");
      q.executeStep();
      return q.getColumn("n").getInt64();
    });
  }

  Result<std::map<std::string, int64_t>> job_counts_by_state() override {
    return guarded_result<std::map<std::string, int64_t>>("count jobs", [&]() -> Result<std::map<std::string, int64_t>> {
      std::map<std::string, int64_t> counts;
      for (int i = 0; i < 5; ++i) counts[job_state_name(static_cast<JobState>(i))] = 0;
      SQLite::Statement q(db_, "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state");
      while (q.executeStep()) counts[q.getColumn("state").getString()] = q.getColumn("n").getInt64();
      return counts;
    });
  }

  Result<std::map<std::string, int64_t>> tenant_job_counts(const std::string& tenant) override {
    return guarded_result<std::map<std::string, int64_t>>("count jobs", [&]() -> Result<std::map<std::string, int64_t>> {
      std::map<std::string, int64_t> counts;
      for (int i = 0; i < 5; ++i) counts[job_state_name(static_cast<JobState>(i))] = 0;
      SQLite::Statement q(db_, "SELECT state, COUNT(*) AS n FROM jobs WHERE tenant = ? GROUP BY state");
      q.bind(1, tenant);
      while (q.executeStep()) counts[q.getColumn("state").getString()] = q.getColumn("n").getInt64();
      return counts;
    });
  }

  Result<std::vector<ApiKeyRecord>> list_api_keys(const std::string& tenant) override {
    return guarded_result<std::vector<ApiKeyRecord>>("list API keys", [&]() -> Result<std::vector<ApiKeyRecord>> {
      SQLite::Statement q(db_, "SELECT id, tenant, key_hash, scopes, created_at FROM api_keys WHERE tenant = ? "
                               "ORDER BY created_at, id");
      q.bind(1, tenant);
      std::vector<ApiKeyRecord> keys;
      while (q.executeStep()) keys.push_back(read_api_key(q));
      return keys;
    });
  }

  Status delete_api_key(const std::string& tenant, const std::string& key_id) override {
    return guarded("revoke an API key", [&]() -> Status {
      SQLite::Statement q(db_, "DELETE FROM api_keys WHERE id = ? AND tenant = ?");
      q.bind(1, key_id);
      q.bind(2, tenant);
      if (q.exec() == 0) return not_found(fmt::format("API key '{}' does not exist", key_id));
      return Status::ok();
    });
  }

  Result<bool> add_first_api_key(const ApiKeyRecord& key, const std::function<Status()>& announce) override {
    return guarded_result<bool>("store the first API key", [&]() -> Result<bool> {
      // BEGIN IMMEDIATE: other processes on the file wait here until this one committed.
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      SQLite::Statement any(db_, "SELECT EXISTS (SELECT 1 FROM api_keys) AS any");
      any.executeStep();
      if (any.getColumn("any").getInt() != 0) return false;
      FF_RETURN_IF_ERROR(announce());
      insert_api_key(key);
      tx.commit();
      return true;
    });
  }

  Status add_api_key(const ApiKeyRecord& key) override {
    return guarded("store an API key", [&]() -> Status {
      insert_api_key(key);
      return Status::ok();
    });
  }

  Result<std::optional<ApiKeyRecord>> find_api_key(const std::string& key_hash) override {
    return guarded_result<std::optional<ApiKeyRecord>>("look up an API key", [&]() -> Result<std::optional<ApiKeyRecord>> {
      SQLite::Statement q(db_, "SELECT id, tenant, key_hash, scopes, created_at FROM api_keys WHERE key_hash = ?");
      q.bind(1, key_hash);
      if (!q.executeStep()) return std::optional<ApiKeyRecord>();
      return std::optional<ApiKeyRecord>(read_api_key(q));
    });
  }

  Result<int64_t> api_key_count() override {
    return guarded_result<int64_t>("count API keys", [&]() -> Result<int64_t> {
      SQLite::Statement q(db_, "SELECT COUNT(*) AS n FROM api_keys");
      q.executeStep();
      return q.getColumn("n").getInt64();
    });
  }

  Status add_upload(const Upload& u) override {
    return guarded("record an upload", [&]() -> Status {
      SQLite::Statement q(db_, "INSERT INTO uploads (id, tenant, storage_key, filename, sha256, size, media, info, "
                               "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      q.bind(1, u.id);
      q.bind(2, u.tenant);
      q.bind(3, u.storage_key);
      q.bind(4, u.filename);
      q.bind(5, u.sha256);
      q.bind(6, u.size);
      q.bind(7, u.media);
      q.bind(8, u.info.dump());
      q.bind(9, u.created_at_ms > 0 ? u.created_at_ms : now_ms());
      q.exec();
      return Status::ok();
    });
  }

  Result<Upload> get_upload(const std::string& tenant, const std::string& upload_id) override {
    return guarded_result<Upload>("read an upload", [&]() -> Result<Upload> { return load_upload(tenant, upload_id); });
  }

  Result<Upload> delete_upload(const std::string& tenant, const std::string& upload_id) override {
    return guarded_result<Upload>("delete an upload", [&]() -> Result<Upload> {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Upload upload, load_upload(tenant, upload_id));
      // Normalised requests keep both inputs' upload ids (job_request.h).
      SQLite::Statement busy(db_, "SELECT id FROM jobs WHERE tenant = ?1 AND state IN ('pending', 'processing') AND "
                                  "(json_extract(request, '$.source.upload_id') = ?2 OR "
                                  "json_extract(request, '$.target.upload_id') = ?2) LIMIT 1");
      busy.bind(1, tenant);
      busy.bind(2, upload_id);
      if (busy.executeStep()) {
        return failed_precondition(fmt::format("upload '{}' is an input of job '{}', which has not finished: cancel "
                                               "the job or wait for it to end, then delete the upload",
                                               upload_id, busy.getColumn("id").getString()));
      }
      SQLite::Statement del(db_, "DELETE FROM uploads WHERE id = ? AND tenant = ?");
      del.bind(1, upload_id);
      del.bind(2, tenant);
      del.exec();
      tx.commit();
      return upload;
    });
  }

  Result<std::string> shared_secret(const std::string& name, const std::string& candidate) override {
    return guarded_result<std::string>("read a shared secret", [&]() -> Result<std::string> {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      SQLite::Statement ins(db_, "INSERT OR IGNORE INTO node_secrets (name, value, created_at) VALUES (?, ?, ?)");
      ins.bind(1, name);
      ins.bind(2, candidate);
      ins.bind(3, now_ms());
      ins.exec();
      SQLite::Statement q(db_, "SELECT value FROM node_secrets WHERE name = ?");
      q.bind(1, name);
      q.executeStep();
      std::string value = q.getColumn("value").getString();
      tx.commit();
      return value;
    });
  }

  Result<std::vector<Upload>> uploads_created_before(int64_t before_ms, const std::string& after_id,
                                                     int limit) override {
    return guarded_result<std::vector<Upload>>("list expired uploads", [&]() -> Result<std::vector<Upload>> {
      SQLite::Statement q(db_, "SELECT id, tenant, storage_key, filename, sha256, size, media, info, created_at FROM "
                               "uploads WHERE created_at < ? AND id > ? ORDER BY id LIMIT ?");
      q.bind(1, before_ms);
      q.bind(2, after_id);
      q.bind(3, limit);
      std::vector<Upload> out;
      while (q.executeStep()) out.push_back(read_upload(q));
      return out;
    });
  }

  Result<std::vector<Job>> terminal_jobs_finished_before(int64_t before_ms, bool with_live_output,
                                                         const std::string& after_id, int limit) override {
    return guarded_result<std::vector<Job>>("list expired jobs", [&]() -> Result<std::vector<Job>> {
      SQLite::Statement q(
          db_, fmt::format("SELECT {} FROM jobs WHERE {} AND finished_at < ? AND id > ? ORDER BY id LIMIT ?",
                           kJobColumns,
                           with_live_output ? "state = 'completed' AND output_key != '' AND output_expired_at = 0"
                                            : "state IN ('completed', 'failed', 'cancelled')"));
      q.bind(1, before_ms);
      q.bind(2, after_id);
      q.bind(3, limit);
      std::vector<Job> out;
      while (q.executeStep()) out.push_back(read_job(q));
      return out;
    });
  }

  Status expire_output(const std::string& job_id, int64_t at_ms) override {
    return guarded("expire a job's output", [&]() -> Status {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      FF_ASSIGN_OR_RETURN(Job job, load_job(job_id));
      if (!is_terminal(job.state)) {
        return failed_precondition(fmt::format("job {} is {}: only a finished job's output can expire", job_id,
                                               job_state_name(job.state)));
      }
      // The fingerprint goes too: no result cache (of this or an older binary) answers with it again.
      SQLite::Statement u(db_, "UPDATE jobs SET output_expired_at = ?, fingerprint = '' WHERE id = ? AND "
                               "output_expired_at = 0");
      u.bind(1, at_ms);
      u.bind(2, job_id);
      u.exec();
      tx.commit();
      return Status::ok();
    });
  }

  Result<std::vector<Job>> jobs_by_ids(const std::vector<std::string>& ids) override {
    return guarded_result<std::vector<Job>>("look up jobs", [&]() -> Result<std::vector<Job>> {
      std::vector<Job> out;
      // Chunks of 500 stay under SQLite's bound-parameter limit (999 in older builds).
      for (size_t start = 0; start < ids.size(); start += 500) {
        const size_t n = std::min<size_t>(500, ids.size() - start);
        std::string marks;
        for (size_t i = 0; i < n; ++i) marks += i == 0 ? "?" : ", ?";
        SQLite::Statement q(db_, fmt::format("SELECT {} FROM jobs WHERE id IN ({})", kJobColumns, marks));
        for (size_t i = 0; i < n; ++i) q.bind(static_cast<int>(i + 1), ids[start + i]);
        while (q.executeStep()) out.push_back(read_job(q));
      }
      return out;
    });
  }

  Result<std::vector<std::string>> existing_upload_ids(const std::vector<std::string>& ids) override {
    return guarded_result<std::vector<std::string>>("look up uploads", [&]() -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      for (size_t start = 0; start < ids.size(); start += 500) {
        const size_t n = std::min<size_t>(500, ids.size() - start);
        std::string marks;
        for (size_t i = 0; i < n; ++i) marks += i == 0 ? "?" : ", ?";
        SQLite::Statement q(db_, fmt::format("SELECT id FROM uploads WHERE id IN ({})", marks));
        for (size_t i = 0; i < n; ++i) q.bind(static_cast<int>(i + 1), ids[start + i]);
        while (q.executeStep()) out.push_back(q.getColumn("id").getString());
      }
      return out;
    });
  }

  // One node per SQLite store (serve.lock), so the lock only has to exclude this process: every store
  // object open on the same file (tests open several) shares the process-wide set of held names.
  Result<std::unique_ptr<StoreLock>> try_lock(const std::string& name) override {
    class Held final : public StoreLock {
     public:
      explicit Held(std::string id) : id_(std::move(id)) {}
      ~Held() override {
        std::lock_guard lock(held_mutex());
        held_names().erase(id_);
      }

     private:
      std::string id_;
    };
    const std::string id = db_.getFilename() + "\n" + name;
    std::lock_guard lock(held_mutex());
    if (!held_names().insert(id).second) return std::unique_ptr<StoreLock>();
    return std::unique_ptr<StoreLock>(std::make_unique<Held>(id));
  }

  static std::mutex& held_mutex() {
    static std::mutex m;
    return m;
  }
  static std::set<std::string>& held_names() {
    static std::set<std::string> names;
    return names;
  }

 private:
  // One api_keys row (the caller holds the connection; add_first_api_key inside its transaction).
  void insert_api_key(const ApiKeyRecord& key) {
    SQLite::Statement q(db_, "INSERT INTO api_keys (id, tenant, key_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)");
    q.bind(1, key.id);
    q.bind(2, key.tenant);
    q.bind(3, key.key_hash);
    q.bind(4, key.scopes);
    q.bind(5, key.created_at_ms > 0 ? key.created_at_ms : now_ms());
    q.exec();
  }

  Result<Upload> load_upload(const std::string& tenant, const std::string& upload_id) {
    SQLite::Statement q(db_, "SELECT id, tenant, storage_key, filename, sha256, size, media, info, created_at FROM "
                             "uploads WHERE id = ? AND tenant = ?");
    q.bind(1, upload_id);
    q.bind(2, tenant);
    if (!q.executeStep()) return not_found(fmt::format("upload '{}' does not exist: upload the file first with POST "
                                                       "/api/v1/upload", upload_id));
    return read_upload(q);
  }

  // Runs `body` under the connection mutex, turning SQLite and JSON exceptions into kUnavailable
  // (the database is the dependency that failed) so no exception leaves the store.
  template <typename F>
  Status guarded(const char* what, F&& body) {
    std::lock_guard lock(mutex_);
    try {
      return body();
    } catch (const std::exception& e) {
      return unavailable(fmt::format("job store: cannot {}: {}", what, e.what()));
    }
  }
  template <typename T, typename F>
  Result<T> guarded_result(const char* what, F&& body) {
    std::lock_guard lock(mutex_);
    try {
      return body();
    } catch (const std::exception& e) {
      return unavailable(fmt::format("job store: cannot {}: {}", what, e.what()));
    }
  }

  Result<Job> load_job(const std::string& job_id) {
    SQLite::Statement q(db_, fmt::format("SELECT {} FROM jobs WHERE id = ?", kJobColumns));
    q.bind(1, job_id);
    if (!q.executeStep()) return not_found(fmt::format("job '{}' does not exist", job_id));
    return read_job(q);
  }

  Task load_task(int64_t task_id) {
    SQLite::Statement q(db_, fmt::format("SELECT {} FROM tasks WHERE id = ?", kTaskColumns));
    q.bind(1, task_id);
    if (!q.executeStep()) throw std::runtime_error(fmt::format("task {} vanished", task_id));
    return read_task(q);
  }

  // The task if `owner` still holds its lease.
  Result<Task> held_task(int64_t task_id, const std::string& owner) {
    SQLite::Statement q(db_, fmt::format("SELECT {} FROM tasks WHERE id = ?", kTaskColumns));
    q.bind(1, task_id);
    if (!q.executeStep()) return failed_precondition(fmt::format("task {} no longer exists (job deleted)", task_id));
    Task t = read_task(q);
    if (t.state != TaskState::kLeased || t.lease_owner != owner) {
      return failed_precondition(fmt::format("the lease on task {} was lost (now {} by '{}')", task_id,
                                             task_state_name(t.state), t.lease_owner));
    }
    return t;
  }

  // The job's progress, frames, fps and ETA from its tasks (job_figures).
  void refresh_job_figures(const std::string& job_id, const std::string& step, double fraction) {
    Job job = load_job(job_id).value();
    int64_t now = now_ms();
    int64_t frames_done = 0;
    if (job.frames_total > 0) {
      SQLite::Statement sum(db_, "SELECT COALESCE(SUM(CASE WHEN state = 'done' THEN frame_end - frame_begin ELSE "
                                 "frames_done END), 0) AS frames FROM tasks WHERE job_id = ? AND kind = 'chunk'");
      sum.bind(1, job_id);
      sum.executeStep();
      frames_done = sum.getColumn("frames").getInt64();
    }
    const JobFigures figures = job_figures(job, frames_done, fraction, now);
    SQLite::Statement js(db_, "UPDATE jobs SET progress = ?, step = ?, frames_done = ?, fps = ?, eta_seconds = ?, "
                              "updated_at = ? WHERE id = ?");
    js.bind(1, figures.progress);
    js.bind(2, step);
    js.bind(3, frames_done);
    js.bind(4, figures.fps);
    js.bind(5, figures.eta_seconds);
    js.bind(6, now);
    js.bind(7, job_id);
    js.exec();
  }

  void record_source_faces(const std::string& job_id, int source_faces) {
    Job job = load_job(job_id).value();
    if (job.input_summary.value("source_faces", nlohmann::json()) == source_faces) return;  // every chunk reports it
    job.input_summary["source_faces"] = source_faces;
    SQLite::Statement up(db_, "UPDATE jobs SET input_summary = ? WHERE id = ?");
    up.bind(1, job.input_summary.dump());
    up.bind(2, job_id);
    up.exec();
  }

  void record_result_summary(const std::string& job_id, const nlohmann::json& summary) {
    Job job = load_job(job_id).value();
    job.input_summary.update(summary);
    SQLite::Statement up(db_, "UPDATE jobs SET input_summary = ? WHERE id = ?");
    up.bind(1, job.input_summary.dump());
    up.bind(2, job_id);
    up.exec();
  }

  void set_task_state(int64_t task_id, TaskState state, const std::string& error) {
    SQLite::Statement up(db_, "UPDATE tasks SET state = ?, lease_owner = '', lease_expires_at = 0, last_error = ? "
                              "WHERE id = ?");
    up.bind(1, task_state_name(state));
    up.bind(2, error);
    up.bind(3, task_id);
    up.exec();
  }

  // The task failed for good: it is marked failed, the job's other tasks cancelled, the job failed
  // with `error_code` / `message`, and a state event appended.
  void fail_job_with_task(const Task& task, const std::string& error_code, const std::string& message,
                          const std::string& last_error) {
    const int64_t now = now_ms();
    set_task_state(task.id, TaskState::kFailed, last_error);
    SQLite::Statement others(db_, "UPDATE tasks SET state = 'cancelled' WHERE job_id = ? AND state IN ('pending', "
                                  "'blocked', 'leased') AND id != ?");
    others.bind(1, task.job_id);
    others.bind(2, task.id);
    others.exec();
    SQLite::Statement js(db_, "UPDATE jobs SET state = 'failed', step = 'failed', eta_seconds = -1, error_code = ?, "
                              "error_message = ?, updated_at = ?, finished_at = ? WHERE id = ?");
    js.bind(1, error_code);
    js.bind(2, message);
    js.bind(3, now);
    js.bind(4, now);
    js.bind(5, task.job_id);
    js.exec();
    append_state_event(task.job_id);
  }

  void mark_cancelled(const std::string& job_id) {
    int64_t now = now_ms();
    SQLite::Statement ts(db_, "UPDATE tasks SET state = 'cancelled', lease_owner = '' WHERE job_id = ? AND state NOT "
                              "IN ('done', 'failed')");
    ts.bind(1, job_id);
    ts.exec();
    SQLite::Statement js(db_, "UPDATE jobs SET state = 'cancelled', step = 'cancelled', eta_seconds = -1, "
                              "updated_at = ?, finished_at = ? WHERE id = ?");
    js.bind(1, now);
    js.bind(2, now);
    js.bind(3, job_id);
    js.exec();
    append_state_event(job_id);
  }

  void append_state_event(const std::string& job_id) { append_event(job_id, "state"); }

  // Appends the job's current figures as the next event (seq = previous + 1, per job).
  void append_event(const std::string& job_id, const char* type, const nlohmann::json& extra = nlohmann::json::object()) {
    SQLite::Statement bump(db_, "UPDATE jobs SET event_seq = event_seq + 1 WHERE id = ?");
    bump.bind(1, job_id);
    bump.exec();
    SQLite::Statement q(db_, fmt::format("SELECT {}, event_seq FROM jobs WHERE id = ?", kJobColumns));
    q.bind(1, job_id);
    q.executeStep();
    Job job = read_job(q);
    int64_t seq = q.getColumn("event_seq").getInt64();
    nlohmann::json data = job_to_json(job);
    data["type"] = type;
    data["seq"] = seq;
    for (const auto& [k, v] : extra.items()) data[k] = v;
    SQLite::Statement ins(db_, "INSERT INTO job_events (job_id, seq, created_at, data) VALUES (?, ?, ?, ?)");
    ins.bind(1, job_id);
    ins.bind(2, seq);
    ins.bind(3, now_ms());
    ins.bind(4, data.dump());
    ins.exec();
  }

  std::mutex mutex_;
  SQLite::Database db_;
};

}  // namespace

Result<std::unique_ptr<JobStore>> open_sqlite_job_store(const std::filesystem::path& path) {
  std::error_code ec;
  const std::string full = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (full.size() > kSqliteMaxPathBytes) {
    return invalid_argument(fmt::format("the job store path {} is {} bytes long; SQLite opens paths of at most {} bytes: "
                                        "use a data directory with a shorter path (--data)",
                                        full, full.size(), kSqliteMaxPathBytes));
  }
  std::unique_ptr<SqliteJobStore> store;
  try {
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    store = std::make_unique<SqliteJobStore>(path);
  } catch (const std::exception& e) {
    return unavailable(fmt::format("cannot open the job store {}: {}", path.string(), e.what()));
  }
  FF_RETURN_IF_ERROR(store->migrate());
  return std::unique_ptr<JobStore>(std::move(store));
}

}  // namespace facefuse::jobs
