#include "facefuse/pipeline/run_job.h"

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/image_io.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/media/video_reader.h"
#include "facefuse/media/video_writer.h"
#include "facefuse/pipeline/image_job.h"
#include "facefuse/pipeline/video_job.h"

namespace facefuse::pipeline {
namespace {

Result<cv::Mat> read_video_frame(const std::filesystem::path& path, int64_t frame_number) {
  FF_ASSIGN_OR_RETURN(auto reader, media::VideoReader::open(path));
  return pipeline::read_video_frame(*reader, path, frame_number);
}

bool is_image_output(const std::filesystem::path& output) { return media::image_format_for_path(output).is_ok(); }


}  // namespace

Result<TargetKind> detect_target_kind(const std::filesystem::path& target) {
  std::error_code ec;
  if (!std::filesystem::exists(target, ec)) return not_found(fmt::format("file {} does not exist", target.string()));
  if (std::filesystem::is_directory(target, ec)) {
    return invalid_argument(fmt::format("{} is a directory, not an image or video", target.string()));
  }
  std::ifstream in(target, std::ios::binary);
  std::vector<uint8_t> head(16, 0);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (media::sniff_image_format(head) != media::ImageFormat::kUnknown) return TargetKind::kImage;
  if (media::looks_like_video(target)) return TargetKind::kVideo;
  return invalid_argument(fmt::format("{} is not an image or video facefuse can read (expected JPEG, PNG, WebP or a "
                                      "video with a video stream)",
                                      target.string()));
}

Result<cv::Mat> read_target_frame(const std::filesystem::path& target, int64_t frame_number, int64_t max_pixels) {
  FF_ASSIGN_OR_RETURN(TargetKind kind, detect_target_kind(target));
  if (kind == TargetKind::kImage) return media::read_image(target, {max_pixels});
  return read_video_frame(target, frame_number);
}

Result<cv::Mat> read_video_frame(media::VideoReader& reader, const std::filesystem::path& path, int64_t frame_number) {
  const int64_t count = reader.info().frame_count;
  if (frame_number < 0 || frame_number >= count) {
    return invalid_argument(fmt::format("--frame {} is outside {}'s frames 0..{}", frame_number, path.string(), count - 1));
  }
  // At the asked frame already (a fresh reader at 0, or the frame after the last one read):
  // decode on from here instead of seeking back to the keyframe.
  if (reader.position() != frame_number) FF_RETURN_IF_ERROR(reader.seek_to_frame(frame_number));
  cv::Mat frame;
  int64_t index = 0;
  FF_ASSIGN_OR_RETURN(bool ok, reader.read(frame, index));
  if (!ok) return invalid_argument(fmt::format("cannot read frame {} of {}", frame_number, path.string()));
  return frame;
}

Result<JobReport> run_job(const JobSpec& spec, const ProgressCallback& progress, const CancelToken* cancel) {
  FF_ASSIGN_OR_RETURN(TargetKind kind, detect_target_kind(spec.target));
  if (kind == TargetKind::kImage) {
    if (!is_image_output(spec.output)) {
      return invalid_argument(fmt::format("the target is an image, so the output {} must be a .jpg, .png or .webp file",
                                          spec.output.string()));
    }
    return run_image_job(spec, progress);
  }
  if (is_image_output(spec.output)) {
    int64_t frame_number = std::max<int64_t>(0, spec.video.frame_number);
    FF_ASSIGN_OR_RETURN(cv::Mat frame, read_video_frame(spec.target, frame_number));
    return run_image_job_on(spec, std::move(frame), fmt::format("{} (frame {})", spec.target.string(), frame_number),
                            progress);
  }
  FF_RETURN_IF_ERROR(media::muxer_for_output(spec.output).status());
  return run_video_job(spec, progress, cancel);
}

}  // namespace facefuse::pipeline
