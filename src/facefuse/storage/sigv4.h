// AWS Signature Version 4 (HMAC-SHA256) for S3-compatible object storage: the canonical request,
// the string to sign, the signing key, the Authorization header, and query presigning (URLs a
// browser or curl can use without credentials until they expire). Checked against AWS's published
// SigV4 test-suite vectors (tests/storage/sigv4_suite) and the presigned-URL example of the S3 docs.
//
// Paths are never normalised ("." / ".." segments are kept as they are, as S3 wants) and encoded
// once. Pure functions: all are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace facefuse::storage {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials (STS)
};

struct SigV4Scope {
  std::string region;            // "us-east-1"
  std::string service = "s3";
};

// Hex SHA-256 of the empty string: the payload hash of a request without a body.
inline constexpr std::string_view kEmptyPayloadSha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// The payload hash S3 accepts in place of the body's digest (streamed bodies, presigned URLs).
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SigV4Request {
  std::string method = "GET";
  std::string path = "/";  // decoded ("/bucket/my key"); the signer encodes every byte but A-Za-z0-9-._~ and '/'
  HeaderList query;        // decoded names and values, in any order
  HeaderList headers;      // as they will be sent; must include host. Names in any case
  std::string payload_sha256 = std::string(kEmptyPayloadSha256);  // lowercase hex, or kUnsignedPayload
};

// RFC 3986 encoding as SigV4 wants it: A-Za-z0-9-._~ kept, every other byte as %XX (uppercase hex);
// '/' kept too when `keep_slash` (paths), encoded otherwise (query names and values).
std::string aws_uri_encode(std::string_view text, bool keep_slash);

// The canonical query string of `query` (decoded pairs): names and values encoded, sorted, joined
// with '&' — also the form to put in a URL.
std::string sigv4_canonical_query(const HeaderList& query);

// "20150830T123600Z" for a time in Unix seconds (UTC).
std::string amz_date(int64_t unix_seconds);

// The raw 32-byte key for `date` ("20150830"): HMAC chain over "AWS4"+secret, date, region, service,
// "aws4_request".
std::string sigv4_signing_key(std::string_view secret_access_key, std::string_view date, const SigV4Scope& scope);

struct SigV4HeaderSignature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lowercase hex
  std::string authorization;  // the Authorization header's value
  // Headers to send besides the request's own: x-amz-date, x-amz-security-token (when there is a
  // token), x-amz-content-sha256 (when asked for) — all of them signed.
  HeaderList added_headers;
};

// Signs `request` at `unix_seconds` with an Authorization header. `add_content_sha256` adds the
// x-amz-content-sha256 header S3 requires (its value is request.payload_sha256).
SigV4HeaderSignature sigv4_sign_headers(const SigV4Request& request, const AwsCredentials& credentials,
                                        const SigV4Scope& scope, int64_t unix_seconds, bool add_content_sha256);

struct SigV4Presigned {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lowercase hex
  // The complete encoded query for the URL, X-Amz-Signature last ("A=1&X-Amz-Algorithm=...&X-Amz-Signature=...").
  std::string query;
};

// Presigns `request` for `expires_seconds` (1..604800) from `unix_seconds`. Every header of the
// request is signed (host always; content-type / content-length bind a presigned PUT to that type
// and size: the client must then send exactly those values).
SigV4Presigned sigv4_presign(const SigV4Request& request, const AwsCredentials& credentials, const SigV4Scope& scope,
                             int64_t unix_seconds, int64_t expires_seconds);

}  // namespace facefuse::storage
