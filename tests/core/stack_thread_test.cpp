#include <gtest/gtest.h>

#include <pthread.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "facefuse/core/stack_thread.h"

namespace facefuse {
namespace {

// The stack size glibc gave the calling thread (bytes; static TLS included, guard page not).
std::size_t current_stack_bytes() {
  pthread_attr_t attr;
  EXPECT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
  std::size_t bytes = 0;
  pthread_attr_getstacksize(&attr, &bytes);
  pthread_attr_destroy(&attr);
  return bytes;
}

// Sets the process-wide default stack of new threads (what std::thread gets) for one test: the
// stand-in for RLIMIT_STACK being unlimited (glibc: 2 MiB) or small under a service manager.
class DefaultThreadStack {
 public:
  explicit DefaultThreadStack(std::size_t bytes) {
    pthread_getattr_default_np(&saved_);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, bytes);
    EXPECT_EQ(pthread_setattr_default_np(&attr), 0);
    pthread_attr_destroy(&attr);
  }
  ~DefaultThreadStack() {
    pthread_setattr_default_np(&saved_);
    pthread_attr_destroy(&saved_);
  }

 private:
  pthread_attr_t saved_;
};

TEST(StackThread, GetsItsStackWhateverTheProcessDefault) {
  DefaultThreadStack small(256 << 10);
  std::size_t default_bytes = 0;
  std::thread([&] { default_bytes = current_stack_bytes(); }).join();
  ASSERT_LT(default_bytes, kThreadStackBytes) << "the default was not lowered; the test proves nothing";

  std::size_t bytes = 0;
  auto t = StackThread::start("ff-test", kThreadStackBytes, [&] { bytes = current_stack_bytes(); });
  ASSERT_TRUE(t) << t.status().message();
  t->join();
  EXPECT_GE(bytes, kThreadStackBytes);
}

// A body whose frames need more than the process default fits in the explicit stack: 2 MiB of
// locals written and read back, on a process whose threads get 256 KiB by default.
TEST(StackThread, DeepFramesFitWhereTheDefaultStackWouldOverflow) {
  DefaultThreadStack small(256 << 10);
  std::atomic<long> sum{0};
  auto t = StackThread::start("ff-test-deep", kThreadStackBytes, [&] {
    volatile unsigned char frame[2 << 20];
    for (std::size_t i = 0; i < sizeof(frame); i += 4096) frame[i] = static_cast<unsigned char>(i >> 12);
    long s = 0;
    for (std::size_t i = 0; i < sizeof(frame); i += 4096) s += frame[i];
    sum = s;
  });
  ASSERT_TRUE(t) << t.status().message();
  t->join();
  long expected = 0;
  for (std::size_t i = 0; i < (2u << 20); i += 4096) expected += static_cast<unsigned char>(i >> 12);
  EXPECT_EQ(sum.load(), expected);
}

TEST(StackThread, NamesTheThreadAndJoinsOnDestruction) {
  std::string name;
  std::atomic<bool> ran{false};
  {
    auto t = StackThread::start("ff-named-thread-too-long", kThreadStackBytes, [&] {
      char buf[16] = {};
      pthread_getname_np(pthread_self(), buf, sizeof(buf));
      name = buf;
      ran = true;
    });
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->joinable());
  }  // the destructor joins: the body has finished here
  EXPECT_TRUE(ran.load());
  EXPECT_EQ(name, "ff-named-thread");  // cut to the kernel's 15 bytes
}

TEST(StackThread, DetachedThreadRunsOnUnowned) {
  std::atomic<bool> ran{false};
  auto t = StackThread::start("ff-detached", kThreadStackBytes, [&] { ran = true; });
  ASSERT_TRUE(t);
  t->detach();
  EXPECT_FALSE(t->joinable());
  for (int i = 0; i < 2000 && !ran.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(ran.load());
}

TEST(StackThread, AnImpossibleStackIsAnErrorNotACrash) {
  // More address space than the machine has: pthread_create refuses (EAGAIN/ENOMEM/EINVAL).
  auto t = StackThread::start("ff-huge", std::size_t{1} << 62, [] {});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(t.status().message().find("ff-huge"), std::string::npos) << t.status().message();
}

}  // namespace
}  // namespace facefuse
