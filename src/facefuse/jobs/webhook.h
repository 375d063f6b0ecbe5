// Job webhooks (DESIGN.md §5.2): a JSON body POSTed to the job's `webhook.url`, signed with the
// job's `webhook.secret`, retried with exponential backoff in a background thread.
//
// Signature: every request carries
//   X-Facefuse-Timestamp: <Unix seconds when the attempt was made>
//   X-Facefuse-Signature: sha256=<lowercase hex HMAC-SHA256 of "<timestamp>.<body>" under secret>
// The timestamp is inside the signed message so that a receiver can refuse replays of old
// requests (compare it with its clock) and verify with a constant-time comparison.
//
// Retries: network errors, timeouts, HTTP 408, 429 and 5xx are retried after initial_backoff,
// then × backoff_multiplier each time (capped at max_backoff), up to max_attempts in all. Other
// statuses (2xx = delivered, 3xx, 4xx) and refused URLs end the delivery at once. Webhook URLs are
// checked like URL inputs (storage/http_request.h): internal addresses only with allow_private.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "facefuse/core/stack_thread.h"
#include "facefuse/core/status.h"

namespace facefuse::jobs {

inline constexpr const char* kWebhookSignatureHeader = "X-Facefuse-Signature";
inline constexpr const char* kWebhookTimestampHeader = "X-Facefuse-Timestamp";

// Lowercase hex HMAC-SHA256 of `message` under `secret`.
std::string sign(std::string_view secret, std::string_view message);
// The X-Facefuse-Signature value for `body` sent at `timestamp` (Unix seconds): "sha256=<hex>".
std::string webhook_signature(std::string_view secret, std::int64_t timestamp, std::string_view body);

struct WebhookDelivery {
  std::string url;
  std::string secret;
  std::string body;    // JSON
  std::string job_id;  // for the outcome report and logs
};

struct WebhookOutcome {
  bool delivered = false;     // a 2xx answer was received
  int attempts = 0;           // requests sent or tried
  long last_http_status = 0;  // 0 when no answer was received
  Status last_error;          // why the last attempt failed (ok when delivered); cancelled on stop()
};

// Delivers webhooks on its own thread. enqueue() and stop() are thread-safe.
class WebhookSender {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::size_t max_queue = 1000;  // deliveries waiting or in progress; more are refused
    int max_attempts = 6;
    std::chrono::milliseconds initial_backoff{1000};
    double backoff_multiplier = 2;
    std::chrono::milliseconds max_backoff{5 * 60'000};
    std::chrono::milliseconds timeout{10'000};  // per request
    bool allow_private = false;                 // serve --allow-private-urls
    // Called on the sender thread once per delivery when it is delivered, given up or dropped by
    // stop(). Must not call stop().
    std::function<void(const WebhookDelivery&, const WebhookOutcome&)> on_finished;
  };

  explicit WebhookSender(Options options);
  // Calls stop().
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Queues `delivery` for its first attempt now. limit_exceeded when max_queue deliveries are
  // pending; failed_precondition after stop(); unavailable when the sender thread could not start.
  Status enqueue(WebhookDelivery delivery);
  // Lets an attempt in progress finish (at most `timeout`), reports every undelivered delivery as
  // cancelled and joins the thread. Idempotent.
  void stop();

 private:
  struct Pending {
    WebhookDelivery delivery;
    WebhookOutcome outcome;
  };
  void run();
  // One POST; returns the outcome of that attempt in `pending.outcome`.
  void attempt(Pending& pending);
  bool should_retry(const WebhookOutcome& outcome) const;
  std::chrono::milliseconds backoff_after(int attempts) const;
  void finish(const Pending& pending);

  const Options options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::multimap<Clock::time_point, Pending> scheduled_;  // by time of the next attempt
  std::size_t in_flight_ = 0;
  bool stopping_ = false;
  Status start_error_;  // why the sender thread did not start (ok when it runs)
  StackThread thread_;  // kThreadStackBytes: TLS of the libraries libcurl/OpenSSL load + their frames
};

}  // namespace facefuse::jobs
