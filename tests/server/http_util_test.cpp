// Range requests and query strings as the media and list routes read them.
#include <gtest/gtest.h>

#include "facefuse/server/http_util.h"

namespace facefuse::server {
namespace {

ByteRange range_of(std::string_view header, int64_t size) {
  auto r = parse_byte_range(header, size);
  EXPECT_TRUE(r.is_ok()) << header;
  EXPECT_TRUE(r.is_ok() && r->has_value()) << header;
  return r.is_ok() && r->has_value() ? **r : ByteRange{-1, -1};
}

TEST(ByteRange, ParsesTheThreeSingleRangeForms) {
  ByteRange a = range_of("bytes=0-99", 1000);
  EXPECT_EQ(a.first, 0);
  EXPECT_EQ(a.last, 99);
  EXPECT_EQ(a.length(), 100);
  ByteRange open = range_of("bytes=900-", 1000);
  EXPECT_EQ(open.first, 900);
  EXPECT_EQ(open.last, 999);
  ByteRange suffix = range_of("bytes=-10", 1000);
  EXPECT_EQ(suffix.first, 990);
  EXPECT_EQ(suffix.last, 999);
  ByteRange clipped = range_of("bytes=990-5000", 1000);
  EXPECT_EQ(clipped.last, 999);
  EXPECT_EQ(range_of("bytes=-5000", 1000).first, 0);
}

TEST(ByteRange, UnsatisfiableIsLimitExceeded) {
  EXPECT_EQ(parse_byte_range("bytes=1000-", 1000).status().code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(parse_byte_range("bytes=5000-6000", 1000).status().code(), StatusCode::kLimitExceeded);
  EXPECT_EQ(parse_byte_range("bytes=-0", 1000).status().code(), StatusCode::kLimitExceeded);
}

TEST(ByteRange, MissingOrUnusableHeadersServeTheWholeObject) {
  for (const char* h : {"", "items=0-1", "bytes=a-b", "bytes=5-2", "bytes=0-1,4-5", "bytes=-"}) {
    auto r = parse_byte_range(h, 1000);
    ASSERT_TRUE(r.is_ok()) << h;
    EXPECT_FALSE(r->has_value()) << h;
  }
}

TEST(Query, DecodesPairs) {
  auto q = parse_query("status=completed&limit=5&cursor=a%2Fb&flag&name=x+y");
  EXPECT_EQ(q["status"], "completed");
  EXPECT_EQ(q["limit"], "5");
  EXPECT_EQ(q["cursor"], "a/b");
  EXPECT_EQ(q["name"], "x y");
  EXPECT_EQ(q.count("flag"), 1u);
}

TEST(ContentType, ByOutputExtension) {
  EXPECT_STREQ(content_type_for("outputs/j/output.jpg"), "image/jpeg");
  EXPECT_STREQ(content_type_for("outputs/j/output.mp4"), "video/mp4");
  EXPECT_STREQ(content_type_for("outputs/j/output"), "application/octet-stream");
}

TEST(BearerToken, SchemeIsCaseInsensitive) {
  EXPECT_EQ(bearer_token("Bearer ff_abc"), "ff_abc");
  EXPECT_EQ(bearer_token("bearer ff_abc"), "ff_abc") << "RFC 9110: auth schemes are case-insensitive";
  EXPECT_EQ(bearer_token("BEARER   ff_abc  "), "ff_abc");
  EXPECT_EQ(bearer_token("Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(bearer_token("Bearer"), "");
  EXPECT_EQ(bearer_token("Bearerff_abc"), "");
  EXPECT_EQ(bearer_token(""), "");
}

TEST(WebSocketCredentials, KeyFromTheBearerSubprotocolAndThePlainOneEchoed) {
  WebSocketCredentials both = websocket_credentials("facefuse.v1, facefuse.bearer.ff_abc");
  EXPECT_EQ(both.key, "ff_abc");
  EXPECT_EQ(both.protocol, "facefuse.v1") << "the key is not echoed when the plain protocol was offered";
  WebSocketCredentials only = websocket_credentials("facefuse.bearer.ff_abc");
  EXPECT_EQ(only.key, "ff_abc");
  EXPECT_EQ(only.protocol, "facefuse.bearer.ff_abc") << "a browser needs one of its offers back";
  WebSocketCredentials none = websocket_credentials("chat, superchat");
  EXPECT_EQ(none.key, "");
  EXPECT_EQ(none.protocol, "");
  EXPECT_EQ(websocket_credentials("").protocol, "");
}

}  // namespace
}  // namespace facefuse::server
