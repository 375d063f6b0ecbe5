#include "facefuse/server/api_server.h"

#include <civetweb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "facefuse/core/error_codes.h"
#include "facefuse/inference/model_catalog.h"
#include "facefuse/jobs/job_service.h"
#include "facefuse/jobs/worker_pool.h"
#include "facefuse/pipeline/detect.h"
#include "facefuse/processors/registry.h"
#include "facefuse/server/api_keys.h"
#include "facefuse/server/http_util.h"
#include "facefuse/server/metrics.h"
#include "facefuse/server/rate_limiter.h"
#include "facefuse/server/studio_routes.h"
#include "facefuse/server/system_stats.h"

namespace facefuse::server {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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

[[noreturn]] void fail(const Status& status) {
  HttpError e{http_status_for(status.code()), status_code_name(status.code()), status.message(), {}};
  if (status.code() == StatusCode::kQuotaExceeded) e.headers.emplace_back("Retry-After", kQuotaRetryAfterSeconds);
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
};

enum class Access { kPublic, kRead, kSubmit, kAdmin };

struct Request {
  mg_connection* conn = nullptr;
  const mg_request_info* info = nullptr;
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::smatch match;
  Caller caller;

  std::string header(const char* name) const {
    const char* v = mg_get_header(conn, name);
    return v != nullptr ? v : "";
  }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool written = false;  // the route streamed its own response

  static Response json_body(const json& body, int status = 200) {
    Response r;
    r.status = status;
    r.body = body.dump();
    return r;
  }
};

std::string response_head(mg_connection* conn, int status, const std::string& content_type, int64_t length,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string head = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nCache-Control: no-store\r\n", status,
                                 mg_get_response_code_text(conn, status), content_type);
  if (length >= 0) head += fmt::format("Content-Length: {}\r\n", length);
  for (const auto& [k, v] : headers) head += fmt::format("{}: {}\r\n", k, v);
  head += "\r\n";
  return head;
}

void write_head(mg_connection* conn, int status, const std::string& content_type, int64_t length,
                const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string head = response_head(conn, status, content_type, length, headers);
  mg_write(conn, head.data(), head.size());
}

// Head and body in one write: two small writes on a keep-alive connection meet Nagle's algorithm
// and the client's delayed ACK (~40 ms per request).
void send_response(mg_connection* conn, const Response& r) {
  std::string out = response_head(conn, r.status, r.content_type, static_cast<int64_t>(r.body.size()), r.headers);
  out += r.body;
  mg_write(conn, out.data(), out.size());
}

bool event_ends_stream(const json& event) {
  return event.value("type", "") == "state" && (event.value("status", "") == "completed" ||
                                                event.value("status", "") == "failed" ||
                                                event.value("status", "") == "cancelled");
}

// The file part of a multipart upload, streamed to disk by civetweb.
struct UploadForm {
  fs::path temp_dir;
  fs::path stored;
  std::string filename;
  int64_t size = 0;
  int files = 0;
};

int form_field_found(const char* key, const char* filename, char* path, size_t pathlen, void* user_data) {
  auto* form = static_cast<UploadForm*>(user_data);
  if (filename == nullptr || std::string_view(key) != "file" || form->files > 0) return MG_FORM_FIELD_STORAGE_SKIP;
  ++form->files;
  form->filename = filename;
  auto id = jobs::new_id("part_");
  form->stored = form->temp_dir / (id ? *id : std::string("part_fallback"));
  std::snprintf(path, pathlen, "%s", form->stored.c_str());
  return MG_FORM_FIELD_STORAGE_STORE;
}

int form_field_get(const char*, const char*, size_t, void*) { return MG_FORM_FIELD_HANDLE_NEXT; }

int form_field_stored(const char* path, long long file_size, void* user_data) {
  auto* form = static_cast<UploadForm*>(user_data);
  form->size = file_size;
  return MG_FORM_FIELD_HANDLE_NEXT;
}

// Display name only (never a path on the server): the last path component, at most 200 bytes.
std::string display_name(const std::string& client_name) {
  std::string name = client_name;
  size_t slash = name.find_last_of("/\\");
  if (slash != std::string::npos) name = name.substr(slash + 1);
  if (name.size() > 200) name.resize(200);
  return name;
}

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

json upload_json(const jobs::Upload& u) {
  return {{"id", u.id}, {"upload_id", u.id}, {"filename", u.filename}, {"sha256", u.sha256}, {"size", u.size},
          {"media", u.media}, {"info", u.info}};
}

}  // namespace

struct ApiServer::Impl {
  using Handler = std::function<Response(Request&)>;
  struct Route {
    std::string method;
    std::regex pattern;
    std::string name;  // the template, for metrics labels and logs
    Access access;
    bool rate_limited;
    Handler handler;
  };

  // A WebSocket watching a job's events.
  struct Watcher {
    std::string job_id;
    int64_t last_seq = 0;
    bool closing = false;
  };

  Impl(ApiServerConfig c, jobs::JobService& s, jobs::WorkerPool& w, ServiceMetrics& m, SystemStats& sys)
      : config(std::move(c)), service(s), workers(w), metrics(m), system(sys),
        key_limiter({config.key_rate_per_second, config.key_rate_burst}),
        ip_limiter({config.ip_rate_per_second, config.ip_rate_burst}),
        started(std::chrono::steady_clock::now()),
        studio(s, {config.upload_temp_dir.parent_path() / "preview", {}, 8}) {
    add_routes();
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
  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};
  mg_context* ctx = nullptr;
  mg_context* metrics_ctx = nullptr;  // the --metrics-listen listener, when configured
  std::vector<Route> routes;

  std::mutex watchers_mutex;
  std::map<mg_connection*, Watcher> watchers;
  std::thread pusher;
  std::condition_variable pusher_cv;

  // ------------------------------------------------------------------ dispatch
  // `metrics_listener`: the request came in on the --metrics-listen listener.
  int dispatch(mg_connection* conn, bool metrics_listener) {
    auto t0 = std::chrono::steady_clock::now();
    Request req;
    req.conn = conn;
    req.info = mg_get_request_info(conn);
    req.method = req.info->request_method;
    // local_uri_raw: decoded but not normalised, so traversal attempts reach our checks intact.
    req.path = req.info->local_uri_raw != nullptr ? req.info->local_uri_raw : req.info->local_uri;
    if (req.info->query_string != nullptr) req.query = parse_query(req.info->query_string);
    std::string route_name = "unmatched";
    Response response;
    try {
      response = route(req, route_name, metrics_listener);
    } catch (const HttpError& e) {
      response = Response::json_body(error_body(e.code, e.message), e.status);
      response.headers = e.headers;
    } catch (const std::exception& e) {
      spdlog::error(json{{"msg", "request failed"}, {"route", route_name}, {"error", e.what()}}.dump());
      response = Response::json_body(error_body("internal", fmt::format("internal error: {}", e.what())), 500);
    } catch (...) {
      response = Response::json_body(error_body("internal", "internal error"), 500);
    }
    if (!response.written) send_response(conn, response);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metrics.observe_request(req.method, route_name, response.status, seconds);
    bool quiet = route_name == "/healthz" || route_name == "/readyz" || route_name == "/metrics";
    json line = {{"msg", "request"}, {"method", req.method}, {"route", route_name}, {"status", response.status},
                 {"ms", seconds * 1000}, {"remote", req.info->remote_addr}};
    if (!req.caller.tenant.empty()) line["tenant"] = req.caller.tenant;
    if (req.match.size() > 1 && route_name.find("{job_id}") != std::string::npos) line["job_id"] = req.match[1].str();
    if (quiet) spdlog::debug(line.dump()); else spdlog::info(line.dump());
    return response.status;
  }

  // The metrics listener serves only /metrics and /healthz; with one configured, the main
  // listener no longer serves /metrics (so the public port does not expose it).
  bool serves(const Route& r, bool metrics_listener) const {
    if (metrics_listener) return r.name == "/metrics" || r.name == "/healthz";
    return r.name != "/metrics" || config.metrics_listen.empty();
  }

  Response route(Request& req, std::string& route_name, bool metrics_listener) {
    bool path_matched = false;
    for (const Route& r : routes) {
      if (!serves(r, metrics_listener)) continue;
      if (!std::regex_match(req.path, req.match, r.pattern)) continue;
      path_matched = true;
      if (r.method != req.method) continue;
      route_name = r.name;
      if (r.rate_limited) limit_address(req.info->remote_addr);
      if (r.access != Access::kPublic) {
        req.caller = authenticate(req, r.access);
        if (r.rate_limited) limit_key(req.caller.key_id);
      }
      return r.handler(req);
    }
    if (path_matched) fail(405, "method_not_allowed", fmt::format("{} is not allowed on {}", req.method, req.path));
    fail(404, "not_found", fmt::format("no route {} {}: see /api/v1 in docs/openapi.yaml", req.method, req.path));
  }

  void limit_address(const char* address) { limit(ip_limiter, std::string("ip:") + address); }
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
    if (!config.auth) return {"local", "local"};
    std::string key = req.header("X-API-Key");
    std::string authorization = req.header("Authorization");
    if (key.empty() && authorization.rfind("Bearer ", 0) == 0) key = authorization.substr(7);
    // Browsers cannot set headers on WebSockets or <img>/<video> sources: a query parameter then.
    if (key.empty() && req.query.count("api_key") != 0) key = req.query.at("api_key");
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
    return {record->tenant, record->id};
  }

  // ------------------------------------------------------------------ routes
  void add(const char* method, const char* pattern, const char* name, Access access, Handler h, bool limited = true) {
    routes.push_back({method, std::regex(pattern), name, access, limited, std::move(h)});
  }

  void add_routes() {
    add("GET", "/", "/", Access::kPublic, [](Request& r) { return reply(StudioRoutes::web_asset(r.path)); }, false);
    add("GET", "/assets/.*", "/assets/{file}", Access::kPublic, [](Request& r) { return reply(StudioRoutes::web_asset(r.path)); }, false);
    for (const char* p : {"/health", "/healthz"}) add("GET", p, "/healthz", Access::kPublic, [this](Request&) { return health(); }, false);
    for (const char* p : {"/ready", "/readyz"}) add("GET", p, "/readyz", Access::kPublic, [this](Request&) { return ready(); }, false);
    add("GET", "/metrics", "/metrics", Access::kPublic, [this](Request&) { return metrics_text(); }, false);
    add("GET", "/api/v1/status", "/api/v1/status", Access::kRead, [this](Request&) { return status(); });
    add("GET", "/api/v1/models", "/api/v1/models", Access::kRead, [this](Request&) { return models(); });
    for (const char* p : {"/api/v1/upload", "/api/v1/uploads"}) {
      add("POST", p, "/api/v1/upload", Access::kSubmit, [this](Request& r) { return upload(r); });
    }
    add("POST", "/api/v1/jobs", "/api/v1/jobs", Access::kSubmit, [this](Request& r) { return create_job(r, nullptr); });
    add("GET", "/api/v1/jobs", "/api/v1/jobs", Access::kRead, [this](Request& r) { return list_jobs(r); });
    add("GET", "/api/v1/jobs/([A-Za-z0-9_]+)", "/api/v1/jobs/{job_id}", Access::kRead, [this](Request& r) {
      return Response::json_body(jobs::job_to_json(value_or_fail(service.get(r.caller.tenant, r.match[1].str()))));
    });
    add("DELETE", "/api/v1/jobs/([A-Za-z0-9_]+)", "/api/v1/jobs/{job_id}", Access::kSubmit, [this](Request& r) {
      ok_or_fail(service.remove(r.caller.tenant, r.match[1].str()));
      return Response::json_body({{"job_id", r.match[1].str()}, {"deleted", true}});
    });
    add("POST", "/api/v1/jobs/([A-Za-z0-9_]+)/cancel", "/api/v1/jobs/{job_id}/cancel", Access::kSubmit, [this](Request& r) {
      return Response::json_body(jobs::job_to_json(value_or_fail(service.cancel(r.caller.tenant, r.match[1].str()))));
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
    add("GET", "/media/(.*)", "/media/{key}", Access::kRead, [this](Request& r) { return media(r); });
    add("GET", "/api/v1/processors", "/api/v1/processors", Access::kRead, [this](Request&) { return reply(studio.processors()); });
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

  json read_json_body(Request& req) {
    long long length = req.info->content_length;
    if (length > config.max_json_bytes) {
      fail(413, "limit_exceeded", fmt::format("the JSON body is {} bytes, over the limit of {}", length, config.max_json_bytes));
    }
    std::string body;
    char buffer[8192];
    int n = 0;
    while ((n = mg_read(req.conn, buffer, sizeof(buffer))) > 0) {
      body.append(buffer, static_cast<size_t>(n));
      if (static_cast<int64_t>(body.size()) > config.max_json_bytes) {
        fail(413, "limit_exceeded", fmt::format("the JSON body is over the limit of {} bytes", config.max_json_bytes));
      }
    }
    if (body.empty()) fail(400, "invalid_argument", "the request needs a JSON body");
    json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) fail(400, "invalid_json", "the body is not valid JSON");
    return parsed;
  }

  Response health() {
    json body = {{"status", "ok"}, {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                                                     std::chrono::system_clock::now().time_since_epoch()).count()},
                 {"uptime_seconds", uptime()}, {"draining", draining.load()}, {"workers", workers.size()},
                 {"process_count", 1}, {"model_loaded", models_present()}, {"last_inference_ms", nullptr}};
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

  bool models_present() const {
    for (const auto& m : inference::model_catalog()) {
      if (m.is_default && inference::model_state(m, config.models_dir) != inference::ModelState::kInstalled) return false;
    }
    return true;
  }

  Response ready() {
    Status store = service.store().check_ready();
    Status blobs = service.blobs().check_ready();
    bool models_ok = models_present();
    json checks = {{"job_store", store.is_ok() ? "ok" : store.message()},
                   {"storage", blobs.is_ok() ? "ok" : blobs.message()},
                   {"models", models_ok ? "ok" : "default models missing: run 'facefuse models list' and scripts/setup"},
                   {"draining", draining.load()}};
    bool ok = store.is_ok() && blobs.is_ok() && models_ok && !draining.load();
    return Response::json_body({{"status", ok ? "ready" : "not_ready"}, {"checks", checks}}, ok ? 200 : 503);
  }

  Response metrics_text() {
    refresh_gauges();
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
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

  Response status() {
    json body = {{"version", config.version}, {"uptime_seconds", uptime()}, {"workers", workers.size()},
                 {"workers_busy", workers.busy()}, {"draining", draining.load()}, {"auth", config.auth}};
    body["queue_depth"] = value_or_fail(service.store().queue_depth());
    body["jobs"] = value_or_fail(service.store().job_counts_by_state());
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

  Response upload(Request& req) {
    const int64_t limit = service.config().limits.max_upload_bytes;
    if (req.info->content_length > limit) {
      HttpError e{413, "limit_exceeded",
                  fmt::format("the upload is {} bytes, over this server's limit of {} bytes", req.info->content_length, limit), {}};
      e.headers.emplace_back("Connection", "close");
      throw e;
    }
    std::string type = req.header("Content-Type");
    if (type.rfind("multipart/form-data", 0) != 0) {
      fail(415, "unsupported", "upload with Content-Type multipart/form-data and the file in the field 'file'");
    }
    UploadForm form;
    form.temp_dir = config.upload_temp_dir;
    std::error_code ec;
    fs::create_directories(form.temp_dir, ec);
    mg_form_data_handler handler{form_field_found, form_field_get, form_field_stored, &form};
    int handled = mg_handle_form_request(req.conn, &handler);
    TempFileGuard cleanup(form.stored);
    if (handled < 0) fail(400, "invalid_argument", "the multipart body is malformed or was cut short");
    if (form.files == 0 || form.stored.empty() || !fs::exists(form.stored, ec)) {
      fail(400, "invalid_argument", "the multipart body has no file in the field 'file'");
    }
    auto upload = value_or_fail(service.register_upload(req.caller.tenant, form.stored, display_name(form.filename)));
    spdlog::info(json{{"msg", "upload stored"}, {"upload_id", upload.id}, {"tenant", upload.tenant},
                      {"media", upload.media}, {"size", upload.size}}.dump());
    return Response::json_body(upload_json(upload), 201);
  }

  Response create_job(Request& req, const std::vector<std::string>* processors) {
    if (draining.load()) fail(503, "unavailable", "this server is shutting down: submit the job again in a moment");
    json body = read_json_body(req);
    if (processors != nullptr && body.is_object()) {
      if (!body.contains("options") || body["options"].is_null()) body["options"] = json::object();
      if (body["options"].is_object()) body["options"]["processors"] = *processors;
    }
    auto created = value_or_fail(service.submit(req.caller.tenant, body, req.header("Idempotency-Key")));
    json out = jobs::job_to_json(created.job);
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
    for (const auto& j : page.jobs) rows.push_back(jobs::job_to_json(j));
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
  Response events(Request& req) {
    const std::string job_id = req.match[1].str();
    value_or_fail(service.get(req.caller.tenant, job_id));
    int64_t since = since_param(req);
    if (req.header("Accept").find("text/event-stream") == std::string::npos) {
      auto events = value_or_fail(service.store().events_since(job_id, since, 1000));
      json rows = json::array();
      for (const auto& e : events) rows.push_back(e.data);
      return Response::json_body({{"job_id", job_id}, {"events", rows},
                                  {"next_since", events.empty() ? since : events.back().seq}});
    }
    write_head(req.conn, 200, "text/event-stream", -1, {{"Connection", "close"}});
    Response r;
    r.written = true;
    while (!stopping.load()) {
      auto events = service.store().events_since(job_id, since, 100);
      if (!events) break;
      bool end = false;
      for (const auto& e : *events) {
        std::string chunk = fmt::format("id: {}\ndata: {}\n\n", e.seq, e.data.dump());
        if (mg_write(req.conn, chunk.data(), chunk.size()) <= 0) return r;
        since = e.seq;
        end = end || event_ends_stream(e.data);
      }
      if (end) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return r;
  }

  Response detect(Request& req) {
    json body = read_json_body(req);
    if (!body.is_object() || !body.contains("upload_id") || !body["upload_id"].is_string()) {
      fail(400, "invalid_argument", "the body must be {\"upload_id\": \"...\"} (optional: frame_number, face_detector, "
                                    "face_detector_score, order, landmarks_68)");
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
    } catch (const json::exception&) {
      fail(400, "invalid_argument", "frame_number must be an integer, face_detector/order strings, "
                                    "face_detector_score a number, landmarks_68 a boolean");
    }
    // On a thread with the default stack: ONNX Runtime's session set-up overflowed civetweb's
    // small worker stacks (segfault in libonnxruntime on civetweb-worker, seen in the browser tests).
    json faces = value_or_fail(std::async(std::launch::async, [&] { return pipeline::detect_faces(request); }).get());
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
    auto issued = value_or_fail(issue_api_key(body["tenant"].get<std::string>(), scopes,
                                              std::chrono::duration_cast<std::chrono::seconds>(
                                                  std::chrono::system_clock::now().time_since_epoch()).count()));
    ok_or_fail(service.store().add_api_key({issued.record.id, issued.record.tenant, issued.record.hash,
                                            format_scopes(issued.record.scopes), issued.record.created_at * 1000}));
    return Response::json_body({{"id", issued.record.id}, {"tenant", issued.record.tenant},
                                {"scopes", format_scopes(issued.record.scopes)}, {"key", issued.plaintext}}, 201);
  }

  // Outputs only: outputs/<job_id>/<file>, readable by the job's tenant. Another tenant's output
  // is 404, like a missing one.
  Response media(Request& req) {
    const std::string key = req.match[1].str();
    ok_or_fail(storage::validate_key(key));
    static const std::regex kOutputKey("outputs/([A-Za-z0-9_]+)/[A-Za-z0-9._-]+");
    std::smatch m;
    if (!std::regex_match(key, m, kOutputKey)) fail(404, "not_found", fmt::format("no media '{}'", key));
    auto job = service.get(req.caller.tenant, m[1].str());
    if (!job || job->output_key != key) fail(404, "not_found", fmt::format("no media '{}'", key));
    auto info = service.blobs().stat(key);
    if (!info) fail(404, "not_found", fmt::format("no media '{}'", key));
    const int64_t size = info->size;
    auto range = parse_byte_range(req.header("Range"), size);
    std::vector<std::pair<std::string, std::string>> headers = {{"Accept-Ranges", "bytes"}};
    if (!range) {
      HttpError e{416, "range_not_satisfiable", range.status().message(), {}};
      e.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
      throw e;
    }
    int64_t first = 0, length = size;
    int status = 200;
    if (range->has_value()) {
      first = (*range)->first;
      length = (*range)->length();
      status = 206;
      headers.emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", first, (*range)->last, size));
    }
    write_head(req.conn, status, content_type_for(key), length, headers);
    constexpr int64_t kPiece = 1 << 20;
    for (int64_t done = 0; done < length;) {
      auto piece = service.blobs().read_range(key, first + done, std::min(kPiece, length - done));
      if (!piece || piece->empty()) break;
      if (mg_write(req.conn, piece->data(), piece->size()) <= 0) break;
      done += static_cast<int64_t>(piece->size());
    }
    Response r;
    r.status = status;
    r.written = true;
    return r;
  }

  // ------------------------------------------------------------------ WebSocket
  int ws_connect(const mg_connection* conn) {
    const mg_request_info* info = mg_get_request_info(conn);
    static const std::regex kWsPath("/(?:ws/job/([A-Za-z0-9_]+)/progress|api/v1/jobs/([A-Za-z0-9_]+)/events)");
    std::string path = info->local_uri_raw != nullptr ? info->local_uri_raw : info->local_uri;
    std::smatch m;
    if (!std::regex_match(path, m, kWsPath)) return 1;
    std::string job_id = m[1].matched ? m[1].str() : m[2].str();
    Request req;
    req.conn = const_cast<mg_connection*>(conn);
    req.info = info;
    if (info->query_string != nullptr) req.query = parse_query(info->query_string);
    try {
      limit_address(info->remote_addr);
      req.caller = authenticate(req, Access::kRead);
      value_or_fail(service.get(req.caller.tenant, job_id));
      Watcher w{job_id, since_param(req), false};
      std::lock_guard lock(watchers_mutex);
      watchers[req.conn] = w;
    } catch (const HttpError& e) {
      spdlog::info(json{{"msg", "websocket refused"}, {"job_id", job_id}, {"status", e.status}, {"error", e.message}}.dump());
      return 1;  // non-zero: civetweb refuses the upgrade
    } catch (const std::exception&) {
      return 1;
    }
    return 0;
  }

  void ws_close(const mg_connection* conn) {
    std::lock_guard lock(watchers_mutex);
    watchers.erase(const_cast<mg_connection*>(conn));
  }

  // Sends each watcher the events after its last sequence number, every 50 ms; closes the socket
  // after the job's terminal state event. Polling the store (not an in-process signal) is what a
  // replica in distributed mode will do too.
  void push_loop() {
    std::unique_lock lock(watchers_mutex);
    while (!stopping.load()) {
      pusher_cv.wait_for(lock, std::chrono::milliseconds(50));
      for (auto& [conn, w] : watchers) {
        if (w.closing) continue;
        auto events = service.store().events_since(w.job_id, w.last_seq, 100);
        if (!events) continue;
        for (const auto& e : *events) {
          std::string text = e.data.dump();
          if (mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, text.data(), text.size()) <= 0) {
            w.closing = true;
            break;
          }
          w.last_seq = e.seq;
          if (event_ends_stream(e.data)) {
            w.closing = true;
            mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, "\x03\xe8", 2);  // 1000: normal
            break;
          }
        }
      }
    }
  }
};

namespace {

int on_request(mg_connection* conn, void* data) { return static_cast<ApiServer::Impl*>(data)->dispatch(conn, false); }
int on_metrics_request(mg_connection* conn, void* data) {
  return static_cast<ApiServer::Impl*>(data)->dispatch(conn, true);
}

// The first port a civetweb context listens on (the real one when configured with port 0).
int bound_port(mg_context* ctx) {
  if (ctx == nullptr) return 0;
  mg_server_port ports[4];
  int n = mg_get_server_ports(ctx, 4, ports);
  return n > 0 ? ports[0].port : 0;
}

int on_ws_connect(const mg_connection* conn, void* data) { return static_cast<ApiServer::Impl*>(data)->ws_connect(conn); }
// A new watcher gets its backlog at once rather than at the next poll.
void on_ws_ready(mg_connection*, void* data) { static_cast<ApiServer::Impl*>(data)->pusher_cv.notify_all(); }
int on_ws_data(mg_connection*, int opcode, char*, size_t, void*) {
  return (opcode & 0xf) == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE ? 0 : 1;  // clients only listen
}
void on_ws_close(const mg_connection* conn, void* data) { static_cast<ApiServer::Impl*>(data)->ws_close(conn); }

// civetweb's own error pages (e.g. a malformed request line) in our JSON error shape.
int on_http_error(mg_connection* conn, int status, const char* message) {
  send_response(conn, Response::json_body(error_body("http_error", message != nullptr ? message : ""), status));
  return 0;
}

}  // namespace

ApiServer::ApiServer(ApiServerConfig config, jobs::JobService& service, jobs::WorkerPool& workers,
                     ServiceMetrics& metrics, SystemStats& system)
    : impl_(std::make_unique<Impl>(std::move(config), service, workers, metrics, system)) {}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::start() {
  mg_init_library(MG_FEATURES_WEBSOCKET);
  std::string threads = std::to_string(std::max(4, impl_->config.http_threads));
  const char* options[] = {"listening_ports", impl_->config.listen.c_str(),
                           "num_threads", threads.c_str(),
                           "enable_keep_alive", "yes",
                           "tcp_nodelay", "1",  // streamed media and events: no Nagle delay between writes
                           "request_timeout_ms", "60000",
                           "websocket_timeout_ms", "3600000",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.http_error = on_http_error;
  impl_->ctx = mg_start(&callbacks, impl_.get(), options);
  if (impl_->ctx == nullptr) {
    return unavailable(fmt::format("cannot listen on {}: the address is in use or not valid (use --listen HOST:PORT)",
                                   impl_->config.listen));
  }
  mg_set_websocket_handler(impl_->ctx, "/ws/job/**", on_ws_connect, on_ws_ready, on_ws_data, on_ws_close, impl_.get());
  mg_set_websocket_handler(impl_->ctx, "/api/v1/jobs/**", on_ws_connect, on_ws_ready, on_ws_data, on_ws_close, impl_.get());
  mg_set_request_handler(impl_->ctx, "**", on_request, impl_.get());
  if (!impl_->config.metrics_listen.empty()) {
    // Scrapes are short and few: a handful of threads, no keep-alive bookkeeping to size.
    const char* metrics_options[] = {"listening_ports", impl_->config.metrics_listen.c_str(),
                                     "num_threads", "4",
                                     "request_timeout_ms", "10000",
                                     nullptr};
    impl_->metrics_ctx = mg_start(&callbacks, impl_.get(), metrics_options);
    if (impl_->metrics_ctx == nullptr) {
      mg_stop(impl_->ctx);
      impl_->ctx = nullptr;
      return unavailable(fmt::format("cannot listen on {} for metrics: the address is in use or not valid (use "
                                     "--metrics-listen HOST:PORT)",
                                     impl_->config.metrics_listen));
    }
    mg_set_request_handler(impl_->metrics_ctx, "**", on_metrics_request, impl_.get());
  }
  impl_->pusher = std::thread([this] { impl_->push_loop(); });
  return Status::ok();
}

int ApiServer::port() const { return bound_port(impl_->ctx); }

int ApiServer::metrics_port() const { return bound_port(impl_->metrics_ctx); }

void ApiServer::set_draining() { impl_->draining.store(true); }

void ApiServer::stop() {
  if (impl_->ctx == nullptr) return;
  impl_->stopping.store(true);
  impl_->pusher_cv.notify_all();
  if (impl_->pusher.joinable()) impl_->pusher.join();
  if (impl_->metrics_ctx != nullptr) mg_stop(impl_->metrics_ctx);
  impl_->metrics_ctx = nullptr;
  mg_stop(impl_->ctx);
  impl_->ctx = nullptr;
}

}  // namespace facefuse::server
