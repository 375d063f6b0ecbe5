#include "facefuse/storage/s3_blob_store.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "facefuse/storage/aws_credentials.h"
#include "facefuse/storage/crypto.h"

namespace facefuse::storage {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMinPartSize = int64_t{5} << 20;  // S3's smallest part but the last, bytes
constexpr int kMaxParts = 10000;                    // S3's limit of parts per upload
constexpr size_t kMaxErrorBody = 64 << 10;          // bytes of an error answer kept for its message
constexpr int64_t kMaxPresignSeconds = 604800;      // SigV4's longest presigned URL (7 days)
constexpr int kDeleteBatch = 1000;                  // keys per DeleteObjects request (S3's limit)

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Inner text of every <tag>…</tag> of a (flat, trusted-shape) S3 XML answer, entities decoded.
std::vector<std::string> xml_values(std::string_view xml, std::string_view tag) {
  std::vector<std::string> out;
  const std::string open = fmt::format("<{}>", tag);
  const std::string close = fmt::format("</{}>", tag);
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    const size_t start = pos + open.size();
    const size_t end = xml.find(close, start);
    if (end == std::string_view::npos) break;
    std::string value(xml.substr(start, end - start));
    std::string decoded;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] != '&') {
        decoded += value[i];
        continue;
      }
      const size_t semi = value.find(';', i);
      const std::string entity = semi == std::string::npos ? "" : value.substr(i, semi - i + 1);
      if (entity == "&amp;") decoded += '&';
      else if (entity == "&lt;") decoded += '<';
      else if (entity == "&gt;") decoded += '>';
      else if (entity == "&quot;") decoded += '"';
      else if (entity == "&apos;") decoded += '\'';
      else {
        decoded += '&';
        continue;
      }
      i = semi;
    }
    out.push_back(std::move(decoded));
    pos = end + close.size();
  }
  return out;
}

std::string xml_value(std::string_view xml, std::string_view tag) {
  auto values = xml_values(xml, tag);
  return values.empty() ? "" : values.front();
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// "2026-12-06T06:12:44.123Z" (ListObjectsV2's LastModified, always UTC) → Unix ms; 0 when malformed.
int64_t parse_iso8601_ms(const std::string& text) {
  std::tm t{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &t.tm_year, &t.tm_mon, &t.tm_mday, &t.tm_hour, &t.tm_min,
                  &t.tm_sec) != 6) {
    return 0;
  }
  if (text.size() > 20 && text[19] == '.') millis = std::atoi(text.substr(20, 3).c_str());
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&t)) * 1000 + millis;
}

// Base64 of the MD5 of `data`: the Content-MD5 header S3 requires on DeleteObjects.
std::string content_md5(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr);
  unsigned char encoded[64];
  const int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(length));
  return std::string(reinterpret_cast<char*>(encoded), static_cast<size_t>(n));
}

// The Content-Type stored with an object, so a browser following a presigned URL shows it.
std::string content_type_of(std::string_view key) {
  static const std::map<std::string, std::string> kTypes = {
      {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".png", "image/png"},  {".webp", "image/webp"},
      {".bmp", "image/bmp"},  {".mp4", "video/mp4"},   {".webm", "video/webm"}, {".mov", "video/quicktime"},
      {".mkv", "video/x-matroska"}, {".json", "application/json"}};
  const size_t dot = key.rfind('.');
  if (dot != std::string_view::npos && key.find('/', dot) == std::string_view::npos) {
    auto it = kTypes.find(lower(std::string(key.substr(dot))));
    if (it != kTypes.end()) return it->second;
  }
  return "application/octet-stream";
}

bool valid_bucket_name(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(bucket.front()) && alnum(bucket.back());
}

// One curl handle per thread, reset for every request: its connection cache survives the reset,
// so consecutive requests of a thread reuse the connection.
CURL* thread_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  thread_local std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), curl_easy_cleanup);
  curl_easy_reset(handle.get());
  return handle.get();
}

struct Reply {
  long status = 0;  // 0: no answer (connection error, timeout): `transport_error` says why
  std::string transport_error;
  std::string body;  // the body when there is no sink, or an error answer's body (capped)
  std::map<std::string, std::string> headers;  // lowercase names
  int attempts = 1;  // requests sent for this answer (retries included)
};

struct Call {
  std::string method = "GET";
  std::string object_key;  // full object key (store prefix applied); empty: the bucket itself
  HeaderList query;
  HeaderList headers;  // sent and signed (host is added)
  std::string text_body;
  const fs::path* body_file = nullptr;  // streamed from here (body_offset, body_length bytes)
  int64_t body_offset = 0;
  int64_t body_length = 0;
  // Receives a 2xx body in pieces; without it the body is collected into Reply::body.
  std::function<Status(std::string_view)> sink;
  // Runs before every attempt (a retried download starts its file over).
  std::function<Status()> before_attempt;
  bool long_transfer = false;  // no whole-request deadline (bodies of any size); the stall timeout holds
  std::string what;            // for messages: "PUT of 'key'"
};

struct Transfer {
  Reply* reply = nullptr;
  const Call* call = nullptr;
  CURL* curl = nullptr;
  Status sink_status;
  FILE* upload = nullptr;
  int64_t upload_left = 0;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    t->reply->headers.clear();  // a new response (after "100 Continue")
  } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string value(line.substr(colon + 1));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    t->reply->headers[lower(std::string(line.substr(0, colon)))] = value;
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300 && t->call->sink) {
    t->sink_status = t->call->sink(std::string_view(data, n));
    return t->sink_status.is_ok() ? n : 0;
  }
  if (status >= 200 && status < 300) {
    t->reply->body.append(data, n);
  } else if (t->reply->body.size() < kMaxErrorBody) {
    t->reply->body.append(data, std::min(n, kMaxErrorBody - t->reply->body.size()));
  }
  return n;
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(size * count), t->upload_left));
  if (want == 0) return 0;
  const size_t got = std::fread(buffer, 1, want, t->upload);
  if (got == 0) return CURL_READFUNC_ABORT;  // the file shrank under us
  t->upload_left -= static_cast<int64_t>(got);
  return got;
}

bool retryable(const Reply& reply) {
  if (reply.status == 0) return true;  // connection refused/reset, timeout
  if (reply.status >= 500 || reply.status == 429) return true;
  const std::string code = xml_value(reply.body, "Code");
  return code == "RequestTimeout" || code == "SlowDown" || code == "InternalError" || code == "ServiceUnavailable";
}

// "scheme://host[:port]" (trailing '/' allowed) → its parts; no path. `flag` names the option.
Status split_endpoint(std::string endpoint, std::string_view flag, std::string& scheme, std::string& host) {
  const std::string given = endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const size_t scheme_end = endpoint.find("://");
  scheme = endpoint.substr(0, scheme_end);
  host = scheme_end == std::string::npos ? std::string() : endpoint.substr(scheme_end + 3);
  if (host.empty() || host.find('/') != std::string::npos) {
    return invalid_argument(fmt::format("{} '{}': give only scheme, host and port (no path)", flag, given));
  }
  return Status::ok();
}

}  // namespace

Status validate_s3_options(const S3Options& o) {
  if (!o.sse.empty() && o.sse != "AES256" && o.sse != "aws:kms") {
    return invalid_argument(fmt::format("--s3-sse '{}': use AES256 (SSE-S3) or aws:kms (SSE-KMS)", o.sse));
  }
  if (!o.sse_kms_key_id.empty() && o.sse != "aws:kms") {
    return invalid_argument("--s3-sse-kms-key-id needs --s3-sse aws:kms");
  }
  if (o.part_size < kMinPartSize) {
    return invalid_argument(fmt::format("S3 part size {} bytes is below S3's minimum of 5 MiB", o.part_size));
  }
  for (const auto& [flag, value] : {std::pair{"--s3-endpoint", &o.endpoint}, {"--s3-public-endpoint", &o.public_endpoint}}) {
    if (!value->empty() && !value->starts_with("http://") && !value->starts_with("https://")) {
      return invalid_argument(fmt::format("{} '{}': give the scheme and host, e.g. https://s3.example.com or "
                                          "http://127.0.0.1:9000", flag, *value));
    }
  }
  if (o.region.empty()) return invalid_argument("--s3-region is empty: give the bucket's region (us-east-1, auto for R2)");
  if (o.max_attempts < 1) return invalid_argument("S3 max attempts must be at least 1");
  return Status::ok();
}

struct S3BlobStore::Impl {
  std::string bucket;
  std::string prefix;  // "" or "a/b"
  S3Options options;
  std::string scheme;     // "http" / "https"
  std::string host;       // host[:port] of the endpoint
  std::string public_scheme;  // of --s3-public-endpoint for presigned URLs; = scheme/host without it
  std::string public_host;
  bool virtual_hosted = false;
  AwsCredentialCache credentials;

  Impl(std::string b, std::string p, S3Options o)
      : bucket(std::move(b)), prefix(std::move(p)), options(std::move(o)), credentials(options.credentials) {}

  std::string endpoint_text() const { return fmt::format("{}://{}", scheme, host); }

  // The signing clock, Unix seconds.
  int64_t now() const { return static_cast<int64_t>(std::time(nullptr)) + options.clock_offset_seconds; }

  // Whether the server's Date header is more than 15 minutes off the signing clock: a 403 then
  // means clock skew (a HEAD answer has no body to say RequestTimeTooSkewed, as the SDKs know).
  bool clock_skewed(const Reply& reply) const {
    auto date = reply.headers.find("date");
    if (date == reply.headers.end()) return false;
    const time_t server = curl_getdate(date->second.c_str(), nullptr);
    return server > 0 && std::llabs(static_cast<long long>(server) - now()) > 15 * 60;
  }

  std::string object_key(std::string_view key) const {
    return prefix.empty() ? std::string(key) : prefix + "/" + std::string(key);
  }

  std::string request_host() const { return virtual_hosted ? bucket + "." + host : host; }
  std::string public_request_host() const { return virtual_hosted ? bucket + "." + public_host : public_host; }

  std::string request_path(const std::string& object_key) const {
    if (virtual_hosted) return "/" + object_key;
    return object_key.empty() ? "/" + bucket : "/" + bucket + "/" + object_key;
  }

  std::string url(const std::string& path, const std::string& query) const {
    return url_at(scheme, request_host(), path, query);
  }

  static std::string url_at(const std::string& url_scheme, const std::string& url_host, const std::string& path,
                            const std::string& query) {
    std::string out = fmt::format("{}://{}{}", url_scheme, url_host, aws_uri_encode(path, true));
    if (!query.empty()) out += "?" + query;
    return out;
  }

  void add_sse_headers(HeaderList& headers) const {
    if (!options.sse.empty()) headers.emplace_back("x-amz-server-side-encryption", options.sse);
    if (!options.sse_kms_key_id.empty()) {
      headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", options.sse_kms_key_id);
    }
  }

  // One attempt. Status errors only for what a retry cannot fix (credentials missing, the sink
  // failed, the local file unreadable); transport failures come back as Reply::status 0.
  Result<Reply> perform_once(const Call& call) {
    FF_ASSIGN_OR_RETURN(AwsCredentials creds, credentials.get());
    Reply reply;
    SigV4Request request;
    request.method = call.method;
    request.path = request_path(call.object_key);
    request.query = call.query;
    request.headers = call.headers;
    request.headers.emplace_back("host", request_host());
    request.payload_sha256 = call.body_file           ? std::string(kUnsignedPayload)
                             : call.text_body.empty() ? std::string(kEmptyPayloadSha256)
                                                      : sha256_hex(call.text_body);
    const auto signature = sigv4_sign_headers(request, creds, {options.region, "s3"}, now(), true);

    CURL* curl = thread_curl();
    Transfer t;
    t.reply = &reply;
    t.call = &call;
    t.curl = curl;
    struct curl_slist* headers = nullptr;
    auto add = [&headers](const std::string& line) { headers = curl_slist_append(headers, line.c_str()); };
    for (const auto& [name, value] : call.headers) add(name + ": " + value);
    for (const auto& [name, value] : signature.added_headers) add(name + ": " + value);
    add("Authorization: " + signature.authorization);
    add("Expect:");  // no 100-continue round trip
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(nullptr, curl_slist_free_all);

    const std::string target = url(request.path, sigv4_canonical_query(call.query));
    curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");  // never an environment proxy: the endpoint is configured
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(options.stall_timeout.count() / 1000)));
    if (!call.long_transfer) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.request_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);

    std::unique_ptr<FILE, decltype(&std::fclose)> upload(nullptr, std::fclose);
    if (call.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (call.body_file) {
      upload.reset(std::fopen(call.body_file->c_str(), "rb"));
      if (!upload || fseeko(upload.get(), call.body_offset, SEEK_SET) != 0) {
        curl_slist_free_all(headers);
        return unavailable(fmt::format("cannot read {} for the {}", call.body_file->string(), call.what));
      }
      t.upload = upload.get();
      t.upload_left = call.body_length;
      curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(curl, CURLOPT_READDATA, &t);
      curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(call.body_length));
      if (call.method != "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    } else if (call.method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.text_body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.text_body.size()));
    } else if (call.method != "GET") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    }
    header_guard.reset(headers);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    const CURLcode rc = curl_easy_perform(curl);
    if (!t.sink_status.is_ok()) return t.sink_status;
    if (rc != CURLE_OK) {
      reply.status = 0;
      reply.transport_error = curl_easy_strerror(rc);
      return reply;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

  std::chrono::milliseconds backoff(int attempt) {
    thread_local std::mt19937_64 random{std::random_device{}()};
    const int64_t ceiling =
        std::min<int64_t>(options.backoff_cap.count(), options.backoff_base.count() * (int64_t{1} << std::min(attempt, 20)));
    return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(ceiling, 0))(random));
  }

  // Attempts `call` until it gets an answer that is not worth retrying or the attempts run out.
  // Any HTTP answer is a Reply (the caller judges it); no answer at all after the last attempt is
  // kUnavailable naming the endpoint.
  Result<Reply> perform(const Call& call) {
    for (int attempt = 0;; ++attempt) {
      if (call.before_attempt) FF_RETURN_IF_ERROR(call.before_attempt());
      FF_ASSIGN_OR_RETURN(Reply reply, perform_once(call));
      const bool last = attempt + 1 >= options.max_attempts;
      if (!retryable(reply) || last) {
        if (reply.status == 0) {
          return unavailable(fmt::format("S3 endpoint {} did not answer the {} ({}) after {} attempt(s): check "
                                         "--s3-endpoint and that the server is up and reachable",
                                         endpoint_text(), call.what, reply.transport_error, attempt + 1));
        }
        reply.attempts = attempt + 1;
        return reply;
      }
      std::this_thread::sleep_for(backoff(attempt));
    }
  }

  // A Status for an unsuccessful answer, naming what to fix.
  Status error_of(const Reply& reply, const Call& call) const {
    const std::string code = xml_value(reply.body, "Code");
    const std::string message = xml_value(reply.body, "Message");
    const std::string detail = code.empty() ? fmt::format("HTTP {}", reply.status)
                                            : fmt::format("HTTP {} {}{}", reply.status, code,
                                                          message.empty() ? "" : ": " + message);
    if (code == "NoSuchBucket" || (reply.status == 404 && call.object_key.empty())) {
      return failed_precondition(fmt::format("S3 bucket '{}' does not exist at {} ({}): create it, or fix the bucket "
                                             "in --storage s3://BUCKET/prefix", bucket, endpoint_text(), detail));
    }
    if (code == "NoSuchKey" || (reply.status == 404 && code.empty())) {
      return not_found(fmt::format("storage key '{}' does not exist", call.object_key));
    }
    if (code == "RequestTimeTooSkewed" || (reply.status == 403 && clock_skewed(reply))) {
      return failed_precondition(fmt::format("S3 at {} refused the request time ({}): this machine's clock is more than "
                                             "15 minutes off the server's; fix the clock (NTP)", endpoint_text(), detail));
    }
    if (code == "InvalidAccessKeyId") {
      return permission_denied(fmt::format("S3 at {} does not know the access key ({}): check AWS_ACCESS_KEY_ID or the "
                                           "AWS_PROFILE's aws_access_key_id", endpoint_text(), detail));
    }
    if (code == "SignatureDoesNotMatch") {
      return permission_denied(fmt::format("S3 at {} refused the request signature ({}): the secret key is wrong; check "
                                           "AWS_SECRET_ACCESS_KEY or the AWS_PROFILE's aws_secret_access_key (and "
                                           "--s3-region)", endpoint_text(), detail));
    }
    if (code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" || reply.status == 301) {
      return invalid_argument(fmt::format("S3 at {} refused the {} ({}): the bucket is in another region; set "
                                          "--s3-region to it", endpoint_text(), call.what, detail));
    }
    if (reply.status == 403) {
      return permission_denied(fmt::format("S3 at {} denied the {} ({}): check the credentials (AWS_ACCESS_KEY_ID / "
                                           "AWS_SECRET_ACCESS_KEY / AWS_PROFILE) and that they may access bucket '{}'",
                                           endpoint_text(), call.what, detail, bucket));
    }
    if (retryable(reply)) {
      return unavailable(fmt::format("S3 at {} failed the {} ({}) after {} attempt(s): try again later", endpoint_text(),
                                     call.what, detail, reply.attempts));
    }
    return unavailable(fmt::format("S3 at {} refused the {} ({})", endpoint_text(), call.what, detail));
  }

  // A URL for `request` (path and headers but host set) that works without credentials for
  // ttl_seconds; `key` validated.
  Result<std::string> presign(std::string_view key, SigV4Request request, int64_t ttl_seconds) {
    FF_RETURN_IF_ERROR(validate_key(key));
    if (ttl_seconds < 1 || ttl_seconds > kMaxPresignSeconds) {
      return invalid_argument(fmt::format("presigned URL lifetime {} s: give 1 to {} seconds", ttl_seconds, kMaxPresignSeconds));
    }
    FF_ASSIGN_OR_RETURN(AwsCredentials creds, credentials.get());
    request.path = request_path(object_key(key));
    request.headers.emplace(request.headers.begin(), "host", public_request_host());
    request.payload_sha256 = std::string(kUnsignedPayload);
    const auto presigned = sigv4_presign(request, creds, {options.region, "s3"}, now(), ttl_seconds);
    return url_at(public_scheme, public_request_host(), request.path, presigned.query);
  }

  Result<Reply> perform_ok(const Call& call) {
    FF_ASSIGN_OR_RETURN(Reply reply, perform(call));
    if (reply.status < 200 || reply.status >= 300) return error_of(reply, call);
    return reply;
  }

  Status put_single(const std::string& object, const fs::path& local, int64_t size) {
    Call call;
    call.method = "PUT";
    call.object_key = object;
    call.headers = {{"content-type", content_type_of(object)}};
    add_sse_headers(call.headers);
    call.body_file = &local;
    call.body_length = size;
    call.long_transfer = true;
    call.what = fmt::format("PUT of '{}'", object);
    return perform_ok(call).status();
  }

  Status put_multipart(const std::string& object, const fs::path& local, int64_t size) {
    int64_t part_size = options.part_size;
    while ((size + part_size - 1) / part_size > kMaxParts) part_size *= 2;
    Call create;
    create.method = "POST";
    create.object_key = object;
    create.query = {{"uploads", ""}};
    create.headers = {{"content-type", content_type_of(object)}};
    add_sse_headers(create.headers);
    create.what = fmt::format("start of the multipart upload of '{}'", object);
    FF_ASSIGN_OR_RETURN(Reply created, perform_ok(create));
    const std::string upload_id = xml_value(created.body, "UploadId");
    if (upload_id.empty()) return unavailable(fmt::format("S3 at {} started no multipart upload for '{}' (no UploadId)", endpoint_text(), object));

    Status result = upload_parts(object, local, size, part_size, upload_id);
    if (!result.is_ok()) {
      // Abort, so the parts stop costing storage; the object never appears.
      Call abort;
      abort.method = "DELETE";
      abort.object_key = object;
      abort.query = {{"uploadId", upload_id}};
      abort.what = fmt::format("abort of the multipart upload of '{}'", object);
      auto ignored = perform(abort);
      (void)ignored;
    }
    return result;
  }

  Status upload_parts(const std::string& object, const fs::path& local, int64_t size, int64_t part_size,
                      const std::string& upload_id) {
    std::string complete = "<CompleteMultipartUpload>";
    int part = 1;
    for (int64_t offset = 0; offset < size; offset += part_size, ++part) {
      Call put;
      put.method = "PUT";
      put.object_key = object;
      put.query = {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}};
      put.body_file = &local;
      put.body_offset = offset;
      put.body_length = std::min(part_size, size - offset);
      put.long_transfer = true;
      put.what = fmt::format("PUT of part {} of '{}'", part, object);
      FF_ASSIGN_OR_RETURN(Reply reply, perform_ok(put));
      auto etag = reply.headers.find("etag");
      if (etag == reply.headers.end()) return unavailable(fmt::format("S3 at {} gave no ETag for part {} of '{}'", endpoint_text(), part, object));
      complete += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", part, xml_escape(etag->second));
    }
    complete += "</CompleteMultipartUpload>";
    Call finish;
    finish.method = "POST";
    finish.object_key = object;
    finish.query = {{"uploadId", upload_id}};
    finish.headers = {{"content-type", "application/xml"}};
    finish.text_body = std::move(complete);
    finish.long_transfer = true;  // S3 may take a while to assemble a large object
    finish.what = fmt::format("completion of the multipart upload of '{}'", object);
    FF_ASSIGN_OR_RETURN(Reply done, perform_ok(finish));
    // CompleteMultipartUpload can fail after its 200 header: the error is then in the body.
    if (done.body.find("<Error>") != std::string::npos) return error_of(Reply{500, "", done.body, {}}, finish);
    return Status::ok();
  }

  // Every object under `object_prefix` (full object names, the store prefix included), in S3's
  // order (by key), with size and LastModified from the <Contents> entries.
  Result<std::vector<BlobEntry>> list_objects(const std::string& object_prefix) {
    std::vector<BlobEntry> entries;
    std::string token;
    for (;;) {
      Call call;
      call.query = {{"list-type", "2"}, {"prefix", object_prefix}};
      if (!token.empty()) call.query.emplace_back("continuation-token", token);
      call.what = fmt::format("listing of '{}'", object_prefix);
      FF_ASSIGN_OR_RETURN(Reply reply, perform_ok(call));
      for (const auto& contents : xml_values(reply.body, "Contents")) {
        BlobEntry entry;
        entry.key = xml_value(contents, "Key");
        const std::string size = xml_value(contents, "Size");
        entry.size = size.empty() ? 0 : std::strtoll(size.c_str(), nullptr, 10);
        entry.modified_ms = parse_iso8601_ms(xml_value(contents, "LastModified"));
        if (!entry.key.empty()) entries.push_back(std::move(entry));
      }
      if (xml_value(reply.body, "IsTruncated") != "true") break;
      token = xml_value(reply.body, "NextContinuationToken");
      if (token.empty()) break;
    }
    return entries;
  }

  // DeleteObjects in batches of kDeleteBatch (S3's limit per request); `objects` are full object
  // names. Quiet mode: the answer lists only the keys that could not be deleted.
  Status delete_objects(const std::vector<std::string>& objects, std::string_view what) {
    for (size_t start = 0; start < objects.size(); start += kDeleteBatch) {
      std::string body = "<Delete><Quiet>true</Quiet>";
      for (size_t i = start; i < std::min(objects.size(), start + kDeleteBatch); ++i) {
        body += fmt::format("<Object><Key>{}</Key></Object>", xml_escape(objects[i]));
      }
      body += "</Delete>";
      Call call;
      call.method = "POST";
      call.query = {{"delete", ""}};
      call.headers = {{"content-type", "application/xml"}, {"content-md5", content_md5(body)}};
      call.text_body = std::move(body);
      call.what = std::string(what);
      FF_ASSIGN_OR_RETURN(Reply reply, perform_ok(call));
      if (reply.body.find("<Error>") != std::string::npos) {
        return unavailable(fmt::format("S3 at {} did not delete '{}' ({}: {})", endpoint_text(),
                                       xml_value(reply.body, "Key"), xml_value(reply.body, "Code"),
                                       xml_value(reply.body, "Message")));
      }
    }
    return Status::ok();
  }
};

S3BlobStore::S3BlobStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3BlobStore::~S3BlobStore() = default;

Result<std::unique_ptr<S3BlobStore>> S3BlobStore::open(const std::string& bucket, const std::string& prefix,
                                                       S3Options options) {
  if (!valid_bucket_name(bucket)) {
    return invalid_argument(fmt::format("S3 bucket name '{}' is not valid: 3-63 characters of a-z, 0-9, '.' and '-', "
                                        "starting and ending with a letter or digit (s3://BUCKET/prefix)", bucket));
  }
  FF_RETURN_IF_ERROR(validate_s3_options(options));
  auto impl = std::make_unique<Impl>(bucket, prefix, options);
  const std::string endpoint = options.endpoint.empty()
                                   ? fmt::format("https://s3.{}.amazonaws.com", options.region)
                                   : options.endpoint;
  FF_RETURN_IF_ERROR(split_endpoint(endpoint, "--s3-endpoint", impl->scheme, impl->host));
  impl->public_scheme = impl->scheme;
  impl->public_host = impl->host;
  if (!options.public_endpoint.empty()) {
    FF_RETURN_IF_ERROR(split_endpoint(options.public_endpoint, "--s3-public-endpoint", impl->public_scheme,
                                      impl->public_host));
  }
  impl->virtual_hosted = options.addressing == S3Addressing::kVirtual ||
                         (options.addressing == S3Addressing::kAuto && options.endpoint.empty());
  if (impl->virtual_hosted && bucket.find('.') != std::string::npos && impl->scheme == "https") {
    return invalid_argument(fmt::format("S3 bucket '{}' has a '.', which TLS certificates of virtual-hosted addresses do "
                                        "not cover: use --s3-addressing path", bucket));
  }
  return std::unique_ptr<S3BlobStore>(new S3BlobStore(std::move(impl)));
}

std::string S3BlobStore::uri() const {
  return impl_->prefix.empty() ? "s3://" + impl_->bucket : "s3://" + impl_->bucket + "/" + impl_->prefix;
}

Status S3BlobStore::put_file(std::string_view key, const fs::path& local) {
  FF_RETURN_IF_ERROR(validate_key(key));
  std::error_code ec;
  if (!fs::is_regular_file(local, ec)) return not_found(fmt::format("cannot store {}: not a file", local.string()));
  const auto size = static_cast<int64_t>(fs::file_size(local, ec));
  if (ec) return unavailable(fmt::format("cannot read the size of {}: {}", local.string(), ec.message()));
  const std::string object = impl_->object_key(key);
  // S3 makes an object visible only when its PUT or CompleteMultipartUpload succeeds: atomic.
  if (size <= impl_->options.part_size) return impl_->put_single(object, local, size);
  return impl_->put_multipart(object, local, size);
}

Status S3BlobStore::get_file(std::string_view key, const fs::path& local) {
  FF_RETURN_IF_ERROR(validate_key(key));
  std::error_code ec;
  if (!local.parent_path().empty()) fs::create_directories(local.parent_path(), ec);
  const fs::path partial = temp_path_beside(local);
  std::unique_ptr<FILE, decltype(&std::fclose)> out(nullptr, std::fclose);
  int64_t written = 0;
  Call call;
  call.object_key = impl_->object_key(key);
  call.long_transfer = true;
  call.what = fmt::format("GET of '{}'", call.object_key);
  call.before_attempt = [&]() -> Status {
    out.reset(std::fopen(partial.c_str(), "wb"));
    written = 0;
    if (!out) return unavailable(fmt::format("cannot write {}", partial.string()));
    return Status::ok();
  };
  call.sink = [&](std::string_view piece) -> Status {
    if (std::fwrite(piece.data(), 1, piece.size(), out.get()) != piece.size()) {
      return unavailable(fmt::format("cannot write {} (disk full?)", partial.string()));
    }
    written += static_cast<int64_t>(piece.size());
    return Status::ok();
  };
  auto reply = impl_->perform_ok(call);
  const bool flushed = out && std::fflush(out.get()) == 0;
  out.reset();
  Status result = reply.status();
  if (result.is_ok() && !flushed) result = unavailable(fmt::format("cannot write {} (disk full?)", partial.string()));
  if (result.is_ok()) {
    auto length = reply->headers.find("content-length");
    if (length != reply->headers.end() && std::to_string(written) != length->second) {
      result = unavailable(fmt::format("S3 sent {} of the {} bytes of '{}'", written, length->second, call.object_key));
    }
  }
  if (result.is_ok()) {
    fs::rename(partial, local, ec);
    if (ec) result = unavailable(fmt::format("cannot move {} into place: {}", local.string(), ec.message()));
  }
  if (!result.is_ok()) fs::remove(partial, ec);
  return result;
}

Result<BlobInfo> S3BlobStore::stat(std::string_view key) {
  FF_RETURN_IF_ERROR(validate_key(key));
  Call call;
  call.method = "HEAD";
  call.object_key = impl_->object_key(key);
  call.what = fmt::format("HEAD of '{}'", call.object_key);
  FF_ASSIGN_OR_RETURN(Reply reply, impl_->perform_ok(call));
  auto length = reply.headers.find("content-length");
  if (length == reply.headers.end()) return unavailable(fmt::format("S3 gave no size for '{}'", call.object_key));
  return BlobInfo{std::stoll(length->second)};
}

Result<std::string> S3BlobStore::read_range(std::string_view key, int64_t offset, int64_t length) {
  FF_RETURN_IF_ERROR(validate_key(key));
  if (offset < 0 || length < 0) return invalid_argument("read_range: offset and length must be 0 or more");
  if (length == 0) {
    FF_RETURN_IF_ERROR(stat(key).status());
    return std::string();
  }
  Call call;
  call.object_key = impl_->object_key(key);
  call.headers = {{"range", fmt::format("bytes={}-{}", offset, offset + length - 1)}};
  call.what = fmt::format("ranged GET of '{}'", call.object_key);
  call.long_transfer = true;
  FF_ASSIGN_OR_RETURN(Reply reply, impl_->perform(call));
  if (reply.status == 416) return std::string();  // the offset is at or past the end
  if (reply.status < 200 || reply.status >= 300) return impl_->error_of(reply, call);
  // A server that ignores Range sends the whole object (200): cut the range out of it.
  if (reply.status == 200) return reply.body.size() > static_cast<size_t>(offset) ? reply.body.substr(offset, length) : "";
  if (reply.body.size() > static_cast<size_t>(length)) reply.body.resize(length);
  return std::move(reply.body);
}

Status S3BlobStore::remove(std::string_view key) {
  FF_RETURN_IF_ERROR(validate_key(key));
  Call call;
  call.method = "DELETE";
  call.object_key = impl_->object_key(key);
  call.what = fmt::format("DELETE of '{}'", call.object_key);
  FF_ASSIGN_OR_RETURN(Reply reply, impl_->perform(call));
  if (reply.status == 404 && xml_value(reply.body, "Code") != "NoSuchBucket") return Status::ok();
  if (reply.status < 200 || reply.status >= 300) return impl_->error_of(reply, call);
  return Status::ok();
}

Status S3BlobStore::remove_prefix(std::string_view prefix) {
  FF_RETURN_IF_ERROR(validate_key(prefix));
  FF_ASSIGN_OR_RETURN(auto entries, impl_->list_objects(impl_->object_key(prefix) + "/"));
  std::vector<std::string> objects;
  for (auto& entry : entries) objects.push_back(std::move(entry.key));
  return impl_->delete_objects(objects, fmt::format("batch delete under '{}'", impl_->object_key(prefix)));
}

Status S3BlobStore::remove_keys(const std::vector<std::string>& keys) {
  std::vector<std::string> objects;
  for (const auto& key : keys) {
    FF_RETURN_IF_ERROR(validate_key(key));
    objects.push_back(impl_->object_key(key));
  }
  return impl_->delete_objects(objects, fmt::format("batch delete of {} objects", objects.size()));
}

Result<std::vector<std::string>> S3BlobStore::list(std::string_view prefix) {
  FF_ASSIGN_OR_RETURN(auto entries, list_entries(prefix));
  std::vector<std::string> keys;
  for (auto& entry : entries) keys.push_back(std::move(entry.key));
  return keys;
}

Result<std::vector<BlobEntry>> S3BlobStore::list_entries(std::string_view prefix) {
  std::string object_prefix;
  if (!prefix.empty()) {
    FF_RETURN_IF_ERROR(validate_key(prefix));
    object_prefix = impl_->object_key(prefix) + "/";
  } else if (!impl_->prefix.empty()) {
    object_prefix = impl_->prefix + "/";
  }
  FF_ASSIGN_OR_RETURN(auto objects, impl_->list_objects(object_prefix));
  std::vector<BlobEntry> entries;
  const size_t strip = impl_->prefix.empty() ? 0 : impl_->prefix.size() + 1;
  for (auto& object : objects) {
    object.key = object.key.substr(strip);
    if (validate_key(object.key).is_ok()) entries.push_back(std::move(object));  // objects others wrote under odd names are skipped
  }
  std::sort(entries.begin(), entries.end(), [](const BlobEntry& a, const BlobEntry& b) { return a.key < b.key; });
  return entries;
}

Status S3BlobStore::check_ready() {
  Call call;
  call.method = "HEAD";
  call.what = fmt::format("HEAD of bucket '{}'", impl_->bucket);
  return impl_->perform_ok(call).status();
}

Result<std::string> S3BlobStore::presigned_get_url(std::string_view key, int64_t ttl_seconds) {
  return impl_->presign(key, SigV4Request{}, ttl_seconds);
}

Result<std::string> S3BlobStore::presigned_put_url(std::string_view key, int64_t ttl_seconds, int64_t content_length,
                                                   const std::string& content_type) {
  if (content_length < 0) return invalid_argument("presigned PUT: content length must be 0 or more");
  SigV4Request request;
  request.method = "PUT";
  request.headers = {{"content-length", std::to_string(content_length)}, {"content-type", content_type}};
  return impl_->presign(key, std::move(request), ttl_seconds);
}

}  // namespace facefuse::storage
