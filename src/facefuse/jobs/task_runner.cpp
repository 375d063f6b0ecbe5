#include "facefuse/jobs/task_runner.h"

#include "facefuse/jobs/storage_keys.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "facefuse/jobs/job_service.h"
#include "facefuse/pipeline/run_job.h"
#include "facefuse/pipeline/video_job.h"

namespace facefuse::jobs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A service job has exactly one source image: its face count, when the pipeline analysed it.
std::optional<int> source_faces_of(const pipeline::JobReport& report) {
  if (report.source_faces.empty()) return std::nullopt;
  return report.source_faces.front();
}

// What a completed job shows of its report: faces found in the target (input_summary.target_faces),
// faces swapped and the warnings, with the job's private file names replaced by "the target".
nlohmann::json result_summary_of(const pipeline::JobReport& report, const JobInputs& inputs) {
  if (report.target_faces < 0) return nlohmann::json::object();  // figures unknown
  nlohmann::json warnings = nlohmann::json::array();
  for (std::string w : report.warnings) {
    const std::string name = inputs.target.string();
    for (const std::string& from : {"the target " + name, name}) {
      for (size_t at = w.find(from); at != std::string::npos; at = w.find(from)) w.replace(at, from.size(), "the target");
    }
    warnings.push_back(std::move(w));
  }
  return {{"target_faces", report.target_faces}, {"faces_swapped", report.processed_faces}, {"warnings", warnings}};
}

}  // namespace

TaskRunner::TaskRunner(fs::path temp_root, ExecutionSettings settings, JobStore& store, storage::BlobStore& blobs)
    : temp_root_(std::move(temp_root)), settings_(std::move(settings)), store_(store), blobs_(blobs) {}

void TaskRunner::finish_job(const Job& job, bool completed) {
  const std::string& job_id = job.id;
  std::vector<std::string> prefixes = {job_temp_prefix(job)};
  if (!completed) prefixes.push_back(output_prefix(job));
  for (const std::string& prefix : prefixes) {
    Status removed = blobs_.remove_prefix(prefix);
    if (!removed.is_ok()) spdlog::warn("job {}: cannot remove {}: {}", job_id, prefix, removed.message());
  }
  std::error_code ec;
  fs::remove_all(temp_root_ / job_id, ec);
}

Result<JobInputs> TaskRunner::fetch_inputs(const Job& job) {
  fs::path dir = temp_root_ / job.id / "inputs";
  JobInputs inputs{dir / "source", dir / "target"};
  // get_file writes atomically, so an existing file is complete (fetched by an earlier task).
  std::error_code ec;
  if (!fs::exists(inputs.source, ec)) {
    FF_RETURN_IF_ERROR(blobs_.get_file(job.request["source"]["storage_key"].get<std::string>(), inputs.source));
  }
  if (!fs::exists(inputs.target, ec)) {
    FF_RETURN_IF_ERROR(blobs_.get_file(job.request["target"]["storage_key"].get<std::string>(), inputs.target));
  }
  return inputs;
}

Result<TaskResult> TaskRunner::run(const Lease& lease, const pipeline::ProgressCallback& progress,
                                    const pipeline::CancelToken& cancel) {
  auto fetched = fetch_inputs(lease.job);
  if (!fetched) return client_facing_error(fetched.status(), {});
  const JobInputs& inputs = *fetched;
  // Each attempt works in its own directory: a retry never sees a half-written file of the last.
  fs::path work = temp_root_ / lease.job.id / fmt::format("task-{}-attempt-{}", lease.task.id, lease.task.attempts);
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work, ec);
  if (ec) return unavailable(fmt::format("cannot create the job's temp directory {}: {}", work.string(), ec.message()));
  Result<TaskResult> result = internal_error("unknown task kind");
  switch (lease.task.kind) {
    case TaskKind::kImage: result = run_image(lease, inputs, work, progress, cancel); break;
    case TaskKind::kChunk: result = run_chunk(lease, inputs, work, progress, cancel); break;
    case TaskKind::kMerge: result = run_merge(lease, inputs, work, progress); break;
  }
  fs::remove_all(work, ec);
  if (!result) return client_facing_error(result.status(), input_names(lease.job, inputs, work));
  return result;
}

std::vector<std::pair<std::string, std::string>> TaskRunner::input_names(const Job& job, const JobInputs& inputs,
                                                                         const fs::path& work) {
  // Longest first: the work directory and inputs lie under the job's temp directory.
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& [part, path] : {std::pair<const char*, fs::path>{"source", inputs.source}, {"target", inputs.target}}) {
    std::string name = part;
    const json& input = job.request[part];
    if (input.contains("upload_id") && input["upload_id"].is_string()) {
      auto upload = store_.get_upload(job.tenant, input["upload_id"].get<std::string>());
      if (upload) name = fmt::format("{} '{}'", part, upload->filename);
    }
    names.emplace_back(path.string(), name);
  }
  names.emplace_back((work / output_file_name(job.request)).string(), "the output");
  names.emplace_back(work.string(), "the job's work space");
  names.emplace_back((temp_root_ / job.id).string(), "the job's work space");
  return names;
}

Result<TaskResult> TaskRunner::run_image(const Lease& lease, const JobInputs& inputs, const fs::path& work,
                                          const pipeline::ProgressCallback& progress,
                                          const pipeline::CancelToken& cancel) {
  const Job& job = lease.job;
  fs::path output = work / output_file_name(job.request);
  pipeline::JobSpec spec = job_spec_for(job.request, inputs, output, work, settings_);
  FF_ASSIGN_OR_RETURN(pipeline::JobReport report, pipeline::run_job(spec, progress, &cancel));
  if (cancel.is_cancelled()) return cancelled("the job was cancelled");
  std::string key = output_prefix(job) + "/" + output_file_name(job.request);
  FF_RETURN_IF_ERROR(blobs_.put_file(key, output));
  return TaskResult{key, source_faces_of(report), result_summary_of(report, inputs)};
}

Result<TaskResult> TaskRunner::run_chunk(const Lease& lease, const JobInputs& inputs, const fs::path& work,
                                          const pipeline::ProgressCallback& progress,
                                          const pipeline::CancelToken& cancel) {
  const Job& job = lease.job;
  pipeline::JobSpec spec = job_spec_for(job.request, inputs, work / output_file_name(job.request), work, settings_);
  FF_ASSIGN_OR_RETURN(pipeline::VideoPlan plan, pipeline::plan_video_job(spec));
  fs::path segment = work / "segment.mp4";
  FF_ASSIGN_OR_RETURN(pipeline::JobReport report,
                      pipeline::process_video_chunk(spec, plan, {lease.task.frame_begin, lease.task.frame_end},
                                                    segment, progress, &cancel));
  FF_RETURN_IF_ERROR(blobs_.put_file(segment_key(job, lease.task.chunk_index), segment));
  return TaskResult{std::string(), source_faces_of(report)};
}

Result<TaskResult> TaskRunner::run_merge(const Lease& lease, const JobInputs& inputs, const fs::path& work,
                                          const pipeline::ProgressCallback& progress) {
  const Job& job = lease.job;
  fs::path output = work / output_file_name(job.request);
  pipeline::JobSpec spec = job_spec_for(job.request, inputs, output, work, settings_);
  FF_ASSIGN_OR_RETURN(pipeline::VideoPlan plan, pipeline::plan_video_job(spec));
  FF_ASSIGN_OR_RETURN(std::vector<Task> tasks, store_.job_tasks(job.id));
  std::vector<fs::path> segments;
  for (const Task& t : tasks) {
    if (t.kind != TaskKind::kChunk) continue;
    if (static_cast<size_t>(t.chunk_index) != segments.size()) {
      return internal_error(fmt::format("job {}: chunk {} is missing before chunk {}", job.id, segments.size(), t.chunk_index));
    }
    fs::path local = work / fmt::format("chunk-{:05d}.mp4", t.chunk_index);
    FF_RETURN_IF_ERROR(blobs_.get_file(segment_key(job, t.chunk_index), local));
    segments.push_back(local);
  }
  if (progress) progress({"merging", 0.99});
  FF_ASSIGN_OR_RETURN(pipeline::JobReport report, pipeline::merge_video_chunks(spec, plan, segments));
  std::string key = output_prefix(job) + "/" + output_file_name(job.request);
  FF_RETURN_IF_ERROR(blobs_.put_file(key, output));
  return TaskResult{key, std::nullopt, result_summary_of(report, inputs)};
}

}  // namespace facefuse::jobs
