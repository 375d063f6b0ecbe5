// How many CPUs this process may really use: the CPUs in its affinity mask (taskset, cpusets,
// Kubernetes static CPU manager) capped by the cgroup CPU quota (cgroup v2 cpu.max, or v1
// cpu.cfs_quota_us / cpu.cfs_period_us: `docker --cpus`, Kubernetes limits). Every place that sizes
// a thread pool (ORT intra-op threads, service workers' thread budget, the video pipeline) uses
// available_cpus(): std::thread::hardware_concurrency() counts the host's CPUs and oversubscribes a
// container many times over (and memory grows with the threads).
//
// Threading: any thread. available_cpus() reads /proc and /sys on each call (cheap; call it when
// sizing, not per frame).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace facefuse {

// ≥ 1: min(CPUs in the affinity mask, ceil(cgroup quota / period)).
int available_cpus();

// The CPU limit of the cgroup that `proc_self_cgroup` (the text of /proc/self/cgroup) names, read
// under `cgroup_root` (normally /sys/fs/cgroup), walking from the process's cgroup up to the root
// and keeping the smallest quota: a quota in CPUs (quota / period, fractional), or nullopt when no
// level sets one ("max" / -1). Exposed with explicit paths for tests.
std::optional<double> cgroup_cpu_limit(const std::filesystem::path& cgroup_root, const std::string& proc_self_cgroup);

}  // namespace facefuse
