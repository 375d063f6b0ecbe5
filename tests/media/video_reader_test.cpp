// Video probing and reading on the clips made by scripts/make_test_videos: synthetic
// compositions of real photos (slow zoom/pan over a still face), the real talking-head clip and
// its upscaled copy, plus broken files (truncated, text named .mp4, audio only, unknown codec).
// Expected values below are what the script generates (see its header).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/video_probe.h"
#include "facefuse/media/video_reader.h"
#include "support/test_support.h"

extern "C" {
#include <libavutil/mem.h>
}

namespace facefuse::testing {
namespace {

using media::VideoInfo;
using media::VideoReader;

std::filesystem::path video(const std::string& name) { return testdata("videos/" + name); }

struct ExpectedClip {
  std::string name;
  int64_t frames;
  double fps;
  int width, height;              // displayed
  int coded_width, coded_height;  // stored
  int rotation;
  double duration;
  std::string codec;
  std::string container_part;     // a name of the demuxer
  bool vfr;
};

// What scripts/make_test_videos makes (and the real talking_head.avi from scripts/setup).
const std::vector<ExpectedClip>& clips() {
  static const std::vector<ExpectedClip> kClips = {
      {"face_720p.mp4", 100, 25, 1280, 720, 1280, 720, 0, 4.0, "h264", "mp4", false},
      {"face_1080p.mp4", 100, 25, 1920, 1080, 1920, 1080, 0, 4.0, "h264", "mp4", false},
      {"face_720p_rotated.mp4", 100, 25, 1280, 720, 720, 1280, 90, 4.0, "h264", "mp4", false},
      {"odd_641x361.ts", 75, 25, 641, 361, 641, 361, 0, 3.0, "h264", "mpegts", false},
      {"face_middle_third.mp4", 150, 25, 640, 360, 640, 360, 0, 6.0, "h264", "mp4", false},
      {"talking_head_640x480.mp4", 68, 25, 640, 480, 640, 480, 0, 2.72, "h264", "mp4", false},
      {"talking_head.avi", 68, 500000.0 / 33333, 160, 120, 160, 120, 0, 4.533, "mjpeg", "avi", false},
      // Frame times 40·N + 30·floor(N/3) + 10·(N mod 2) ms: the last frame starts at 4.96 s.
      {"vfr.mkv", 100, 100 / 5.0, 640, 360, 640, 360, 0, 5.0, "h264", "matroska", true},
  };
  return kClips;
}

// Reads from the reader's position to the end.
struct ReadAll {
  int64_t count = 0;
  bool indices_consecutive = true;
  Status error;
  std::map<int64_t, cv::Mat> kept;  // copies of the frames asked for
};

ReadAll read_all(VideoReader& reader, const std::vector<int64_t>& keep = {}) {
  ReadAll out;
  cv::Mat frame;
  int64_t index = -1;
  const int64_t first = reader.position();
  while (true) {
    auto got = reader.read(frame, index);
    if (!got) {
      out.error = got.status();
      break;
    }
    if (!*got) break;
    if (index != first + out.count) out.indices_consecutive = false;
    if (std::find(keep.begin(), keep.end(), index) != keep.end()) out.kept[index] = frame.clone();
    ++out.count;
  }
  return out;
}

double correlation(const cv::Mat& a_bgr, const cv::Mat& b_bgr) {
  cv::Mat a, b, r;
  cv::cvtColor(a_bgr, a, cv::COLOR_BGR2GRAY);
  cv::cvtColor(b_bgr, b, cv::COLOR_BGR2GRAY);
  cv::matchTemplate(a, b, r, cv::TM_CCOEFF_NORMED);
  return r.at<float>(0, 0);
}

TEST(VideoProbe, ReportsWhatTheGeneratorMade) {
  for (const auto& c : clips()) {
    SCOPED_TRACE(c.name);
    auto info = media::probe_video(video(c.name));
    ASSERT_TRUE(info) << info.status().to_string();
    EXPECT_EQ(info->frame_count, c.frames);
    EXPECT_NEAR(info->fps, c.fps, c.vfr ? 0.5 : 1e-3);
    EXPECT_NEAR(static_cast<double>(info->fps_num) / info->fps_den, info->fps, 1e-9);
    EXPECT_EQ(info->width, c.width);
    EXPECT_EQ(info->height, c.height);
    EXPECT_EQ(info->coded_width, c.coded_width);
    EXPECT_EQ(info->coded_height, c.coded_height);
    EXPECT_EQ(info->rotation_degrees, c.rotation);
    EXPECT_NEAR(info->duration_sec, c.duration, c.vfr ? 0.1 : 0.02);
    EXPECT_EQ(info->codec, c.codec);
    EXPECT_NE(info->container.find(c.container_part), std::string::npos) << info->container;
    EXPECT_EQ(info->variable_frame_rate, c.vfr);
    EXPECT_GE(info->stream_index, 0);
    EXPECT_FALSE(info->pixel_format.empty());
    ASSERT_EQ(info->audio.size(), 1u) << "every test clip has one audio track";
  }
}

TEST(VideoProbe, DescribesAudioStreams) {
  auto made = media::probe_video(video("face_720p.mp4"));
  ASSERT_TRUE(made) << made.status().to_string();
  ASSERT_EQ(made->audio.size(), 1u);
  EXPECT_EQ(made->audio[0].codec, "aac");
  EXPECT_EQ(made->audio[0].sample_rate, 48000);
  EXPECT_EQ(made->audio[0].channels, 2);
  EXPECT_NEAR(made->audio[0].duration_sec, 4.0, 0.05);
  EXPECT_NE(made->audio[0].stream_index, made->stream_index);

  auto real = media::probe_video(video("talking_head.avi"));  // the real clip's own audio
  ASSERT_TRUE(real) << real.status().to_string();
  ASSERT_EQ(real->audio.size(), 1u);
  EXPECT_EQ(real->audio[0].codec, "pcm_u8");
  EXPECT_EQ(real->audio[0].sample_rate, 11024);
  EXPECT_EQ(real->audio[0].channels, 1);
  EXPECT_EQ(real->pixel_format, "yuvj422p");
}

// fuzz_video_probe: a 2.7 KB MP4 whose header counts made FFmpeg's mov demuxer ask for 1.7 GB at
// once (fuzz/corpus/video_probe/crash-oom-mov-header-count). The allocation is refused by the cap
// configure_ffmpeg sets, and the probe fails with a message instead.
TEST(VideoProbe, DamagedHeaderCountsCannotAllocateGigabytes) {
  const auto path = std::filesystem::path(FACEFUSE_SOURCE_DIR) / "fuzz/corpus/video_probe/crash-oom-mov-header-count";
  ASSERT_TRUE(std::filesystem::exists(path));
  // The 1.7 GB was asked for while the demuxer read the header, in looks_like_video's open: refused,
  // so the file is no video; probed directly it fails with a message.
  EXPECT_FALSE(media::looks_like_video(path));
  auto info = media::probe_video(path);
  ASSERT_FALSE(info.is_ok()) << "a damaged file probed as a video";
  EXPECT_FALSE(info.status().message().empty());
  // The cap itself: FFmpeg now refuses one allocation over it and grants one under it.
  media::detail::configure_ffmpeg();
  void* over = av_malloc(media::detail::kFfmpegMaxAllocBytes + 1);
  EXPECT_EQ(over, nullptr);
  av_free(over);
  void* under = av_malloc(64 << 20);
  EXPECT_NE(under, nullptr);
  av_free(under);
}

// fuzz_video_probe: a 5.4 KB stream whose frame rate could be neither read nor worked out from its
// duration (fuzz/corpus/video_probe/crash-zero-frame-rate) was probed with a rate of 0, which the
// encoder would have been handed. The probe now assumes 25 fps, as players do.
TEST(VideoProbe, AStreamWithNoUsableFrameRateIsAssumed25Fps) {
  const auto path = std::filesystem::path(FACEFUSE_SOURCE_DIR) / "fuzz/corpus/video_probe/crash-zero-frame-rate";
  ASSERT_TRUE(std::filesystem::exists(path));
  auto info = media::probe_video(path);
  ASSERT_TRUE(info.is_ok()) << info.status().message();
  std::printf("  %lld frames, %d/%d fps, %.3f s\n", static_cast<long long>(info->frame_count), info->fps_num,
              info->fps_den, info->duration_sec);
  EXPECT_GT(info->fps_num, 0);
  EXPECT_GT(info->fps_den, 0);
  EXPECT_GT(info->fps, 0.0);
  EXPECT_GT(info->duration_sec, 0.0);
}

TEST(VideoProbe, MissingFileIsNotFound) {
  TempDir dir;
  auto info = media::probe_video(dir / "nope.mp4");
  ASSERT_FALSE(info);
  EXPECT_EQ(info.status().code(), StatusCode::kNotFound);
  EXPECT_NE(info.status().message().find("nope.mp4"), std::string::npos);
}

TEST(VideoProbe, TextFileNamedMp4IsInvalidArgument) {
  auto info = media::probe_video(video("fake/clip.mp4"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("not a video file"), std::string::npos) << info.status().message();
}

TEST(VideoProbe, AudioOnlyFileHasNoVideoStream) {
  auto info = media::probe_video(video("audio_only.m4a"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("no video stream"), std::string::npos) << info.status().message();
}

TEST(VideoProbe, UnknownCodecIsUnsupportedAndNamed) {
  auto info = media::probe_video(video("unknown_codec.avi"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(info.status().message().find("XVQZ"), std::string::npos) << info.status().message();
}

TEST(VideoProbe, TruncatedMp4IsInvalidArgument) {
  // moov is at the start, so the file opens; its sample table points past the end.
  auto info = media::probe_video(video("truncated.mp4"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("truncated"), std::string::npos) << info.status().message();
  auto reader = VideoReader::open(video("truncated.mp4"));
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
}

TEST(VideoProbe, DirectoryAndEmptyFileAreInvalidArgument) {
  TempDir dir;
  auto d = media::probe_video(dir.path());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  std::ofstream(dir / "empty.mp4").close();
  auto e = media::probe_video(dir / "empty.mp4");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("empty"), std::string::npos);
}

TEST(VideoProbe, LooksLikeVideoSniffsContentNotName) {
  for (const char* name : {"face_720p.mp4", "vfr.mkv", "odd_641x361.ts", "talking_head.avi", "truncated.mkv"}) {
    EXPECT_TRUE(media::looks_like_video(video(name))) << name;
  }
  EXPECT_FALSE(media::looks_like_video(video("fake/clip.mp4")));
  EXPECT_FALSE(media::looks_like_video(video("audio_only.m4a")));
  EXPECT_FALSE(media::looks_like_video(testdata("photos/jesper.jpg")));
  EXPECT_FALSE(media::looks_like_video(testdata("photos/astronaut.png")));
  TempDir dir;
  EXPECT_FALSE(media::looks_like_video(dir.path()));
  EXPECT_FALSE(media::looks_like_video(dir / "missing.mp4"));
  // A video under a misleading name is still a video.
  std::filesystem::copy_file(video("face_720p.mp4"), dir / "holiday.jpg");
  EXPECT_TRUE(media::looks_like_video(dir / "holiday.jpg"));
}

TEST(VideoProbe, DetectsVariableFrameRateFromTimestamps) {
  auto vfr = media::probe_video(video("vfr.mkv"));
  ASSERT_TRUE(vfr) << vfr.status().to_string();
  EXPECT_TRUE(vfr->variable_frame_rate);
  // Re-timing 100 frames at the average rate keeps the ~5 s duration (not the header's 25 fps).
  EXPECT_NEAR(static_cast<double>(vfr->frame_count) / vfr->fps, vfr->duration_sec, 1e-6);
  for (const char* name : {"face_720p.mp4", "odd_641x361.ts", "talking_head.avi"}) {
    auto cfr = media::probe_video(video(name));
    ASSERT_TRUE(cfr) << cfr.status().to_string();
    EXPECT_FALSE(cfr->variable_frame_rate) << name;
  }
}

TEST(VideoReader, SequentialReadReturnsExactlyFrameCountFrames) {
  for (const auto& c : clips()) {
    SCOPED_TRACE(c.name);
    auto reader = VideoReader::open(video(c.name));
    ASSERT_TRUE(reader) << reader.status().to_string();
    const auto& info = (*reader)->info();
    EXPECT_EQ((*reader)->frame_size(), cv::Size(info.width, info.height));
    cv::Mat frame;
    int64_t index = -1;
    auto first = (*reader)->read(frame, index);
    ASSERT_TRUE(first && *first) << first.status().to_string();
    EXPECT_EQ(index, 0);  // also for the MPEG-TS clip whose first pts is 1.48 s
    EXPECT_EQ(frame.type(), CV_8UC3);
    EXPECT_EQ(frame.size(), cv::Size(c.width, c.height));
    cv::Scalar mean, stddev;
    cv::meanStdDev(frame, mean, stddev);
    EXPECT_GT(stddev[0] + stddev[1] + stddev[2], 20.0) << "a real picture, not a flat frame";
    ReadAll rest = read_all(**reader);
    EXPECT_TRUE(rest.error.is_ok()) << rest.error.to_string();
    EXPECT_EQ(1 + rest.count, c.frames);
    EXPECT_TRUE(rest.indices_consecutive);
    // At the end it stays at the end.
    auto again = (*reader)->read(frame, index);
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);
  }
}

TEST(VideoReader, SeekIsFrameAccurateIncludingNonKeyframes) {
  // face_720p: B-frames, keyframes every 25 frames; odd_641x361.ts: first pts 1.48 s; vfr.mkv:
  // irregular timestamps; talking_head.avi: real MJPEG (every frame a keyframe).
  const std::map<std::string, std::vector<int64_t>> kTargets = {
      {"face_720p.mp4", {37, 3, 24, 25, 26, 99, 0, 50, 98, 49, 1}},
      {"odd_641x361.ts", {74, 10, 0, 25, 24, 51, 13}},
      {"vfr.mkv", {60, 5, 99, 33, 34, 0, 76}},
      {"talking_head.avi", {40, 2, 67, 0, 33}},
  };
  for (const auto& [name, targets] : kTargets) {
    SCOPED_TRACE(name);
    std::vector<int64_t> keep = targets;
    for (int64_t k : targets) keep.push_back(k + 1);
    auto sequential = VideoReader::open(video(name));
    ASSERT_TRUE(sequential) << sequential.status().to_string();
    ReadAll reference = read_all(**sequential, keep);
    ASSERT_TRUE(reference.error.is_ok()) << reference.error.to_string();

    auto reader = VideoReader::open(video(name));
    ASSERT_TRUE(reader) << reader.status().to_string();
    cv::Mat frame;
    for (int64_t k : targets) {
      SCOPED_TRACE("frame " + std::to_string(k));
      Status s = (*reader)->seek_to_frame(k);
      ASSERT_TRUE(s.is_ok()) << s.to_string();
      EXPECT_EQ((*reader)->position(), k);
      int64_t index = -1;
      auto got = (*reader)->read(frame, index);
      ASSERT_TRUE(got && *got) << got.status().to_string();
      EXPECT_EQ(index, k);
      ASSERT_EQ(frame.size(), reference.kept.at(k).size());
      EXPECT_EQ(cv::norm(frame, reference.kept.at(k), cv::NORM_INF), 0.0) << "pixels differ from sequential frame";
      // Reading on continues in order.
      if (k + 1 < reference.count) {
        got = (*reader)->read(frame, index);
        ASSERT_TRUE(got && *got) << got.status().to_string();
        EXPECT_EQ(index, k + 1);
        EXPECT_EQ(cv::norm(frame, reference.kept.at(k + 1), cv::NORM_INF), 0.0);
      }
    }
  }
}

TEST(VideoReader, SeekOutsideTheStreamIsInvalidArgument) {
  auto reader = VideoReader::open(video("talking_head_640x480.mp4"));
  ASSERT_TRUE(reader) << reader.status().to_string();
  for (int64_t k : {int64_t{-1}, int64_t{68}, int64_t{1000}}) {
    Status s = (*reader)->seek_to_frame(k);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << k;
  }
  // The reader still works afterwards.
  cv::Mat frame;
  int64_t index = -1;
  auto got = (*reader)->read(frame, index);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(index, 0);
}

TEST(VideoReader, RotatedPhoneClipComesOutUpright) {
  // face_720p_rotated.mp4 holds the frames of face_720p.mp4 stored turned 90° counter-clockwise
  // (720x1280) with a display matrix asking for 90° clockwise.
  auto upright = VideoReader::open(video("face_720p.mp4"));
  auto rotated = VideoReader::open(video("face_720p_rotated.mp4"));
  media::VideoReaderOptions stored_options;
  stored_options.apply_rotation = false;
  auto stored = VideoReader::open(video("face_720p_rotated.mp4"), stored_options);
  ASSERT_TRUE(upright && rotated && stored);
  EXPECT_EQ((*stored)->frame_size(), cv::Size(720, 1280));
  for (int64_t k : {0, 40, 77}) {
    SCOPED_TRACE(k);
    cv::Mat reference, frame, raw;
    int64_t i = -1;
    ASSERT_TRUE((*upright)->seek_to_frame(k).is_ok());
    ASSERT_TRUE((*rotated)->seek_to_frame(k).is_ok());
    ASSERT_TRUE((*stored)->seek_to_frame(k).is_ok());
    ASSERT_TRUE(*(*upright)->read(reference, i));
    ASSERT_TRUE(*(*rotated)->read(frame, i));
    ASSERT_TRUE(*(*stored)->read(raw, i));
    ASSERT_EQ(frame.size(), cv::Size(1280, 720));
    ASSERT_EQ(raw.size(), cv::Size(720, 1280));
    double right = correlation(frame, reference);
    cv::Mat upside_down, raw_ccw;
    cv::rotate(frame, upside_down, cv::ROTATE_180);
    cv::rotate(raw, raw_ccw, cv::ROTATE_90_COUNTERCLOCKWISE);
    EXPECT_GT(right, 0.97) << "same picture as the unrotated clip";
    EXPECT_LT(correlation(upside_down, reference), right - 0.3);
    EXPECT_LT(correlation(raw_ccw, reference), right - 0.3) << "the other quarter turn is wrong";
  }
}

TEST(VideoReader, DecodesOddDimensions) {
  auto reader = VideoReader::open(video("odd_641x361.ts"));
  ASSERT_TRUE(reader) << reader.status().to_string();
  EXPECT_EQ((*reader)->info().pixel_format, "yuv444p");
  cv::Mat frame;
  int64_t index = -1;
  for (int n = 0; n < 10; ++n) {
    auto got = (*reader)->read(frame, index);
    ASSERT_TRUE(got && *got) << got.status().to_string();
    ASSERT_EQ(frame.size(), cv::Size(641, 361));
    // The last column and row hold picture, not padding.
    cv::Scalar mean, stddev;
    cv::meanStdDev(frame.col(640), mean, stddev);
    EXPECT_GT(mean[0] + mean[1] + mean[2], 15.0);
    cv::meanStdDev(frame.row(360), mean, stddev);
    EXPECT_GT(mean[0] + mean[1] + mean[2], 15.0);
  }
}

TEST(VideoReader, TruncatedTsEndsWithAnErrorOrShortCountWithoutHanging) {
  // MPEG-TS has no header that could tell it was cut at 60%: only reading finds the end. Whatever
  // the reader does, it must stop soon and never deliver the 75 frames of the whole clip.
  auto start = std::chrono::steady_clock::now();
  auto reader = VideoReader::open(video("truncated.ts"));
  if (!reader) {
    EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument) << reader.status().to_string();
  } else {
    ReadAll all = read_all(**reader);
    EXPECT_LT(all.count, 75);
    EXPECT_GT(all.count, 30) << "the frames that are there are read";
    if (!all.error.is_ok()) {
      EXPECT_EQ(all.error.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(all.error.message().find("frame " + std::to_string(all.count)), std::string::npos)
          << all.error.message();
      // The error repeats rather than the stream silently ending.
      cv::Mat frame;
      int64_t index = -1;
      auto again = (*reader)->read(frame, index);
      EXPECT_FALSE(again);
    } else {
      EXPECT_EQ(all.count, (*reader)->info().frame_count);
    }
    // Seeking past what is there is refused, not hung on.
    EXPECT_FALSE((*reader)->seek_to_frame(74).is_ok());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(VideoProbe, TruncatedMkvIsInvalidArgument) {
  // Cut at 60%: the DURATION tag the muxer wrote says 4 s, the frames stop at 2 s.
  auto info = media::probe_video(video("truncated.mkv"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("truncated"), std::string::npos) << info.status().message();
}

TEST(VideoReader, DamagedMiddleFailsNamingTheFrameAndSeekRecovers) {
  auto reader = VideoReader::open(video("corrupt_middle.mkv"));
  ASSERT_TRUE(reader) << reader.status().to_string();  // header and packet count look whole
  EXPECT_EQ((*reader)->info().frame_count, 100);
  ReadAll all = read_all(**reader);
  ASSERT_FALSE(all.error.is_ok()) << "read " << all.count << " frames of a damaged file without complaint";
  EXPECT_EQ(all.error.code(), StatusCode::kInvalidArgument);
  EXPECT_GT(all.count, 30);
  EXPECT_LT(all.count, 70);
  EXPECT_NE(all.error.message().find("frame " + std::to_string(all.count)), std::string::npos) << all.error.message();
  cv::Mat frame;
  int64_t index = -1;
  EXPECT_FALSE((*reader)->read(frame, index)) << "the error is sticky";

  // Seeking back before the damage works again, with the same pixels as the intact MP4 (the
  // Matroska file is a stream copy of it).
  ASSERT_TRUE((*reader)->seek_to_frame(10).is_ok());
  auto got = (*reader)->read(frame, index);
  ASSERT_TRUE(got && *got) << got.status().to_string();
  EXPECT_EQ(index, 10);
  auto intact = VideoReader::open(video("face_720p.mp4"));
  ASSERT_TRUE(intact);
  cv::Mat reference;
  ASSERT_TRUE((*intact)->seek_to_frame(10).is_ok());
  ASSERT_TRUE(*(*intact)->read(reference, index));
  EXPECT_EQ(cv::norm(frame, reference, cv::NORM_INF), 0.0);
}

TEST(VideoReader, NeverOverwritesAFrameTheCallerStillHolds) {
  auto reader = VideoReader::open(video("talking_head_640x480.mp4"));
  ASSERT_TRUE(reader) << reader.status().to_string();
  cv::Mat frame;
  int64_t index = -1;
  ASSERT_TRUE(*(*reader)->read(frame, index));
  cv::Mat held = frame;  // e.g. queued for a worker thread
  cv::Mat copy = held.clone();
  ASSERT_TRUE(*(*reader)->read(frame, index));
  EXPECT_NE(frame.data, held.data);
  EXPECT_EQ(cv::norm(held, copy, cv::NORM_INF), 0.0);
  // An unshared buffer is reused: no allocation per frame.
  held.release();
  const uchar* buffer = frame.data;
  ASSERT_TRUE(*(*reader)->read(frame, index));
  EXPECT_EQ(frame.data, buffer);
}

TEST(VideoReader, OpenFailsFastOnBadInputs) {
  EXPECT_EQ(VideoReader::open(video("fake/clip.mp4")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VideoReader::open(video("audio_only.m4a")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VideoReader::open(video("unknown_codec.avi")).status().code(), StatusCode::kUnsupported);
  TempDir dir;
  EXPECT_EQ(VideoReader::open(dir / "missing.mp4").status().code(), StatusCode::kNotFound);
}

// Decodes the 30 s 720p benchmark clip end to end; prints the decode rate (BGR frames/s).
TEST(VideoReaderSlow, ReadsThirtySecondsOf720p) {
  auto reader = VideoReader::open(video("bench_720p_30s.mp4"));
  ASSERT_TRUE(reader) << reader.status().to_string();
  EXPECT_EQ((*reader)->info().frame_count, 750);
  auto start = std::chrono::steady_clock::now();
  ReadAll all = read_all(**reader);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(all.error.is_ok()) << all.error.to_string();
  EXPECT_EQ(all.count, 750);
  double fps = static_cast<double>(all.count) / seconds;
  RecordProperty("decode_fps", std::to_string(fps));
  std::printf("bench_720p_30s.mp4: %lld frames in %.2f s = %.0f fps (H.264 720p -> BGR)\n",
              static_cast<long long>(all.count), seconds, fps);
}

}  // namespace
}  // namespace facefuse::testing
