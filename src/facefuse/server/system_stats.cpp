#include "facefuse/server/system_stats.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

#include "facefuse/core/cpu_budget.h"

namespace facefuse::server {
namespace {

constexpr double kBytesPerMib = 1024.0 * 1024.0;

Result<std::string> read_text(const char* path) {
  std::ifstream in(path);
  if (!in) return unavailable(std::string("cannot read ") + path + "; is /proc mounted?");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The number after "<key>:" on its own line of a /proc key-value file, in the file's unit (kB).
Result<double> proc_field(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ':') {
      line.remove_prefix(key.size() + 1);
      line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
      double value = 0;
      if (std::from_chars(line.data(), line.data() + line.size(), value).ec == std::errc()) return value;
      break;
    }
    pos = end + 1;
  }
  return invalid_argument("no numeric '" + std::string(key) + ":' line in the /proc text");
}

}  // namespace

Result<double> parse_proc_stat_cpu_seconds(std::string_view proc_stat, long ticks_per_second) {
  // Fields after the parenthesised name: state(3) ppid(4) ... utime(14) stime(15).
  const std::size_t name_end = proc_stat.rfind(')');
  if (name_end == std::string_view::npos || ticks_per_second <= 0) {
    return invalid_argument("not the text of /proc/<pid>/stat");
  }
  std::istringstream fields{std::string(proc_stat.substr(name_end + 1))};
  std::string field;
  double utime = -1;
  double stime = -1;
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) utime = std::strtod(field.c_str(), nullptr);
    if (index == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  if (utime < 0 || stime < 0) return invalid_argument("/proc/<pid>/stat has fewer than 15 fields");
  return (utime + stime) / static_cast<double>(ticks_per_second);
}

Result<MemoryStats> parse_memory_stats(std::string_view meminfo, std::string_view proc_status) {
  FF_ASSIGN_OR_RETURN(const double total_kb, proc_field(meminfo, "MemTotal"));
  FF_ASSIGN_OR_RETURN(const double available_kb, proc_field(meminfo, "MemAvailable"));
  FF_ASSIGN_OR_RETURN(const double rss_kb, proc_field(proc_status, "VmRSS"));
  MemoryStats stats;
  stats.total_mb = total_kb / 1024.0;
  stats.used_mb = (total_kb - available_kb) / 1024.0;
  stats.process_rss_mb = rss_kb / 1024.0;
  return stats;
}

}  // namespace facefuse::server

// nvml.h's own types, under nvml.h's own names in the global namespace. The names matter, not just
// the layout: a call through a function pointer whose type differs from the callee's is undefined
// behaviour, and clang's -fsanitize=function (the ASan+UBSan build) compares the two function types
// by their mangled names — declared with private stand-in types (`struct NvmlDevice*`, a nested
// `Utilization`), every call into an instrumented NVML (tests/server/fake_nvml) was reported.
// nvmlReturn_t (the first values of nvml.h's list; the same definition as tests/server/fake_nvml).
enum nvmlReturn_enum { NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2 };
struct nvmlDevice_st;        // nvmlDevice_t is an opaque nvmlDevice_st*
struct nvmlUtilization_st {  // nvmlUtilization_t: percent over the last sample period
  unsigned int gpu;
  unsigned int memory;
};
struct nvmlMemory_st {  // nvmlMemory_t, bytes
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

namespace facefuse::server {

// The few NVML entry points /health needs, resolved from the driver's library.
class SystemStats::Nvml {
 public:
  static std::unique_ptr<Nvml> load(const std::string& library) {
    void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return nullptr;
    std::unique_ptr<Nvml> nvml(new Nvml(handle));
    if (!nvml->resolve() || nvml->init_() != kSuccess) return nullptr;  // destructor skips shutdown
    nvml->initialised_ = true;
    return nvml;
  }

  ~Nvml() {
    if (initialised_) shutdown_();
    dlclose(handle_);
  }

  std::vector<GpuStats> gpus() const {
    std::vector<GpuStats> out;
    unsigned count = 0;
    if (get_count_(&count) != kSuccess) return out;
    for (unsigned i = 0; i < count; ++i) {
      Device device = nullptr;
      if (get_handle_(i, &device) != kSuccess) continue;
      GpuStats gpu;
      gpu.index = i;
      char name[kNameBufferSize] = {};
      if (get_name_(device, name, kNameBufferSize) == kSuccess) gpu.name = name;
      Utilization utilization{};
      if (get_utilization_(device, &utilization) == kSuccess) gpu.utilization_percent = utilization.gpu;
      Memory memory{};
      if (get_memory_(device, &memory) == kSuccess) {
        gpu.memory_used_mb = static_cast<double>(memory.used) / kBytesPerMib;
        gpu.memory_total_mb = static_cast<double>(memory.total) / kBytesPerMib;
      }
      out.push_back(std::move(gpu));
    }
    return out;
  }

 private:
  using Device = nvmlDevice_st*;
  using Utilization = nvmlUtilization_st;
  using Memory = nvmlMemory_st;
  using Return = nvmlReturn_enum;
  static constexpr Return kSuccess = NVML_SUCCESS;
  static constexpr unsigned kNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE

  explicit Nvml(void* handle) : handle_(handle) {}

  template <typename Fn>
  bool bind(Fn& fn, const char* symbol) {
    fn = reinterpret_cast<Fn>(dlsym(handle_, symbol));
    return fn != nullptr;
  }
  bool resolve() {
    return bind(init_, "nvmlInit_v2") && bind(shutdown_, "nvmlShutdown") && bind(get_count_, "nvmlDeviceGetCount_v2") &&
           bind(get_handle_, "nvmlDeviceGetHandleByIndex_v2") && bind(get_name_, "nvmlDeviceGetName") &&
           bind(get_utilization_, "nvmlDeviceGetUtilizationRates") && bind(get_memory_, "nvmlDeviceGetMemoryInfo");
  }

  void* handle_;
  bool initialised_ = false;
  // The signatures of nvml.h (unsigned int, char*, nvmlDevice_t, ...), exactly.
  Return (*init_)() = nullptr;
  Return (*shutdown_)() = nullptr;
  Return (*get_count_)(unsigned int*) = nullptr;
  Return (*get_handle_)(unsigned int, Device*) = nullptr;
  Return (*get_name_)(Device, char*, unsigned int) = nullptr;
  Return (*get_utilization_)(Device, Utilization*) = nullptr;
  Return (*get_memory_)(Device, Memory*) = nullptr;
};

namespace {

Result<double> process_cpu_seconds() {
  FF_ASSIGN_OR_RETURN(const std::string stat, read_text("/proc/self/stat"));
  return parse_proc_stat_cpu_seconds(stat, sysconf(_SC_CLK_TCK));
}

}  // namespace

SystemStats::SystemStats(const std::string& nvml_library)
    : nvml_(Nvml::load(nvml_library)), window_start_(std::chrono::steady_clock::now()) {
  const auto cpu_seconds = process_cpu_seconds();
  window_start_cpu_seconds_ = cpu_seconds ? *cpu_seconds : 0;
}

SystemStats::~SystemStats() = default;

Result<SystemSnapshot> SystemStats::sample() {
  FF_ASSIGN_OR_RETURN(const double cpu_seconds, process_cpu_seconds());
  FF_ASSIGN_OR_RETURN(const std::string meminfo, read_text("/proc/meminfo"));
  FF_ASSIGN_OR_RETURN(const std::string status, read_text("/proc/self/status"));
  SystemSnapshot snapshot;
  FF_ASSIGN_OR_RETURN(snapshot.memory, parse_memory_stats(meminfo, status));
  if (nvml_) snapshot.gpus = nvml_->gpus();

  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  const double wall_seconds = std::chrono::duration<double>(now - window_start_).count();
  if (now - window_start_ >= kCpuWindow) {
    const double cores = available_cpus();  // 100 % = every CPU this process may use
    last_cpu_percent_ = std::clamp(100.0 * (cpu_seconds - window_start_cpu_seconds_) / (wall_seconds * cores), 0.0, 100.0);
    window_start_ = now;
    window_start_cpu_seconds_ = cpu_seconds;
  }
  snapshot.cpu_usage_percent = last_cpu_percent_;
  return snapshot;
}

}  // namespace facefuse::server
