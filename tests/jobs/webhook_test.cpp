#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <vector>

#include "facefuse/jobs/webhook.h"
#include "support/http_fixture.h"
#include "support/test_support.h"

namespace facefuse::jobs {
namespace {

using facefuse::testing::HttpFixture;
using facefuse::testing::TempDir;
using namespace std::chrono_literals;

// Requests the fixture's /webhook route received, one JSON object per line of its log.
std::vector<nlohmann::json> received(const std::filesystem::path& log) {
  std::vector<nlohmann::json> out;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Outcomes reported by on_finished, waited for without sleeping.
class Outcomes {
 public:
  WebhookSender::Options options() {
    WebhookSender::Options o;
    o.allow_private = true;  // the fixture listens on loopback
    o.initial_backoff = 20ms;
    o.timeout = 10s;
    o.on_finished = [this](const WebhookDelivery& d, const WebhookOutcome& outcome) {
      std::lock_guard lock(mutex_);
      finished_.emplace_back(d, outcome);
      changed_.notify_all();
    };
    return o;
  }
  // The first `count` outcomes; the generous deadline only turns a hang into a failure.
  std::vector<std::pair<WebhookDelivery, WebhookOutcome>> wait_for(std::size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 60s, [&] { return finished_.size() >= count; });
    return finished_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<WebhookDelivery, WebhookOutcome>> finished_;
};

TEST(WebhookSignature, IsHexHmacSha256OfTimestampDotBody) {
  // RFC 4231 test case 2.
  EXPECT_EQ(sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(webhook_signature("Jefe", 1700000000, R"({"a":1})"), "sha256=" + sign("Jefe", R"(1700000000.{"a":1})"));
  EXPECT_NE(webhook_signature("Jefe", 1700000001, R"({"a":1})"), webhook_signature("Jefe", 1700000000, R"({"a":1})"));
}

TEST(WebhookSender, RetriesServerErrorsThenDeliversASignedBody) {
  TempDir dir;
  HttpFixture server({"--webhook-secret", "s3cret", "--webhook-failures", "2", "--log", (dir / "log").string()});
  ASSERT_GT(server.port(), 0);
  Outcomes outcomes;
  WebhookSender sender(outcomes.options());
  const std::string body = R"({"job_id":"job_1","status":"completed","output_url":"/media/x.mp4"})";
  ASSERT_TRUE(sender.enqueue({server.url("/webhook"), "s3cret", body, "job_1"}).is_ok());

  const auto finished = outcomes.wait_for(1);
  ASSERT_EQ(finished.size(), 1u);
  const WebhookOutcome& outcome = finished[0].second;
  EXPECT_TRUE(outcome.delivered) << outcome.last_error.to_string();
  EXPECT_EQ(outcome.attempts, 3);
  EXPECT_EQ(outcome.last_http_status, 200);
  EXPECT_EQ(finished[0].first.job_id, "job_1");

  const auto requests = received(dir / "log");
  ASSERT_EQ(requests.size(), 3u);
  const int expected_status[] = {500, 500, 200};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(requests[i]["status"], expected_status[i]) << i;
    EXPECT_TRUE(requests[i]["signature_ok"].get<bool>()) << "Python's hmac disagrees with the signature of attempt " << i;
    EXPECT_EQ(requests[i]["body"], body);
    EXPECT_EQ(requests[i]["content_type"], "application/json");
    EXPECT_GT(std::stoll(requests[i]["timestamp"].get<std::string>()), 1600000000);
  }
}

TEST(WebhookSender, AWrongSecretIsRefusedAndNotRetried) {
  TempDir dir;
  HttpFixture server({"--webhook-secret", "right", "--log", (dir / "log").string()});
  ASSERT_GT(server.port(), 0);
  Outcomes outcomes;
  WebhookSender sender(outcomes.options());
  ASSERT_TRUE(sender.enqueue({server.url("/webhook"), "wrong", "{}", "job_2"}).is_ok());
  const auto finished = outcomes.wait_for(1);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_FALSE(finished[0].second.delivered);
  EXPECT_EQ(finished[0].second.attempts, 1);
  EXPECT_EQ(finished[0].second.last_http_status, 401);
  EXPECT_NE(finished[0].second.last_error.message().find("HTTP 401"), std::string::npos);
  const auto requests = received(dir / "log");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_FALSE(requests[0]["signature_ok"].get<bool>());
}

TEST(WebhookSender, GivesUpAfterMaxAttempts) {
  TempDir dir;
  HttpFixture server({"--webhook-secret", "s", "--webhook-failures", "100", "--log", (dir / "log").string()});
  ASSERT_GT(server.port(), 0);
  Outcomes outcomes;
  auto options = outcomes.options();
  options.max_attempts = 3;
  WebhookSender sender(options);
  ASSERT_TRUE(sender.enqueue({server.url("/webhook"), "s", "{}", "job_3"}).is_ok());
  const auto finished = outcomes.wait_for(1);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_FALSE(finished[0].second.delivered);
  EXPECT_EQ(finished[0].second.attempts, 3);
  EXPECT_EQ(finished[0].second.last_http_status, 500);
  EXPECT_EQ(finished[0].second.last_error.code(), StatusCode::kUnavailable);
  EXPECT_EQ(received(dir / "log").size(), 3u);
}

TEST(WebhookSender, InternalAddressesAreRefusedUnlessAllowed) {
  TempDir dir;
  HttpFixture server({"--webhook-secret", "s", "--log", (dir / "log").string()});
  ASSERT_GT(server.port(), 0);
  Outcomes outcomes;
  auto options = outcomes.options();
  options.allow_private = false;
  WebhookSender sender(options);
  ASSERT_TRUE(sender.enqueue({server.url("/webhook"), "s", "{}", "job_4"}).is_ok());
  const auto finished = outcomes.wait_for(1);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_FALSE(finished[0].second.delivered);
  EXPECT_EQ(finished[0].second.attempts, 1);
  EXPECT_EQ(finished[0].second.last_error.code(), StatusCode::kInvalidArgument)
      << finished[0].second.last_error.to_string();
  EXPECT_TRUE(received(dir / "log").empty());
}

TEST(WebhookSender, QueueIsBoundedAndStopCancelsWhatIsLeft) {
  TempDir dir;
  HttpFixture server({"--webhook-secret", "s", "--webhook-failures", "100", "--log", (dir / "log").string()});
  ASSERT_GT(server.port(), 0);
  Outcomes outcomes;
  auto options = outcomes.options();
  options.max_queue = 2;
  options.initial_backoff = std::chrono::hours(1);  // failed deliveries stay queued
  WebhookSender sender(options);
  ASSERT_TRUE(sender.enqueue({server.url("/webhook"), "s", "{}", "a"}).is_ok());
  ASSERT_TRUE(sender.enqueue({server.url("/webhook"), "s", "{}", "b"}).is_ok());
  const Status third = sender.enqueue({server.url("/webhook"), "s", "{}", "c"});
  EXPECT_EQ(third.code(), StatusCode::kLimitExceeded) << third.to_string();

  sender.stop();  // returns despite the hour of backoff ahead
  const auto finished = outcomes.wait_for(2);
  ASSERT_EQ(finished.size(), 2u);
  for (const auto& [delivery, outcome] : finished) {
    EXPECT_FALSE(outcome.delivered) << delivery.job_id;
    EXPECT_LE(outcome.attempts, 1) << delivery.job_id;
    EXPECT_EQ(outcome.last_error.code(), StatusCode::kCancelled) << delivery.job_id;
  }
  EXPECT_EQ(sender.enqueue({server.url("/webhook"), "s", "{}", "d"}).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace facefuse::jobs
