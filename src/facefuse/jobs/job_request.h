// The job body of the API (DESIGN.md §5.1, seed contract, snake_case) and its normalised form.
//
//   {"source": {"upload_id": "..." | "url": "https://...", "reference_face_index": 0},
//    "target": {"upload_id": "..." | "url": "https://...", "frame_range": [start, end], "frame_number": N},
//    "output": {"format": "jpg|png|webp|mp4|mkv|mov|webm", "resolution": "WxH", "quality": 0-100,
//               "fps": 0, "chunk_frames": 0, "chunk_seconds": 10,
//               "video_encoder": "libx264|libx265|libvpx-vp9", "video_preset": "ultrafast..veryslow",
//               "audio_volume": 0-100},
//    "options": {"processors": ["face_swapper"], "face_detector": "blazeface", "blend_ratio": 0.8, ...},
//    "webhook": {"url": "...", "secret": "..."}, "priority": 0-9}
//
// URL inputs are fetched and registered as uploads by JobService before normalisation.
// normalise_job_request() checks every field (unknown keys, types, ranges, processor whitelist,
// processor options through processors::validate_options) and returns the stored form: upload ids
// resolved to storage keys and checksums, option aliases mapped to engine names (blend_ratio →
// face_swapper_blend, enhancer_model → face_enhancer_model), defaults filled in (except the output's
// video_encoder / video_preset / audio_volume, stored only when not the default), so equal requests
// normalise to equal JSON (the result cache's fingerprint hashes it).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/jobs/job_store.h"
#include "facefuse/pipeline/job_spec.h"
#include "facefuse/processors/processor.h"

namespace facefuse::jobs {

// Video chunk length when output.chunk_frames is 0, seconds of output video (0.1–3600).
inline constexpr double kDefaultChunkSeconds = 10.0;
inline constexpr double kMinChunkSeconds = 0.1;
inline constexpr double kMaxChunkSeconds = 3600.0;
// Job priority: higher is claimed first; equal priorities go oldest first.
inline constexpr int64_t kMinJobPriority = 0;
inline constexpr int64_t kMaxJobPriority = 9;
inline constexpr int64_t kDefaultJobPriority = 0;

// Looks an upload id up for the tenant (kNotFound when missing or another tenant's).
using UploadLookup = std::function<Result<Upload>(const std::string& upload_id)>;

Result<nlohmann::json> normalise_job_request(const nlohmann::json& body, const UploadLookup& lookup);

// The schemas of output.video_encoder, video_preset and audio_volume (GET /api/v1/processors
// publishes them as output_options; the encoder's choices are those of the linked FFmpeg).
std::vector<processors::OptionSpec> video_output_option_specs();

// Local files of a job's inputs (downloaded from storage into the job's temp directory).
struct JobInputs {
  std::filesystem::path source;
  std::filesystem::path target;
};

// How this node runs jobs (models, inference backend, thread budget, limits).
struct ExecutionSettings {
  std::filesystem::path models_dir;
  inference::SessionOptions session;
  int processing_threads = 0;
  int64_t max_pixels = media::kDefaultMaxPixels;
};

// The pipeline job for a normalised request; `output` is the local file to write, `temp_dir` the
// job's private temp space.
pipeline::JobSpec job_spec_for(const nlohmann::json& request, const JobInputs& inputs,
                               const std::filesystem::path& output, const std::filesystem::path& temp_dir,
                               const ExecutionSettings& settings);

// A failure as an API client may see it (job errors, submit answers): the CLI flags the pipeline
// names become the request fields the client sent (--trim-frame-end → target.frame_range[1]),
// every `names` entry (a server path → what the client calls it, e.g. "the target 'clip.mp4'")
// is replaced, and any other absolute path becomes "(a file on the server)". Same code.
Status client_facing_error(const Status& error, const std::vector<std::pair<std::string, std::string>>& names);

// "output.jpg", "output.mp4": the output file name for the request's format.
std::string output_file_name(const nlohmann::json& request);

// Whether a normalised request's output.format is an image format (jpg, png, webp).
bool is_image_output_format(const std::string& format);

}  // namespace facefuse::jobs
