// Feeds job events to live watchers (WebSocket /ws/job/{id}/progress and /api/v1/jobs/{id}/events,
// Server-Sent Events) from one thread that polls the job store every 50 ms — what an API replica
// of distributed mode will do too. Watchers of the same job share one query per poll, so 2 000
// sockets on one job cost one SQLite read per 50 ms. A watcher ends after the job's terminal
// state event; a watcher of a job that had finished already ends as soon as its backlog is sent
// (issue 10 item 5: resuming with since=<last seq> on a finished job used to stay open forever).
// A sink that cannot keep up (EventSink::send false) is dropped.
//
// Threading: add() from any thread; start()/stop() from the owner.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"
#include "facefuse/server/http_server.h"
#include "facefuse/core/stack_thread.h"

namespace facefuse::jobs {
class JobStore;
}

namespace facefuse::server {

class EventPusher {
 public:
  // `present`: how a stored event is shown to a watcher (e.g. output_url signed at send time);
  // called on the pusher thread, must be thread-safe. Empty: events go out as stored.
  using Presenter = std::function<nlohmann::json(const nlohmann::json&)>;
  explicit EventPusher(jobs::JobStore& store, Presenter present = {});
  ~EventPusher();

  Status start();
  // Ends the thread and finishes every sink.
  void stop();
  // Polls the store now instead of at the next interval (an event was written elsewhere).
  void poke();

  // `job_finished`: the job is terminal already. `hold` lives as long as the watcher (the
  // caller's per-key / per-address stream slot).
  void add(std::shared_ptr<EventSink> sink, std::string job_id, int64_t since, bool job_finished,
           std::shared_ptr<void> hold);

  std::size_t watchers() const;

 private:
  struct Watcher {
    std::shared_ptr<EventSink> sink;
    std::string job_id;
    int64_t last_seq = 0;
    bool job_finished = false;
    std::shared_ptr<void> hold;
  };
  void run();
  void poll_once();

  jobs::JobStore& store_;
  Presenter present_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool poked_ = false;
  uint64_t next_id_ = 0;
  std::map<uint64_t, Watcher> watchers_;
  StackThread thread_;
};

// True for a {"type": "state"} event with a terminal status (completed, failed, cancelled).
bool event_ends_stream(const nlohmann::json& event);

}  // namespace facefuse::server
