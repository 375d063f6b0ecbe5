// The last step of every video job: join the encoded video segment(s) and add the audio of the
// target. A single-pass job has one segment; a chunked job (DESIGN.md §4.3) has one per chunk,
// possibly encoded on different workers. In process with libavformat/libavcodec, no ffmpeg CLI.
//
// Thread-safe (no shared state); one call per output.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::media {

struct AudioOptions {
  // Gain factor: 0 drops the audio, 1 copies it as it is (when the container allows), any other
  // value re-encodes with that gain (clipped). FaceFusion's --output-audio-volume is a percentage;
  // the CLI divides by 100.
  double volume = 1.0;
  // Window of the target's audio in seconds from the target's first video frame (the same origin
  // as --trim-frame-start/end: start_sec = trim_frame_start / fps). end_sec < 0: to the end. The
  // window is also cut at start_sec + the duration of the joined video, so the audio never runs
  // past the picture.
  double start_sec = 0;
  double end_sec = -1;
};

// Joins `segments` in order by stream copy and muxes the audio streams of
// `audio_source_or_empty` (the original target; empty path = no audio) into `output`.
//
// Segments: one video stream each, same codec, size, pixel format, frame rate and codec headers
// (what VideoWriter writes with the same options), each starting with a keyframe, in any of the
// containers VideoWriter writes (.mp4/.mov/.ts keep decode times; for .mkv/.webm they are rebuilt
// from the frame order). Their timestamps must be continuous — segment i starts at the frame where
// segment i-1 ends, as VideoWriter's first_frame_index gives — else kInvalidArgument names the
// gap. The first segment's start becomes 0 (a job trimmed to start at frame 250 may write frame
// 250 as its first); the output has sum(frames) frames at the segments' constant frame rate.
//
// Audio: every audio stream of the source. Stream-copied when volume == 1 and the output
// container takes the codec, cut at packet boundaries (error ≤ half an audio packet, ~10 ms for
// AAC); otherwise decoded, cut to the sample and re-encoded (AAC for .mp4/.mov/.mkv/.ts, Opus for
// .webm), e.g. PCM from an AVI into an .mp4. A source without audio streams gives a video-only
// output; so does volume 0.
//
// Output container from the extension (.mp4, .mkv, .webm, .mov, .ts); .mp4/.mov get their index
// at the front (faststart) for progressive download. Written to `<output>.<hex>.part` beside the
// output and renamed on success; on failure nothing is left. Errors: kInvalidArgument (no or
// mismatched segments, bad extension, codec not allowed in the container), kNotFound (a missing
// input), kUnsupported (an audio codec that cannot be decoded), kUnavailable (I/O).
//
// `tags`: container metadata of the output (e.g. synthetic_media_video_tags()); MP4/MOV keep the
// keys their muxer knows (title, comment, ...), Matroska/WebM any key.
Status assemble_video(const std::vector<std::filesystem::path>& segments,
                      const std::filesystem::path& audio_source_or_empty, const AudioOptions& audio,
                      const std::filesystem::path& output, const std::map<std::string, std::string>& tags = {});

}  // namespace facefuse::media
