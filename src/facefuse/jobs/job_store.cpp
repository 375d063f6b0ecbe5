#include "facefuse/jobs/job_store.h"

#include <fmt/format.h>

namespace facefuse::jobs {

std::string stalled_task_message(const Task& task, int64_t now_ms) {
  const std::string what = task.kind == TaskKind::kChunk ? fmt::format("chunk {}", task.chunk_index)
                                                         : std::string(task_kind_name(task.kind));
  return fmt::format("the {} task made no frame progress for {} s on worker '{}' (attempt {}) while its lease "
                     "was current: failed as stalled (--task-stall-seconds); submit the job again, and report "
                     "the input if it stalls again",
                     what, (now_ms - task.progress_at_ms) / 1000, task.lease_owner, task.attempts);
}

}  // namespace facefuse::jobs
