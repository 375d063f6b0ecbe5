#include "facefuse/server/api_server.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "facefuse/core/error_codes.h"
#include "facefuse/inference/model_catalog.h"
#include "facefuse/inference/session_cache.h"
#include "facefuse/jobs/direct_uploads.h"
#include "facefuse/jobs/job_service.h"
#include "facefuse/jobs/worker_pool.h"
#include "facefuse/pipeline/detect.h"
#include "facefuse/processors/registry.h"
#include "facefuse/server/api_keys.h"
#include "facefuse/server/client_text.h"
#include "facefuse/server/event_pusher.h"
#include "facefuse/server/http_server.h"
#include "facefuse/server/http_util.h"
#include "facefuse/server/media_links.h"
#include "facefuse/server/metrics.h"
#include "facefuse/server/multipart.h"
#include "facefuse/server/rate_limiter.h"
#include "facefuse/server/router.h"
#include "facefuse/server/studio_routes.h"
#include "facefuse/server/system_stats.h"
#include "facefuse/server/web_page.h"
#include "facefuse/storage/crypto.h"
#include "facefuse/storage/display_name.h"
#include "facefuse/storage/free_space.h"

namespace facefuse::server {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Every JSON we send or log: invalid UTF-8 from a client never throws (issue 10 item 1).
std::string dump_safe(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Request bodies nested deeper than this are refused before parsing (issue 10 item 3).
constexpr int kMaxJsonDepth = 64;
// Longest error message we send, bytes (echoed client values inside are capped on their own).
constexpr std::size_t kMaxMessageBytes = 1024;

// A failure inside a route, carried to the one wrapper that answers it. Used only within this
// file: every route runs inside the wrapper.
struct HttpError {
  int status;
  std::string code;
  std::string message;
  std::vector<std::pair<std::string, std::string>> headers;
};

[[noreturn]] void fail(int status, std::string code, std::string message) {
  throw HttpError{status, std::move(code), std::move(message), {}};
}

// A full tenant quota is worth retrying in a few seconds, when some of its jobs have finished.
constexpr const char* kQuotaRetryAfterSeconds = "5";
// A dependency that did not answer (the job store during a database restart or failover, S3): the
// node recovers by itself as soon as it is back (the store reconnects on the next call), so the
// client is told to try again shortly rather than give up.
constexpr const char* kUnavailableRetryAfterSeconds = "2";

[[noreturn]] void fail(const Status& status) {
  HttpError e{http_status_for(status.code()), status_code_name(status.code()), status.message(), {}};
  if (status.code() == StatusCode::kQuotaExceeded) e.headers.emplace_back("Retry-After", kQuotaRetryAfterSeconds);
  if (status.code() == StatusCode::kUnavailable) e.headers.emplace_back("Retry-After", kUnavailableRetryAfterSeconds);
  throw e;
}

template <typename T>
T value_or_fail(Result<T> result) {
  if (!result) fail(result.status());
  return std::move(result).value();
}

void ok_or_fail(const Status& status) {
  if (!status.is_ok()) fail(status);
}

struct Caller {
  std::string tenant;
  std::string key_id;
  Scopes scopes;
};

enum class Access { kPublic, kRead, kSubmit, kAdmin };

// The captured groups of a route pattern, read like std::smatch: [0] the path, [1..] the ids
// and tail in order.
struct RouteMatch {
  struct Group {
    std::string value;
    const std::string& str() const { return value; }
  };
  std::vector<Group> groups;
  std::size_t size() const { return groups.size(); }
  const Group& operator[](std::size_t i) const {
    static const Group kEmpty;
    return i < groups.size() ? groups[i] : kEmpty;
  }
  void set(std::string_view path, const std::vector<std::string>& captures) {
    groups.clear();
    groups.push_back({std::string(path)});
    for (const auto& c : captures) groups.push_back({c});
  }
};

struct Request {
  HttpRequest* http = nullptr;
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  RouteMatch match;
  Caller caller;

  std::string header(const char* name) const { return http->header(name); }
};

struct Response : HttpResponse {
  static Response json_body(const json& body, int status = 200) {
    Response r;
    r.status = status;
    r.body = dump_safe(body);
    return r;
  }
};

// Removes a request's temporary file however the route ends (answer, HttpError, exception).
class TempFileGuard {
 public:
  explicit TempFileGuard(fs::path path) : path_(std::move(path)) {}
  ~TempFileGuard() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove(path_, ignored);
  }
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;

 private:
  fs::path path_;
};

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A link signer for servers configured without one: a random secret that lives as long as the
// process.
std::shared_ptr<const MediaLinkSigner> ephemeral_media_links() {
  auto secret = storage::random_bytes(32);
  return std::make_shared<MediaLinkSigner>(secret ? *secret : std::to_string(unix_seconds()), 3600);
}

json upload_json(const jobs::Upload& u) {
  return {{"id", u.id}, {"upload_id", u.id}, {"filename", u.filename}, {"sha256", u.sha256}, {"size", u.size},
          {"media", u.media}, {"info", u.info}};
}

// Streams the first `file` part of a multipart body into a temporary file; other parts are read
// and dropped. A full disk is kInsufficientStorage-like: reported through `disk_full`.
class UploadSink : public MultipartHandler {
 public:
  explicit UploadSink(fs::path temp_dir) : temp_dir_(std::move(temp_dir)) {}
  ~UploadSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status on_part_begin(const MultipartPart& part) override {
    writing_ = false;
    if (files_ > 0 || part.name != "file" || !part.filename) return Status::ok();
    ++files_;
    filename_ = *part.filename;
    FF_ASSIGN_OR_RETURN(std::string id, jobs::new_id("part_"));
    path_ = temp_dir_ / id;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) return write_error(errno);
    writing_ = true;
    return Status::ok();
  }

  Status on_part_data(std::string_view bytes) override {
    if (!writing_) return Status::ok();
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return write_error(errno);
      }
      bytes.remove_prefix(static_cast<size_t>(n));
      size_ += n;
    }
    return Status::ok();
  }

  Status on_part_end() override {
    if (writing_) {
      writing_ = false;
      if (::close(fd_) != 0) {
        fd_ = -1;
        return write_error(errno);
      }
      fd_ = -1;
    }
    return Status::ok();
  }

  const fs::path& path() const { return path_; }
  const std::string& filename() const { return filename_; }
  int files() const { return files_; }
  bool disk_full() const { return disk_full_; }

 private:
  Status write_error(int error) {
    disk_full_ = error == ENOSPC || error == EDQUOT;
    return unavailable(fmt::format("cannot store the upload: {}", std::strerror(error)));
  }

  fs::path temp_dir_;
  fs::path path_;
  std::string filename_;
  int fd_ = -1;
  int files_ = 0;
  int64_t size_ = 0;
  bool writing_ = false;
  bool disk_full_ = false;
};

}  // namespace

struct ApiServer::Impl {
  using Handler = std::function<Response(Request&)>;
  struct Route {
    std::string method;
    RoutePattern pattern;
    std::string name;  // the template, for metrics labels and logs
    Access access;
    bool rate_limited;
    Handler handler;
  };

  // Open event streams (WebSocket and SSE) per key and per address, each under a cap.
  struct StreamCounts {
    std::mutex mutex;
    int total = 0;
    std::unordered_map<std::string, int> per_address;
    std::unordered_map<std::string, int> per_key;
  };
  struct StreamSlot {  // not copyable: one per open stream
    StreamSlot(StreamCounts* c, std::string a, std::string k) : counts(c), address(std::move(a)), key(std::move(k)) {}
    StreamSlot(const StreamSlot&) = delete;
    StreamSlot& operator=(const StreamSlot&) = delete;
    StreamCounts* counts;
    std::string address;
    std::string key;
    ~StreamSlot() {
      std::lock_guard lock(counts->mutex);
      --counts->total;
      if (--counts->per_address[address] <= 0) counts->per_address.erase(address);
      if (--counts->per_key[key] <= 0) counts->per_key.erase(key);
    }
  };

  Impl(ApiServerConfig c, jobs::JobService& s, jobs::WorkerPool& w, ServiceMetrics& m, SystemStats& sys)
      : config(std::move(c)), service(s), workers(w), metrics(m), system(sys),
        key_limiter({config.key_rate_per_second, config.key_rate_burst}),
        ip_limiter({config.ip_rate_per_second, config.ip_rate_burst}),
        started(std::chrono::steady_clock::now()),
        studio(s, {config.upload_temp_dir.parent_path() / "preview", {}, 8}),
        direct_uploads(s, config.direct_upload_ttl_seconds),
        pusher(s.store(), [this](const json& event) { return signed_event(event); }),
        live(s, live_config(config)) {
    if (!config.media_links) config.media_links = ephemeral_media_links();
    add_routes();
    for (const char* p : {"/ws/job/([A-Za-z0-9_]+)/progress", "/api/v1/jobs/([A-Za-z0-9_]+)/events", "/api/v1/live"}) {
      ws_routes.push_back(RoutePattern::parse(p).value());
    }
  }

  ApiServerConfig config;
  jobs::JobService& service;
  jobs::WorkerPool& workers;
  ServiceMetrics& metrics;
  SystemStats& system;
  RateLimiter key_limiter;
  RateLimiter ip_limiter;
  std::chrono::steady_clock::time_point started;
  StudioRoutes studio;  // the web page, its assets, /api/v1/processors and /api/v1/preview
  jobs::DirectUploads direct_uploads;  // POST /api/v1/uploads (JSON) and .../complete
  std::atomic<bool> draining{false};
  std::vector<Route> routes;
  std::vector<RoutePattern> ws_routes;
  ListenAddress listen;
  EventPusher pusher;
  LiveSwapService live;  // GET /api/v1/live: camera frames swapped over a WebSocket
  StreamCounts stream_counts;
  std::unique_ptr<HttpServer> http;

  // ------------------------------------------------------------------ dispatch
  // On a handler thread: every request, answered whatever happens inside.
  HttpResponse dispatch(HttpRequest& http_request) {
    auto t0 = std::chrono::steady_clock::now();
    Request req;
    req.http = &http_request;
    req.method = http_request.method;
    // Percent-decoded but not normalised, so traversal attempts reach our checks intact.
    req.path = http_request.path;
    std::string route_name = "unmatched";
    Response response;
    try {
      req.query = parse_query(http_request.query);
      const bool upgrade = http_request.websocket_upgrade && !http_request.metrics_listener;
      response = upgrade && is_websocket_path(req) ? websocket(req, route_name)
                                                                            : route(req, route_name);
    } catch (const HttpError& e) {
      response = Response::json_body(error_body(e.code, client_text(e.message, kMaxMessageBytes)), e.status);
      response.headers = e.headers;
    } catch (const std::exception& e) {
      spdlog::error(dump_safe(json{{"msg", "request failed"}, {"route", route_name}, {"error", e.what()}}));
      response = Response::json_body(error_body("internal", client_text(fmt::format("internal error: {}", e.what()),
                                                                        kMaxMessageBytes)),
                                     500);
    } catch (...) {
      response = Response::json_body(error_body("internal", "internal error"), 500);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metrics.observe_request(req.method, route_name, response.status, seconds);
    bool quiet = route_name == "/healthz" || route_name == "/readyz" || route_name == "/metrics";
    json line = {{"msg", "request"}, {"method", client_text(req.method, 16)}, {"route", route_name},
                 {"status", response.status}, {"ms", seconds * 1000}, {"remote", http_request.remote_address}};
    if (!req.caller.tenant.empty()) line["tenant"] = req.caller.tenant;
    if (req.match.size() > 1 && route_name.find("{job_id}") != std::string::npos) line["job_id"] = req.match[1].str();
    if (quiet) spdlog::debug(dump_safe(line)); else spdlog::info(dump_safe(line));
    return response;
  }

  // The metrics listener serves only /metrics and /healthz; with one configured, the main
  // listener no longer serves /metrics (so the public port does not expose it).
  bool serves(const Route& r, bool metrics_listener) const {
    if (metrics_listener) return r.name == "/metrics" || r.name == "/healthz";
    return r.name != "/metrics" || config.metrics_listen.empty();
  }

  Response route(Request& req, std::string& route_name) {
    const bool metrics_listener = req.http->metrics_listener;
    // HEAD is GET without the body (the transport leaves it out).
    const std::string& method = req.method == "HEAD" ? std::string("GET") : req.method;
    std::vector<std::string> captures;
    std::vector<std::string> allowed;
    for (const Route& r : routes) {
      if (!serves(r, metrics_listener)) continue;
      if (!r.pattern.match(req.path, captures)) continue;
      if (r.method != method) {
        if (std::find(allowed.begin(), allowed.end(), r.method) == allowed.end()) allowed.push_back(r.method);
        continue;
      }
      req.match.set(req.path, captures);
      route_name = r.name;
      if (r.rate_limited) limit_address(req.http->remote_address);
      if (method != "GET") check_local_origin(req);
      if (r.access != Access::kPublic) {
        req.caller = authenticate(req, r.access);
        if (r.rate_limited) limit_key(req.caller.key_id);
      }
      return r.handler(req);
    }
    // Misses cost a token too: scanning for routes is not free (issue 10: 404s not rate-limited).
    limit_address(req.http->remote_address);
    if (!allowed.empty()) {
      if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end()) allowed.push_back("HEAD");
      std::string allow;
      for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
      HttpError e{405, "method_not_allowed",
                  fmt::format("{} is not allowed on {} (allowed: {})", client_text(req.method, 16),
                              client_text(req.path), allow),
                  {{"Allow", allow}}};
      throw e;
    }
    fail(404, "not_found", fmt::format("no route {} {}: see /api/v1 in docs/openapi.yaml", client_text(req.method, 16),
                                       client_text(req.path)));
  }

  // Under --no-auth anything that reaches the port may act, so a state-changing request must be
  // addressed to this server by name (Host) and, when a browser says where it comes from
  // (Origin), come from this server's own page: a web page elsewhere in the user's browser must
  // not submit jobs to the loopback service (DNS rebinding, cross-site form posts).
  void check_local_origin(const Request& req) const {
    if (config.auth) return;
    const std::string host = req.header("Host");
    if (!is_own_host(host)) {
      fail(403, "forbidden", fmt::format("with --no-auth this server accepts state-changing requests only for "
                                         "Host 127.0.0.1:{0}, localhost:{0} or [::1]:{0}, not '{1}'",
                                         http->port(), client_text(host)));
    }
    const std::string origin = req.header("Origin");
    if (!origin.empty() && origin != "http://" + host) {
      fail(403, "forbidden", fmt::format("with --no-auth this server refuses requests from the web origin '{}': "
                                         "use the page it serves at http://{}/",
                                         client_text(origin), client_text(host)));
    }
  }

  bool is_own_host(const std::string& host) const {
    std::string name = host;
    std::string port;
    if (!name.empty() && name.front() == '[') {
      size_t close = name.find(']');
      if (close == std::string::npos) return false;
      port = close + 1 < name.size() && name[close + 1] == ':' ? name.substr(close + 2) : "";
      name = name.substr(1, close - 1);
    } else if (size_t colon = name.rfind(':'); colon != std::string::npos) {
      port = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    if (port.empty()) port = "80";
    if (port != std::to_string(http->port())) return false;
    bool wildcard = listen.host == "0.0.0.0" || listen.host == "::";
    return name == "127.0.0.1" || name == "localhost" || name == "::1" || (!wildcard && name == listen.host);
  }

  void limit_address(const std::string& address) { limit(ip_limiter, "ip:" + address); }
  void limit_key(const std::string& key_id) { limit(key_limiter, "key:" + key_id); }

  static void limit(RateLimiter& limiter, const std::string& bucket) {
    RateLimitDecision d = limiter.check(bucket);
    if (d.allowed) return;
    HttpError e{429, "rate_limited",
                fmt::format("too many requests: retry in {} s", d.retry_after_header_seconds()), {}};
    e.headers.emplace_back("Retry-After", std::to_string(d.retry_after_header_seconds()));
    throw e;
  }

  Caller authenticate(const Request& req, Access access) {
    if (!config.auth) return {"local", "local", Scopes{Scope::kSubmit, Scope::kRead, Scope::kAdmin}};
    // Keys never travel in URLs (access logs, Referer headers, browser history). A key there is
    // refused rather than ignored, so the client learns what to do instead.
    if (req.query.count("api_key") != 0) {
      fail(401, "unauthenticated", "API keys are not accepted in the URL (?api_key=): send 'Authorization: Bearer "
                                   "<key>' or 'X-API-Key: <key>'; browsers load media through the job's signed "
                                   "output_url and pass the key to WebSockets as the subprotocol "
                                   "'facefuse.bearer.<key>'");
    }
    std::string key = req.header("X-API-Key");
    if (key.empty()) key = bearer_token(req.header("Authorization"));
    // Browsers cannot set headers on a WebSocket; they can offer subprotocols (http_util.h).
    if (key.empty()) key = websocket_credentials(req.header("Sec-WebSocket-Protocol")).key;
    if (key.empty()) {
      fail(401, "unauthenticated", "this endpoint needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'");
    }
    if (!is_well_formed_api_key(key)) fail(401, "unauthenticated", "the API key is not valid");
    auto record = value_or_fail(service.store().find_api_key(hash_api_key(key)));
    if (!record) fail(401, "unauthenticated", "the API key is not valid");
    Scopes scopes = value_or_fail(parse_scopes(record->scopes));
    Scope needed = access == Access::kAdmin ? Scope::kAdmin : access == Access::kSubmit ? Scope::kSubmit : Scope::kRead;
    if (!scopes.allows(needed)) {
      fail(403, "forbidden", fmt::format("this API key lacks the '{}' scope", format_scopes(Scopes{needed})));
    }
    return {record->tenant, record->id, scopes};
  }

  // ------------------------------------------------------------------ routes
  void add(const char* method, const char* pattern, const char* name, Access access, Handler h, bool limited = true) {
    auto parsed = RoutePattern::parse(pattern);
    if (!parsed) throw std::logic_error(parsed.status().message());  // a route table bug: fails every test
    routes.push_back({method, std::move(parsed).value(), name, access, limited, std::move(h)});
  }

  void add_routes() {
    add("GET", "/", "/", Access::kPublic, [](Request& r) { return reply(StudioRoutes::web_asset(r.path)); }, false);
    add("GET", "/assets/(.*)", "/assets/{file}", Access::kPublic, [](Request& r) { return reply(StudioRoutes::web_asset(r.path)); }, false);
    for (const char* p : {"/health", "/healthz"}) add("GET", p, "/healthz", Access::kPublic, [this](Request&) { return health(); }, false);
    for (const char* p : {"/ready", "/readyz"}) add("GET", p, "/readyz", Access::kPublic, [this](Request&) { return ready(); }, false);
    add("GET", "/metrics", "/metrics", Access::kPublic, [this](Request&) { return metrics_text(); }, false);
    add("GET", "/api/v1/status", "/api/v1/status", Access::kRead, [this](Request& r) { return status(r); });
    add("GET", "/api/v1/models", "/api/v1/models", Access::kRead, [this](Request&) { return models(); });
    add("POST", "/api/v1/upload", "/api/v1/upload", Access::kSubmit, [this](Request& r) { return upload(r); });
    // multipart/form-data: a streamed upload like /api/v1/upload; JSON: a direct upload begins.
    add("POST", "/api/v1/uploads", "/api/v1/uploads", Access::kSubmit, [this](Request& r) {
      const std::string type = r.header("Content-Type");
      if (type.rfind("application/json", 0) == 0) return begin_direct_upload(r);
      if (type.rfind("multipart/form-data", 0) == 0) return upload(r);
      fail(415, "unsupported", "send the file as multipart/form-data in the field 'file' (a streamed upload), or "
                               "application/json {filename, size, content_type} to begin a direct upload");
    });
    add("POST", "/api/v1/uploads/([A-Za-z0-9_]+)/complete", "/api/v1/uploads/{upload_id}/complete", Access::kSubmit,
        [this](Request& r) { return complete_direct_upload(r); });
    add("POST", "/api/v1/jobs", "/api/v1/jobs", Access::kSubmit, [this](Request& r) { return create_job(r, nullptr); });
    add("GET", "/api/v1/jobs", "/api/v1/jobs", Access::kRead, [this](Request& r) { return list_jobs(r); });
    add("GET", "/api/v1/jobs/([A-Za-z0-9_]+)", "/api/v1/jobs/{job_id}", Access::kRead, [this](Request& r) {
      return Response::json_body(job_json(value_or_fail(service.get(r.caller.tenant, r.match[1].str()))));
    });
    add("DELETE", "/api/v1/jobs/([A-Za-z0-9_]+)", "/api/v1/jobs/{job_id}", Access::kSubmit, [this](Request& r) {
      ok_or_fail(service.remove(r.caller.tenant, r.match[1].str()));
      return Response::json_body({{"job_id", r.match[1].str()}, {"deleted", true}});
    });
    add("POST", "/api/v1/jobs/([A-Za-z0-9_]+)/cancel", "/api/v1/jobs/{job_id}/cancel", Access::kSubmit, [this](Request& r) {
      return Response::json_body(job_json(value_or_fail(service.cancel(r.caller.tenant, r.match[1].str()))));
    });
    add("GET", "/api/v1/jobs/([A-Za-z0-9_]+)/events", "/api/v1/jobs/{job_id}/events", Access::kRead,
        [this](Request& r) { return events(r); });
    add("POST", "/api/v1/process/swap", "/api/v1/process/swap", Access::kSubmit, [this](Request& r) {
      static const std::vector<std::string> kSwap = {"face_swapper"};
      return create_job(r, &kSwap);
    });
    add("POST", "/api/v1/process/enhance", "/api/v1/process/enhance", Access::kSubmit, [this](Request& r) {
      static const std::vector<std::string> kEnhance = {"face_enhancer"};
      return create_job(r, &kEnhance);
    });
    add("POST", "/api/v1/detect", "/api/v1/detect", Access::kSubmit, [this](Request& r) { return detect(r); });
    add("POST", "/api/v1/keys", "/api/v1/keys", Access::kAdmin, [this](Request& r) { return create_key(r); });
    // Public at the router: the handler accepts a signed link or a read key (media()).
    add("GET", "/media/(.*)", "/media/{key}", Access::kPublic, [this](Request& r) { return media(r); });
    add("GET", "/api/v1/keys", "/api/v1/keys", Access::kAdmin, [this](Request& r) { return list_keys(r); });
    add("DELETE", "/api/v1/keys/([A-Za-z0-9_]+)", "/api/v1/keys/{key_id}", Access::kAdmin,
        [this](Request& r) { return delete_key(r); });
    add("DELETE", "/api/v1/uploads/([A-Za-z0-9_]+)", "/api/v1/uploads/{upload_id}", Access::kSubmit,
        [this](Request& r) { return delete_upload(r); });
    add("GET", "/api/v1/processors", "/api/v1/processors", Access::kRead, [this](Request&) { return reply(studio.processors()); });
    add("GET", "/api/v1/live", "/api/v1/live", Access::kSubmit, [](Request&) -> Response {
      fail(400, "invalid_argument", "/api/v1/live is a WebSocket: connect with ws:// (or wss://) and the subprotocol "
                                    "facefuse.bearer.<key>; see docs/service.md, Live mode");
    });
    add("POST", "/api/v1/preview", "/api/v1/preview", Access::kSubmit, [this](Request& r) { return reply(value_or_fail(studio.preview(r.caller.tenant, read_json_body(r)))); });
  }

  static Response reply(StudioReply in) {
    Response r;
    r.status = in.status;
    r.content_type = std::move(in.content_type);
    r.body = std::move(in.body);
    r.headers = std::move(in.headers);
    return r;
  }


  // The body was read whole by the transport (≤ max_json_bytes; larger is 413 before any read).
  json read_json_body(Request& req) {
    const std::string& body = req.http->body;
    if (static_cast<int64_t>(body.size()) > config.max_json_bytes) {
      fail(413, "limit_exceeded", fmt::format("the JSON body is over the limit of {} bytes", config.max_json_bytes));
    }
    if (body.empty()) fail(400, "invalid_argument", "the request needs a JSON body");
    if (json_nesting_exceeds(body, kMaxJsonDepth)) {
      fail(400, "invalid_json", fmt::format("the JSON body nests deeper than {} levels", kMaxJsonDepth));
    }
    json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) fail(400, "invalid_json", "the body is not valid JSON");
    return parsed;
  }

  Response health() {
    json body = {{"status", "ok"}, {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                                                     std::chrono::system_clock::now().time_since_epoch()).count()},
                 {"uptime_seconds", uptime()}, {"draining", draining.load()}, {"workers", workers.size()},
                 {"process_count", 1}, {"model_loaded", models_loaded()}, {"last_inference_ms", last_inference_ms()}};
    auto snapshot = system.sample();
    if (snapshot) {
      body["cpu_usage_percent"] = snapshot->cpu_usage_percent;
      body["memory_used_mb"] = snapshot->memory.used_mb;
      body["memory_total_mb"] = snapshot->memory.total_mb;
      json gpus = json::array();
      for (const auto& g : snapshot->gpus) {
        gpus.push_back({{"index", g.index}, {"name", g.name}, {"gpu_utilization_percent", g.utilization_percent},
                        {"gpu_memory_used_mb", g.memory_used_mb}, {"gpu_memory_total_mb", g.memory_total_mb}});
      }
      body["gpus"] = gpus;
    }
    auto depth = service.store().queue_depth();
    body["task_queue_length"] = depth ? json(*depth) : json(nullptr);
    return Response::json_body(body);
  }

  double uptime() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }

  // A worker of this process holds loaded models (the pool's session cache is not empty): its next
  // task pays no model loading. An API node without workers never does.
  bool models_loaded() const {
    return workers.size() > 0 && config.session.cache != nullptr && config.session.cache->size() > 0;
  }

  // Wall time of the last task this process's workers completed, ms (null before the first).
  json last_inference_ms() const {
    int64_t ms = workers.last_task_ms();
    return ms < 0 ? json(nullptr) : json(ms);
  }

  bool models_present() const {
    for (const auto& m : inference::model_catalog()) {
      if (m.is_default && inference::model_state(m, config.models_dir) != inference::ModelState::kInstalled) return false;
    }
    return true;
  }

  Response ready() {
    const auto store_started = std::chrono::steady_clock::now();
    Status store = service.store().check_ready();  // PostgreSQL: SELECT 1 on a pooled connection
    const double store_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - store_started).count();
    const auto blobs_started = std::chrono::steady_clock::now();
    Status blobs = service.blobs().check_ready();  // S3: a HEAD of the bucket
    const double storage_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - blobs_started).count();
    bool models_ok = models_present();
    // At the free-space reserve uploads and submits are refused (507): not ready for new work.
    if (blobs.is_ok()) blobs = service.check_free_space();
    json checks = {{"job_store", store.is_ok() ? "ok" : store.message()},
                   {"job_store_latency_ms", std::round(store_ms * 10) / 10},
                   {"storage", blobs.is_ok() ? "ok" : blobs.message()},
                   {"storage_latency_ms", std::round(storage_ms * 10) / 10},
                   {"models", models_ok ? "ok" : "default models missing: run 'facefuse models list' and scripts/setup"},
                   {"draining", draining.load()}};
    bool ok = store.is_ok() && blobs.is_ok() && models_ok && !draining.load();
    return Response::json_body({{"status", ok ? "ready" : "not_ready"}, {"checks", checks}}, ok ? 200 : 503);
  }

  Response metrics_text() {
    refresh_gauges();
    Response r;
    r.content_type = ServiceMetrics::kContentType;
    r.body = metrics.serialize();
    return r;
  }

  void refresh_gauges() {
    if (auto counts = service.store().job_counts_by_state()) {
      for (const auto& [state, n] : *counts) metrics.set_jobs(state, static_cast<double>(n));
    }
    if (auto depth = service.store().queue_depth()) metrics.set_queue_depth(static_cast<double>(*depth));
    metrics.set_workers(workers.size(), workers.busy());
  }

  Response status(Request& req) {
    json body = {{"api_version", kApiVersion}, {"version", config.version}, {"uptime_seconds", uptime()}, {"workers", workers.size()},
                 {"workers_busy", workers.busy()}, {"draining", draining.load()}, {"auth", config.auth}};
    body["queue_depth"] = value_or_fail(service.store().queue_depth());
    // The caller's tenant only: other tenants' activity is not a key holder's business.
    body["jobs"] = value_or_fail(service.store().tenant_job_counts(req.caller.tenant));
    const auto& limits = service.config().limits;  // so clients can check files before uploading them
    body["limits"] = {{"max_upload_bytes", limits.max_upload_bytes}, {"max_pixels", limits.max_pixels},
                      {"max_video_seconds", limits.max_video_seconds}};
    return Response::json_body(body);
  }

  Response models() {
    json processors = json::array();
    for (const auto& p : processors::processor_registry()) {
      processors.push_back({{"name", std::string(p.name)}, {"description", std::string(p.description)}});
    }
    json models = json::array();
    for (const auto& m : inference::model_catalog()) {
      models.push_back({{"id", m.id}, {"kind", m.kind}, {"description", m.description}, {"license", m.license},
                        {"default", m.is_default},
                        {"state", inference::model_state_name(inference::model_state(m, config.models_dir))}});
    }
    return Response::json_body({{"processors", processors}, {"models", models}});
  }

  // The multipart body streams from the socket through MultipartParser into a temporary file
  // (UploadSink), checked against the limit on bytes received, then goes to storage.
  Response upload(Request& req) {
    const int64_t limit = service.config().limits.max_upload_bytes;
    if (req.http->content_length && static_cast<int64_t>(*req.http->content_length) > limit) {
      HttpError e{413, "limit_exceeded",
                  fmt::format("the upload is {} bytes, over this server's limit of {} bytes", *req.http->content_length,
                              limit), {}};
      e.headers.emplace_back("Connection", "close");
      throw e;
    }
    std::string type = req.header("Content-Type");
    if (type.rfind("multipart/form-data", 0) != 0 || !req.http->read_body) {
      fail(415, "unsupported", "upload with Content-Type multipart/form-data and the file in the field 'file'");
    }
    // Before reading the body: on a full disk the body could only be cut short.
    ok_or_fail(service.check_free_space());
    std::string boundary = value_or_fail(multipart_boundary(type));
    std::error_code ec;
    fs::create_directories(config.upload_temp_dir, ec);
    UploadSink sink(config.upload_temp_dir);
    MultipartParser parser(boundary, sink);
    std::vector<char> buffer(64 * 1024);
    int64_t received = 0;
    Status status = Status::ok();
    while (status.is_ok()) {
      auto n = req.http->read_body(buffer.data(), buffer.size());
      if (!n) {
        status = n.status();
        break;
      }
      if (*n == 0) {
        status = parser.finish();
        break;
      }
      received += static_cast<int64_t>(*n);
      if (received > limit) {
        status = limit_exceeded(fmt::format("the upload is over this server's limit of {} bytes", limit));
        break;
      }
      status = parser.feed(std::string_view(buffer.data(), *n));
    }
    TempFileGuard cleanup(sink.path());
    if (sink.disk_full()) {
      fail(507, "insufficient_storage", "the server's disk is full: the upload was not stored, try again later");
    }
    if (!status.is_ok()) {
      if (status.code() == StatusCode::kLimitExceeded) {
        HttpError e{413, "limit_exceeded", status.message(), {{"Connection", "close"}}};
        throw e;
      }
      if (status.code() == StatusCode::kInvalidArgument) fail(400, "invalid_argument", status.message());
      fail(status);
    }
    if (sink.files() == 0 || sink.path().empty() || !fs::exists(sink.path(), ec)) {
      fail(400, "invalid_argument", "the multipart body has no file in the field 'file'");
    }
    auto upload = value_or_fail(
        service.register_upload(req.caller.tenant, sink.path(), storage::sanitize_display_name(sink.filename())));
    spdlog::info(dump_safe(json{{"msg", "upload stored"}, {"upload_id", upload.id}, {"tenant", upload.tenant},
                                {"media", upload.media}, {"size", upload.size}}));
    return Response::json_body(upload_json(upload), 201);
  }

  // {filename, size, content_type} → {upload_id, put_url, expires_at, method, headers}: the client
  // PUTs the file to put_url with exactly those headers, then completes the upload.
  Response begin_direct_upload(Request& req) {
    json body = read_json_body(req);
    if (!body.is_object()) fail(400, "invalid_argument", "the body must be {\"filename\", \"size\", \"content_type\"}");
    for (const auto& [k, v] : body.items()) {
      if (k != "filename" && k != "size" && k != "content_type") {
        fail(400, "invalid_argument", fmt::format("unknown field '{}' (allowed: filename, size, content_type)", client_text(k, 64)));
      }
    }
    if (!body.contains("filename") || !body["filename"].is_string()) fail(400, "invalid_argument", "filename must be a string");
    if (!body.contains("size") || !body["size"].is_number_integer()) {
      fail(400, "invalid_argument", "size must be the file's length in bytes (an integer)");
    }
    if (!body.contains("content_type") || !body["content_type"].is_string()) {
      fail(400, "invalid_argument", "content_type must be a string such as \"image/jpeg\" or \"video/mp4\"");
    }
    const int64_t size = body["size"].is_number_unsigned() && body["size"].get<uint64_t>() > INT64_MAX
                             ? INT64_MAX
                             : body["size"].get<int64_t>();
    auto ticket = value_or_fail(direct_uploads.begin(req.caller.tenant, body["filename"].get<std::string>(), size,
                                                     body["content_type"].get<std::string>()));
    spdlog::info(dump_safe(json{{"msg", "direct upload begun"}, {"upload_id", ticket.upload_id},
                                {"tenant", req.caller.tenant}, {"size", ticket.size}}));
    return Response::json_body({{"upload_id", ticket.upload_id}, {"put_url", ticket.put_url}, {"method", "PUT"},
                                {"headers", {{"Content-Type", ticket.content_type},
                                             {"Content-Length", std::to_string(ticket.size)}}},
                                {"expires_at", jobs::rfc3339_utc(ticket.expires_at_ms)}}, 201);
  }

  Response complete_direct_upload(Request& req) {
    auto upload = value_or_fail(direct_uploads.complete(req.caller.tenant, req.match[1].str()));
    spdlog::info(dump_safe(json{{"msg", "direct upload completed"}, {"upload_id", upload.id}, {"tenant", upload.tenant},
                                {"media", upload.media}, {"size", upload.size}}));
    return Response::json_body(upload_json(upload), 200);
  }

  Response create_job(Request& req, const std::vector<std::string>* processors) {
    if (draining.load()) fail(503, "unavailable", "this server is shutting down: submit the job again in a moment");
    json body = read_json_body(req);
    if (processors != nullptr && body.is_object()) {
      if (!body.contains("options") || body["options"].is_null()) body["options"] = json::object();
      if (body["options"].is_object()) body["options"]["processors"] = *processors;
    }
    auto created = value_or_fail(service.submit(req.caller.tenant, body, req.header("Idempotency-Key")));
    json out = job_json(created.job);
    spdlog::info(json{{"msg", created.created ? "job created" : "job replayed (Idempotency-Key)"},
                      {"job_id", created.job.id}, {"tenant", created.job.tenant}, {"kind", created.job.kind},
                      {"cached", created.job.cached}}.dump());
    Response r = Response::json_body(out, created.created ? 201 : 200);
    r.headers.emplace_back("Location", "/api/v1/jobs/" + created.job.id);
    return r;
  }

  Response list_jobs(Request& req) {
    std::optional<jobs::JobState> state;
    if (req.query.count("status") != 0 && !req.query["status"].empty()) {
      state = value_or_fail(jobs::parse_job_state(req.query["status"]));
    }
    int limit = 20;
    if (req.query.count("limit") != 0) {
      try {
        limit = std::stoi(req.query["limit"]);
      } catch (const std::exception&) {
        limit = -1;
      }
      if (limit < 1 || limit > 100) fail(400, "invalid_argument", "limit must be an integer from 1 to 100");
    }
    auto page = value_or_fail(service.store().list_jobs(req.caller.tenant, state, limit, req.query["cursor"]));
    json rows = json::array();
    for (const auto& j : page.jobs) rows.push_back(job_json(j));
    return Response::json_body({{"jobs", rows}, {"next_cursor", page.next_cursor.empty() ? json(nullptr) : json(page.next_cursor)}});
  }

  int64_t since_param(Request& req) {
    if (req.query.count("since") == 0) return 0;
    try {
      size_t used = 0;
      int64_t v = std::stoll(req.query["since"], &used);
      if (used == req.query["since"].size() && v >= 0) return v;
    } catch (const std::exception&) {
    }
    fail(400, "invalid_argument", "since must be a sequence number (0 or more)");
  }

  // GET events: JSON page by default; a live Server-Sent Events stream for Accept: text/event-stream.
  // GET events: JSON page by default; a live Server-Sent Events stream for Accept:
  // text/event-stream, fed by the pusher like a WebSocket (it holds no handler thread).
  Response events(Request& req) {
    const std::string job_id = req.match[1].str();
    jobs::Job job = value_or_fail(service.get(req.caller.tenant, job_id));
    int64_t since = since_param(req);
    if (req.header("Accept").find("text/event-stream") == std::string::npos) {
      auto events = value_or_fail(service.store().events_since(job_id, since, 1000));
      json rows = json::array();
      for (const auto& e : events) rows.push_back(signed_event(e.data));
      return Response::json_body({{"job_id", job_id}, {"events", rows},
                                  {"next_since", events.empty() ? since : events.back().seq}});
    }
    Response r;
    r.stream = HttpResponse::Stream::kEventStream;
    r.on_stream = watch(req, job_id, since, jobs::is_terminal(job.state));
    return r;
  }

  // Takes a stream slot (429 over a per-key or per-address cap, 503 over the total) and returns
  // what registers the opened sink with the pusher.
  std::function<void(std::shared_ptr<EventSink>)> watch(const Request& req, const std::string& job_id, int64_t since,
                                                        bool finished) {
    const std::string& address = req.http->remote_address;
    const std::string& key = req.caller.key_id;
    {
      std::lock_guard lock(stream_counts.mutex);
      if (stream_counts.total >= config.max_streams) {
        HttpError e{503, "unavailable", fmt::format("this server holds its limit of {} open event streams: retry later",
                                                    config.max_streams), {{"Retry-After", "5"}}};
        throw e;
      }
      if (stream_counts.per_key[key] >= config.max_streams_per_key) {
        if (stream_counts.per_key[key] == 0) stream_counts.per_key.erase(key);
        HttpError e{429, "rate_limited", fmt::format("this API key has {} open event streams, the limit: close one "
                                                     "first", config.max_streams_per_key), {{"Retry-After", "5"}}};
        throw e;
      }
      if (stream_counts.per_address[address] >= config.max_streams_per_address) {
        if (stream_counts.per_address[address] == 0) stream_counts.per_address.erase(address);
        HttpError e{429, "rate_limited", fmt::format("this address has {} open event streams, the limit: close one "
                                                     "first", config.max_streams_per_address), {{"Retry-After", "5"}}};
        throw e;
      }
      ++stream_counts.total;
      ++stream_counts.per_key[key];
      ++stream_counts.per_address[address];
    }
    auto slot = std::make_shared<StreamSlot>(&stream_counts, address, key);
    return [this, job_id, since, finished, slot](std::shared_ptr<EventSink> sink) {
      pusher.add(std::move(sink), job_id, since, finished, slot);
    };
  }

  Response detect(Request& req) {
    json body = read_json_body(req);
    if (!body.is_object() || !body.contains("upload_id") || !body["upload_id"].is_string()) {
      fail(400, "invalid_argument", "the body must be {\"upload_id\": \"...\"} (optional: frame_number, face_detector, "
                                    "face_detector_score, order, landmarks_68, age_gender)");
    }
    auto upload = value_or_fail(service.store().get_upload(req.caller.tenant, body["upload_id"].get<std::string>()));
    pipeline::DetectRequest request;
    auto id = value_or_fail(jobs::new_id("detect_"));
    fs::path local = config.upload_temp_dir / id;
    TempFileGuard cleanup(local);
    ok_or_fail(service.blobs().get_file(upload.storage_key, local));
    request.image = local;
    request.models_dir = config.models_dir;
    request.session = config.session;
    request.max_pixels = service.config().limits.max_pixels;
    try {
      request.frame_number = body.value("frame_number", int64_t{0});
      request.detector = body.value("face_detector", request.detector);
      request.detector_score = body.value("face_detector_score", -1.0f);
      request.order = body.value("order", request.order);
      request.include_landmarks68 = body.value("landmarks_68", false);
      request.include_attributes = body.value("age_gender", true);
    } catch (const json::exception&) {
      fail(400, "invalid_argument", "frame_number must be an integer, face_detector/order strings, "
                                    "face_detector_score a number, landmarks_68 and age_gender booleans");
    }
    // Handler threads have 8 MiB stacks (http_server.h): ONNX Runtime's session set-up needs far
    // more than the 100 KiB civetweb gave its workers.
    json faces = value_or_fail(pipeline::detect_faces(request));
    faces.erase("image");  // a server path: not the client's business
    faces["upload_id"] = upload.id;
    return Response::json_body(faces);
  }

  Response create_key(Request& req) {
    json body = read_json_body(req);
    if (!body.is_object() || !body.contains("tenant") || !body["tenant"].is_string()) {
      fail(400, "invalid_argument", "the body must be {\"tenant\": \"name\", \"scopes\": \"submit,read\"}");
    }
    std::string scopes_text = body.contains("scopes") && body["scopes"].is_string() ? body["scopes"].get<std::string>()
                                                                                      : "submit,read";
    Scopes scopes = value_or_fail(parse_scopes(scopes_text));
    const std::string tenant = body["tenant"].get<std::string>();
    check_key_tenant(req, tenant, "mint keys");
    if (!valid_tenant_name(tenant)) {
      fail(400, "invalid_argument", "tenant must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-' and '.'");
    }
    auto issued = value_or_fail(issue_api_key(tenant, scopes,
                                              std::chrono::duration_cast<std::chrono::seconds>(
                                                  std::chrono::system_clock::now().time_since_epoch()).count()));
    ok_or_fail(service.store().add_api_key({issued.record.id, issued.record.tenant, issued.record.hash,
                                            format_scopes(issued.record.scopes), issued.record.created_at * 1000}));
    return Response::json_body({{"id", issued.record.id}, {"tenant", issued.record.tenant},
                                {"scopes", format_scopes(issued.record.scopes)}, {"key", issued.plaintext}}, 201);
  }

  // Outputs only (jobs::output_key_job_id: either key layout), readable by the job's tenant. Another tenant's output
  // is 404, like a missing one. The body is read piece by piece on handler threads and written
  // by the transport, so a slow reader holds no thread; HEAD gets the headers only.
  Response media(Request& req) {
    const std::string key = req.match[1].str();
    // A signed link (output_url) authorises exactly its path until it expires, without a key;
    // anything else needs a read key of the job's tenant.
    const bool signed_link = req.query.count("sig") != 0 || req.query.count("expires") != 0;
    if (signed_link) {
      ok_or_fail(config.media_links->verify(req.path, req.query, unix_seconds()));
    } else {
      req.caller = authenticate(req, Access::kRead);
      limit_key(req.caller.key_id);
    }
    ok_or_fail(storage::validate_key(key));
    const std::string job_id = jobs::output_key_job_id(key);
    if (job_id.empty()) fail(404, "not_found", fmt::format("no media '{}'", client_text(key)));
    // A verified signed link names its job by path: no tenant to check it against.
    auto job = signed_link ? service.store().get_job(job_id) : service.get(req.caller.tenant, job_id);
    if (!job || job->output_key != key) fail(404, "not_found", fmt::format("no media '{}'", client_text(key)));
    if (job->output_expired_at_ms > 0) {
      fail(410, "output_expired",
           fmt::format("the output of job {} was deleted at {} by the server's retention (--retain-outputs): submit "
                       "the job again to make it anew",
                       job_id, jobs::rfc3339_utc(job->output_expired_at_ms)));
    }
    auto info = service.blobs().stat(key);
    if (!info) fail(404, "not_found", fmt::format("no media '{}'", client_text(key)));
    const int64_t size = info->size;
    auto range = parse_byte_range(req.header("Range"), size);
    Response r;
    r.headers = {{"Accept-Ranges", "bytes"}};
    if (!range) {
      HttpError e{416, "range_not_satisfiable", range.status().message(), {}};
      e.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
      throw e;
    }
    int64_t first = 0, length = size;
    if (range->has_value()) {
      first = (*range)->first;
      length = (*range)->length();
      r.status = 206;
      r.headers.emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", first, (*range)->last, size));
    }
    r.content_type = content_type_for(key);
    r.stream_length = length;
    static constexpr int64_t kPiece = 1 << 20;
    auto done = std::make_shared<int64_t>(0);
    storage::BlobStore* blobs = &service.blobs();
    r.next_piece = [blobs, key, first, length, done]() -> Result<std::string> {
      if (*done >= length) return std::string();
      FF_ASSIGN_OR_RETURN(auto piece, blobs->read_range(key, first + *done, std::min(kPiece, length - *done)));
      if (piece.empty()) return unavailable("the media ended early");
      *done += static_cast<int64_t>(piece.size());
      return piece;
    };
    return r;
  }

  // ------------------------------------------------------------------ keys, uploads, signed links
  // A job as the API shows it: output_url is a fresh signed link (media_links.h).
  json job_json(const jobs::Job& job) const {
    json out = jobs::job_to_json(job);
    sign_output_url(out, *config.media_links, unix_seconds());
    return out;
  }

  // A stored event (its output_url unsigned, as recorded) signed for the client reading it now.
  json signed_event(const json& data) const {
    json out = data;
    sign_output_url(out, *config.media_links, unix_seconds());
    return out;
  }

  static bool valid_tenant_name(const std::string& tenant) {
    return !tenant.empty() && tenant.size() <= 64 &&
           tenant.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") ==
               std::string::npos;
  }

  // An admin key manages its own tenant's keys; only the operator tenant's admin keys (the
  // bootstrap key's tenant) manage other tenants'. 403 otherwise.
  void check_key_tenant(const Request& req, const std::string& tenant, const char* what) const {
    if (tenant == req.caller.tenant || !config.auth || req.caller.tenant == config.operator_tenant) return;
    fail(403, "forbidden", fmt::format("this admin key belongs to tenant '{}' and may {} for that tenant only",
                                       req.caller.tenant, what));
  }

  // The tenant a keys route acts on: the caller's, or ?tenant= for the operator's admin keys.
  std::string keys_tenant(Request& req) const {
    if (req.query.count("tenant") == 0 || req.query["tenant"].empty()) return req.caller.tenant;
    const std::string tenant = req.query["tenant"];
    if (!valid_tenant_name(tenant)) fail(400, "invalid_argument", "tenant must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-' and '.'");
    check_key_tenant(req, tenant, "manage keys");
    return tenant;
  }

  static json key_json(const jobs::ApiKeyRecord& k) {
    // Never the hash (nor, of course, the key: the store does not have it).
    return {{"id", k.id}, {"tenant", k.tenant}, {"scopes", k.scopes}, {"created_at", jobs::rfc3339_utc(k.created_at_ms)}};
  }

  Response list_keys(Request& req) {
    const std::string tenant = keys_tenant(req);
    json rows = json::array();
    for (const auto& k : value_or_fail(service.store().list_api_keys(tenant))) rows.push_back(key_json(k));
    return Response::json_body({{"tenant", tenant}, {"keys", rows}});
  }

  Response delete_key(Request& req) {
    const std::string tenant = keys_tenant(req);
    const std::string key_id = req.match[1].str();
    auto keys = value_or_fail(service.store().list_api_keys(tenant));
    auto it = std::find_if(keys.begin(), keys.end(), [&](const jobs::ApiKeyRecord& k) { return k.id == key_id; });
    if (it == keys.end()) fail(404, "not_found", fmt::format("API key '{}' does not exist", key_id));
    // The operator tenant's last admin key is the only way to manage keys: revoking it would lock
    // every administrator out until a restart with FACEFUSE_ADMIN_KEY.
    auto is_admin = [](const jobs::ApiKeyRecord& k) { auto s = parse_scopes(k.scopes); return s && s->has(Scope::kAdmin); };
    if (tenant == config.operator_tenant && is_admin(*it) &&
        std::count_if(keys.begin(), keys.end(), is_admin) == 1) {
      fail(409, "failed_precondition", fmt::format("API key '{}' is the last admin key of tenant '{}': issue another "
                                                   "admin key first (POST /api/v1/keys), then revoke this one",
                                                   key_id, tenant));
    }
    ok_or_fail(service.store().delete_api_key(tenant, key_id));
    spdlog::info(json{{"msg", "API key revoked"}, {"key_id", key_id}, {"tenant", tenant}, {"by", req.caller.key_id}}.dump());
    return Response::json_body({{"id", key_id}, {"deleted", true}});
  }

  Response delete_upload(Request& req) {
    const std::string upload_id = req.match[1].str();
    ok_or_fail(service.remove_upload(req.caller.tenant, upload_id));
    return Response::json_body({{"upload_id", upload_id}, {"deleted", true}});
  }

  // ------------------------------------------------------------------ WebSocket
  bool is_websocket_path(const Request& req) const {
    std::vector<std::string> captures;
    for (const auto& p : ws_routes) {
      if (p.match(req.path, captures)) return true;
    }
    return false;
  }

  static LiveConfig live_config(const ApiServerConfig& c) {
    LiveConfig out = c.live;
    if (out.temp_dir.empty()) out.temp_dir = c.upload_temp_dir.parent_path() / "live";
    return out;
  }

  // What every upgrade is checked for, as any request: the address's rate limit, the origin, the
  // one authenticate() (key as subprotocol facefuse.bearer.<key>), the key's rate limit.
  void check_websocket_caller(Request& req, Access access) {
    limit_address(req.http->remote_address);
    check_local_origin(req);
    req.caller = authenticate(req, access);
    limit_key(req.caller.key_id);
  }

  // An accepted upgrade. Echoes the subprotocol the credentials helper chose (never the bearer
  // token when the client also offered facefuse.v1).
  static Response websocket_accepted(Request& req) {
    Response r;
    r.stream = HttpResponse::Stream::kWebSocket;
    std::string protocol = websocket_credentials(req.header("Sec-WebSocket-Protocol")).protocol;
    if (!protocol.empty()) r.headers.emplace_back("Sec-WebSocket-Protocol", std::move(protocol));
    return r;
  }

  // GET /api/v1/live upgraded: checked like the job WebSocket (submit scope: it runs the swapper),
  // one live-session slot per socket (429 per key / address, 503 in total), then every message
  // goes to the live service.
  Response live_websocket(Request& req, std::string& route_name) {
    route_name = "/api/v1/live";
    check_websocket_caller(req, Access::kSubmit);
    auto session = value_or_fail(live.admit(req.caller.tenant, req.caller.key_id, req.http->remote_address));
    Response r = websocket_accepted(req);
    r.on_stream = [this, session](std::shared_ptr<EventSink> sink) { live.attach(session, std::move(sink)); };
    r.on_message = [this, session](std::string message, bool binary) {
      live.on_message(session, std::move(message), binary);
    };
    r.max_message_bytes = live.max_message_bytes();
    return r;
  }

  // An upgrade to /ws/job/{id}/progress or the WebSocket twin of /api/v1/jobs/{id}/events:
  // checked like any request (rate limit, the one authenticate(), the job's tenant) and refused
  // with a real HTTP answer; accepted, the socket becomes a sink of the pusher.
  Response websocket(Request& req, std::string& route_name) {
    if (req.path == "/api/v1/live") return live_websocket(req, route_name);
    std::vector<std::string> captures;
    for (const auto& p : ws_routes) {
      if (p.match(req.path, captures)) {
        route_name = p.text().rfind("/ws/", 0) == 0 ? "/ws/job/{job_id}/progress" : "/api/v1/jobs/{job_id}/events";
        break;
      }
    }
    req.match.set(req.path, captures);
    const std::string job_id = req.match[1].str();
    check_websocket_caller(req, Access::kRead);
    jobs::Job job = value_or_fail(service.get(req.caller.tenant, job_id));
    int64_t since = since_param(req);
    Response r = websocket_accepted(req);
    r.on_stream = watch(req, job_id, since, jobs::is_terminal(job.state));
    return r;
  }
};

ApiServer::ApiServer(ApiServerConfig config, jobs::JobService& service, jobs::WorkerPool& workers,
                     ServiceMetrics& metrics, SystemStats& system)
    : impl_(std::make_unique<Impl>(std::move(config), service, workers, metrics, system)) {}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::start() {
  Impl& impl = *impl_;
  FF_ASSIGN_OR_RETURN(impl.listen, parse_listen_address(impl.config.listen));
  std::optional<ListenAddress> metrics_listen;
  if (!impl.config.metrics_listen.empty()) {
    FF_ASSIGN_OR_RETURN(metrics_listen, parse_listen_address(impl.config.metrics_listen));
  }
  HttpLimits limits = impl.config.http;
  limits.max_buffered_body_bytes = impl.config.max_json_bytes;
  limits.max_upload_bytes = impl.service.config().limits.max_upload_bytes;
  impl.http = std::make_unique<HttpServer>(limits, [&impl](HttpRequest& r) { return impl.dispatch(r); });
  Status started = impl.http->start(impl.listen, metrics_listen);
  if (!started.is_ok()) {
    impl.http.reset();
    return started;
  }
  FF_RETURN_IF_ERROR(impl.live.start());
  return impl.pusher.start();
}

int ApiServer::port() const { return impl_->http ? impl_->http->port() : 0; }

int ApiServer::metrics_port() const { return impl_->http ? impl_->http->metrics_port() : 0; }

std::string ApiServer::url() const { return fmt::format("http://{}/", ListenAddress{impl_->listen.host, port()}.authority()); }

void ApiServer::set_draining() { impl_->draining.store(true); }

void ApiServer::notify_job_event() { impl_->pusher.poke(); }

void ApiServer::stop() {
  if (!impl_->http) return;
  impl_->pusher.stop();
  impl_->live.stop();
  impl_->http->stop();
  impl_->http.reset();
}

}  // namespace facefuse::server
