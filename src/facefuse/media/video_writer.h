// Encoding BGR frames into a video-only file (an "elementary segment") with FFmpeg's libraries in
// process. One job's output is one segment (single pass) or several (chunked: one per worker
// task), joined with the audio of the target by assemble_video() (muxer.h).
//
// Threading: a VideoWriter is used by one thread at a time (the pipeline's encode thread); the
// encoder itself runs `threads` worker threads internally. Free functions are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "facefuse/core/status.h"
#include "facefuse/media/yuv_frame.h"

namespace facefuse::media {

// The encoders facefuse writes with (FaceFusion's --output-video-encoder names).
inline const std::vector<std::string>& video_encoder_names() {
  static const std::vector<std::string> kNames = {"libx264", "libx265", "libvpx-vp9"};
  return kNames;
}
// x264/x265 preset names, fastest first (--output-video-preset). For libvpx-vp9 each maps to a
// deadline and cpu-used value (see vp9_speed_for_preset).
inline const std::vector<std::string>& video_preset_names() {
  static const std::vector<std::string> kNames = {"ultrafast", "superfast", "veryfast", "faster",  "fast",
                                                  "medium",    "slow",      "slower",   "veryslow"};
  return kNames;
}

// The names of video_encoder_names() compiled into the FFmpeg this binary runs with, in that
// order (what the API offers as output.video_encoder).
std::vector<std::string> available_video_encoders();

// Whether a container (an output extension without the dot: "mp4", "mkv", "mov", "webm", "ts")
// can hold the encoder's video, as VideoWriter::open decides (webm takes libvpx-vp9 only, MPEG-TS
// no VP9). False for an unknown container or an encoder not in this FFmpeg.
bool container_takes_encoder(const std::string& container, const std::string& encoder);

struct VideoEncoderOptions {
  std::string encoder = "libx264";  // libx264 | libx265 | libvpx-vp9
  std::string preset = "veryfast";  // ultrafast .. veryslow (video_preset_names())
  int quality = 80;                 // 0–100 (higher = better), mapped to CRF by quality_to_crf
  // Output size in pixels. yuv420p needs even dimensions, so odd values are rounded down to the
  // next even number (a 1281×721 request writes 1280×720). 0×0: the size of the first frame
  // (rounded down the same way). Frames of another size are scaled (bicubic) to this size.
  int width = 0, height = 0;
  int fps_num = 25, fps_den = 1;  // constant frame rate; frame k is shown at k·fps_den/fps_num s
  int threads = 0;                // encoder threads (0 = the encoder's own choice, ~1.5× cores)
  // Colour matrix of the output (tagged in the stream, used by every BGR conversion). nullopt:
  // BT.709 above 576 lines, BT.601 (SMPTE 170M) up to it — what players assume for untagged
  // video. Set it to the target's matrix to pass decoded frames through (write(YuvFrame)).
  std::optional<YuvMatrix> matrix;
};

// CONTRACTS.md "Video quality mapping": x264/x265 CRF = round(51 − q·0.51) (80 → 10, 0 → 51,
// 100 → 0); libvpx-vp9 CRF = round(63 − q·0.63) (0 → 63, 100 → 0). q is clamped to [0, 100].
int quality_to_crf(const std::string& encoder, int quality);

// The FFmpeg muxer for a video output path (.mp4/.m4v, .mkv, .webm, .mov, .ts), after checking that
// its directory exists and takes new files (check_output_directory); kInvalidArgument saying what
// to fix otherwise. Used by the writer, the muxer and jobs (to fail before any work).
Result<const char*> muxer_for_output(const std::filesystem::path& path);

// libvpx-vp9's speed for an x264 preset name: deadline "realtime" for ultrafast/superfast,
// "good" otherwise, cpu-used from 8 (ultrafast) down to 0 (slower, veryslow).
struct Vp9Speed {
  std::string deadline;
  int cpu_used = 0;
};
Vp9Speed vp9_speed_for_preset(const std::string& preset);

// Checks the options before any frame is produced. kInvalidArgument for an unknown encoder or
// preset (the message lists the valid names), a quality outside 0–100, a non-positive frame rate,
// a negative size or thread count; kUnsupported when the encoder is not compiled into the FFmpeg
// this binary runs with. Returns the options with odd sizes rounded down to even.
Result<VideoEncoderOptions> validate_encoder_options(VideoEncoderOptions options);

// Writes one video stream (no audio) as yuv420p with the encoder's CRF mode.
//
// Timestamps: frame k is written with pts = k in the time base fps_den/fps_num, so segments of one
// video written with first_frame_index 0, n, 2n, ... carry continuous timestamps and each starts
// with a keyframe; assemble_video() concatenates them by stream copy. x264 is run with
// `stitchable=1` so every segment has byte-identical SPS/PPS headers.
//
// The file is written to a temporary name beside `path` (`<path>.<hex>.part`) and renamed by
// finish(): a writer destroyed without finish(), or a failed finish(), leaves nothing behind.
class VideoWriter {
 public:
  // Container from the extension: .mp4, .mkv, .webm (libvpx-vp9 only), .mov, .ts. Errors:
  // kInvalidArgument (options, extension, encoder not allowed in the container, missing parent
  // directory), kUnsupported (encoder not in this FFmpeg), kUnavailable (cannot create the file).
  // With a 0×0 size the encoder opens at the first frame; otherwise here.
  static Result<std::unique_ptr<VideoWriter>> open(const std::filesystem::path& path,
                                                   const VideoEncoderOptions& options, int64_t first_frame_index = 0);

  // `bgr`: CV_8UC3, any size (scaled to the output size when different), need not be continuous.
  // The first call must pass first_frame_index; later calls strictly increasing indices (a gap
  // shows the previous frame longer). Encoding is synchronous: the call returns when the encoder
  // has taken the frame (x264 buffers up to its lookahead before emitting packets).
  Status write(const cv::Mat& bgr, int64_t frame_index);

  // Same, for a frame already in yuv420p: its planes go to the encoder unchanged. Its size must
  // be the output size and its matrix the one the writer was opened with (options().matrix),
  // else kInvalidArgument — mixing matrices within one video would shift colours.
  Status write(const YuvFrame& yuv, int64_t frame_index);

  // Sets a container metadata tag (MP4/MOV: title, comment, ... — the keys the muxer knows;
  // Matroska/WebM: any key). Call before finish(): MP4 writes its metadata with the index.
  void set_metadata(const std::string& key, const std::string& value);

  // Flushes the encoder, writes the trailer and renames the file into place. A writer with no
  // frames fails (kFailedPrecondition) and leaves no file.
  Status finish();

  // Frames accepted so far and the output size (valid after open, or after the first frame for 0×0).
  int64_t frames_written() const;
  cv::Size size() const;
  const VideoEncoderOptions& options() const;

  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  struct Impl;

 private:
  explicit VideoWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facefuse::media
