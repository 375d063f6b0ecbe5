// available_cpus(): affinity masks and cgroup CPU quotas bound every thread pool (issue 11). The
// cgroup parser is checked on generated v1/v2 trees; affinity on the real process.
#include <gtest/gtest.h>

#include <sched.h>

#include <fstream>

#include "facefuse/core/cpu_budget.h"
#include "support/test_support.h"

namespace facefuse {
namespace {

namespace fs = std::filesystem;
using facefuse::testing::TempDir;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(CpuBudget, CgroupV2QuotaIsTheSmallestOnThePathToTheRoot) {
  TempDir root;
  write(root / "cpu.max", "max 100000\n");
  write(root / "kubepods/cpu.max", "300000 100000\n");          // 3 CPUs for the pod
  write(root / "kubepods/pod1/ctr/cpu.max", "150000 100000\n");  // 1.5 for the container
  EXPECT_DOUBLE_EQ(*cgroup_cpu_limit(root.path(), "0::/kubepods/pod1/ctr\n"), 1.5);
  write(root / "kubepods/pod1/ctr/cpu.max", "max 100000\n");
  EXPECT_DOUBLE_EQ(*cgroup_cpu_limit(root.path(), "0::/kubepods/pod1/ctr\n"), 3.0) << "a parent's quota binds too";
  EXPECT_FALSE(cgroup_cpu_limit(root.path(), "0::/\n")) << "no quota anywhere: no limit";
}

TEST(CpuBudget, CgroupV1CfsQuota) {
  TempDir root;
  write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");  // docker --cpus 0.5
  write(root / "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  write(root / "cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  write(root / "cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  const std::string proc = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n";
  EXPECT_DOUBLE_EQ(*cgroup_cpu_limit(root.path(), proc), 0.5);
  EXPECT_FALSE(cgroup_cpu_limit(root.path(), "4:cpu,cpuacct:/\n")) << "-1 means no quota";
}

TEST(CpuBudget, AffinityMaskBoundsTheCount) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  const int before = available_cpus();
  EXPECT_GE(before, 1);
  EXPECT_LE(before, CPU_COUNT(&saved));
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &saved)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);  // like `taskset -c N`
  EXPECT_EQ(available_cpus(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_EQ(available_cpus(), before);
}

}  // namespace
}  // namespace facefuse
