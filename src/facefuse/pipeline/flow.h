// Small concurrency pieces of the video pipeline: a closable blocking queue and an ordered
// hand-over buffer (frames finish out of order on N workers and are taken back in order).
// Every wait ends when the flow is aborted, so one failing stage stops all the others.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

namespace facefuse::pipeline {

template <typename T>
class BlockingQueue {
 public:
  void push(T item) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
  }
  // Next item, or nullopt once the queue is closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  // Drops what is queued and closes (on abort).
  void abort() {
    {
      std::lock_guard lock(mutex_);
      items_.clear();
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
  bool closed_ = false;
};

// Items keyed by frame number; take(n) blocks until item n is there (or the buffer is aborted).
template <typename T>
class OrderedBuffer {
 public:
  void put(int64_t index, T item) {
    {
      std::lock_guard lock(mutex_);
      items_.emplace(index, std::move(item));
    }
    ready_.notify_all();
  }
  std::optional<T> take(int64_t index) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return items_.count(index) != 0 || aborted_; });
    auto it = items_.find(index);
    if (it == items_.end()) return std::nullopt;
    T item = std::move(it->second);
    items_.erase(it);
    return item;
  }
  void abort() {
    {
      std::lock_guard lock(mutex_);
      aborted_ = true;
      items_.clear();
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::map<int64_t, T> items_;
  bool aborted_ = false;
};

// Caps the frames in flight between the decoder and the encoder, so memory stays flat whatever
// the video's length and whichever stage is slowest.
class FrameBudget {
 public:
  explicit FrameBudget(int frames) : free_(frames) {}
  // false when aborted.
  bool acquire() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return free_ > 0 || aborted_; });
    if (aborted_) return false;
    --free_;
    return true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      ++free_;
    }
    ready_.notify_one();
  }
  void abort() {
    {
      std::lock_guard lock(mutex_);
      aborted_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  int free_;
  bool aborted_ = false;
};

}  // namespace facefuse::pipeline
