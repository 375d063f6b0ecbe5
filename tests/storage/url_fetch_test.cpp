#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "facefuse/storage/http_request.h"
#include "facefuse/storage/url_fetch.h"
#include "support/http_fixture.h"
#include "support/test_support.h"

namespace facefuse::storage {
namespace {

namespace fs = std::filesystem;
using facefuse::testing::HttpFixture;
using facefuse::testing::TempDir;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// What the fixture's /bytes/<n> and /stream/<n> routes send.
std::string fixture_payload(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((i * 7) & 0xff));
  return out;
}

bool directory_is_empty(const fs::path& dir) { return fs::directory_iterator(dir) == fs::directory_iterator(); }

UrlFetchOptions allow_private() {
  UrlFetchOptions options;
  options.allow_private = true;
  return options;
}

TEST(IsPublicAddress, RefusesInternalRangesAndAcceptsPublicOnes) {
  for (const char* internal :
       {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "0.0.0.0", "100.64.0.1", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.2.10",
        "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "ff02::1", "::ffff:127.0.0.1",
        "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:c0a8:0101::1", "2001:db8::1", "localhost",
        "not an address", ""}) {
    EXPECT_FALSE(is_public_address(internal)) << internal;
  }
  for (const char* external : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "192.169.0.1", "100.128.0.1",
                               "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_TRUE(is_public_address(external)) << external;
  }
}

TEST(ResolveUrl, OnlyHttpAndHttpsSchemes) {
  for (const char* url : {"file:///etc/passwd", "ftp://8.8.8.8/x", "gopher://8.8.8.8/", "dict://8.8.8.8:11211/",
                          "javascript:alert(1)", "not a url", "/relative/path"}) {
    auto resolved = resolve_url(url, /*allow_private=*/true);
    ASSERT_FALSE(resolved) << url;
    EXPECT_EQ(resolved.status().code(), StatusCode::kInvalidArgument) << url;
  }
  auto ok = resolve_url("https://8.8.8.8/photo.jpg", false);
  ASSERT_TRUE(ok) << ok.status().to_string();
  EXPECT_EQ(ok->scheme, "https");
  EXPECT_EQ(ok->port, 443);
  EXPECT_EQ(ok->addresses, std::vector<std::string>{"8.8.8.8"});
}

TEST(ResolveUrl, RefusesNamesAndSpellingsOfInternalAddresses) {
  for (const char* url : {"http://127.0.0.1/", "http://localhost:8080/x", "http://[::1]/", "http://2130706433/",
                          "http://0x7f.1/", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]/",
                          "http://0/"}) {
    auto resolved = resolve_url(url, /*allow_private=*/false);
    ASSERT_FALSE(resolved) << url << " resolved to " << resolved->addresses.front();
    EXPECT_EQ(resolved.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(resolved.status().message().find("--allow-private-urls"), std::string::npos) << resolved.status().message();
  }
  auto allowed = resolve_url("http://127.0.0.1:8080/x", /*allow_private=*/true);
  ASSERT_TRUE(allowed) << allowed.status().to_string();
  EXPECT_EQ(allowed->addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(allowed->port, 8080);
}

TEST(UrlFetch, RefusesLoopbackByDefaultAndWritesNothing) {
  HttpFixture server;
  ASSERT_GT(server.port(), 0);
  TempDir dir;
  auto fetched = fetch_url_to_file(server.url("/bytes/100"), dir / "in.bin");
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(fetched.status().message().find("127.0.0.1"), std::string::npos) << fetched.status().message();
  EXPECT_TRUE(directory_is_empty(dir.path()));
}

TEST(UrlFetch, FetchesWhenPrivateAddressesAreAllowed) {
  HttpFixture server;
  ASSERT_GT(server.port(), 0);
  TempDir dir;
  std::ofstream(dir / "in.bin") << "old content";
  auto fetched = fetch_url_to_file(server.url("/bytes/100000"), dir / "in.bin", allow_private());
  ASSERT_TRUE(fetched) << fetched.status().to_string();
  EXPECT_EQ(fetched->bytes, 100000u);
  EXPECT_EQ(fetched->content_type, "application/octet-stream");
  EXPECT_EQ(read_file(dir / "in.bin"), fixture_payload(100000));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);  // no temp file left
}

TEST(UrlFetch, SizeLimitFailsWithAndWithoutContentLength) {
  HttpFixture server;
  ASSERT_GT(server.port(), 0);
  TempDir dir;
  UrlFetchOptions options = allow_private();
  options.max_bytes = 1000;
  for (const char* path : {"/bytes/1001", "/stream/5000"}) {
    auto fetched = fetch_url_to_file(server.url(path), dir / "in.bin", options);
    ASSERT_FALSE(fetched) << path;
    EXPECT_EQ(fetched.status().code(), StatusCode::kLimitExceeded) << path << ": " << fetched.status().to_string();
    EXPECT_NE(fetched.status().message().find("1000 bytes"), std::string::npos) << fetched.status().message();
    EXPECT_TRUE(directory_is_empty(dir.path())) << path;
  }
  auto exact = fetch_url_to_file(server.url("/stream/1000"), dir / "in.bin", options);
  ASSERT_TRUE(exact) << exact.status().to_string();
  EXPECT_EQ(read_file(dir / "in.bin"), fixture_payload(1000));
}

TEST(UrlFetch, HttpErrorsCarryTheirStatus) {
  HttpFixture server;
  ASSERT_GT(server.port(), 0);
  TempDir dir;
  const struct {
    int http_status;
    StatusCode code;
  } cases[] = {{404, StatusCode::kNotFound}, {410, StatusCode::kNotFound}, {403, StatusCode::kInvalidArgument},
               {500, StatusCode::kUnavailable}, {503, StatusCode::kUnavailable}};
  for (const auto& c : cases) {
    auto fetched = fetch_url_to_file(server.url("/status/" + std::to_string(c.http_status)), dir / "in.bin", allow_private());
    ASSERT_FALSE(fetched) << c.http_status;
    EXPECT_EQ(fetched.status().code(), c.code) << fetched.status().to_string();
    EXPECT_NE(fetched.status().message().find("HTTP " + std::to_string(c.http_status)), std::string::npos)
        << fetched.status().message();
  }
  EXPECT_TRUE(directory_is_empty(dir.path()));
}

TEST(UrlFetch, FollowsRedirectsUpToTheLimitAndChecksEveryHop) {
  HttpFixture server;
  ASSERT_GT(server.port(), 0);
  TempDir dir;
  auto redirected = fetch_url_to_file(server.url("/redirect?to=/bytes/10"), dir / "in.bin", allow_private());
  ASSERT_TRUE(redirected) << redirected.status().to_string();
  EXPECT_EQ(redirected->final_url, server.url("/bytes/10"));
  EXPECT_EQ(read_file(dir / "in.bin"), fixture_payload(10));

  auto loop = fetch_url_to_file(server.url("/loop"), dir / "loop.bin", allow_private());
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loop.status().message().find("redirects more than 3 times"), std::string::npos) << loop.status().message();

  // The hop after the redirect is checked like the first request: a file: URL is refused.
  auto to_file = fetch_url_to_file(server.url("/redirect?to=file:///etc/passwd"), dir / "passwd", allow_private());
  ASSERT_FALSE(to_file);
  EXPECT_EQ(to_file.status().code(), StatusCode::kInvalidArgument) << to_file.status().to_string();
  EXPECT_FALSE(fs::exists(dir / "passwd"));
  EXPECT_FALSE(fs::exists(dir / "loop.bin"));
}

TEST(UrlFetch, UnreachableServerIsUnavailable) {
  int port = 0;
  {
    HttpFixture server;  // a port that was just free and is closed again
    ASSERT_GT(server.port(), 0);
    port = server.port();
  }
  TempDir dir;
  auto fetched = fetch_url_to_file("http://127.0.0.1:" + std::to_string(port) + "/bytes/1", dir / "in.bin", allow_private());
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.status().code(), StatusCode::kUnavailable) << fetched.status().to_string();
  EXPECT_TRUE(directory_is_empty(dir.path()));
}

}  // namespace
}  // namespace facefuse::storage
