#include "facefuse/jobs/worker_pool.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "facefuse/core/out_of_memory.h"

namespace facefuse::jobs {

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool is_retryable(StatusCode code) { return code == StatusCode::kUnavailable || code == StatusCode::kInternal; }

std::string log_line(const std::string& msg, const Lease& lease, nlohmann::json extra = nlohmann::json::object()) {
  extra["msg"] = msg;
  extra["job_id"] = lease.job.id;
  extra["task_id"] = lease.task.id;
  extra["task"] = task_kind_name(lease.task.kind);
  if (lease.task.kind == TaskKind::kChunk) extra["chunk"] = lease.task.chunk_index;
  extra["attempt"] = lease.task.attempts;
  return extra.dump();
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolConfig config, JobStore& store, TaskRunner& runner)
    : config_(std::move(config)), store_(store), runner_(runner) {
  device_free_ = config_.device_slots > 0 ? config_.device_slots : config_.workers;
}

WorkerPool::~WorkerPool() { drain(0); }

void WorkerPool::set_on_task_end(std::function<void(const TaskOutcome&)> callback) { on_task_end_ = std::move(callback); }

bool WorkerPool::exhausted() const {
  return config_.max_tasks > 0 && claims_.load() >= config_.max_tasks && busy_.load() == 0 &&
         tasks_ended_.load() >= config_.max_tasks;
}

int64_t WorkerPool::idle_ms() const {
  if (busy_.load() > 0) return 0;
  return std::max<int64_t>(0, steady_ms() - idle_since_ms_.load());
}

void WorkerPool::set_on_interruption(std::function<void(std::string_view, const Lease&)> callback) {
  on_interruption_ = std::move(callback);
}

Status WorkerPool::start() {
  idle_since_ms_ = steady_ms();
  Status started = [&]() -> Status {
    for (int i = 0; i < config_.workers; ++i) {
      FF_ASSIGN_OR_RETURN(StackThread t, StackThread::start(fmt::format("ff-worker-{}", i).c_str(), kThreadStackBytes,
                                                            [this, i] { worker_loop(i); }));
      threads_.push_back(std::move(t));
    }
    FF_ASSIGN_OR_RETURN(heartbeat_, StackThread::start("ff-heartbeat", kThreadStackBytes, [this] { heartbeat_loop(); }));
    return Status::ok();
  }();
  if (!started.is_ok()) drain(0);
  return started;
}

void WorkerPool::wake() {
  std::lock_guard lock(mutex_);
  ++wake_generation_;
  wake_cv_.notify_all();
}

void WorkerPool::cancel_job(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  for (auto& [id, running] : running_) {
    if (running.lease.job.id == job_id) running.cancel->cancel();
  }
}

void WorkerPool::drain(int64_t grace_ms) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    wake_cv_.notify_all();
    device_cv_.notify_all();
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (running_.empty()) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        for (auto& [id, running] : running_) {
          running.releasing = true;
          running.cancel->cancel();
        }
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  {
    std::lock_guard lock(mutex_);
    wake_cv_.notify_all();  // the heartbeat thread sleeps up to heartbeat_ms: let it see the end now
  }
  if (heartbeat_.joinable()) heartbeat_.join();
}

void WorkerPool::worker_loop(int index) {
  const std::string owner = fmt::format("{}/w{}", config_.node_id, index);
  for (;;) {
    uint64_t generation = 0;
    {
      std::unique_lock lock(mutex_);
      device_cv_.wait(lock, [&] { return stopping_ || device_free_ > 0; });
      if (stopping_) return;
      --device_free_;
      generation = wake_generation_;
    }
    // --max-tasks: reserve a claim first, so workers racing for the last one never exceed it.
    const bool limited = config_.max_tasks > 0;
    if (limited && claims_.fetch_add(1) >= config_.max_tasks) {
      claims_.fetch_sub(1);
      std::lock_guard lock(mutex_);
      ++device_free_;
      device_cv_.notify_one();
      return;
    }
    auto claimed = store_.claim_task(owner, config_.lease_ms, config_.retry.max_attempts);
    if (claimed && claimed->has_value()) {
      run_one(owner, std::move(**claimed));
    } else if (limited) {
      claims_.fetch_sub(1);
    }
    std::unique_lock lock(mutex_);
    ++device_free_;
    device_cv_.notify_one();
    if (!claimed) spdlog::error(nlohmann::json{{"msg", "cannot claim tasks"}, {"error", claimed.status().message()}}.dump());
    if (!claimed || !claimed->has_value()) {
      wake_cv_.wait_for(lock, std::chrono::milliseconds(config_.idle_poll_ms),
                        [&] { return stopping_ || wake_generation_ != generation; });
    }
  }
}

void WorkerPool::run_one(const std::string& owner, Lease lease) {
  auto token = std::make_shared<pipeline::CancelToken>();
  const int64_t task_id = lease.task.id;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {  // drain began while this task was being claimed: give it straight back
      Status released = store_.release_task(task_id, owner);
      if (released.is_ok() && on_interruption_) on_interruption_("released", lease);
      return;
    }
    running_[task_id] = Running{lease, token, false};
  }
  if (lease.job.cancel_requested) token->cancel();
  ++busy_;
  spdlog::info(log_line("task started", lease, {{"lease_expired", lease.lease_expired}}));
  if (lease.lease_expired && on_interruption_) on_interruption_("lease_expired", lease);

  auto started = std::chrono::steady_clock::now();
  auto last_report = started - std::chrono::hours(1);
  int64_t frames = 0;
  pipeline::ProgressCallback progress = [&](const pipeline::ProgressEvent& e) {
    frames = e.frames_done;
    auto now = std::chrono::steady_clock::now();
    if (now - last_report < std::chrono::milliseconds(config_.progress_interval_ms)) return;
    last_report = now;
    Status s = store_.report_progress(task_id, owner, {e.stage, e.frames_done, e.fraction});
    if (s.code() == StatusCode::kFailedPrecondition) token->cancel();  // the lease was lost: stop
  };
  // An allocation failure anywhere in the engine is a resource problem: retried later (kUnavailable)
  // instead of escaping the worker thread and aborting the whole server.
  Result<TaskResult> result = [&]() -> Result<TaskResult> {
    try {
      return runner_.run(lease, progress, *token);
    } catch (const std::bad_alloc&) {
      return out_of_memory(fmt::format("running task {} of job {}", task_id, lease.job.id));
    }
  }();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  bool releasing = false;
  {
    std::lock_guard lock(mutex_);
    releasing = running_[task_id].releasing;
    running_.erase(task_id);
  }
  if (result.is_ok()) last_task_ms_ = static_cast<int64_t>(seconds * 1000.0);

  TaskOutcome outcome{lease, result.status(), seconds, frames, false};
  const std::string& job_id = lease.job.id;
  Status recorded;
  if (result.is_ok()) {
    recorded = store_.complete_task(task_id, owner, *result);
    outcome.job_finished = lease.task.kind != TaskKind::kChunk && recorded.is_ok();
  } else if (releasing) {
    recorded = store_.release_task(task_id, owner);
    if (recorded.is_ok() && on_interruption_) on_interruption_("released", lease);
  } else if (result.status().code() == StatusCode::kCancelled) {
    auto job = store_.get_job(job_id);
    if (job && (job->cancel_requested || is_terminal(job->state))) {
      recorded = store_.finish_cancelled(job_id);
      outcome.job_finished = true;
    } else {
      recorded = store_.release_task(task_id, owner);  // stopped because the lease was lost
    }
  } else {
    recorded = store_.fail_task(task_id, owner, result.status(), is_retryable(result.status().code()), config_.retry);
    auto job = store_.get_job(job_id);
    outcome.job_finished = job && is_terminal(job->state);
  }
  if (!recorded.is_ok()) {
    // Typically the lease expired while we worked and another worker took the task over: its
    // result counts, ours is dropped (a chunk it re-ran overwrote the same segment key).
    spdlog::warn(log_line("task outcome not recorded", lease, {{"error", recorded.message()}}));
  }
  if (outcome.job_finished) {
    auto job = store_.get_job(job_id);
    runner_.finish_job(job ? *job : lease.job, job && job->state == JobState::kCompleted);
  }
  spdlog::info(log_line(result.is_ok() ? "task done" : "task ended", lease,
                        {{"seconds", seconds}, {"status", status_code_name(result.status().code())},
                         {"message", result.status().message()}}));
  if (on_task_end_) on_task_end_(outcome);
  // Counted last: a --max-tasks worker exits only after the outcome is recorded and reported.
  ++tasks_ended_;
  idle_since_ms_ = steady_ms();
  --busy_;
}

void WorkerPool::heartbeat_loop() {
  // One thread for heartbeats (every heartbeat_ms) and, with stall_ms, the stall sweep (every
  // quarter of the stall limit, 200 ms – 5 s, so a stalled task fails within ~1.25 × the limit).
  const auto beat_every = std::chrono::milliseconds(config_.heartbeat_ms);
  const auto sweep_every = std::chrono::milliseconds(std::clamp<int64_t>(config_.stall_ms / 4, 200, 5000));
  auto next_beat = std::chrono::steady_clock::now() + beat_every;
  auto next_sweep = std::chrono::steady_clock::now() + sweep_every;
  const bool sweeping = config_.stall_ms > 0;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_cv_.wait_until(lock, sweeping ? std::min(next_beat, next_sweep) : next_beat);
    if (stopping_ && running_.empty()) return;
    const auto now = std::chrono::steady_clock::now();
    if (sweeping && now >= next_sweep && !stopping_) {
      next_sweep = now + sweep_every;
      lock.unlock();
      auto failed = store_.fail_stalled_tasks(config_.stall_ms);
      if (!failed) {
        spdlog::warn(nlohmann::json{{"msg", "stall sweep failed"}, {"error", failed.status().message()}}.dump());
      } else if (*failed > 0) {
        spdlog::warn(nlohmann::json{{"msg", "stalled tasks failed"}, {"tasks", *failed},
                                    {"stall_seconds", config_.stall_ms / 1000.0}}.dump());
      }
      lock.lock();
    }
    if (now < next_beat && !stopping_) continue;
    next_beat = now + beat_every;
    std::vector<std::pair<Task, std::shared_ptr<pipeline::CancelToken>>> held;
    for (auto& [id, running] : running_) held.emplace_back(running.lease.task, running.cancel);
    lock.unlock();
    for (auto& [task, token] : held) {
      auto stop = store_.heartbeat(task.id, task.lease_owner, config_.lease_ms);
      // Stop at the next frame when the job was cancelled or ended (a stall sweep failed it), or the
      // lease was lost.
      if ((stop && *stop) || (!stop && stop.status().code() == StatusCode::kFailedPrecondition)) token->cancel();
    }
    lock.lock();
  }
}

}  // namespace facefuse::jobs
