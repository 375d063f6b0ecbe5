#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <thread>

#include <gtest/gtest.h>

#include "facefuse/server/node_common.h"

namespace facefuse::server {
namespace {

// Exit codes of the forked child below.
constexpr int kTakenByTheWait = 0;
constexpr int kNotTaken = 3;

// In a child process: a thread started before block_stop_signals (as OpenBLAS starts its pool
// before main), then a SIGTERM sent to the process while the calling thread is busy, not inside
// sigwait. The kernel can hand the signal only to the early thread; the signal must then still
// reach the caller's next wait instead of ending the process.
int signal_while_busy_then_wait() {
  std::atomic<bool> done{false};
  std::thread early_library_thread([&done] {
    while (!done.load()) usleep(1000);
  });
  usleep(20'000);  // the early thread is running before the mask is set
  const sigset_t signals = block_stop_signals();
  kill(getpid(), SIGTERM);
  usleep(100'000);  // busy: e.g. `serve` loading its store, the worker sweeping scratch directories
  timespec timeout{5, 0};
  const int taken = sigtimedwait(&signals, nullptr, &timeout);
  done.store(true);
  early_library_thread.join();
  return taken == SIGTERM ? kTakenByTheWait : kNotTaken;
}

TEST(StopSignals, ASignalWhileTheWaiterIsBusyReachesItsNextWaitAndNeverEndsTheProcess) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(signal_while_busy_then_wait());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_FALSE(WIFSIGNALED(status)) << "the stop signal ended the process (signal " << WTERMSIG(status)
                                    << ") instead of waiting for the drain";
  EXPECT_EQ(WEXITSTATUS(status), kTakenByTheWait) << "the signal never reached sigtimedwait";
}

}  // namespace
}  // namespace facefuse::server
