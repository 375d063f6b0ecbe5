// Route patterns without regex: ids bounded, tails, and paths of any length matched in linear
// time without recursion (issue 10 item 2).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "facefuse/server/router.h"

namespace facefuse::server {
namespace {

TEST(RoutePattern, MatchesLiteralsIdsAndTails) {
  auto job = RoutePattern::parse("/api/v1/jobs/([A-Za-z0-9_]+)/cancel").value();
  std::vector<std::string> c;
  ASSERT_TRUE(job.match("/api/v1/jobs/job_123/cancel", c));
  EXPECT_EQ(c, std::vector<std::string>{"job_123"});
  EXPECT_FALSE(job.match("/api/v1/jobs/job_123", c));
  EXPECT_FALSE(job.match("/api/v1/jobs/job_123/cancel/", c));
  EXPECT_FALSE(job.match("/api/v1/jobs/../cancel", c));
  EXPECT_FALSE(job.match("/api/v1/jobs//cancel", c));
  auto media = RoutePattern::parse("/media/(.*)").value();
  ASSERT_TRUE(media.match("/media/outputs/job_1/output.jpg", c));
  EXPECT_EQ(c, std::vector<std::string>{"outputs/job_1/output.jpg"});
  ASSERT_TRUE(media.match("/media/", c));
  EXPECT_EQ(c, std::vector<std::string>{""});
  EXPECT_FALSE(media.match("/media", c));
  auto root = RoutePattern::parse("/").value();
  EXPECT_TRUE(root.match("/", c));
  EXPECT_FALSE(root.match("/x", c));
}

TEST(RoutePattern, IdsAreBoundedBeforeAnythingElse) {
  auto job = RoutePattern::parse("/api/v1/jobs/([A-Za-z0-9_]+)").value();
  std::vector<std::string> c;
  EXPECT_TRUE(job.match("/api/v1/jobs/" + std::string(kMaxIdBytes, 'a'), c));
  EXPECT_FALSE(job.match("/api/v1/jobs/" + std::string(kMaxIdBytes + 1, 'a'), c));
  EXPECT_FALSE(job.match("/api/v1/jobs/ab%ff", c));
  EXPECT_FALSE(job.match("/api/v1/jobs/\xff", c));
}

TEST(RoutePattern, VeryLongPathsAreMatchedWithoutRecursion) {
  // std::regex_match recursed per character: a few hundred KiB of path overflowed any stack.
  std::string path = "/media/" + std::string(1 << 20, 'a');
  auto media = RoutePattern::parse("/media/(.*)").value();
  auto job = RoutePattern::parse("/api/v1/jobs/([A-Za-z0-9_]+)").value();
  std::vector<std::string> c;
  EXPECT_TRUE(media.match(path, c));
  EXPECT_EQ(c[0].size(), size_t{1} << 20);
  EXPECT_FALSE(job.match("/api/v1/jobs/" + std::string(1 << 20, 'b'), c));
}

TEST(RoutePattern, RefusesRegexOutsideTheSubset) {
  EXPECT_FALSE(RoutePattern::parse("/api/v1/jobs/([a-z]+)").is_ok());
  EXPECT_FALSE(RoutePattern::parse("/media/(.*)/x").is_ok());
  EXPECT_FALSE(RoutePattern::parse("api").is_ok());
  EXPECT_FALSE(RoutePattern::parse("/a|b").is_ok());
}

}  // namespace
}  // namespace facefuse::server
