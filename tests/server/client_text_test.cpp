// Echoed client bytes become valid, bounded UTF-8 (issue 10 item 1: GET /nonexistent%ff aborted
// the server); JSON nesting is measured without recursion (item 3).
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "facefuse/server/client_text.h"
#include "facefuse/server/http_server.h"

namespace facefuse::server {
namespace {

TEST(ClientText, InvalidUtf8BecomesReplacementAndSerialises) {
  for (std::string bad : {std::string("/nonexistent\xff"), std::string("/media/\xc0\xae\xc0\xae"),
                          std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("ab\xe2\x82")}) {
    std::string safe = client_text(bad);
    EXPECT_TRUE(is_valid_utf8(safe)) << safe;
    nlohmann::json message = {{"message", safe}};
    EXPECT_NO_THROW((void)message.dump()) << safe;
    EXPECT_NE(safe.find("\xEF\xBF\xBD"), std::string::npos) << safe;
  }
  EXPECT_EQ(client_text("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // valid text unchanged
  EXPECT_EQ(client_text("a\r\nb\x01"), "a??b?");
}

TEST(ClientText, IsCutAtACharacterBoundary) {
  std::string euros;
  for (int i = 0; i < 100; ++i) euros += "\xe2\x82\xac";  // 3 bytes each
  std::string cut = client_text(euros, 200);
  EXPECT_LE(cut.size(), 200u);
  EXPECT_TRUE(is_valid_utf8(cut));
  EXPECT_EQ(cut.substr(cut.size() - 3), "...");
  EXPECT_EQ(client_text(std::string(5000, 'x'), 200).size(), 200u);
}

TEST(JsonNesting, CountsBracketsOutsideStringsOnly) {
  std::string deep(5000, '[');
  deep += std::string(5000, ']');
  EXPECT_TRUE(json_nesting_exceeds(deep, 64));
  EXPECT_FALSE(json_nesting_exceeds(R"({"a": [1, {"b": "[[[[[[[[[[\"[[[["}]})", 3));
  EXPECT_FALSE(json_nesting_exceeds(std::string(64, '[') + std::string(64, ']'), 64));
  EXPECT_TRUE(json_nesting_exceeds(std::string(65, '{'), 64));
}

TEST(PercentDecode, DecodesOnceAndKeepsMalformedEscapes) {
  EXPECT_EQ(percent_decode_path("/media/%2e%2e/x"), "/media/../x");
  EXPECT_EQ(percent_decode_path("/a%252e"), "/a%2e");
  EXPECT_EQ(percent_decode_path("/a%zz%4"), "/a%zz%4");
  EXPECT_EQ(percent_decode_path("/a+b"), "/a+b");
  EXPECT_EQ(percent_decode_path("/x%ff"), "/x\xff");
}

TEST(ListenAddress, PortAloneMeansLoopback) {
  auto a = parse_listen_address("8080").value();
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  EXPECT_EQ(a.authority(), "127.0.0.1:8080");
  auto b = parse_listen_address("0.0.0.0:0").value();
  EXPECT_EQ(b.host, "0.0.0.0");
  EXPECT_EQ(b.port, 0);
  auto c = parse_listen_address("[::1]:9000").value();
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.authority(), "[::1]:9000");
  for (const char* bad : {"", ":80", "host:", "host:65536", "host:-1", "::1:80", "[::1]80", "a:b"}) {
    EXPECT_FALSE(parse_listen_address(bad).is_ok()) << bad;
  }
}

}  // namespace
}  // namespace facefuse::server
