// VideoWriter and assemble_video on frames cut from a real photo. Outputs are checked by reading
// them back with libavformat/libavcodec directly (frame counts, timestamps, pixel content against
// the frames written, audio duration and content); sources with audio are made by the ffmpeg CLI
// (tests only — the engine never runs it).
#include "facefuse/media/video_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <thread>
#include <vector>

#include "facefuse/media/muxer.h"
#include "facefuse/media/sws_image.h"
#include "support/test_support.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace facefuse::testing {
namespace {

using media::assemble_video;
using media::AudioOptions;
using media::VideoEncoderOptions;
using media::VideoWriter;

// Minimum PSNR between a frame written and the frame read back (CRF 10 on a photo: ~40 dB; a
// colour-matrix or channel-order mistake drops it under 25 dB).
constexpr double kMinPsnrDb = 32.0;

// Frame k: a window of the photo moving right and down by 3 px per frame, resized to `size`.
std::vector<cv::Mat> moving_frames(int count, cv::Size size) {
  static const cv::Mat photo = load_photo("photos/jesper.jpg");
  std::vector<cv::Mat> frames;
  int crop_w = photo.cols * 3 / 4, crop_h = photo.rows * 3 / 4;
  for (int k = 0; k < count; ++k) {
    int x = (k * 3) % (photo.cols - crop_w), y = (k * 2) % (photo.rows - crop_h);
    cv::Mat f;
    cv::resize(photo(cv::Rect(x, y, crop_w, crop_h)), f, size, 0, 0, cv::INTER_AREA);
    frames.push_back(f);
  }
  return frames;
}

Status write_video(const std::filesystem::path& path, const std::vector<cv::Mat>& frames, int64_t first,
                   int64_t last_exclusive, VideoEncoderOptions options = {}) {
  FF_ASSIGN_OR_RETURN(auto writer, VideoWriter::open(path, options, first));
  for (int64_t k = first; k < last_exclusive; ++k) FF_RETURN_IF_ERROR(writer->write(frames[static_cast<size_t>(k)], k));
  return writer->finish();
}

void run_ffmpeg(const std::string& args) {
  std::string cmd = "ffmpeg -nostdin -hide_banner -loglevel error -y " + args;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// --- reading outputs back with libavformat -------------------------------------------------

struct StreamInfo {
  std::string codec;
  std::string pix_fmt;
  std::string codec_tag;
  int width = 0, height = 0, sample_rate = 0;
  AVRational fps{0, 1};
  std::vector<double> pts, dts;  // seconds, in file (decode) order
  std::vector<bool> key;
  std::vector<int> sizes;
  double start = 0, end = 0;  // first pts, max(pts + duration), seconds
};
struct FileInfo {
  std::string format;
  std::vector<StreamInfo> video, audio;
};

FileInfo probe(const std::filesystem::path& path) {
  FileInfo info;
  AVFormatContext* fc = nullptr;
  EXPECT_EQ(avformat_open_input(&fc, path.c_str(), nullptr, nullptr), 0) << path;
  if (fc == nullptr) return info;
  EXPECT_GE(avformat_find_stream_info(fc, nullptr), 0);
  info.format = fc->iformat->name;
  std::vector<StreamInfo*> by_index(fc->nb_streams, nullptr);
  for (unsigned i = 0; i < fc->nb_streams; ++i) {
    AVStream* st = fc->streams[i];
    StreamInfo s;
    s.codec = avcodec_get_name(st->codecpar->codec_id);
    char tag[AV_FOURCC_MAX_STRING_SIZE] = {0};
    av_fourcc_make_string(tag, st->codecpar->codec_tag);
    s.codec_tag = tag;
    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
      const char* pf = av_get_pix_fmt_name(static_cast<AVPixelFormat>(st->codecpar->format));
      s.pix_fmt = pf != nullptr ? pf : "";
      s.width = st->codecpar->width;
      s.height = st->codecpar->height;
      s.fps = av_guess_frame_rate(fc, st, nullptr);
      info.video.push_back(s);
    } else if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
      s.sample_rate = st->codecpar->sample_rate;
      info.audio.push_back(s);
    }
  }
  size_t v = 0, a = 0;
  for (unsigned i = 0; i < fc->nb_streams; ++i) {
    auto type = fc->streams[i]->codecpar->codec_type;
    if (type == AVMEDIA_TYPE_VIDEO) by_index[i] = &info.video[v++];
    if (type == AVMEDIA_TYPE_AUDIO) by_index[i] = &info.audio[a++];
  }
  AVPacket* pkt = av_packet_alloc();
  std::vector<bool> seen(fc->nb_streams, false);
  while (av_read_frame(fc, pkt) >= 0) {
    StreamInfo* s = by_index[static_cast<size_t>(pkt->stream_index)];
    if (s != nullptr) {
      AVRational tb = fc->streams[pkt->stream_index]->time_base;
      double pts = static_cast<double>(pkt->pts) * av_q2d(tb);
      s->pts.push_back(pts);
      s->dts.push_back(static_cast<double>(pkt->dts) * av_q2d(tb));
      s->key.push_back((pkt->flags & AV_PKT_FLAG_KEY) != 0);
      s->sizes.push_back(pkt->size);
      double end = pts + static_cast<double>(pkt->duration) * av_q2d(tb);
      if (!seen[static_cast<size_t>(pkt->stream_index)]) s->start = pts;
      seen[static_cast<size_t>(pkt->stream_index)] = true;
      s->start = std::min(s->start, pts);
      s->end = std::max(s->end, end);
    }
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  avformat_close_input(&fc);
  return info;
}

// Decodes every frame of the first video stream to BGR (colour matrix from the stream's tag).
std::vector<cv::Mat> decode_video(const std::filesystem::path& path) {
  std::vector<cv::Mat> frames;
  AVFormatContext* fc = nullptr;
  if (avformat_open_input(&fc, path.c_str(), nullptr, nullptr) != 0) return frames;
  avformat_find_stream_info(fc, nullptr);
  const AVCodec* codec = nullptr;
  int index = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  AVCodecContext* dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, fc->streams[index]->codecpar);
  avcodec_open2(dec, codec, nullptr);
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  SwsContext* sws = nullptr;
  auto drain = [&] {
    while (avcodec_receive_frame(dec, frame) == 0) {
      sws = sws_getCachedContext(sws, frame->width, frame->height, static_cast<AVPixelFormat>(frame->format),
                                 frame->width, frame->height, AV_PIX_FMT_BGR24, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr,
                                 nullptr, nullptr);
      const int* coeffs = sws_getCoefficients(frame->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601);
      sws_setColorspaceDetails(sws, coeffs, frame->color_range == AVCOL_RANGE_JPEG, coeffs, 1, 0, 1 << 16, 1 << 16);
      cv::Mat bgr;
      media::create_sws_bgr(bgr, frame->height, frame->width);  // swscale writes past a tight row
      uint8_t* dst[1] = {bgr.data};
      int stride[1] = {static_cast<int>(bgr.step[0])};
      sws_scale(sws, frame->data, frame->linesize, 0, frame->height, dst, stride);
      frames.push_back(bgr);
    }
  };
  while (av_read_frame(fc, pkt) >= 0) {
    if (pkt->stream_index == index) {
      avcodec_send_packet(dec, pkt);
      drain();
    }
    av_packet_unref(pkt);
  }
  avcodec_send_packet(dec, nullptr);
  drain();
  sws_freeContext(sws);
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fc);
  return frames;
}

// Decodes the first audio stream to mono float at its own rate; `start` = time of sample 0 as the
// decoder presents it (after the container's edit lists / skip samples).
struct DecodedAudio {
  std::vector<float> samples;
  int rate = 0;
  double start = 0;
  double duration() const { return rate > 0 ? static_cast<double>(samples.size()) / rate : 0; }
};

DecodedAudio decode_audio(const std::filesystem::path& path) {
  DecodedAudio out;
  AVFormatContext* fc = nullptr;
  if (avformat_open_input(&fc, path.c_str(), nullptr, nullptr) != 0) return out;
  avformat_find_stream_info(fc, nullptr);
  const AVCodec* codec = nullptr;
  int index = av_find_best_stream(fc, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
  if (index < 0) {
    avformat_close_input(&fc);
    return out;
  }
  AVStream* st = fc->streams[index];
  AVCodecContext* dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, st->codecpar);
  dec->pkt_timebase = st->time_base;
  avcodec_open2(dec, codec, nullptr);
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  SwrContext* swr = nullptr;
  bool first = true;
  auto drain = [&] {
    while (avcodec_receive_frame(dec, frame) == 0) {
      if (first) {
        out.rate = frame->sample_rate;
        out.start = static_cast<double>(frame->best_effort_timestamp) * av_q2d(st->time_base);
        AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
        swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, frame->sample_rate, &frame->ch_layout,
                            static_cast<AVSampleFormat>(frame->format), frame->sample_rate, 0, nullptr);
        swr_init(swr);
        first = false;
      }
      std::vector<float> buf(static_cast<size_t>(frame->nb_samples) + 256);
      uint8_t* dst[1] = {reinterpret_cast<uint8_t*>(buf.data())};
      int n = swr_convert(swr, dst, static_cast<int>(buf.size()), const_cast<const uint8_t**>(frame->extended_data),
                          frame->nb_samples);
      out.samples.insert(out.samples.end(), buf.begin(), buf.begin() + std::max(n, 0));
    }
  };
  while (av_read_frame(fc, pkt) >= 0) {
    if (pkt->stream_index == index) {
      avcodec_send_packet(dec, pkt);
      drain();
    }
    av_packet_unref(pkt);
  }
  avcodec_send_packet(dec, nullptr);
  drain();
  swr_free(&swr);
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fc);
  return out;
}

// Dominant frequency of samples [from, to) seconds by counting zero crossings (pure tones only).
double tone_hz(const DecodedAudio& a, double from, double to) {
  auto i0 = static_cast<size_t>(from * a.rate), i1 = std::min(a.samples.size(), static_cast<size_t>(to * a.rate));
  int crossings = 0;
  for (size_t i = i0 + 1; i < i1; ++i) crossings += (a.samples[i - 1] < 0) != (a.samples[i] < 0);
  return crossings / 2.0 / (static_cast<double>(i1 - i0) / a.rate);
}

double rms(const DecodedAudio& a, double from, double to) {
  auto i0 = static_cast<size_t>(from * a.rate), i1 = std::min(a.samples.size(), static_cast<size_t>(to * a.rate));
  double sum = 0;
  for (size_t i = i0; i < i1; ++i) sum += a.samples[i] * a.samples[i];
  return std::sqrt(sum / static_cast<double>(std::max<size_t>(i1 - i0, 1)));
}

std::vector<std::string> dir_entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool has_part_file(const std::filesystem::path& dir) {
  for (const auto& n : dir_entries(dir)) {
    if (n.ends_with(".part")) return true;
  }
  return false;
}

// Presentation times sorted: consecutive frames one frame duration apart, starting at 0.
void expect_cfr_timeline(const StreamInfo& v, int frames, double fps) {
  ASSERT_EQ(static_cast<int>(v.pts.size()), frames);
  std::vector<double> pts = v.pts;
  std::sort(pts.begin(), pts.end());
  EXPECT_NEAR(pts.front(), 0.0, 1e-3);
  for (size_t i = 1; i < pts.size(); ++i) {
    ASSERT_NEAR(pts[i] - pts[i - 1], 1.0 / fps, 1e-3) << "frame " << i;
  }
  for (size_t i = 1; i < v.dts.size(); ++i) ASSERT_GT(v.dts[i], v.dts[i - 1]) << "packet " << i;
}

// ---------------------------------------------------------------------------------------------

TEST(VideoWriter, QualityMapsToCrfAsFaceFusionDoes) {
  EXPECT_EQ(media::quality_to_crf("libx264", 80), 10);
  EXPECT_EQ(media::quality_to_crf("libx264", 0), 51);
  EXPECT_EQ(media::quality_to_crf("libx264", 100), 0);
  EXPECT_EQ(media::quality_to_crf("libx265", 80), 10);
  EXPECT_EQ(media::quality_to_crf("libx265", 50), 26);  // 25.5 rounds half away from zero
  EXPECT_EQ(media::quality_to_crf("libvpx-vp9", 0), 63);
  EXPECT_EQ(media::quality_to_crf("libvpx-vp9", 100), 0);
  EXPECT_EQ(media::quality_to_crf("libvpx-vp9", 80), 13);  // 12.6
  EXPECT_EQ(media::quality_to_crf("libx264", 150), 0);     // clamped
  EXPECT_EQ(media::vp9_speed_for_preset("ultrafast").deadline, "realtime");
  EXPECT_EQ(media::vp9_speed_for_preset("veryslow").cpu_used, 0);
}

TEST(VideoWriter, RejectsUnknownEncoderAndPresetListingValidNames) {
  VideoEncoderOptions o;
  o.encoder = "libx263";
  auto r = media::validate_encoder_options(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("libx264, libx265, libvpx-vp9"), std::string::npos) << r.status().message();
  o = {};
  o.preset = "ludicrous";
  r = media::validate_encoder_options(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("veryfast"), std::string::npos);
  o = {};
  o.quality = 101;
  EXPECT_EQ(media::validate_encoder_options(o).status().code(), StatusCode::kInvalidArgument);

  TempDir dir;
  o = {};
  o.encoder = "mpeg4";
  auto w = VideoWriter::open(dir / "out.mp4", o);
  ASSERT_FALSE(w.is_ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(dir_entries(dir.path()).empty());
  // libx264 in WebM: the container cannot hold it.
  EXPECT_EQ(VideoWriter::open(dir / "out.webm", VideoEncoderOptions{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VideoWriter::open(dir / "out.avi", VideoEncoderOptions{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VideoWriter::open(dir / "missing" / "out.mp4", VideoEncoderOptions{}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(VideoWriter, WritesExactFramesAtTheFrameRateAsYuv420p) {
  TempDir dir;
  auto frames = moving_frames(50, {640, 360});
  VideoEncoderOptions o;
  o.width = 640;
  o.height = 360;
  o.fps_num = 30000;
  o.fps_den = 1001;
  ASSERT_TRUE(write_video(dir / "out.mp4", frames, 0, 50, o).is_ok());
  EXPECT_EQ(dir_entries(dir.path()), std::vector<std::string>{"out.mp4"});

  FileInfo info = probe(dir / "out.mp4");
  ASSERT_EQ(info.video.size(), 1u);
  EXPECT_TRUE(info.audio.empty());
  const StreamInfo& v = info.video[0];
  EXPECT_EQ(v.codec, "h264");
  EXPECT_EQ(v.pix_fmt, "yuv420p");
  EXPECT_EQ(v.width, 640);
  EXPECT_EQ(v.height, 360);
  EXPECT_EQ(v.fps.num, 30000);
  EXPECT_EQ(v.fps.den, 1001);
  expect_cfr_timeline(v, 50, 30000.0 / 1001);
  EXPECT_TRUE(v.key[0]);

  auto decoded = decode_video(dir / "out.mp4");
  ASSERT_EQ(decoded.size(), 50u);
  for (size_t k : {0u, 25u, 49u}) {
    EXPECT_GT(cv::PSNR(decoded[k], frames[k]), kMinPsnrDb) << "frame " << k;
  }
  // Frames differ from each other, so the order is checked too.
  EXPECT_LT(cv::PSNR(decoded[25], frames[24]), cv::PSNR(decoded[25], frames[25]));
}

TEST(VideoWriter, ScalesFramesOfAnotherSizeAndKeepsHdColours) {
  TempDir dir;
  auto small = moving_frames(10, {640, 360});
  VideoEncoderOptions o;
  o.width = 1280;
  o.height = 720;  // HD: tagged and converted as BT.709
  ASSERT_TRUE(write_video(dir / "up.mkv", small, 0, 10, o).is_ok());
  auto decoded = decode_video(dir / "up.mkv");
  ASSERT_EQ(decoded.size(), 10u);
  ASSERT_EQ(decoded[0].size(), cv::Size(1280, 720));
  cv::Mat expected;
  cv::resize(small[5], expected, {1280, 720}, 0, 0, cv::INTER_CUBIC);
  EXPECT_GT(cv::PSNR(decoded[5], expected), kMinPsnrDb);
}

TEST(VideoWriter, RoundsOddSizesDownToEven) {
  TempDir dir;
  auto frames = moving_frames(6, {333, 211});
  VideoEncoderOptions o;
  o.width = 641;
  o.height = 361;
  auto w = VideoWriter::open(dir / "odd.mp4", o);
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  EXPECT_EQ((*w)->size(), cv::Size(640, 360));
  for (int k = 0; k < 6; ++k) ASSERT_TRUE((*w)->write(frames[static_cast<size_t>(k)], k).is_ok());
  ASSERT_TRUE((*w)->finish().is_ok());
  FileInfo info = probe(dir / "odd.mp4");
  EXPECT_EQ(info.video[0].width, 640);
  EXPECT_EQ(info.video[0].height, 360);

  // 0x0: the first frame's size, rounded down the same way.
  ASSERT_TRUE(write_video(dir / "auto.mp4", frames, 0, 6, VideoEncoderOptions{}).is_ok());
  info = probe(dir / "auto.mp4");
  EXPECT_EQ(info.video[0].width, 332);
  EXPECT_EQ(info.video[0].height, 210);
  auto decoded = decode_video(dir / "auto.mp4");
  ASSERT_EQ(decoded.size(), 6u);
  cv::Mat expected;
  cv::resize(frames[3], expected, {332, 210}, 0, 0, cv::INTER_CUBIC);
  EXPECT_GT(cv::PSNR(decoded[3], expected), 28.0);  // a one-pixel rescale blurs a little
}

TEST(VideoWriter, X265AndVp9Encode) {
  TempDir dir;
  auto frames = moving_frames(12, {320, 240});
  VideoEncoderOptions o;
  o.encoder = "libx265";
  o.preset = "ultrafast";
  ASSERT_TRUE(write_video(dir / "hevc.mp4", frames, 0, 12, o).is_ok());
  o.encoder = "libvpx-vp9";
  o.preset = "ultrafast";
  ASSERT_TRUE(write_video(dir / "vp9.webm", frames, 0, 12, o).is_ok());

  FileInfo hevc = probe(dir / "hevc.mp4");
  EXPECT_EQ(hevc.video[0].codec, "hevc");
  EXPECT_EQ(hevc.video[0].codec_tag, "hvc1");
  EXPECT_EQ(hevc.video[0].pix_fmt, "yuv420p");
  EXPECT_EQ(hevc.video[0].pts.size(), 12u);
  FileInfo vp9 = probe(dir / "vp9.webm");
  EXPECT_EQ(vp9.format, "matroska,webm");
  EXPECT_EQ(vp9.video[0].codec, "vp9");
  EXPECT_EQ(vp9.video[0].pix_fmt, "yuv420p");
  EXPECT_EQ(vp9.video[0].pts.size(), 12u);
  for (const char* name : {"hevc.mp4", "vp9.webm"}) {
    auto decoded = decode_video(dir / name);
    ASSERT_EQ(decoded.size(), 12u) << name;
    EXPECT_GT(cv::PSNR(decoded[6], frames[6]), 30.0) << name;
  }
}

TEST(VideoWriter, DestroyedWithoutFinishLeavesNoFile) {
  TempDir dir;
  auto frames = moving_frames(5, {320, 240});
  {
    auto w = VideoWriter::open(dir / "partial.mp4", VideoEncoderOptions{});
    ASSERT_TRUE(w.is_ok());
    for (int k = 0; k < 5; ++k) ASSERT_TRUE((*w)->write(frames[static_cast<size_t>(k)], k).is_ok());
    EXPECT_FALSE(dir_entries(dir.path()).empty());  // the temporary file exists meanwhile
  }
  EXPECT_TRUE(dir_entries(dir.path()).empty());
  {
    auto w = VideoWriter::open(dir / "empty.mp4", VideoEncoderOptions{});
    ASSERT_TRUE(w.is_ok());
    EXPECT_EQ((*w)->finish().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_TRUE(dir_entries(dir.path()).empty());
}

TEST(VideoWriter, RejectsFramesOutOfOrderOrOfTheWrongType) {
  TempDir dir;
  auto frames = moving_frames(3, {320, 240});
  auto w = VideoWriter::open(dir / "x.mp4", VideoEncoderOptions{}, 40);
  ASSERT_TRUE(w.is_ok());
  EXPECT_EQ((*w)->write(frames[0], 0).code(), StatusCode::kInvalidArgument);  // must start at 40
  ASSERT_TRUE((*w)->write(frames[0], 40).is_ok());
  EXPECT_EQ((*w)->write(frames[1], 40).code(), StatusCode::kInvalidArgument);
  cv::Mat gray(240, 320, CV_8UC1, cv::Scalar(0));
  EXPECT_EQ((*w)->write(gray, 41).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*w)->write(frames[1], 41).is_ok());
}

// --- assemble_video ------------------------------------------------------------------------

class Assemble : public ::testing::Test {
 protected:
  static constexpr int kFrames = 120;
  static constexpr double kFps = 25.0;
  void SetUp() override {
    frames_ = moving_frames(kFrames, {640, 360});
    options_.width = 640;
    options_.height = 360;
  }
  // Segments of frames [0,40), [40,80), [80,120), each from its own writer (like three workers).
  std::vector<std::filesystem::path> three_segments(const std::string& ext = ".mp4") {
    std::vector<std::filesystem::path> segs;
    for (int i = 0; i < 3; ++i) {
      auto p = seg_dir_ / ("seg" + std::to_string(i) + ext);
      Status s = write_video(p, frames_, i * 40, (i + 1) * 40, options_);
      EXPECT_TRUE(s.is_ok()) << s.to_string();
      segs.push_back(p);
    }
    return segs;
  }
  std::filesystem::path whole(int frames = kFrames) {
    auto p = seg_dir_ / ("whole" + std::to_string(frames) + ".mp4");
    if (!std::filesystem::exists(p)) {
      EXPECT_TRUE(write_video(p, frames_, 0, frames, options_).is_ok());
    }
    return p;
  }
  // A target with a 48 kHz AAC tone whose pitch steps up 100 Hz every second (200, 300, ...),
  // so the audio's position in time can be read back from its pitch.
  std::filesystem::path stepped_tone_source(double seconds, const std::string& name = "target.mp4",
                                            const std::string& audio_codec = "aac") {
    auto p = seg_dir_ / name;
    // Phase-continuous: the phase is the integral of the stepped frequency.
    run_ffmpeg(
        fmt_args("-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi "
                 "-i \"aevalsrc='0.5*sin(2*PI*(200*t+50*(floor(t)*(floor(t)-1))+100*floor(t)*(t-floor(t))))':s=48000\" "
                 "-t " +
                     std::to_string(seconds) + " -c:v libx264 -preset ultrafast -c:a " + audio_codec + " ",
                 p));
    return p;
  }
  static std::string fmt_args(const std::string& args, const std::filesystem::path& out) {
    return args + "'" + out.string() + "'";
  }

  TempDir seg_dir_;
  TempDir out_dir_;
  std::vector<cv::Mat> frames_;
  VideoEncoderOptions options_;
};

TEST_F(Assemble, ThreeSegmentsJoinLikeOneWrite) {
  auto segs = three_segments();
  ASSERT_TRUE(assemble_video(segs, {}, {}, out_dir_ / "joined.mp4").is_ok());
  ASSERT_TRUE(assemble_video({whole()}, {}, {}, out_dir_ / "single.mp4").is_ok());
  EXPECT_EQ(dir_entries(out_dir_.path()), (std::vector<std::string>{"joined.mp4", "single.mp4"}));

  FileInfo joined = probe(out_dir_ / "joined.mp4");
  FileInfo single = probe(out_dir_ / "single.mp4");
  ASSERT_EQ(joined.video.size(), 1u);
  EXPECT_TRUE(joined.audio.empty());
  expect_cfr_timeline(joined.video[0], kFrames, kFps);
  expect_cfr_timeline(single.video[0], kFrames, kFps);
  EXPECT_NEAR(joined.video[0].end, single.video[0].end, 1e-3);
  EXPECT_NEAR(joined.video[0].end, kFrames / kFps, 1e-3);
  // Each segment starts with a keyframe (packets are in decode order: frame 40 is packet 40).
  EXPECT_TRUE(joined.video[0].key[0]);
  EXPECT_TRUE(joined.video[0].key[40]);
  EXPECT_TRUE(joined.video[0].key[80]);

  auto decoded = decode_video(out_dir_ / "joined.mp4");
  ASSERT_EQ(decoded.size(), static_cast<size_t>(kFrames));
  for (size_t k : {0u, 39u, 40u, 79u, 80u, 119u}) {
    EXPECT_GT(cv::PSNR(decoded[k], frames_[k]), kMinPsnrDb) << "frame " << k;
  }
}

TEST_F(Assemble, JoinsSegmentsIntoOtherContainers) {
  // MPEG-TS segments (decode times stored, timestamps offset by the muxer's 1.4 s) and Matroska
  // segments (no decode times: rebuilt from the frame order).
  std::vector<std::pair<std::string, std::string>> cases = {
      {".ts", "joined.mkv"}, {".ts", "joined.mov"}, {".ts", "joined.ts"}, {".mkv", "from_mkv.mp4"}};
  for (const auto& [seg_ext, name] : cases) {
    auto segs = three_segments(seg_ext);
    Status s = assemble_video(segs, {}, {}, out_dir_ / name);
    ASSERT_TRUE(s.is_ok()) << name << ": " << s.to_string();
    FileInfo info = probe(out_dir_ / name);
    if (name.ends_with(".mp4") || name.ends_with(".mov")) expect_cfr_timeline(info.video[0], kFrames, kFps);
    ASSERT_EQ(info.video.size(), 1u) << name;
    ASSERT_EQ(info.video[0].pts.size(), static_cast<size_t>(kFrames)) << name;
    EXPECT_NEAR(info.video[0].end - info.video[0].start, kFrames / kFps, 1e-3) << name;
    auto decoded = decode_video(out_dir_ / name);
    ASSERT_EQ(decoded.size(), static_cast<size_t>(kFrames)) << name;
    EXPECT_GT(cv::PSNR(decoded[80], frames_[80]), kMinPsnrDb) << name;
  }
}

TEST_F(Assemble, JoinsX265Segments) {
  // x265 has no "stitchable" switch; its parameter sets are the same for the same options anyway.
  options_.encoder = "libx265";
  options_.preset = "ultrafast";
  options_.width = 320;
  options_.height = 180;
  std::vector<std::filesystem::path> segs;
  for (int i = 0; i < 2; ++i) {
    segs.push_back(seg_dir_ / ("hevc_" + std::to_string(i) + ".mp4"));
    ASSERT_TRUE(write_video(segs.back(), frames_, i * 15, (i + 1) * 15, options_).is_ok());
  }
  Status s = assemble_video(segs, {}, {}, out_dir_ / "out.mp4");
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  FileInfo info = probe(out_dir_ / "out.mp4");
  EXPECT_EQ(info.video[0].codec_tag, "hvc1");
  expect_cfr_timeline(info.video[0], 30, kFps);
  auto decoded = decode_video(out_dir_ / "out.mp4");
  ASSERT_EQ(decoded.size(), 30u);
  cv::Mat expected;
  cv::resize(frames_[20], expected, {320, 180}, 0, 0, cv::INTER_AREA);
  EXPECT_GT(cv::PSNR(decoded[20], expected), 30.0);
}

TEST_F(Assemble, CopiesAudioCoveringTheVideo) {
  auto target = stepped_tone_source(6.0);  // audio longer than the 4.8 s of video
  auto segs = three_segments();
  ASSERT_TRUE(assemble_video(segs, target, {}, out_dir_ / "out.mp4").is_ok());
  FileInfo info = probe(out_dir_ / "out.mp4");
  FileInfo src = probe(target);
  ASSERT_EQ(info.audio.size(), 1u);
  EXPECT_EQ(info.audio[0].codec, "aac");
  // Copied: the packets are the source's packets (same sizes, in order, from the start).
  ASSERT_GE(src.audio[0].sizes.size(), info.audio[0].sizes.size());
  EXPECT_TRUE(std::equal(info.audio[0].sizes.begin(), info.audio[0].sizes.end(), src.audio[0].sizes.begin()));

  DecodedAudio a = decode_audio(out_dir_ / "out.mp4");
  double video_sec = kFrames / kFps;
  EXPECT_NEAR(a.start, 0.0, 1e-3);
  EXPECT_NEAR(a.duration(), video_sec, 1.0 / kFps);
  EXPECT_NEAR(tone_hz(a, 0.2, 0.8), 200, 10);
  EXPECT_NEAR(tone_hz(a, 4.2, 4.7), 600, 10);
}

TEST_F(Assemble, CopiedAudioStaysInSyncInMatroskaAndTs) {
  // Matroska and MPEG-TS cannot start a stream before 0: the AAC priming packet the mp4 target
  // keeps at -21 ms is dropped rather than moving the whole track late.
  auto target = stepped_tone_source(6.0);
  auto segs = three_segments();
  for (const char* name : {"out.mkv", "out.ts"}) {
    Status s = assemble_video(segs, target, {}, out_dir_ / name);
    ASSERT_TRUE(s.is_ok()) << name << ": " << s.to_string();
    FileInfo info = probe(out_dir_ / name);
    ASSERT_EQ(info.audio.size(), 1u) << name;
    EXPECT_EQ(info.audio[0].codec, "aac") << name;
    EXPECT_NEAR(info.audio[0].start - info.video[0].start, 0.0, 0.002) << name;
    DecodedAudio a = decode_audio(out_dir_ / name);
    EXPECT_NEAR(a.duration(), kFrames / kFps, 1.0 / kFps) << name;
    double t0 = a.start - info.video[0].start;  // audio time of sample 0 relative to the first frame
    // The 300→400 Hz step is at 2.0 s of the target and must be at 2.0 s of the output.
    // 20 ms windows either side: a track off by one AAC packet (21 ms) fails.
    EXPECT_NEAR(tone_hz(a, 1.975 - t0, 1.995 - t0), 300, 40) << name;
    EXPECT_NEAR(tone_hz(a, 2.005 - t0, 2.025 - t0), 400, 40) << name;
  }
}

TEST_F(Assemble, TrimsTheAudioWindowAndStartsItAtZero) {
  auto target = stepped_tone_source(6.0);
  // 50 frames = 2 s of video, the window [2 s, 4 s) of the target's audio: 400 Hz then 500 Hz.
  ASSERT_TRUE(
      assemble_video({whole(50)}, target, {.volume = 1.0, .start_sec = 2.0, .end_sec = 4.0}, out_dir_ / "copy.mp4")
          .is_ok());
  // The re-encode path (any gain other than 1) cuts to the sample.
  ASSERT_TRUE(
      assemble_video({whole(50)}, target, {.volume = 0.5, .start_sec = 2.0, .end_sec = 4.0}, out_dir_ / "gain.mp4")
          .is_ok());
  // A window shorter than the video ends the audio early.
  ASSERT_TRUE(
      assemble_video({whole(50)}, target, {.volume = 1.0, .start_sec = 3.0, .end_sec = 4.0}, out_dir_ / "short.mp4")
          .is_ok());
  DecodedAudio full = decode_audio(target);
  for (const char* name : {"copy.mp4", "gain.mp4"}) {
    DecodedAudio a = decode_audio(out_dir_ / name);
    // Copied packets keep their exact time: the first may start up to half an AAC packet late.
    EXPECT_NEAR(a.start, 0.0, 1024.0 / 48000 / 2) << name;
    EXPECT_NEAR(a.duration(), 2.0, 1.0 / kFps) << name;
    EXPECT_NEAR(tone_hz(a, 0.1, 0.9), 400, 10) << name;
    EXPECT_NEAR(tone_hz(a, 1.1, 1.9), 500, 10) << name;
    // The step from 400 to 500 Hz is at 1.0 s of output (2.0 + 1.0 in the target), to ~10 ms.
    EXPECT_NEAR(tone_hz(a, 0.975 - a.start, 0.995 - a.start), 400, 40) << name;
    EXPECT_NEAR(tone_hz(a, 1.005 - a.start, 1.025 - a.start), 500, 40) << name;
  }
  DecodedAudio copy = decode_audio(out_dir_ / "copy.mp4");
  DecodedAudio gain = decode_audio(out_dir_ / "gain.mp4");
  EXPECT_NEAR(rms(gain, 0.2, 1.8) / rms(copy, 0.2, 1.8), 0.5, 0.03);
  EXPECT_NEAR(rms(copy, 0.2, 1.8), rms(full, 2.2, 3.8), 0.01);
  DecodedAudio shorter = decode_audio(out_dir_ / "short.mp4");
  EXPECT_NEAR(shorter.duration(), 1.0, 1.0 / kFps);
  EXPECT_NEAR(tone_hz(shorter, 0.1, 0.9), 500, 10);
}

TEST_F(Assemble, VolumeZeroDropsTheAudio) {
  auto target = stepped_tone_source(3.0);
  ASSERT_TRUE(assemble_video({whole(50)}, target, {.volume = 0.0}, out_dir_ / "mute.mp4").is_ok());
  FileInfo info = probe(out_dir_ / "mute.mp4");
  EXPECT_EQ(info.video.size(), 1u);
  EXPECT_TRUE(info.audio.empty());
}

TEST_F(Assemble, SourceWithoutAudioGivesVideoOnly) {
  auto target = seg_dir_ / "silent.mp4";
  run_ffmpeg(fmt_args("-f lavfi -i testsrc2=size=320x240:rate=25 -t 2 -c:v libx264 -preset ultrafast ", target));
  ASSERT_TRUE(assemble_video({whole(50)}, target, {}, out_dir_ / "out.mp4").is_ok());
  FileInfo info = probe(out_dir_ / "out.mp4");
  EXPECT_EQ(info.video[0].pts.size(), 50u);
  EXPECT_TRUE(info.audio.empty());
}

TEST_F(Assemble, PcmInAviIsReencodedToAacForMp4) {
  auto target = seg_dir_ / "pcm.avi";
  run_ffmpeg(
      fmt_args("-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=frequency=440:sample_rate=44100 "
               "-t 6 -c:v mjpeg -c:a pcm_s16le ",
               target));
  ASSERT_EQ(probe(target).audio[0].codec, "pcm_s16le");
  ASSERT_TRUE(assemble_video(three_segments(), target, {}, out_dir_ / "out.mp4").is_ok());
  FileInfo info = probe(out_dir_ / "out.mp4");
  ASSERT_EQ(info.audio.size(), 1u);
  EXPECT_EQ(info.audio[0].codec, "aac");
  EXPECT_EQ(info.audio[0].sample_rate, 44100);
  DecodedAudio a = decode_audio(out_dir_ / "out.mp4");
  EXPECT_NEAR(a.start, 0.0, 1e-3);
  EXPECT_NEAR(a.duration(), kFrames / kFps, 1.0 / kFps);
  EXPECT_NEAR(tone_hz(a, 0.5, 4.5), 440, 5);
}

TEST_F(Assemble, RealAviWithUnsignedPcmAt11kHz) {
  // A real clip: MJPEG video with 8-bit PCM mono at 11024 Hz (a rate AAC does not take: 48 kHz).
  auto target = testdata("videos/talking_head.avi");
  ASSERT_TRUE(assemble_video({whole(100)}, target, {}, out_dir_ / "out.mp4").is_ok());
  FileInfo info = probe(out_dir_ / "out.mp4");
  ASSERT_EQ(info.audio.size(), 1u);
  EXPECT_EQ(info.audio[0].codec, "aac");
  DecodedAudio a = decode_audio(out_dir_ / "out.mp4");
  DecodedAudio src = decode_audio(target);
  EXPECT_NEAR(a.duration(), std::min(4.0, src.duration()), 1.0 / kFps);
  EXPECT_GT(rms(a, 0.5, 3.5), 0.01);  // speech, not silence
}

TEST_F(Assemble, Vp9SegmentsWithOpusInWebm) {
  auto target = stepped_tone_source(3.0);
  options_.encoder = "libvpx-vp9";
  options_.preset = "ultrafast";
  options_.width = 320;
  options_.height = 180;
  std::vector<std::filesystem::path> segs;
  for (int i = 0; i < 2; ++i) {
    segs.push_back(seg_dir_ / ("vp9_" + std::to_string(i) + ".webm"));
    ASSERT_TRUE(write_video(segs.back(), frames_, i * 25, (i + 1) * 25, options_).is_ok());
  }
  ASSERT_TRUE(assemble_video(segs, target, {}, out_dir_ / "out.webm").is_ok());
  FileInfo info = probe(out_dir_ / "out.webm");
  ASSERT_EQ(info.video.size(), 1u);
  EXPECT_EQ(info.video[0].pts.size(), 50u);
  ASSERT_EQ(info.audio.size(), 1u);
  EXPECT_EQ(info.audio[0].codec, "opus");
  DecodedAudio a = decode_audio(out_dir_ / "out.webm");
  EXPECT_NEAR(a.duration(), 2.0, 1.0 / kFps);
  EXPECT_NEAR(tone_hz(a, 1.1, 1.9), 300, 10);
}

TEST_F(Assemble, FailuresLeaveNothingBehind) {
  auto segs = three_segments();
  // A segment of another size cannot be joined by stream copy.
  VideoEncoderOptions other = options_;
  other.width = 320;
  other.height = 180;
  auto odd_one = seg_dir_ / "other.mp4";
  ASSERT_TRUE(write_video(odd_one, frames_, 80, 120, other).is_ok());
  Status s = assemble_video({segs[0], segs[1], odd_one}, {}, {}, out_dir_ / "out.mp4");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("size"), std::string::npos) << s.message();
  EXPECT_TRUE(dir_entries(out_dir_.path()).empty());

  // A missing chunk in the middle, or chunks out of order, would shift the picture against the audio.
  s = assemble_video({segs[0], segs[2]}, {}, {}, out_dir_ / "out.mp4");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("starts at frame 80"), std::string::npos) << s.message();
  EXPECT_EQ(assemble_video({segs[1], segs[0]}, {}, {}, out_dir_ / "out.mp4").code(), StatusCode::kInvalidArgument);
  // A single segment that starts late (a trimmed job) starts at 0.
  ASSERT_TRUE(assemble_video({segs[1]}, {}, {}, out_dir_ / "late.mp4").is_ok());
  FileInfo late = probe(out_dir_ / "late.mp4");
  expect_cfr_timeline(late.video[0], 40, kFps);
  std::filesystem::remove(out_dir_ / "late.mp4");

  s = assemble_video({segs[0], seg_dir_ / "missing.mp4"}, {}, {}, out_dir_ / "out.mp4");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  s = assemble_video(segs, seg_dir_ / "missing.mp4", {}, out_dir_ / "out.mp4");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(assemble_video({}, {}, {}, out_dir_ / "out.mp4").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(assemble_video(segs, {}, {}, out_dir_ / "out.gif").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(dir_entries(out_dir_.path()).empty());

  ASSERT_TRUE(assemble_video(segs, {}, {}, out_dir_ / "out.mp4").is_ok());
  EXPECT_EQ(dir_entries(out_dir_.path()), std::vector<std::string>{"out.mp4"});
  EXPECT_FALSE(has_part_file(seg_dir_.path()));
}

// Encode speed at 720p for the presets a service would use (printed; checked only for sanity).
TEST(VideoWriterSlow, EncodeFpsAt720p) {
  TempDir dir;
  auto frames = moving_frames(50, {1280, 720});
  constexpr int kCount = 150;
  for (const char* preset : {"ultrafast", "veryfast"}) {
    VideoEncoderOptions o;
    o.preset = preset;
    o.width = 1280;
    o.height = 720;
    auto w = VideoWriter::open(dir / (std::string(preset) + ".mp4"), o);
    ASSERT_TRUE(w.is_ok());
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < kCount; ++k) ASSERT_TRUE((*w)->write(frames[static_cast<size_t>(k % 50)], k).is_ok());
    ASSERT_TRUE((*w)->finish().is_ok());
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto bytes = std::filesystem::file_size(dir / (std::string(preset) + ".mp4"));
    std::printf(
        "[ encode ] libx264 %-9s 1280x720 q80 (crf 10): %d frames in %.2f s = %.1f fps, %.0f kbit/s, "
        "%u hardware threads\n",
        preset, kCount, sec, kCount / sec, static_cast<double>(bytes) * 8 / 1000 / (kCount / 25.0),
        std::thread::hardware_concurrency());
  }
}

}  // namespace
}  // namespace facefuse::testing
