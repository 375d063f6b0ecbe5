// The one entry point for a job, whatever its media: image → image, video → video, and a frame
// of a video → image (--frame N). The kind of target is told by its content, not its name.
#pragma once

#include <opencv2/core.hpp>

#include "facefuse/pipeline/job_spec.h"

namespace facefuse::media {
class VideoReader;
}

namespace facefuse::pipeline {

enum class TargetKind { kImage, kVideo };

// kNotFound for a missing file, kInvalidArgument for content that is neither.
Result<TargetKind> detect_target_kind(const std::filesystem::path& target);

// The picture a job or `detect` works on: the image itself, or frame `frame_number` of a video
// (kInvalidArgument when out of range).
Result<cv::Mat> read_target_frame(const std::filesystem::path& target, int64_t frame_number,
                                  int64_t max_pixels = media::kDefaultMaxPixels);

// Frame `frame_number` of an open video (`path` names it in messages): decoded on from the reader's
// position when that is the frame, else seeked to. kInvalidArgument when out of range.
Result<cv::Mat> read_video_frame(media::VideoReader& reader, const std::filesystem::path& path, int64_t frame_number);

Result<JobReport> run_job(const JobSpec& spec, const ProgressCallback& progress = {}, const CancelToken* cancel = nullptr);

}  // namespace facefuse::pipeline
