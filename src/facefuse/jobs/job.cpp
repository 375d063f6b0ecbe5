#include "facefuse/jobs/job.h"

#include <chrono>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace facefuse::jobs {

namespace {
constexpr const char* kJobStateNames[] = {"pending", "processing", "completed", "failed", "cancelled"};

// RFC 3339 UTC with milliseconds, or null for 0 (not happened yet).
nlohmann::json timestamp_json(int64_t ms) {
  if (ms <= 0) return nullptr;
  return rfc3339_utc(ms);
}
}  // namespace

std::string rfc3339_utc(int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03d}Z", buffer, static_cast<int>(ms % 1000));
}

const char* job_state_name(JobState state) { return kJobStateNames[static_cast<int>(state)]; }

TaskKind parse_task_kind(const std::string& s) {
  if (s == "chunk") return TaskKind::kChunk;
  if (s == "merge") return TaskKind::kMerge;
  return TaskKind::kImage;
}

TaskState parse_task_state(const std::string& s) {
  for (auto st : {TaskState::kBlocked, TaskState::kPending, TaskState::kLeased, TaskState::kDone, TaskState::kFailed,
                  TaskState::kCancelled}) {
    if (s == task_state_name(st)) return st;
  }
  return TaskState::kPending;
}

Result<JobState> parse_job_state(const std::string& name) {
  for (int i = 0; i < 5; ++i) {
    if (name == kJobStateNames[i]) return static_cast<JobState>(i);
  }
  return invalid_argument(fmt::format("unknown job status '{}': use pending, processing, completed, failed or cancelled", name));
}

const char* task_kind_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::kImage: return "image";
    case TaskKind::kChunk: return "chunk";
    case TaskKind::kMerge: return "merge";
  }
  return "image";
}

const char* task_state_name(TaskState state) {
  switch (state) {
    case TaskState::kBlocked: return "blocked";
    case TaskState::kPending: return "pending";
    case TaskState::kLeased: return "leased";
    case TaskState::kDone: return "done";
    case TaskState::kFailed: return "failed";
    case TaskState::kCancelled: return "cancelled";
  }
  return "pending";
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The stored input_summary also keeps the job's result figures (TaskResult::result_summary); those
// are shown at the top level of the job, not in input_summary.
nlohmann::json input_summary_json(const Job& job) {
  nlohmann::json out = job.input_summary;
  if (out.is_object()) {
    out.erase("faces_swapped");
    out.erase("warnings");
  }
  return out;
}

nlohmann::json job_to_json(const Job& job) {
  nlohmann::json out = {
      {"job_id", job.id},
      {"status", job_state_name(job.state)},
      {"kind", job.kind},
      {"progress", job.progress},
      // The same as a percentage (0–100, one decimal), as the seed's clients show it.
      {"progress_percent", std::round(job.progress * 1000.0) / 10.0},
      {"step", job.step},
      {"frames_done", job.frames_done},
      {"frames_total", job.frames_total},
      {"fps", job.fps},
      {"eta_seconds", job.eta_seconds < 0 ? nlohmann::json(nullptr) : nlohmann::json(job.eta_seconds)},
      {"estimated_finish_time",
       job.eta_seconds < 0 || is_terminal(job.state) ? nlohmann::json(nullptr)
                                                     : timestamp_json(now_ms() + static_cast<int64_t>(job.eta_seconds * 1000))},
      {"input_summary", input_summary_json(job)},
      // Set when the job completed (null before, and for jobs of older versions): faces the
      // processors were applied to (videos: summed over frames), and what the user should know.
      {"faces_swapped", job.input_summary.value("faces_swapped", nlohmann::json())},
      {"warnings", job.input_summary.value("warnings", nlohmann::json::array())},
      {"output_url", job.output_key.empty() || job.output_expired_at_ms > 0 ? nlohmann::json(nullptr)
                                                                             : nlohmann::json("/media/" + job.output_key)},
      {"cached", job.cached},
      {"created_at", timestamp_json(job.created_at_ms)},
      {"updated_at", timestamp_json(job.updated_at_ms)},
      {"started_at", timestamp_json(job.started_at_ms)},
      {"finished_at", timestamp_json(job.finished_at_ms)},
      {"error", job.error_code.empty() ? nlohmann::json(nullptr)
                                       : nlohmann::json{{"error", job.error_code}, {"message", job.error_message}}},
  };
  if (job.cancel_requested && !is_terminal(job.state)) out["cancel_requested"] = true;
  out["priority"] = job.priority;
  // Retention deleted the output (serve --retain-outputs): the job stays, its output is gone.
  if (job.output_expired_at_ms > 0) out["output_expired_at"] = timestamp_json(job.output_expired_at_ms);
  if (job.attempts >= 0) out["attempts"] = job.attempts;
  if (!job.tasks.empty()) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& t : job.tasks) {
      tasks.push_back({{"kind", task_kind_name(t.kind)}, {"index", t.chunk_index}, {"state", task_state_name(t.state)},
                       {"attempts", t.attempts}});
    }
    out["tasks"] = std::move(tasks);
  }
  return out;
}

}  // namespace facefuse::jobs
