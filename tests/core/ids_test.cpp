// The id rule shared by routes and storage keys (core/ids.h).
#include <gtest/gtest.h>

#include <string>

#include "facefuse/core/ids.h"

namespace facefuse {
namespace {

TEST(Ids, OneToSixtyFourWordCharacters) {
  EXPECT_TRUE(is_valid_id("job_0123456789abcdef"));
  EXPECT_TRUE(is_valid_id("A"));
  EXPECT_TRUE(is_valid_id(std::string(kMaxIdBytes, 'a')));
  EXPECT_FALSE(is_valid_id(std::string(kMaxIdBytes + 1, 'a')));
  for (const char* bad : {"", "job-1", "job.1", "job/1", "..", "job 1", "jöb", "job%2F"}) {
    EXPECT_FALSE(is_valid_id(bad)) << bad;
  }
}

}  // namespace
}  // namespace facefuse
