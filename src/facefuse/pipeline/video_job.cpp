#include "facefuse/pipeline/video_job.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <cstdlib>
#include <random>
#include <string_view>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/core/cpu_budget.h"
#include "facefuse/core/stack_thread.h"
#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_tracker.h"
#include "facefuse/face/glasses.h"
#include "facefuse/face/inner_face_sharpness.h"
#include "facefuse/media/muxer.h"
#include "facefuse/media/synthetic_label.h"
#include "facefuse/media/video_reader.h"
#include "facefuse/media/video_writer.h"
#include "facefuse/pipeline/flow.h"
#include "facefuse/pipeline/job_engine.h"
#include "facefuse/pipeline/stage_clock.h"
#include "facefuse/processors/face_swapper/classical_swapper.h"
#include "facefuse/processors/registry.h"

namespace facefuse::pipeline {

static_assert(face::FaceTrackerOptions{}.max_missed_frames == kBridgeLookaheadFrames,
              "chunks must look ahead as far as the tracker bridges");

int64_t VideoPlan::source_frame(int64_t output_frame) const {
  // Nearest-earlier target frame for the output frame's time: frame rate conversion drops or
  // repeats frames, never blends them. Integer arithmetic keeps chunks and single passes agreeing.
  const auto& t = target;
  int64_t offset = (output_frame * fps_den * t.fps_num) / (static_cast<int64_t>(fps_num) * t.fps_den);
  return std::min(trim_start + offset, trim_end - 1);
}

namespace {

// The first sighting after `frame` (sightings are in frame order).
std::vector<TrackSighting>::const_iterator first_after(const std::vector<TrackSighting>& sightings, int64_t frame) {
  return std::upper_bound(sightings.begin(), sightings.end(), frame,
                          [](int64_t f, const TrackSighting& s) { return f < s.frame; });
}

}  // namespace

float profile_fade_at(const std::vector<TrackSighting>& sightings, int64_t frame) {
  // The last sighting at or before `frame`, and the one after it.
  auto after = first_after(sightings, frame);
  if (after == sightings.begin()) return 0.0f;
  const TrackSighting& before = *std::prev(after);
  const float from = before.in_profile ? 1.0f : 0.0f;
  if (after == sightings.end() || after->in_profile == before.in_profile) return from;
  const float t = static_cast<float>(frame - before.frame) / static_cast<float>(after->frame - before.frame);
  return from + ((after->in_profile ? 1.0f : 0.0f) - from) * t;
}

namespace {

// The mean of `value` over a track's last kGlassesSightings sightings up to the next detection
// after `frame` (the sighting after `frame` counts only when it is that one). 0 without a sighting.
float mean_of_recent_sightings(const std::vector<TrackSighting>& sightings, int64_t frame,
                               float TrackSighting::*value) {
  auto end = first_after(sightings, frame);
  if (end != sightings.end() && end->frame == next_detection_frame(frame)) ++end;
  const auto count = std::min<std::ptrdiff_t>(kGlassesSightings, end - sightings.begin());
  if (count == 0) return 0.0f;
  float sum = 0.0f;
  for (auto s = end - count; s != end; ++s) sum += (*s).*value;
  return sum / static_cast<float>(count);
}

}  // namespace

TrackSighting sighting_of(const cv::Mat& image, const face::Face& face, int64_t frame) {
  return {frame, face::seen_from_the_side(face), face::glasses_bridge_score(image, face.landmarks68),
          static_cast<float>(face::inner_face_energy(image, face.landmarks68)),
          processors::estimate_yaw(face.landmarks68)};
}

float glasses_weight_at(const std::vector<TrackSighting>& sightings, int64_t frame) {
  return face::glasses_keep_weight(mean_of_recent_sightings(sightings, frame, &TrackSighting::glasses_bridge));
}

float track_detail_energy_at(const std::vector<TrackSighting>& sightings, int64_t frame) {
  return mean_of_recent_sightings(sightings, frame, &TrackSighting::detail_energy);
}

float track_yaw_at(const std::vector<TrackSighting>& sightings, int64_t frame) {
  return mean_of_recent_sightings(sightings, frame, &TrackSighting::yaw);
}

namespace {

// The system's temporary directory: $TMPDIR when it is set and not empty, else /tmp — never the
// current directory. (std::filesystem::temp_directory_path returns "" with an error for
// TMPDIR="", and "" / name is a path relative to the current directory.) A TMPDIR that is not a
// directory is an error that names it, not a silent fallback.
Result<std::filesystem::path> system_temp_dir() {
  const char* env = std::getenv("TMPDIR");
  std::filesystem::path dir = env != nullptr && *env != '\0' ? std::filesystem::path(env) : std::filesystem::path("/tmp");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return invalid_argument(fmt::format("the temporary directory {} (TMPDIR) is not a directory: create it, or "
                                        "set TMPDIR to one that exists",
                                        dir.string()));
  }
  return std::filesystem::absolute(dir, ec);
}

// A private temporary directory, removed with everything in it when the job ends however it ends.
class JobTempDir {
 public:
  static Result<JobTempDir> create(const std::filesystem::path& parent) {
    std::error_code ec;
    std::filesystem::path base = parent;
    if (base.empty()) {
      FF_ASSIGN_OR_RETURN(base, system_temp_dir());
    }
    std::random_device rd;
    JobTempDir dir;
    dir.path_ = base / fmt::format("facefuse-job-{:08x}{:08x}", rd(), rd());
    if (!std::filesystem::create_directories(dir.path_, ec)) {
      return unavailable(fmt::format("cannot create a temporary directory in {}: {}", base.string(), ec.message()));
    }
    return dir;
  }
  JobTempDir() = default;
  JobTempDir(JobTempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  JobTempDir& operator=(JobTempDir&&) = delete;
  ~JobTempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Even size for yuv420p, at least 2×2.
int even(double v) { return std::max(2, static_cast<int>(std::lround(v)) & ~1); }

// Rational form of an fps given as a decimal: 25 → 25/1, 29.97 → 30000/1001, else x/1000.
std::pair<int, int> fps_fraction(double fps) {
  if (std::abs(fps - std::round(fps)) < 1e-6) return {static_cast<int>(std::round(fps)), 1};
  double ntsc = std::round(fps * 1.001);
  if (std::abs(ntsc * 1000.0 / 1001.0 - fps) < 1e-3) return {static_cast<int>(ntsc) * 1000, 1001};
  return {static_cast<int>(std::round(fps * 1000.0)), 1000};
}

// A segment's figures in its container `comment` tag: "facefuse-chunk " + JSON
// {"target_faces", "processed_faces", "reference_frame" (null when none), "warnings" (the chunk's
// processor warnings, processors::warnings_to_json; absent in segments of older builds)}.
constexpr std::string_view kChunkSummaryPrefix = "facefuse-chunk ";

std::string chunk_summary_tag(int target_faces, int processed_faces, std::optional<int64_t> reference_frame,
                              const std::vector<processors::ProcessorWarning>& warnings) {
  nlohmann::json j = {{"target_faces", target_faces},
                      {"processed_faces", processed_faces},
                      {"reference_frame", reference_frame ? nlohmann::json(*reference_frame) : nlohmann::json()},
                      {"warnings", processors::warnings_to_json(warnings)}};
  return std::string(kChunkSummaryPrefix) + j.dump();
}

struct ChunkSummary {
  int target_faces = 0, processed_faces = 0;
  std::optional<int64_t> reference_frame;
  std::vector<processors::ProcessorWarning> warnings;
};

std::optional<ChunkSummary> parse_chunk_summary_tag(const std::string& tag) {
  if (tag.rfind(kChunkSummaryPrefix, 0) != 0) return std::nullopt;
  auto j = nlohmann::json::parse(tag.substr(kChunkSummaryPrefix.size()), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j["target_faces"].is_number_integer() || !j["processed_faces"].is_number_integer()) {
    return std::nullopt;
  }
  ChunkSummary s{j["target_faces"].get<int>(), j["processed_faces"].get<int>(), std::nullopt, {}};
  if (j["reference_frame"].is_number_integer()) s.reference_frame = j["reference_frame"].get<int64_t>();
  if (j.contains("warnings")) s.warnings = processors::warnings_from_json(j["warnings"]);
  return s;
}

struct FrameItem {
  int64_t index = 0;  // output frame number (may be < range.begin for warm-up frames)
  bool warmup = false;
  bool detect = false;  // run the detector (else faces are followed from the previous frame)
  cv::Mat frame;
  // With VideoPlan::pass_through_matrix: the decoded samples. After processing, the pixels the
  // processors changed are written over them and only `yuv` is kept.
  media::YuvFrame yuv;
  std::vector<face::Face> faces;
  double analyse_ms = 0, process_ms = 0;
};

// Work for the pool: analysis of decoded frames and processing of tracked ones. Processing is
// taken first so frames leave the pipeline as early as possible.
struct WorkQueue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<FrameItem> to_analyse, to_process;
  bool decode_done = false, track_done = false, aborted = false;
};

struct ChunkRun {
  const JobSpec& spec;
  const VideoPlan& plan;
  JobEngine& engine;  // non-const: the chunk takes the processors' warnings at its end
  FrameRange range;
  const CancelToken* cancel;
  const ProgressCallback& progress;

  std::mutex error_mutex;
  Status error;
  std::atomic<bool> failed{false};
  WorkQueue work;
  OrderedBuffer<FrameItem> analysed, processed;
  FrameBudget budget;
  std::mutex stats_mutex;
  StageTimings timings;
  int target_faces = 0, processed_faces = 0;
  std::optional<int64_t> reference_frame;  // where the reference face came from (prepare_reference)

  ChunkRun(const JobSpec& s, const VideoPlan& p, JobEngine& e, FrameRange r, const CancelToken* c,
           const ProgressCallback& pr, int budget_frames)
      : spec(s), plan(p), engine(e), range(r), cancel(c), progress(pr), budget(budget_frames) {}

  void fail(Status s) {
    {
      std::lock_guard lock(error_mutex);
      if (error.is_ok()) error = std::move(s);
    }
    failed = true;
    {
      std::lock_guard lock(work.mutex);
      work.aborted = true;
      work.to_analyse.clear();
      work.to_process.clear();
    }
    work.ready.notify_all();
    analysed.abort();
    processed.abort();
    budget.abort();
  }
  bool cancelled() const { return cancel != nullptr && cancel->is_cancelled(); }

  void enqueue(FrameItem item, bool for_processing) {
    {
      std::lock_guard lock(work.mutex);
      (for_processing ? work.to_process : work.to_analyse).push_back(std::move(item));
    }
    work.ready.notify_one();
  }

  void decode() {
    int64_t first = std::max<int64_t>(0, range.begin - kChunkWarmupFrames);
    auto reader = media::VideoReader::open(plan.target.path);
    if (!reader) return fail(reader.status());
    auto seek = (*reader)->seek_to_frame(plan.source_frame(first));
    if (!seek.is_ok()) return fail(seek);
    cv::Mat frame;
    media::YuvFrame yuv;
    int64_t source_index = -1;
    int64_t next = first;
    const int64_t end = tracked_end();
    while (next < end && !failed) {
      if (cancelled()) return fail(facefuse::cancelled("cancelled"));
      auto more = (*reader)->read(frame, source_index, plan.pass_through_matrix ? &yuv : nullptr);
      if (!more) return fail(more.status());
      if (!*more) {
        return fail(invalid_argument(fmt::format("{} ended at frame {} before the expected {} frames: the file is "
                                                 "truncated or its frame count is wrong",
                                                 plan.target.path.string(), source_index + 1, plan.trim_end)));
      }
      // One decoded frame feeds every output frame that shows it (repeats when raising the fps).
      while (next < end && plan.source_frame(next) == source_index) {
        if (!budget.acquire()) return;
        FrameItem item;
        item.index = next;
        item.warmup = next < range.begin;
        item.detect = next_detection_frame(next) == next;
        // The last output frame showing this decoded frame takes its buffers; earlier ones (fps
        // raised) get copies. The reader then decodes into new buffers.
        const bool shown_again = next + 1 < end && plan.source_frame(next + 1) == source_index;
        auto take = [shown_again](auto& decoded) { return shown_again ? decoded.clone() : std::move(decoded); };
        if (frame.cols != plan.width || frame.rows != plan.height) {
          cv::resize(frame, item.frame, cv::Size(plan.width, plan.height), 0, 0, cv::INTER_AREA);
        } else {
          item.frame = take(frame);
          // A frame the reader could not keep (another matrix mid-stream) is converted whole.
          if (!yuv.empty() && yuv.matrix == plan.pass_through_matrix) item.yuv = take(yuv);
        }
        if (item.detect) {
          enqueue(std::move(item), false);
        } else {
          analysed.put(item.index, std::move(item));  // followed in order by the tracking step
        }
        ++next;
      }
    }
    {
      std::lock_guard lock(work.mutex);
      work.decode_done = true;
    }
    work.ready.notify_all();
  }

  void work_loop() {
    cv::Mat unprocessed;  // this thread's copy of a frame before the processors ran (pass-through)
    while (true) {
      FrameItem item;
      bool analyse = false;
      {
        std::unique_lock lock(work.mutex);
        work.ready.wait(lock, [&] {
          return work.aborted || !work.to_process.empty() || !work.to_analyse.empty() ||
                 (work.decode_done && work.track_done);
        });
        if (work.aborted) return;
        if (!work.to_process.empty()) {
          item = std::move(work.to_process.front());
          work.to_process.pop_front();
        } else if (!work.to_analyse.empty()) {
          item = std::move(work.to_analyse.front());
          work.to_analyse.pop_front();
          analyse = true;
        } else {
          return;  // decoding and tracking finished and nothing is queued
        }
      }
      StageClock clock;
      if (analyse) {
        auto faces = engine.analyser().analyse(item.frame);
        if (!faces) return fail(faces.status());
        // With several faces in view, identity keeps tracks from jumping between people (and the
        // reference person selected); a lone face is tracked by position alone.
        if (faces->size() > 1 && engine.analyser().recognizer() != nullptr) {
          auto status = engine.analyser().embed(item.frame, *faces);
          if (!status.is_ok()) return fail(status);
        }
        item.faces = std::move(*faces);
        item.analyse_ms = clock.lap_ms();
        int64_t index = item.index;
        analysed.put(index, std::move(item));
      } else {
        if (!item.yuv.empty()) item.frame.copyTo(unprocessed);
        processors::FrameContext context{std::move(item.frame), std::move(item.faces), item.index};
        auto status = engine.process(context);
        if (!status.is_ok()) return fail(status);
        item.frame = std::move(context.frame);
        if (!item.yuv.empty()) {
          // Only what the processors changed is converted back; the rest stays as decoded.
          media::overwrite_changed_pixels(unprocessed, item.frame, item.yuv);
          item.frame.release();
        }
        item.process_ms = clock.lap_ms();
        int64_t index = item.index;
        processed.put(index, std::move(item));
      }
    }
  }

  // A tracked frame waiting until every bridged face in it is known to belong to a track that
  // comes back (see track()).
  struct PendingFrame {
    FrameItem item;
    std::vector<face::TrackedFace> faces;  // the selected tracks' faces
    int found = 0;                         // faces detected or followed in the frame
  };

  // One past the last frame tracked: a chunk tracks kBridgeLookaheadFrames beyond its range so
  // it decides bridged faces near its end as a single pass does.
  int64_t tracked_end() const { return std::min(plan.frames_total, range.end + kBridgeLookaheadFrames); }

  // In frame order: tracking (smoothing, gap bridging, identity) and face selection per track.
  //
  // A face the detector misses is bridged by the tracker at once, but it is only swapped if its
  // track is matched again within the tracker's gap: otherwise the person has left (a cut, a turn
  // away) and pasting the predicted face for the next frames would put a face on whatever is
  // there now. So a frame with a bridged face waits (at most kBridgeLookaheadFrames frames)
  // until its track is matched again (kept) or has ended (dropped).
  void track() {
    const face::FaceTrackerOptions tracker_options;
    face::FaceTracker tracker(tracker_options, engine.analyser().recognizer());
    std::map<int, bool> track_selected;      // decided once per track, so the same person stays swapped
    // Per track, what each of its detections saw, in frame order: whether its face was in profile
    // (the face swapper fades a face out as it turns into profile and leaves it as it is until a
    // detection sees it turn back, profile_fade_at) and its glasses (glasses_weight_at).
    std::map<int, std::vector<TrackSighting>> sightings;
    std::map<int, int64_t> last_matched;     // track id → last frame it was detected or followed in
    std::vector<face::Face> seen;            // faces matched in the previous frame, to follow
    std::vector<std::optional<cv::Rect2f>> seen_from;  // the box each of them was found from
    std::deque<PendingFrame> pending;
    int64_t first = std::max<int64_t>(0, range.begin - kChunkWarmupFrames);
    const int64_t end = tracked_end();
    for (int64_t index = first; index < end; ++index) {
      auto item = analysed.take(index);
      if (!item) return;
      StageClock clock;
      // Sightings are taken on the detections' own points, which do not depend on earlier frames,
      // so every per-track decision comes out the same in a chunk as in a single pass.
      std::vector<TrackSighting> detected;  // per detection; followed faces have no detector points
      if (item->detect) {
        for (const auto& f : item->faces) {
          detected.push_back(sighting_of(item->frame, f, index));
        }
      }
      std::vector<std::optional<cv::Rect2f>> found_from;  // per face: the box its points were found from
      if (!item->detect) {
        auto followed = follow(item->frame, seen, seen_from, found_from);
        if (!followed) return fail(followed.status());
        item->faces = std::move(*followed);
      } else if (Status settled = engine.analyser().settle(item->frame, item->faces, seen, seen_from, found_from);
                 !settled.is_ok()) {
        return fail(std::move(settled));
      }
      double follow_ms = clock.lap_ms();
      int found = static_cast<int>(item->faces.size());
      // Each face's eyes as found on this frame, before the tracker smooths them (Face::unsmoothed_eye_open).
      std::vector<std::optional<std::array<float, 2>>> eyes_found(item->faces.size());
      for (size_t i = 0; i < item->faces.size(); ++i) {
        const auto& points = item->faces[i].landmarks68;
        if (item->faces[i].has_landmarks68()) {
          eyes_found[i] = {face::one_eye_open_ratio(points, 36), face::one_eye_open_ratio(points, 42)};
        }
      }
      auto tracks = tracker.update(std::move(item->faces), static_cast<double>(index) / plan.output_fps());
      seen.clear();
      seen_from.clear();
      for (const auto& t : tracks) {
        if (!t.bridged) {
          seen.push_back(t.face);
          seen_from.push_back(static_cast<size_t>(t.detection_index) < found_from.size()
                                  ? found_from[static_cast<size_t>(t.detection_index)]
                                  : std::nullopt);
          last_matched[t.track_id] = index;
        }
      }
      PendingFrame frame{std::move(*item), {}, found};
      for (auto& t : tracks) {
        if (t.detection_index >= 0) {  // matched: an index into this frame's faces
          const auto i = static_cast<size_t>(t.detection_index);
          if (i < detected.size()) sightings[t.track_id].push_back(detected[i]);
          if (i < eyes_found.size()) t.face.unsmoothed_eye_open = eyes_found[i];
        }
        auto decided = track_selected.find(t.track_id);
        if (decided == track_selected.end()) {
          auto selected = select_track(frame.item.frame, t);
          if (!selected) return fail(selected.status());
          decided = track_selected.emplace(t.track_id, *selected).first;
        }
        if (decided->second) frame.faces.push_back(std::move(t));
      }
      double ms = clock.lap_ms();
      {
        std::lock_guard lock(stats_mutex);
        timings.track_ms += ms;
        timings.analyse_ms += frame.item.analyse_ms + follow_ms;
      }
      pending.push_back(std::move(frame));
      if (!release_tracked(pending, last_matched, sightings, index, tracker_options.max_missed_frames)) return;
    }
    // The end of the job (or of the look-ahead): tracks still missing have ended.
    if (!release_tracked(pending, last_matched, sightings, std::numeric_limits<int64_t>::max(),
                         tracker_options.max_missed_frames)) {
      return;
    }
    {
      std::lock_guard lock(work.mutex);
      work.track_done = true;
    }
    work.ready.notify_all();
  }

  // Hands on the pending frames, oldest first, whose bridged faces are decided once frames up to
  // `tracked` were tracked. A face bridged with m missed frames at frame t can be matched again
  // at t + (max_missed + 1 − m) at the latest; one more miss ends its track. False when the run
  // was aborted.
  bool release_tracked(std::deque<PendingFrame>& pending, const std::map<int, int64_t>& last_matched,
                       std::map<int, std::vector<TrackSighting>>& sightings, int64_t tracked,
                       int max_missed) {
    while (!pending.empty()) {
      PendingFrame& p = pending.front();
      const int64_t index = p.item.index;
      auto returned = [&](const face::TrackedFace& t) {
        auto m = last_matched.find(t.track_id);
        return m != last_matched.end() && m->second > index;
      };
      for (const auto& t : p.faces) {
        if (t.bridged && !returned(t) && tracked < index + (max_missed + 1 - t.missed_frames)) return true;
      }
      // A frame with faces also waits for the next detection (at most kDetectEveryFrames − 1 frames
      // on, within the tracked range), which says whether each face is turning into profile or back
      // and adds to its glasses decision.
      const int64_t next_detection = next_detection_frame(index);
      if (!p.faces.empty() && tracked < next_detection && next_detection < tracked_end()) return true;
      std::vector<face::Face> chosen;
      for (auto& t : p.faces) {
        if (t.bridged && !returned(t)) continue;
        auto& seen = sightings[t.track_id];
        t.face.profile_fade = profile_fade_at(seen, index);
        t.face.glasses_weight = glasses_weight_at(seen, index);
        if (const float energy = track_detail_energy_at(seen, index); energy > 0.0f) {
          t.face.track_detail_energy = energy;
        }
        if (!seen.empty()) t.face.track_yaw = track_yaw_at(seen, index);
        // Frames are released in order: sightings older than the last kGlassesSightings at or
        // before this frame are not needed again.
        const auto after = first_after(seen, index);
        seen.erase(seen.begin(), after - std::min<std::ptrdiff_t>(kGlassesSightings, after - seen.begin()));
        chosen.push_back(std::move(t.face));
      }
      if (engine.selector().mode == face::FaceSelectorMode::kOne && chosen.size() > 1) {
        chosen = face::sort_faces(std::move(chosen), engine.selector().order);
        chosen.resize(1);
      }
      FrameItem item = std::move(p.item);
      int found = p.found;
      pending.pop_front();
      if (item.warmup || index >= range.end) {  // tracked for continuity only
        budget.release();
        continue;
      }
      {
        std::lock_guard lock(stats_mutex);
        target_faces += found;
        processed_faces += static_cast<int>(chosen.size());
      }
      item.faces = std::move(chosen);
      enqueue(std::move(item), true);
      if (failed) return false;
    }
    return true;
  }

  // The faces of the previous frame found again in `frame` by their landmarks alone, each from the
  // box it was found from there when that still fits (`held_boxes`, FaceAnalyser::follow);
  // `found_from` receives the box each returned face was found from.
  Result<std::vector<face::Face>> follow(const cv::Mat& frame, const std::vector<face::Face>& previous,
                                         const std::vector<std::optional<cv::Rect2f>>& held_boxes,
                                         std::vector<std::optional<cv::Rect2f>>& found_from) {
    std::vector<face::Face> faces;
    found_from.clear();
    for (size_t i = 0; i < previous.size(); ++i) {
      cv::Rect2f box;
      FF_ASSIGN_OR_RETURN(auto found, engine.analyser().follow(frame, previous[i], held_boxes[i], &box));
      if (found) {
        faces.push_back(std::move(*found));
        found_from.push_back(box);
      }
    }
    if (faces.size() > 1 && engine.analyser().recognizer() != nullptr) {
      FF_RETURN_IF_ERROR(engine.analyser().embed(frame, faces));
    }
    return faces;
  }

  // Whether a new track is one of the faces to process (decided on its first frame).
  // Modes many and one: the gender/age filters, judged on the track's first frame (a per-frame
  // verdict would flicker when the estimate hovers at a boundary).
  Result<bool> select_track(const cv::Mat& frame, const face::TrackedFace& t) {
    if (engine.selector().mode != face::FaceSelectorMode::kReference) {
      if (!engine.selector().filters_faces()) return true;
      std::vector<face::Face> one{t.face};
      FF_RETURN_IF_ERROR(engine.classify(frame, one));
      FF_ASSIGN_OR_RETURN(auto kept, face::filter_faces(std::move(one), engine.selector()));
      return !kept.empty();
    }
    const auto& reference = engine.reference_embedding();
    if (!reference) return false;
    std::vector<face::Face> one{t.face};
    FF_RETURN_IF_ERROR(engine.analyser().embed(frame, one));
    const auto* recognizer = engine.analyser().recognizer();
    float threshold = face::reference_face_distance(engine.selector(), *recognizer);
    return face::is_same_face(*recognizer, one.front().embedding, *reference, threshold);
  }

  // The calling thread encodes, in order.
  Result<int64_t> encode(const std::filesystem::path& segment) {
    media::VideoEncoderOptions options;
    options.encoder = spec.video.encoder;
    options.preset = spec.video.preset;
    options.quality = spec.video.quality;
    options.width = plan.width;
    options.height = plan.height;
    options.fps_num = plan.fps_num;
    options.fps_den = plan.fps_den;
    options.matrix = plan.pass_through_matrix;
    auto writer = media::VideoWriter::open(segment, options, range.begin);
    if (!writer) return writer.status();
    auto start = std::chrono::steady_clock::now();
    int64_t total = range.end - range.begin;
    for (int64_t index = range.begin; index < range.end; ++index) {
      auto item = processed.take(index);
      if (!item) return Status(StatusCode::kCancelled, "aborted");  // the real cause is in `error`
      StageClock clock;
      FF_RETURN_IF_ERROR(item->yuv.empty() ? (*writer)->write(item->frame, index) : (*writer)->write(item->yuv, index));
      double ms = clock.lap_ms();
      {
        std::lock_guard lock(stats_mutex);
        timings.write_ms += ms;
        timings.process_ms += item->process_ms;
      }
      budget.release();
      if (progress) {
        int64_t done = index - range.begin + 1;
        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        double fps = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
        progress({"processing", static_cast<double>(done) / static_cast<double>(total), done, total, fps,
                  fps > 0 ? static_cast<double>(total - done) / fps : -1.0});
      }
    }
    {
      // The chunk's figures and processor warnings travel with its segment, so a merge (perhaps on
      // another worker, after retries) sums exactly the chunks it joins. Every frame of the range
      // has been processed by now (taken above), and frames past it are never processed: the
      // warnings taken here are this chunk's alone, also when one engine runs every chunk.
      std::lock_guard lock(stats_mutex);
      (*writer)->set_metadata("comment", chunk_summary_tag(target_faces, processed_faces, reference_frame,
                                                           engine.take_processor_warnings()));
    }
    FF_RETURN_IF_ERROR((*writer)->finish());
    return total;
  }
};

int worker_count(const JobSpec& spec) {
  if (spec.processing_threads > 0) return spec.processing_threads;
  return available_cpus();
}

Result<JobReport> run_chunk(const JobSpec& spec, const VideoPlan& plan, JobEngine& engine,
                            std::optional<int64_t> reference_frame, FrameRange range,
                            const std::filesystem::path& segment, const ProgressCallback& progress,
                            const CancelToken* cancel) {
  int workers = worker_count(spec);
  // Enough frames in flight to keep every worker busy while the in-order steps wait for the
  // slowest frame. A 1080p frame in flight is 6 MB of BGR (+3 MB of YUV when passing it through,
  // the BGR being dropped once processed), so this stays well under 200 MB. Tracking may hold
  // back up to kBridgeLookaheadFrames + 1 frames while a face is bridged, and up to
  // kDetectEveryFrames until the next detection (release_tracked): fewer than the budget even with
  // one worker, so the frame that decides them can always be decoded.
  int budget = 4 * workers + 4;
  static_assert(4 * 1 + 4 > std::max(kBridgeLookaheadFrames + 1, kDetectEveryFrames));
  ChunkRun run(spec, plan, engine, range, cancel, progress, budget);
  run.reference_frame = reference_frame;
  StageClock clock;
  // Explicit stacks (core/stack_thread.h): the work threads run detection, landmarks, the swapper
  // and the enhancer, the decode thread FFmpeg — as deep as any server handler.
  std::vector<StackThread> threads;
  auto spawn = [&](const char* name, std::function<void()> body) {
    auto t = StackThread::start(name, kThreadStackBytes, std::move(body));
    if (t) {
      threads.push_back(std::move(*t));
    } else {
      run.fail(t.status());
    }
  };
  spawn("ff-decode", [&] { run.decode(); });
  spawn("ff-track", [&] { run.track(); });
  for (int i = 0; i < workers; ++i) spawn("ff-frames", [&] { run.work_loop(); });
  int64_t frames = 0;
  if (!run.failed) {
    auto encoded = run.encode(segment);
    if (encoded) {
      frames = *encoded;
    } else {
      run.fail(encoded.status());
    }
  }
  for (auto& t : threads) t.join();
  if (run.failed) {
    std::error_code ec;
    std::filesystem::remove(segment, ec);
    return run.error;
  }
  JobReport report;
  report.frames = frames;
  report.target_faces = run.target_faces;
  report.processed_faces = run.processed_faces;
  report.source_faces = engine.source_face_counts();
  report.reference_frame = reference_frame;
  report.timings = run.timings;
  report.seconds = clock.total_ms() / 1000.0;
  return report;
}

// Reference mode: the reference face comes from target frame reference_frame_number or, when
// that frame has no face (a fade from black, a title card), from the first frame after it where
// the detector finds one, up to the end of the trimmed range. The frames looked at are every
// kDetectEveryFrames-th one, spread further apart on long videos so that at most
// kMaxReferenceSearchFrames are analysed (~30 ms each): a bounded cost, and the same frames for
// every chunk of a job, so all chunks pick the same person. Returns the frame the reference came
// from; nullopt when none of those frames has a face (or the job does not use a reference).
constexpr int64_t kMaxReferenceSearchFrames = 200;

Result<std::optional<int64_t>> prepare_reference(const JobSpec& spec, const VideoPlan& plan, JobEngine& engine) {
  (void)spec;
  if (!engine.needs_reference()) return std::optional<int64_t>();
  auto frame_number = static_cast<int64_t>(engine.options().value("reference_frame_number", 0.0));
  if (frame_number < 0 || frame_number >= plan.target.frame_count) {
    return invalid_argument(fmt::format("reference_frame_number {} is outside the target's {} frames", frame_number,
                                        plan.target.frame_count));
  }
  FF_ASSIGN_OR_RETURN(auto reader, media::VideoReader::open(plan.target.path));
  const int64_t search_end = std::max(frame_number + 1, plan.trim_end);
  const int64_t stride =
      std::max<int64_t>(kDetectEveryFrames, (search_end - frame_number + kMaxReferenceSearchFrames - 1) /
                                                kMaxReferenceSearchFrames);
  cv::Mat frame;
  for (int64_t k = frame_number; k < search_end; k += stride) {
    FF_RETURN_IF_ERROR(reader->seek_to_frame(k));  // decodes forward when k is near
    int64_t index = 0;
    FF_ASSIGN_OR_RETURN(bool ok, reader->read(frame, index));
    if (!ok) return invalid_argument(fmt::format("cannot read frame {} of {} for the reference face", k,
                                                 plan.target.path.string()));
    if (frame.cols != plan.width || frame.rows != plan.height) {
      cv::resize(frame, frame, cv::Size(plan.width, plan.height), 0, 0, cv::INTER_AREA);
    }
    FF_ASSIGN_OR_RETURN(auto faces, engine.analyser().analyse(frame));
    if (faces.empty()) continue;
    FF_RETURN_IF_ERROR(engine.set_reference_faces(frame, std::move(faces)));
    if (!engine.reference_embedding()) continue;  // no face here passes the gender/age filters
    return std::optional<int64_t>(k);
  }
  return std::optional<int64_t>();
}

void add_timings(StageTimings& total, const StageTimings& part) {
  total.read_ms += part.read_ms;
  total.open_ms += part.open_ms;
  total.analyse_ms += part.analyse_ms;
  total.track_ms += part.track_ms;
  total.process_ms += part.process_ms;
  total.write_ms += part.write_ms;
}

// Video parallelism comes from frames: one inference thread per session keeps N workers from
// oversubscribing the cores; and faces smaller than 1/8 of the frame height are not looked for
// unless asked with face_detector_min_size (tiling for 40-px faces costs 9–22 model runs per
// 720p–1080p frame, 1/8 costs 3). 1/6 (1–3 runs) made a 720p job only ~7 % faster, not worth
// missing medium-shot faces for. Only the frames' detector is raised (frame_min_face_size): the
// source photo is still read at min_face_size, as in image jobs: at 60 px (480p targets) the
// coarser detector took dlib's dogs.jpg for a source face (JobSpec, VideoJobTest).
JobSpec tuned_for_video(const JobSpec& spec, const VideoPlan& plan) {
  JobSpec tuned = spec;
  if (tuned.session.intra_op_threads == 0) tuned.session.intra_op_threads = 1;
  if (tuned.min_face_size == JobSpec{}.min_face_size && !tuned.frame_min_face_size) {
    tuned.frame_min_face_size = std::max(40, plan.height / 8);
  }
  return tuned;
}

std::filesystem::path segment_path(const std::filesystem::path& dir, size_t index) {
  return dir / fmt::format("segment_{:05}.mp4", index);
}

}  // namespace

Result<VideoPlan> plan_video_job(const JobSpec& spec) {
  const auto& v = spec.video;
  VideoPlan plan;
  FF_ASSIGN_OR_RETURN(plan.target, media::probe_video(spec.target));
  const auto& t = plan.target;
  if (t.frame_count <= 0) return invalid_argument(fmt::format("{} has no video frames", spec.target.string()));
  plan.trim_start = v.trim_frame_start;
  plan.trim_end = v.trim_frame_end < 0 ? t.frame_count : v.trim_frame_end;
  if (plan.trim_start < 0 || plan.trim_start >= t.frame_count) {
    return invalid_argument(fmt::format("--trim-frame-start {} is outside the target's frames 0..{}", plan.trim_start,
                                        t.frame_count - 1));
  }
  if (plan.trim_end <= plan.trim_start || plan.trim_end > t.frame_count) {
    return invalid_argument(fmt::format("--trim-frame-end {} must be after --trim-frame-start {} and at most {}",
                                        plan.trim_end, plan.trim_start, t.frame_count));
  }
  if (v.fps < 0 || v.fps > 240) return invalid_argument("--output-video-fps must be between 1 and 240 (0 = the target's)");
  if (v.fps > 0) {
    std::tie(plan.fps_num, plan.fps_den) = fps_fraction(v.fps);
  } else {
    plan.fps_num = t.fps_num;
    plan.fps_den = t.fps_den;
  }
  if (v.scale < 0.1 || v.scale > 4.0) return invalid_argument("--output-video-scale must be between 0.1 and 4");
  plan.width = even(t.width * v.scale);
  plan.height = even(t.height * v.scale);
  if (t.pixel_format == "yuv420p" && !t.full_range && t.rotation_degrees == 0 && plan.width == t.width &&
      plan.height == t.height) {
    plan.pass_through_matrix = media::yuv_matrix_for_colour_space(t.colour_space);
  }
  if (static_cast<int64_t>(plan.width) * plan.height > spec.max_pixels) {
    return limit_exceeded(fmt::format("output frames of {}x{} are over the pixel limit of {}", plan.width, plan.height,
                                      spec.max_pixels));
  }
  media::VideoEncoderOptions encoder;
  encoder.encoder = v.encoder;
  encoder.preset = v.preset;
  encoder.quality = v.quality;
  FF_RETURN_IF_ERROR(media::validate_encoder_options(encoder).status());
  if (v.audio_volume < 0 || v.audio_volume > 1000) return invalid_argument("--output-audio-volume must be 0 to 1000 (percent)");
  if (v.chunk_frames < 0) return invalid_argument("--chunk-frames must be 0 (no chunks) or more");

  double ratio = plan.output_fps() * t.fps_den / t.fps_num;
  plan.frames_total = std::max<int64_t>(1, static_cast<int64_t>(std::floor((plan.trim_end - plan.trim_start) * ratio + 1e-9)));
  int64_t chunk = v.chunk_frames > 0 ? v.chunk_frames : plan.frames_total;
  for (int64_t begin = 0; begin < plan.frames_total; begin += chunk) {
    plan.chunks.push_back({begin, std::min(plan.frames_total, begin + chunk)});
  }
  return plan;
}

Result<JobReport> process_video_chunk(const JobSpec& spec, const VideoPlan& plan, FrameRange range,
                                      const std::filesystem::path& segment, const ProgressCallback& progress,
                                      const CancelToken* cancel) {
  if (range.begin < 0 || range.end > plan.frames_total || range.begin >= range.end) {
    return invalid_argument(fmt::format("frame range [{}, {}) is outside the job's {} frames", range.begin, range.end,
                                        plan.frames_total));
  }
  const JobSpec tuned = tuned_for_video(spec, plan);
  FF_ASSIGN_OR_RETURN(auto engine, JobEngine::open(tuned));
  FF_ASSIGN_OR_RETURN(auto reference_frame, prepare_reference(tuned, plan, *engine));
  auto report = run_chunk(tuned, plan, *engine, reference_frame, range, segment, progress, cancel);
  engine->close();
  return report;
}

Result<JobReport> merge_video_chunks(const JobSpec& spec, const VideoPlan& plan,
                                     const std::vector<std::filesystem::path>& segments) {
  JobReport report;
  report.output = spec.output;
  bool counted = true;
  std::vector<processors::ProcessorWarning> processor_warnings;
  for (const auto& segment : segments) {
    FF_ASSIGN_OR_RETURN(media::VideoInfo info, media::probe_video(segment));
    auto tag = info.tags.find("comment");
    auto summary = parse_chunk_summary_tag(tag == info.tags.end() ? std::string() : tag->second);
    if (!summary) {
      counted = false;  // a segment from a build that did not record its figures
      continue;
    }
    report.frames += info.frame_count;
    report.target_faces += summary->target_faces;
    report.processed_faces += summary->processed_faces;
    report.reference_frame = summary->reference_frame;
    processor_warnings.insert(processor_warnings.end(), summary->warnings.begin(), summary->warnings.end());
  }
  media::AudioOptions audio;
  audio.volume = spec.video.audio_volume / 100.0;
  double target_fps = plan.target.fps;
  audio.start_sec = static_cast<double>(plan.trim_start) / target_fps;
  audio.end_sec = plan.trim_end >= plan.target.frame_count ? -1.0 : static_cast<double>(plan.trim_end) / target_fps;
  if (!plan.target.subtitles.empty()) {
    report.warnings.push_back(fmt::format("the target's {} subtitle stream(s) were not copied into the output: "
                                          "facefuse writes video and audio only; add them back with e.g. `ffmpeg -i "
                                          "output -i target -map 0 -map 1:s -c copy ...`",
                                          plan.target.subtitles.size()));
  }
  std::map<std::string, std::string> tags;
  if (spec.synthetic_label) {
    FF_ASSIGN_OR_RETURN(const char* muxer, media::muxer_for_output(spec.output));
    tags = media::synthetic_media_video_tags(muxer);
    if (tags.empty()) {
      report.warnings.push_back(fmt::format("{} has no place for the synthetic-media label (MPEG-TS metadata): the "
                                            "output is not marked as altered; write .mp4, .mov, .mkv or .webm to mark it",
                                            spec.output.filename().string()));
    }
  }
  FF_RETURN_IF_ERROR(media::assemble_video(
      segments, plan.target.audio.empty() ? std::filesystem::path() : plan.target.path, audio, spec.output, tags));
  if (!counted) {
    report.target_faces = report.processed_faces = -1;
    return report;
  }
  FF_ASSIGN_OR_RETURN(nlohmann::json options, processors::validate_options(spec.processors, spec.options));
  add_result_warnings(spec, options, spec.target.string(), report);
  for (auto& w : processors::render_warnings(processors::merge_warnings(processor_warnings))) {
    report.warnings.push_back(std::move(w));
  }
  return report;
}

Result<JobReport> run_video_job(const JobSpec& job, const ProgressCallback& progress, const CancelToken* cancel) {
  StageClock clock;
  auto step = [&](const char* stage, double fraction) {
    if (progress) progress({stage, fraction});
  };
  FF_ASSIGN_OR_RETURN(VideoPlan plan, plan_video_job(job));
  const JobSpec spec = tuned_for_video(job, plan);
  // Before any heavy work: a temporary directory that cannot be made fails the job at once.
  FF_ASSIGN_OR_RETURN(JobTempDir temp, JobTempDir::create(spec.temp_dir));
  step("loading models", 0.0);
  FF_ASSIGN_OR_RETURN(auto engine, JobEngine::open(spec));
  FF_ASSIGN_OR_RETURN(auto reference_frame, prepare_reference(spec, plan, *engine));
  double open_ms = clock.lap_ms();

  JobReport report;
  report.output = spec.output;
  std::vector<std::filesystem::path> segments;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const FrameRange range = plan.chunks[i];
    ProgressCallback chunk_progress = [&](const ProgressEvent& e) {
      if (!progress) return;
      ProgressEvent total = e;
      total.frames_done = range.begin + e.frames_done;
      total.frames_total = plan.frames_total;
      total.fraction = 0.97 * static_cast<double>(total.frames_done) / static_cast<double>(plan.frames_total);
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      total.fps = elapsed > 0 ? static_cast<double>(total.frames_done) / elapsed : 0.0;
      total.eta_seconds = total.fps > 0 ? static_cast<double>(plan.frames_total - total.frames_done) / total.fps : -1.0;
      progress(total);
    };
    segments.push_back(segment_path(temp.path(), i));
    FF_ASSIGN_OR_RETURN(JobReport part, run_chunk(spec, plan, *engine, reference_frame, range, segments.back(),
                                                  chunk_progress, cancel));
    report.frames += part.frames;
    report.target_faces += part.target_faces;
    report.processed_faces += part.processed_faces;
    report.source_faces = part.source_faces;
    add_timings(report.timings, part.timings);
  }
  engine->close();
  if (cancel != nullptr && cancel->is_cancelled()) return cancelled("cancelled");
  step("merging", 0.98);
  FF_ASSIGN_OR_RETURN(JobReport merged, merge_video_chunks(spec, plan, segments));
  report.timings.open_ms = open_ms;
  report.seconds = clock.total_ms() / 1000.0;
  report.reference_frame = reference_frame;
  // The merge read the same figures and processor warnings back from the segments, and warned
  // about them (and about the container) as a chunked job's merge does.
  report.warnings = std::move(merged.warnings);
  step("done", 1.0);
  return report;
}

}  // namespace facefuse::pipeline
