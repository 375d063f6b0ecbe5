// What only the PostgreSQL store has to show (its shared contract, priority, lease_expired, attempts
// and the stall sweep included, is job_store_contract_test.cpp):
// many claimers on many connections never get the same task, it survives a database restart, it
// refuses a database of a newer schema, its claim reads the claim index from the head even before
// new rows are analysed, it says what is wrong with a bad URI, an unreachable server
// or a wrong password, a network partition fails calls instead of hanging them, and its
// LISTEN/NOTIFY wake-ups reach another store instance. Every test runs
// on the private server of tests/support/postgres_server.h, in a database of its own.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "facefuse/jobs/job_store_uri.h"
#include "support/postgres_server.h"

namespace facefuse::jobs {
namespace {

constexpr int64_t kLongLeaseMs = 600000;

class PostgresJobStore : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server().ok()) << server().error();
    static int databases = 0;
    database_ = fmt::format("pg_store_{}", ++databases);
    uri_ = server().create_database(database_);
  }

  static testing::PostgresServer& server() { return testing::shared_postgres(); }

  std::unique_ptr<JobStore> open(int pool_size = 4) {
    PostgresStoreOptions options;
    options.pool_size = pool_size;
    auto opened = open_postgres_job_store(uri_, options);
    EXPECT_TRUE(opened.is_ok()) << opened.status().to_string();
    return opened.is_ok() ? std::move(opened).value() : nullptr;
  }

  static NewJob new_job(const std::string& id, std::vector<NewTask> tasks) {
    NewJob job;
    job.job.id = id;
    job.job.tenant = "t1";
    job.job.kind = tasks.size() > 1 ? "video" : "image";
    job.job.request = {{"n", id}};
    job.job.frames_total = tasks.size() > 1 ? static_cast<int64_t>(tasks.size() - 1) * 10 : 0;
    job.tasks = std::move(tasks);
    return job;
  }

  std::string database_;
  std::string uri_;
};

// 8 claiming threads over 4 store instances (4 pools of 4 connections: 4 nodes) drain 2 000 tasks:
// 200 videos of 9 chunks + 1 merge, so chunks of one job finish concurrently on different
// connections and the merge must be unblocked exactly once per job.
TEST_F(PostgresJobStore, EightWorkersOnFourConnectionsDoEveryTaskExactlyOnce) {
  constexpr int kJobs = 200, kChunks = 9, kStores = 4, kWorkers = 8;
  constexpr int kTasks = kJobs * (kChunks + 1);
  std::vector<std::unique_ptr<JobStore>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(open(4));
  ASSERT_TRUE(stores.back());
  for (int j = 0; j < kJobs; ++j) {
    std::vector<NewTask> tasks;
    for (int c = 0; c < kChunks; ++c) tasks.push_back({TaskKind::kChunk, c, c * 10, (c + 1) * 10});
    tasks.push_back({TaskKind::kMerge});
    ASSERT_TRUE(stores[j % kStores]->create_job(new_job(fmt::format("job_{}", j), tasks)).is_ok());
  }
  std::mutex mutex;
  std::multiset<int64_t> done;
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      JobStore& store = *stores[w % kStores];
      const std::string owner = fmt::format("w{}", w);
      int idle_rounds = 0;
      // A merge becomes claimable only when its job's last chunk commits: an empty claim is not the
      // end until every worker found nothing for a while.
      while (idle_rounds < 50) {
        auto lease = store.claim_task(owner, kLongLeaseMs);
        if (!lease.is_ok()) {
          ++errors;
          continue;
        }
        if (!lease->has_value()) {
          ++idle_rounds;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        idle_rounds = 0;
        const Task& task = (*lease)->task;
        TaskResult result;
        if (task.kind == TaskKind::kMerge) result.output_key = "outputs/" + task.job_id + "/output.mp4";
        if (!store.complete_task(task.id, owner, result).is_ok()) ++errors;
        std::lock_guard lock(mutex);
        done.insert(task.id);
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(done.size(), static_cast<size_t>(kTasks)) << "every task is done once";
  EXPECT_EQ(std::set<int64_t>(done.begin(), done.end()).size(), static_cast<size_t>(kTasks)) << "no task twice";
  auto counts = stores[0]->job_counts_by_state();
  ASSERT_TRUE(counts.is_ok());
  EXPECT_EQ((*counts)["completed"], kJobs);
  for (int j = 0; j < kJobs; j += 37) {
    auto events = stores[0]->events_since(fmt::format("job_{}", j), 0, 1000);
    ASSERT_TRUE(events.is_ok());
    for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].seq, static_cast<int64_t>(i + 1)) << "no gap";
  }
}

TEST_F(PostgresJobStore, CallsDuringARestartAreUnavailableAndLaterCallsWork) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_job(new_job("job_before", {{TaskKind::kImage}})).is_ok());
  ASSERT_TRUE(server().stop());
  Status down = store->check_ready();
  EXPECT_EQ(down.code(), StatusCode::kUnavailable) << down.to_string();
  auto claim = store->claim_task("w1", kLongLeaseMs);
  EXPECT_EQ(claim.status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(server().start());
  // The pooled connections died with the server: the first call after it is back reconnects.
  EXPECT_TRUE(store->check_ready().is_ok());
  auto lease = store->claim_task("w1", kLongLeaseMs);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  ASSERT_TRUE(lease->has_value()) << "the job created before the restart is still there";
  EXPECT_EQ((*lease)->job.id, "job_before");
  EXPECT_TRUE(store->create_job(new_job("job_after", {{TaskKind::kImage}})).is_ok());
}

// A worker cannot renew its lease while the database is down: a lease that expired over a restart
// was lost to the database, not to a crash of the task, and must not count toward the crash-loop
// cap. With the cap at 1 (a crash fails the job at once), a chunk whose lease was last renewed
// before the restart is handed on without an attempt and the job completes; a lease taken after
// the restart that expires is still a crash (crashed_worker). No sleeping: leases that expire at
// once (negative length) stand for the outage outlasting the lease.
TEST_F(PostgresJobStore, ALeaseLostToADatabaseRestartDoesNotCountTowardTheCrashCap) {
  constexpr int kCap = 1;
  constexpr int64_t kExpiredAtOnceMs = -1000;
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_job(new_job("job_across", {{TaskKind::kChunk, 0, 0, 10}, {TaskKind::kMerge}})).is_ok());
  auto before = store->claim_task("w1", kExpiredAtOnceMs, kCap);
  ASSERT_TRUE(before.is_ok() && before->has_value()) << before.status().to_string();
  EXPECT_EQ((*before)->task.attempts, 1);
  ASSERT_TRUE(server().stop());
  EXPECT_EQ(store->heartbeat((*before)->task.id, "w1", kLongLeaseMs).status().code(), StatusCode::kUnavailable)
      << "w1 cannot renew while the database is down";
  ASSERT_TRUE(server().start());

  auto taken_over = store->claim_task("w2", kLongLeaseMs, kCap);
  ASSERT_TRUE(taken_over.is_ok()) << taken_over.status().to_string();
  ASSERT_TRUE(taken_over->has_value()) << "the job must not fail as crashed_worker: " << store->get_job("job_across")->error_message;
  EXPECT_EQ((*taken_over)->task.id, (*before)->task.id);
  EXPECT_TRUE((*taken_over)->lease_expired) << "still an interruption (lease_expired), only not an attempt";
  EXPECT_EQ((*taken_over)->task.attempts, 1) << "the lost lease's attempt is not counted again";
  EXPECT_EQ(store->heartbeat((*before)->task.id, "w1", kLongLeaseMs).status().code(), StatusCode::kFailedPrecondition)
      << "w1, back, learns it lost the lease";
  ASSERT_TRUE(store->complete_task((*taken_over)->task.id, "w2", {}).is_ok());
  auto merge = store->claim_task("w2", kLongLeaseMs, kCap);
  ASSERT_TRUE(merge.is_ok() && merge->has_value());
  TaskResult merged;
  merged.output_key = "outputs/x/output.mp4";
  ASSERT_TRUE(store->complete_task((*merge)->task.id, "w2", merged).is_ok());
  EXPECT_EQ(store->get_job("job_across")->state, JobState::kCompleted);

  // After the restart the cap applies as before: a lease taken now that expires is a crash.
  ASSERT_TRUE(store->create_job(new_job("job_after", {{TaskKind::kImage}})).is_ok());
  auto crashed = store->claim_task("w3", kExpiredAtOnceMs, kCap);
  ASSERT_TRUE(crashed.is_ok() && crashed->has_value());
  auto none = store->claim_task("w4", kLongLeaseMs, kCap);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  Job failed = *store->get_job("job_after");
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.error_code, kCrashedWorkerError);
}

// Right after a burst of submissions the planner has no statistics for the new rows (autovacuum
// analyses them up to a minute later; here it is off) and estimated one candidate: the claim read
// every pending task through a bitmap scan and sorted them (10 000 pending: 39 ms per claim instead
// of 0.5). The claim must read the claim index from its head whatever the statistics say. Read from
// PostgreSQL's own counters for the index.
TEST_F(PostgresJobStore, AClaimBeforeTheNewRowsAreAnalysedReadsTheClaimIndexFromItsHead) {
  constexpr int kPending = 5000;
  auto store = open(1);
  ASSERT_TRUE(store);
  pqxx::connection admin(uri_);
  {
    pqxx::nontransaction tx(admin);
    tx.exec("ALTER TABLE jobs SET (autovacuum_enabled = false)");
    tx.exec("ALTER TABLE tasks SET (autovacuum_enabled = false)");
    tx.exec_params("INSERT INTO jobs (id, tenant, state, request, kind, created_at, updated_at) "
                   "SELECT 'job_' || g, 't1', 'pending', '{}', 'image', 0, 0 FROM generate_series(1, $1) g",
                   kPending);
    tx.exec("INSERT INTO tasks (job_id, job_seq, kind, state) SELECT id, seq, 'image', 'pending' FROM jobs ORDER BY seq");
  }
  auto lease = store->claim_task("w1", kLongLeaseMs);
  ASSERT_TRUE(lease.is_ok() && lease->has_value()) << lease.status().to_string();
  EXPECT_EQ((*lease)->job.id, "job_1") << "the oldest job first";
  store.reset();  // its connection's backend reports its counters as it exits (idle: only after 10 s)

  int64_t scans = 0, entries_read = 0;
  for (int i = 0; i < 300 && scans == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    pqxx::nontransaction tx(admin);
    pqxx::row r = tx.exec1("SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'tasks_claim'");
    scans = r[0].as<int64_t>();
    entries_read = r[1].as<int64_t>();
  }
  ASSERT_GE(scans, 1) << "the claim did not use tasks_claim";
  EXPECT_LT(entries_read, 100) << "the claim read " << entries_read << " of " << kPending
                               << " index entries: it sorted every pending task";
}

TEST_F(PostgresJobStore, DatabaseOfANewerSchemaIsRefusedNamingBothVersions) {
  ASSERT_TRUE(open());
  ASSERT_TRUE(server().psql(database_, "UPDATE facefuse_schema SET version = 999, compatible_from = 999"));
  auto opened = open_postgres_job_store(uri_);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("999"), std::string::npos) << opened.status().message();
  EXPECT_NE(opened.status().message().find("knows versions up to "), std::string::npos) << opened.status().message();
  auto migrated = migrate_job_store({StoreKind::kPostgres, uri_});
  EXPECT_FALSE(migrated.is_ok()) << "migrate never goes backwards";
  // Written by a binary from before the compatibility rule (no compatible_from): refused as well.
  ASSERT_TRUE(server().psql(database_, "UPDATE facefuse_schema SET compatible_from = NULL"));
  EXPECT_EQ(open_postgres_job_store(uri_).status().code(), StatusCode::kFailedPrecondition);
}

// Blue/green on one database (docs/decisions/0008): while green (version N+1) has migrated it, blue
// (version N) keeps running on it when N+1's compatible_from allows N — it neither migrates the
// database back nor touches its version — and is refused once compatible_from is past N.
TEST_F(PostgresJobStore, ADatabaseOneVersionAheadThatAllowsThisBinaryIsUsedAsItIs) {
  ASSERT_TRUE(open());
  // In an UPDATE every right-hand side reads the old row: compatible_from = the old version.
  ASSERT_TRUE(server().psql(database_, "UPDATE facefuse_schema SET compatible_from = version, version = version + 1"));
  auto blue = open_postgres_job_store(uri_);
  ASSERT_TRUE(blue.is_ok()) << blue.status().to_string();
  EXPECT_TRUE((*blue)->create_job(new_job("job_blue", {{TaskKind::kImage}})).is_ok());
  auto lease = (*blue)->claim_task("w1", kLongLeaseMs);
  ASSERT_TRUE(lease.is_ok() && lease->has_value()) << lease.status().to_string();
  auto migrated = migrate_job_store({StoreKind::kPostgres, uri_});
  ASSERT_TRUE(migrated.is_ok()) << migrated.status().to_string();
  EXPECT_NE(migrated->find("nothing to do"), std::string::npos) << *migrated;
  ASSERT_TRUE(server().psql(database_, "UPDATE facefuse_schema SET compatible_from = version"));
  auto refused = open_postgres_job_store(uri_);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("or newer can use"), std::string::npos) << refused.status().message();
}

TEST_F(PostgresJobStore, NodesStartingTogetherMigrateOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (open_postgres_job_store(uri_).is_ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  auto again = migrate_job_store({StoreKind::kPostgres, uri_});
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_NE(again->find("nothing to do"), std::string::npos) << *again;
}

TEST_F(PostgresJobStore, BadUriUnreachableServerAndWrongPasswordSayWhatToFix) {
  auto scheme = parse_store_uri("mysql://db/jobs", "");
  EXPECT_EQ(scheme.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(scheme.status().message().find("postgresql://"), std::string::npos) << scheme.status().message();

  // Port 1: privileged, never a PostgreSQL server on a test machine.
  auto unreachable = open_postgres_job_store("postgresql://facefuse:x@127.0.0.1:1/db?connect_timeout=5");
  ASSERT_FALSE(unreachable.is_ok());
  EXPECT_EQ(unreachable.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(unreachable.status().message().find("cannot connect to PostgreSQL"), std::string::npos)
      << unreachable.status().message();
  EXPECT_EQ(unreachable.status().message().find(":x@"), std::string::npos) << "the password is never printed";

  auto wrong = open_postgres_job_store(server().uri(database_, "not-the-password"));
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied) << wrong.status().to_string();
  EXPECT_NE(wrong.status().message().find("password"), std::string::npos) << wrong.status().message();
  EXPECT_EQ(wrong.status().message().find("not-the-password"), std::string::npos) << wrong.status().message();
}

TEST(PostgresConnectionDefaults, AddWhatTheUriLeavesOutAndKeepWhatItSets) {
  EXPECT_EQ(with_connection_defaults("postgresql://u:p@db:5432/jobs"),
            "postgresql://u:p@db:5432/jobs?connect_timeout=10&keepalives=1&keepalives_idle=10&keepalives_interval=5&"
            "keepalives_count=3&tcp_user_timeout=20000");
  EXPECT_EQ(with_connection_defaults("postgresql://db/jobs?sslmode=require&connect_timeout=3&tcp_user_timeout=500"),
            "postgresql://db/jobs?sslmode=require&connect_timeout=3&tcp_user_timeout=500&keepalives=1&keepalives_idle=10&"
            "keepalives_interval=5&keepalives_count=3");
  EXPECT_EQ(with_connection_defaults("postgresql://?"),
            "postgresql://?connect_timeout=10&keepalives=1&keepalives_idle=10&keepalives_interval=5&keepalives_count=3&"
            "tcp_user_timeout=20000");
}

// A network partition while the database stays up: packets to the server vanish (an iptables DROP
// rule on its loopback port: no reset, no answer). Without a TCP user timeout and keepalives a call
// blocked for the kernel's retransmission timeout (~15 min: a worker's heartbeat, a submit, the
// LISTEN connection); with the store's defaults (with_connection_defaults: 20 s TCP user timeout,
// 10 s connect timeout for the retry) it fails as kUnavailable in about 30 s, and once the route is
// back the next call works on a fresh connection.
TEST_F(PostgresJobStore, APartitionedDatabaseFailsCallsInsteadOfHangingThemAndTheStoreRecovers) {
  ASSERT_EQ(std::system("iptables -L INPUT -n >/dev/null 2>&1"), 0)
      << "iptables is needed (scripts/setup installs it; the tests run as root)";
  PostgresStoreOptions options;
  options.pool_size = 1;
  auto opened = open_postgres_job_store(uri_, options);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  std::shared_ptr<JobStore> store = std::move(opened).value();
  ASSERT_TRUE(store->create_job(new_job("job_before", {{TaskKind::kImage}})).is_ok());

  const std::string rule = fmt::format("INPUT -i lo -p tcp --dport {} -m comment --comment facefuse-partition-test -j DROP",
                                       server().port());
  ASSERT_EQ(std::system(("iptables -I " + rule).c_str()), 0);
  struct RemoveRule {
    std::string rule;
    ~RemoveRule() { std::system(("iptables -D " + rule + " 2>/dev/null").c_str()); }
  } remove_rule{rule};

  // The call runs on a thread of its own, so a hang is reported as a failure instead of stalling
  // the suite; the thread keeps its own reference to the store.
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  std::thread([store, done] { done->set_value(store->get_job("job_before").status()); }).detach();
  const auto partitioned_at = std::chrono::steady_clock::now();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(90)), std::future_status::ready)
      << "a call to a partitioned database hung for 90 s";
  std::printf("a call to the partitioned database failed after %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - partitioned_at).count());
  EXPECT_EQ(result.get().code(), StatusCode::kUnavailable);

  std::system(("iptables -D " + rule).c_str());
  auto after = store->get_job("job_before");
  ASSERT_TRUE(after.is_ok()) << "the store must recover once the route is back: " << after.status().to_string();
  EXPECT_EQ(after->id, "job_before");
}

// Another node's writes reach this store's listeners: a created task wakes workers, an event wakes
// event pushers (with the job id).
TEST_F(PostgresJobStore, NotificationsFromAnotherNodeReachTheListeners) {
  auto listening = open();
  auto writing = open();
  ASSERT_TRUE(listening && writing);
  std::mutex mutex;
  std::condition_variable cv;
  int task_ready = 0;
  std::set<std::string> event_jobs;
  listening->set_listeners({[&] {
                              std::lock_guard lock(mutex);
                              ++task_ready;
                              cv.notify_all();
                            },
                            [&](const std::string& job_id) {
                              std::lock_guard lock(mutex);
                              event_jobs.insert(job_id);
                              cv.notify_all();
                            }});
  {
    // The listener announces itself once when it (re)connects.
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return task_ready >= 1; }));
  }
  int before = 0;
  {
    std::lock_guard lock(mutex);
    before = task_ready;
  }
  ASSERT_TRUE(writing->create_job(new_job("job_notified", {{TaskKind::kImage}})).is_ok());
  std::unique_lock lock(mutex);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                          [&] { return task_ready > before && event_jobs.count("job_notified") == 1; }))
      << "task_ready " << task_ready << " (before " << before << "), events of " << event_jobs.size() << " jobs";
}

}  // namespace
}  // namespace facefuse::jobs
