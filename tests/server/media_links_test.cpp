// Signed media links: what a link authorises (one path, until it expires), forgeries refused, and
// the per-data-directory secret kept private and stable across restarts.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "facefuse/server/http_util.h"
#include "facefuse/server/media_links.h"
#include "support/test_support.h"

namespace facefuse::server {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr const char* kPath = "/media/outputs/job_0123456789abcdef/output.jpg";

std::map<std::string, std::string> query_of(const std::string& url) {
  return parse_query(url.substr(url.find('?') + 1));
}

TEST(MediaLinks, SignedLinkVerifiesForItsPathUntilItExpires) {
  MediaLinkSigner signer("0123456789abcdef0123456789abcdef", 3600);
  const std::string url = signer.sign(kPath, kNow);
  ASSERT_EQ(url.rfind(std::string(kPath) + "?expires=", 0), 0u) << url;
  const auto query = query_of(url);
  EXPECT_EQ(query.at("expires"), std::to_string(kNow + 3600));
  EXPECT_EQ(query.at("sig").size(), 64u) << "hex HMAC-SHA256";
  EXPECT_TRUE(signer.verify(kPath, query, kNow).is_ok());
  EXPECT_TRUE(signer.verify(kPath, query, kNow + 3600).is_ok()) << "valid through its expiry second";
  Status expired = signer.verify(kPath, query, kNow + 3601);
  EXPECT_EQ(expired.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(expired.message().find("expired"), std::string::npos) << expired.message();
}

TEST(MediaLinks, ForgedOrMovedLinksAreRefused) {
  MediaLinkSigner signer("0123456789abcdef0123456789abcdef", 3600);
  auto query = query_of(signer.sign(kPath, kNow));
  EXPECT_EQ(signer.verify("/media/outputs/job_ffffffffffffffff/output.jpg", query, kNow).code(),
            StatusCode::kPermissionDenied) << "a signature covers its own path only";
  auto later = query;
  later["expires"] = std::to_string(kNow + 999999);
  EXPECT_EQ(signer.verify(kPath, later, kNow).code(), StatusCode::kPermissionDenied) << "expiry is signed";
  auto flipped = query;
  flipped["sig"][0] = flipped["sig"][0] == '0' ? '1' : '0';
  EXPECT_EQ(signer.verify(kPath, flipped, kNow).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(signer.verify(kPath, {{"expires", query["expires"]}}, kNow).code(), StatusCode::kPermissionDenied);
  auto junk = query;
  junk["expires"] = "12abc";
  EXPECT_EQ(signer.verify(kPath, junk, kNow).code(), StatusCode::kPermissionDenied);
  MediaLinkSigner other("another secret, another server....", 3600);
  EXPECT_EQ(other.verify(kPath, query, kNow).code(), StatusCode::kPermissionDenied);
}

TEST(MediaLinks, SignsOnlyUnsignedMediaUrlsOfJobJson) {
  MediaLinkSigner signer("0123456789abcdef0123456789abcdef", 60);
  nlohmann::json job = {{"job_id", "j"}, {"output_url", kPath}};
  sign_output_url(job, signer, kNow);
  EXPECT_EQ(job["output_url"], signer.sign(kPath, kNow));
  nlohmann::json pending = {{"job_id", "j"}, {"output_url", nullptr}};
  sign_output_url(pending, signer, kNow);
  EXPECT_TRUE(pending["output_url"].is_null());
}

TEST(MediaLinks, SecretFileIsPrivateAndStable) {
  testing::TempDir dir;
  auto first = MediaLinkSigner::open(dir.path(), 60);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "media_link.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = MediaLinkSigner::open(dir.path(), 60);
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(again->verify(kPath, query_of(first->sign(kPath, kNow)), kNow).is_ok())
      << "links survive a restart on the same data directory";
  ASSERT_EQ(::chmod((dir.path() / "media_link.key").c_str(), 0644), 0);
  EXPECT_EQ(MediaLinkSigner::open(dir.path(), 60).status().code(), StatusCode::kFailedPrecondition)
      << "a secret others could read is not used";
  testing::TempDir other;
  auto elsewhere = MediaLinkSigner::open(other.path(), 60);
  ASSERT_TRUE(elsewhere.is_ok());
  EXPECT_FALSE(elsewhere->verify(kPath, query_of(first->sign(kPath, kNow)), kNow).is_ok());
}

}  // namespace
}  // namespace facefuse::server
