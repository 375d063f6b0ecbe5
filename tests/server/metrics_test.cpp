#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sys/wait.h>

#include "facefuse/server/metrics.h"
#include "support/test_support.h"

namespace facefuse::server {
namespace {

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// `promtool check metrics` (from Debian's prometheus package, installed by scripts/setup) on
// `exposition`: exit 0 when it parses and has no lint problems.
PromtoolResult promtool_check(const std::string& exposition) {
  facefuse::testing::TempDir dir;
  const auto file = dir / "metrics.txt";
  std::ofstream(file) << exposition;
  const std::string command = "promtool check metrics < '" + file.string() + "' 2>&1";
  PromtoolResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

void expect_promtool_accepts(const std::string& exposition) {
  const auto check = promtool_check(exposition);
  ASSERT_NE(check.exit_code, 127) << "promtool not found: run scripts/setup (Debian package prometheus)";
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n--- exposition:\n" << exposition;
}

bool contains_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(Promtool, RejectsALintProblem) {
  // The checker the tests below rely on does fail: a counter without the _total suffix.
  const auto check = promtool_check("# HELP requests Requests\n# TYPE requests counter\nrequests 1\n");
  ASSERT_NE(check.exit_code, 127) << "promtool not found: run scripts/setup (Debian package prometheus)";
  EXPECT_NE(check.exit_code, 0);
  EXPECT_NE(check.output.find("_total"), std::string::npos) << check.output;
}

TEST(ServiceMetrics, FreshMetricsPassPromtoolAndExportEveryJobState) {
  ServiceMetrics metrics;
  const std::string text = metrics.serialize();
  expect_promtool_accepts(text);
  for (const char* state : {"pending", "processing", "completed", "failed", "cancelled"}) {
    EXPECT_TRUE(contains_line(text, std::string("jobs{state=\"") + state + "\"} 0")) << state << "\n" << text;
  }
  EXPECT_TRUE(contains_line(text, "queue_depth 0")) << text;
  EXPECT_TRUE(contains_line(text, "frames_processed_total 0")) << text;
  EXPECT_TRUE(contains_line(text, "job_queue_wait_seconds_count 0")) << text;
  // No GPU series until NVML reports a GPU.
  EXPECT_EQ(text.find("gpu_utilization_percent{"), std::string::npos) << text;
}

TEST(ServiceMetrics, RecordedValuesAppearInTheExposition) {
  ServiceMetrics metrics;
  metrics.observe_request("GET", "/healthz", 200, 0.002);
  metrics.observe_request("GET", "/healthz", 200, 0.004);
  metrics.observe_request("POST", "/api/v1/jobs", 429, 0.3);
  metrics.set_jobs("processing", 2);
  metrics.set_queue_depth(7);
  metrics.observe_queue_wait(0.2);
  metrics.observe_processing(42);
  metrics.add_frames_processed(30);
  metrics.add_frames_processed(12);
  metrics.set_frames_per_second(24.5);
  metrics.set_workers(2, 1);
  metrics.set_gpu(0, 87, 1.5e9);

  const std::string text = metrics.serialize();
  expect_promtool_accepts(text);
  EXPECT_TRUE(contains_line(text, R"(http_requests_total{method="GET",route="/healthz",status="200"} 2)")) << text;
  EXPECT_TRUE(contains_line(text, R"(http_requests_total{method="POST",route="/api/v1/jobs",status="429"} 1)")) << text;
  EXPECT_TRUE(contains_line(text, R"(http_request_duration_seconds_count{route="/healthz"} 2)")) << text;
  EXPECT_TRUE(contains_line(text, R"(http_request_duration_seconds_bucket{route="/healthz",le="0.0025"} 1)")) << text;
  EXPECT_TRUE(contains_line(text, R"(http_request_duration_seconds_bucket{route="/healthz",le="0.005"} 2)")) << text;
  EXPECT_TRUE(contains_line(text, R"(jobs{state="processing"} 2)")) << text;
  EXPECT_TRUE(contains_line(text, "queue_depth 7")) << text;
  EXPECT_TRUE(contains_line(text, "job_queue_wait_seconds_count 1")) << text;
  EXPECT_TRUE(contains_line(text, "job_processing_seconds_sum 42")) << text;
  EXPECT_TRUE(contains_line(text, "frames_processed_total 42")) << text;
  EXPECT_TRUE(contains_line(text, "frames_per_second 24.5")) << text;
  EXPECT_TRUE(contains_line(text, "workers 2")) << text;
  EXPECT_TRUE(contains_line(text, "workers_busy 1")) << text;
  EXPECT_TRUE(contains_line(text, R"(gpu_utilization_percent{gpu="0"} 87)")) << text;
  EXPECT_TRUE(contains_line(text, R"(gpu_memory_used_bytes{gpu="0"} 1500000000)")) << text;
}

TEST(ServiceMetrics, InstancesDoNotShareState) {
  ServiceMetrics a;
  ServiceMetrics b;
  a.add_frames_processed(5);
  EXPECT_TRUE(contains_line(a.serialize(), "frames_processed_total 5"));
  EXPECT_TRUE(contains_line(b.serialize(), "frames_processed_total 0"));
}

}  // namespace
}  // namespace facefuse::server
