// Storage keys are validated before any file is touched, and FileBlobStore writes atomically.
#include <fstream>

#include <gtest/gtest.h>

#include "facefuse/storage/file_blob_store.h"
#include "support/test_support.h"

namespace facefuse::storage {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

TEST(StorageKey, AcceptsRelativeSlashSeparatedNames) {
  for (const char* key : {"outputs/job_1/output.jpg", "uploads/up_1/input.video", "a", "a-b_c.d/e"}) {
    EXPECT_TRUE(validate_key(key).is_ok()) << key;
  }
}

TEST(StorageKey, RefusesTraversalRawEncodedAndAbsolute) {
  for (const char* key : {"", "/etc/passwd", "../secret", "outputs/../../etc/passwd", "outputs/./x", "a//b", "a/",
                          "%2e%2e/secret", "outputs/%2E%2E/x", "..%2fsecret", "a\\..\\b", "a/.hidden", "a b",
                          "outputs/job/\x01"}) {
    Status s = validate_key(key);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "accepted: " << key;
  }
  EXPECT_NE(validate_key("../x").message().find("'.'"), std::string::npos) << validate_key("../x").message();
  EXPECT_EQ(validate_key(std::string(513, 'a')).code(), StatusCode::kInvalidArgument);
}

class FileBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = FileBlobStore::open(dir_ / "store");
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    store_ = std::move(opened).value();
  }
  testing::TempDir dir_;
  std::unique_ptr<FileBlobStore> store_;
};

TEST_F(FileBlobStoreTest, PutGetStatAndRanges) {
  write_file(dir_ / "local.bin", "0123456789");
  ASSERT_TRUE(store_->put_file("outputs/job_1/output.bin", dir_ / "local.bin").is_ok());
  EXPECT_EQ(store_->stat("outputs/job_1/output.bin")->size, 10);
  EXPECT_EQ(*store_->read_range("outputs/job_1/output.bin", 3, 4), "3456");
  EXPECT_EQ(*store_->read_range("outputs/job_1/output.bin", 8, 100), "89");
  ASSERT_TRUE(store_->get_file("outputs/job_1/output.bin", dir_ / "copy.bin").is_ok());
  std::ifstream in(dir_ / "copy.bin");
  std::string copy((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(copy, "0123456789");
  EXPECT_EQ(store_->stat("outputs/job_1/missing").status().code(), StatusCode::kNotFound);
}

TEST_F(FileBlobStoreTest, PutReplacesWholeObjectAndLeavesNoTemporaryFiles) {
  write_file(dir_ / "a", "first version");
  write_file(dir_ / "b", "second");
  ASSERT_TRUE(store_->put_file("k/x", dir_ / "a").is_ok());
  ASSERT_TRUE(store_->put_file("k/x", dir_ / "b").is_ok());
  EXPECT_EQ(*store_->read_range("k/x", 0, 100), "second");
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "store")) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
}

TEST_F(FileBlobStoreTest, ListAndRemovePrefix) {
  write_file(dir_ / "f", "x");
  for (const char* key : {"jobs/j1/segments/chunk-00001.mp4", "jobs/j1/segments/chunk-00000.mp4", "jobs/j2/a"}) {
    ASSERT_TRUE(store_->put_file(key, dir_ / "f").is_ok());
  }
  auto keys = store_->list("jobs/j1");
  ASSERT_TRUE(keys.is_ok());
  EXPECT_EQ(*keys, (std::vector<std::string>{"jobs/j1/segments/chunk-00000.mp4", "jobs/j1/segments/chunk-00001.mp4"}));
  ASSERT_TRUE(store_->remove_prefix("jobs/j1").is_ok());
  EXPECT_TRUE(store_->list("jobs/j1")->empty());
  EXPECT_EQ(store_->list("jobs/j2")->size(), 1u);
  EXPECT_TRUE(store_->remove("jobs/j2/missing").is_ok());
}

TEST_F(FileBlobStoreTest, EveryOperationRefusesBadKeys) {
  write_file(dir_ / "f", "x");
  write_file(dir_ / "outside", "secret");
  EXPECT_EQ(store_->put_file("../outside", dir_ / "f").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->get_file("../outside", dir_ / "g").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->read_range("../outside", 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->remove_prefix("..").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->stat("/etc/passwd").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FileBlobStoreTest, SymlinkOutOfTheRootIsRefused) {
  write_file(dir_ / "outside" / "secret", "secret");
  fs::create_directory_symlink(dir_ / "outside", dir_ / "store" / "link");
  EXPECT_EQ(store_->read_range("link/secret", 0, 10).status().code(), StatusCode::kInvalidArgument);
}

TEST(BlobStoreUri, FileS3AndPlainPathsOpenOthersAreUnsupported) {
  testing::TempDir dir;
  EXPECT_TRUE(open_blob_store("file://" + (dir.path() / "s").string()).is_ok());
  EXPECT_TRUE(open_blob_store((dir.path() / "t").string()).is_ok());
  EXPECT_TRUE(open_blob_store("s3://bucket/prefix").is_ok());  // opening contacts no server
  EXPECT_EQ(open_blob_store("gs://bucket/prefix").status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace facefuse::storage
