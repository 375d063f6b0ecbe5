// A joinable thread with an explicit stack size. std::thread takes the stack size from
// RLIMIT_STACK (or glibc's 2 MiB fallback when it is unlimited), and glibc carves each thread's
// static TLS — libopenblas' alone is large — out of that same stack: a small or unknown stack
// lets a library's TLS plus a deep call chain overflow it (issue 10 item 8). Every thread the
// server creates uses this with kServerThreadStackBytes.
//
// Threading: construct and join from one owner thread.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>

#include "facefuse/core/status.h"

namespace facefuse::server {

// 8 MiB: the Linux default main-thread stack, reserved (not committed) per thread — generous
// for static TLS + JSON, SQLite and image decoding frames; pages are touched only when used.
constexpr std::size_t kServerThreadStackBytes = 8u << 20;

class StackThread {
 public:
  StackThread() = default;
  StackThread(StackThread&& other) noexcept;
  StackThread& operator=(StackThread&& other) noexcept;
  StackThread(const StackThread&) = delete;
  StackThread& operator=(const StackThread&) = delete;
  ~StackThread();  // joins

  // Starts `body` on a new thread with `stack_bytes` of stack; kUnavailable when the system
  // refuses (out of threads or memory). `name` (≤ 15 bytes) shows in top/gdb.
  static Result<StackThread> start(const char* name, std::size_t stack_bytes, std::function<void()> body);

  bool joinable() const { return started_; }
  void join();

 private:
  pthread_t thread_{};
  bool started_ = false;
};

}  // namespace facefuse::server
