#include "facefuse/server/worker_status.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "facefuse/server/http_util.h"

namespace facefuse::server {

using nlohmann::json;

namespace {

HttpResponse json_response(const json& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

}  // namespace

WorkerStatusServer::WorkerStatusServer(std::string node, std::string version, jobs::WorkerPool& pool,
                                       jobs::JobStore& store, ServiceMetrics& metrics)
    : node_(std::move(node)), version_(std::move(version)), pool_(pool), store_(store), metrics_(metrics) {}

WorkerStatusServer::~WorkerStatusServer() { stop(); }

Status WorkerStatusServer::start(const ListenAddress& address) {
  // Probes and scrapes only: a couple of threads, a handful of connections.
  HttpLimits limits;
  limits.io_threads = 1;
  limits.handler_threads = 2;
  limits.max_connections = 64;
  limits.max_connections_per_address = 32;
  limits.max_queued_requests = 64;
  http_ = std::make_unique<HttpServer>(limits, [this](HttpRequest& request) { return handle(request); });
  Status started = http_->start(address, std::nullopt);
  if (!started.is_ok()) http_.reset();
  return started;
}

int WorkerStatusServer::port() const { return http_ ? http_->port() : 0; }

void WorkerStatusServer::stop() {
  if (http_) http_->stop();
}

HttpResponse WorkerStatusServer::handle(HttpRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = json_response(error_body("method_not_allowed", "this listener answers GET only"), 405);
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  const std::string& path = request.path;
  if (path == "/metrics") {
    if (auto depth = store_.queue_depth()) metrics_.set_queue_depth(static_cast<double>(*depth));
    metrics_.set_workers(pool_.size(), pool_.busy());
    HttpResponse r;
    r.content_type = ServiceMetrics::kContentType;
    r.body = metrics_.serialize();
    return r;
  }
  if (path == "/healthz" || path == "/health") {
    const int64_t last = pool_.last_task_ms();
    const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return json_response({{"status", "ok"}, {"role", "worker"}, {"node", node_}, {"version", version_},
                          {"uptime_seconds", std::round(uptime * 10) / 10}, {"workers", pool_.size()},
                          {"workers_busy", pool_.busy()}, {"tasks_ended", pool_.tasks_ended()},
                          // A worker that finished a task holds loaded sessions (one SessionCache per process).
                          {"model_loaded", last >= 0}, {"last_inference_ms", last < 0 ? json(nullptr) : json(last)},
                          {"draining", draining_.load()}});
  }
  if (path == "/readyz" || path == "/ready") {
    const auto started = std::chrono::steady_clock::now();
    Status store = store_.check_ready();
    const double store_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    const bool ok = store.is_ok() && !draining_.load();
    return json_response({{"status", ok ? "ready" : "not_ready"},
                          {"checks", {{"job_store", store.is_ok() ? "ok" : store.message()},
                                      {"job_store_latency_ms", std::round(store_ms * 10) / 10},
                                      {"draining", draining_.load()}}}},
                         ok ? 200 : 503);
  }
  return json_response(error_body("not_found", "a worker serves /metrics, /healthz and /readyz only"), 404);
}

}  // namespace facefuse::server
