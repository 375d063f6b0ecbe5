// The in-process workers of `facefuse serve`: N threads that lease tasks from the JobStore, run
// them with the TaskRunner and record the outcome; one heartbeat thread that extends every held
// lease and notices cancellations; a device semaphore so GPU tasks run one per device while CPU
// tasks share the thread budget (each task gets cores / workers processing threads).
//
// Failures: kCancelled ends the job as cancelled; kUnavailable and kInternal (I/O, a crashed
// library call) are retried with backoff; everything else (bad input, no face in the source,
// unsupported media, limits) fails the job at once — a retry would fail the same way.
//
// Threading: start() once; wake(), cancel_job() and the getters from any thread; drain() once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/core/stack_thread.h"
#include "facefuse/jobs/job_store.h"
#include "facefuse/jobs/task_runner.h"

namespace facefuse::jobs {

struct WorkerPoolConfig {
  int workers = 1;
  std::string node_id;           // lease owner prefix: host + pid, so leases name who holds them
  int64_t lease_ms = 30000;      // a dead worker's task is re-run this long after its last heartbeat
  int64_t heartbeat_ms = 5000;
  int64_t idle_poll_ms = 500;    // without wake(), how often idle workers look for due tasks
  int64_t progress_interval_ms = 250;  // progress events at most this often per task
  int device_slots = 0;          // tasks allowed on the device at once; 0 = one per worker (CPU)
  // > 0: every quarter of this (200 ms – 5 s), fail leased tasks whose frames have not advanced for
  // this long (JobStore::fail_stalled_tasks; job error "stalled"). 0 = no sweep.
  int64_t stall_ms = 0;
  int64_t max_tasks = 0;         // > 0: claim no more than this many tasks in all (facefuse worker --max-tasks)
  RetryPolicy retry;
};

// What the pool reports when a task ends (metrics, webhooks, logs).
struct TaskOutcome {
  Lease lease;
  Status status;            // ok, or why it failed
  double seconds = 0.0;     // run time of this attempt
  int64_t frames = 0;       // frames processed by this attempt (chunks)
  bool job_finished = false;  // the job reached a terminal state with this task
};

class WorkerPool {
 public:
  WorkerPool(WorkerPoolConfig config, JobStore& store, TaskRunner& runner);
  ~WorkerPool();

  void set_on_task_end(std::function<void(const TaskOutcome&)> callback);
  // Called when a task of this pool was interrupted elsewhere or here: "lease_expired" as the pool
  // claims a task whose previous holder's lease expired, "released" after the pool gave a running
  // task back (drain). Set before start().
  void set_on_interruption(std::function<void(std::string_view reason, const Lease&)> callback);
  // Starts the workers and the heartbeat thread, each with a kThreadStackBytes stack (a task runs
  // the whole engine — decoders, dlib, ONNX Runtime — on it, as the server's handlers do);
  // kUnavailable when the system refuses a thread (the threads already started are stopped).
  Status start();
  // A task may be claimable now (a job was submitted).
  void wake();
  // Stops the job's running tasks on this node at their next frame.
  void cancel_job(const std::string& job_id);

  // Graceful stop: claim nothing more; let running tasks finish for up to `grace_ms`, then cancel
  // them and give their leases back (pending again, attempt not counted); join the threads.
  void drain(int64_t grace_ms);

  int size() const { return config_.workers; }
  int busy() const { return busy_.load(); }
  // Tasks claimed and run to an end (any outcome) so far.
  int64_t tasks_ended() const { return tasks_ended_.load(); }
  // max_tasks was reached and every claimed task has ended: nothing more will run.
  bool exhausted() const;
  // Wall time of the last task that ran to completion on this pool, ms; -1 before the first.
  int64_t last_task_ms() const { return last_task_ms_.load(); }
  // Milliseconds since the pool last had a running task (or since start()); 0 while busy.
  int64_t idle_ms() const;

 private:
  struct Running {
    Lease lease;
    std::shared_ptr<pipeline::CancelToken> cancel;
    bool releasing = false;  // drained: give the lease back instead of recording a failure
  };

  void worker_loop(int index);
  void heartbeat_loop();
  void run_one(const std::string& owner, Lease lease);

  WorkerPoolConfig config_;
  JobStore& store_;
  TaskRunner& runner_;
  std::function<void(const TaskOutcome&)> on_task_end_;
  std::function<void(std::string_view, const Lease&)> on_interruption_;

  std::mutex mutex_;
  std::condition_variable wake_cv_;
  std::condition_variable device_cv_;
  int device_free_ = 0;
  bool stopping_ = false;
  uint64_t wake_generation_ = 0;
  std::map<int64_t, Running> running_;  // by task id
  std::atomic<int> busy_{0};
  std::atomic<int64_t> claims_{0};        // tasks claimed (bounded by max_tasks)
  std::atomic<int64_t> tasks_ended_{0};
  std::atomic<int64_t> last_task_ms_{-1};
  std::atomic<int64_t> idle_since_ms_{0};  // steady clock, ms: when busy_ last dropped to 0
  std::vector<StackThread> threads_;
  StackThread heartbeat_;
};

}  // namespace facefuse::jobs
