#include "facefuse/storage/sigv4.h"

#include <algorithm>
#include <ctime>
#include <map>

#include <fmt/format.h>

#include "facefuse/storage/crypto.h"

namespace facefuse::storage {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Header values as SigV4 canonicalises them: surrounding whitespace trimmed, inner runs of spaces
// collapsed to one.
std::string canonical_header_value(std::string_view value) {
  std::string out;
  bool in_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out += ' ';
    in_space = false;
    out += c;
  }
  return out;
}

struct CanonicalHeaders {
  std::string block;   // "name:value\n" per header, sorted by name
  std::string signed_names;  // "host;x-amz-date"
};

CanonicalHeaders canonical_headers(const HeaderList& headers) {
  // Same-name headers are joined with ',' in the order they were given (the suite's
  // get-header-key-duplicate); std::map sorts the names.
  std::map<std::string, std::string> joined;
  for (const auto& [name, value] : headers) {
    std::string& slot = joined[to_lower(name)];
    if (!slot.empty()) slot += ',';
    slot += canonical_header_value(value);
  }
  CanonicalHeaders out;
  for (const auto& [name, value] : joined) {
    out.block += fmt::format("{}:{}\n", name, value);
    if (!out.signed_names.empty()) out.signed_names += ';';
    out.signed_names += name;
  }
  return out;
}

}  // namespace

std::string sigv4_canonical_query(const HeaderList& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) encoded.emplace_back(aws_uri_encode(name, false), aws_uri_encode(value, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

namespace {

std::string canonical_request(const SigV4Request& request, const std::string& query, const CanonicalHeaders& headers) {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, aws_uri_encode(request.path, true), query, headers.block,
                     headers.signed_names, request.payload_sha256);
}

std::string credential_scope(std::string_view date, const SigV4Scope& scope) {
  return fmt::format("{}/{}/{}/aws4_request", date, scope.region, scope.service);
}

std::string string_to_sign(std::string_view timestamp, std::string_view scope, std::string_view canonical) {
  return fmt::format("{}\n{}\n{}\n{}", kAlgorithm, timestamp, scope, sha256_hex(canonical));
}

}  // namespace

std::string aws_uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string amz_date(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buffer[20];
  std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &utc);
  return buffer;
}

std::string sigv4_signing_key(std::string_view secret_access_key, std::string_view date, const SigV4Scope& scope) {
  std::string key = hmac_sha256("AWS4" + std::string(secret_access_key), date);
  key = hmac_sha256(key, scope.region);
  key = hmac_sha256(key, scope.service);
  return hmac_sha256(key, "aws4_request");
}

SigV4HeaderSignature sigv4_sign_headers(const SigV4Request& request, const AwsCredentials& credentials,
                                        const SigV4Scope& scope, int64_t unix_seconds, bool add_content_sha256) {
  SigV4HeaderSignature out;
  const std::string timestamp = amz_date(unix_seconds);
  const std::string date = timestamp.substr(0, 8);
  out.added_headers.emplace_back("x-amz-date", timestamp);
  if (!credentials.session_token.empty()) out.added_headers.emplace_back("x-amz-security-token", credentials.session_token);
  if (add_content_sha256) out.added_headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  HeaderList all = request.headers;
  all.insert(all.end(), out.added_headers.begin(), out.added_headers.end());
  const CanonicalHeaders headers = canonical_headers(all);
  const std::string scope_text = credential_scope(date, scope);
  out.canonical_request = canonical_request(request, sigv4_canonical_query(request.query), headers);
  out.string_to_sign = string_to_sign(timestamp, scope_text, out.canonical_request);
  out.signature = hex_encode(hmac_sha256(sigv4_signing_key(credentials.secret_access_key, date, scope), out.string_to_sign));
  out.authorization = fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}", kAlgorithm,
                                  credentials.access_key_id, scope_text, headers.signed_names, out.signature);
  return out;
}

SigV4Presigned sigv4_presign(const SigV4Request& request, const AwsCredentials& credentials, const SigV4Scope& scope,
                             int64_t unix_seconds, int64_t expires_seconds) {
  SigV4Presigned out;
  const std::string timestamp = amz_date(unix_seconds);
  const std::string date = timestamp.substr(0, 8);
  const std::string scope_text = credential_scope(date, scope);
  const CanonicalHeaders headers = canonical_headers(request.headers);
  HeaderList query = request.query;
  query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  query.emplace_back("X-Amz-Credential", credentials.access_key_id + "/" + scope_text);
  query.emplace_back("X-Amz-Date", timestamp);
  query.emplace_back("X-Amz-Expires", std::to_string(expires_seconds));
  if (!credentials.session_token.empty()) query.emplace_back("X-Amz-Security-Token", credentials.session_token);
  query.emplace_back("X-Amz-SignedHeaders", headers.signed_names);
  const std::string canonical = sigv4_canonical_query(query);
  out.canonical_request = canonical_request(request, canonical, headers);
  out.string_to_sign = string_to_sign(timestamp, scope_text, out.canonical_request);
  out.signature = hex_encode(hmac_sha256(sigv4_signing_key(credentials.secret_access_key, date, scope), out.string_to_sign));
  out.query = canonical + "&X-Amz-Signature=" + out.signature;
  return out;
}

}  // namespace facefuse::storage
