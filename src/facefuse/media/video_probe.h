// Video probing: what a video file holds (container, codec, sizes, rotation, frame rate, exact
// frame count, audio streams), read with the FFmpeg 5.1 libraries in process. Shared by the video
// reader, the video writer (which copies the audio described here) and the job planner.
//
// Every libavformat input opened by media/ uses the same safety settings: only the local `file`
// protocol (no network, no playlists reaching other files), a whitelist of video containers (no
// image2 name patterns, no HLS/concat), bounded probing (5 MB / 5 s) and an I/O deadline checked by
// an interrupt callback, so a call never blocks forever. FFmpeg's own log lines go to the facefuse
// logger at debug level; failures come back as Status.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "facefuse/core/status.h"

struct AVFormatContext;
struct AVStream;

namespace facefuse::media {

struct AudioStreamInfo {
  int stream_index = -1;
  std::string codec;         // FFmpeg codec name, e.g. "aac", "opus", "pcm_s16le"
  int sample_rate = 0;       // Hz
  int channels = 0;
  double duration_sec = 0;   // 0 when the container does not say
};

struct VideoInfo {
  std::filesystem::path path;
  std::string container;     // libavformat demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"
  int stream_index = -1;     // the video stream used (the container's best one; cover art never)
  std::string codec;         // FFmpeg codec name, e.g. "h264", "hevc", "mjpeg"
  std::string pixel_format;  // as decoded, e.g. "yuv420p"
  // Colour tags of the stream: FFmpeg's matrix name (av_color_space_name: "bt709", "smpte170m",
  // "unknown" when untagged, ...) and whether samples use the full 0–255 range ("pc"/"jpeg";
  // also the yuvj pixel formats) instead of the limited 16–235 one.
  std::string colour_space = "unknown";
  bool full_range = false;
  int coded_width = 0;       // frame size as decoded, before rotation (pixels)
  int coded_height = 0;
  int width = 0;             // frame size as displayed: coded size swapped for 90/270 rotations
  int height = 0;
  // Clockwise rotation (0, 90, 180, 270) that turns a decoded frame upright, from the stream's
  // display matrix (or a legacy "rotate" tag). Phones store portrait video this way. Flips in
  // the matrix are ignored; VideoReader applies the rotation unless asked not to.
  int rotation_degrees = 0;
  // Average frame rate as a fraction (the container's avg_frame_rate). For variable-frame-rate
  // streams it is frame_count / duration_sec, so a constant-rate re-timing keeps the duration.
  int fps_num = 0;
  int fps_den = 1;
  double fps = 0;
  // Exact number of frames VideoReader::read() returns, found without decoding:
  //   MP4/MOV: the sample table (entries outside the edit list excluded);
  //   other containers: the header's count when it agrees with duration × fps (AVI);
  //   otherwise (Matroska, MPEG-TS, ...): by demuxing every packet of the stream (reads the
  //   file once, ~1 s per GB; packets before the first keyframe do not count).
  int64_t frame_count = 0;
  double duration_sec = 0;   // of the video stream
  // True when the frame durations of the first ~2 s (packet timestamps) differ by more than 10%
  // from their median. Frames are still numbered 0, 1, 2... in presentation order; a pipeline
  // that re-times them to `fps` keeps the total duration.
  bool variable_frame_rate = false;
  std::vector<AudioStreamInfo> audio;
  // Codec names of the subtitle streams ("subrip", "mov_text", "ass", ...), in stream order.
  std::vector<std::string> subtitles;
  // The container's metadata (title, comment, encoder, ...), keys as libavformat names them.
  std::map<std::string, std::string> tags;
};

// Probes a video file. Errors: kNotFound (no such file); kInvalidArgument (not a regular file,
// empty, not a media file, no video stream, zero frames, truncated or corrupt); kUnsupported (a
// video codec this FFmpeg build cannot decode, named in the message; an animated GIF, whose frame
// timing facefuse does not convert); kUnavailable (the file did not answer within the I/O
// deadline).
Result<VideoInfo> probe_video(const std::filesystem::path& path);

// Content sniff: true when libavformat opens the file as a whitelisted container holding a video
// stream (cover art does not count). Reads at most ~1 MB; never decodes. The name is not used.
bool looks_like_video(const std::filesystem::path& path);

namespace detail {

// Internal to media/ (video_probe.cpp, video_reader.cpp): an opened libavformat input with the
// safety settings described at the top of this file. Not thread-safe.
class MediaInput {
 public:
  // Budget of each blocking libavformat call (open, read of one packet, seek).
  static constexpr std::chrono::seconds kIoBudget{30};

  // Opens `path`, then reads stream parameters (avformat_find_stream_info) when
  // `find_stream_info` is true. `max_probe_bytes` bounds both steps.
  static Result<std::unique_ptr<MediaInput>> open(const std::filesystem::path& path, bool find_stream_info = true,
                                                  int64_t max_probe_bytes = 5'000'000);
  ~MediaInput();
  MediaInput(const MediaInput&) = delete;
  MediaInput& operator=(const MediaInput&) = delete;

  AVFormatContext* context() const { return ctx_; }
  // Restarts the I/O deadline; call before each blocking libavformat call.
  void arm_deadline();
  // True when the last blocking call was interrupted by the deadline.
  bool timed_out() const;

 private:
  MediaInput() = default;
  static int interrupt_callback(void* opaque);

  AVFormatContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point deadline_{};
  bool interrupted_ = false;
};

// The best video stream of an opened input that is not cover art; -1 when there is none.
int find_video_stream(AVFormatContext* ctx);
// Clockwise degrees (0/90/180/270) to turn decoded frames of `stream` upright.
int stream_rotation_degrees(const AVStream* stream);
// FFmpeg's text for an AVERROR code.
std::string av_error_text(int error);
// FFmpeg's process-wide settings, before any FFmpeg call: its log lines go to the facefuse logger
// (debug level), and no single av_malloc may exceed kFfmpegMaxAllocBytes. Idempotent.
void configure_ffmpeg();

// A demuxer trusting a count in a damaged header asks for that much at once (the video_probe
// fuzzer: a 2.7 KB MP4 made mov's reader allocate 1.7 GB); refused, the open fails with ENOMEM.
// The largest real allocation is a decoded frame: 50 megapixels (kDefaultMaxPixels) as RGBA is 200 MB.
inline constexpr size_t kFfmpegMaxAllocBytes = size_t{512} << 20;

}  // namespace detail
}  // namespace facefuse::media
