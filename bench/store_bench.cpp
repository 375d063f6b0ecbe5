// Job store latency (issue 12, `make bench-distributed`): claim_task with 10 000 pending tasks and
// create_job, on PostgreSQL (a private server, tests/support/postgres_server.h, fsync off) against
// SQLite (a file in a temporary directory, WAL) measured in the same run. Prints p50/p99 per store
// and the PostgreSQL/SQLite ratio. Goal (issue 12): claim p99 < 10 ms on PostgreSQL.
//
// Usage: facefuse_bench_store [--pending N] [--claims N]
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

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

}  // namespace

int main(int argc, char** argv) {
  int pending = 10000, claims = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--pending") == 0) pending = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--claims") == 0) claims = std::atoi(argv[i + 1]);
  }
  claims = std::min(claims, pending);
  utsname uts{};
  uname(&uts);
  std::printf("facefuse store benchmark\nmachine: %s, %u hardware threads, %s %s\n", bench::cpu_model().c_str(),
              std::thread::hardware_concurrency(), uts.sysname, uts.release);
  std::printf("inputs: %d pending one-task jobs over 10 tenants (quota on), then %d claims each completed at once; "
              "one thread\n",
              pending, claims);

  facefuse::testing::TempDir dir;
  auto sqlite = jobs::open_sqlite_job_store(dir / "jobs.db");
  if (!sqlite.is_ok()) {
    std::fprintf(stderr, "%s\n", sqlite.status().to_string().c_str());
    return 1;
  }
  const Figures base = measure(**sqlite, pending, claims);

  facefuse::testing::PostgresServer server;
  if (!server.ok()) {
    std::fprintf(stderr, "PostgreSQL: %s\n", server.error().c_str());
    return 1;
  }
  auto pg = jobs::open_postgres_job_store(server.create_database("bench"));
  if (!pg.is_ok()) {
    std::fprintf(stderr, "%s\n", pg.status().to_string().c_str());
    return 1;
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
  return 0;
}
