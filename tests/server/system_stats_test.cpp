#include <gtest/gtest.h>

#include <ctime>

#include "facefuse/server/system_stats.h"

namespace facefuse::server {
namespace {

TEST(SystemStats, ParsesCpuSecondsWhateverTheProcessName) {
  // utime 250 and stime 150 ticks at 100 ticks/s; the name holds spaces and parentheses.
  const std::string stat =
      "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1200 0 3 0 250 150 0 0 20 0 9 0 77 123456 789 "
      "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0\n";
  auto seconds = parse_proc_stat_cpu_seconds(stat, 100);
  ASSERT_TRUE(seconds) << seconds.status().to_string();
  EXPECT_DOUBLE_EQ(*seconds, 4.0);
  EXPECT_FALSE(parse_proc_stat_cpu_seconds("4242 (x) S 1 2 3", 100));
  EXPECT_FALSE(parse_proc_stat_cpu_seconds("no name here", 100));
}

TEST(SystemStats, ParsesMemoryFromMeminfoAndStatus) {
  const std::string meminfo =
      "MemTotal:        8388608 kB\nMemFree:          100000 kB\nMemAvailable:    6291456 kB\nBuffers: 1 kB\n";
  const std::string status = "Name:\tfacefuse\nVmPeak:\t  900000 kB\nVmRSS:\t  204800 kB\nThreads:\t3\n";
  auto memory = parse_memory_stats(meminfo, status);
  ASSERT_TRUE(memory) << memory.status().to_string();
  EXPECT_DOUBLE_EQ(memory->total_mb, 8192);
  EXPECT_DOUBLE_EQ(memory->used_mb, 2048);
  EXPECT_DOUBLE_EQ(memory->process_rss_mb, 200);
  EXPECT_FALSE(parse_memory_stats("MemTotal: 1 kB\n", status));  // no MemAvailable
  EXPECT_FALSE(parse_memory_stats(meminfo, "Name:\tx\n"));        // no VmRSS
}

TEST(SystemStats, ReadsThisMachineWithoutNvml) {
  SystemStats stats("/nonexistent/libnvidia-ml.so.1");
  EXPECT_FALSE(stats.has_nvml());
  auto snapshot = stats.sample();
  ASSERT_TRUE(snapshot) << snapshot.status().to_string();
  EXPECT_TRUE(snapshot->gpus.empty());
  EXPECT_GT(snapshot->memory.total_mb, 64);
  EXPECT_GT(snapshot->memory.used_mb, 0);
  EXPECT_LE(snapshot->memory.used_mb, snapshot->memory.total_mb);
  EXPECT_GT(snapshot->memory.process_rss_mb, 1);
  EXPECT_LT(snapshot->memory.process_rss_mb, snapshot->memory.total_mb);
}

TEST(SystemStats, ALibraryWithoutNvmlSymbolsMeansNoGpus) {
  SystemStats stats("libm.so.6");
  EXPECT_FALSE(stats.has_nvml());
  ASSERT_TRUE(stats.sample());
  EXPECT_TRUE(stats.sample()->gpus.empty());
}

TEST(SystemStats, ReportsGpusThroughNvml) {
  SystemStats stats(FACEFUSE_FAKE_NVML);
  ASSERT_TRUE(stats.has_nvml());
  auto snapshot = stats.sample();
  ASSERT_TRUE(snapshot) << snapshot.status().to_string();
  ASSERT_EQ(snapshot->gpus.size(), 2u);
  EXPECT_EQ(snapshot->gpus[0].index, 0u);
  EXPECT_EQ(snapshot->gpus[0].name, "Fake GPU A100");
  EXPECT_DOUBLE_EQ(snapshot->gpus[0].utilization_percent, 73);
  EXPECT_DOUBLE_EQ(snapshot->gpus[0].memory_total_mb, 40 * 1024);
  EXPECT_DOUBLE_EQ(snapshot->gpus[0].memory_used_mb, 10 * 1024);
  EXPECT_EQ(snapshot->gpus[1].index, 1u);
  EXPECT_EQ(snapshot->gpus[1].name, "Fake GPU T4");
  EXPECT_DOUBLE_EQ(snapshot->gpus[1].memory_used_mb, 512);
}

TEST(SystemStats, CpuUsageReflectsWorkDoneInTheWindow) {
  SystemStats stats("/nonexistent/libnvidia-ml.so.1");
  // Spin until this process has used more CPU time than one measuring window lasts: whatever the
  // machine's load, the window then holds at least that much CPU time.
  const std::clock_t start = std::clock();
  const double window_seconds = std::chrono::duration<double>(SystemStats::kCpuWindow).count();
  volatile double sink = 0;
  while (static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC < 1.2 * window_seconds) sink = sink + 1;
  auto snapshot = stats.sample();
  ASSERT_TRUE(snapshot) << snapshot.status().to_string();
  EXPECT_GT(snapshot->cpu_usage_percent, 1.0);
  EXPECT_LE(snapshot->cpu_usage_percent, 100.0);
}

}  // namespace
}  // namespace facefuse::server
