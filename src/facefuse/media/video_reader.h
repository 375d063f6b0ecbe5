// Streaming video decoding with the FFmpeg 5.1 libraries in process: one frame at a time as BGR
// uint8 (CV_8UC3), turned upright, with frame-accurate seeking. No temporary files, no ffmpeg
// subprocess, no frame queue: memory stays flat whatever the length of the video.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/media/yuv_frame.h"

namespace facefuse::media {

struct VideoReaderOptions {
  // Rotate frames by VideoInfo::rotation_degrees so they come out as displayed (info().width x
  // info().height). When false, frames keep the stored orientation (coded_width x coded_height).
  bool apply_rotation = true;
  // Decoder threads; 0 = automatic, capped at 2 because the pipeline runs its own workers.
  int decoder_threads = 0;
};

// Frame numbering: a frame's index is its position in presentation order from the start of the
// stream, 0-based: 0, 1, 2, ... frame_count - 1 on a sequential read. After a seek, the index of
// a constant-frame-rate stream comes from the frame's timestamp, (pts - pts of frame 0) × fps,
// so streams that do not start at pts 0 (MPEG-TS, edit lists) number the same way. For a
// variable-frame-rate stream the first seek demuxes the whole stream once to list its packet
// timestamps (8 bytes per frame), and indices come from that list; no frame is invented or
// dropped, and the pipeline re-times the output at constant info().fps.
//
// Errors: a truncated or corrupt stream makes read() return kInvalidArgument naming the frame
// (a read or decode error, a frame decoded with errors, or the stream ending before
// info().frame_count frames); the error repeats on later reads until a successful seek.
// Every libavformat call runs under the I/O deadline of detail::MediaInput, so nothing hangs.
//
// Memory: beyond FFmpeg's own buffers (with frame threading, `decoder_threads` frames in flight)
// the reader holds one decoded frame and, when rotating, one BGR frame at the stored size.
// Threading: not thread-safe; use one reader per thread.
class VideoReader {
 public:
  // Probes (see probe_video for the errors), opens the decoder and decodes frame 0, so a file
  // that cannot be decoded fails here rather than on the first read().
  static Result<std::unique_ptr<VideoReader>> open(const std::filesystem::path& path,
                                                   const VideoReaderOptions& options = {});
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const;
  // Size of the frames read() returns (displayed size when rotation is applied).
  cv::Size frame_size() const;
  // Index the next read() returns.
  int64_t position() const;

  // Makes the next read() return frame `frame_index` exactly: seeks to the keyframe at or before
  // it, then decodes and drops frames up to it (a short forward skip just decodes forward).
  // kInvalidArgument when frame_index is outside [0, frame_count) or the stream ends before it.
  Status seek_to_frame(int64_t frame_index);

  // Decodes the next frame into `bgr` (CV_8UC3, BGR, upright unless apply_rotation is false) and
  // sets `frame_index`. Returns false at the end of the stream. The buffer of `bgr` is reused when
  // it has the right size and no other cv::Mat shares it; otherwise a new one is allocated, so a
  // frame handed to another thread is never overwritten. Unrotated frames come in libswscale's
  // padded layout (sws_image.h): step > cols·3 unless the width is a multiple of 64, so `bgr` is
  // not continuous; VideoWriter takes such frames without a copy.
  //
  // With `yuv`, the decoder's own samples are also copied there (see yuv_frame.h) when the frame
  // is 8-bit limited-range yuv420p with even sides, needs no rotation and has a matrix facefuse
  // writes; otherwise `yuv` is left empty. Like `bgr`, its buffers are reused only when no other
  // cv::Mat shares them.
  Result<bool> read(cv::Mat& bgr, int64_t& frame_index, YuvFrame* yuv = nullptr);

 private:
  struct Impl;
  explicit VideoReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facefuse::media
