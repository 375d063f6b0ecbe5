// Host figures for the /health body (DESIGN.md §5.1, seed 002): this process's CPU usage, memory
// of the machine and of the process, and GPUs through NVML. NVML is loaded at run time with
// dlopen, so the binary runs on machines without the NVIDIA driver: there the GPU list is empty
// and nothing fails. Linux only (reads /proc).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::server {

// Sizes in MiB (2^20 bytes), named _mb like the /health fields.
struct MemoryStats {
  double used_mb = 0;         // machine: MemTotal - MemAvailable
  double total_mb = 0;        // machine: MemTotal
  double process_rss_mb = 0;  // this process: VmRSS
};

struct GpuStats {
  unsigned index = 0;                // NVML device index
  std::string name;
  double utilization_percent = 0;    // 0–100 over NVML's last sample period
  double memory_used_mb = 0;
  double memory_total_mb = 0;
};

struct SystemSnapshot {
  // CPU time this process used over the measuring window, as a share of all cores (0–100).
  double cpu_usage_percent = 0;
  MemoryStats memory;
  std::vector<GpuStats> gpus;  // empty without NVML
};

// User + system CPU seconds from the text of /proc/<pid>/stat (the process name may hold spaces
// and parentheses). `ticks_per_second` is sysconf(_SC_CLK_TCK).
Result<double> parse_proc_stat_cpu_seconds(std::string_view proc_stat, long ticks_per_second);
// Machine memory from the text of /proc/meminfo and the process RSS from /proc/self/status.
Result<MemoryStats> parse_memory_stats(std::string_view meminfo, std::string_view proc_status);

class SystemStats {
 public:
  static constexpr const char* kNvmlLibrary = "libnvidia-ml.so.1";

  // Loads `nvml_library` (a soname or path) if it can; failure just means no GPU figures.
  explicit SystemStats(const std::string& nvml_library = kNvmlLibrary);
  ~SystemStats();
  SystemStats(const SystemStats&) = delete;
  SystemStats& operator=(const SystemStats&) = delete;

  // Current figures; unavailable only when /proc cannot be read. CPU usage is measured over at
  // least kCpuWindow: calls closer together than that repeat the last figure instead of dividing
  // a few clock ticks by a tiny interval. Thread-safe.
  Result<SystemSnapshot> sample();
  bool has_nvml() const { return nvml_ != nullptr; }

  static constexpr std::chrono::milliseconds kCpuWindow{1000};

 private:
  class Nvml;
  std::unique_ptr<Nvml> nvml_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point window_start_;
  double window_start_cpu_seconds_ = 0;
  double last_cpu_percent_ = 0;
};

}  // namespace facefuse::server
