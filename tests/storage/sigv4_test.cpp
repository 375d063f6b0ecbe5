// storage/sigv4 against AWS's published SigV4 test-suite vectors (tests/storage/sigv4_suite, see its
// README) — canonical request, string to sign and signature, for both the Authorization-header and
// the query (presigned) variant — and against the presigned-URL and GET-object examples of the S3
// API reference ("Authenticating Requests: Using Query Parameters" / "Using the Authorization Header").
#include "facefuse/storage/sigv4.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "facefuse/storage/crypto.h"
#include "support/test_support.h"

namespace facefuse::storage {
namespace {

namespace fs = std::filesystem;
using facefuse::testing::read_file_bytes;

const fs::path kSuite = fs::path(FACEFUSE_SOURCE_DIR) / "tests/storage/sigv4_suite";

int hex_value(char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::toupper(c) - 'A' + 10); }

std::string percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// request.txt: "METHOD PATH[?QUERY] HTTP/1.1", "Name:value" lines, a blank line, the body.
struct SuiteCase {
  SigV4Request request;
  AwsCredentials credentials;
  SigV4Scope scope;
  int64_t time = 0;
  int64_t expires = 0;
  bool sign_body = false;
};

SuiteCase load_case(const std::string& name) {
  SuiteCase c;
  const fs::path dir = kSuite / name;
  const auto context = nlohmann::json::parse(read_file_bytes(dir / "context.json"));
  c.credentials.access_key_id = context["credentials"]["access_key_id"];
  c.credentials.secret_access_key = context["credentials"]["secret_access_key"];
  // omit_session_token: the token is added after signing, so it is not part of the signature.
  if (context["credentials"].contains("token") && !context.value("omit_session_token", false)) {
    c.credentials.session_token = context["credentials"]["token"];
  }
  c.scope = {context["region"], context["service"]};
  c.expires = context["expiration_in_seconds"];
  c.sign_body = context["sign_body"];
  EXPECT_EQ(context["timestamp"], "2015-08-30T12:36:00Z");
  c.time = 1440938160;  // 2015-08-30T12:36:00Z

  const std::string text = read_file_bytes(dir / "request.txt");
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  const size_t space1 = line.find(' ');
  const size_t space2 = line.rfind(' ');
  c.request.method = line.substr(0, space1);
  std::string target = line.substr(space1 + 1, space2 - space1 - 1);
  const size_t question = target.find('?');
  c.request.path = target.substr(0, question);
  if (question != std::string::npos) {
    std::string query = target.substr(question + 1);
    size_t start = 0;
    while (start <= query.size()) {
      size_t end = query.find('&', start);
      if (end == std::string::npos) end = query.size();
      std::string pair = query.substr(start, end - start);
      const size_t eq = pair.find('=');
      c.request.query.emplace_back(percent_decode(pair.substr(0, eq)),
                                   eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1)));
      start = end + 1;
    }
  }
  size_t body_at = std::string::npos;
  size_t pos = text.find('\n') + 1;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string header = text.substr(pos, end - pos);
    if (header.empty()) {
      body_at = end + 1;
      break;
    }
    const size_t colon = header.find(':');
    c.request.headers.emplace_back(header.substr(0, colon), header.substr(colon + 1));
    pos = end + 1;
  }
  const std::string body = body_at < text.size() ? text.substr(body_at) : "";
  c.request.payload_sha256 = sha256_hex(body);
  return c;
}

class SigV4Suite : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4Suite, HeaderSigningMatchesTheVectors) {
  const SuiteCase c = load_case(GetParam());
  const fs::path dir = kSuite / GetParam();
  const auto signed_request = sigv4_sign_headers(c.request, c.credentials, c.scope, c.time, c.sign_body);
  EXPECT_EQ(signed_request.canonical_request, read_file_bytes(dir / "header-canonical-request.txt"));
  EXPECT_EQ(signed_request.string_to_sign, read_file_bytes(dir / "header-string-to-sign.txt"));
  EXPECT_EQ(signed_request.signature, read_file_bytes(dir / "header-signature.txt"));
  EXPECT_NE(signed_request.authorization.find("Signature=" + signed_request.signature), std::string::npos);
}

TEST_P(SigV4Suite, QueryPresigningMatchesTheVectors) {
  const SuiteCase c = load_case(GetParam());
  const fs::path dir = kSuite / GetParam();
  const auto presigned = sigv4_presign(c.request, c.credentials, c.scope, c.time, c.expires);
  EXPECT_EQ(presigned.canonical_request, read_file_bytes(dir / "query-canonical-request.txt"));
  EXPECT_EQ(presigned.string_to_sign, read_file_bytes(dir / "query-string-to-sign.txt"));
  EXPECT_EQ(presigned.signature, read_file_bytes(dir / "query-signature.txt"));
  EXPECT_TRUE(presigned.query.ends_with("&X-Amz-Signature=" + presigned.signature));
}

std::vector<std::string> suite_cases() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kSuite)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(AwsVectors, SigV4Suite, ::testing::ValuesIn(suite_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(SigV4Suite, HasEveryCopiedCase) { EXPECT_EQ(suite_cases().size(), 24u); }

// The S3 API reference's example credentials and time (Fri, 24 May 2013 00:00:00 GMT).
const AwsCredentials kS3DocCredentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr int64_t kS3DocTime = 1369353600;

TEST(SigV4S3Examples, PresignedGetOfTheDocs) {
  SigV4Request request;
  request.path = "/test.txt";
  request.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
  request.payload_sha256 = std::string(kUnsignedPayload);
  const auto presigned = sigv4_presign(request, kS3DocCredentials, {"us-east-1", "s3"}, kS3DocTime, 86400);
  EXPECT_EQ(presigned.canonical_request,
            "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
            "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
            "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
  EXPECT_EQ(presigned.signature, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4S3Examples, GetObjectWithRangeOfTheDocs) {
  SigV4Request request;
  request.path = "/test.txt";
  request.headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}};
  request.payload_sha256 = std::string(kEmptyPayloadSha256);
  const auto signed_request = sigv4_sign_headers(request, kS3DocCredentials, {"us-east-1", "s3"}, kS3DocTime, true);
  EXPECT_EQ(signed_request.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(signed_request.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Encoding, KeepsUnreservedAndEncodesTheRestOnce) {
  EXPECT_EQ(aws_uri_encode("a b/c~d%e+f", true), "a%20b/c~d%25e%2Bf");
  EXPECT_EQ(aws_uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(aws_uri_encode("\xE1\x88\xB4", false), "%E1%88%B4");
  EXPECT_EQ(amz_date(kS3DocTime), "20130524T000000Z");
}

TEST(SigV4Presign, ContentTypeAndLengthAreBoundIntoAPresignedPut) {
  SigV4Request request;
  request.method = "PUT";
  request.path = "/bucket/key.jpg";
  request.headers = {{"host", "s3.example"}, {"content-length", "123"}, {"content-type", "image/jpeg"}};
  request.payload_sha256 = std::string(kUnsignedPayload);
  const auto a = sigv4_presign(request, kS3DocCredentials, {"us-east-1", "s3"}, kS3DocTime, 600);
  EXPECT_NE(a.query.find("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"), std::string::npos);
  request.headers[1].second = "124";
  const auto b = sigv4_presign(request, kS3DocCredentials, {"us-east-1", "s3"}, kS3DocTime, 600);
  EXPECT_NE(a.signature, b.signature);
}

}  // namespace
}  // namespace facefuse::storage
