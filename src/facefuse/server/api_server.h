// The HTTP + WebSocket front of `facefuse serve` (DESIGN.md §5.1): the routes, on the event-driven
// transport of http_server.h (connections, WebSockets and event streams hold no thread; handlers
// run on a bounded pool). Live job events reach WebSocket and SSE watchers through event_pusher.h.
//
// One wrapper runs every route: it authenticates (API key → tenant + scopes), applies the rate
// limits, calls the route, and turns every failure — a Status, a malformed body, an exception —
// into {"error": "<code>", "message": "<text>"} with the matching status. No handler can take the
// process down.
//
// Threading: start() and stop() from one thread; set_draining() from any.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "facefuse/core/status.h"
#include "facefuse/inference/onnx_session.h"
#include "facefuse/server/http_server.h"
#include "facefuse/server/live_swap.h"

namespace facefuse::jobs {
class JobService;
class WorkerPool;
}  // namespace facefuse::jobs

namespace facefuse::server {

// The version of the API contract, docs/openapi.yaml `info.version`, answered by GET
// /api/v1/status as api_version (tests/contract checks they agree). Minor: additions; major:
// anything removed or renamed, with a note in CHANGELOG.md.
inline constexpr const char* kApiVersion = "1.4.0";

class MediaLinkSigner;
class ServiceMetrics;
class SystemStats;

struct ApiServerConfig {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free port (see port())
  // host:port of a second listener that serves only /metrics and /healthz (e.g. a private
  // interface for Prometheus); the main listener then answers /metrics with 404. Empty: none,
  // /metrics is on the main listener.
  std::string metrics_listen;
  // Transport limits and threads (http_server.h). max_buffered_body_bytes and max_upload_bytes
  // are taken from max_json_bytes and the service's upload limit.
  HttpLimits http;
  // Open event streams (WebSocket + SSE) in total, per client address and per API key.
  int max_streams = 8192;
  int max_streams_per_address = 1024;
  int max_streams_per_key = 100;
  // Live mode (GET /api/v1/live, live_swap.h): session caps, frame limits, worker threads.
  // temp_dir defaults to a "live" folder beside the upload temp dir.
  LiveConfig live;
  bool auth = true;                        // false: every request is tenant "local" with all scopes
  double key_rate_per_second = 20;         // token bucket per API key
  double key_rate_burst = 40;
  double ip_rate_per_second = 50;          // token bucket per client address (before auth)
  double ip_rate_burst = 100;
  int64_t max_json_bytes = 1 << 20;
  std::string version;
  std::filesystem::path upload_temp_dir;   // multipart bodies are streamed here, then into storage
  std::filesystem::path models_dir;
  // For /api/v1/detect; session.cache is the workers' model cache (/health's model_loaded).
  inference::SessionOptions session;
  // Signs the output_url of every job answer (media_links.h). Null: a signer with a random
  // in-memory secret and a 1 h TTL (links then die with the process).
  std::shared_ptr<const MediaLinkSigner> media_links;
  // The tenant of the bootstrap admin key (serve.cpp): its admin keys manage every tenant's keys;
  // other tenants' admin keys only their own tenant's.
  std::string operator_tenant = "default";
  // Seconds a direct upload's presigned PUT URL stays valid and the upload may be completed
  // (serve --presign-ttl; jobs/direct_uploads.h).
  int64_t direct_upload_ttl_seconds = 3600;
};

class ApiServer {
 public:
  ApiServer(ApiServerConfig config, jobs::JobService& service, jobs::WorkerPool& workers, ServiceMetrics& metrics,
            SystemStats& system);
  ~ApiServer();

  // Binds and starts serving. kInvalidArgument for a malformed listen address; kUnavailable with
  // the system's reason when it cannot be bound (in use, permission denied).
  Status start();
  // The bound port (after start()).
  int port() const;
  // The metrics listener's bound port (after start()); 0 without one.
  int metrics_port() const;
  // http://HOST:PORT/ of the main listener (after start()).
  std::string url() const;
  // A job event was written by another node (store listeners): live watchers are fed now rather
  // than at the next 50 ms poll. Any thread.
  void notify_job_event();
  // Readiness turns 503 and new jobs are refused with 503; everything else keeps answering.
  void set_draining();
  // Closes the listening socket and every connection (event streams end). Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace facefuse::server
