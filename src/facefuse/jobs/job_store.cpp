#include "facefuse/jobs/job_store.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace facefuse::jobs {

namespace {

// "chunk 2", "image", "merge": the task as a job error message names it.
std::string task_label(const Task& task) {
  return task.kind == TaskKind::kChunk ? fmt::format("chunk {}", task.chunk_index)
                                       : std::string(task_kind_name(task.kind));
}

}  // namespace

std::string stalled_task_message(const Task& task, int64_t now_ms) {
  return fmt::format("the {} task made no frame progress for {} s on worker '{}' (attempt {}) while its lease "
                     "was current: failed as stalled (--task-stall-seconds); submit the job again, and report "
                     "the input if it stalls again",
                     task_label(task), (now_ms - task.progress_at_ms) / 1000, task.lease_owner, task.attempts);
}

std::string crashed_worker_message(const Task& task, int attempts) {
  return fmt::format("the {} task was attempted {} times and each worker stopped while holding it (crashed or was "
                     "killed, possibly by this input); not retried again",
                     task_label(task), attempts);
}

JobFigures job_figures(const Job& job, int64_t chunk_frames_done, double fraction, int64_t now_ms) {
  JobFigures f;
  f.progress = fraction;
  if (job.frames_total > 0) {
    f.progress = 0.99 * static_cast<double>(chunk_frames_done) / static_cast<double>(job.frames_total);
    const double seconds = (now_ms - job.started_at_ms) / 1000.0;
    if (seconds > 0 && chunk_frames_done > 0) {
      f.fps = chunk_frames_done / seconds;
      f.eta_seconds = (job.frames_total - chunk_frames_done) / f.fps;
    }
  }
  f.progress = std::max(f.progress, job.progress);
  return f;
}

Result<int64_t> parse_job_cursor(const std::string& cursor) {
  if (cursor.empty()) return std::numeric_limits<int64_t>::max();
  try {
    size_t used = 0;
    const int64_t before = std::stoll(cursor, &used);
    if (used == cursor.size() && before > 0) return before;
  } catch (const std::exception&) {
  }
  return invalid_argument(fmt::format("cursor '{}' is not one this server returned: pass next_cursor of the "
                                      "previous page",
                                      cursor));
}

Status check_schema_compatible(std::string_view store, int version, int compatible_from, int binary,
                               std::string_view fix) {
  if (version <= binary || binary >= compatible_from) return Status::ok();
  return failed_precondition(fmt::format("{} has schema version {}, which facefuse of schema version {} or newer can "
                                         "use, but this facefuse knows versions up to {}: {}",
                                         store, version, compatible_from, binary, fix));
}

}  // namespace facefuse::jobs
