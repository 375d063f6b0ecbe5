// One processed frame at reduced size, for the studio's live preview (POST /api/v1/preview): the
// same processors and options as a job, on one frame, answered as JPEG bytes, no job and no file.
//
// Opening a job's engine (reading the source, loading the landmarker and ONNX sessions, analysing
// the source face) costs far more than one frame, so a PreviewRenderer keeps the engines of its
// last few option sets and reuses them while the user moves a slider of the target only.
//
// Video targets: decoding one frame means seeking to its keyframe and decoding forward (over a
// second for a frame deep in a 720p GOP), so the renderer keeps frames it decoded, already reduced,
// in a cache bounded in bytes (an option change or a slider moved back to a frame decodes
// nothing), and keeps the decoders of the last few videos open (a frame shortly after the last one
// decodes forward from there instead of from the keyframe). Entries are keyed by path, size and
// modification time, so a file rewritten in place is read again.
//
// Threading: render() may be called from several threads at once. Two renders that share an
// engine run one after the other (reference mode keeps per-frame state in the engine); renders
// with different engines run in parallel.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/pipeline/job_spec.h"

namespace facefuse::media {
class VideoReader;
}

namespace facefuse::pipeline {

class JobEngine;

struct PreviewSettings {
  int max_side = 640;           // longest side of the frame processed and answered, pixels (≤ 0: full size)
  int jpeg_quality = 85;        // 0–100
  size_t cached_engines = 4;    // engines kept for reuse (least recently used dropped first)
  size_t frame_cache_bytes = 64u << 20;  // reduced video frames kept, bytes (0: none)
  size_t open_videos = 4;       // video decoders kept open, one per file (0: open one per render)
};

struct PreviewFrame {
  std::vector<unsigned char> jpeg;  // baseline JPEG of the processed frame, BGR encoded
  int width = 0, height = 0;        // of the JPEG, pixels
  int64_t frame_number = 0;         // target frame shown (0 for an image)
  int target_faces = 0;             // faces found in the frame
  int processed_faces = 0;          // faces the processors were applied to (0 with `original`)
  bool engine_reused = false;       // the engine came from the cache (a warm preview)
  double milliseconds = 0;          // wall time of render()
};

class PreviewRenderer {
 public:
  explicit PreviewRenderer(PreviewSettings settings = {});
  ~PreviewRenderer();
  PreviewRenderer(const PreviewRenderer&) = delete;
  PreviewRenderer& operator=(const PreviewRenderer&) = delete;

  // Frame `frame_number` of spec.target (ignored for an image), scaled so that its longest side
  // is at most settings.max_side, run through spec.processors with spec.options. `engine_key`
  // names what the engine depends on (source content, processors, options, models): equal keys
  // share an engine; empty = open a fresh engine and drop it after. `original`: answer the scaled
  // frame without processing (the "before" half of a comparison), no engine opened.
  // Errors are those of a job on the same inputs (kNoFace for a source without a face,
  // kInvalidArgument for a frame number past the end, ...).
  Result<PreviewFrame> render(const JobSpec& spec, int64_t frame_number, const std::string& engine_key,
                              bool original = false);

  const PreviewSettings& settings() const { return settings_; }
  // Bytes of reduced video frames held now (≤ settings().frame_cache_bytes).
  size_t cached_frame_bytes();

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<JobEngine> engine;
    std::shared_ptr<std::mutex> in_use;  // held while a render uses the engine
  };
  Result<Entry> engine_for(const JobSpec& spec, const std::string& key, bool& reused);
  // Frame `frame_number` of the video at `path`, reduced to max_side: a copy the caller may write.
  Result<cv::Mat> video_frame(const std::filesystem::path& path, int64_t frame_number);
  cv::Mat reduce(cv::Mat frame) const;

  PreviewSettings settings_;
  std::mutex mutex_;        // guards entries_
  std::list<Entry> entries_;  // most recently used first

  struct OpenVideo {
    std::string key;  // path|size|mtime
    std::shared_ptr<media::VideoReader> reader;
    std::shared_ptr<std::mutex> in_use;  // a reader is not thread-safe
  };
  struct CachedFrame {
    std::string key;
    int64_t frame_number = 0;
    cv::Mat image;  // reduced, BGR; never written (copies are handed out)
  };
  std::mutex videos_mutex_;  // guards videos_, frames_, frame_bytes_
  std::list<OpenVideo> videos_;    // most recently used first
  std::list<CachedFrame> frames_;  // most recently used first
  size_t frame_bytes_ = 0;
};

}  // namespace facefuse::pipeline
