// The object key layout <tenant>/<yyyy>/<mm>/<dd>/<kind>/<id>/... (storage_keys.h): valid keys for
// every tenant name the API accepts, distinct tenants never share a prefix, jobs keep the prefixes
// they were created with, and keys of the old layout stay readable.
#include <gtest/gtest.h>

#include <set>

#include "facefuse/jobs/storage_keys.h"
#include "facefuse/storage/blob_store.h"

namespace facefuse::jobs {
namespace {

constexpr int64_t kDay = 1796515200000;  // 2026-12-06T00:00:00Z, ms

TEST(StorageKeys, NewObjectsGoUnderTenantAndUtcDay) {
  EXPECT_EQ(upload_key("acme", kDay + 1000, "up_0123", "jpg"), "acme/2026/12/06/uploads/up_0123/input.jpg");
  EXPECT_EQ(object_prefix("acme", kDay - 1, "outputs", "job_1"), "acme/2026/12/05/outputs/job_1")
      << "one ms before midnight UTC is the previous day";
  Job job;
  job.id = "job_42";
  job.request = {{"storage", job_storage_prefixes("acme", kDay, "job_42")}};
  EXPECT_EQ(output_prefix(job), "acme/2026/12/06/outputs/job_42");
  EXPECT_EQ(job_temp_prefix(job), "acme/2026/12/06/work/job_42");
  EXPECT_EQ(segment_key(job, 3), "acme/2026/12/06/work/job_42/segments/chunk-00003.mp4");
}

TEST(StorageKeys, JobsWithoutStoredPrefixesUseTheOldLayout) {
  Job job;
  job.id = "job_7";
  job.request = {{"source", {}}};
  EXPECT_EQ(output_prefix(job), "outputs/job_7");
  EXPECT_EQ(job_temp_prefix(job), "jobs/job_7");
  EXPECT_EQ(segment_key(job, 0), "jobs/job_7/segments/chunk-00000.mp4");
}

TEST(StorageKeys, EveryTenantNameGivesAValidDistinctSegment) {
  // Names the key API accepts (A-Za-z0-9 _ - .), including ones that are not valid key segments
  // as they are, and ones that could pass for the encoding of another.
  const std::vector<std::string> tenants = {"acme", "default", ".", "..", ".hidden", "_t2e", "-x", "_",
                                            "uploads", "outputs", "jobs", "Uploads", "a.b", "_incoming"};
  std::set<std::string> segments;
  for (const auto& t : tenants) {
    const std::string segment = tenant_key_segment(t);
    EXPECT_TRUE(storage::validate_key(segment + "/x").is_ok()) << t << " → " << segment;
    EXPECT_NE(segment, "_incoming") << "the staging root belongs to no tenant";
    EXPECT_TRUE(segments.insert(segment).second) << t << " shares " << segment;
  }
  EXPECT_EQ(tenant_key_segment("acme"), "acme");
  EXPECT_EQ(tenant_key_segment(".."), "_t2e2e");
  EXPECT_EQ(tenant_key_segment("uploads"), "_t75706c6f616473") << "no tenant's prefix is an old layout root";
}

TEST(StorageKeys, TenantsReachOnlyTheirOwnPrefix) {
  EXPECT_TRUE(key_belongs_to_tenant("acme/2026/12/06/outputs/job_1/output.jpg", "acme"));
  EXPECT_TRUE(key_belongs_to_tenant("acme/inbox/photo.jpg", "acme"));
  EXPECT_FALSE(key_belongs_to_tenant("acme2/inbox/photo.jpg", "acme"));
  EXPECT_FALSE(key_belongs_to_tenant("acme", "acme"));
  EXPECT_FALSE(key_belongs_to_tenant("uploads/up_1/input.jpg", "uploads")) << "old keys carry no tenant";
  EXPECT_FALSE(key_belongs_to_tenant("_incoming/up_1/object", "_incoming"));
  EXPECT_FALSE(key_belongs_to_tenant("_t2e2e/x.jpg", "_t2e2e")) << "a plain name never owns an encoded prefix";
  EXPECT_TRUE(key_belongs_to_tenant("_t2e2e/x.jpg", ".."));
}

TEST(StorageKeys, OutputKeysOfBothLayoutsNameTheirJob) {
  EXPECT_EQ(output_key_job_id("outputs/job_1/output.jpg"), "job_1");
  EXPECT_EQ(output_key_job_id("acme/2026/12/06/outputs/job_1/output.mp4"), "job_1");
  EXPECT_EQ(output_key_job_id("acme/2026/12/06/uploads/up_1/input.jpg"), "");
  EXPECT_EQ(output_key_job_id("acme/2026/12/06/work/job_1/segments"), "");
  EXPECT_EQ(output_key_job_id("acme/26/12/06/outputs/job_1/output.jpg"), "");
  EXPECT_EQ(output_key_job_id("outputs/job-1/output.jpg"), "") << "not a route id";
  EXPECT_EQ(output_key_job_id("outputs/job_1/.hidden"), "");
  EXPECT_EQ(output_key_job_id("x/outputs/job_1/output.jpg"), "");
}

}  // namespace
}  // namespace facefuse::jobs
