// The free-space reserve: writes are refused at or below it with 507's code, never above.
#include <gtest/gtest.h>

#include "facefuse/core/error_codes.h"
#include "facefuse/storage/free_space.h"
#include "support/test_support.h"

namespace facefuse::storage {
namespace {

TEST(FreeSpace, ReserveAboveWhatIsFreeRefusesWithInsufficientStorage) {
  testing::TempDir dir;
  auto free = free_bytes(dir.path());
  ASSERT_TRUE(free.is_ok()) << free.status().to_string();
  ASSERT_GT(*free, 0u);
  EXPECT_TRUE(check_free_space(dir.path(), 0).is_ok()) << "no reserve";
  EXPECT_TRUE(check_free_space(dir.path(), 1).is_ok());
  Status full = check_free_space(dir.path(), *free + (uint64_t{1} << 40));
  EXPECT_EQ(full.code(), StatusCode::kInsufficientStorage);
  EXPECT_EQ(http_status_for(full.code()), 507);
  EXPECT_NE(full.message().find("delete"), std::string::npos) << "says how to free space: " << full.message();
  EXPECT_EQ(full.message().find(dir.path().string()), std::string::npos) << "no server path: " << full.message();
}

TEST(FreeSpace, UnqueryableDirectoryCountsAsFull) {
  EXPECT_EQ(check_free_space("/nonexistent/facefuse/data", 1).code(), StatusCode::kInsufficientStorage);
  EXPECT_TRUE(check_free_space("/nonexistent/facefuse/data", 0).is_ok());
}

TEST(FreeSpace, BallastIsAllocatedOnlyWithRoomAndReleasedOnce) {
  testing::TempDir dir;
  const auto ballast = dir.path() / "disk_ballast";
  ASSERT_TRUE(ensure_ballast(ballast, 1 << 20, 0).is_ok());
  ASSERT_TRUE(std::filesystem::exists(ballast));
  EXPECT_EQ(std::filesystem::file_size(ballast), 1u << 20);
  EXPECT_TRUE(ensure_ballast(ballast, 1 << 20, 0).is_ok()) << "present: a no-op";
  EXPECT_TRUE(release_ballast(ballast));
  EXPECT_FALSE(release_ballast(ballast));
  auto free = free_bytes(dir.path());
  ASSERT_TRUE(free.is_ok());
  ASSERT_TRUE(ensure_ballast(ballast, 1 << 20, *free).is_ok());
  EXPECT_FALSE(std::filesystem::exists(ballast)) << "never allocated into the reserve";
}

}  // namespace
}  // namespace facefuse::storage
