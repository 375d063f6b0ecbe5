// The BlobStore contract, run over the file store and over S3BlobStore on the S3 test server
// (@20minutes/s3rver, tests/support/s3_server.h): the same calls must give the same results.
#include <gtest/gtest.h>

#include <chrono>

#include "facefuse/storage/blob_store.h"
#include "facefuse/storage/file_blob_store.h"
#include "facefuse/storage/s3_blob_store.h"
#include "support/s3_server.h"
#include "support/test_support.h"

namespace facefuse::storage {
namespace {

namespace fs = std::filesystem;

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One S3 server for the whole suite: starting node costs seconds.
testing::S3Server* shared_server() {
  static auto* server = new testing::S3Server({"contract"});
  return server;
}

class BlobStoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "file") {
      auto opened = FileBlobStore::open(dir_ / "store");
      ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
      store_ = std::move(opened).value();
    } else {
      ASSERT_GT(shared_server()->port(), 0);
      // A fresh prefix per test: the bucket is shared.
      static int counter = 0;
      auto opened = open_blob_store("s3://contract/t" + std::to_string(++counter), shared_server()->options());
      ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
      store_ = std::move(opened).value();
    }
  }
  void put(const std::string& key, const std::string& content) {
    // A fresh local file per put: the file store may hard-link it (blob_store.h).
    const fs::path local = dir_ / ("put-" + std::to_string(++puts_));
    testing::write_file_bytes(local, content);
    Status s = store_->put_file(key, local);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }
  testing::TempDir dir_;
  std::unique_ptr<BlobStore> store_;
  int puts_ = 0;
};

TEST_P(BlobStoreContract, PutGetStatAndRanges) {
  put("outputs/job_1/output.bin", "0123456789");
  EXPECT_EQ(store_->stat("outputs/job_1/output.bin")->size, 10);
  EXPECT_EQ(*store_->read_range("outputs/job_1/output.bin", 3, 4), "3456");
  EXPECT_EQ(*store_->read_range("outputs/job_1/output.bin", 8, 100), "89");
  EXPECT_EQ(*store_->read_range("outputs/job_1/output.bin", 10, 5), "");
  EXPECT_EQ(*store_->read_range("outputs/job_1/output.bin", 0, 0), "");
  ASSERT_TRUE(store_->get_file("outputs/job_1/output.bin", dir_ / "copy.bin").is_ok());
  EXPECT_EQ(testing::read_file_bytes(dir_ / "copy.bin"), "0123456789");
  EXPECT_EQ(store_->stat("outputs/job_1/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->get_file("outputs/job_1/missing", dir_ / "none").code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "none"));
  EXPECT_EQ(store_->read_range("outputs/job_1/missing", 0, 4).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->check_ready().is_ok());
}

TEST_P(BlobStoreContract, PutReplacesTheWholeObject) {
  put("k/x", "first version");
  put("k/x", "second");
  EXPECT_EQ(*store_->read_range("k/x", 0, 100), "second");
  EXPECT_EQ(store_->stat("k/x")->size, 6);
}

TEST_P(BlobStoreContract, EmptyAndBinaryObjectsRoundTrip) {
  put("k/empty", "");
  EXPECT_EQ(store_->stat("k/empty")->size, 0);
  std::string binary;
  for (int i = 0; i < 70000; ++i) binary += static_cast<char>(i * 7 % 256);
  put("k/binary", binary);
  ASSERT_TRUE(store_->get_file("k/binary", dir_ / "b").is_ok());
  EXPECT_EQ(testing::read_file_bytes(dir_ / "b"), binary);
  ASSERT_TRUE(store_->get_file("k/empty", dir_ / "e").is_ok());
  EXPECT_EQ(fs::file_size(dir_ / "e"), 0u);
}

TEST_P(BlobStoreContract, ListAndRemovePrefix) {
  for (const char* key : {"jobs/j1/segments/chunk-00001.mp4", "jobs/j1/segments/chunk-00000.mp4", "jobs/j2/a",
                          "jobs/j10/a"}) {
    put(key, "x");
  }
  auto keys = store_->list("jobs/j1");
  ASSERT_TRUE(keys.is_ok()) << keys.status().to_string();
  // "jobs/j10/a" shares the text prefix "jobs/j1" but not the key prefix "jobs/j1/".
  EXPECT_EQ(*keys, (std::vector<std::string>{"jobs/j1/segments/chunk-00000.mp4", "jobs/j1/segments/chunk-00001.mp4"}));
  ASSERT_TRUE(store_->remove_prefix("jobs/j1").is_ok());
  EXPECT_TRUE(store_->list("jobs/j1")->empty());
  EXPECT_EQ(store_->list("jobs/j2")->size(), 1u);
  EXPECT_EQ(store_->list("jobs/j10")->size(), 1u);
  EXPECT_TRUE(store_->list("nothing/here")->empty());
  ASSERT_TRUE(store_->remove("jobs/j2/a").is_ok());
  EXPECT_EQ(store_->stat("jobs/j2/a").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->remove("jobs/j2/missing").is_ok());
}

TEST_P(BlobStoreContract, ListEntriesGivesSizesAndTimesAndRemoveKeysBatches) {
  const int64_t before = unix_ms() - 5000;  // allow a little clock skew to the server
  put("a/b/one", "12345");
  put("a/c/two", "");
  put("z/three", "abc");
  auto all = store_->list_entries("");
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), 3u) << "the whole store (under the S3 prefix only)";
  EXPECT_EQ((*all)[0].key, "a/b/one");
  EXPECT_EQ((*all)[0].size, 5);
  EXPECT_EQ((*all)[1].size, 0);
  EXPECT_EQ((*all)[2].key, "z/three");
  for (const auto& e : *all) {
    EXPECT_GT(e.modified_ms, before) << e.key;
    EXPECT_LT(e.modified_ms, unix_ms() + 5000) << e.key;
  }
  auto under = store_->list_entries("a");
  ASSERT_EQ(under->size(), 2u);
  EXPECT_EQ(store_->remove_keys({"a/b/one", "a/b/missing", "z/three"}).code(), StatusCode::kOk)
      << "missing keys are not an error";
  auto left = store_->list_entries("");
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].key, "a/c/two");
  EXPECT_EQ(store_->remove_keys({"a/c/two", "../escape"}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->list_entries("")->size(), 1u) << "nothing is removed when one key is invalid";
  EXPECT_TRUE(store_->remove_keys({}).is_ok());
}

TEST_P(BlobStoreContract, RemoveKeysDeletesMoreThanOneBatch) {
  // 1001 keys: two DeleteObjects requests on S3 (at most 1000 keys each).
  testing::write_file_bytes(dir_ / "one", "1");
  std::vector<std::string> keys;
  for (int i = 0; i < 1001; ++i) {
    keys.push_back("batch/k" + std::to_string(i));
    ASSERT_TRUE(store_->put_file(keys.back(), dir_ / "one").is_ok());
  }
  put("keep/me", "x");
  ASSERT_TRUE(store_->remove_keys(keys).is_ok());
  EXPECT_TRUE(store_->list("batch")->empty());
  EXPECT_EQ(store_->list_entries("")->size(), 1u);
}

TEST_P(BlobStoreContract, ListFollowsContinuationPastOneThousandKeys) {
  if (GetParam() == "file") GTEST_SKIP() << "pages are an S3 notion";
  // 1001 objects: S3 answers at most 1000 keys per page.
  testing::write_file_bytes(dir_ / "one", "1");
  for (int i = 0; i < 1001; ++i) ASSERT_TRUE(store_->put_file("many/k" + std::to_string(i), dir_ / "one").is_ok());
  auto keys = store_->list("many");
  ASSERT_TRUE(keys.is_ok()) << keys.status().to_string();
  EXPECT_EQ(keys->size(), 1001u);
  ASSERT_TRUE(store_->remove_prefix("many").is_ok());  // two DeleteObjects batches
  EXPECT_TRUE(store_->list("many")->empty());
}

TEST_P(BlobStoreContract, EveryOperationRefusesBadKeys) {
  testing::write_file_bytes(dir_ / "f", "x");
  for (const std::string key : {"../outside", "/etc/passwd", "a//b", "%2e%2e/x", "a/.hidden", "a b", "a\\..\\b"}) {
    EXPECT_EQ(store_->put_file(key, dir_ / "f").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->get_file(key, dir_ / "g").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->stat(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->read_range(key, 0, 10).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->remove(key).code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->remove_prefix(key).code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->list(key).status().code(), StatusCode::kInvalidArgument) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, BlobStoreContract, ::testing::Values("file", "s3"));

}  // namespace
}  // namespace facefuse::storage
