// Opening a JobStore by URI, the one place that knows the schemes:
//   sqlite:///abs/path/jobs.db      the embedded single-node store (sqlite_job_store.cpp)
//   postgresql://user:pw@host:port/db (or postgres://)   the shared store of distributed mode
//                                   (postgres_job_store.cpp); empty parts come from the standard
//                                   PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)
//                                   through libpq, so "postgresql://" alone uses only those.
// An empty URI takes FACEFUSE_STORE, then the caller's default.
//
// Threading: free functions, safe from any thread.
#pragma once

#include <memory>
#include <string>

#include "facefuse/jobs/job_store.h"

namespace facefuse::jobs {

enum class StoreKind { kSqlite, kPostgres };

struct StoreUri {
  StoreKind kind = StoreKind::kSqlite;
  std::string target;  // SQLite: the file path; PostgreSQL: the URI as given (libpq parses it)
};

// `uri` empty: FACEFUSE_STORE, else `default_uri`. kInvalidArgument names the accepted forms.
Result<StoreUri> parse_store_uri(const std::string& uri, const std::string& default_uri);

// Opens and migrates the store (PostgreSQL: under an advisory lock, so nodes starting together
// migrate once). Errors a user can fix at start (bad URI, database unreachable, password refused,
// schema newer than this facefuse) are kInvalidArgument / kFailedPrecondition / kPermissionDenied,
// so the CLI exits 2 with the message.
Result<std::unique_ptr<JobStore>> open_job_store(const StoreUri& uri);

// The PostgreSQL store alone. `pool_size`: connections kept open (one per concurrent call).
struct PostgresStoreOptions {
  int pool_size = 8;
  bool migrate = true;  // false: refuse a database whose schema is not current instead of migrating
};
Result<std::unique_ptr<JobStore>> open_postgres_job_store(const std::string& uri, const PostgresStoreOptions& options = {});

// Brings the store's schema to this facefuse's version (`facefuse migrate`); returns a line saying
// what was done ("schema version 0 -> 1").
Result<std::string> migrate_job_store(const StoreUri& uri);

// `uri` (postgresql://…) with libpq's connection-failure settings added where the URI does not set
// them: connect_timeout=10 (s), keepalives=1, keepalives_idle=10, keepalives_interval=5,
// keepalives_count=3 (s; an idle connection whose peer vanished is found dead in ≤ 25 s) and
// tcp_user_timeout=20000 (ms; a request the database never acknowledges fails after 20 s).
// Without them a network partition (a dropped route, a NAT that forgot the connection, a database
// host that vanished) blocks a call — a worker's heartbeat, an API node's submit, the LISTEN
// connection — for the kernel's TCP retransmission timeout, about 15 minutes.
std::string with_connection_defaults(const std::string& uri);

// `uri` with its password replaced by "***", for messages and logs.
std::string redact_store_uri(const std::string& uri);

}  // namespace facefuse::jobs
