#include "facefuse/pipeline/preview.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/video_reader.h"
#include "facefuse/pipeline/job_engine.h"
#include "facefuse/pipeline/run_job.h"

namespace facefuse::pipeline {

PreviewRenderer::PreviewRenderer(PreviewSettings settings) : settings_(settings) {}

PreviewRenderer::~PreviewRenderer() = default;

Result<PreviewRenderer::Entry> PreviewRenderer::engine_for(const JobSpec& spec, const std::string& key, bool& reused) {
  reused = false;
  if (!key.empty()) {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
    if (it != entries_.end()) {
      entries_.splice(entries_.begin(), entries_, it);  // most recently used first
      reused = true;
      return entries_.front();
    }
  }
  // Opened outside the lock: a cold open takes a second or more and must not hold up warm renders.
  FF_ASSIGN_OR_RETURN(std::unique_ptr<JobEngine> opened, JobEngine::open(spec));
  Entry entry{key, std::shared_ptr<JobEngine>(std::move(opened)), std::make_shared<std::mutex>()};
  if (key.empty() || settings_.cached_engines == 0) return entry;
  std::lock_guard lock(mutex_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
  if (it != entries_.end()) return *it;  // another render opened the same engine meanwhile: share one
  entries_.push_front(entry);
  while (entries_.size() > settings_.cached_engines) entries_.pop_back();
  return entry;
}

cv::Mat PreviewRenderer::reduce(cv::Mat frame) const {
  const int longest = std::max(frame.cols, frame.rows);
  if (settings_.max_side <= 0 || longest <= settings_.max_side) return frame;
  const double scale = static_cast<double>(settings_.max_side) / longest;
  cv::Mat small;
  cv::resize(frame, small, cv::Size(std::max(1, static_cast<int>(frame.cols * scale + 0.5)),
                                    std::max(1, static_cast<int>(frame.rows * scale + 0.5))),
             0, 0, cv::INTER_AREA);
  return small;
}

Result<cv::Mat> PreviewRenderer::video_frame(const std::filesystem::path& path, int64_t frame_number) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const auto mtime = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
  const std::string key = fmt::format("{}|{}|{}", path.string(), ec ? 0 : size, ec ? 0 : mtime);
  OpenVideo video;
  {
    std::lock_guard lock(videos_mutex_);
    for (auto it = frames_.begin(); it != frames_.end(); ++it) {
      if (it->key == key && it->frame_number == frame_number) {
        frames_.splice(frames_.begin(), frames_, it);
        return frames_.front().image.clone();
      }
    }
    auto it = std::find_if(videos_.begin(), videos_.end(), [&](const OpenVideo& v) { return v.key == key; });
    if (it != videos_.end()) {
      videos_.splice(videos_.begin(), videos_, it);
      video = videos_.front();
    }
  }
  if (!video.reader) {
    // Opened outside the lock: probing and decoding frame 0 must not hold up other previews.
    FF_ASSIGN_OR_RETURN(std::unique_ptr<media::VideoReader> opened, media::VideoReader::open(path));
    video = {key, std::shared_ptr<media::VideoReader>(std::move(opened)), std::make_shared<std::mutex>()};
    if (settings_.open_videos > 0) {
      std::lock_guard lock(videos_mutex_);
      videos_.push_front(video);
      while (videos_.size() > settings_.open_videos) videos_.pop_back();
    }
  }
  cv::Mat frame;
  {
    std::lock_guard in_use(*video.in_use);
    FF_ASSIGN_OR_RETURN(cv::Mat read, read_video_frame(*video.reader, path, frame_number));
    // read() may reuse its buffer on the next call: keep our own.
    frame = reduce(read.clone());
  }
  const size_t bytes = frame.total() * frame.elemSize();
  if (settings_.frame_cache_bytes > 0 && bytes <= settings_.frame_cache_bytes) {
    std::lock_guard lock(videos_mutex_);
    const bool present = std::any_of(frames_.begin(), frames_.end(), [&](const CachedFrame& f) {
      return f.key == key && f.frame_number == frame_number;  // another render decoded it meanwhile
    });
    if (!present) {
      frames_.push_front({key, frame_number, frame.clone()});
      frame_bytes_ += bytes;
    }
    while (frame_bytes_ > settings_.frame_cache_bytes && !frames_.empty()) {
      const cv::Mat& last = frames_.back().image;
      frame_bytes_ -= last.total() * last.elemSize();
      frames_.pop_back();
    }
  }
  return frame;
}

size_t PreviewRenderer::cached_frame_bytes() {
  std::lock_guard lock(videos_mutex_);
  return frame_bytes_;
}

Result<PreviewFrame> PreviewRenderer::render(const JobSpec& spec, int64_t frame_number, const std::string& engine_key,
                                             bool original) {
  const auto t0 = std::chrono::steady_clock::now();
  if (frame_number < 0) return invalid_argument("the preview frame number must be 0 or more");
  FF_ASSIGN_OR_RETURN(TargetKind kind, detect_target_kind(spec.target));
  PreviewFrame out;
  out.frame_number = kind == TargetKind::kVideo ? frame_number : 0;
  cv::Mat frame;
  if (kind == TargetKind::kVideo) {
    FF_ASSIGN_OR_RETURN(frame, video_frame(spec.target, out.frame_number));
  } else {
    FF_ASSIGN_OR_RETURN(cv::Mat full, read_target_frame(spec.target, 0, spec.max_pixels));
    frame = reduce(std::move(full));
  }

  if (!original) {
    FF_ASSIGN_OR_RETURN(Entry entry, engine_for(spec, engine_key, out.engine_reused));
    std::lock_guard in_use(*entry.in_use);
    JobEngine& engine = *entry.engine;
    FF_ASSIGN_OR_RETURN(auto faces, engine.analyser().analyse(frame));
    out.target_faces = static_cast<int>(faces.size());
    if (engine.needs_reference()) {
      // The reference is taken from this very frame, as an image job does with its target.
      FF_RETURN_IF_ERROR(engine.analyser().embed(frame, faces));
      FF_RETURN_IF_ERROR(engine.set_reference_faces(frame, faces));
    }
    FF_ASSIGN_OR_RETURN(auto selected, engine.select(frame, std::move(faces)));
    out.processed_faces = static_cast<int>(selected.size());
    processors::FrameContext context{std::move(frame), std::move(selected), out.frame_number,
                                     /*still_image=*/kind != TargetKind::kVideo};
    FF_RETURN_IF_ERROR(engine.process(context));
    frame = std::move(context.frame);
  }

  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, std::clamp(settings_.jpeg_quality, 0, 100)};
  try {
    if (!cv::imencode(".jpg", frame, out.jpeg, params)) return internal_error("the preview frame could not be encoded as JPEG");
  } catch (const cv::Exception& e) {
    return internal_error(fmt::format("the preview frame could not be encoded as JPEG: {}", e.what()));
  }
  out.width = frame.cols;
  out.height = frame.rows;
  out.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace facefuse::pipeline
