// PostgreSQL JobStore (distributed mode): any number of API nodes and workers share one database.
// Same contract and row shapes as sqlite_job_store.cpp; what differs is how concurrency is made safe:
//   - claim_task selects with FOR UPDATE OF t SKIP LOCKED: concurrent claimers never wait on, nor
//     hand out, the same task;
//   - a task row is locked before its job row everywhere a call touches both (claim, progress,
//     complete, fail), and complete_task locks the job before counting the chunks left, so two
//     last chunks finishing together cannot both miss (or both do) the merge unblock;
//   - create_job inserts, then takes pg_advisory_xact_lock on the tenant and counts the quota
//     (READ COMMITTED alone would let two submits both count N−1); the idempotency key is a unique
//     constraint (ON CONFLICT DO NOTHING waits for a racing insert of the same key);
//   - a deadlock or serialisation failure PostgreSQL detects is retried (the transaction was rolled
//     back whole), as is a call that found its pooled connection dead (a database restart);
//   - lease times come from the database clock (ff_now_ms()), so nodes with skewed clocks agree on
//     when a lease expired; display timestamps (created_at, ...) are the caller's clock, as SQLite.
// Wake-ups: writes that make a task claimable NOTIFY ff_task_ready, every event NOTIFY ff_job_event
// (payload: job id); both are delivered at commit. One listener thread per store turns them into
// StoreListeners calls.
//
// Threading: every call borrows a pooled connection for one transaction; safe from any thread.
#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "facefuse/jobs/job_store_uri.h"

namespace facefuse::jobs {

namespace {

// Forward-only migrations, as sqlite_job_store.cpp: entry N takes a database at version N−1 to N;
// an applied entry is never edited. They run in one transaction under kMigrationLock.
constexpr const char* kSchemaV1 = R"sql(
CREATE FUNCTION ff_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS
  $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;
CREATE TABLE jobs (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  state TEXT NOT NULL,
  request TEXT NOT NULL,
  kind TEXT NOT NULL,
  fingerprint TEXT NOT NULL DEFAULT '',
  idempotency_key TEXT,
  progress DOUBLE PRECISION NOT NULL DEFAULT 0,
  step TEXT NOT NULL DEFAULT '',
  eta_seconds DOUBLE PRECISION NOT NULL DEFAULT -1,
  frames_done BIGINT NOT NULL DEFAULT 0,
  frames_total BIGINT NOT NULL DEFAULT 0,
  fps DOUBLE PRECISION NOT NULL DEFAULT 0,
  input_summary TEXT NOT NULL DEFAULT '{}',
  output_key TEXT NOT NULL DEFAULT '',
  error_code TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '',
  cached BOOLEAN NOT NULL DEFAULT FALSE,
  cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  started_at BIGINT NOT NULL DEFAULT 0,
  finished_at BIGINT NOT NULL DEFAULT 0,
  event_seq BIGINT NOT NULL DEFAULT 0,
  UNIQUE (tenant, idempotency_key)
);
CREATE INDEX jobs_tenant_state ON jobs (tenant, state, seq);
CREATE INDEX jobs_fingerprint ON jobs (tenant, fingerprint, state);
CREATE TABLE tasks (
  id BIGSERIAL PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  job_seq BIGINT NOT NULL,  -- the job's seq: claim order without a sort over the join
  kind TEXT NOT NULL,
  chunk_index INTEGER NOT NULL DEFAULT 0,
  frame_begin BIGINT NOT NULL DEFAULT 0,
  frame_end BIGINT NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at BIGINT NOT NULL DEFAULT 0,
  not_before BIGINT NOT NULL DEFAULT 0,
  frames_done BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT ''
);
-- Only claimable rows are indexed, in claim order: the claim walks this index from its start.
CREATE INDEX tasks_claim ON tasks (job_seq, id) WHERE state IN ('pending', 'leased');
CREATE INDEX tasks_job ON tasks (job_id);
CREATE TABLE job_events (
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  storage_key TEXT NOT NULL,
  filename TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  media TEXT NOT NULL,
  info TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
)sql";

// Version 2 (issue 12, as SQLite's version 2): job priority 0–9 (claims go priority DESC, then age),
// copied onto the tasks so the claim index stays in claim order; when a leased task's frames last
// advanced (progress_at, ms, database clock) for the stall sweep.
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN job_priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN progress_at BIGINT NOT NULL DEFAULT 0;
DROP INDEX tasks_claim;
CREATE INDEX tasks_claim ON tasks (job_priority DESC, job_seq, id) WHERE state IN ('pending', 'leased');
)sql";

// Version 3 (issue 12): secrets every node shares (the media-link key), so a link signed by one API
// node works on the others. Additive: a version-2 binary never reads the table.
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE node_secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
)sql";

// Version 4 (issue 13, retention, as SQLite's version 4): when the janitor deleted a job's output.
// Additive: expire_output also clears the fingerprint, so an older binary's result cache never
// answers with an expired output.
constexpr const char* kSchemaV4 = R"sql(
ALTER TABLE jobs ADD COLUMN output_expired_at BIGINT NOT NULL DEFAULT 0;
)sql";

// Version 5 (issue 12): when the holder last took or renewed its lease (lease_renewed_at, ms, database
// clock), so a claim can tell a lease lost to a database restart — last renewed before the server
// started, so its holder could not renew it — from a worker that died (JobStore::claim_task). Additive:
// older binaries leave it 0, which counts as before.
constexpr const char* kSchemaV5 = R"sql(
ALTER TABLE tasks ADD COLUMN lease_renewed_at BIGINT NOT NULL DEFAULT 0;
)sql";

// `compatible_from`: the oldest binary schema version that still runs correctly on the database once
// this migration is applied (docs/decisions/0008-schema-compatibility-for-blue-green.md). Additive
// changes an older binary ignores keep the previous value; a change an older binary would misuse
// raises it. Version 2 raised it to 2: a version-1 binary claims tasks without setting progress_at,
// so a version-2 stall sweep would fail its tasks as stalled.
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

// pg_advisory_xact_lock keys (any constant unlikely to be used by another application).
constexpr int64_t kMigrationLock = 0x66616365667573;  // "facefus"
constexpr const char* kTaskChannel = "ff_task_ready";
constexpr const char* kEventChannel = "ff_job_event";
constexpr int kRetries = 3;

constexpr const char* kJobColumns =
    "id, tenant, state, request, kind, fingerprint, COALESCE(idempotency_key, '') AS idempotency_key, progress, step, "
    "eta_seconds, frames_done, frames_total, fps, input_summary, output_key, error_code, error_message, cached, "
    "cancel_requested, priority, created_at, updated_at, started_at, finished_at, output_expired_at";
constexpr const char* kTaskColumns =
    "id, job_id, kind, chunk_index, frame_begin, frame_end, state, attempts, lease_owner, lease_expires_at, not_before, "
    "frames_done, last_error, progress_at";

// The claim, one statement prepared once per connection (planning it cost more than running it).
// It walks tasks_claim in claim order and locks the first claimable row, skipping rows another
// transaction holds (c); leases it (u) unless it is an expired lease that used up its attempts
// (then it returns c alone and the caller fails the job as crashed_worker and claims again); starts
// a pending job, bumping its event sequence for the "state" event (s); and returns the task and its
// job (jr: the updated row when s ran, else the row as it is). A lease last renewed before the
// database server started (pg_postmaster_start_time) was lost to the restart — its holder could
// not renew — and is handed on without counting an attempt. Parameters: $1 owner, $2 lease ms,
// $3 max attempts, $4 now (the caller's clock, for the job's display timestamps).
// One round trip instead of six (selection, task update, job update, event sequence, job read);
// with the transaction's BEGIN, the event insert (a started job) and COMMIT, 3–4 instead of 9.
constexpr const char* kClaimStatement = "ff_claim";
const std::string& claim_sql() {
  static const std::string sql = [] {
    // The task's columns as task_<name> (read_task's prefix), the job's by their own names.
    std::string task_columns;
    std::string_view rest = kTaskColumns;
    while (!rest.empty()) {
      const size_t comma = rest.find(", ");
      const std::string_view name = rest.substr(0, comma);
      task_columns += fmt::format("{}u.{} AS task_{}", task_columns.empty() ? "" : ", ", name, name);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    }
    return fmt::format(
        "WITH c AS ("
        " SELECT t.id, t.state AS was_state, t.attempts AS was_attempts,"
        "  (t.state = 'leased' AND t.lease_renewed_at > 0 AND"
        "   t.lease_renewed_at < (extract(epoch FROM pg_postmaster_start_time()) * 1000)::BIGINT) AS lost_to_restart"
        " FROM tasks t JOIN jobs j ON j.id = t.job_id"
        " WHERE t.state IN ('pending', 'leased') AND j.state IN ('pending', 'processing') AND NOT j.cancel_requested"
        " AND ((t.state = 'pending' AND t.not_before <= ff_now_ms()) OR"
        " (t.state = 'leased' AND t.lease_expires_at < ff_now_ms()))"
        " ORDER BY t.job_priority DESC, t.job_seq, t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED),"
        "u AS ("
        " UPDATE tasks t SET state = 'leased', lease_owner = $1, lease_expires_at = ff_now_ms() + $2,"
        "  lease_renewed_at = ff_now_ms(), attempts = t.attempts + CASE WHEN c.lost_to_restart THEN 0 ELSE 1 END,"
        "  frames_done = 0, progress_at = ff_now_ms()"
        " FROM c WHERE t.id = c.id AND (c.was_state = 'pending' OR c.lost_to_restart OR c.was_attempts < $3)"
        " RETURNING t.*),"
        "s AS ("
        " UPDATE jobs j SET state = 'processing', step = 'processing', started_at = $4, updated_at = $4,"
        "  event_seq = j.event_seq + 1"
        " FROM u WHERE j.id = u.job_id AND j.state = 'pending' RETURNING j.*),"
        "jr AS ("
        " SELECT *, event_seq AS started_event_seq FROM s"
        " UNION ALL SELECT *, NULL::BIGINT FROM jobs WHERE id IN (SELECT job_id FROM u) AND NOT EXISTS (SELECT 1 FROM s))"
        "SELECT c.id AS claimed_id, c.was_state, c.was_attempts, c.lost_to_restart, {}, job.*"
        " FROM c LEFT JOIN u ON TRUE LEFT JOIN (SELECT {}, started_event_seq FROM jr) job ON TRUE",
        task_columns, kJobColumns);
  }();
  return sql;
}

// The statements every submit runs, prepared on each pooled connection like the claim: planning
// them on every call cost about as much as running them (pg_stat_statements at 200 submits/s:
// 1.0 ms of planning per submit against 1.6 ms of execution).
constexpr const char* kCreateJobStatement = "ff_create_job";
constexpr const char* kActiveJobsStatement = "ff_active_jobs";
constexpr const char* kInsertEventStatement = "ff_insert_event";
constexpr const char* kUploadStatement = "ff_upload";
constexpr const char* kCachedJobStatement = "ff_cached_job";
constexpr const char* kJobStatement = "ff_job";

// Parameters: $1–$16 the job's columns (see create_job), $17–$21 its tasks as parallel arrays of
// kind, chunk index, first frame, end frame and state.
const std::string& create_job_sql() {
  static const std::string sql = fmt::format(
      "WITH j AS (INSERT INTO jobs (id, tenant, state, request, kind, fingerprint, idempotency_key, progress, "
      " step, frames_total, input_summary, output_key, cached, created_at, updated_at, started_at, finished_at,"
      " priority, event_seq)"
      " VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $10, $11, $12, $13, $14, $14, $15, $15, $16, 1)"
      " ON CONFLICT (tenant, idempotency_key) DO NOTHING RETURNING seq, {}),"
      "t AS (INSERT INTO tasks (job_id, job_seq, job_priority, kind, chunk_index, frame_begin, frame_end, state)"
      " SELECT j.id, j.seq, j.priority, x.kind, x.chunk_index, x.frame_begin, x.frame_end, x.state"
      " FROM j, unnest($17::TEXT[], $18::INTEGER[], $19::BIGINT[], $20::BIGINT[], $21::TEXT[])"
      "  AS x (kind, chunk_index, frame_begin, frame_end, state))"
      "SELECT * FROM j",
      kJobColumns);
  return sql;
}

void prepare_statements(pqxx::connection& c) {  // libpqxx prepares each on first use
  c.prepare(kClaimStatement, claim_sql());
  c.prepare(kCreateJobStatement, create_job_sql());
  c.prepare(kActiveJobsStatement,
            "SELECT COUNT(*) AS n FROM jobs WHERE tenant = $1 AND state IN ('pending', 'processing')");
  c.prepare(kInsertEventStatement,
            "WITH e AS (INSERT INTO job_events (job_id, seq, created_at, data) VALUES ($1, $2, $3, $4) "
            "RETURNING job_id) SELECT pg_notify($5, job_id) FROM e");
  c.prepare(kUploadStatement, "SELECT id, tenant, storage_key, filename, sha256, size, media, info, created_at "
                              "FROM uploads WHERE id = $1 AND tenant = $2");
  c.prepare(kCachedJobStatement, fmt::format("SELECT {} FROM jobs WHERE tenant = $1 AND fingerprint = $2 AND state = "
                                             "'completed' AND output_key != '' AND output_expired_at = 0 "
                                             "ORDER BY seq DESC LIMIT 1",
                                             kJobColumns));
  c.prepare(kJobStatement, fmt::format("SELECT {} FROM jobs WHERE id = $1", kJobColumns));
}

template <typename T>
T col(const pqxx::row& r, const char* name) {
  return r[name].as<T>();
}

Job read_job(const pqxx::row& r) {
  Job j;
  j.id = col<std::string>(r, "id");
  j.tenant = col<std::string>(r, "tenant");
  j.state = parse_job_state(col<std::string>(r, "state")).value();
  j.request = nlohmann::json::parse(col<std::string>(r, "request"));
  j.kind = col<std::string>(r, "kind");
  j.fingerprint = col<std::string>(r, "fingerprint");
  j.idempotency_key = col<std::string>(r, "idempotency_key");
  j.progress = col<double>(r, "progress");
  j.step = col<std::string>(r, "step");
  j.eta_seconds = col<double>(r, "eta_seconds");
  j.frames_done = col<int64_t>(r, "frames_done");
  j.frames_total = col<int64_t>(r, "frames_total");
  j.fps = col<double>(r, "fps");
  j.input_summary = nlohmann::json::parse(col<std::string>(r, "input_summary"));
  j.output_key = col<std::string>(r, "output_key");
  j.error_code = col<std::string>(r, "error_code");
  j.error_message = col<std::string>(r, "error_message");
  j.cached = col<bool>(r, "cached");
  j.cancel_requested = col<bool>(r, "cancel_requested");
  j.priority = col<int>(r, "priority");
  j.created_at_ms = col<int64_t>(r, "created_at");
  j.updated_at_ms = col<int64_t>(r, "updated_at");
  j.started_at_ms = col<int64_t>(r, "started_at");
  j.finished_at_ms = col<int64_t>(r, "finished_at");
  j.output_expired_at_ms = col<int64_t>(r, "output_expired_at");
  return j;
}

// `prefix`: the claim names the task's columns task_id, task_job_id, ... beside its job's.
Task read_task(const pqxx::row& r, const std::string& prefix = "") {
  auto name = [&](const char* column) { return prefix + column; };
  Task t;
  t.id = r[name("id")].as<int64_t>();
  t.job_id = r[name("job_id")].as<std::string>();
  t.kind = parse_task_kind(r[name("kind")].as<std::string>());
  t.chunk_index = r[name("chunk_index")].as<int>();
  t.frame_begin = r[name("frame_begin")].as<int64_t>();
  t.frame_end = r[name("frame_end")].as<int64_t>();
  t.state = parse_task_state(r[name("state")].as<std::string>());
  t.attempts = r[name("attempts")].as<int>();
  t.lease_owner = r[name("lease_owner")].as<std::string>();
  t.lease_expires_at_ms = r[name("lease_expires_at")].as<int64_t>();
  t.not_before_ms = r[name("not_before")].as<int64_t>();
  t.frames_done = r[name("frames_done")].as<int64_t>();
  t.last_error = r[name("last_error")].as<std::string>();
  t.progress_at_ms = r[name("progress_at")].as<int64_t>();
  return t;
}

ApiKeyRecord read_api_key(const pqxx::row& r) {
  return {col<std::string>(r, "id"), col<std::string>(r, "tenant"), col<std::string>(r, "key_hash"),
          col<std::string>(r, "scopes"), col<int64_t>(r, "created_at")};
}

Upload read_upload(const pqxx::row& r) {
  Upload u;
  u.id = col<std::string>(r, "id");
  u.tenant = col<std::string>(r, "tenant");
  u.storage_key = col<std::string>(r, "storage_key");
  u.filename = col<std::string>(r, "filename");
  u.sha256 = col<std::string>(r, "sha256");
  u.size = col<int64_t>(r, "size");
  u.media = col<std::string>(r, "media");
  u.info = nlohmann::json::parse(col<std::string>(r, "info"));
  u.created_at_ms = col<int64_t>(r, "created_at");
  return u;
}

// libpq's connection error, one line (it ends with a newline and may hold several).
std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

// Why a connection could not be opened, with the fix. `at_start`: the caller is starting up (a user
// can fix it: exit 2) rather than a running node whose database went away (kUnavailable, retried).
Status connect_error(const std::string& uri, const std::exception& e, bool at_start) {
  const std::string why = one_line(e.what());
  if (why.find("password authentication failed") != std::string::npos ||
      why.find("no password supplied") != std::string::npos) {
    return permission_denied(fmt::format("PostgreSQL refused the login for {}: {}: fix the user or password in --store "
                                         "/ FACEFUSE_STORE (or PGPASSWORD)",
                                         redact_store_uri(uri), why));
  }
  const std::string message =
      fmt::format("cannot connect to PostgreSQL at {}: {}: start the database or fix --store / FACEFUSE_STORE",
                  redact_store_uri(uri), why);
  return at_start ? failed_precondition(message) : unavailable(message);
}

// Connects once, at start, so a bad address or password is reported as such (connect_error).
Status probe_connection(const std::string& uri) {
  try {
    pqxx::connection probe(with_connection_defaults(uri));
  } catch (const std::exception& e) {
    return connect_error(uri, e, true);
  }
  return Status::ok();
}

// Connections for one transaction at a time each. A connection found broken is dropped; the next
// acquire opens a fresh one, which is how the store reconnects after a database restart.
class ConnectionPool {
 public:
  ConnectionPool(std::string uri, int size)
      : uri_(std::move(uri)), conninfo_(with_connection_defaults(uri_)), size_(std::max(1, size)) {}

  // Throws what pqxx::connection throws when a new connection cannot be opened.
  std::unique_ptr<pqxx::connection> acquire() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
    lock.unlock();
    try {
      auto c = std::make_unique<pqxx::connection>(conninfo_);
      prepare_statements(*c);
      return c;
    } catch (...) {
      lock.lock();
      --open_;
      cv_.notify_one();
      throw;
    }
  }

  void release(std::unique_ptr<pqxx::connection> c, bool broken) {
    std::lock_guard lock(mutex_);
    if (broken || !c->is_open()) {
      c.reset();
      --open_;
    } else {
      idle_.push_back(std::move(c));
    }
    cv_.notify_one();
  }

  // After one connection broke, the idle ones (opened before the same restart) are dead too.
  void drop_idle() {
    std::lock_guard lock(mutex_);
    open_ -= static_cast<int>(idle_.size());
    idle_.clear();
    cv_.notify_all();
  }

  const std::string& uri() const { return uri_; }            // as the user gave it: for messages
  const std::string& conninfo() const { return conninfo_; }  // what connections open with

 private:
  const std::string uri_;
  const std::string conninfo_;
  const int size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int open_ = 0;
};

class PostgresJobStore final : public JobStore {
 public:
  PostgresJobStore(const std::string& uri, int pool_size) : pool_(uri, pool_size) {}

  ~PostgresJobStore() override {
    stop_.store(true);
    if (listener_.joinable()) listener_.join();
  }

  // Applies the missing migrations under the advisory lock. A database ahead of this binary is used
  // as it is when its compatible_from allows this binary, refused otherwise (check_schema_compatible).
  // Returns {version found, version now}. With `apply` false, a database behind this version is
  // refused too.
  Result<std::pair<int, int>> migrate(bool apply) {
    return run<std::pair<int, int>>("migrate the schema", [&](pqxx::work& tx) -> Result<std::pair<int, int>> {
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
      tx.exec("CREATE TABLE IF NOT EXISTS facefuse_schema (version INTEGER NOT NULL)");
      // NULL: written by a binary from before the rule, which could run on nothing newer than itself.
      tx.exec("ALTER TABLE facefuse_schema ADD COLUMN IF NOT EXISTS compatible_from INTEGER");
      pqxx::result r = tx.exec("SELECT version, COALESCE(compatible_from, version) AS compatible_from FROM facefuse_schema");
      const int current = r.empty() ? 0 : col<int>(r[0], "version");
      const int compatible_from = r.empty() ? 0 : col<int>(r[0], "compatible_from");
      FF_RETURN_IF_ERROR(check_schema_compatible("the PostgreSQL job store", current, compatible_from, kSchemaVersion,
                                                 "a newer facefuse migrated it and this one cannot run on it; run "
                                                 "that version"));
      if (current >= kSchemaVersion) return std::pair<int, int>(current, current);
      if (!apply) {
        return failed_precondition(fmt::format("the PostgreSQL job store has schema version {} and this facefuse needs "
                                               "{}: run 'facefuse migrate --store URI' first",
                                               current, kSchemaVersion));
      }
      for (const Migration& m : kMigrations) {
        if (m.version > current) tx.exec(m.sql);
      }
      if (r.empty()) {
        tx.exec_params("INSERT INTO facefuse_schema (version, compatible_from) VALUES ($1, $2)", kSchemaVersion,
                       kCompatibleFrom);
      } else {
        tx.exec_params("UPDATE facefuse_schema SET version = $1, compatible_from = $2", kSchemaVersion,
                       kCompatibleFrom);
      }
      return std::pair<int, int>(current, kSchemaVersion);
    });
  }

  void set_listeners(StoreListeners listeners) override {
    {
      std::lock_guard lock(listeners_mutex_);
      listeners_ = std::move(listeners);
    }
    if (!listener_.joinable()) listener_ = std::thread([this] { listen_loop(); });
  }

  Status check_ready() override {
    return run_status("check job store", [&](pqxx::work& tx) -> Status {
      tx.exec("SELECT 1");
      return Status::ok();
    });
  }

  // Inserts first and checks last, so the tenant's lock is held only for the check and the commit
  // (2 round trips, not the whole create's 10: one tenant's submits serialise on it):
  //   1. the job, its tasks (one statement) and its first event; a second submit of the same
  //      Idempotency-Key finds the unique (tenant, idempotency_key) taken — ON CONFLICT waits for a
  //      racing creator to commit — and returns that job instead;
  //   2. the tenant's lock, then the quota count under a fresh snapshot (READ COMMITTED: a statement
  //      after the lock sees every create that held it before), which counts this job too.
  // The lock also keeps delete_upload's busy check and delete apart from a create's commit.
  Result<CreatedJob> create_job(const NewJob& in) override {
    return run<CreatedJob>("create job", [&](pqxx::work& tx) -> Result<CreatedJob> {
      const Job& j = in.job;
      const int64_t now = now_ms();
      const int64_t finished = is_terminal(j.state) ? now : 0;
      const int priority = j.priority;  // 0–9, checked by job_request.cpp
      // The tasks as five parallel array literals for unnest (kinds and states are fixed words).
      std::vector<std::string> kinds, chunks, begins, ends, states;
      for (const auto& t : in.tasks) {
        kinds.push_back(task_kind_name(t.kind));
        chunks.push_back(std::to_string(t.chunk_index));
        begins.push_back(std::to_string(t.frame_begin));
        ends.push_back(std::to_string(t.frame_end));
        states.push_back(task_state_name(t.kind == TaskKind::kMerge ? TaskState::kBlocked : TaskState::kPending));
      }
      auto array = [](const std::vector<std::string>& items) { return fmt::format("{{{}}}", fmt::join(items, ",")); };
      pqxx::result ins = tx.exec_prepared(
          kCreateJobStatement, j.id, j.tenant, std::string(job_state_name(j.state)), j.request.dump(), j.kind,
          j.fingerprint, j.idempotency_key, j.progress, j.step, j.frames_total, j.input_summary.dump(), j.output_key,
          j.cached, now, finished, priority, array(kinds), array(chunks), array(begins), array(ends), array(states));
      if (ins.empty()) {  // the key's job exists (committed now, if it was racing this one)
        pqxx::result r = tx.exec_params(
            fmt::format("SELECT {} FROM jobs WHERE tenant = $1 AND idempotency_key = $2", kJobColumns), j.tenant,
            j.idempotency_key);
        if (r.empty()) {
          return unavailable(
              fmt::format("the job with Idempotency-Key '{}' was deleted while this submit ran: submit again",
                          j.idempotency_key));
        }
        return CreatedJob{read_job(r[0]), false};
      }
      Job created = read_job(ins[0]);
      if (!in.tasks.empty()) notify_task_ready(tx);
      insert_event(tx, created, 1, "state");

      tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('facefuse tenant ' || $1, 0))", j.tenant);
      if (in.max_active_jobs > 0 && !is_terminal(j.state)) {
        pqxx::result r = tx.exec_prepared(kActiveJobsStatement, j.tenant);
        const int64_t others = col<int64_t>(r[0], "n") - 1;  // this job is one of them
        if (others >= in.max_active_jobs) {
          return quota_exceeded(fmt::format("this tenant already has {} pending or processing jobs (limit {}): wait for "
                                            "some to finish, then submit again",
                                            others, in.max_active_jobs));
        }
      }
      return CreatedJob{std::move(created), true};
    });
  }

  Result<Job> get_job(const std::string& job_id) override {
    return run<Job>("read job", [&](pqxx::work& tx) -> Result<Job> {
      FF_ASSIGN_OR_RETURN(Job job, load_job(tx, job_id));
      pqxx::result r =
          tx.exec_params("SELECT kind, chunk_index, state, attempts FROM tasks WHERE job_id = $1 ORDER BY id", job_id);
      job.attempts = 0;
      for (const auto& row : r) {
        job.tasks.push_back({parse_task_kind(col<std::string>(row, "kind")), col<int>(row, "chunk_index"),
                             parse_task_state(col<std::string>(row, "state")), col<int>(row, "attempts")});
        job.attempts += job.tasks.back().attempts;
      }
      return job;
    });
  }

  Result<JobPage> list_jobs(const std::string& tenant, std::optional<JobState> state, int limit,
                            const std::string& cursor) override {
    FF_ASSIGN_OR_RETURN(const int64_t before, parse_job_cursor(cursor));
    return read<JobPage>("list jobs", [&](pqxx::transaction_base& tx) -> Result<JobPage> {
      // $3 = '' matches every state.
      pqxx::result r = tx.exec_params(
          fmt::format("SELECT {}, seq FROM jobs WHERE tenant = $1 AND seq < $2 AND ($3 = '' OR state = $3) "
                      "ORDER BY seq DESC LIMIT $4",
                      kJobColumns),
          tenant, before, state ? std::string(job_state_name(*state)) : std::string(), limit + 1);
      JobPage page;
      int64_t last_seq = 0;
      for (const auto& row : r) {
        if (static_cast<int>(page.jobs.size()) == limit) {
          page.next_cursor = std::to_string(last_seq);
          break;
        }
        page.jobs.push_back(read_job(row));
        last_seq = col<int64_t>(row, "seq");
      }
      return page;
    });
  }

  Result<std::optional<Job>> find_cached(const std::string& tenant, const std::string& fingerprint) override {
    return read<std::optional<Job>>("look up the result cache", [&](pqxx::transaction_base& tx) -> Result<std::optional<Job>> {
      pqxx::result r = tx.exec_prepared(kCachedJobStatement, tenant, fingerprint);
      if (r.empty()) return std::optional<Job>();
      return std::optional<Job>(read_job(r[0]));
    });
  }

  Result<std::vector<Task>> job_tasks(const std::string& job_id) override {
    return run<std::vector<Task>>("read tasks", [&](pqxx::work& tx) -> Result<std::vector<Task>> {
      pqxx::result r =
          tx.exec_params(fmt::format("SELECT {} FROM tasks WHERE job_id = $1 ORDER BY id", kTaskColumns), job_id);
      std::vector<Task> tasks;
      for (const auto& row : r) tasks.push_back(read_task(row));
      return tasks;
    });
  }

  Result<std::optional<Lease>> claim_task(const std::string& owner, int64_t lease_ms, int max_attempts) override {
    return run<std::optional<Lease>>("claim a task", [&](pqxx::work& tx) -> Result<std::optional<Lease>> {
      const int64_t now = now_ms();
      // The claim must walk tasks_claim in its order and stop at the first free task whatever the
      // statistics say. Right after a burst of submissions, before autovacuum has analysed the new
      // rows, the planner estimates one candidate and sorts them all instead (10 000 pending tasks:
      // 39 ms per claim instead of 0.5). Disabling sorts for this transaction leaves it the index
      // order; nothing else in a claim's transaction needs a sort (lookups by id).
      tx.exec("SET LOCAL enable_sort = off");
      while (true) {
        pqxx::result r = tx.exec_prepared(kClaimStatement, owner, lease_ms, max_attempts, now);
        if (r.empty()) return std::optional<Lease>();  // committed: keeps the jobs failed below, if any
        const pqxx::row row = r[0];
        if (row["task_id"].is_null()) {  // an expired lease that used up its attempts
          Task task = load_task(tx, col<int64_t>(row, "claimed_id"));
          const int attempts = col<int>(row, "was_attempts");
          fail_job_with_task(tx, task, kCrashedWorkerError, crashed_worker_message(task, attempts),
                             fmt::format("{}: lease expired on attempt {} of {}", kCrashedWorkerError, attempts,
                                         max_attempts));
          continue;
        }
        Task task = read_task(row, "task_");
        Job job = read_job(row);
        const bool expired = col<std::string>(row, "was_state") == "leased";
        if (expired && col<bool>(row, "lost_to_restart")) {
          spdlog::info(nlohmann::json{{"msg", "lease lost to a database restart: attempt not counted"},
                                      {"job_id", job.id}, {"task_id", task.id}, {"attempt", task.attempts}}.dump());
        }
        if (!row["started_event_seq"].is_null()) insert_event(tx, job, col<int64_t>(row, "started_event_seq"), "state");
        return std::optional<Lease>(Lease{std::move(task), std::move(job), expired});
      }
    });
  }

  Result<bool> heartbeat(int64_t task_id, const std::string& owner, int64_t lease_ms) override {
    return run<bool>("extend a lease", [&](pqxx::work& tx) -> Result<bool> {
      FF_ASSIGN_OR_RETURN(Task task, held_task(tx, task_id, owner));
      tx.exec_params("UPDATE tasks SET lease_expires_at = ff_now_ms() + $1, lease_renewed_at = ff_now_ms() WHERE id = $2",
                     lease_ms, task_id);
      FF_ASSIGN_OR_RETURN(Job job, load_job(tx, task.job_id));
      return job.cancel_requested || is_terminal(job.state);
    });
  }

  Status report_progress(int64_t task_id, const std::string& owner, const TaskProgress& p) override {
    return run_status("record progress", [&](pqxx::work& tx) -> Status {
      FF_ASSIGN_OR_RETURN(Task task, held_task(tx, task_id, owner));
      // Progress for the stall sweep (as SQLite): a chunk's frames advanced; image and merge tasks
      // report stages, not frames.
      const bool advanced = task.kind != TaskKind::kChunk || p.frames_done > task.frames_done;
      tx.exec_params("UPDATE tasks SET frames_done = $1, progress_at = CASE WHEN $3 THEN ff_now_ms() ELSE progress_at "
                     "END WHERE id = $2",
                     p.frames_done, task_id, advanced);
      refresh_job_figures(tx, task.job_id, p.step, p.fraction);
      append_event(tx, task.job_id, "progress");
      return Status::ok();
    });
  }

  Status complete_task(int64_t task_id, const std::string& owner, const TaskResult& result) override {
    return run_status("complete a task", [&](pqxx::work& tx) -> Status {
      FF_ASSIGN_OR_RETURN(Task task, held_task(tx, task_id, owner));
      lock_job(tx, task.job_id);  // before counting the chunks left (see the file comment)
      set_task_state(tx, task_id, TaskState::kDone, "");
      if (result.source_faces) record_source_faces(tx, task.job_id, *result.source_faces);
      const int64_t now = now_ms();
      if (task.kind == TaskKind::kChunk) {
        pqxx::result left = tx.exec_params(
            "SELECT COUNT(*) AS n FROM tasks WHERE job_id = $1 AND kind = 'chunk' AND state != 'done'", task.job_id);
        const bool last_chunk = col<int64_t>(left[0], "n") == 0;
        if (last_chunk) {
          tx.exec_params("UPDATE tasks SET state = 'pending' WHERE job_id = $1 AND state = 'blocked'", task.job_id);
          notify_task_ready(tx);
        }
        refresh_job_figures(tx, task.job_id, last_chunk ? "merging" : "processing", 0.0);
        append_event(tx, task.job_id, "progress");
      } else {
        if (!result.result_summary.empty()) record_result_summary(tx, task.job_id, result.result_summary);
        tx.exec_params("UPDATE jobs SET state = 'completed', progress = 1, step = 'done', eta_seconds = 0, "
                       "frames_done = frames_total, output_key = $1, updated_at = $2, finished_at = $2 WHERE id = $3",
                       result.output_key, now, task.job_id);
        append_event(tx, task.job_id, "state");
      }
      return Status::ok();
    });
  }

  Status fail_task(int64_t task_id, const std::string& owner, const Status& error, bool retryable,
                   const RetryPolicy& policy) override {
    return run_status("record a task failure", [&](pqxx::work& tx) -> Status {
      FF_ASSIGN_OR_RETURN(Task task, held_task(tx, task_id, owner));
      if (retryable && task.attempts < policy.max_attempts) {
        const int64_t backoff = policy.backoff_ms(task.attempts);
        tx.exec_params("UPDATE tasks SET state = 'pending', lease_owner = '', lease_expires_at = 0, "
                       "not_before = ff_now_ms() + $1, last_error = $2 WHERE id = $3",
                       backoff, error.to_string(), task_id);
        append_event(tx, task.job_id, "retry",
                     {{"attempt", task.attempts}, {"retry_in_seconds", backoff / 1000.0}, {"message", error.message()}});
        notify_task_ready(tx);
      } else {
        fail_job_with_task(tx, task, status_code_name(error.code()), error.message(), error.to_string());
      }
      return Status::ok();
    });
  }

  Result<int> fail_stalled_tasks(int64_t stall_ms) override {
    return run<int>("fail stalled tasks", [&](pqxx::work& tx) -> Result<int> {
      // The database clock, as progress_at and the leases use; locked rows belong to a sweep of
      // another node (or a holder reporting progress right now) and are left to it.
      pqxx::result r = tx.exec_params(
          fmt::format("SELECT {}, ff_now_ms() AS now FROM tasks WHERE state = 'leased' AND lease_expires_at >= ff_now_ms() "
                      "AND progress_at < ff_now_ms() - $1 ORDER BY id FOR UPDATE SKIP LOCKED",
                      kTaskColumns),
          stall_ms);
      int failed = 0;
      for (const auto& row : r) {
        const Task task = read_task(row);
        // A second stalled task of a job failed above was cancelled with it: one failure per job.
        if (load_task(tx, task.id).state != TaskState::kLeased) continue;
        const std::string message = stalled_task_message(task, col<int64_t>(row, "now"));
        fail_job_with_task(tx, task, kStalledError, message, fmt::format("{}: {}", kStalledError, message));
        ++failed;
      }
      return failed;
    });
  }

  Status release_task(int64_t task_id, const std::string& owner) override {
    return run_status("release a task", [&](pqxx::work& tx) -> Status {
      FF_RETURN_IF_ERROR(held_task(tx, task_id, owner).status());
      tx.exec_params("UPDATE tasks SET state = 'pending', lease_owner = '', lease_expires_at = 0, "
                     "attempts = GREATEST(attempts - 1, 0), frames_done = 0 WHERE id = $1",
                     task_id);
      notify_task_ready(tx);
      return Status::ok();
    });
  }

  Result<Job> request_cancel(const std::string& job_id) override {
    return run<Job>("cancel a job", [&](pqxx::work& tx) -> Result<Job> {
      lock_tasks(tx, job_id);
      FF_ASSIGN_OR_RETURN(Job job, load_job(tx, job_id, /*for_update=*/true));
      if (is_terminal(job.state)) {
        return failed_precondition(fmt::format("job {} is already {}: only pending or processing jobs can be cancelled",
                                               job_id, job_state_name(job.state)));
      }
      if (job.state == JobState::kPending) {
        mark_cancelled(tx, job_id);
      } else {
        tx.exec_params("UPDATE jobs SET cancel_requested = TRUE, updated_at = $1 WHERE id = $2", now_ms(), job_id);
        append_event(tx, job_id, "cancel_requested");
      }
      return load_job(tx, job_id);
    });
  }

  Status finish_cancelled(const std::string& job_id) override {
    return run_status("finish a cancellation", [&](pqxx::work& tx) -> Status {
      lock_tasks(tx, job_id);
      FF_ASSIGN_OR_RETURN(Job job, load_job(tx, job_id, /*for_update=*/true));
      if (!is_terminal(job.state)) mark_cancelled(tx, job_id);
      return Status::ok();
    });
  }

  Status delete_job(const std::string& job_id) override {
    return run_status("delete a job", [&](pqxx::work& tx) -> Status {
      lock_tasks(tx, job_id);
      FF_ASSIGN_OR_RETURN(Job job, load_job(tx, job_id, /*for_update=*/true));
      if (!is_terminal(job.state)) {
        return failed_precondition(fmt::format("job {} is {}: cancel it first, only finished jobs can be deleted",
                                               job_id, job_state_name(job.state)));
      }
      tx.exec_params("DELETE FROM job_events WHERE job_id = $1", job_id);
      tx.exec_params("DELETE FROM tasks WHERE job_id = $1", job_id);
      tx.exec_params("DELETE FROM jobs WHERE id = $1", job_id);
      return Status::ok();
    });
  }

  Result<std::vector<JobEvent>> events_since(const std::string& job_id, int64_t since, int limit) override {
    return read<std::vector<JobEvent>>("read job events", [&](pqxx::transaction_base& tx) -> Result<std::vector<JobEvent>> {
      pqxx::result r = tx.exec_params(
          "SELECT seq, created_at, data FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3", job_id,
          since, limit);
      std::vector<JobEvent> events;
      for (const auto& row : r) {
        events.push_back({col<int64_t>(row, "seq"), col<int64_t>(row, "created_at"),
                          nlohmann::json::parse(col<std::string>(row, "data"))});
      }
      return events;
    });
  }

  Result<int64_t> queue_depth() override {
    return read<int64_t>("count queued tasks", [&](pqxx::transaction_base& tx) -> Result<int64_t> {
      pqxx::result r = tx.exec("SELECT COUNT(*) AS n FROM tasks WHERE state = 'pending'");
      return col<int64_t>(r[0], "n");
    });
  }

  Result<std::map<std::string, int64_t>> job_counts_by_state() override {
    return counts("SELECT state, COUNT(*) AS n FROM jobs WHERE $1 = '' GROUP BY state", "");
  }

  Result<std::map<std::string, int64_t>> tenant_job_counts(const std::string& tenant) override {
    return counts("SELECT state, COUNT(*) AS n FROM jobs WHERE tenant = $1 GROUP BY state", tenant);
  }

  Status add_api_key(const ApiKeyRecord& key) override {
    return run_status("store an API key", [&](pqxx::work& tx) -> Status {
      insert_api_key(tx, key);
      return Status::ok();
    });
  }

  Result<std::optional<ApiKeyRecord>> find_api_key(const std::string& key_hash) override {
    return read<std::optional<ApiKeyRecord>>("look up an API key", [&](pqxx::transaction_base& tx) -> Result<std::optional<ApiKeyRecord>> {
      pqxx::result r =
          tx.exec_params("SELECT id, tenant, key_hash, scopes, created_at FROM api_keys WHERE key_hash = $1", key_hash);
      if (r.empty()) return std::optional<ApiKeyRecord>();
      return std::optional<ApiKeyRecord>(read_api_key(r[0]));
    });
  }

  Result<int64_t> api_key_count() override {
    return run<int64_t>("count API keys", [&](pqxx::work& tx) -> Result<int64_t> {
      pqxx::result r = tx.exec("SELECT COUNT(*) AS n FROM api_keys");
      return col<int64_t>(r[0], "n");
    });
  }

  Result<bool> add_first_api_key(const ApiKeyRecord& key, const std::function<Status()>& announce) override {
    return run<bool>("store the first API key", [&](pqxx::work& tx) -> Result<bool> {
      // Every node starting on an empty store queues here; the first inserts, the others find its key.
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('facefuse first api key', 0))");
      pqxx::result r = tx.exec("SELECT EXISTS (SELECT 1 FROM api_keys) AS any");
      if (col<bool>(r[0], "any")) return false;
      FF_RETURN_IF_ERROR(announce());
      insert_api_key(tx, key);
      return true;
    });
  }

  Result<std::vector<ApiKeyRecord>> list_api_keys(const std::string& tenant) override {
    return run<std::vector<ApiKeyRecord>>("list API keys", [&](pqxx::work& tx) -> Result<std::vector<ApiKeyRecord>> {
      pqxx::result r = tx.exec_params("SELECT id, tenant, key_hash, scopes, created_at FROM api_keys WHERE tenant = $1 "
                                      "ORDER BY created_at, id",
                                      tenant);
      std::vector<ApiKeyRecord> keys;
      for (const auto& row : r) keys.push_back(read_api_key(row));
      return keys;
    });
  }

  Status delete_api_key(const std::string& tenant, const std::string& key_id) override {
    return run_status("revoke an API key", [&](pqxx::work& tx) -> Status {
      pqxx::result r = tx.exec_params("DELETE FROM api_keys WHERE id = $1 AND tenant = $2", key_id, tenant);
      if (r.affected_rows() == 0) return not_found(fmt::format("API key '{}' does not exist", key_id));
      return Status::ok();
    });
  }

  Status add_upload(const Upload& u) override {
    return run_status("record an upload", [&](pqxx::work& tx) -> Status {
      tx.exec_params("INSERT INTO uploads (id, tenant, storage_key, filename, sha256, size, media, info, created_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                     u.id, u.tenant, u.storage_key, u.filename, u.sha256, u.size, u.media, u.info.dump(),
                     u.created_at_ms > 0 ? u.created_at_ms : now_ms());
      return Status::ok();
    });
  }

  Result<Upload> get_upload(const std::string& tenant, const std::string& upload_id) override {
    return read<Upload>("read an upload", [&](pqxx::transaction_base& tx) -> Result<Upload> {
      return load_upload(tx, tenant, upload_id, false);
    });
  }

  Result<Upload> delete_upload(const std::string& tenant, const std::string& upload_id) override {
    return run<Upload>("delete an upload", [&](pqxx::work& tx) -> Result<Upload> {
      // The same tenant lock as create_job: no job of the tenant can be created reading this upload
      // between the check and the delete.
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('facefuse tenant ' || $1, 0))", tenant);
      FF_ASSIGN_OR_RETURN(Upload upload, load_upload(tx, tenant, upload_id, true));
      pqxx::result busy = tx.exec_params(
          "SELECT id FROM jobs WHERE tenant = $1 AND state IN ('pending', 'processing') AND "
          "((request::jsonb #>> '{source,upload_id}') = $2 OR (request::jsonb #>> '{target,upload_id}') = $2) LIMIT 1",
          tenant, upload_id);
      if (!busy.empty()) {
        return failed_precondition(fmt::format("upload '{}' is an input of job '{}', which has not finished: cancel "
                                               "the job or wait for it to end, then delete the upload",
                                               upload_id, col<std::string>(busy[0], "id")));
      }
      tx.exec_params("DELETE FROM uploads WHERE id = $1 AND tenant = $2", upload_id, tenant);
      return upload;
    });
  }

  Result<std::string> shared_secret(const std::string& name, const std::string& candidate) override {
    return run<std::string>("read a shared secret", [&](pqxx::work& tx) -> Result<std::string> {
      // Nodes racing here all insert-or-skip, then read the one row that won.
      tx.exec_params("INSERT INTO node_secrets (name, value, created_at) VALUES ($1, $2, $3) "
                     "ON CONFLICT (name) DO NOTHING",
                     name, candidate, now_ms());
      pqxx::result r = tx.exec_params("SELECT value FROM node_secrets WHERE name = $1", name);
      return col<std::string>(r[0], "value");
    });
  }

  Result<std::vector<Upload>> uploads_created_before(int64_t before_ms, const std::string& after_id,
                                                     int limit) override {
    return run<std::vector<Upload>>("list expired uploads", [&](pqxx::work& tx) -> Result<std::vector<Upload>> {
      pqxx::result r = tx.exec_params("SELECT id, tenant, storage_key, filename, sha256, size, media, info, created_at "
                                      "FROM uploads WHERE created_at < $1 AND id > $2 ORDER BY id LIMIT $3",
                                      before_ms, after_id, limit);
      std::vector<Upload> out;
      for (const auto& row : r) out.push_back(read_upload(row));
      return out;
    });
  }

  Result<std::vector<Job>> terminal_jobs_finished_before(int64_t before_ms, bool with_live_output,
                                                         const std::string& after_id, int limit) override {
    return run<std::vector<Job>>("list expired jobs", [&](pqxx::work& tx) -> Result<std::vector<Job>> {
      pqxx::result r = tx.exec_params(
          fmt::format("SELECT {} FROM jobs WHERE {} AND finished_at < $1 AND id > $2 ORDER BY id LIMIT $3", kJobColumns,
                      with_live_output ? "state = 'completed' AND output_key != '' AND output_expired_at = 0"
                                       : "state IN ('completed', 'failed', 'cancelled')"),
          before_ms, after_id, limit);
      std::vector<Job> out;
      for (const auto& row : r) out.push_back(read_job(row));
      return out;
    });
  }

  Status expire_output(const std::string& job_id, int64_t at_ms) override {
    return run_status("expire a job's output", [&](pqxx::work& tx) -> Status {
      FF_ASSIGN_OR_RETURN(Job job, load_job(tx, job_id, /*for_update=*/true));
      if (!is_terminal(job.state)) {
        return failed_precondition(fmt::format("job {} is {}: only a finished job's output can expire", job_id,
                                               job_state_name(job.state)));
      }
      // The fingerprint goes too: no result cache (of this or an older binary) answers with it again.
      tx.exec_params("UPDATE jobs SET output_expired_at = $1, fingerprint = '' WHERE id = $2 AND output_expired_at = 0",
                     at_ms, job_id);
      return Status::ok();
    });
  }

  Result<std::vector<Job>> jobs_by_ids(const std::vector<std::string>& ids) override {
    return run<std::vector<Job>>("look up jobs", [&](pqxx::work& tx) -> Result<std::vector<Job>> {
      std::vector<Job> out;
      if (ids.empty()) return out;
      pqxx::result r = tx.exec_params(
          fmt::format("SELECT {} FROM jobs WHERE id = ANY(string_to_array($1, ','))", kJobColumns), joined(ids));
      for (const auto& row : r) out.push_back(read_job(row));
      return out;
    });
  }

  Result<std::vector<std::string>> existing_upload_ids(const std::vector<std::string>& ids) override {
    return run<std::vector<std::string>>("look up uploads", [&](pqxx::work& tx) -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      if (ids.empty()) return out;
      pqxx::result r = tx.exec_params("SELECT id FROM uploads WHERE id = ANY(string_to_array($1, ','))", joined(ids));
      for (const auto& row : r) out.push_back(col<std::string>(row, "id"));
      return out;
    });
  }

  // A session-level advisory lock on a connection of its own (not the pool's: the lock must stay with
  // one session for as long as the holder keeps the object). Closing the connection releases it,
  // also when the process dies.
  Result<std::unique_ptr<StoreLock>> try_lock(const std::string& name) override {
    class Held final : public StoreLock {
     public:
      explicit Held(std::unique_ptr<pqxx::connection> conn) : conn_(std::move(conn)) {}
      ~Held() override = default;  // closing the session releases its advisory locks

     private:
      std::unique_ptr<pqxx::connection> conn_;
    };
    try {
      auto conn = std::make_unique<pqxx::connection>(pool_.conninfo());
      pqxx::nontransaction tx(*conn);
      pqxx::result r = tx.exec_params(
          "SELECT pg_try_advisory_lock(hashtextextended('facefuse lock ' || $1, 0)) AS taken", name);
      if (!col<bool>(r[0], "taken")) return std::unique_ptr<StoreLock>();
      return std::unique_ptr<StoreLock>(std::make_unique<Held>(std::move(conn)));
    } catch (const std::exception& e) {
      return unavailable(fmt::format("job store: cannot take the lock '{}': {}", name, one_line(e.what())));
    }
  }

 private:
  // Ids of [A-Za-z0-9_] (job and upload ids) joined by ',' for string_to_array: no quoting needed.
  static std::string joined(const std::vector<std::string>& ids) {
    std::string out;
    for (const auto& id : ids) {
      if (!out.empty()) out += ',';
      out += id;
    }
    return out;
  }

  // One api_keys row (add_api_key, and add_first_api_key inside its locked transaction).
  static void insert_api_key(pqxx::work& tx, const ApiKeyRecord& key) {
    tx.exec_params("INSERT INTO api_keys (id, tenant, key_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
                   key.id, key.tenant, key.key_hash, key.scopes, key.created_at_ms > 0 ? key.created_at_ms : now_ms());
  }

  // Runs `body` in one transaction on a pooled connection; commits when it returns ok, rolls back
  // otherwise. Database failures become kUnavailable (no exception leaves the store); a transaction
  // PostgreSQL rolled back (deadlock, serialisation) or a connection found dead is retried.
  template <typename T, typename Transaction = pqxx::work, typename F>
  Result<T> run(const char* what, F&& body) {
    std::string last;
    for (int attempt = 0; attempt < kRetries; ++attempt) {
      std::unique_ptr<pqxx::connection> conn;
      try {
        conn = pool_.acquire();
      } catch (const std::exception& e) {
        return unavailable(fmt::format("job store: cannot {}: {}", what, connect_error(pool_.uri(), e, false).message()));
      }
      try {
        Transaction tx(*conn);
        Result<T> result = body(tx);
        if (result.is_ok()) tx.commit();
        else tx.abort();
        pool_.release(std::move(conn), false);
        return result;
      } catch (const pqxx::in_doubt_error& e) {
        // The commit may or may not have landed: not retried (it could apply twice).
        pool_.release(std::move(conn), true);
        return unavailable(fmt::format("job store: cannot {}: the connection broke during commit: {}", what,
                                       one_line(e.what())));
      } catch (const pqxx::broken_connection& e) {
        pool_.release(std::move(conn), true);
        pool_.drop_idle();
        last = one_line(e.what());
      } catch (const pqxx::transaction_rollback& e) {
        pool_.release(std::move(conn), false);
        last = one_line(e.what());
      } catch (const std::exception& e) {
        const bool broken = !conn->is_open();
        pool_.release(std::move(conn), broken);
        return unavailable(fmt::format("job store: cannot {}: {}", what, one_line(e.what())));
      }
    }
    return unavailable(fmt::format("job store: cannot {}: {}", what, last));
  }

  // `body`'s one SELECT without BEGIN and COMMIT around it (one round trip instead of three): for
  // the calls on every request's path (uploads, the result cache, API keys, event pages).
  template <typename T, typename F>
  Result<T> read(const char* what, F&& body) {
    return run<T, pqxx::nontransaction>(what, std::forward<F>(body));
  }

  template <typename F>
  Status run_status(const char* what, F&& body) {
    return run<bool>(what, [&](pqxx::work& tx) -> Result<bool> {
      FF_RETURN_IF_ERROR(body(tx));
      return true;
    }).status();
  }

  Result<std::map<std::string, int64_t>> counts(const char* sql, const std::string& tenant) {
    return run<std::map<std::string, int64_t>>("count jobs", [&](pqxx::work& tx) -> Result<std::map<std::string, int64_t>> {
      std::map<std::string, int64_t> out;
      for (int i = 0; i < 5; ++i) out[job_state_name(static_cast<JobState>(i))] = 0;
      for (const auto& row : tx.exec_params(sql, tenant)) out[col<std::string>(row, "state")] = col<int64_t>(row, "n");
      return out;
    });
  }

  Result<Upload> load_upload(pqxx::transaction_base& tx, const std::string& tenant, const std::string& upload_id, bool for_update) {
    pqxx::result r = for_update ? tx.exec_params("SELECT id, tenant, storage_key, filename, sha256, size, media, info, "
                                                 "created_at FROM uploads WHERE id = $1 AND tenant = $2 FOR UPDATE",
                                                 upload_id, tenant)
                                : tx.exec_prepared(kUploadStatement, upload_id, tenant);
    if (r.empty()) {
      return not_found(fmt::format("upload '{}' does not exist: upload the file first with POST /api/v1/upload",
                                   upload_id));
    }
    return read_upload(r[0]);
  }

  Result<Job> load_job(pqxx::work& tx, const std::string& job_id, bool for_update = false) {
    pqxx::result r = for_update ? tx.exec_params(fmt::format("SELECT {} FROM jobs WHERE id = $1 FOR UPDATE", kJobColumns),
                                                 job_id)
                                : tx.exec_prepared(kJobStatement, job_id);
    if (r.empty()) return not_found(fmt::format("job '{}' does not exist", job_id));
    return read_job(r[0]);
  }

  void lock_job(pqxx::work& tx, const std::string& job_id) {
    tx.exec_params("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", job_id);
  }

  // Task rows first, in id order, then the job: the order claim and the lease calls lock in.
  void lock_tasks(pqxx::work& tx, const std::string& job_id) {
    tx.exec_params("SELECT id FROM tasks WHERE job_id = $1 ORDER BY id FOR UPDATE", job_id);
  }

  Task load_task(pqxx::work& tx, int64_t task_id) {
    pqxx::result r = tx.exec_params(fmt::format("SELECT {} FROM tasks WHERE id = $1", kTaskColumns), task_id);
    if (r.empty()) throw std::runtime_error(fmt::format("task {} vanished", task_id));
    return read_task(r[0]);
  }

  // The task, locked, if `owner` still holds its lease.
  Result<Task> held_task(pqxx::work& tx, int64_t task_id, const std::string& owner) {
    pqxx::result r =
        tx.exec_params(fmt::format("SELECT {} FROM tasks WHERE id = $1 FOR UPDATE", kTaskColumns), task_id);
    if (r.empty()) return failed_precondition(fmt::format("task {} no longer exists (job deleted)", task_id));
    Task t = read_task(r[0]);
    if (t.state != TaskState::kLeased || t.lease_owner != owner) {
      return failed_precondition(fmt::format("the lease on task {} was lost (now {} by '{}')", task_id,
                                             task_state_name(t.state), t.lease_owner));
    }
    return t;
  }

  // As sqlite_job_store.cpp: figures from the tasks (job_figures).
  void refresh_job_figures(pqxx::work& tx, const std::string& job_id, const std::string& step, double fraction) {
    Job job = load_job(tx, job_id).value();
    const int64_t now = now_ms();
    int64_t frames_done = 0;
    if (job.frames_total > 0) {
      pqxx::result sum = tx.exec_params("SELECT COALESCE(SUM(CASE WHEN state = 'done' THEN frame_end - frame_begin "
                                        "ELSE frames_done END), 0)::BIGINT AS frames FROM tasks WHERE job_id = $1 AND "
                                        "kind = 'chunk'",
                                        job_id);
      frames_done = col<int64_t>(sum[0], "frames");
    }
    const JobFigures figures = job_figures(job, frames_done, fraction, now);
    tx.exec_params("UPDATE jobs SET progress = $1, step = $2, frames_done = $3, fps = $4, eta_seconds = $5, "
                   "updated_at = $6 WHERE id = $7",
                   figures.progress, step, frames_done, figures.fps, figures.eta_seconds, now, job_id);
  }

  void record_source_faces(pqxx::work& tx, const std::string& job_id, int source_faces) {
    Job job = load_job(tx, job_id).value();
    if (job.input_summary.value("source_faces", nlohmann::json()) == source_faces) return;
    job.input_summary["source_faces"] = source_faces;
    tx.exec_params("UPDATE jobs SET input_summary = $1 WHERE id = $2", job.input_summary.dump(), job_id);
  }

  void record_result_summary(pqxx::work& tx, const std::string& job_id, const nlohmann::json& summary) {
    Job job = load_job(tx, job_id).value();
    job.input_summary.update(summary);
    tx.exec_params("UPDATE jobs SET input_summary = $1 WHERE id = $2", job.input_summary.dump(), job_id);
  }

  void set_task_state(pqxx::work& tx, int64_t task_id, TaskState state, const std::string& error) {
    tx.exec_params("UPDATE tasks SET state = $1, lease_owner = '', lease_expires_at = 0, last_error = $2 WHERE id = $3",
                   std::string(task_state_name(state)), error, task_id);
  }

  void fail_job_with_task(pqxx::work& tx, const Task& task, const std::string& error_code, const std::string& message,
                          const std::string& last_error) {
    const int64_t now = now_ms();
    set_task_state(tx, task.id, TaskState::kFailed, last_error);
    tx.exec_params("UPDATE tasks SET state = 'cancelled' WHERE job_id = $1 AND state IN ('pending', 'blocked', "
                   "'leased') AND id != $2",
                   task.job_id, task.id);
    tx.exec_params("UPDATE jobs SET state = 'failed', step = 'failed', eta_seconds = -1, error_code = $1, "
                   "error_message = $2, updated_at = $3, finished_at = $3 WHERE id = $4",
                   error_code, message, now, task.job_id);
    append_event(tx, task.job_id, "state");
  }

  void mark_cancelled(pqxx::work& tx, const std::string& job_id) {
    const int64_t now = now_ms();
    tx.exec_params("UPDATE tasks SET state = 'cancelled', lease_owner = '' WHERE job_id = $1 AND state NOT IN ('done', "
                   "'failed')",
                   job_id);
    tx.exec_params("UPDATE jobs SET state = 'cancelled', step = 'cancelled', eta_seconds = -1, updated_at = $1, "
                   "finished_at = $1 WHERE id = $2",
                   now, job_id);
    append_event(tx, job_id, "state");
  }

  // Appends the job's current figures as the next event. The UPDATE locks the job row, so the
  // per-job seq has no gap and no duplicate whichever node writes.
  void append_event(pqxx::work& tx, const std::string& job_id, const char* type,
                    const nlohmann::json& extra = nlohmann::json::object()) {
    pqxx::result r = tx.exec_params(
        fmt::format("UPDATE jobs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING {}, event_seq", kJobColumns),
        job_id);
    insert_event(tx, read_job(r[0]), col<int64_t>(r[0], "event_seq"), type, extra);
  }

  // The event `seq` (already taken from the job's event_seq) of `job` as it is now, and its NOTIFY,
  // in one statement.
  void insert_event(pqxx::work& tx, const Job& job, int64_t seq, const char* type,
                    const nlohmann::json& extra = nlohmann::json::object()) {
    nlohmann::json data = job_to_json(job);
    data["type"] = type;
    data["seq"] = seq;
    for (const auto& [k, v] : extra.items()) data[k] = v;
    tx.exec_prepared(kInsertEventStatement, job.id, seq, now_ms(), data.dump(), std::string(kEventChannel));
  }

  void notify_task_ready(pqxx::work& tx) { tx.exec_params("SELECT pg_notify($1, '')", std::string(kTaskChannel)); }

  // LISTENs on its own connection (a pooled one would miss notifications between calls);
  // reconnects every 500 ms while the database is away.
  void listen_loop() {
    class Receiver final : public pqxx::notification_receiver {
     public:
      Receiver(pqxx::connection_base& c, const std::string& channel, std::function<void(const std::string&)> on)
          : pqxx::notification_receiver(c, channel), on_(std::move(on)) {}
      void operator()(const std::string& payload, int) override { on_(payload); }

     private:
      std::function<void(const std::string&)> on_;
    };
    while (!stop_.load()) {
      try {
        pqxx::connection c(pool_.conninfo());
        Receiver tasks(c, kTaskChannel, [&](const std::string&) { call_task_ready(); });
        Receiver events(c, kEventChannel, [&](const std::string& job_id) {
          std::lock_guard lock(listeners_mutex_);
          if (listeners_.job_event) listeners_.job_event(job_id);
        });
        call_task_ready();  // whatever was announced while we were not listening
        while (!stop_.load()) c.await_notification(0, 200000);
      } catch (const std::exception& e) {
        spdlog::debug("job store listener: {}", one_line(e.what()));
        for (int i = 0; i < 10 && !stop_.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  // Under the mutex, so set_listeners({}) returns only once no call is in progress.
  void call_task_ready() {
    std::lock_guard lock(listeners_mutex_);
    if (listeners_.task_ready) listeners_.task_ready();
  }

  ConnectionPool pool_;
  std::mutex listeners_mutex_;
  StoreListeners listeners_;
  std::atomic<bool> stop_{false};
  std::thread listener_;
};

}  // namespace

std::string with_connection_defaults(const std::string& uri) {
  static constexpr std::pair<const char*, const char*> kDefaults[] = {
      {"connect_timeout", "10"}, {"keepalives", "1"},       {"keepalives_idle", "10"},
      {"keepalives_interval", "5"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "20000"}};
  const size_t query = uri.find('?');
  // The keys the URI already sets (?key=value&key=value), which are kept as given.
  std::vector<std::string> given;
  for (size_t at = query; at != std::string::npos && at + 1 < uri.size();) {
    const size_t end = uri.find('&', at + 1);
    const std::string pair = uri.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
    given.push_back(pair.substr(0, pair.find('=')));
    at = end;
  }
  std::string out = query == std::string::npos ? uri + '?' : uri;  // a URI without ?: no key is given
  for (const auto& [key, value] : kDefaults) {
    if (std::find(given.begin(), given.end(), key) != given.end()) continue;
    if (out.back() != '?' && out.back() != '&') out += '&';
    out += fmt::format("{}={}", key, value);
  }
  return out;
}

std::string redact_store_uri(const std::string& uri) {
  // scheme://user:password@host → scheme://user:***@host
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  const size_t at = uri.find('@', scheme + 3);
  if (at == std::string::npos) return uri;
  const size_t colon = uri.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return uri;
  return uri.substr(0, colon + 1) + "***" + uri.substr(at);
}

Result<std::unique_ptr<JobStore>> open_postgres_job_store(const std::string& uri, const PostgresStoreOptions& options) {
  FF_RETURN_IF_ERROR(probe_connection(uri));
  auto store = std::make_unique<PostgresJobStore>(uri, options.pool_size);
  FF_RETURN_IF_ERROR(store->migrate(options.migrate).status());
  return std::unique_ptr<JobStore>(std::move(store));
}

Result<StoreUri> parse_store_uri(const std::string& uri, const std::string& default_uri) {
  std::string u = uri;
  if (u.empty()) {
    const char* env = std::getenv("FACEFUSE_STORE");
    u = env != nullptr && *env != '\0' ? env : default_uri;
  }
  if (u.rfind("sqlite://", 0) == 0) {
    std::string path = u.substr(9);
    if (path.empty()) return invalid_argument(fmt::format("store URI '{}' has no path: use sqlite:///abs/path/jobs.db", u));
    return StoreUri{StoreKind::kSqlite, path};
  }
  if (u.rfind("postgresql://", 0) == 0 || u.rfind("postgres://", 0) == 0) return StoreUri{StoreKind::kPostgres, u};
  return invalid_argument(fmt::format("store URI '{}' is not supported: use sqlite:///path/jobs.db or "
                                      "postgresql://user:password@host:port/database",
                                      redact_store_uri(u)));
}

Result<std::unique_ptr<JobStore>> open_job_store(const StoreUri& uri) {
  if (uri.kind == StoreKind::kSqlite) return open_sqlite_job_store(uri.target);
  return open_postgres_job_store(uri.target);
}

Result<std::string> migrate_job_store(const StoreUri& uri) {
  if (uri.kind == StoreKind::kSqlite) {
    FF_RETURN_IF_ERROR(open_sqlite_job_store(uri.target).status());
    return fmt::format("SQLite job store {} is at the current schema version", uri.target);
  }
  FF_RETURN_IF_ERROR(probe_connection(uri.target));
  PostgresJobStore store(uri.target, 1);
  FF_ASSIGN_OR_RETURN(auto versions, store.migrate(true));
  if (versions.first == versions.second) {
    return fmt::format("PostgreSQL job store {} is at schema version {} (nothing to do)", redact_store_uri(uri.target),
                       versions.second);
  }
  return fmt::format("PostgreSQL job store {} migrated from schema version {} to {}", redact_store_uri(uri.target),
                     versions.first, versions.second);
}

}  // namespace facefuse::jobs
