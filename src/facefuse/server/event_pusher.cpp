#include "facefuse/server/event_pusher.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/jobs/job_store.h"

namespace facefuse::server {

namespace {
constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr int kEventsPerPoll = 100;  // per job; a longer backlog continues at the next poll
}  // namespace

bool event_ends_stream(const nlohmann::json& event) {
  if (!event.is_object()) return false;
  std::string status = event.value("status", "");
  return event.value("type", "") == "state" && (status == "completed" || status == "failed" || status == "cancelled");
}

EventPusher::EventPusher(jobs::JobStore& store, Presenter present) : store_(store), present_(std::move(present)) {}

EventPusher::~EventPusher() { stop(); }

Status EventPusher::start() {
  FF_ASSIGN_OR_RETURN(thread_, StackThread::start("ff-event-push", kThreadStackBytes, [this] { run(); }));
  return Status::ok();
}

void EventPusher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  std::map<uint64_t, Watcher> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(watchers_);
  }
  for (auto& [id, w] : left) w.sink->finish();
}

void EventPusher::add(std::shared_ptr<EventSink> sink, std::string job_id, int64_t since, bool job_finished,
                      std::shared_ptr<void> hold) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      sink->finish();
      return;
    }
    watchers_[next_id_++] = Watcher{std::move(sink), std::move(job_id), since, job_finished, std::move(hold)};
  }
  cv_.notify_all();  // a new watcher gets its backlog at once rather than at the next poll
}

void EventPusher::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  cv_.notify_all();
}

std::size_t EventPusher::watchers() const {
  std::lock_guard lock(mutex_);
  return watchers_.size();
}

void EventPusher::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    poll_once();
    lock.lock();
    cv_.wait_for(lock, kPollInterval, [&] { return stopping_ || poked_; });
    poked_ = false;
  }
}

void EventPusher::poll_once() {
  // Snapshot under the lock; the store is read without it.
  std::unordered_map<std::string, int64_t> since_by_job;
  {
    std::lock_guard lock(mutex_);
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      if (!it->second.sink->is_open()) {
        it = watchers_.erase(it);
        continue;
      }
      auto [pos, inserted] = since_by_job.emplace(it->second.job_id, it->second.last_seq);
      if (!inserted) pos->second = std::min(pos->second, it->second.last_seq);
      ++it;
    }
  }
  std::unordered_map<std::string, std::vector<jobs::JobEvent>> events_by_job;
  for (const auto& [job_id, since] : since_by_job) {
    auto events = store_.events_since(job_id, since, kEventsPerPoll);
    if (events) events_by_job[job_id] = std::move(events).value();
  }
  std::lock_guard lock(mutex_);
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    Watcher& w = it->second;
    auto found = events_by_job.find(w.job_id);
    if (found == events_by_job.end()) {
      ++it;
      continue;
    }
    bool done = false;
    bool alive = true;
    for (const auto& e : found->second) {
      if (e.seq <= w.last_seq) continue;
      std::string text = (present_ ? present_(e.data) : e.data)
                             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (!w.sink->send(std::move(text), e.seq)) {
        alive = false;
        break;
      }
      w.last_seq = e.seq;
      if (event_ends_stream(e.data)) {
        done = true;
        break;
      }
    }
    bool caught_up = static_cast<int>(found->second.size()) < kEventsPerPoll;
    if (alive && !done && w.job_finished && caught_up) done = true;  // nothing will ever follow
    if (done) w.sink->finish();
    if (done || !alive) {
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace facefuse::server
