// Runs one leased task with the pipeline: fetches the job's inputs from storage into the job's
// private temp directory (<temp_root>/<job_id>), then
//   image: the whole job → output committed to <output prefix>/output.<ext>;
//   chunk: process_video_chunk → segment committed to <work prefix>/segments/chunk-NNNNN.mp4 (a rerun
//          of the same chunk overwrites the same key atomically: never two copies of a chunk);
//   merge: the segments in order → merge_video_chunks → output committed (segments are removed
//          by finish_job once the completion is recorded).
// (prefixes: storage_keys.h). Nothing is committed to an output key unless the whole output was written.
//
// Threading: run() may be called from several workers at once (for different tasks).
#pragma once

#include "facefuse/jobs/job_request.h"
#include "facefuse/jobs/job_store.h"
#include "facefuse/storage/blob_store.h"

namespace facefuse::jobs {

class TaskRunner {
 public:
  TaskRunner(std::filesystem::path temp_root, ExecutionSettings settings, JobStore& store, storage::BlobStore& blobs);

  // Returns the committed output key for image and merge tasks ("" for chunks) and, for tasks
  // that opened the face swapper, the faces found in the source image. kCancelled when `cancel`
  // fired (temp files removed, nothing committed).
  Result<TaskResult> run(const Lease& lease, const pipeline::ProgressCallback& progress,
                          const pipeline::CancelToken& cancel);

  // After the job's terminal state is recorded: removes its segments and local temp directory,
  // and — unless it completed — any output committed in a race with a cancellation, so nothing
  // of a failed or cancelled job is left. Segments go only now, not in the merge: a merge killed
  // between committing the output and recording it must find them again when it reruns.
  void finish_job(const Job& job, bool completed);

 private:
  Result<JobInputs> fetch_inputs(const Job& job);
  // Server paths in a failure → what the client calls them (client_facing_error): "target
  // 'clip.mp4'", "the output"; job errors never show the data directory.
  std::vector<std::pair<std::string, std::string>> input_names(const Job& job, const JobInputs& inputs,
                                                               const std::filesystem::path& work);
  Result<TaskResult> run_image(const Lease& lease, const JobInputs& inputs, const std::filesystem::path& work,
                                const pipeline::ProgressCallback& progress, const pipeline::CancelToken& cancel);
  Result<TaskResult> run_chunk(const Lease& lease, const JobInputs& inputs, const std::filesystem::path& work,
                                const pipeline::ProgressCallback& progress, const pipeline::CancelToken& cancel);
  Result<TaskResult> run_merge(const Lease& lease, const JobInputs& inputs, const std::filesystem::path& work,
                                const pipeline::ProgressCallback& progress);

  std::filesystem::path temp_root_;
  ExecutionSettings settings_;
  JobStore& store_;
  storage::BlobStore& blobs_;
};

}  // namespace facefuse::jobs
