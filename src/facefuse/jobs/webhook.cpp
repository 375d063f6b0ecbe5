#include "facefuse/jobs/webhook.h"

#include <algorithm>
#include <cmath>

#include "facefuse/storage/crypto.h"
#include "facefuse/storage/http_request.h"

namespace facefuse::jobs {
namespace {

// Answers that say "not now" rather than "never".
bool is_retryable_status(long http_status) { return http_status == 408 || http_status == 429 || http_status >= 500; }

}  // namespace

std::string sign(std::string_view secret, std::string_view message) {
  return storage::hmac_sha256_hex(secret, message);
}

std::string webhook_signature(std::string_view secret, std::int64_t timestamp, std::string_view body) {
  std::string message = std::to_string(timestamp);
  message += '.';
  message += body;
  return "sha256=" + sign(secret, message);
}

WebhookSender::WebhookSender(Options options) : options_(std::move(options)) {
  auto thread = StackThread::start("ff-webhooks", kThreadStackBytes, [this] { run(); });
  if (thread) {
    thread_ = std::move(*thread);
  } else {
    std::lock_guard lock(mutex_);
    start_error_ = thread.status();
    stopping_ = true;
  }
}

WebhookSender::~WebhookSender() { stop(); }

Status WebhookSender::enqueue(WebhookDelivery delivery) {
  std::lock_guard lock(mutex_);
  if (!start_error_.is_ok()) return start_error_;
  if (stopping_) return failed_precondition("the webhook sender is stopping; no new deliveries are taken");
  if (scheduled_.size() + in_flight_ >= options_.max_queue) {
    return limit_exceeded("webhook queue full (" + std::to_string(options_.max_queue) +
                          " deliveries pending); the receiving endpoints are too slow or failing");
  }
  scheduled_.emplace(Clock::now(), Pending{std::move(delivery), {}});
  wake_.notify_one();
  return Status::ok();
}

void WebhookSender::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (stopping_) break;
    if (scheduled_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const auto due = scheduled_.begin()->first;
    if (Clock::now() < due) {
      wake_.wait_until(lock, due);
      continue;
    }
    Pending pending = std::move(scheduled_.begin()->second);
    scheduled_.erase(scheduled_.begin());
    ++in_flight_;
    lock.unlock();
    attempt(pending);
    const bool retry = should_retry(pending.outcome);
    if (!retry) finish(pending);
    lock.lock();
    --in_flight_;
    if (retry) scheduled_.emplace(Clock::now() + backoff_after(pending.outcome.attempts), std::move(pending));
  }
  // Stopping: whatever is still scheduled will not be delivered.
  auto dropped = std::move(scheduled_);
  scheduled_.clear();
  lock.unlock();
  for (auto& [due, pending] : dropped) {
    pending.outcome.last_error = cancelled("the webhook sender stopped before the delivery succeeded");
    finish(pending);
  }
}

void WebhookSender::attempt(Pending& pending) {
  const std::int64_t timestamp =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  storage::HttpRequest request;
  request.method = "POST";
  request.url = pending.delivery.url;
  request.body = pending.delivery.body;
  request.allow_private = options_.allow_private;
  request.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(10'000));
  request.timeout = options_.timeout;
  request.headers = {
      "Content-Type: application/json",
      std::string(kWebhookTimestampHeader) + ": " + std::to_string(timestamp),
      std::string(kWebhookSignatureHeader) + ": " +
          webhook_signature(pending.delivery.secret, timestamp, pending.delivery.body),
  };
  WebhookOutcome& outcome = pending.outcome;
  ++outcome.attempts;
  // The receiver's answer body is not needed: drop it.
  auto response = storage::perform_http_request(request, [](std::string_view) { return Status::ok(); });
  if (!response) {
    outcome.last_http_status = 0;
    outcome.last_error = response.status();
    outcome.delivered = false;
    return;
  }
  outcome.last_http_status = response->status;
  outcome.delivered = response->status >= 200 && response->status < 300;
  const std::string answer = "webhook " + pending.delivery.url + " answered HTTP " + std::to_string(response->status);
  if (outcome.delivered) {
    outcome.last_error = Status::ok();
  } else if (is_retryable_status(response->status)) {
    outcome.last_error = unavailable(answer);
  } else {
    outcome.last_error = invalid_argument(answer + "; check the webhook URL and secret");
  }
}

bool WebhookSender::should_retry(const WebhookOutcome& outcome) const {
  if (outcome.delivered || outcome.attempts >= options_.max_attempts) return false;
  if (outcome.last_http_status == 0) return outcome.last_error.code() == StatusCode::kUnavailable;  // network
  return is_retryable_status(outcome.last_http_status);
}

std::chrono::milliseconds WebhookSender::backoff_after(int attempts) const {
  const double ms = static_cast<double>(options_.initial_backoff.count()) *
                    std::pow(options_.backoff_multiplier, std::max(0, attempts - 1));
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::min(ms, static_cast<double>(options_.max_backoff.count()))));
}

void WebhookSender::finish(const Pending& pending) {
  if (options_.on_finished) options_.on_finished(pending.delivery, pending.outcome);
}

}  // namespace facefuse::jobs
