// Job store latency (issue 12, `make bench-distributed`): claim_task with 10 000 pending tasks and
// create_job, on PostgreSQL (a private server, tests/support/postgres_server.h, fsync off) against
// SQLite (a file in a temporary directory, WAL) measured in the same run. Prints p50/p99 per store
// and the PostgreSQL/SQLite ratio. Goal (issue 12): claim p99 < 10 ms on PostgreSQL. The claims
// start right after the creates, with autovacuum off on jobs and tasks: the worst case of a burst of
// submissions, whose rows the planner has no statistics for until autovacuum analyses them (up to a
// minute later; how soon depends on the load, which made this table's claims vary 30-fold).
//
// Then the claim before and after it became one statement (issue 12): the previous claim's
// statement sequence (reproduced below as the baseline) against JobStore::claim_task, on one database
// holding `pending` claimable tasks, in --compare-runs alternating runs of --compare-claims claims
// each (the claimed tasks are put back and the tables vacuumed between runs, so every run starts at
// the same `pending`); prints each run's p50/p99 with the load average and the medians.
//
// Then one tenant's submits from many threads, before and after create_job took the tenant's lock
// last (issue 12: one API node took only 95 submits/s for one tenant): the previous create's
// statement sequence (the lock first, reproduced below) against JobStore::create_job, each thread
// on a connection of its own, quota on; --submit-runs alternating runs of --submits creates over
// --submit-threads threads; prints creates per second and each create's p50/p99.
//
// Usage: facefuse_bench_store [--pending N] [--claims N] [--compare-runs N] [--compare-claims N] [--compare-only]
//                             [--submit-runs N] [--submit-threads N] [--submits N]
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "facefuse/jobs/job_store_uri.h"
#include "support/postgres_server.h"
#include "support/test_support.h"
#include "bench_support.h"

using namespace facefuse;

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Figures {
  double create_p50 = 0, create_p99 = 0, claim_p50 = 0, claim_p99 = 0;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// `pending` one-task image jobs, then `claims` claims (each completed right away, as a worker would).
Figures measure(jobs::JobStore& store, int pending, int claims) {
  std::vector<double> create, claim;
  for (int i = 0; i < pending; ++i) {
    jobs::NewJob job;
    job.job.id = fmt::format("job_{}", i);
    job.job.tenant = fmt::format("tenant_{}", i % 10);
    job.job.kind = "image";
    job.job.request = {{"n", i}};
    job.tasks = {{jobs::TaskKind::kImage}};
    job.max_active_jobs = pending;
    auto t0 = std::chrono::steady_clock::now();
    if (!store.create_job(job).is_ok()) std::abort();
    create.push_back(ms_since(t0));
  }
  for (int i = 0; i < claims; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto lease = store.claim_task("bench", 600000);
    claim.push_back(ms_since(t0));
    if (!lease.is_ok() || !lease->has_value()) std::abort();
    jobs::TaskResult result;
    result.output_key = "outputs/x/output.jpg";
    if (!store.complete_task((*lease)->task.id, "bench", result).is_ok()) std::abort();
  }
  return {percentile(create, 0.5), percentile(create, 0.99), percentile(claim, 0.5), percentile(claim, 0.99)};
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0, five = 0, fifteen = 0;
  in >> one >> five >> fifteen;
  return fmt::format("{:.1f} {:.1f} {:.1f}", one, five, fifteen);
}

// The claim as it was before the one-statement version (postgres_job_store.cpp at e7227e1): a
// prepared selection, then the task update, the job start, the job's event (sequence bump,
// insert, NOTIFY) and a read of the job — one round trip each, plus BEGIN and COMMIT. The
// baseline for the comparison; its event payload is a small JSON instead of job_to_json (both
// are built in the client, a few microseconds).
class PreviousClaim {
 public:
  explicit PreviousClaim(const std::string& uri) : c_(uri) {
    c_.prepare("previous_claim",
               "SELECT t.id, t.state, t.attempts FROM tasks t JOIN jobs j ON j.id = t.job_id "
               "WHERE t.state IN ('pending', 'leased') AND j.state IN ('pending', 'processing') AND NOT "
               "j.cancel_requested AND ((t.state = 'pending' AND t.not_before <= ff_now_ms()) OR "
               "(t.state = 'leased' AND t.lease_expires_at < ff_now_ms())) "
               "ORDER BY t.job_priority DESC, t.job_seq, t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED");
  }

  // The claimed task's id, 0 when none.
  int64_t claim(const std::string& owner, int64_t lease_ms) {
    pqxx::work tx(c_);
    pqxx::result r = tx.exec_prepared("previous_claim");
    if (r.empty()) return 0;
    const int64_t id = r[0]["id"].as<int64_t>();
    pqxx::result up = tx.exec_params(
        "UPDATE tasks SET state = 'leased', lease_owner = $1, lease_expires_at = ff_now_ms() + $2, "
        "attempts = attempts + 1, frames_done = 0, progress_at = ff_now_ms() WHERE id = $3 RETURNING id, job_id, kind, "
        "chunk_index, frame_begin, frame_end, state, attempts, lease_owner, lease_expires_at, not_before, frames_done, "
        "last_error, progress_at",
        owner, lease_ms, id);
    const std::string job_id = up[0]["job_id"].as<std::string>();
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    pqxx::result started = tx.exec_params("UPDATE jobs SET state = 'processing', step = 'processing', started_at = $1, "
                                          "updated_at = $1 WHERE id = $2 AND state = 'pending' RETURNING id",
                                          now, job_id);
    if (!started.empty()) {
      pqxx::result e = tx.exec_params("UPDATE jobs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING *", job_id);
      const int64_t seq = e[0]["event_seq"].as<int64_t>();
      tx.exec_params("INSERT INTO job_events (job_id, seq, created_at, data) VALUES ($1, $2, $3, $4)", job_id, seq, now,
                     nlohmann::json{{"type", "state"}, {"seq", seq}, {"status", "processing"}}.dump());
      tx.exec_params("SELECT pg_notify($1, $2)", std::string("ff_job_event"), job_id);
    }
    tx.exec_params("SELECT * FROM jobs WHERE id = $1", job_id);
    tx.commit();
    return id;
  }

 private:
  pqxx::connection c_;
};

// create_job as it was before it took the tenant's lock last (postgres_job_store.cpp at 15afa7e): the
// lock first, then the quota count, the job insert, one insert per task, the task NOTIFY, the
// event (sequence bump, then insert + NOTIFY) and a read of the job, one round trip each, all under
// the lock, plus BEGIN and COMMIT. The baseline of compare_submits; its event payload is a small
// JSON instead of job_to_json.
class PreviousCreate {
 public:
  explicit PreviousCreate(const std::string& uri) : c_(uri) {}

  void create(const std::string& id, const std::string& tenant, int64_t max_active_jobs) {
    pqxx::work tx(c_);
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('facefuse tenant ' || $1, 0))", tenant);
    pqxx::result n = tx.exec_params(
        "SELECT COUNT(*) AS n FROM jobs WHERE tenant = $1 AND state IN ('pending', 'processing')", tenant);
    if (n[0]["n"].as<int64_t>() >= max_active_jobs) std::abort();
    pqxx::result ins = tx.exec_params(
        "INSERT INTO jobs (id, tenant, state, request, kind, created_at, updated_at) VALUES ($1, $2, 'pending', "
        "'{\"n\":1}', 'image', 0, 0) RETURNING seq",
        id, tenant);
    tx.exec_params("INSERT INTO tasks (job_id, job_seq, job_priority, kind, state) VALUES ($1, $2, 0, 'image', "
                   "'pending')",
                   id, ins[0]["seq"].as<int64_t>());
    tx.exec("SELECT pg_notify('ff_task_ready', '')");
    pqxx::result e = tx.exec_params("UPDATE jobs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING *", id);
    const int64_t seq = e[0]["event_seq"].as<int64_t>();
    tx.exec_params("WITH e AS (INSERT INTO job_events (job_id, seq, created_at, data) VALUES ($1, $2, 0, $3) "
                   "RETURNING job_id) SELECT pg_notify('ff_job_event', job_id) FROM e",
                   id, seq, nlohmann::json{{"type", "state"}, {"seq", seq}, {"status", "pending"}}.dump());
    tx.exec_params("SELECT * FROM jobs WHERE id = $1", id);
    tx.commit();
  }

 private:
  pqxx::connection c_;
};

struct RunFigures {
  double p50 = 0, p99 = 0;
  std::string load;
};

// Old vs new claim on one database of `pending` one-task jobs (filled in bulk by SQL), alternating.
void compare_claims(facefuse::testing::PostgresServer& server, int pending, int runs, int claims) {
  const std::string uri = server.create_database("bench_claims");
  auto store = jobs::open_postgres_job_store(uri);
  if (!store.is_ok()) {
    std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
    std::exit(1);
  }
  pqxx::connection admin(uri);
  {
    pqxx::work tx(admin);
    tx.exec_params("INSERT INTO jobs (id, tenant, state, request, kind, created_at, updated_at) "
                   "SELECT 'job_' || g, 'tenant_' || (g % 10), 'pending', '{\"n\":' || g || '}', 'image', 0, 0 "
                   "FROM generate_series(1, $1) g",
                   pending);
    tx.exec("INSERT INTO tasks (job_id, job_seq, kind, state) SELECT id, seq, 'image', 'pending' FROM jobs");
    tx.commit();
  }
  auto reset = [&] {
    {
      pqxx::work tx(admin);
      tx.exec("UPDATE tasks SET state = 'pending', lease_owner = '', lease_expires_at = 0, lease_renewed_at = 0, "
              "attempts = 0, frames_done = 0 WHERE state != 'pending'");
      tx.exec("UPDATE jobs SET state = 'pending', step = '', started_at = 0, finished_at = 0, output_key = '', "
              "progress = 0, event_seq = 0 WHERE state != 'pending'");
      tx.exec("DELETE FROM job_events");
      tx.commit();
    }
    pqxx::nontransaction vacuum(admin);
    vacuum.exec("VACUUM ANALYZE tasks, jobs, job_events");
  };
  reset();
  PreviousClaim previous(uri);
  jobs::TaskResult result;
  result.output_key = "outputs/x/output.jpg";
  std::vector<RunFigures> old_runs, new_runs;
  for (int run = 0; run < runs; ++run) {
    for (bool use_new : {false, true}) {
      std::vector<double> latencies;
      const std::string load = load_average();
      for (int i = 0; i < claims; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        int64_t task_id = 0;
        if (use_new) {
          auto lease = (*store)->claim_task("bench", 600000);
          if (!lease.is_ok() || !lease->has_value()) std::abort();
          task_id = (*lease)->task.id;
        } else {
          task_id = previous.claim("bench", 600000);
        }
        latencies.push_back(ms_since(t0));
        if (task_id == 0 || !(*store)->complete_task(task_id, "bench", result).is_ok()) std::abort();
      }
      RunFigures f{percentile(latencies, 0.5), percentile(latencies, 0.99), load};
      std::printf("run %d %-8s claim p50 %6.2f ms  p99 %7.2f ms  (load average %s)\n", run + 1,
                  use_new ? "new" : "previous", f.p50, f.p99, load.c_str());
      std::fflush(stdout);
      (use_new ? new_runs : old_runs).push_back(f);
      reset();
    }
  }
  auto medians = [](const std::vector<RunFigures>& v) {
    std::vector<double> p50, p99;
    for (const auto& f : v) {
      p50.push_back(f.p50);
      p99.push_back(f.p99);
    }
    return std::pair<double, double>(bench::median(p50), bench::median(p99));
  };
  const auto [old50, old99] = medians(old_runs);
  const auto [new50, new99] = medians(new_runs);
  std::printf("\n| claim (%d pending, %d claims per run, medians of %d runs) | p50 | p99 |\n|---|---|---|\n", pending,
              claims, runs);
  std::printf("| previous (9 round trips) | %.2f ms | %.2f ms |\n", old50, old99);
  std::printf("| one statement (3-4 round trips) | %.2f ms | %.2f ms |\n", new50, new99);
  std::printf("| ratio new / previous | %.2f | %.2f |\n", new50 / old50, new99 / old99);
  std::printf("\nclaim p99 (one statement): %.2f ms (goal < 10 ms): %s\n", new99, new99 < 10 ? "met" : "NOT met");
}

// Old vs new create for one tenant, `threads` threads on connections of their own, alternating runs
// of `submits` creates; the jobs are deleted and the tables vacuumed between runs.
void compare_submits(facefuse::testing::PostgresServer& server, int runs, int threads, int submits) {
  const std::string uri = server.create_database("bench_submits");
  constexpr int64_t kQuota = 1'000'000'000;  // on, so every create counts, never reached
  std::vector<std::unique_ptr<jobs::JobStore>> stores;
  std::vector<std::unique_ptr<PreviousCreate>> previous;
  for (int t = 0; t < threads; ++t) {
    auto store = jobs::open_postgres_job_store(uri, {.pool_size = 1});
    if (!store.is_ok()) {
      std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
      std::exit(1);
    }
    stores.push_back(std::move(*store));
    previous.push_back(std::make_unique<PreviousCreate>(uri));
  }
  pqxx::connection admin(uri);
  auto reset = [&] {
    {
      pqxx::work tx(admin);
      tx.exec("DELETE FROM jobs");
      tx.commit();
    }
    pqxx::nontransaction vacuum(admin);
    vacuum.exec("VACUUM ANALYZE tasks, jobs, job_events");
  };
  struct SubmitFigures {
    double per_second = 0, p50 = 0, p99 = 0;
  };
  std::vector<SubmitFigures> old_runs, new_runs;
  int64_t next_id = 0;
  for (int run = 0; run < runs; ++run) {
    for (bool use_new : {false, true}) {
      reset();
      std::vector<std::vector<double>> latencies(threads);
      const std::string load = load_average();
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          for (int i = t; i < submits; i += threads) {
            const std::string id = fmt::format("job_{}", next_id + i);
            const auto started = std::chrono::steady_clock::now();
            if (use_new) {
              jobs::NewJob job;
              job.job.id = id;
              job.job.tenant = "busy";
              job.job.kind = "image";
              job.job.request = {{"n", 1}};
              job.tasks = {{jobs::TaskKind::kImage}};
              job.max_active_jobs = kQuota;
              if (!stores[t]->create_job(job).is_ok()) std::abort();
            } else {
              previous[t]->create(id, "busy", kQuota);
            }
            latencies[t].push_back(ms_since(started));
          }
        });
      }
      for (auto& w : workers) w.join();
      const double seconds = ms_since(t0) / 1000;
      next_id += submits;
      std::vector<double> all;
      for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
      SubmitFigures f{static_cast<double>(all.size()) / seconds, percentile(all, 0.5), percentile(all, 0.99)};
      std::printf("run %d %-8s %7.0f creates/s  p50 %6.2f ms  p99 %7.2f ms  (load average %s)\n", run + 1,
                  use_new ? "new" : "previous", f.per_second, f.p50, f.p99, load.c_str());
      std::fflush(stdout);
      (use_new ? new_runs : old_runs).push_back(f);
    }
  }
  auto medians = [](const std::vector<SubmitFigures>& v) {
    std::vector<double> rate, p50, p99;
    for (const auto& f : v) {
      rate.push_back(f.per_second);
      p50.push_back(f.p50);
      p99.push_back(f.p99);
    }
    return SubmitFigures{bench::median(rate), bench::median(p50), bench::median(p99)};
  };
  const SubmitFigures o = medians(old_runs), n = medians(new_runs);
  std::printf("\n| one tenant, %d threads, %d creates per run, medians of %d runs | creates/s | p50 | p99 |\n"
              "|---|---|---|---|\n",
              threads, submits, runs);
  std::printf("| previous (lock first, ~10 round trips under it) | %.0f | %.2f ms | %.2f ms |\n", o.per_second, o.p50,
              o.p99);
  std::printf("| lock last (2 round trips under it) | %.0f | %.2f ms | %.2f ms |\n", n.per_second, n.p50, n.p99);
  std::printf("| ratio new / previous | %.2f | %.2f | %.2f |\n", n.per_second / o.per_second, n.p50 / o.p50,
              n.p99 / o.p99);
}

}  // namespace

int main(int argc, char** argv) {
  int pending = 10000, claims = 2000, compare_runs = 5, compare_claims_per_run = 500;
  int submit_runs = 5, submit_threads = 8, submits = 2000;
  bool compare_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--compare-only") == 0) compare_only = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--compare-only") == 0) --i;  // takes no value
    if (std::strcmp(argv[i], "--pending") == 0) pending = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--claims") == 0) claims = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--compare-runs") == 0) compare_runs = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--compare-claims") == 0) compare_claims_per_run = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--submit-runs") == 0) submit_runs = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--submit-threads") == 0) submit_threads = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--submits") == 0) submits = std::max(1, std::atoi(argv[i + 1]));
  }
  claims = std::min(claims, pending);
  utsname uts{};
  uname(&uts);
  std::printf("facefuse store benchmark\nmachine: %s, %u hardware threads, %s %s\n", bench::cpu_model().c_str(),
              std::thread::hardware_concurrency(), uts.sysname, uts.release);
  std::printf("inputs: %d pending one-task jobs over 10 tenants (quota on), then %d claims each completed at once; "
              "one thread\n",
              pending, claims);

  facefuse::testing::PostgresServer server;
  if (!server.ok()) {
    std::fprintf(stderr, "PostgreSQL: %s\n", server.error().c_str());
    return 1;
  }
  if (!compare_only) {
    facefuse::testing::TempDir dir;
    auto sqlite = jobs::open_sqlite_job_store(dir / "jobs.db");
    if (!sqlite.is_ok()) {
      std::fprintf(stderr, "%s\n", sqlite.status().to_string().c_str());
      return 1;
    }
    const Figures base = measure(**sqlite, pending, claims);
    const std::string uri = server.create_database("bench");
    auto pg = jobs::open_postgres_job_store(uri);
    if (!pg.is_ok()) {
      std::fprintf(stderr, "%s\n", pg.status().to_string().c_str());
      return 1;
    }
    {
      pqxx::connection admin(uri);
      pqxx::nontransaction tx(admin);
      tx.exec("ALTER TABLE jobs SET (autovacuum_enabled = false)");
      tx.exec("ALTER TABLE tasks SET (autovacuum_enabled = false)");
    }
    const Figures p = measure(**pg, pending, claims);

    std::printf("\n| store | create_job p50 | p99 | claim_task p50 | p99 |\n|---|---|---|---|---|\n");
    std::printf("| SQLite (baseline) | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", base.create_p50, base.create_p99,
                base.claim_p50, base.claim_p99);
    std::printf("| PostgreSQL 15 (fsync off) | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n", p.create_p50, p.create_p99,
                p.claim_p50, p.claim_p99);
    std::printf("| ratio PostgreSQL / SQLite | %.2f | %.2f | %.2f | %.2f |\n", p.create_p50 / base.create_p50,
                p.create_p99 / base.create_p99, p.claim_p50 / base.claim_p50, p.claim_p99 / base.claim_p99);
    std::printf("\nclaim p99 on PostgreSQL: %.2f ms (goal < 10 ms): %s\n", p.claim_p99,
                p.claim_p99 < 10 ? "met" : "NOT met");
    std::printf("load average at the end: %s\n\n", load_average().c_str());
  }
  if (compare_runs > 0) compare_claims(server, pending, compare_runs, std::min(compare_claims_per_run, pending));
  if (submit_runs > 0) compare_submits(server, submit_runs, submit_threads, submits);
  return 0;
}
