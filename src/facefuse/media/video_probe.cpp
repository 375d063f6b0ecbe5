#include "facefuse/media/video_probe.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
}

namespace facefuse::media {
namespace detail {
namespace {

// Demuxers facefuse opens (libavformat names; a multi-name demuxer matches on any of its names).
// Left out on purpose: image2 (expands %d patterns in file names), hls/dash/concat and other
// playlists (open further files or URLs), raw audio formats.
constexpr const char* kContainerWhitelist =
    "mov,mp4,matroska,webm,avi,mpegts,mpeg,flv,asf,ogg,gif,mxf,nut,h264,hevc,m4v,ivf,yuv4mpegpipe,dv";

void ffmpeg_log_callback(void* avcl, int level, const char* format, va_list args) {
  if (level > AV_LOG_WARNING) return;
  auto* logger = spdlog::default_logger_raw();
  if (logger == nullptr || !logger->should_log(spdlog::level::debug)) return;
  char line[1024];
  thread_local int print_prefix = 1;
  av_log_format_line2(avcl, level, format, args, line, sizeof line, &print_prefix);
  std::string_view text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (!text.empty()) logger->debug("ffmpeg: {}", text);
}

}  // namespace

void configure_ffmpeg() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_callback(&ffmpeg_log_callback);
    av_max_alloc(kFfmpegMaxAllocBytes);
  });
}

std::string av_error_text(int error) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(error, text, sizeof text);
  return text;
}

int MediaInput::interrupt_callback(void* opaque) {
  auto* self = static_cast<MediaInput*>(opaque);
  if (std::chrono::steady_clock::now() < self->deadline_) return 0;
  self->interrupted_ = true;
  return 1;
}

void MediaInput::arm_deadline() {
  deadline_ = std::chrono::steady_clock::now() + kIoBudget;
  interrupted_ = false;
}

bool MediaInput::timed_out() const { return interrupted_; }

MediaInput::~MediaInput() {
  if (ctx_ != nullptr) avformat_close_input(&ctx_);
}

Result<std::unique_ptr<MediaInput>> MediaInput::open(const std::filesystem::path& path, bool find_stream_info,
                                                     int64_t max_probe_bytes) {
  configure_ffmpeg();
  std::unique_ptr<MediaInput> input(new MediaInput());
  AVFormatContext* ctx = avformat_alloc_context();
  if (ctx == nullptr) return internal_error("out of memory allocating a demuxer");
  ctx->interrupt_callback.callback = &MediaInput::interrupt_callback;
  ctx->interrupt_callback.opaque = input.get();
  ctx->probesize = max_probe_bytes;
  ctx->format_probesize = static_cast<int>(std::min<int64_t>(max_probe_bytes, 1 << 20));
  ctx->max_analyze_duration = 5 * int64_t{AV_TIME_BASE};

  AVDictionary* options = nullptr;
  av_dict_set(&options, "protocol_whitelist", "file", 0);
  av_dict_set(&options, "format_whitelist", kContainerWhitelist, 0);
  // "file:" keeps a name with a colon ("a:b.mp4") from being taken for a protocol.
  const std::string url = "file:" + path.string();
  input->arm_deadline();
  int ret = avformat_open_input(&ctx, url.c_str(), nullptr, &options);  // frees ctx on failure
  av_dict_free(&options);
  if (ret < 0) {
    if (input->timed_out()) {
      return unavailable(fmt::format("opening {} timed out after {} s", path.string(), kIoBudget.count()));
    }
    if (ret == AVERROR(ENOENT)) return not_found(fmt::format("video file {} does not exist", path.string()));
    if (ret == AVERROR(EACCES)) {
      return invalid_argument(fmt::format("cannot open {} for reading (check its permissions)", path.string()));
    }
    return invalid_argument(fmt::format(
        "{} cannot be read as a video ({}): it is not a video file (expected MP4, MOV, MKV, WebM, AVI, "
        "MPEG-TS or similar) or it is truncated",
        path.string(), av_error_text(ret)));
  }
  input->ctx_ = ctx;
  if (find_stream_info) {
    input->arm_deadline();
    ret = avformat_find_stream_info(ctx, nullptr);
    if (ret < 0) {
      if (input->timed_out()) {
        return unavailable(fmt::format("reading {} timed out after {} s", path.string(), kIoBudget.count()));
      }
      return invalid_argument(fmt::format("{} is truncated or corrupt: its streams cannot be read ({})",
                                          path.string(), av_error_text(ret)));
    }
  }
  return input;
}

int find_video_stream(AVFormatContext* ctx) {
  int best = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (best >= 0 && !(ctx->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC)) return best;
  for (unsigned i = 0; i < ctx->nb_streams; ++i) {
    const AVStream* st = ctx->streams[i];
    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

int stream_rotation_degrees(const AVStream* stream) {
  double clockwise = 0;
  size_t size = 0;
  const uint8_t* matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (matrix != nullptr && size >= 9 * sizeof(int32_t)) {
    // av_display_rotation_get() is counter-clockwise; FFmpeg's own autorotate negates it too.
    double ccw = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
    if (std::isnan(ccw)) return 0;
    clockwise = -ccw;
  } else if (const AVDictionaryEntry* tag = av_dict_get(stream->metadata, "rotate", nullptr, 0)) {
    clockwise = std::atof(tag->value);  // legacy tag (FFmpeg ≤ 4 demuxers): clockwise degrees
  }
  long quarter = std::lround(clockwise / 90.0);
  return static_cast<int>(((quarter % 4) + 4) % 4 * 90);
}

}  // namespace detail

namespace {

using detail::MediaInput;

// What demuxing the video stream's packets found.
struct PacketScan {
  int64_t count = 0;                     // packets from the first keyframe on, discarded ones left out
  int64_t first_ts = AV_NOPTS_VALUE;     // smallest pts (stream time base)
  int64_t end_ts = AV_NOPTS_VALUE;       // largest pts + that packet's duration
  std::vector<int64_t> early_pts;        // pts of the packets in the first ~2 s
  int error = 0;                         // the demuxer error that ended the scan early, if any
};

// Demuxes the packets of stream `index`: the whole stream when `whole`, else only the first ~2 s
// (what avformat_find_stream_info has buffered is returned first, so this re-reads little).
Result<PacketScan> scan_packets(MediaInput& input, int index, bool whole, const std::filesystem::path& path) {
  AVFormatContext* ctx = input.context();
  for (unsigned i = 0; i < ctx->nb_streams; ++i) {
    ctx->streams[i]->discard = static_cast<int>(i) == index ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
  }
  const AVStream* st = ctx->streams[index];
  const int64_t early_span = av_rescale_q(2, AVRational{1, 1}, st->time_base);
  PacketScan scan;
  std::unique_ptr<AVPacket, void (*)(AVPacket*)> packet(av_packet_alloc(), [](AVPacket* p) { av_packet_free(&p); });
  bool seen_keyframe = false;
  int64_t first_seen = AV_NOPTS_VALUE;
  while (true) {
    input.arm_deadline();
    int ret = av_read_frame(ctx, packet.get());
    if (ret == AVERROR_EOF) break;
    if (ret < 0) {
      if (input.timed_out()) {
        return unavailable(fmt::format("reading {} timed out after {} s", path.string(), MediaInput::kIoBudget.count()));
      }
      scan.error = ret;
      break;
    }
    const AVPacket& p = *packet;
    bool counts = p.stream_index == index && (seen_keyframe || (p.flags & AV_PKT_FLAG_KEY)) &&
                  !(p.flags & AV_PKT_FLAG_DISCARD);
    if (counts) {
      seen_keyframe = true;
      ++scan.count;
      int64_t ts = p.pts != AV_NOPTS_VALUE ? p.pts : p.dts;
      if (ts != AV_NOPTS_VALUE) {
        if (first_seen == AV_NOPTS_VALUE) first_seen = ts;
        scan.first_ts = scan.first_ts == AV_NOPTS_VALUE ? ts : std::min(scan.first_ts, ts);
        int64_t end = ts + std::max<int64_t>(p.duration, 0);
        scan.end_ts = scan.end_ts == AV_NOPTS_VALUE ? end : std::max(scan.end_ts, end);
        if (ts - first_seen <= early_span) scan.early_pts.push_back(ts);
        // Keep reading a little past 2 s: B-frames arrive before the frames they precede.
        if (!whole && ts - first_seen > early_span + early_span / 4) {
          av_packet_unref(packet.get());
          break;
        }
      }
    }
    av_packet_unref(packet.get());
    if (!whole && scan.count >= 400) break;
  }
  return scan;
}

// Frame durations of the first ~2 s differing by more than 10% (or 1 tick for coarse time bases)
// from their median mean a variable frame rate.
bool detect_variable_frame_rate(std::vector<int64_t> pts) {
  std::sort(pts.begin(), pts.end());
  if (pts.size() < 5) return false;
  std::vector<int64_t> durations;
  for (size_t i = 1; i < pts.size(); ++i) durations.push_back(pts[i] - pts[i - 1]);
  std::vector<int64_t> sorted = durations;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
  const double median = static_cast<double>(sorted[sorted.size() / 2]);
  if (median <= 0) return true;
  const double tolerance = std::max(0.1 * median, 1.0);
  return std::any_of(durations.begin(), durations.end(),
                     [&](int64_t d) { return std::abs(static_cast<double>(d) - median) > tolerance; });
}

// MP4/MOV keep every sample in the index: counts the video samples inside the edit list and
// checks that no sample of any stream lies past the end of the file.
Result<int64_t> count_mov_samples(AVFormatContext* ctx, int index, uintmax_t file_size,
                                  const std::filesystem::path& path) {
  int64_t data_end = 0;
  int64_t count = 0;
  for (unsigned s = 0; s < ctx->nb_streams; ++s) {
    AVStream* st = ctx->streams[s];
    const int n = avformat_index_get_entries_count(st);
    for (int i = 0; i < n; ++i) {
      const AVIndexEntry* e = avformat_index_get_entry(st, i);
      if (e->pos >= 0) data_end = std::max<int64_t>(data_end, e->pos + e->size);
      if (static_cast<int>(s) == index && !(e->flags & AVINDEX_DISCARD_FRAME)) ++count;
    }
  }
  if (static_cast<uintmax_t>(data_end) > file_size) {
    return invalid_argument(fmt::format(
        "{} is truncated: its sample table needs {} bytes but the file has {} ({}% missing); "
        "re-download or re-export it",
        path.string(), data_end, file_size,
        static_cast<int>(std::lround(100.0 * static_cast<double>(data_end - static_cast<int64_t>(file_size)) /
                                     static_cast<double>(data_end)))));
  }
  return count;
}

bool valid(AVRational r) { return r.num > 0 && r.den > 0; }

// The stream duration Matroska muxers (FFmpeg, mkvmerge) write as a "DURATION" tag
// (HH:MM:SS.nnnnnnnnn); 0 when absent.
double tagged_duration(const AVStream* st) {
  const AVDictionaryEntry* tag = av_dict_get(st->metadata, "DURATION", nullptr, 0);
  int hours = 0, minutes = 0;
  double seconds = 0;
  if (tag == nullptr || std::sscanf(tag->value, "%d:%d:%lf", &hours, &minutes, &seconds) != 3) return 0;
  return hours * 3600.0 + minutes * 60.0 + seconds;
}

}  // namespace

Result<VideoInfo> probe_video(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found(fmt::format("video file {} does not exist", path.string()));
  if (!std::filesystem::is_regular_file(path, ec)) {
    return invalid_argument(fmt::format("{} is not a regular file (a directory, pipe or device)", path.string()));
  }
  const uintmax_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return invalid_argument(fmt::format("cannot read the size of {}: {}", path.string(), ec.message()));
  if (file_size == 0) return invalid_argument(fmt::format("{} is empty", path.string()));

  FF_ASSIGN_OR_RETURN(auto input, MediaInput::open(path));
  AVFormatContext* ctx = input->context();

  VideoInfo info;
  info.path = path;
  info.container = ctx->iformat->name;
  if (info.container == "gif") {
    // GIF frame delays are in 1/100 s, often 0 (shown as 0.02 s at "100 fps"): as a target it
    // came out as a fraction of a second of video. Refused with the fix rather than mangled.
    return unsupported(fmt::format("{} is an animated GIF: GIF targets are not supported; convert it to a video "
                                   "first (e.g. `ffmpeg -i in.gif -vf fps=25 out.mp4`) or use a still image",
                                   path.string()));
  }
  const AVDictionaryEntry* tag = nullptr;
  while ((tag = av_dict_get(ctx->metadata, "", tag, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
    info.tags[tag->key] = tag->value;
  }
  for (unsigned i = 0; i < ctx->nb_streams; ++i) {
    const AVStream* st = ctx->streams[i];
    const AVCodecParameters* par = st->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_SUBTITLE) info.subtitles.push_back(avcodec_get_name(par->codec_id));
    if (par->codec_type != AVMEDIA_TYPE_AUDIO) continue;
    AudioStreamInfo audio;
    audio.stream_index = static_cast<int>(i);
    audio.codec = avcodec_get_name(par->codec_id);
    audio.sample_rate = par->sample_rate;
    audio.channels = par->ch_layout.nb_channels;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) audio.duration_sec = static_cast<double>(st->duration) * av_q2d(st->time_base);
    info.audio.push_back(std::move(audio));
  }

  const int index = detail::find_video_stream(ctx);
  if (index < 0) {
    return invalid_argument(fmt::format("{} has no video stream{}", path.string(),
                                        info.audio.empty() ? "" : " (it holds only audio)"));
  }
  AVStream* st = ctx->streams[index];
  const AVCodecParameters* par = st->codecpar;
  info.stream_index = index;
  info.codec = avcodec_get_name(par->codec_id);
  if (avcodec_find_decoder(par->codec_id) == nullptr) {
    std::string fourcc;
    if (par->codec_tag != 0) {
      char tag[AV_FOURCC_MAX_STRING_SIZE] = {};
      fourcc = fmt::format(", fourcc {}", av_fourcc_make_string(tag, par->codec_tag));
    }
    return unsupported(fmt::format(
        "{}: video codec '{}'{} cannot be decoded by this FFmpeg build; convert the video to H.264 first",
        path.string(), info.codec, fourcc));
  }
  if (par->width <= 0 || par->height <= 0) {
    return invalid_argument(fmt::format("{} has a video stream without a frame size (truncated or corrupt header)",
                                        path.string()));
  }
  const char* pix = av_get_pix_fmt_name(static_cast<AVPixelFormat>(par->format));
  info.pixel_format = pix != nullptr ? pix : "unknown";
  const char* space = av_color_space_name(par->color_space);
  info.colour_space = space != nullptr ? space : "unknown";
  info.full_range = par->color_range == AVCOL_RANGE_JPEG || info.pixel_format.rfind("yuvj", 0) == 0;
  info.coded_width = par->width;
  info.coded_height = par->height;
  info.rotation_degrees = detail::stream_rotation_degrees(st);
  const bool quarter_turn = info.rotation_degrees == 90 || info.rotation_degrees == 270;
  info.width = quarter_turn ? par->height : par->width;
  info.height = quarter_turn ? par->width : par->height;

  AVRational rate = valid(st->avg_frame_rate) ? st->avg_frame_rate : st->r_frame_rate;
  double fps = valid(rate) ? av_q2d(rate) : 0.0;
  double duration = 0;
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
    duration = static_cast<double>(st->duration) * av_q2d(st->time_base);
  } else if (ctx->duration != AV_NOPTS_VALUE && ctx->duration > 0) {
    duration = static_cast<double>(ctx->duration) / AV_TIME_BASE;
  }
  // A count from the header is believed only when it agrees with duration × frame rate.
  auto agrees = [&](int64_t n) {
    if (n <= 0 || fps <= 0 || duration <= 0) return false;
    double expected = duration * fps;
    return std::abs(static_cast<double>(n) - expected) <= std::max(1.5, 0.01 * static_cast<double>(n));
  };

  int64_t count = -1;
  if (info.container.find("mov") != std::string::npos) {
    FF_ASSIGN_OR_RETURN(int64_t samples, count_mov_samples(ctx, index, file_size, path));
    if (agrees(samples)) count = samples;
  }
  if (count < 0 && agrees(st->nb_frames)) count = st->nb_frames;
  const bool demux_all = count < 0;
  FF_ASSIGN_OR_RETURN(PacketScan scan, scan_packets(*input, index, demux_all, path));
  if (demux_all) {
    if (scan.error != 0) {
      return invalid_argument(fmt::format("{} is truncated or corrupt: reading stopped after frame {} ({})",
                                          path.string(), scan.count, detail::av_error_text(scan.error)));
    }
    count = scan.count;
    if (scan.first_ts != AV_NOPTS_VALUE && scan.end_ts > scan.first_ts) {
      duration = static_cast<double>(scan.end_ts - scan.first_ts) * av_q2d(st->time_base);
      // A file cut short still carries the length its muxer wrote at the end of a full write.
      const double declared = tagged_duration(st);
      const double frames_end = static_cast<double>(scan.end_ts) * av_q2d(st->time_base);
      if (declared > 0 && frames_end < declared - std::max(0.5, 0.05 * declared)) {
        return invalid_argument(fmt::format(
            "{} is truncated: its header says the video lasts {:.2f} s but its frames stop at {:.2f} s "
            "({} frames); re-download or re-export it",
            path.string(), declared, frames_end, scan.count));
      }
    }
  }
  if (count <= 0) return invalid_argument(fmt::format("{} has a video stream with no frames", path.string()));
  info.frame_count = count;
  info.variable_frame_rate = detect_variable_frame_rate(scan.early_pts);

  if ((info.variable_frame_rate || fps <= 0) && duration > 0) {
    rate = av_d2q(static_cast<double>(count) / duration, 1001);
  }
  // Neither declared nor measurable (no duration, or frames over a duration so long or short that
  // the rate rounds to 0 or overflows: a damaged header, found by fuzz_video_probe): assume 25 fps,
  // as players do, rather than hand a zero rate to the encoder.
  if (!valid(rate) || !std::isfinite(av_q2d(rate))) {
    spdlog::warn("{} declares no usable frame rate: assuming 25 fps", path.string());
    rate = AVRational{25, 1};
  }
  av_reduce(&info.fps_num, &info.fps_den, rate.num, rate.den, INT32_MAX);
  info.fps = av_q2d(rate);
  info.duration_sec = duration > 0 ? duration : static_cast<double>(count) / info.fps;
  return info;
}

bool looks_like_video(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) == 0 || ec) return false;
  auto input = MediaInput::open(path, /*find_stream_info=*/false, /*max_probe_bytes=*/1'000'000);
  if (!input) return false;
  AVFormatContext* ctx = (*input)->context();
  if (detail::find_video_stream(ctx) >= 0) return true;
  // Formats without a header (MPEG-TS, raw H.264) announce their streams only once read.
  if (ctx->nb_streams == 0 || (ctx->ctx_flags & AVFMTCTX_NOHEADER)) {
    (*input)->arm_deadline();
    if (avformat_find_stream_info(ctx, nullptr) < 0) return false;
    return detail::find_video_stream(ctx) >= 0;
  }
  return false;
}

}  // namespace facefuse::media
