// The job object that `facefuse run` builds from its flags and that the service builds from a
// request body: the same code executes both.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"
#include "facefuse/inference/onnx_session.h"
#include "facefuse/media/image_io.h"

namespace facefuse::pipeline {

// Output settings of video jobs (FaceFusion's --output-video-* and --trim-frame-* options).
struct VideoOutputOptions {
  int64_t trim_frame_start = 0;   // first target frame to keep
  int64_t trim_frame_end = -1;    // one past the last frame to keep; -1 = to the end
  double fps = 0.0;               // output frame rate; 0 = the target's
  double scale = 1.0;             // output size relative to the target (0.1–4)
  std::string encoder = "libx264";
  std::string preset = "veryfast";
  int quality = 80;               // 0–100, mapped to CRF (CONTRACTS.md)
  double audio_volume = 100.0;    // percent; 0 drops the audio
  int64_t chunk_frames = 0;       // > 0: process in chunks of this many frames, then merge
  int64_t frame_number = -1;      // video target + image output: the frame to extract and process
};

struct JobSpec {
  std::vector<std::filesystem::path> sources;
  std::filesystem::path target;
  std::filesystem::path output;
  std::vector<std::string> processors = {"face_swapper"};
  nlohmann::json options = nlohmann::json::object();  // snake_case keys, see processors::validate_options
  std::filesystem::path models_dir;
  inference::SessionOptions session;
  int64_t max_pixels = media::kDefaultMaxPixels;
  int output_quality = 95;  // JPEG/WebP quality 0–100 of image outputs
  VideoOutputOptions video;
  int processing_threads = 0;  // frames processed in parallel; 0 = one per hardware thread
  // Smallest face the detector looks for, pixels (larger = faster), unless the job's option
  // face_detector_min_size sets it. Video jobs raise the frames' (frame_min_face_size) to 1/8 of
  // the frame height.
  int min_face_size = 40;
  // Smallest face looked for in the target's frames, pixels, when it should differ from the
  // sources' (min_face_size): the engine then opens a second detector for frames and keeps
  // reading the source photos at min_face_size, so a coarser, faster frame detector never changes
  // which source face is found (at 60 px BlazeFace's single pass took a dog for a face in dlib's
  // dogs.jpg). nullopt = min_face_size for both. The job's face_detector_min_size, when set, still
  // applies to both.
  std::optional<int> frame_min_face_size;
  std::filesystem::path temp_dir;  // parent of the job's private temp directory; empty = system temp
  // Mark outputs as altered by face swapping (IPTC DigitalSourceType in XMP / container metadata,
  // media/synthetic_label.h). CLI --no-synthetic-label turns it off.
  bool synthetic_label = true;
};

// Wall time of each stage of one job, in milliseconds (for videos: summed over frames and
// threads, so they show where CPU time goes rather than wall time).
struct StageTimings {
  double read_ms = 0, open_ms = 0, analyse_ms = 0, track_ms = 0, process_ms = 0, write_ms = 0;
};

struct JobReport {
  std::filesystem::path output;
  int target_faces = 0;     // faces found in the target (videos: in the frames processed, summed)
  int processed_faces = 0;  // faces the processors were applied to (videos: summed over frames)
  std::vector<int> source_faces;  // faces found in each source image; empty when no processor analysed them
  int64_t frames = 0;       // frames written (0 for images)
  double seconds = 0.0;     // wall time
  // Things the user should know although the job succeeded ("no face found", "faces found but
  // none swapped", "the reference face came from frame 37"), one sentence each; the CLI prints
  // them and the service stores them in the job's `warnings`.
  std::vector<std::string> warnings;
  // Video jobs in reference mode: the target frame the reference face was taken from (it may be
  // after reference_frame_number when that frame has no face); nullopt when none was found or the
  // job has no reference.
  std::optional<int64_t> reference_frame;
  StageTimings timings;
};

// One progress report: what is happening, how far along, how fast.
struct ProgressEvent {
  std::string stage;        // "reading", "loading models", "processing", "merging", "done", ...
  double fraction = 0.0;    // 0–1 of the whole job
  int64_t frames_done = 0;  // videos only
  int64_t frames_total = 0;
  double fps = 0.0;         // frames per second over the job so far
  double eta_seconds = -1;  // < 0: unknown
};
using ProgressCallback = std::function<void(const ProgressEvent&)>;

// Cancellation at frame boundaries: set from any thread; the job stops at the next frame, removes
// its temporary files, writes no output and returns kCancelled.
class CancelToken {
 public:
  void cancel() { cancelled_.store(true); }
  bool is_cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace facefuse::pipeline
