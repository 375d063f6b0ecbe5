// The retention janitor (jobs/janitor.h) on a real SQLite store and a real file blob store: duration
// parsing (the serve flags), which keys belong to the layout, and one pass's choices — expired
// uploads go unless a live job reads them, orphans past the grace period go both ways (objects
// without rows, rows without objects), everything else stays, and the usage it reports is what is
// left on disk. (The TTL selections themselves are in the store contract, SQLite and PostgreSQL.)
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <utime.h>

#include <fstream>

#include "facefuse/jobs/janitor.h"
#include "facefuse/jobs/storage_keys.h"
#include "facefuse/storage/file_blob_store.h"
#include "support/test_support.h"

namespace facefuse::jobs {
namespace {

TEST(RetentionDuration, AcceptsUnitsAndZeroAndNamesTheFlagOtherwise) {
  EXPECT_EQ(*parse_retention_duration("0", "--retain-jobs"), 0);
  EXPECT_EQ(*parse_retention_duration("7d", "--retain-jobs"), 7 * 86400 * 1000LL);
  EXPECT_EQ(*parse_retention_duration("12h", "--retain-jobs"), 12 * 3600 * 1000LL);
  EXPECT_EQ(*parse_retention_duration("30m", "--retain-jobs"), 30 * 60 * 1000LL);
  EXPECT_EQ(*parse_retention_duration("45s", "--retain-jobs"), 45 * 1000LL);
  EXPECT_EQ(*parse_retention_duration("250ms", "--retain-jobs"), 250);
  for (const char* bad : {"", "d", "7", "7 d", "-1h", "1w", "0h", "1.5h", "9999999999s", "7dd"}) {
    auto parsed = parse_retention_duration(bad, "--retain-outputs");
    ASSERT_FALSE(parsed.is_ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("--retain-outputs"), std::string::npos) << parsed.status().message();
  }
}

TEST(RetentionLayout, OnlyKeysOfTheServiceLayoutParse) {
  auto up = parse_layout_key("acme/2026/12/06/uploads/up_0123/input.jpg");
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(up->kind, "uploads");
  EXPECT_EQ(up->id, "up_0123");
  EXPECT_EQ(parse_layout_key("acme/2026/12/06/work/job_1/segments/chunk-00000.mp4")->kind, "work");
  EXPECT_EQ(parse_layout_key("outputs/job_7/output.jpg")->id, "job_7");
  EXPECT_EQ(parse_layout_key("jobs/job_7/segments/chunk-00000.mp4")->kind, "work") << "the old layout's segments";
  for (const char* other : {"acme/inbox/face.jpg", "acme/2026/12/06/uploads/up_1", "acme/26/12/06/uploads/up_1/x",
                            "acme/2026/12/06/inbox/up_1/x", "_incoming/up_1/object", "work/job_1/x",
                            "acme/2026/12/06/uploads/up-1/x", "uploads"}) {
    EXPECT_FALSE(parse_layout_key(other).has_value()) << other;
  }
  EXPECT_STREQ(storage_kind_of("_incoming/up_1/object"), "staging");
  EXPECT_STREQ(storage_kind_of("acme/2026/12/06/work/job_1/segments/c.mp4"), "segments");
  EXPECT_STREQ(storage_kind_of("acme/inbox/face.jpg"), "other");
}

class JanitorPassTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = open_sqlite_job_store(dir_ / "jobs.db");
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    store_ = std::move(store).value();
    auto blobs = storage::FileBlobStore::open(dir_ / "storage");
    ASSERT_TRUE(blobs.is_ok());
    blobs_ = std::move(blobs).value();
  }

  // Writes `bytes` bytes at `key`, last modified `age_ms` ago.
  void put(const std::string& key, int bytes, int64_t age_ms) {
    const auto path = dir_ / "storage" / key;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << std::string(bytes, 'x');
    const time_t t = static_cast<time_t>((now_ms() - age_ms) / 1000);
    utimbuf times{t, t};
    ASSERT_EQ(::utime(path.c_str(), &times), 0);
  }
  bool exists(const std::string& key) { return std::filesystem::exists(dir_ / "storage" / key); }

  void add_upload(const std::string& id, const std::string& key, int64_t age_ms) {
    Upload u;
    u.id = id;
    u.tenant = "t1";
    u.storage_key = key;
    u.media = "image";
    u.created_at_ms = now_ms() - age_ms;
    ASSERT_TRUE(store_->add_upload(u).is_ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<storage::BlobStore> blobs_;
};

constexpr int64_t kHour = 3600 * 1000;

TEST_F(JanitorPassTest, DeletesExpiredAndOrphanedThingsAndNothingElse) {
  // Expired, in use by a pending job, fresh.
  put("t1/2026/01/01/uploads/up_old/input.jpg", 10, 2 * kHour);
  add_upload("up_old", "t1/2026/01/01/uploads/up_old/input.jpg", 2 * kHour);
  put("t1/2026/01/01/uploads/up_busy/input.jpg", 20, 2 * kHour);
  add_upload("up_busy", "t1/2026/01/01/uploads/up_busy/input.jpg", 2 * kHour);
  NewJob job;
  job.job.id = "job_live";
  job.job.tenant = "t1";
  job.job.kind = "image";
  job.job.request = {{"source", {{"upload_id", "up_busy"}}}, {"target", {{"upload_id", "up_busy"}}}};
  job.tasks = {{TaskKind::kImage}};
  ASSERT_TRUE(store_->create_job(job).is_ok());
  put("t1/2026/01/01/work/job_live/segments/chunk-00000.mp4", 5, 2 * kHour);  // a running job's: kept
  put("t1/2026/01/01/uploads/up_new/input.jpg", 30, 0);
  add_upload("up_new", "t1/2026/01/01/uploads/up_new/input.jpg", 0);
  // Orphans: old objects without rows; a young one; a row without its object; foreign objects.
  put("t1/2026/01/01/uploads/up_orphan/input.jpg", 40, 2 * kHour);
  put("outputs/job_gone/output.jpg", 50, 2 * kHour);
  put("t1/2026/01/01/uploads/up_young/input.jpg", 60, 0);
  add_upload("up_missing", "t1/2026/01/01/uploads/up_missing/input.jpg", 2 * kHour);
  put("t1/inbox/face.jpg", 70, 2 * kHour);
  put("_incoming/up_direct/object", 80, 2 * kHour);

  RetentionPolicy policy;
  policy.uploads_ms = kHour;
  policy.orphan_grace_ms = kHour;
  Janitor janitor(*store_, *blobs_, policy);
  auto pass = janitor.run_pass();
  ASSERT_TRUE(pass.is_ok()) << pass.status().to_string();
  ASSERT_TRUE(pass->ran);

  EXPECT_FALSE(exists("t1/2026/01/01/uploads/up_old/input.jpg"));
  EXPECT_EQ(store_->get_upload("t1", "up_old").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(exists("t1/2026/01/01/uploads/up_busy/input.jpg")) << "a pending job reads it";
  EXPECT_TRUE(store_->get_upload("t1", "up_busy").is_ok());
  EXPECT_EQ(pass->uploads_kept_in_use, 1);
  EXPECT_TRUE(exists("t1/2026/01/01/work/job_live/segments/chunk-00000.mp4"));
  EXPECT_TRUE(exists("t1/2026/01/01/uploads/up_new/input.jpg"));
  EXPECT_FALSE(exists("t1/2026/01/01/uploads/up_orphan/input.jpg"));
  EXPECT_FALSE(exists("outputs/job_gone/output.jpg"));
  EXPECT_TRUE(exists("t1/2026/01/01/uploads/up_young/input.jpg")) << "younger than the grace period";
  EXPECT_EQ(store_->get_upload("t1", "up_missing").status().code(), StatusCode::kNotFound)
      << "a row whose object is missing goes";
  EXPECT_TRUE(exists("t1/inbox/face.jpg"));
  EXPECT_TRUE(exists("_incoming/up_direct/object")) << "staging is direct_uploads' own sweep's";
  EXPECT_EQ(store_->get_job("job_live")->state, JobState::kPending);

  EXPECT_EQ(pass->deleted_objects.at("expired_upload"), 1);
  EXPECT_EQ(pass->deleted_objects.at("orphan"), 2);
  EXPECT_EQ(pass->usage.at("uploads").objects, 3);  // busy, new, young
  EXPECT_EQ(pass->usage.at("uploads").bytes, 20 + 30 + 60);
  EXPECT_EQ(pass->usage.at("segments").objects, 1);
  EXPECT_EQ(pass->usage.at("outputs").objects, 0);
  EXPECT_EQ(pass->usage.at("staging").bytes, 80);
  EXPECT_EQ(pass->usage.at("other").bytes, 70);

  // Held by another pass (another node): this one skips and touches nothing.
  auto lock = store_->try_lock("janitor");
  ASSERT_TRUE(lock.is_ok() && *lock);
  auto skipped = janitor.run_pass();
  ASSERT_TRUE(skipped.is_ok());
  EXPECT_FALSE(skipped->ran);
}

TEST_F(JanitorPassTest, WithoutRetentionNothingIsDeletedButUsageIsReported) {
  put("t1/2026/01/01/uploads/up_orphan/input.jpg", 40, 2 * kHour);
  add_upload("up_missing", "t1/2026/01/01/uploads/up_missing/input.jpg", 2 * kHour);
  Janitor janitor(*store_, *blobs_, RetentionPolicy{});
  auto pass = janitor.run_pass();
  ASSERT_TRUE(pass.is_ok()) << pass.status().to_string();
  EXPECT_TRUE(exists("t1/2026/01/01/uploads/up_orphan/input.jpg"));
  EXPECT_TRUE(store_->get_upload("t1", "up_missing").is_ok());
  EXPECT_TRUE(pass->deleted_objects.empty());
  EXPECT_EQ(pass->usage.at("uploads").objects, 1);
  EXPECT_EQ(pass->usage.at("uploads").bytes, 40);
}

}  // namespace
}  // namespace facefuse::jobs
