// The video workflow end to end on clips made from real photos and the real talking-head clip
// (scripts/make_test_videos): frame counts, durations, audio, trimming, rotation, chunked vs
// single-pass equivalence, cancellation, temporary files, temporal stability.

#include <algorithm>
#include <numeric>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/core/series_stats.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/glasses.h"
#include "facefuse/face/inner_face_sharpness.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/media/video_reader.h"
#include "facefuse/pipeline/run_job.h"
#include "facefuse/pipeline/video_job.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

constexpr double kMinChunkPsnrDb = 40.0;  // the bar for chunked vs single pass

class VideoJobTest : public ::testing::Test {
 protected:
  pipeline::JobSpec spec(const std::string& target, const std::string& output) {
    pipeline::JobSpec s;
    s.sources = {testdata("photos/astronaut.png")};
    s.target = testdata("videos/" + target);
    s.output = out_ / output;
    s.models_dir = models_dir();
    s.temp_dir = temp_.path();
    s.video.preset = "ultrafast";
    s.options = {{"face_selector_mode", "many"}};
    return s;
  }

  // The analyser outputs are re-analysed with (the default models).
  std::unique_ptr<face::FaceAnalyser> open_analyser() {
    face::FaceAnalyserOptions options;
    options.models_dir = models_dir();
    auto analyser = face::FaceAnalyser::open(options);
    EXPECT_TRUE(analyser) << analyser.status().to_string();
    return analyser ? std::move(*analyser) : nullptr;
  }

  // A finished job: its report, the target's and the output's frames (as many of each) and an
  // analyser to look at them with.
  struct JobFrames {
    pipeline::JobReport report;
    std::vector<cv::Mat> input, output;
    std::unique_ptr<face::FaceAnalyser> analyser;
  };
  // Runs `s` and reads both videos (call it inside ASSERT_NO_FATAL_FAILURE).
  void run_and_read(const pipeline::JobSpec& s, JobFrames& job) {
    auto report = pipeline::run_job(s);
    ASSERT_TRUE(report) << report.status().to_string();
    job.report = std::move(*report);
    job.analyser = open_analyser();
    ASSERT_NE(job.analyser, nullptr);
    ASSERT_EQ(s.video.trim_frame_start, 0) << "the input is read from its first frame";
    job.input = read_video_frames(s.target, s.video.trim_frame_end < 0 ? SIZE_MAX : s.video.trim_frame_end);
    job.output = read_video_frames(s.output);
    ASSERT_FALSE(job.input.empty());
    ASSERT_EQ(job.input.size(), job.output.size());
  }

  void expect_no_temp_files() {
    EXPECT_TRUE(std::filesystem::is_empty(temp_.path())) << "temporary files were left in " << temp_.path();
    for (const auto& e : std::filesystem::directory_iterator(out_.path())) {
      EXPECT_EQ(e.path().extension(), ".mp4") << "stray file in the output directory: " << e.path();
    }
  }

  TempDir out_, temp_;
};

TEST_F(VideoJobTest, OutputHasTheTargetsFramesDurationAndAudio) {
  auto s = spec("face_720p.mp4", "out.mp4");
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  auto in = media::probe_video(s.target);
  auto out = media::probe_video(s.output);
  ASSERT_TRUE(in && out) << out.status().to_string();
  EXPECT_EQ(out->frame_count, in->frame_count);
  EXPECT_EQ(out->width, 1280);
  EXPECT_EQ(out->height, 720);
  EXPECT_NEAR(out->fps, 25.0, 1e-6);
  EXPECT_EQ(out->pixel_format, "yuv420p");
  ASSERT_EQ(out->audio.size(), 1u);
  EXPECT_NEAR(out->audio[0].duration_sec, in->audio[0].duration_sec, 1.0 / 25.0);
  EXPECT_EQ(report->frames, in->frame_count);
  EXPECT_GT(report->processed_faces, in->frame_count * 9 / 10) << "the face is visible throughout";
  expect_no_temp_files();
}

// The face selector's gender filter in video jobs, judged once per face track: the real talking
// head is a man (by eye). Modes many (target faces) and reference (the reference frame's faces).
TEST_F(VideoJobTest, GenderFilterKeepsOrDropsTheTrackedFace) {
  auto s = spec("talking_head_640x480.mp4", "men.mp4");
  s.options = {{"face_selector_mode", "many"}, {"face_selector_gender", "male"}};
  auto men = pipeline::run_job(s);
  ASSERT_TRUE(men) << men.status().to_string();
  EXPECT_GT(men->processed_faces, men->frames * 9 / 10);

  s = spec("talking_head_640x480.mp4", "women.mp4");
  s.options = {{"face_selector_mode", "many"}, {"face_selector_gender", "female"}};
  auto women = pipeline::run_job(s);
  ASSERT_TRUE(women) << women.status().to_string();
  EXPECT_GT(women->target_faces, women->frames * 9 / 10);
  EXPECT_EQ(women->processed_faces, 0);
  ASSERT_FALSE(women->warnings.empty());
  EXPECT_NE(women->warnings.back().find("gender/age filters"), std::string::npos) << women->warnings.back();

  s = spec("talking_head_640x480.mp4", "reference.mp4");
  s.options = {{"face_selector_mode", "reference"}, {"face_selector_gender", "female"}};
  auto reference = pipeline::run_job(s);
  ASSERT_TRUE(reference) << reference.status().to_string();
  EXPECT_EQ(reference->processed_faces, 0);
  EXPECT_FALSE(reference->reference_frame.has_value()) << "no face of any searched frame passes";
  ASSERT_FALSE(reference->warnings.empty());
  bool names_filters = false;
  for (const auto& w : reference->warnings) names_filters |= w.find("gender/age filters") != std::string::npos;
  EXPECT_TRUE(names_filters);
  expect_no_temp_files();
}

// Video jobs look for faces of at least 1/8 of the frame height in the frames (60 px at 480p) but
// read the source photo as image jobs do (40 px): at 60 px BlazeFace's single pass took a dog in
// dlib's dogs.jpg for a face, and a 480p video job swapped that dog in (found in session 7).
TEST_F(VideoJobTest, TheSourcePhotoIsReadAsInImageJobs) {
  auto s = spec("talking_head_640x480.mp4", "dog.mp4");
  s.sources = {testdata("dlib_faces/dogs.jpg")};
  s.video.trim_frame_end = 3;
  auto report = pipeline::run_job(s);
  ASSERT_FALSE(report) << "a dog was taken for the source face";
  EXPECT_NE(report.status().message().find("no face found in the source"), std::string::npos)
      << report.status().to_string();
  EXPECT_FALSE(std::filesystem::exists(s.output));
}

TEST_F(VideoJobTest, TrimmingIsFrameExactAndTrimsTheAudio) {
  auto s = spec("face_720p.mp4", "trim.mp4");
  s.video.trim_frame_start = 10;
  s.video.trim_frame_end = 40;
  ASSERT_TRUE(pipeline::run_job(s));
  auto out = media::probe_video(s.output);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->frame_count, 30);
  EXPECT_NEAR(out->duration_sec, 30.0 / 25.0, 1.0 / 25.0);
  ASSERT_EQ(out->audio.size(), 1u);
  EXPECT_NEAR(out->audio[0].duration_sec, 30.0 / 25.0, 1.0 / 25.0);
}

TEST_F(VideoJobTest, FullHdClipKeepsSizeFramesAndAudio) {
  auto s = spec("face_1080p.mp4", "hd.mp4");
  s.video.trim_frame_end = 25;
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  auto out = media::probe_video(s.output);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->width, 1920);
  EXPECT_EQ(out->height, 1080);
  EXPECT_EQ(out->frame_count, 25);
  ASSERT_EQ(out->audio.size(), 1u);
  EXPECT_NEAR(out->audio[0].duration_sec, 1.0, 1.0 / 25.0);
  EXPECT_GE(report->processed_faces, 20);
}

TEST_F(VideoJobTest, OutputFpsAndScaleAreApplied) {
  auto s = spec("face_720p.mp4", "retimed.mp4");
  s.video.fps = 10;     // 100 frames at 25 fps = 4 s → 40 frames at 10 fps
  s.video.scale = 0.5;  // 1280x720 → 640x360
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  auto out = media::probe_video(s.output);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->frame_count, 40);
  EXPECT_NEAR(out->fps, 10.0, 1e-6);
  EXPECT_NEAR(out->duration_sec, 4.0, 0.1);
  EXPECT_EQ(out->width, 640);
  EXPECT_EQ(out->height, 360);
  ASSERT_EQ(out->audio.size(), 1u);
  EXPECT_NEAR(out->audio[0].duration_sec, 4.0, 0.1);
}

TEST_F(VideoJobTest, VolumeZeroDropsTheAudio) {
  auto s = spec("face_720p.mp4", "mute.mp4");
  s.video.audio_volume = 0;
  s.video.trim_frame_end = 20;
  ASSERT_TRUE(pipeline::run_job(s));
  auto out = media::probe_video(s.output);
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->audio.empty());
}

TEST_F(VideoJobTest, RotatedPhoneVideoComesOutUpright) {
  auto s = spec("face_720p_rotated.mp4", "upright.mp4");
  s.video.trim_frame_end = 20;
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  auto out = media::probe_video(s.output);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->width, 1280);
  EXPECT_EQ(out->height, 720);
  EXPECT_EQ(out->rotation_degrees, 0);
  EXPECT_GT(report->processed_faces, 15) << "faces are only found when frames are upright";
}

// Also with a large sharp source (jesper.jpg) and 20-frame chunks: until session 16 the tracker
// fitted each face's pose to its track's first shape, and a chunk's tracks start in its warm-up,
// so their poses and shapes differed from the single pass's for good (frames 26 and 29: 38.5 dB).
// Now every track fits to the generic frontal face (face_tracker.cpp, canonical_reference).
TEST_F(VideoJobTest, ChunkedOutputMatchesSinglePassFrameForFrame) {
  for (const auto& [source, chunk_frames] : {std::pair{"photos/astronaut.png", 25}, {"photos/jesper.jpg", 20}}) {
    SCOPED_TRACE(source);
    auto single = spec("talking_head_640x480.mp4", "single.mp4");
    auto chunked = spec("talking_head_640x480.mp4", "chunked.mp4");
    single.sources = chunked.sources = {testdata(source)};
    chunked.video.chunk_frames = chunk_frames;  // 68 frames → 3–4 chunks, boundaries inside the clip
    ASSERT_TRUE(pipeline::run_job(single));
    ASSERT_TRUE(pipeline::run_job(chunked));
    auto a = media::probe_video(single.output);
    auto b = media::probe_video(chunked.output);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->frame_count, b->frame_count);
    EXPECT_NEAR(a->duration_sec, b->duration_sec, 1e-3);
    auto fa = read_video_frames(single.output);
    auto fb = read_video_frames(chunked.output);
    ASSERT_EQ(fa.size(), fb.size());
    double worst = 100.0;
    for (size_t i = 0; i < fa.size(); ++i) worst = std::min(worst, psnr_db(fa[i], fb[i]));
    std::printf("[ chunks ] %s, %d-frame chunks: worst frame %.1f dB against the single pass\n", source, chunk_frames,
                worst);
    EXPECT_GE(worst, kMinChunkPsnrDb) << "worst frame PSNR between chunked and single-pass output";
    expect_no_temp_files();
  }
}

TEST_F(VideoJobTest, CancellationLeavesNoOutputAndNoTempFiles) {
  auto s = spec("face_720p.mp4", "cancelled.mp4");
  pipeline::CancelToken cancel;
  auto report = pipeline::run_job(
      s, [&](const pipeline::ProgressEvent& e) {
        if (e.frames_done >= 10) cancel.cancel();
      },
      &cancel);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.status().code(), StatusCode::kCancelled);
  EXPECT_FALSE(std::filesystem::exists(s.output));
  expect_no_temp_files();
}

TEST_F(VideoJobTest, FailureLeavesNoOutputAndNoTempFiles) {
  // corrupt_middle.mkv decodes until frame 50, so the job fails mid-way with a segment half
  // written; truncated.mkv is refused when probed, before any work.
  for (const char* file : {"corrupt_middle.mkv", "truncated.mkv"}) {
    auto s = spec(file, "broken.mp4");
    auto report = pipeline::run_job(s);
    ASSERT_FALSE(report) << file << " was processed as if it were whole";
    EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument) << report.status().to_string();
    EXPECT_FALSE(std::filesystem::exists(s.output));
  }
  expect_no_temp_files();
}

TEST_F(VideoJobTest, BadVideoInputsGetClearErrors) {
  struct Case {
    const char* file;
    StatusCode code;
    const char* message;
  };
  for (const Case& c : {Case{"audio_only.m4a", StatusCode::kInvalidArgument, "video"},
                        Case{"unknown_codec.avi", StatusCode::kUnsupported, "codec"},
                        Case{"truncated.mp4", StatusCode::kInvalidArgument, ""}}) {
    auto s = spec(c.file, "bad.mp4");
    auto report = pipeline::run_job(s);
    ASSERT_FALSE(report) << c.file;
    EXPECT_EQ(report.status().code(), c.code) << c.file << ": " << report.status().to_string();
    EXPECT_NE(report.status().message().find(c.message), std::string::npos) << report.status().message();
    EXPECT_FALSE(std::filesystem::exists(s.output));
  }
  expect_no_temp_files();
}

TEST_F(VideoJobTest, OddSizesAndVariableFrameRateGiveValidOutput) {
  for (const char* file : {"odd_641x361.ts", "vfr.mkv"}) {
    auto s = spec(file, std::string("ok_") + file + ".mp4");
    auto report = pipeline::run_job(s);
    ASSERT_TRUE(report) << file << ": " << report.status().to_string();
    auto in = media::probe_video(s.target);
    auto out = media::probe_video(s.output);
    ASSERT_TRUE(in && out);
    EXPECT_EQ(out->width % 2, 0);
    EXPECT_EQ(out->height % 2, 0);
    EXPECT_EQ(out->frame_count, report->frames);
    EXPECT_NEAR(out->duration_sec, in->duration_sec, 0.1) << file;
  }
}

TEST_F(VideoJobTest, FacesInOnlySomeFramesAreSwappedThereAndTheRestPassesThrough) {
  auto s = spec("face_middle_third.mp4", "partial.mp4");
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  auto in = media::probe_video(s.target);
  ASSERT_TRUE(in);
  EXPECT_EQ(report->frames, in->frame_count);
  EXPECT_GT(report->processed_faces, in->frame_count / 4);
  EXPECT_LT(report->processed_faces, in->frame_count * 2 / 3);
}

// Decoded samples of every frame (empty frames when the reader cannot keep them).
std::vector<media::YuvFrame> read_yuv(const std::filesystem::path& path) {
  std::vector<media::YuvFrame> frames;
  auto reader = media::VideoReader::open(path);
  EXPECT_TRUE(reader) << reader.status().to_string();
  if (!reader) return frames;
  cv::Mat bgr;
  media::YuvFrame yuv;
  int64_t index = 0;
  while (true) {
    auto more = (*reader)->read(bgr, index, &yuv);
    EXPECT_TRUE(more) << more.status().to_string();
    if (!more || !*more) break;
    frames.push_back(yuv.clone());
  }
  return frames;
}

double identical_fraction(const cv::Mat& a, const cv::Mat& b) {
  return static_cast<double>(cv::countNonZero(a == b)) / static_cast<double>(a.total());
}

// Quality 100 is lossless x264 (CRF 0), so what the encoder got is what decodes: frames without
// a face must come out sample for sample as decoded (no YUV→BGR→YUV rounding), and frames with
// one changed only around the face.
TEST_F(VideoJobTest, SamplesOutsideTheSwappedFacesPassThroughUnchanged) {
  auto s = spec("face_middle_third.mp4", "lossless.mp4");
  s.video.quality = 100;
  auto plan = pipeline::plan_video_job(s);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->pass_through_matrix, media::YuvMatrix::kBt601) << "untagged yuv420p reads as BT.601";
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  auto source = read_yuv(s.target);
  auto output = read_yuv(s.output);
  ASSERT_EQ(source.size(), output.size());
  int untouched = 0, swapped = 0;
  for (size_t i = 0; i < source.size(); ++i) {
    ASSERT_FALSE(source[i].empty() || output[i].empty());
    double same = identical_fraction(source[i].y, output[i].y);
    if (same == 1.0) {
      ++untouched;
      EXPECT_EQ(cv::norm(source[i].u, output[i].u, cv::NORM_INF), 0.0) << "frame " << i;
      EXPECT_EQ(cv::norm(source[i].v, output[i].v, cv::NORM_INF), 0.0) << "frame " << i;
    } else {
      ++swapped;
      EXPECT_GT(same, 0.8) << "frame " << i << ": more than the face region changed";
    }
  }
  // The face is in the middle third (frames 50–99): the other 100 frames are untouched. In
  // particular no face is pasted after the cut at frame 100, where the tracker bridges the lost
  // track for a few frames (it never comes back, so those frames are not swapped).
  EXPECT_EQ(untouched, 100);
  EXPECT_EQ(swapped, 50);
  auto out = media::probe_video(s.output);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->colour_space, "smpte170m");
}

TEST_F(VideoJobTest, RotatedOrScaledTargetsAreConvertedWhole) {
  auto rotated = pipeline::plan_video_job(spec("face_720p_rotated.mp4", "r.mp4"));
  ASSERT_TRUE(rotated);
  EXPECT_FALSE(rotated->pass_through_matrix);
  auto s = spec("face_middle_third.mp4", "scaled.mp4");
  s.video.scale = 0.5;
  auto scaled = pipeline::plan_video_job(s);
  ASSERT_TRUE(scaled);
  EXPECT_FALSE(scaled->pass_through_matrix);
}

TEST_F(VideoJobTest, VideoFrameToImage) {
  auto s = spec("face_720p.mp4", "frame.png");
  s.video.frame_number = 42;
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  EXPECT_EQ(report->processed_faces, 1);
  EXPECT_TRUE(std::filesystem::exists(s.output));
}

// Issue 17, "in video the mouth freezes", through the whole video pipeline (detection every few
// frames, tracking, the reduced-copy swap of a large face, encoding): the real talking-head clip as a
// 720p shot whose face fills a third of the frame, 272 frames (the 68 real ones forward and back,
// twice), swapped with a still source whose mouth is open in a smile. The result, re-analysed every
// 2nd frame, keeps talking and blinking: its mouth-open ratio follows the target's with a correlation
// ≥ 0.8 and spans ≥ 0.8× its range (the bounds; measured 0.92 and 0.97×), and its eyes
// follow the target's (eye-open correlation measured 0.74, bound 0.7) and close where it blinks:
// at the tenth of the frames where the target's eyes are least open (eye-open ratio 0.09–0.21
// against a median of 0.24) the result's are 0.88× their median (bound 0.92; 1.0 = never
// closing). Not yet the target's depth: the tracker's smoothing flattens 3-frame blinks, and
// re-detection reads a closed eye inside the new face as half open (docs/decisions/0006).
// A face seen in profile (sample2.jpg's woman on the left): dlib's 68 points lie across her cheek
// and hair, and a swap onto them was torn. The video pipeline decides it per track at each
// detection (Face::profile_fade): that face is left as it is on every frame (only re-encoded, the
// frames held back for the next detection too), the two frontal faces beside her are swapped, and
// the job says so.
// Between two detections of a track that disagree the swap fades linearly, out as the head turns
// into profile and in as it turns back; it holds where they agree, after the last one, and a track
// without a sighting yet is swapped fully.
TEST(ProfileFade, RampsBetweenDetectionsThatDisagree) {
  const std::vector<pipeline::TrackSighting> turning = {{0, false}, {5, false}, {10, true}, {15, true}, {20, false}};
  const std::vector<std::pair<int64_t, float>> expected = {
      {0, 0.0f}, {3, 0.0f}, {5, 0.0f}, {6, 0.2f}, {9, 0.8f}, {10, 1.0f},
      {13, 1.0f}, {15, 1.0f}, {16, 0.8f}, {19, 0.2f}, {20, 0.0f}, {27, 0.0f}};
  for (const auto& [frame, fade] : expected) {
    EXPECT_NEAR(pipeline::profile_fade_at(turning, frame), fade, 1e-6f) << "frame " << frame;
  }
  EXPECT_EQ(pipeline::profile_fade_at({{10, true}}, 4), 0.0f);
  EXPECT_EQ(pipeline::profile_fade_at({{10, true}}, 12), 1.0f);
  EXPECT_EQ(pipeline::profile_fade_at({}, 3), 0.0f);
}

// A track's glasses decision averages the bridge scores of its last 3 detections up to the next
// one (at most 4 frames on): the weight is 0 up to a mean of 0.35 and 1 from 0.55.
TEST(GlassesWeight, AveragesTheTracksLastDetectionsUpToTheNextOne) {
  auto sighting = [](int64_t frame, float bridge) { return pipeline::TrackSighting{frame, false, bridge}; };
  const std::vector<pipeline::TrackSighting> seen = {sighting(0, 0.1f), sighting(5, 0.9f), sighting(10, 0.5f),
                                                     sighting(15, 0.3f), sighting(30, 0.2f)};
  const std::vector<std::pair<int64_t, float>> expected = {
      {0, 0.0f},     // 0.1 alone (frame 5 is not this frame's next detection: it is frame 0's own)
      {1, 0.75f},    // 0.1, 0.9: 0.5
      {5, 0.75f},    // the same two
      {8, 0.75f},    // 0.1, 0.9, 0.5: 0.5
      {11, 1.0f},    // 0.9, 0.5, 0.3: 0.57
      {20, 1.0f},    // the same three: frame 30 is no next detection of frame 20
      {26, 0.0f}};   // 0.5, 0.3, 0.2: 0.33
  for (const auto& [frame, weight] : expected) {
    EXPECT_NEAR(pipeline::glasses_weight_at(seen, frame), weight, 1e-5f) << "frame " << frame;
  }
  EXPECT_EQ(pipeline::glasses_weight_at({}, 7), 0.0f);
}

// A track's yaw, which decides the source's mirroring (Face::track_yaw), is the mean over the same
// sightings as the glasses: a face near the threshold does not flip the mirror image per frame.
TEST(TrackYaw, AveragesTheTracksLastDetectionsUpToTheNextOne) {
  auto sighting = [](int64_t frame, float yaw) { return pipeline::TrackSighting{frame, false, 0.0f, 0.0f, yaw}; };
  const std::vector<pipeline::TrackSighting> seen = {sighting(0, 0.07f), sighting(5, 0.10f), sighting(10, 0.06f),
                                                     sighting(15, 0.11f)};
  EXPECT_NEAR(pipeline::track_yaw_at(seen, 0), 0.07f, 1e-6f);
  EXPECT_NEAR(pipeline::track_yaw_at(seen, 3), 0.085f, 1e-6f);  // 0.07, 0.10 (the next detection)
  EXPECT_NEAR(pipeline::track_yaw_at(seen, 12), 0.09f, 1e-6f);  // 0.10, 0.06, 0.11
  EXPECT_EQ(pipeline::track_yaw_at({}, 7), 0.0f);
}

TEST_F(VideoJobTest, AFaceInProfileIsLeftAsItIs) {
  auto s = spec("profile_group_720p.mp4", "profile.mp4");
  JobFrames job;
  ASSERT_NO_FATAL_FAILURE(run_and_read(s, job));
  const auto& [report, input, output, analyser] = job;
  bool warned = false;
  for (const auto& w : report.warnings) warned |= w.find("seen from the side (profile) were left as they are") != std::string::npos;
  EXPECT_TRUE(warned);
  auto faces = analyser->analyse(input.front());
  ASSERT_TRUE(faces);
  int profiles = 0, frontals = 0;
  for (const auto& f : *faces) {
    const cv::Rect box = cv::Rect(f.box) & cv::Rect(0, 0, input.front().cols, input.front().rows);
    double change = 0;  // mean |output − input| over the face box, grey levels, over every 5th frame
    int measured = 0;
    for (size_t i = 0; i < input.size(); i += 5, ++measured) {
      change += cv::mean(cv::abs(cv::Mat_<cv::Vec3f>(output[i](box)) - cv::Mat_<cv::Vec3f>(input[i](box))))[0];
    }
    change /= measured;
    const bool profile = face::seen_from_the_side(f);
    std::printf("[ profile ] face at %d,%d (%s): mean change %.1f grey levels\n", box.x + box.width / 2,
                box.y + box.height / 2, profile ? "profile" : "frontal", change);
    if (profile) {
      ++profiles;
      EXPECT_LT(change, 2.5) << "the face in profile was changed beyond the re-encoding";
    } else {
      ++frontals;
      EXPECT_GT(change, 4.0) << "a frontal face was not swapped";
    }
  }
  EXPECT_EQ(profiles, 1);
  EXPECT_EQ(frontals, 2);
}

// A still shot (profile_group_720p.mp4: one photo held for 50 frames) comes out still: the swapped
// faces do not shimmer. dlib's points on a face depend on the box they start from; a followed face
// started each frame from a box that moved with the smoothed points, and a detection from the
// detector's own box, so the points wandered by ~0.5 px per frame on a static face and jumped by
// 3–4 px at every detection, which the smoothing turned into a face drifting back and forth.
// FaceAnalyser::follow now holds the box while the face stays, and detection frames follow a face
// already tracked (FaceAnalyser::settle). Measured as the mean |frame − previous frame| over each
// swapped face's box, grey levels, from frame 10 on (the first frames settle the tracker): 0.39 /
// 1.45 before, 0.13 / 0.11 after; the target itself changes by 0.05 (re-encoding).
TEST_F(VideoJobTest, AStillShotComesOutStill) {
  auto s = spec("profile_group_720p.mp4", "still.mp4");
  JobFrames job;
  ASSERT_NO_FATAL_FAILURE(run_and_read(s, job));
  const auto& [report, input, output, analyser] = job;
  auto faces = analyser->analyse(input.front());
  ASSERT_TRUE(faces);
  int frontals = 0;
  for (const auto& f : *faces) {
    if (face::seen_from_the_side(f)) continue;  // left as it is (AFaceInProfileIsLeftAsItIs)
    ++frontals;
    const cv::Rect box = cv::Rect(f.box) & cv::Rect(0, 0, input.front().cols, input.front().rows);
    auto steps = [&](const std::vector<cv::Mat>& frames) {
      double sum = 0;
      int n = 0;
      for (size_t i = 10; i < frames.size(); ++i, ++n) {
        sum += cv::mean(cv::abs(cv::Mat_<cv::Vec3f>(frames[i](box)) - cv::Mat_<cv::Vec3f>(frames[i - 1](box))))[0];
      }
      return n > 0 ? sum / n : 0.0;
    };
    const double target_step = steps(input), swapped_step = steps(output);
    std::printf("[ still shot ] face at %d,%d: frame-to-frame change %.2f grey levels (target %.2f)\n",
                box.x + box.width / 2, box.y + box.height / 2, swapped_step, target_step);
    EXPECT_LT(swapped_step, 0.25) << "the swapped face moves on a still picture";
  }
  EXPECT_EQ(frontals, 2);
}

// A head turning into profile (profile_turn_640.mp4: sample2.jpg's frontal face dissolving into
// its face in profile at the same place, frames 20-29): the detection on frame 25 still sees a
// frontal face, the one on frame 30 a face in profile, and the swap fades out over the frames
// between them (Face::profile_fade) instead of staying at full strength on points that no longer
// fit the face and stopping at once. Change = mean |output − input| over the face's box, grey levels.
TEST_F(VideoJobTest, AHeadTurningIntoProfileFadesOut) {
  auto s = spec("profile_turn_640.mp4", "turn.mp4");
  JobFrames job;
  ASSERT_NO_FATAL_FAILURE(run_and_read(s, job));
  const auto& [report, input, output, analyser] = job;
  ASSERT_EQ(input.size(), 60u);
  // The box around both faces (frontal at the start, in profile at the end).
  cv::Rect box;
  for (size_t i : {size_t{0}, input.size() - 1}) {
    auto faces = analyser->analyse(input[i]);
    ASSERT_TRUE(faces && !faces->empty());
    box |= cv::Rect(face::largest_face(*faces)->box);
  }
  box &= cv::Rect(0, 0, input.front().cols, input.front().rows);
  std::vector<double> change;
  for (size_t i = 0; i < input.size(); ++i) {
    change.push_back(cv::mean(cv::abs(cv::Mat_<cv::Vec3f>(output[i](box)) - cv::Mat_<cv::Vec3f>(input[i](box))))[0]);
  }
  auto mean_over = [&](size_t first, size_t last) {
    return std::accumulate(change.begin() + first, change.begin() + last + 1, 0.0) / static_cast<double>(last - first + 1);
  };
  const double swapped = mean_over(20, 25), fading = mean_over(26, 29), left = mean_over(30, 59);
  std::printf("[ turn ] change: swapped (frames 20-25) %.1f, fading (26-29) %.1f [%.1f %.1f %.1f %.1f], "
              "in profile (30-59) %.1f grey levels\n", swapped, fading, change[26], change[27], change[28],
              change[29], left);
  EXPECT_GT(swapped, 4.0) << "the frontal face was not swapped";
  EXPECT_LT(left, 2.5) << "the face in profile was changed beyond the re-encoding";
  // Faded: clearly less than the full swap, clearly more than none, and falling.
  EXPECT_LT(fading, 0.8 * swapped);
  EXPECT_GT(fading, left + 0.2 * (swapped - left));
  EXPECT_GT(change[26] + change[27], change[28] + change[29]);
}

// Thin rimless glasses on a soft talking head (talking_head_640x480.mp4): a single frame's check
// finds them on only some frames, and a swap that kept them there and painted them over elsewhere
// made them flicker. The video pipeline decides per track (Face::glasses_weight), so the frame is
// kept on every frame. Measured per frame: mean |output − input| (grey levels) over the input's
// glasses frame (face::glasses_frame_mask with the decision forced).
TEST_F(VideoJobTest, ATracksGlassesAreKeptOnEveryFrame) {
  auto s = spec("talking_head_640x480.mp4", "glasses.mp4");
  s.video.quality = 90;
  JobFrames job;
  ASSERT_NO_FATAL_FAILURE(run_and_read(s, job));
  const auto& [report, input, output, analyser] = job;
  std::vector<double> change;
  for (size_t i = 0; i < input.size(); ++i) {
    auto faces = analyser->analyse(input[i]);
    ASSERT_TRUE(faces);
    if (faces->empty()) continue;
    const cv::Mat glasses = face::glasses_frame_mask(input[i], face::largest_face(*faces)->landmarks68, nullptr, 1.0f);
    ASSERT_FALSE(glasses.empty());
    cv::Mat in_gray, out_gray, diff;
    cv::cvtColor(input[i], in_gray, cv::COLOR_BGR2GRAY);
    cv::cvtColor(output[i], out_gray, cv::COLOR_BGR2GRAY);
    cv::absdiff(in_gray, out_gray, diff);
    change.push_back(cv::mean(diff, glasses > 0.5f)[0]);
  }
  ASSERT_GT(change.size(), input.size() * 9 / 10);
  std::vector<double> sorted = change;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2], worst_tenth = sorted[sorted.size() * 9 / 10];
  std::printf("[ glasses ] change on the frame over %zu frames: median %.1f, 90th percentile %.1f, worst %.1f grey levels\n",
              sorted.size(), median, worst_tenth, sorted.back());
  EXPECT_LT(worst_tenth, 8.0) << "the glasses were painted over on some frames";
}

// Issue 17, "soft at 100 %", in video: a face larger than 192 px (whatever the source's) is swapped
// on a reduced copy to keep up with the frame rate (FaceSwapper::swap_reduced). The zoom clip's
// 600–730 px faces are reduced to about a third, and composited as the upsampled swapped copy the
// inner face had 0.26–0.35× the target's Laplacian energy (face/inner_face_sharpness.h): smooth,
// waxy skin in a sharp frame. Only the swap's change is upsampled now, so the finer band stays the
// target's own: 0.91–1.03× over the whole clip (with a 256 px copy; the 192 px one: 1.01–1.03× on
// its first second). Bound the 0.8×, on the clip's first second.
TEST_F(VideoJobTest, ALargeFaceKeepsTheTargetsFineDetail) {
  auto s = spec("bench_720p_30s.mp4", "zoom.mp4");
  s.video.trim_frame_end = 25;
  s.video.quality = 90;
  JobFrames job;
  ASSERT_NO_FATAL_FAILURE(run_and_read(s, job));
  const auto& [report, input, output, analyser] = job;
  std::vector<double> ratios;
  for (size_t i = 0; i < input.size(); i += 4) {
    auto faces = analyser->analyse(input[i]);
    ASSERT_TRUE(faces);
    ASSERT_FALSE(faces->empty()) << "frame " << i;
    const auto& points = face::largest_face(*faces)->landmarks68;
    ASSERT_GT(face::face_size(points), 500.0f) << "frame " << i << ": the face must be larger than the reduced copy";
    ratios.push_back(face::inner_face_sharpness_ratio(input[i], output[i], points));
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("[ sharpness ] %zu frames of 600+ px video faces: worst %.2f, median %.2f x the target's\n",
              ratios.size(), ratios.front(), ratios[ratios.size() / 2]);
  EXPECT_GE(ratios.front(), 0.8);
}

// Issue 17, "in video the mouth freezes" and "blinks kept", on the real talking-head clip (every
// other frame re-analysed). Blinks: the tracker's smoothing left a blink's closed frames half open,
// too open for the swapper's blink check, so the swapped eyes stayed open (eye correlation 0.76,
// eyes at the target's blinks 0.86-0.88x their median); the check now reads each frame's own
// points (Face::unsmoothed_eye_open): 0.90 and 0.78-0.80x.
TEST_F(VideoJobTest, ATalkingHeadKeepsTalkingAndBlinking) {
  auto s = spec("talking_head_720p.mp4", "talking.mp4");
  s.video.quality = 90;
  JobFrames job;
  ASSERT_NO_FATAL_FAILURE(run_and_read(s, job));
  const auto& [report, input, output, analyser] = job;
  std::vector<double> target_mouth, result_mouth, target_eyes, result_eyes, sharpness;
  for (size_t i = 0; i < input.size(); i += 2) {
    auto t = analyser->analyse(input[i]);
    auto r = analyser->analyse(output[i]);
    ASSERT_TRUE(t && r);
    if (t->empty() || r->empty()) continue;
    const auto& tp = face::largest_face(*t)->landmarks68;
    const auto& rp = face::largest_face(*r)->landmarks68;
    sharpness.push_back(face::inner_face_sharpness_ratio(input[i], output[i], tp));
    target_mouth.push_back(face::mouth_open_ratio(tp));
    result_mouth.push_back(face::mouth_open_ratio(rp));
    target_eyes.push_back(face::eye_open_ratio(tp));
    result_eyes.push_back(face::eye_open_ratio(rp));
  }
  ASSERT_GE(target_mouth.size(), input.size() / 2 - 4) << "faces missing in the target or the result";
  const auto mouth_follows = pearson_correlation(target_mouth, result_mouth);
  const auto eyes_follow = pearson_correlation(target_eyes, result_eyes);
  ASSERT_TRUE(mouth_follows && eyes_follow) << "the target's or the result's mouth or eyes never moved";
  const double mouth_range = percentile_spread(result_mouth) / percentile_spread(target_mouth);
  // The blink frames: the tenth of the frames where the target's eyes are least open.
  std::vector<size_t> order(target_eyes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return target_eyes[a] < target_eyes[b]; });
  std::vector<double> result_at_blinks;
  for (size_t k = 0; k < std::max<size_t>(1, order.size() / 10); ++k) result_at_blinks.push_back(result_eyes[order[k]]);
  std::vector<double> sorted_result = result_eyes;
  std::sort(sorted_result.begin(), sorted_result.end());
  const double result_median = sorted_result[sorted_result.size() / 2];
  const double blink_depth = std::accumulate(result_at_blinks.begin(), result_at_blinks.end(), 0.0) /
                             static_cast<double>(result_at_blinks.size()) / result_median;
  std::sort(sharpness.begin(), sharpness.end());
  const double sharpness_median = sharpness[sharpness.size() / 2];
  std::printf(
      "[ talking head 720p ] %zu frames: mouth correlation %.2f, range %.2f x; eye correlation %.2f, "
      "eyes at the target's blinks %.2f x the result's median; inner-face sharpness %.2f-%.2f x the "
      "target's, median %.2f\n",
      target_mouth.size(), *mouth_follows, mouth_range, *eyes_follow, blink_depth, sharpness.front(), sharpness.back(),
      sharpness_median);
  EXPECT_GE(*mouth_follows, 0.8);
  EXPECT_GE(mouth_range, 0.8);
  EXPECT_GE(*eyes_follow, 0.85);
  EXPECT_LE(blink_depth, 0.85);
  // The sharp source on this soft clip is softened toward the clip's sharpness (FaceSwapper,
  // kVideoSoftenAbove): 1.68x without (the photo's skin grain and smile lines stood out at 100 %),
  // 1.42-1.43x with. What stays is not the source's detail: blurred by a sigma of 4 px at 192 px it
  // still measures 1.32x (1.20x without the target's glasses rims kept over it), from the kept rims
  // and the target's band finer than the 192 px copy lying over the new face.
  EXPECT_GE(sharpness_median, 0.8);
  EXPECT_LE(sharpness_median, 1.5);
}

// Temporal stability on a real static-camera clip: the swapped face's landmarks move from frame
// to frame no more than 1.2× the target's own, and every frame where the target's face is found
// is swapped (no flashes of the original face).
TEST_F(VideoJobTest, SwappedFaceDoesNotJitterOrFlash) {
  auto s = spec("talking_head_640x480.mp4", "stable.mp4");
  JobFrames job;
  ASSERT_NO_FATAL_FAILURE(run_and_read(s, job));
  const auto& [report, input, output, analyser] = job;

  auto motion = [&](const std::vector<cv::Mat>& frames, std::vector<bool>* found) {
    double total = 0;
    int steps = 0;
    std::vector<cv::Point2f> previous;
    for (const auto& f : frames) {
      auto faces = job.analyser->analyse(f);  // (a structured binding cannot be captured before clang 16)
      bool has = faces && !faces->empty();
      if (found) found->push_back(has);
      if (!has) {
        previous.clear();
        continue;
      }
      const auto& lm = faces->front().landmarks68;
      float iod = static_cast<float>(cv::norm(faces->front().landmarks5[0] - faces->front().landmarks5[1]));
      if (!previous.empty()) {
        double sum = 0;
        for (size_t k = 0; k < lm.size(); ++k) sum += cv::norm(lm[k] - previous[k]);
        total += sum / static_cast<double>(lm.size()) / iod;
        ++steps;
      }
      previous = lm;
    }
    return steps > 0 ? total / steps : 0.0;
  };
  std::vector<bool> target_found;
  double target_motion = motion(input, &target_found);
  double swapped_motion = motion(output, nullptr);
  RecordProperty("target_motion_iod", std::to_string(target_motion));
  RecordProperty("swapped_motion_iod", std::to_string(swapped_motion));
  EXPECT_LE(swapped_motion, 1.2 * target_motion) << "target " << target_motion << ", swapped " << swapped_motion;

  int unswapped = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    if (!target_found[i]) continue;
    cv::Mat diff;
    cv::absdiff(input[i], output[i], diff);
    cv::Scalar mean = cv::mean(diff);
    if (mean[0] + mean[1] + mean[2] < 1.0) ++unswapped;  // only re-encoding noise: not swapped
  }
  EXPECT_EQ(unswapped, 0) << "frames with a detected face left unswapped";
}

}  // namespace
}  // namespace facefuse::testing
