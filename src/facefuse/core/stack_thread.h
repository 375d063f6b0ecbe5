// A joinable thread with an explicit stack size, for every thread facefuse creates (server I/O and
// handlers, the event pusher, job workers and their heartbeat, the webhook sender, the video
// pipeline's decode/track/work threads).
//
// Why not std::thread: it takes the stack size from RLIMIT_STACK — 8 MiB under a login shell, but
// glibc's 2 MiB fallback when the limit is `unlimited` (some container runtimes and systemd units)
// and whatever a service manager sets otherwise — and glibc carves each thread's static TLS out of
// that same stack (libopenblas' is 60 KiB). A thread's room for frames thus depended on where the
// process was started and which BLAS the system had; too little of it lets a library's TLS plus a
// deep call chain (dlib, OpenCV, ONNX Runtime, image decoders, nlohmann::json) overflow it (issue 10
// item 8). With this every thread gets the same, known stack wherever it runs.
//
// Threading: construct, join and detach from one owner thread.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>

#include "facefuse/core/status.h"

namespace facefuse {

// 8 MiB: the Linux default main-thread stack, reserved (not committed) per thread — generous for
// static TLS + JSON, SQLite, image decoding and model inference frames; pages are touched only when
// used, so an idle thread costs address space, not memory.
constexpr std::size_t kThreadStackBytes = 8u << 20;

class StackThread {
 public:
  StackThread() = default;
  StackThread(StackThread&& other) noexcept;
  StackThread& operator=(StackThread&& other) noexcept;  // joins the thread it held first
  StackThread(const StackThread&) = delete;
  StackThread& operator=(const StackThread&) = delete;
  ~StackThread();  // joins

  // Starts `body` on a new thread with `stack_bytes` of stack; kUnavailable when the system
  // refuses (out of threads or memory). `name` (≤ 15 bytes) shows in top/gdb.
  static Result<StackThread> start(const char* name, std::size_t stack_bytes, std::function<void()> body);

  bool joinable() const { return started_; }
  void join();
  // Lets the thread run on unowned (a thread that ends the process itself); no longer joinable.
  void detach();

 private:
  pthread_t thread_{};
  bool started_ = false;
};

}  // namespace facefuse
