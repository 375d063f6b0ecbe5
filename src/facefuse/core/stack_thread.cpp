#include "facefuse/core/stack_thread.h"

#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

namespace facefuse {

namespace {
struct Start {
  std::string name;
  std::function<void()> body;
};

void* run(void* arg) {
  std::unique_ptr<Start> start(static_cast<Start*>(arg));
  pthread_setname_np(pthread_self(), start->name.c_str());
  start->body();
  return nullptr;
}
}  // namespace

StackThread::StackThread(StackThread&& other) noexcept : thread_(other.thread_), started_(other.started_) {
  other.started_ = false;
}

StackThread& StackThread::operator=(StackThread&& other) noexcept {
  if (this != &other) {
    join();
    thread_ = other.thread_;
    started_ = other.started_;
    other.started_ = false;
  }
  return *this;
}

StackThread::~StackThread() { join(); }

Result<StackThread> StackThread::start(const char* name, std::size_t stack_bytes, std::function<void()> body) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  int rc = pthread_attr_setstacksize(&attr, stack_bytes);
  auto start = std::make_unique<Start>(Start{std::string(name).substr(0, 15), std::move(body)});
  StackThread t;
  if (rc == 0) rc = pthread_create(&t.thread_, &attr, run, start.get());
  pthread_attr_destroy(&attr);
  if (rc != 0) return unavailable(fmt::format("cannot start thread {}: {}", name, std::strerror(rc)));
  start.release();  // owned by the thread now
  t.started_ = true;
  return t;
}

void StackThread::join() {
  if (!started_) return;
  pthread_join(thread_, nullptr);
  started_ = false;
}

void StackThread::detach() {
  if (!started_) return;
  pthread_detach(thread_);
  started_ = false;
}

}  // namespace facefuse
