#include "facefuse/cli/serve_command.h"

#include <cstdio>

#include "facefuse/cli/node_flags.h"
#include "facefuse/core/error_codes.h"
#include "facefuse/jobs/janitor.h"

namespace facefuse::cli {

CLI::App* add_serve_command(CLI::App& app, ServeFlags& flags) {
  auto& o = flags.options;
  auto* serve = app.add_subcommand("serve", "Run the job service: REST API, WebSocket progress, web page and "
                                            "in-process workers on a SQLite store and local file storage");
  serve->add_option("--listen", o.listen, "address to listen on: HOST:PORT, [IPV6]:PORT, or PORT alone for "
                                          "127.0.0.1:PORT (port 0 picks a free one)")
      ->envname("FACEFUSE_LISTEN")->capture_default_str();
  add_store_flags(*serve, o);
  serve->add_option("--metrics-listen", o.metrics_listen, "HOST:PORT of a second listener serving only /metrics "
                                                          "and /healthz (e.g. a private interface for Prometheus); "
                                                          "/metrics on the main port then answers 404")
      ->envname("FACEFUSE_METRICS_LISTEN");
  add_worker_pool_flags(*serve, o,
                        "jobs processed at once in this process (CPU threads are shared between them); 0 = an API "
                        "node that claims no tasks (`facefuse worker` processes run them)");
  auto& http = o.http;
  serve->add_option("--http-threads", http.handler_threads, "request handler threads (connections, WebSockets and "
                                                            "event streams hold none)")
      ->check(CLI::Range(1, 256))->capture_default_str();
  serve->add_option("--io-threads", http.io_threads, "threads running the sockets")->check(CLI::Range(1, 16))
      ->capture_default_str();
  serve->add_option("--max-connections", http.max_connections, "open connections in total (WebSockets included); "
                                                               "more are answered 503")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  serve->add_option("--max-connections-per-address", http.max_connections_per_address,
                    "open connections per client address; more are answered 429")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  serve->add_option("--max-streams", o.max_streams, "open WebSockets + event streams in total (503 beyond)")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  serve->add_option("--max-streams-per-address", o.max_streams_per_address,
                    "open WebSockets + event streams per client address (429 beyond)")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  serve->add_option("--max-streams-per-key", o.max_streams_per_key,
                    "open WebSockets + event streams per API key (429 beyond)")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  serve->add_option("--header-timeout", http.header_seconds, "seconds from a request's first byte to the end of "
                                                             "its header")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  serve->add_option("--body-timeout", http.body_idle_seconds, "seconds a request body may stay without a byte")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  serve->add_option("--keep-alive-timeout", http.keep_alive_seconds, "seconds an idle connection is kept before "
                                                                     "its next request")
      ->check(CLI::Range(0.1, 86400.0))->capture_default_str();
  serve->add_option("--max-header-bytes", http.max_header_bytes, "request line + header fields, bytes (431 beyond)")
      ->check(CLI::Range(1024, 1048576))->capture_default_str();
  serve->add_flag("--no-auth", flags.no_auth, "no API keys: every request acts as tenant 'local' (for a server on "
                                              "loopback used by one person)")->envname("FACEFUSE_NO_AUTH");
  serve->add_flag("--allow-private-urls", o.allow_private_urls, "let URL inputs and webhooks reach loopback, private "
                                                               "and link-local addresses (refused by default)");
  serve->add_option("--rate-limit", o.rate_limit, "requests per second per API key")->capture_default_str();
  serve->add_option("--rate-burst", o.rate_burst, "burst size per API key")->capture_default_str();
  serve->add_option("--ip-rate-limit", o.ip_rate_limit, "requests per second per client address")->capture_default_str();
  serve->add_option("--ip-rate-burst", o.ip_rate_burst, "burst size per client address")->capture_default_str();
  serve->add_option("--max-active-jobs", o.max_active_jobs, "pending + processing jobs per tenant; more are refused "
                                                            "with 429")->capture_default_str();
  serve->add_option("--max-upload-mb", flags.max_upload_mb, "largest upload, MiB")->capture_default_str();
  serve->add_option("--max-pixels", o.limits.max_pixels, "largest image or video frame, pixels")->capture_default_str();
  serve->add_option("--max-video-seconds", o.limits.max_video_seconds, "longest video upload, seconds")->capture_default_str();
  serve->add_option("--min-free-mb", o.min_free_mb, "free-space reserve of the data directory, MiB: uploads and new "
                                                    "jobs are refused (507) and /readyz is 503 at or below it; 0 = none")
      ->capture_default_str();
  auto& live = o.live;
  serve->add_option("--max-live-sessions", live.max_sessions, "open live-camera WebSockets (GET /api/v1/live) in "
                                                             "total; more are answered 503 (each can keep a core busy)")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  serve->add_option("--max-live-sessions-per-key", live.max_sessions_per_key,
                    "open live-camera WebSockets per API key (429 beyond)")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  serve->add_option("--max-live-sessions-per-address", live.max_sessions_per_address,
                    "open live-camera WebSockets per client address (429 beyond)")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  serve->add_option("--max-live-frame-mb", flags.max_live_frame_mb, "largest live-camera JPEG frame, MiB (the "
                                                                    "socket is closed with 4413 beyond)")
      ->check(CLI::Range(0.001, 64.0))->capture_default_str();
  serve->add_option("--max-live-frame-pixels", live.max_frame_pixels, "largest live-camera frame, width x height "
                                                                      "pixels, read from the JPEG header before "
                                                                      "decoding (4413 beyond)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))->capture_default_str();
  serve->add_option("--media-link-ttl", o.media_link_ttl_seconds, "seconds a signed output_url link stays valid "
                                                                  "(a fresh one comes with every read of the job)")
      ->capture_default_str();
  // Retention (jobs/janitor.h): API nodes only — `facefuse worker` processes never delete.
  serve->add_option("--retain-uploads", flags.retain_uploads, "delete uploads this long after they were made "
                                                              "(7d, 12h, 30m, 45s; 0 = keep forever), except "
                                                              "those a pending or processing job reads")
      ->envname("FACEFUSE_RETAIN_UPLOADS")->capture_default_str();
  serve->add_option("--retain-outputs", flags.retain_outputs, "delete a finished job's output this long after it "
                                                              "finished; the job stays and its output answers 410 "
                                                              "(0 = keep forever)")
      ->envname("FACEFUSE_RETAIN_OUTPUTS")->capture_default_str();
  serve->add_option("--retain-jobs", flags.retain_jobs, "delete finished jobs (row, events, remaining objects) this "
                                                        "long after they finished (0 = keep forever)")
      ->envname("FACEFUSE_RETAIN_JOBS")->capture_default_str();
  serve->add_option("--janitor-interval", flags.janitor_interval, "time between retention passes (one node at a "
                                                                  "time on PostgreSQL); each pass also updates the "
                                                                  "facefuse_storage_* metrics")
      ->envname("FACEFUSE_JANITOR_INTERVAL")->capture_default_str();
  serve->add_option("--orphan-grace", flags.orphan_grace, "with any --retain-* set, objects without a row and rows "
                                                          "without an object are removed once older than this")
      ->envname("FACEFUSE_ORPHAN_GRACE")->capture_default_str();
  return serve;
}

int run_serve_command(ServeFlags flags, const std::string& models_dir, const inference::SessionOptions& session,
                      const std::string& log_level) {
  auto& o = flags.options;
  if (flags.max_upload_mb <= 0) {
    std::fprintf(stderr, "facefuse: error: --max-upload-mb must be more than 0\n");
    return kExitBadInput;
  }
  o.limits.max_upload_bytes = static_cast<int64_t>(flags.max_upload_mb * 1024 * 1024);
  o.live.max_frame_bytes = static_cast<std::size_t>(flags.max_live_frame_mb * 1024 * 1024);
  if (o.min_free_mb < 0) {
    std::fprintf(stderr, "facefuse: error: --min-free-mb must be 0 (no reserve) or more\n");
    return kExitBadInput;
  }
  if (o.media_link_ttl_seconds < 1) {
    std::fprintf(stderr, "facefuse: error: --media-link-ttl must be at least 1 (seconds)\n");
    return kExitBadInput;
  }
  struct Duration {
    const std::string& text;
    const char* flag;
    int64_t& ms;
    bool zero_ok;
  };
  for (const Duration& d : {Duration{flags.retain_uploads, "--retain-uploads", o.retention.uploads_ms, true},
                            Duration{flags.retain_outputs, "--retain-outputs", o.retention.outputs_ms, true},
                            Duration{flags.retain_jobs, "--retain-jobs", o.retention.jobs_ms, true},
                            Duration{flags.janitor_interval, "--janitor-interval", o.janitor_interval_ms, false},
                            Duration{flags.orphan_grace, "--orphan-grace", o.retention.orphan_grace_ms, true}}) {
    auto ms = jobs::parse_retention_duration(d.text, d.flag);
    if (!ms.is_ok() || (!d.zero_ok && *ms == 0)) {
      std::fprintf(stderr, "facefuse: error: %s\n",
                   ms.is_ok() ? (std::string(d.flag) + " must be more than 0 (e.g. 5m)").c_str()
                              : ms.status().message().c_str());
      return kExitBadInput;
    }
    d.ms = *ms;
  }
  o.auth = !flags.no_auth;
  set_node_globals(o, models_dir, session, log_level);
  return node_exit_code(server::serve(o));
}

}  // namespace facefuse::cli
