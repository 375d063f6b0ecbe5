// The service's job model (DESIGN.md §5): a job is what a client submitted; tasks are the units
// workers lease (one for an image job; chunk tasks + one merge task for a video job); events are
// the job's progress history, numbered per job so a client can resume from a sequence number.
//
// States: pending → processing → completed | failed | cancelled (the last three are terminal).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"

namespace facefuse::jobs {

enum class JobState { kPending, kProcessing, kCompleted, kFailed, kCancelled };
const char* job_state_name(JobState state);

// Unix ms → "2026-12-05T20:03:00.000Z" (RFC 3339, UTC, milliseconds): every timestamp in the API.
std::string rfc3339_utc(int64_t ms);

// kInvalidArgument naming the valid states.
Result<JobState> parse_job_state(const std::string& name);
inline bool is_terminal(JobState s) {
  return s == JobState::kCompleted || s == JobState::kFailed || s == JobState::kCancelled;
}

enum class TaskKind { kImage, kChunk, kMerge };
const char* task_kind_name(TaskKind kind);
// The stores' spelling back to the enum (task_kind_name's inverse; unknown → kImage).
TaskKind parse_task_kind(const std::string& name);

// blocked: waits for other tasks (the merge waits for every chunk); leased: a worker holds it
// until lease_expires_at_ms; an expired lease is claimable again.
enum class TaskState { kBlocked, kPending, kLeased, kDone, kFailed, kCancelled };
const char* task_state_name(TaskState state);
// task_state_name's inverse (unknown → kPending).
TaskState parse_task_state(const std::string& name);

// One task as a client sees it in GET /jobs/{id}: how often it was claimed (a count that keeps
// climbing means workers keep dying on it; see JobStore::claim_task's attempt cap).
struct TaskAttempts {
  TaskKind kind = TaskKind::kImage;
  int chunk_index = 0;
  TaskState state = TaskState::kPending;
  int attempts = 0;
};

struct Job {
  std::string id;
  std::string tenant;
  JobState state = JobState::kPending;
  nlohmann::json request;        // the validated request body (with upload ids resolved to storage keys)
  std::string kind;              // "image" | "video"
  std::string fingerprint;       // sha256 hex of inputs + options + engine (result cache)
  std::string idempotency_key;   // empty when none was given
  double progress = 0.0;         // 0–1
  std::string step;              // pipeline stage: "queued", "processing", "merging", ...
  double eta_seconds = -1;       // < 0 unknown
  int64_t frames_done = 0, frames_total = 0;
  double fps = 0.0;
  nlohmann::json input_summary = nlohmann::json::object();
  std::string output_key;        // storage key of the committed output; empty until completed
  // When retention deleted the output (or found it missing), Unix ms; 0 = not expired. output_key
  // stays, so /media of it can answer 410 Gone instead of 404.
  int64_t output_expired_at_ms = 0;
  std::string error_code, error_message;
  bool cached = false;
  bool cancel_requested = false;
  int priority = 0;              // 0–9 from the request; claims go higher first, then oldest
  // Claims of the job's tasks summed (a released task's claim is not counted): more than the
  // number of tasks means some ran again after a worker died. Filled by JobStore::get_job with
  // `tasks`; -1 elsewhere (lists, events), where job_to_json leaves it out.
  int64_t attempts = -1;
  int64_t created_at_ms = 0, updated_at_ms = 0, started_at_ms = 0, finished_at_ms = 0;  // Unix ms; 0 = not yet
  // Filled by JobStore::get_job only (the detail view); empty in lists, events and webhooks' other
  // paths, where job_to_json then leaves "tasks" out.
  std::vector<TaskAttempts> tasks;
};

struct Task {
  int64_t id = 0;
  std::string job_id;
  TaskKind kind = TaskKind::kImage;
  int chunk_index = 0;               // chunks: 0-based order in the merge
  int64_t frame_begin = 0, frame_end = 0;  // chunks: output frames [begin, end)
  TaskState state = TaskState::kPending;
  int attempts = 0;                  // claims so far, including the current one
  std::string lease_owner;
  int64_t lease_expires_at_ms = 0;
  int64_t not_before_ms = 0;         // retry backoff: not claimable before this time
  int64_t frames_done = 0;
  std::string last_error;
  int64_t progress_at_ms = 0;        // leased: when its frames last advanced (the claim counts); stall sweep
};

struct JobEvent {
  int64_t seq = 0;  // 1, 2, 3 ... per job
  int64_t created_at_ms = 0;
  nlohmann::json data;  // {"type": "state"|"progress", "status", "progress", "step", "frames_done", ...}
};

// The JSON a client sees for a job (GET /jobs/{id}, list rows, WebSocket snapshots).
nlohmann::json job_to_json(const Job& job);

int64_t now_ms();

}  // namespace facefuse::jobs
