#include "facefuse/core/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace facefuse {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// cgroup v2 "cpu.max": "<quota|max> <period>" (microseconds).
std::optional<double> v2_limit(const std::filesystem::path& dir) {
  std::istringstream in(read_text(dir / "cpu.max"));
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  try {
    const double q = std::stod(quota);
    return q > 0 ? std::optional<double>(q / period) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// cgroup v1: cpu.cfs_quota_us (-1 = none) / cpu.cfs_period_us (microseconds).
std::optional<double> v1_limit(const std::filesystem::path& dir) {
  std::istringstream q(read_text(dir / "cpu.cfs_quota_us"));
  std::istringstream p(read_text(dir / "cpu.cfs_period_us"));
  double quota = -1, period = 0;
  if (!(q >> quota) || !(p >> period) || quota <= 0 || period <= 0) return std::nullopt;
  return quota / period;
}

void keep_min(std::optional<double>& best, std::optional<double> v) {
  if (v && (!best || *v < *best)) best = v;
}

// Walks `relative` (a cgroup path such as /system.slice/x.service) from the leaf up to the root
// under `mount`, applying `limit` at every level.
template <typename F>
void walk_up(const std::filesystem::path& mount, std::string relative, F&& limit, std::optional<double>& best) {
  while (true) {
    keep_min(best, limit(mount / std::filesystem::path(relative).relative_path()));
    if (relative.empty() || relative == "/") break;
    const auto slash = relative.rfind('/');
    relative = slash == std::string::npos || slash == 0 ? std::string("/") : relative.substr(0, slash);
  }
}

}  // namespace

std::optional<double> cgroup_cpu_limit(const std::filesystem::path& cgroup_root, const std::string& proc_self_cgroup) {
  std::optional<double> best;
  std::istringstream lines(proc_self_cgroup);
  std::string line;
  while (std::getline(lines, line)) {
    // "hierarchy-id:controllers:path"; v2 is "0::/path", v1 lists controllers ("cpu,cpuacct").
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? std::string::npos : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      walk_up(cgroup_root, path, v2_limit, best);
      continue;
    }
    std::istringstream names(controllers);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (name != "cpu") continue;
      // v1 mounts the cpu controller as cpu,cpuacct (often with cpu and cpuacct symlinks).
      for (const char* mount : {"cpu,cpuacct", "cpu", "cpuacct,cpu"}) {
        std::error_code ec;
        if (std::filesystem::is_directory(cgroup_root / mount, ec)) {
          walk_up(cgroup_root / mount, path, v1_limit, best);
          break;
        }
      }
    }
  }
  return best;
}

int available_cpus() {
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  // In a container the cgroup path in /proc/self/cgroup is often "/" (cgroup namespace) and the
  // limit sits on the namespace root, which walk_up reaches either way.
  if (auto limit = cgroup_cpu_limit("/sys/fs/cgroup", read_text("/proc/self/cgroup"))) {
    cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(*limit - 1e-9))));
  }
  return cpus;
}

}  // namespace facefuse
