// Image → video workflow, streaming: a decode thread, N worker threads (face analysis and the
// processors), one in-order tracking step and an in-order encoder, with a cap on the frames in
// flight so memory stays flat in video length. No temporary frame files: frames live in memory
// only; the encoded video goes to a private temporary directory and the final file is assembled
// (segments + the target's audio) and renamed into place only on success.
//
// Chunks: a job is a list of frame ranges. Each range is processed into a self-contained segment
// (decoding from the keyframe before it and warming the tracker on the frames just before it),
// so ranges can run on different workers and be merged later by stream copy.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/media/yuv_frame.h"
#include "facefuse/pipeline/job_spec.h"

namespace facefuse::pipeline {

// Output frames [begin, end), numbered from the first frame after --trim-frame-start.
struct FrameRange {
  int64_t begin = 0;
  int64_t end = 0;
};

struct VideoPlan {
  media::VideoInfo target;
  int64_t trim_start = 0;       // first target frame used
  int64_t trim_end = 0;         // one past the last target frame used
  int fps_num = 25, fps_den = 1;  // output frame rate
  int64_t frames_total = 0;     // output frames
  int width = 0, height = 0;    // output size (even, for yuv420p)
  // Set when decoded frames can go to the encoder as they are, with only the pixels a processor
  // changed converted back (media/yuv_frame.h): an 8-bit limited-range yuv420p target at its own
  // size, not rotated, with a matrix facefuse writes. The output is then tagged with this matrix.
  std::optional<media::YuvMatrix> pass_through_matrix;
  std::vector<FrameRange> chunks;

  double output_fps() const { return static_cast<double>(fps_num) / fps_den; }
  // The target frame shown as output frame `output_frame`.
  int64_t source_frame(int64_t output_frame) const;
};

// Frames of warm-up decoded (not written) before a chunk's first frame, so the tracker's
// smoothing and gap bridging start the chunk in the state a single pass would have.
inline constexpr int64_t kChunkWarmupFrames = 12;

// Frames tracked (not written) after a chunk's last frame: the most the tracker bridges a missed
// face (FaceTrackerOptions::max_missed_frames), so a face bridged near the chunk's end is kept
// or dropped as in a single pass (see track() in video_job.cpp).
inline constexpr int64_t kBridgeLookaheadFrames = 6;

// The detector runs on every Nth output frame (numbered from the trimmed start, so chunks and single
// passes detect on the same frames); in between, faces are followed from the previous frame by
// their landmarks (1–2 ms per face instead of 10–60 ms of detection). A face entering the picture
// is found within N − 1 frames; one that leaves or turns away is dropped when its landmarks stop
// agreeing with the box they were predicted from.
inline constexpr int64_t kDetectEveryFrames = 5;

// The first output frame at or after `frame` the detector runs on.
inline constexpr int64_t next_detection_frame(int64_t frame) {
  return (frame + kDetectEveryFrames - 1) / kDetectEveryFrames * kDetectEveryFrames;
}

// What one detection of a video track saw on output frame `frame`: whether its face was in
// profile (face::seen_from_the_side), how much its glasses' bridge showed
// (face::glasses_bridge_score) and how sharp the face is (face::inner_face_energy), all on the
// detection's own landmarks (not the tracker's smoothed ones, so a chunk decides as a single pass
// does).
struct TrackSighting {
  int64_t frame = 0;
  bool in_profile = false;
  float glasses_bridge = 0.0f;
  float detail_energy = 0.0f;
  float yaw = 0.0f;
};

// What a detection of `face` on `image` (BGR uint8, the whole frame) tells about its track, on
// output frame `frame`: seen in profile (face::seen_from_the_side), its glasses bridge score
// (face::glasses_bridge_score), its inner-face energy (face::inner_face_energy) and its yaw
// (processors::estimate_yaw). Also what live mode measures on each camera frame
// (server/live_swap.cpp).
TrackSighting sighting_of(const cv::Mat& image, const face::Face& face, int64_t frame);

// How far the swap of a track's face on output frame `frame` is faded out for being seen in
// profile (face::Face::profile_fade): the state of the track's last sighting at or before `frame`
// (`sightings` in frame order), ramped linearly toward the first one after it when they disagree —
// a head turning into profile between two detections fades out over the frames between them
// instead of being swapped on points that no longer fit it and then dropped at once, and one
// turning back fades in. 0 without a sighting at or before `frame`.
float profile_fade_at(const std::vector<TrackSighting>& sightings, int64_t frame);

// Sightings of a track the glasses decision averages: the last ones up to the next detection.
// The oldest of them lies at most (kGlassesSightings − 1) × kDetectEveryFrames frames before the
// frame it decides, inside a chunk's warm-up (kChunkWarmupFrames), so chunks decide as a single
// pass does.
inline constexpr int64_t kGlassesSightings = 3;
static_assert((kGlassesSightings - 1) * kDetectEveryFrames <= kChunkWarmupFrames);

// How much of the glasses frame found on a track's face is kept on output frame `frame`
// (face::Face::glasses_weight): face::glasses_keep_weight of the mean bridge score over the
// track's last kGlassesSightings sightings up to the next detection (at most kDetectEveryFrames − 1
// frames on). 0 without a sighting.
float glasses_weight_at(const std::vector<TrackSighting>& sightings, int64_t frame);

// How sharp a track's face is on output frame `frame` (face::Face::track_detail_energy): the mean
// inner-face energy over the same sightings as the glasses decision. 0 without a sighting.
float track_detail_energy_at(const std::vector<TrackSighting>& sightings, int64_t frame);

// Which way a track's face looks on output frame `frame` (face::Face::track_yaw): the mean yaw over
// the same sightings. 0 without a sighting.
float track_yaw_at(const std::vector<TrackSighting>& sightings, int64_t frame);

// Probes the target and checks the video options (trim range, fps, scale, encoder, preset,
// quality, chunk size); kInvalidArgument/kUnsupported with a message naming the option.
Result<VideoPlan> plan_video_job(const JobSpec& spec);

// Processes one frame range into a video-only segment at `segment` (.mp4). Progress reports
// frames of this range. Cancellation is checked at every frame.
Result<JobReport> process_video_chunk(const JobSpec& spec, const VideoPlan& plan, FrameRange range,
                                      const std::filesystem::path& segment, const ProgressCallback& progress = {},
                                      const CancelToken* cancel = nullptr);

// Concatenates the segments (in order) by stream copy, adds the target's audio (trimmed like the
// video, volume per spec) and writes spec.output atomically. The report holds the job's figures
// summed over the segments (each segment records its chunk's in its metadata), the reference
// frame and the warnings they call for (add_result_warnings); target_faces and processed_faces
// are -1 when a segment did not record them.
Result<JobReport> merge_video_chunks(const JobSpec& spec, const VideoPlan& plan,
                                     const std::vector<std::filesystem::path>& segments);

// The whole job in this process: plan, every chunk in turn, merge. Temporary files are removed
// on success, failure and cancellation.
Result<JobReport> run_video_job(const JobSpec& spec, const ProgressCallback& progress = {},
                                const CancelToken* cancel = nullptr);

}  // namespace facefuse::pipeline
