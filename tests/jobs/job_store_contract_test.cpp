// The JobStore contract, the same assertions on both stores (Sqlite/... and Postgres/... instances;
// the PostgreSQL ones run on a private server, tests/support/postgres_server.h): leases (expiry, heartbeats, loss), attempts, retries with
// backoff vs permanent failures, chunk → merge ordering, cancellation, idempotency, events
// numbered per job, pagination. Lease expiry is exercised with leases that are already expired
// (negative lengths), so nothing here sleeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "facefuse/jobs/job_store.h"
#include "facefuse/jobs/job_store_uri.h"
#include "support/postgres_server.h"
#include "support/test_support.h"

namespace facefuse::jobs {
namespace {

constexpr int64_t kLongLeaseMs = 600000;
constexpr int64_t kExpiredLeaseMs = -1000;

// A one-task image job of `tenant` with an Idempotency-Key and a quota.
NewJob keyed_image_job(const std::string& id, const std::string& tenant, const std::string& idempotency_key,
                       int64_t max_active_jobs) {
  NewJob job;
  job.job.id = id;
  job.job.tenant = tenant;
  job.job.kind = "image";
  job.job.request = {{"n", 1}};
  job.job.idempotency_key = idempotency_key;
  job.tasks = {{TaskKind::kImage}};
  job.max_active_jobs = max_active_jobs;
  return job;
}

class JobStoreContract : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreKind::kPostgres) {
      auto& server = testing::shared_postgres();
      ASSERT_TRUE(server.ok()) << server.error();
      static int databases = 0;
      postgres_uri_ = server.create_database(fmt::format("contract_{}", ++databases));
    }
    auto opened = open_another();
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    store_ = std::move(opened).value();
  }

  // Another store on the same data: a second connection, process or node.
  Result<std::unique_ptr<JobStore>> open_another() {
    if (GetParam() == StoreKind::kPostgres) return open_postgres_job_store(postgres_uri_);
    return open_sqlite_job_store(dir_ / "jobs.db");
  }

  // `n` more stores on the same data (n connections or nodes); fewer when one fails to open (the
  // failure is recorded): callers ASSERT the size.
  std::vector<std::unique_ptr<JobStore>> open_others(int n) {
    std::vector<std::unique_ptr<JobStore>> stores;
    for (int i = 0; i < n; ++i) {
      auto opened = open_another();
      if (!opened.is_ok()) {
        ADD_FAILURE() << opened.status().to_string();
        break;
      }
      stores.push_back(std::move(opened).value());
    }
    return stores;
  }

  // Runs body(0) … body(n − 1) on n threads released at the same moment; returns when all are done.
  static void run_at_once(int n, const std::function<void(int)>& body) {
    std::atomic<bool> start{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        while (!start.load()) std::this_thread::yield();
        body(i);
      });
    }
    start.store(true);
    for (auto& thread : threads) thread.join();
  }

  Job create(const std::string& id, std::vector<NewTask> tasks, const std::string& tenant = "t1",
             const std::string& idempotency_key = "", int64_t frames_total = 0) {
    NewJob job;
    job.job.id = id;
    job.job.tenant = tenant;
    job.job.kind = tasks.size() > 1 ? "video" : "image";
    job.job.request = {{"n", id}};
    job.job.idempotency_key = idempotency_key;
    job.job.frames_total = frames_total;
    job.tasks = std::move(tasks);
    auto created = store_->create_job(job);
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    return created->job;
  }

  Lease claim(const std::string& owner, int64_t lease_ms = kLongLeaseMs) {
    auto lease = store_->claim_task(owner, lease_ms);
    EXPECT_TRUE(lease.is_ok()) << lease.status().to_string();
    EXPECT_TRUE(lease->has_value()) << "no task was claimable";
    return lease->value_or(Lease{});
  }

  bool nothing_claimable(const std::string& owner) {
    auto lease = store_->claim_task(owner, kLongLeaseMs);
    return lease.is_ok() && !lease->has_value();
  }

  JobState state_of(const std::string& id) { return store_->get_job(id)->state; }

  static std::vector<NewTask> video_tasks(int chunks) {
    std::vector<NewTask> tasks;
    for (int i = 0; i < chunks; ++i) tasks.push_back({TaskKind::kChunk, i, i * 10, (i + 1) * 10});
    tasks.push_back({TaskKind::kMerge});
    return tasks;
  }

  testing::TempDir dir_;
  std::string postgres_uri_;
  std::unique_ptr<JobStore> store_;
};

std::string store_name(const ::testing::TestParamInfo<StoreKind>& info) {
  return info.param == StoreKind::kSqlite ? "Sqlite" : "Postgres";
}

TEST_P(JobStoreContract, ClaimLeasesTheTaskAndStartsTheJob) {
  create("job_a", {{TaskKind::kImage}});
  Lease lease = claim("w1");
  EXPECT_EQ(lease.task.job_id, "job_a");
  EXPECT_EQ(lease.task.state, TaskState::kLeased);
  EXPECT_EQ(lease.task.lease_owner, "w1");
  EXPECT_EQ(lease.task.attempts, 1);
  EXPECT_EQ(lease.job.state, JobState::kProcessing);
  EXPECT_TRUE(nothing_claimable("w2")) << "a leased task must not be handed out twice";
}

TEST_P(JobStoreContract, ExpiredLeaseIsClaimedAgainAndTheOldOwnerLosesIt) {
  create("job_a", {{TaskKind::kImage}});
  Lease first = claim("w1", kExpiredLeaseMs);  // as if w1 died and its lease ran out
  Lease second = claim("w2");
  EXPECT_EQ(second.task.id, first.task.id);
  EXPECT_EQ(second.task.attempts, 2) << "every claim counts as an attempt";
  // w1 comes back: everything it tries needs the lease it no longer holds.
  EXPECT_EQ(store_->heartbeat(first.task.id, "w1", kLongLeaseMs).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->complete_task(first.task.id, "w1", {"outputs/x", std::nullopt}).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->complete_task(second.task.id, "w2", {"outputs/job_a/output.jpg", std::nullopt}).is_ok());
  EXPECT_EQ(state_of("job_a"), JobState::kCompleted);
  EXPECT_EQ(store_->get_job("job_a")->output_key, "outputs/job_a/output.jpg");
}

TEST_P(JobStoreContract, HeartbeatExtendsAnExpiredLease) {
  create("job_a", {{TaskKind::kImage}});
  Lease lease = claim("w1", kExpiredLeaseMs);
  auto stop = store_->heartbeat(lease.task.id, "w1", kLongLeaseMs);
  ASSERT_TRUE(stop.is_ok()) << stop.status().to_string();
  EXPECT_FALSE(*stop);
  EXPECT_TRUE(nothing_claimable("w2")) << "the heartbeat should have renewed the lease";
}

TEST_P(JobStoreContract, RetryableFailureGoesBackWithBackoffUntilAttemptsRunOut) {
  create("job_a", {{TaskKind::kImage}});
  RetryPolicy policy{2, 0, 0};  // no wait between attempts, two attempts in all
  Lease first = claim("w1");
  ASSERT_TRUE(store_->fail_task(first.task.id, "w1", unavailable("disk hiccup"), true, policy).is_ok());
  EXPECT_EQ(state_of("job_a"), JobState::kProcessing);
  Lease second = claim("w1");
  EXPECT_EQ(second.task.attempts, 2);
  EXPECT_NE(second.task.last_error.find("disk hiccup"), std::string::npos);
  ASSERT_TRUE(store_->fail_task(second.task.id, "w1", unavailable("disk hiccup"), true, policy).is_ok());
  Job job = *store_->get_job("job_a");
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error_code, "unavailable");
}

TEST_P(JobStoreContract, BackoffKeepsARetriedTaskUnclaimableUntilDue) {
  create("job_a", {{TaskKind::kImage}});
  Lease first = claim("w1");
  ASSERT_TRUE(store_->fail_task(first.task.id, "w1", internal_error("crash"), true, RetryPolicy{3, 60000, 60000}).is_ok());
  EXPECT_TRUE(nothing_claimable("w1"));
  auto tasks = store_->job_tasks("job_a");
  EXPECT_GT(tasks->front().not_before_ms, now_ms() + 50000);
}

TEST_P(JobStoreContract, PermanentFailureFailsTheJobAtOnceAndCancelsItsOtherTasks) {
  create("job_v", video_tasks(3), "t1", "", 30);
  Lease lease = claim("w1");
  ASSERT_TRUE(store_->fail_task(lease.task.id, "w1", no_face("no face in the source"), false, RetryPolicy{}).is_ok());
  Job job = *store_->get_job("job_v");
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error_code, "no_face");
  EXPECT_EQ(job.error_message, "no face in the source");
  EXPECT_TRUE(nothing_claimable("w2"));
  auto tasks = store_->job_tasks("job_v");
  ASSERT_TRUE(tasks.is_ok());
  for (const Task& t : *tasks) {
    EXPECT_TRUE(t.state == TaskState::kFailed || t.state == TaskState::kCancelled) << task_state_name(t.state);
  }
}

TEST_P(JobStoreContract, MergeWaitsForEveryChunk) {
  create("job_v", video_tasks(2), "t1", "", 20);
  Lease c0 = claim("w1");
  Lease c1 = claim("w2");
  EXPECT_EQ(c0.task.kind, TaskKind::kChunk);
  EXPECT_EQ(c1.task.kind, TaskKind::kChunk);
  EXPECT_TRUE(nothing_claimable("w3")) << "the merge must stay blocked while chunks run";
  ASSERT_TRUE(store_->report_progress(c0.task.id, "w1", {"processing", 5, 0}).is_ok());
  EXPECT_EQ(store_->get_job("job_v")->frames_done, 5);
  ASSERT_TRUE(store_->complete_task(c0.task.id, "w1", {"", std::nullopt}).is_ok());
  EXPECT_TRUE(nothing_claimable("w3"));
  ASSERT_TRUE(store_->complete_task(c1.task.id, "w2", {"", std::nullopt}).is_ok());
  EXPECT_EQ(store_->get_job("job_v")->frames_done, 20) << "done chunks count whole";
  EXPECT_EQ(store_->get_job("job_v")->step, "merging");
  Lease merge = claim("w3");
  EXPECT_EQ(merge.task.kind, TaskKind::kMerge);
  ASSERT_TRUE(store_->complete_task(merge.task.id, "w3", {"outputs/job_v/output.mp4", std::nullopt}).is_ok());
  Job job = *store_->get_job("job_v");
  EXPECT_EQ(job.state, JobState::kCompleted);
  EXPECT_EQ(job.frames_done, 20);
  EXPECT_DOUBLE_EQ(job.progress, 1.0);
}

TEST_P(JobStoreContract, SourceFacesOfTheFirstTaskStayOnTheJob) {
  NewJob job;
  job.job.id = "job_s";
  job.job.tenant = "t1";
  job.job.kind = "video";
  job.job.input_summary = {{"source_faces", nullptr}, {"frame_count", 20}};
  job.tasks = video_tasks(2);
  ASSERT_TRUE(store_->create_job(job).is_ok());
  EXPECT_TRUE(store_->get_job("job_s")->input_summary["source_faces"].is_null());
  Lease c0 = claim("w1");
  Lease c1 = claim("w2");
  ASSERT_TRUE(store_->complete_task(c0.task.id, "w1", {"", 3}).is_ok());
  Job after_first = *store_->get_job("job_s");
  EXPECT_EQ(after_first.input_summary["source_faces"], 3) << "visible once the first task reported it";
  EXPECT_EQ(after_first.input_summary["frame_count"], 20) << "the rest of the summary is kept";
  ASSERT_TRUE(store_->complete_task(c1.task.id, "w2", {"", 3}).is_ok());
  Lease merge = claim("w3");
  ASSERT_TRUE(store_->complete_task(merge.task.id, "w3", {"outputs/job_s/output.mp4", std::nullopt}).is_ok());
  Job done = *store_->get_job("job_s");
  EXPECT_EQ(done.state, JobState::kCompleted);
  EXPECT_EQ(done.input_summary["source_faces"], 3) << "a merge reports no count and must not erase it";
  auto events = store_->events_since("job_s", 0, 100);
  ASSERT_TRUE(events.is_ok());
  EXPECT_EQ(events->back().data["input_summary"]["source_faces"], 3) << "the final state event carries it";
}

TEST_P(JobStoreContract, ReleasedTaskIsPendingAgainWithoutCountingTheAttempt) {
  create("job_a", {{TaskKind::kImage}});
  Lease lease = claim("w1");
  ASSERT_TRUE(store_->release_task(lease.task.id, "w1").is_ok());
  Lease again = claim("w2");
  EXPECT_EQ(again.task.attempts, 1);
}

TEST_P(JobStoreContract, CancelPendingIsImmediateAndProcessingIsRequested) {
  create("job_p", {{TaskKind::kImage}});
  auto cancelled_now = store_->request_cancel("job_p");
  ASSERT_TRUE(cancelled_now.is_ok());
  EXPECT_EQ(cancelled_now->state, JobState::kCancelled);
  EXPECT_TRUE(nothing_claimable("w1"));

  create("job_r", {{TaskKind::kImage}});
  Lease lease = claim("w1");
  auto requested = store_->request_cancel("job_r");
  ASSERT_TRUE(requested.is_ok());
  EXPECT_EQ(requested->state, JobState::kProcessing);
  EXPECT_TRUE(requested->cancel_requested);
  auto stop = store_->heartbeat(lease.task.id, "w1", kLongLeaseMs);
  ASSERT_TRUE(stop.is_ok());
  EXPECT_TRUE(*stop) << "the heartbeat tells the worker to stop";
  ASSERT_TRUE(store_->finish_cancelled("job_r").is_ok());
  EXPECT_EQ(state_of("job_r"), JobState::kCancelled);
  EXPECT_EQ(store_->request_cancel("job_r").status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(JobStoreContract, SameIdempotencyKeyReturnsTheSameJobPerTenant) {
  Job first = create("job_1", {{TaskKind::kImage}}, "t1", "key-123");
  NewJob again;
  again.job.id = "job_2";
  again.job.tenant = "t1";
  again.job.kind = "image";
  again.job.request = nlohmann::json::object();
  again.job.idempotency_key = "key-123";
  again.tasks = {{TaskKind::kImage}};
  auto replay = store_->create_job(again);
  ASSERT_TRUE(replay.is_ok());
  EXPECT_FALSE(replay->created);
  EXPECT_EQ(replay->job.id, first.id);
  EXPECT_EQ(store_->get_job("job_2").status().code(), StatusCode::kNotFound);
  // Another tenant's identical key is a different job.
  Job other = create("job_3", {{TaskKind::kImage}}, "t2", "key-123");
  EXPECT_EQ(other.id, "job_3");
}

TEST_P(JobStoreContract, EventsAreNumberedPerJobAndResumable) {
  create("job_a", {{TaskKind::kImage}});
  create("job_b", {{TaskKind::kImage}});
  Lease lease = claim("w1");
  ASSERT_TRUE(store_->report_progress(lease.task.id, "w1", {"processing", 0, 0.5}).is_ok());
  ASSERT_TRUE(store_->complete_task(lease.task.id, "w1", {"outputs/job_a/output.jpg", std::nullopt}).is_ok());
  auto events = store_->events_since("job_a", 0, 100);
  ASSERT_TRUE(events.is_ok());
  ASSERT_EQ(events->size(), 4u);  // pending, processing, progress, completed
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].seq, static_cast<int64_t>(i + 1));
  EXPECT_EQ(events->back().data["status"], "completed");
  EXPECT_DOUBLE_EQ((*events)[2].data["progress"].get<double>(), 0.5);
  auto resumed = store_->events_since("job_a", 2, 100);
  ASSERT_EQ(resumed->size(), 2u);
  EXPECT_EQ(resumed->front().seq, 3);
  EXPECT_EQ(store_->events_since("job_b", 0, 100)->size(), 1u) << "job_b has its own numbering";
}

TEST_P(JobStoreContract, ListPagesNewestFirstWithStatusFilter) {
  for (int i = 0; i < 5; ++i) create("job_" + std::to_string(i), {{TaskKind::kImage}});
  create("job_other", {{TaskKind::kImage}}, "t2");
  ASSERT_TRUE(store_->request_cancel("job_1").is_ok());
  std::vector<std::string> seen;
  std::string cursor;
  do {
    auto page = store_->list_jobs("t1", std::nullopt, 2, cursor);
    ASSERT_TRUE(page.is_ok());
    EXPECT_LE(page->jobs.size(), 2u);
    for (const auto& j : page->jobs) seen.push_back(j.id);
    cursor = page->next_cursor;
  } while (!cursor.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{"job_4", "job_3", "job_2", "job_1", "job_0"}));
  auto cancelled = store_->list_jobs("t1", JobState::kCancelled, 10, "");
  ASSERT_EQ(cancelled->jobs.size(), 1u);
  EXPECT_EQ(cancelled->jobs[0].id, "job_1");
  EXPECT_EQ(store_->list_jobs("t1", std::nullopt, 10, "garbage").status().code(), StatusCode::kInvalidArgument);
}

TEST_P(JobStoreContract, DeleteOnlyTerminalJobs) {
  create("job_a", {{TaskKind::kImage}});
  EXPECT_EQ(store_->delete_job("job_a").code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->request_cancel("job_a").is_ok());
  ASSERT_TRUE(store_->delete_job("job_a").is_ok());
  EXPECT_EQ(store_->get_job("job_a").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->events_since("job_a", 0, 10)->empty());
}

TEST_P(JobStoreContract, StateSurvivesReopening) {
  create("job_a", {{TaskKind::kImage}});
  Lease lease = claim("w1", kExpiredLeaseMs);
  store_.reset();
  auto reopened = open_another();
  ASSERT_TRUE(reopened.is_ok());
  auto again = (*reopened)->claim_task("w2", kLongLeaseMs);
  ASSERT_TRUE(again.is_ok() && again->has_value()) << "the expired lease must be claimable after a restart";
  EXPECT_EQ((*again)->task.id, lease.task.id);
}

TEST_P(JobStoreContract, UploadsAndKeysAreScopedLookups) {
  Upload u;
  u.id = "up_1";
  u.tenant = "t1";
  u.storage_key = "uploads/up_1/input.jpg";
  u.media = "image";
  ASSERT_TRUE(store_->add_upload(u).is_ok());
  EXPECT_TRUE(store_->get_upload("t1", "up_1").is_ok());
  EXPECT_EQ(store_->get_upload("t2", "up_1").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->add_api_key({"key_1", "t1", "abc", "read", 0}).is_ok());
  auto found = store_->find_api_key("abc");
  ASSERT_TRUE(found.is_ok() && found->has_value());
  EXPECT_EQ((*found)->tenant, "t1");
  EXPECT_FALSE(store_->find_api_key("abd")->has_value());
  EXPECT_EQ(*store_->api_key_count(), 1);
}

TEST_P(JobStoreContract, KeysAreListedPerTenantAndRevokedAtOnce) {
  ASSERT_TRUE(store_->add_api_key({"key_a", "t1", "hash_a", "read", 1000}).is_ok());
  ASSERT_TRUE(store_->add_api_key({"key_b", "t1", "hash_b", "submit,read,admin", 2000}).is_ok());
  ASSERT_TRUE(store_->add_api_key({"key_c", "t2", "hash_c", "read", 1500}).is_ok());
  auto t1 = store_->list_api_keys("t1");
  ASSERT_TRUE(t1.is_ok()) << t1.status().to_string();
  ASSERT_EQ(t1->size(), 2u) << "another tenant's key is not listed";
  EXPECT_EQ((*t1)[0].id, "key_a") << "oldest first";
  EXPECT_EQ((*t1)[1].scopes, "submit,read,admin");
  EXPECT_EQ(store_->delete_api_key("t2", "key_a").code(), StatusCode::kNotFound) << "only the key's own tenant";
  EXPECT_TRUE(store_->find_api_key("hash_a")->has_value());
  ASSERT_TRUE(store_->delete_api_key("t1", "key_a").is_ok());
  EXPECT_FALSE(store_->find_api_key("hash_a")->has_value()) << "a revoked key no longer authenticates";
  EXPECT_EQ(store_->list_api_keys("t1")->size(), 1u);
  EXPECT_EQ(store_->delete_api_key("t1", "key_a").code(), StatusCode::kNotFound);
}

// API nodes starting at once on an empty store (issue 12): each would issue and print an admin key;
// add_first_api_key lets exactly one through, and only that one announces (prints) its key.
TEST_P(JobStoreContract, NodesStartingAtOnceStoreExactlyOneFirstKey) {
  constexpr int kNodes = 8;
  auto stores = open_others(kNodes);
  ASSERT_EQ(stores.size(), static_cast<size_t>(kNodes));
  std::atomic<int> stored{0}, announced{0}, errors{0};
  run_at_once(kNodes, [&](int n) {
    auto result = stores[n]->add_first_api_key(
        {fmt::format("key_{}", n), "default", fmt::format("hash_{}", n), "submit,read,admin", 1000}, [&] {
          ++announced;
          return Status::ok();
        });
    if (!result.is_ok()) ++errors;
    else if (*result) ++stored;
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(stored.load(), 1);
  EXPECT_EQ(announced.load(), 1) << "only the key that is stored is shown";
  EXPECT_EQ(*store_->api_key_count(), 1);
}

TEST_P(JobStoreContract, FirstKeyThatCannotBeAnnouncedIsNotStored) {
  auto refused = store_->add_first_api_key({"key_1", "default", "hash_1", "submit,read,admin", 1000},
                                           [] { return failed_precondition("stdout is closed"); });
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store_->api_key_count(), 0) << "a key nobody saw is never valid";
  bool called = false;
  auto stored = store_->add_first_api_key({"key_2", "default", "hash_2", "submit,read,admin", 1000}, [&] {
    called = true;
    return Status::ok();
  });
  ASSERT_TRUE(stored.is_ok()) << stored.status().to_string();
  EXPECT_TRUE(*stored && called);
  called = false;
  auto again = store_->add_first_api_key({"key_3", "default", "hash_3", "submit,read,admin", 1000}, [&] {
    called = true;
    return Status::ok();
  });
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(*again);
  EXPECT_FALSE(called);
  EXPECT_TRUE(store_->find_api_key("hash_2")->has_value());
  EXPECT_FALSE(store_->find_api_key("hash_3")->has_value());
}

// The media-link key of every API node (node_common.h): the first candidate stored wins for all.
TEST_P(JobStoreContract, SharedSecretIsTheSameForEveryNodeWhateverTheyOffer) {
  constexpr int kNodes = 4;
  auto stores = open_others(kNodes);
  ASSERT_EQ(stores.size(), static_cast<size_t>(kNodes));
  std::vector<std::string> got(kNodes);
  run_at_once(kNodes, [&](int n) {
    auto secret = stores[n]->shared_secret("media_link", fmt::format("candidate_{}", n));
    got[n] = secret.is_ok() ? *secret : "error: " + secret.status().to_string();
  });
  EXPECT_TRUE(got[0].starts_with("candidate_")) << got[0];
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
  EXPECT_EQ(*store_->shared_secret("media_link", "late"), got[0]) << "never replaced";
  EXPECT_EQ(*store_->shared_secret("other", "x"), "x") << "secrets are per name";
}

TEST_P(JobStoreContract, UploadInUseByAnUnfinishedJobIsNotDeleted) {
  for (const char* id : {"up_src", "up_tgt", "up_free"}) {
    Upload u;
    u.id = id;
    u.tenant = "t1";
    u.storage_key = std::string("uploads/") + id + "/input.jpg";
    u.media = "image";
    ASSERT_TRUE(store_->add_upload(u).is_ok());
  }
  NewJob job;
  job.job.id = "job_busy";
  job.job.tenant = "t1";
  job.job.kind = "image";
  job.job.request = {{"source", {{"upload_id", "up_src"}}}, {"target", {{"upload_id", "up_tgt"}}}};
  job.tasks = {{TaskKind::kImage}};
  ASSERT_TRUE(store_->create_job(job).is_ok());
  EXPECT_EQ(store_->delete_upload("t2", "up_free").status().code(), StatusCode::kNotFound) << "another tenant's";
  for (const char* id : {"up_src", "up_tgt"}) {
    auto refused = store_->delete_upload("t1", id);
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << id;
    EXPECT_NE(refused.status().message().find("job_busy"), std::string::npos) << refused.status().message();
    EXPECT_TRUE(store_->get_upload("t1", id).is_ok()) << "a refused delete keeps the upload";
  }
  auto freed = store_->delete_upload("t1", "up_free");
  ASSERT_TRUE(freed.is_ok()) << freed.status().to_string();
  EXPECT_EQ(freed->storage_key, "uploads/up_free/input.jpg") << "the caller removes the blob it names";
  EXPECT_EQ(store_->get_upload("t1", "up_free").status().code(), StatusCode::kNotFound);
  // Once the job has ended its inputs may go.
  ASSERT_TRUE(store_->request_cancel("job_busy").is_ok());
  EXPECT_TRUE(store_->delete_upload("t1", "up_tgt").is_ok());
}

TEST_P(JobStoreContract, TenantJobCountsSeeOneTenant) {
  create("job_a", {{TaskKind::kImage}}, "t1");
  create("job_b", {{TaskKind::kImage}}, "t1");
  create("job_c", {{TaskKind::kImage}}, "t2");
  ASSERT_TRUE(store_->request_cancel("job_b").is_ok());
  auto t1 = store_->tenant_job_counts("t1");
  ASSERT_TRUE(t1.is_ok());
  EXPECT_EQ((*t1)["pending"], 1);
  EXPECT_EQ((*t1)["cancelled"], 1);
  EXPECT_EQ((*t1)["completed"], 0) << "every state is present";
  EXPECT_EQ(store_->tenant_job_counts("t3")->at("pending"), 0);
  EXPECT_EQ(store_->job_counts_by_state()->at("pending"), 2) << "the all-tenant count still sees both";
}

// Many submitters at once, spread over several connections to the same database (as several
// processes would be), never get more than the tenant's limit of active jobs in: counting and
// inserting are one write transaction. A count taken before a separate insert lets racing
// submits through (the old code path overshot here).
TEST_P(JobStoreContract, ConcurrentSubmitsNeverExceedTheActiveJobQuota) {
  constexpr int kLimit = 5, kConnections = 4, kThreads = 16, kSubmitsPerThread = 8;
  auto stores = open_others(kConnections);
  ASSERT_EQ(stores.size(), static_cast<size_t>(kConnections));
  auto new_job = [](const std::string& id, const std::string& tenant) {
    NewJob job;
    job.job.id = id;
    job.job.tenant = tenant;
    job.job.kind = "image";
    job.job.request = {{"n", id}};
    job.tasks = {{TaskKind::kImage}};
    job.max_active_jobs = kLimit;
    return job;
  };
  std::atomic<int> created{0}, refused{0}, other_errors{0};
  run_at_once(kThreads, [&](int t) {
    JobStore& store = *stores[t % kConnections];
    for (int i = 0; i < kSubmitsPerThread; ++i) {
      auto result = store.create_job(new_job(fmt::format("job_{}_{}", t, i), "busy"));
      if (result.is_ok()) {
        ++created;
      } else if (result.status().code() == StatusCode::kQuotaExceeded) {
        ++refused;
      } else {
        ++other_errors;
      }
    }
  });
  EXPECT_EQ(created.load(), kLimit);
  EXPECT_EQ(refused.load(), kThreads * kSubmitsPerThread - kLimit);
  EXPECT_EQ(other_errors.load(), 0);
  auto page = store_->list_jobs("busy", std::nullopt, 100, "");
  ASSERT_TRUE(page.is_ok());
  EXPECT_EQ(page->jobs.size(), static_cast<size_t>(kLimit)) << "nothing is inserted for a refused submit";

  auto refusal = store_->create_job(new_job("job_over", "busy"));
  ASSERT_FALSE(refusal.is_ok());
  EXPECT_EQ(refusal.status().code(), StatusCode::kQuotaExceeded);
  EXPECT_NE(refusal.status().message().find("limit 5"), std::string::npos) << refusal.status().message();
  EXPECT_TRUE(store_->create_job(new_job("job_other_tenant", "calm")).is_ok()) << "the quota is per tenant";
  NewJob cached = new_job("job_cached", "busy");
  cached.job.state = JobState::kCompleted;
  cached.tasks.clear();
  EXPECT_TRUE(store_->create_job(cached).is_ok()) << "a job created completed (cache hit) uses no worker";

  // A finished job makes room for exactly one more.
  Lease lease = claim("w1");
  ASSERT_TRUE(store_->complete_task(lease.task.id, "w1", {"outputs/x/output.jpg", std::nullopt}).is_ok());
  EXPECT_TRUE(store_->create_job(new_job("job_room", "busy")).is_ok());
  EXPECT_EQ(store_->create_job(new_job("job_full", "busy")).status().code(), StatusCode::kQuotaExceeded);
}

// Retries of one submit racing each other (a client timing out and resending while the first is
// still being created, through different API nodes): one job, and every call answers with it.
TEST_P(JobStoreContract, ConcurrentSubmitsOfOneIdempotencyKeyCreateOneJob) {
  constexpr int kConnections = 4, kThreads = 12;
  auto stores = open_others(kConnections);
  ASSERT_EQ(stores.size(), static_cast<size_t>(kConnections));
  std::mutex mutex;
  std::vector<std::string> answered;
  std::atomic<int> created{0}, errors{0};
  run_at_once(kThreads, [&](int t) {
    auto result = stores[t % kConnections]->create_job(keyed_image_job(fmt::format("job_try_{}", t), "t1", "order-7", 100));
    if (!result.is_ok()) {
      ++errors;
      return;
    }
    created += result->created;
    std::lock_guard lock(mutex);
    answered.push_back(result->job.id);
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(created.load(), 1);
  ASSERT_EQ(answered.size(), static_cast<size_t>(kThreads));
  for (const auto& id : answered) EXPECT_EQ(id, answered.front());
  auto page = store_->list_jobs("t1", std::nullopt, 100, "");
  ASSERT_TRUE(page.is_ok());
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id, answered.front());
  auto tasks = store_->job_tasks(answered.front());
  ASSERT_TRUE(tasks.is_ok());
  EXPECT_EQ(tasks->size(), 1u) << "the winner's task only";
}

TEST_P(JobStoreContract, IdempotentReplayIsAnsweredEvenAtTheQuota) {
  NewJob job = keyed_image_job("job_a", "t1", "order-1", 1);
  ASSERT_TRUE(store_->create_job(job).is_ok());
  job.job.id = "job_b";
  auto replay = store_->create_job(job);
  ASSERT_TRUE(replay.is_ok()) << replay.status().to_string();
  EXPECT_FALSE(replay->created);
  EXPECT_EQ(replay->job.id, "job_a") << "a client's retry of a submit that went through is not a new job";
}

// Issue 11 item 4: a task that kills every worker holding it (an input that crashes the decoder)
// used to be reclaimed forever — attempts 5 with a limit of 3 — taking down each restarted server.
TEST_P(JobStoreContract, ExpiredLeasesCountAsAttemptsAndTheCapFailsTheJobAsCrashedWorker) {
  create("job_v", video_tasks(2), "t1", "", 20);
  create("job_b", {{TaskKind::kImage}});
  constexpr int kMaxAttempts = 3;
  int64_t poisoned = 0;
  for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
    const std::string owner = fmt::format("w{}", attempt);
    auto lease = store_->claim_task(owner, kExpiredLeaseMs, kMaxAttempts);  // dies at once
    ASSERT_TRUE(lease.is_ok() && lease->has_value());
    EXPECT_EQ((*lease)->task.attempts, attempt);
    if (attempt == 1) poisoned = (*lease)->task.id;
    EXPECT_EQ((*lease)->task.id, poisoned) << "the oldest task is reclaimed while it has attempts left";
  }
  // The next claim must not hand out the poisonous chunk a fourth time: its job fails and the
  // worker gets the next job's task instead.
  auto next = store_->claim_task("w4", kLongLeaseMs, kMaxAttempts);
  ASSERT_TRUE(next.is_ok() && next->has_value()) << next.status().to_string();
  EXPECT_EQ((*next)->task.job_id, "job_b");

  Job failed = *store_->get_job("job_v");
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.error_code, "crashed_worker");
  EXPECT_NE(failed.error_message.find("chunk 0 task was attempted 3 times"), std::string::npos) << failed.error_message;
  ASSERT_EQ(failed.tasks.size(), 3u);
  EXPECT_EQ(failed.tasks[0].state, TaskState::kFailed);
  EXPECT_EQ(failed.tasks[0].attempts, 3);
  EXPECT_EQ(failed.tasks[1].state, TaskState::kCancelled);
  EXPECT_EQ(failed.tasks[2].state, TaskState::kCancelled);
  EXPECT_NE(store_->job_tasks("job_v")->front().last_error.find("crashed_worker"), std::string::npos);
  // Clients see the reason and the attempts per task.
  nlohmann::json json = job_to_json(failed);
  EXPECT_EQ(json["error"]["error"], "crashed_worker");
  EXPECT_EQ(json["tasks"][0]["attempts"], 3);
  EXPECT_EQ(json["tasks"][0]["kind"], "chunk");
  EXPECT_EQ(json["tasks"][2]["kind"], "merge");
  // The failure is an event like any other terminal state.
  auto events = store_->events_since("job_v", 0, 100);
  ASSERT_TRUE(events.is_ok());
  EXPECT_EQ(events->back().data["status"], "failed");
}

TEST_P(JobStoreContract, AttemptCapAlsoAppliesWhenNothingElseIsClaimable) {
  create("job_a", {{TaskKind::kImage}});
  claim("w1", kExpiredLeaseMs);
  EXPECT_TRUE(store_->claim_task("w2", kExpiredLeaseMs, 2).is_ok());
  auto none = store_->claim_task("w3", kLongLeaseMs, 2);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(state_of("job_a"), JobState::kFailed) << "the job's failure must be committed even with nothing claimed";
  EXPECT_EQ(store_->get_job("job_a")->tasks.at(0).attempts, 2);
}

TEST_P(JobStoreContract, GetJobListsAttemptsPerTaskButListsDoNot) {
  create("job_v", video_tasks(2), "t1", "", 20);
  claim("w1", kExpiredLeaseMs);
  claim("w2");
  Job job = *store_->get_job("job_v");
  ASSERT_EQ(job.tasks.size(), 3u);
  EXPECT_EQ(job.tasks[0].attempts, 2);
  EXPECT_EQ(job.tasks[0].state, TaskState::kLeased);
  EXPECT_EQ(job.tasks[1].attempts, 0);
  EXPECT_EQ(job.tasks[2].state, TaskState::kBlocked);
  EXPECT_EQ(job_to_json(job)["tasks"].size(), 3u);
  auto page = store_->list_jobs("t1", std::nullopt, 10, "");
  ASSERT_TRUE(page.is_ok());
  EXPECT_FALSE(job_to_json(page->jobs.at(0)).contains("tasks")) << "lists stay one row per job";
}

TEST(SqliteJobStore, StoreOfANewerSchemaIsRefusedNamingBothVersions) {
  testing::TempDir dir_;
  ASSERT_TRUE(open_sqlite_job_store(dir_ / "jobs.db").is_ok());
  {
    // As a binary from before the compatibility rule would leave it: no compatible_from.
    SQLite::Database db((dir_ / "jobs.db").string(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE schema_version SET version = 999, compatible_from = NULL");
  }
  auto reopened = open_sqlite_job_store(dir_ / "jobs.db");
  ASSERT_FALSE(reopened.is_ok()) << "a store written by a newer facefuse must not be used";
  EXPECT_EQ(reopened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(reopened.status().message().find("999"), std::string::npos) << reopened.status().message();
  EXPECT_NE(reopened.status().message().find("knows versions up to "), std::string::npos) << reopened.status().message();
}

// Blue/green (docs/decisions/0008): version N keeps running on a store version N+1 migrated, when
// N+1 says N can (compatible_from); it neither migrates it back nor touches its version.
TEST(SqliteJobStore, StoreOneVersionAheadThatAllowsThisBinaryIsUsedAsItIs) {
  testing::TempDir dir_;
  ASSERT_TRUE(open_sqlite_job_store(dir_ / "jobs.db").is_ok());
  int current = 0;
  {
    SQLite::Database db((dir_ / "jobs.db").string(), SQLite::OPEN_READWRITE);
    current = db.execAndGet("SELECT version FROM schema_version").getInt();
    db.exec(fmt::format("UPDATE schema_version SET version = {}, compatible_from = {}", current + 1, current));
  }
  auto opened = open_sqlite_job_store(dir_ / "jobs.db");
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  NewJob job;
  job.job.id = "job_on_newer_schema";
  job.job.tenant = "t1";
  job.job.kind = "image";
  job.job.request = {{"n", 1}};
  job.tasks = {{TaskKind::kImage}};
  EXPECT_TRUE((*opened)->create_job(job).is_ok());
  {
    SQLite::Database db((dir_ / "jobs.db").string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("SELECT version FROM schema_version").getInt(), current + 1) << "not migrated back";
  }
  {
    SQLite::Database db((dir_ / "jobs.db").string(), SQLite::OPEN_READWRITE);
    db.exec(fmt::format("UPDATE schema_version SET compatible_from = {}", current + 1));
  }
  auto refused = open_sqlite_job_store(dir_ / "jobs.db");
  ASSERT_FALSE(refused.is_ok()) << "once the newer schema says this binary cannot run on it";
  EXPECT_NE(refused.status().message().find(fmt::format("schema version {} or newer", current + 1)), std::string::npos)
      << refused.status().message();
}

TEST(SqliteJobStorePath, OverSqlitesLimitSaysWhyAndHowToFixIt) {
  testing::TempDir dir;
  std::filesystem::path deep = dir.path();
  while (deep.string().size() < kSqliteMaxPathBytes) deep /= std::string(100, 'd');
  auto opened = open_sqlite_job_store(deep / "jobs.db");
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("SQLite opens paths of at most 504 bytes"), std::string::npos)
      << opened.status().message();
  EXPECT_NE(opened.status().message().find("shorter path"), std::string::npos);
  // A path of exactly the limit still opens.
  std::filesystem::path fits = dir.path();
  size_t need = kSqliteMaxPathBytes - (fits / "jobs.db").string().size();  // bytes of "/name/name..."
  while (need > 0) {
    const size_t n = need > 150 ? 100 : need - 1;
    fits /= std::string(n, 'f');
    need -= n + 1;
  }
  ASSERT_EQ((fits / "jobs.db").string().size(), kSqliteMaxPathBytes);
  EXPECT_TRUE(open_sqlite_job_store(fits / "jobs.db").is_ok()) << (fits / "jobs.db").string().size();
}

// ---- Retention (jobs/janitor.h): the selections the janitor's TTLs rely on. Cut-offs around "now"
// select by finished_at / created_at without sleeping.

// A terminal job of each kind plus a pending and a processing one: job_done (completed, output
// outputs/job_done/output.jpg, fingerprint "fp"), job_failed, job_cancelled, job_pending, job_running.
void make_retention_jobs(JobStore& store) {
  auto add = [&](const std::string& id) {
    NewJob job;
    job.job.id = id;
    job.job.tenant = "t1";
    job.job.kind = "image";
    job.job.request = {{"n", id}};
    job.job.fingerprint = "fp_" + id;
    job.tasks = {{TaskKind::kImage}};
    ASSERT_TRUE(store.create_job(job).is_ok());
  };
  for (const char* id : {"job_done", "job_failed", "job_cancelled", "job_running", "job_pending"}) add(id);
  auto lease = store.claim_task("w1", kLongLeaseMs);  // oldest first: job_done
  ASSERT_TRUE(lease.is_ok() && lease->has_value());
  ASSERT_EQ((*lease)->job.id, "job_done");
  ASSERT_TRUE(store.complete_task((*lease)->task.id, "w1", {"outputs/job_done/output.jpg", std::nullopt}).is_ok());
  lease = store.claim_task("w1", kLongLeaseMs);
  ASSERT_EQ((*lease)->job.id, "job_failed");
  ASSERT_TRUE(store.fail_task((*lease)->task.id, "w1", internal_error("bad input"), false, RetryPolicy{}).is_ok());
  ASSERT_TRUE(store.request_cancel("job_cancelled").is_ok());
  lease = store.claim_task("w1", kLongLeaseMs);
  ASSERT_EQ((*lease)->job.id, "job_running");
}

std::vector<std::string> ids_of(const std::vector<Job>& jobs) {
  std::vector<std::string> ids;
  for (const auto& job : jobs) ids.push_back(job.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST_P(JobStoreContract, RetentionSelectsOnlyTerminalJobsFinishedBeforeTheCutoff) {
  make_retention_jobs(*store_);
  const int64_t later = now_ms() + 1000;
  auto all = store_->terminal_jobs_finished_before(later, false, "", 100);
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_EQ(ids_of(*all), (std::vector<std::string>{"job_cancelled", "job_done", "job_failed"}))
      << "pending and processing jobs are never selected";
  auto with_output = store_->terminal_jobs_finished_before(later, true, "", 100);
  EXPECT_EQ(ids_of(*with_output), (std::vector<std::string>{"job_done"}));
  EXPECT_TRUE(store_->terminal_jobs_finished_before(now_ms() - 60000, false, "", 100)->empty())
      << "jobs that finished after the cut-off are kept";
  // Pages in id order from after_id.
  auto first = store_->terminal_jobs_finished_before(later, false, "", 2);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id, "job_cancelled");
  auto rest = store_->terminal_jobs_finished_before(later, false, (*first)[1].id, 2);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].id, "job_failed");
}

TEST_P(JobStoreContract, AnExpiredOutputKeepsTheJobButLeavesTheCacheAndTheSelection) {
  make_retention_jobs(*store_);
  ASSERT_TRUE(store_->find_cached("t1", "fp_job_done")->has_value());
  EXPECT_EQ(store_->expire_output("job_running", 5000).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->expire_output("job_nope", 5000).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->expire_output("job_done", 5000).is_ok());
  ASSERT_TRUE(store_->expire_output("job_done", 9000).is_ok()) << "idempotent";
  auto job = store_->get_job("job_done");
  ASSERT_TRUE(job.is_ok());
  EXPECT_EQ(job->state, JobState::kCompleted);
  EXPECT_EQ(job->output_expired_at_ms, 5000) << "the first expiry time stays";
  EXPECT_EQ(job->output_key, "outputs/job_done/output.jpg") << "kept, so /media can answer 410";
  EXPECT_TRUE(job_to_json(*job)["output_url"].is_null());
  EXPECT_TRUE(job_to_json(*job).contains("output_expired_at"));
  EXPECT_FALSE(store_->find_cached("t1", "fp_job_done")->has_value()) << "an expired output is no cache hit";
  EXPECT_TRUE(store_->terminal_jobs_finished_before(now_ms() + 1000, true, "", 100)->empty());
  EXPECT_EQ(store_->terminal_jobs_finished_before(now_ms() + 1000, false, "", 100)->size(), 3u)
      << "the job itself is still there for --retain-jobs";
}

TEST_P(JobStoreContract, RetentionLooksUpUploadsAndJobsByAgeAndId) {
  make_retention_jobs(*store_);
  for (auto [id, created] : {std::pair{"up_old", int64_t{1000}}, std::pair{"up_mid", int64_t{2000}},
                             std::pair{"up_new", now_ms()}}) {
    Upload u;
    u.id = id;
    u.tenant = id == std::string("up_mid") ? "t2" : "t1";
    u.storage_key = fmt::format("uploads/{}/input.jpg", id);
    u.media = "image";
    u.created_at_ms = created;
    ASSERT_TRUE(store_->add_upload(u).is_ok());
  }
  auto old = store_->uploads_created_before(3000, "", 100);
  ASSERT_TRUE(old.is_ok()) << old.status().to_string();
  ASSERT_EQ(old->size(), 2u) << "every tenant's uploads, only those made before the cut-off";
  EXPECT_EQ((*old)[0].id, "up_mid");
  EXPECT_EQ((*old)[1].id, "up_old");
  EXPECT_EQ((*old)[1].storage_key, "uploads/up_old/input.jpg");
  EXPECT_EQ(store_->uploads_created_before(3000, "up_mid", 100)->size(), 1u);
  auto existing = store_->existing_upload_ids({"up_old", "up_gone", "up_new"});
  ASSERT_TRUE(existing.is_ok());
  std::sort(existing->begin(), existing->end());
  EXPECT_EQ(*existing, (std::vector<std::string>{"up_new", "up_old"}));
  EXPECT_TRUE(store_->existing_upload_ids({})->empty());
  auto jobs = store_->jobs_by_ids({"job_done", "job_gone", "job_pending"});
  ASSERT_TRUE(jobs.is_ok());
  EXPECT_EQ(ids_of(*jobs), (std::vector<std::string>{"job_done", "job_pending"}));
  EXPECT_TRUE(store_->jobs_by_ids({})->empty());
}

TEST_P(JobStoreContract, TheJanitorLockIsHeldByOneStoreAtATime) {
  auto others = open_others(1);
  ASSERT_EQ(others.size(), 1u);
  auto held = store_->try_lock("janitor");
  ASSERT_TRUE(held.is_ok()) << held.status().to_string();
  ASSERT_TRUE(*held != nullptr);
  auto second = others[0]->try_lock("janitor");
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_TRUE(*second == nullptr) << "another node (connection) must skip while the lock is held";
  auto other_name = others[0]->try_lock("something else");
  EXPECT_TRUE(other_name.is_ok() && *other_name != nullptr) << "locks are per name";
  held->reset();
  auto after = others[0]->try_lock("janitor");
  ASSERT_TRUE(after.is_ok());
  EXPECT_TRUE(*after != nullptr) << "released when the holder drops it";
}

INSTANTIATE_TEST_SUITE_P(Stores, JobStoreContract, ::testing::Values(StoreKind::kSqlite, StoreKind::kPostgres),
                         store_name);

// Contract items of issue 12's worker half (priority, lease_expired, per-job attempts, the stall
// sweep). Same fixture and stores.
class WorkerContract : public JobStoreContract {
 protected:
  int sweep(int64_t stall_ms) {
    auto failed = store_->fail_stalled_tasks(stall_ms);
    EXPECT_TRUE(failed.is_ok()) << failed.status().to_string();
    return failed.is_ok() ? *failed : -1;
  }
};

TEST_P(WorkerContract, ClaimsGoByPriorityThenAge) {
  for (auto [id, priority] : {std::pair{"job_low", 0}, {"job_high", 9}, {"job_mid", 5}, {"job_high_later", 9}}) {
    NewJob job;
    job.job.id = id;
    job.job.tenant = "t1";
    job.job.kind = "image";
    job.job.priority = priority;
    job.tasks = {{TaskKind::kImage}};
    ASSERT_TRUE(store_->create_job(job).is_ok());
  }
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) order.push_back(claim("w1").job.id);
  EXPECT_EQ(order, (std::vector<std::string>{"job_high", "job_high_later", "job_mid", "job_low"}));
  EXPECT_EQ(store_->get_job("job_mid")->priority, 5) << "stored on the job";
}

TEST_P(WorkerContract, LeaseExpiredFlagsOnlyATaskTakenFromADeadWorker) {
  create("job_a", {{TaskKind::kImage}});
  create("job_b", {{TaskKind::kImage}});
  Lease first = claim("w1", kExpiredLeaseMs);  // w1 died holding job_a's task
  EXPECT_FALSE(first.lease_expired) << "a pending task is not an interruption";
  Lease taken_over = claim("w2");
  EXPECT_EQ(taken_over.task.id, first.task.id);
  EXPECT_TRUE(taken_over.lease_expired);
  Lease other = claim("w3");
  ASSERT_TRUE(store_->release_task(other.task.id, "w3").is_ok());
  EXPECT_FALSE(claim("w3").lease_expired) << "a released task is pending, not expired";
}

TEST_P(WorkerContract, JobAttemptsSumTheClaimsOfItsTasks) {
  create("job_v", video_tasks(2));
  EXPECT_EQ(store_->get_job("job_v")->attempts, 0);
  claim("w1", kExpiredLeaseMs);  // chunk 0, then its worker dies
  claim("w2");                   // chunk 0 again
  Lease c1 = claim("w3");        // chunk 1
  ASSERT_TRUE(store_->release_task(c1.task.id, "w3").is_ok());  // given back: not counted
  auto job = store_->get_job("job_v");
  ASSERT_TRUE(job.is_ok());
  EXPECT_EQ(job->attempts, 2);
  EXPECT_EQ(job_to_json(*job)["attempts"], 2);
  auto page = store_->list_jobs("t1", std::nullopt, 10, "");
  ASSERT_TRUE(page.is_ok());
  EXPECT_FALSE(job_to_json(page->jobs.at(0)).contains("attempts")) << "detail view only, like tasks";
}

TEST_P(WorkerContract, StallSweepFailsATaskWithoutFrameProgressAndItsHolderLosesTheLease) {
  create("job_v", video_tasks(2), "t1", "", 20);
  Lease stuck = claim("w1");
  Lease moving = claim("w2");
  ASSERT_TRUE(store_->report_progress(moving.task.id, "w2", {"processing", 5, 0.25}).is_ok());
  // A limit far away: nothing has stalled.
  auto none = store_->fail_stalled_tasks(kLongLeaseMs);
  ASSERT_TRUE(none.is_ok()) << none.status().to_string();
  EXPECT_EQ(*none, 0);
  EXPECT_EQ(state_of("job_v"), JobState::kProcessing);
  // A negative limit: every leased task is past it (no sleeping).
  auto failed = store_->fail_stalled_tasks(-kLongLeaseMs);
  ASSERT_TRUE(failed.is_ok()) << failed.status().to_string();
  EXPECT_GE(*failed, 1);
  auto job = store_->get_job("job_v");
  EXPECT_EQ(job->state, JobState::kFailed);
  EXPECT_EQ(job->error_code, kStalledError);
  EXPECT_NE(job->error_message.find("made no frame progress"), std::string::npos) << job->error_message;
  EXPECT_EQ(store_->heartbeat(stuck.task.id, "w1", kLongLeaseMs).status().code(), StatusCode::kFailedPrecondition)
      << "the holder learns at its next heartbeat and stops";
  EXPECT_EQ(sweep(-kLongLeaseMs), 0) << "each task is failed once";
}

TEST_P(WorkerContract, StallSweepLeavesExpiredLeasesToTheClaim) {
  create("job_a", {{TaskKind::kImage}});
  claim("w1", kExpiredLeaseMs);  // dead worker: an expired lease, re-run by the next claim instead
  EXPECT_EQ(sweep(-kLongLeaseMs), 0);
  EXPECT_EQ(state_of("job_a"), JobState::kProcessing);
  EXPECT_TRUE(claim("w2").lease_expired);
}

INSTANTIATE_TEST_SUITE_P(Stores, WorkerContract, ::testing::Values(StoreKind::kSqlite, StoreKind::kPostgres),
                         store_name);

}  // namespace
}  // namespace facefuse::jobs
