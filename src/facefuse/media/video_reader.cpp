#include "facefuse/media/video_reader.h"

#include "facefuse/media/sws_image.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include "facefuse/core/cpu_budget.h"

namespace facefuse::media {
namespace {

using detail::MediaInput;

constexpr int64_t kUnknownIndex = -1;
// Seeks that overshoot (B-frame reordering, open GOPs) are retried further back; after this many
// tries the reader decodes from the start, which is always exact.
constexpr int kMaxSeekAttempts = 5;

int sws_colorspace(AVColorSpace space) {
  switch (space) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    // Untagged streams use BT.601, as the ffmpeg tool does (and as our writer encodes).
    default: return SWS_CS_DEFAULT;
  }
}

// The deprecated full-range "yuvj" formats as their plain twin plus full range, so libswscale
// neither warns nor guesses.
AVPixelFormat without_jpeg_range(AVPixelFormat format, bool& full_range) {
  switch (format) {
    case AV_PIX_FMT_YUVJ420P: full_range = true; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: full_range = true; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: full_range = true; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: full_range = true; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: full_range = true; return AV_PIX_FMT_YUV411P;
    default: return format;
  }
}

// Makes `m` a CV_8UC3 rows x cols buffer that no other cv::Mat shares (see VideoReader::read).
void prepare_exclusive(cv::Mat& m, int rows, int cols) {
  if (m.u != nullptr && m.u->refcount > 1) m.release();
  m.create(rows, cols, CV_8UC3);
}

bool is_corrupt(const AVFrame* frame) {
  return (frame->flags & AV_FRAME_FLAG_CORRUPT) != 0 || frame->decode_error_flags != 0;
}

}  // namespace

struct VideoReader::Impl {
  VideoInfo info;
  VideoReaderOptions options;

  std::unique_ptr<MediaInput> input;
  AVStream* stream = nullptr;  // owned by input
  AVCodecContext* decoder = nullptr;
  AVPacket* packet = nullptr;
  AVFrame* frame = nullptr;  // the last decoded frame; the pending one when has_pending

  SwsContext* sws = nullptr;
  // What the colour details of `sws` were set for: sws_getCachedContext re-creates the context
  // (with default details) exactly when the size or the format changes.
  int sws_width = -1, sws_height = -1, sws_format = -1, sws_colorspace_set = -1, sws_range_set = -1;
  cv::Mat stored_bgr;  // BGR at the stored orientation, before rotation

  bool demux_eof = false;      // end of file reached: the decoder is draining
  bool seen_keyframe = false;  // packets before the first keyframe are skipped (as probe counts)
  bool has_pending = false;    // `frame` holds frame `pending_index`, not yet returned
  int64_t pending_index = 0;
  int64_t next_index = 0;      // index of the next frame the decoder delivers sequentially
  int64_t start_pts = AV_NOPTS_VALUE;  // pts of frame 0 (stream time base)
  std::vector<int64_t> vfr_pts;        // VFR streams: sorted pts of every frame (built on first seek)
  Status error;                        // sticky read error

  ~Impl() { close(); }

  void close() {
    if (sws != nullptr) sws_freeContext(sws);
    sws = nullptr;
    sws_width = sws_height = sws_format = sws_colorspace_set = sws_range_set = -1;
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&decoder);
    input.reset();
    stream = nullptr;
  }

  std::string name() const { return info.path.string(); }

  // Opens the input and the decoder at the start of the stream.
  Status open_stream() {
    close();
    FF_ASSIGN_OR_RETURN(input, MediaInput::open(info.path));
    AVFormatContext* ctx = input->context();
    if (info.stream_index >= static_cast<int>(ctx->nb_streams)) {
      return invalid_argument(fmt::format("{} changed while being read (its video stream is gone)", name()));
    }
    for (unsigned i = 0; i < ctx->nb_streams; ++i) {
      ctx->streams[i]->discard = static_cast<int>(i) == info.stream_index ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    }
    stream = ctx->streams[info.stream_index];
    const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
    if (codec == nullptr) {
      return unsupported(fmt::format("{}: video codec '{}' cannot be decoded by this FFmpeg build", name(), info.codec));
    }
    decoder = avcodec_alloc_context3(codec);
    packet = av_packet_alloc();
    frame = av_frame_alloc();
    if (decoder == nullptr || packet == nullptr || frame == nullptr) return internal_error("out of memory opening a decoder");
    int ret = avcodec_parameters_to_context(decoder, stream->codecpar);
    if (ret < 0) return internal_error(fmt::format("cannot set up the {} decoder: {}", info.codec, detail::av_error_text(ret)));
    decoder->pkt_timebase = stream->time_base;
    int threads = options.decoder_threads;
    if (threads <= 0) threads = static_cast<int>(std::clamp(available_cpus(), 1, 2));
    decoder->thread_count = threads;
    decoder->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    // Damaged data must surface as an error, not as concealed (smeared) frames that would be
    // swapped and encoded as if they were fine; H.264 does not always flag concealed frames.
    decoder->err_recognition |= AV_EF_EXPLODE;
    ret = avcodec_open2(decoder, codec, nullptr);
    if (ret < 0) {
      return unsupported(fmt::format("{}: cannot open the {} decoder: {}", name(), info.codec, detail::av_error_text(ret)));
    }
    demux_eof = false;
    seen_keyframe = false;
    has_pending = false;
    next_index = 0;
    return Status::ok();
  }

  Status read_failure(int ret, const char* what) {
    if (input->timed_out()) {
      return unavailable(fmt::format("reading frame {} of {} timed out after {} s", next_index, name(),
                                     MediaInput::kIoBudget.count()));
    }
    return invalid_argument(fmt::format("{} frame {} of {} failed: {}; the file is truncated or corrupt", what,
                                        next_index, name(), detail::av_error_text(ret)));
  }

  // Decodes the next frame into `frame`; false at the end of the stream.
  Result<bool> decode_next() {
    av_frame_unref(frame);
    while (true) {
      int ret = avcodec_receive_frame(decoder, frame);
      if (ret == 0) return true;
      if (ret == AVERROR_EOF) return false;
      if (ret != AVERROR(EAGAIN)) return read_failure(ret, "decoding");
      if (demux_eof) return false;
      input->arm_deadline();
      ret = av_read_frame(input->context(), packet);
      if (ret == AVERROR_EOF) {
        demux_eof = true;
        avcodec_send_packet(decoder, nullptr);  // drain the frames still inside the decoder
        continue;
      }
      if (ret < 0) return read_failure(ret, "reading");
      bool use = packet->stream_index == info.stream_index && (seen_keyframe || (packet->flags & AV_PKT_FLAG_KEY));
      if (use) {
        seen_keyframe = true;
        ret = avcodec_send_packet(decoder, packet);
      }
      av_packet_unref(packet);
      if (use && ret < 0 && ret != AVERROR(EAGAIN)) return read_failure(ret, "decoding");
    }
  }

  int64_t frame_pts() const {
    return frame->best_effort_timestamp != AV_NOPTS_VALUE ? frame->best_effort_timestamp : frame->pts;
  }

  AVRational frame_duration() const { return AVRational{info.fps_den, info.fps_num}; }

  // Index of a frame from its pts; kUnknownIndex when it cannot be told.
  int64_t index_of_pts(int64_t pts) const {
    if (pts == AV_NOPTS_VALUE) return kUnknownIndex;
    if (info.variable_frame_rate) {
      auto it = std::lower_bound(vfr_pts.begin(), vfr_pts.end(), pts);
      if (it == vfr_pts.end() || *it != pts) return kUnknownIndex;
      return it - vfr_pts.begin();
    }
    if (start_pts == AV_NOPTS_VALUE) return kUnknownIndex;
    return av_rescale_q_rnd(pts - start_pts, stream->time_base, frame_duration(),
                            static_cast<AVRounding>(AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX));
  }

  int64_t pts_of_index(int64_t index) const {
    if (info.variable_frame_rate) return vfr_pts[static_cast<size_t>(index)];
    return start_pts + av_rescale_q(index, frame_duration(), stream->time_base);
  }

  // Lists the pts of every frame of a VFR stream by demuxing it once (no decoding), with the
  // same rules as the sequential reader: from the first keyframe, discarded packets left out.
  Status build_vfr_index() {
    FF_ASSIGN_OR_RETURN(auto scan, MediaInput::open(info.path));
    AVFormatContext* ctx = scan->context();
    for (unsigned i = 0; i < ctx->nb_streams; ++i) {
      ctx->streams[i]->discard = static_cast<int>(i) == info.stream_index ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    }
    std::vector<int64_t> pts;
    pts.reserve(static_cast<size_t>(std::max<int64_t>(info.frame_count, 0)));
    AVPacket* p = av_packet_alloc();
    bool keyframe = false;
    int ret = 0;
    while (true) {
      scan->arm_deadline();
      ret = av_read_frame(ctx, p);
      if (ret < 0) break;
      if (p->stream_index == info.stream_index && (keyframe || (p->flags & AV_PKT_FLAG_KEY)) &&
          !(p->flags & AV_PKT_FLAG_DISCARD)) {
        keyframe = true;
        pts.push_back(p->pts != AV_NOPTS_VALUE ? p->pts : p->dts);
      }
      av_packet_unref(p);
    }
    av_packet_free(&p);
    if (ret != AVERROR_EOF) return read_failure(ret, "indexing");
    if (std::find(pts.begin(), pts.end(), AV_NOPTS_VALUE) != pts.end()) {
      return unsupported(fmt::format("{} has frames without timestamps: seeking in it is not supported", name()));
    }
    std::sort(pts.begin(), pts.end());
    vfr_pts = std::move(pts);
    return Status::ok();
  }

  // Repositions so that the next frame `decode_next` delivers is at or before `target`;
  // `from_start` reopens the stream, which is exact for every format.
  Status reposition(int64_t target, bool from_start) {
    if (from_start) return open_stream();
    input->arm_deadline();
    int ret = av_seek_frame(input->context(), info.stream_index, pts_of_index(target), AVSEEK_FLAG_BACKWARD);
    if (ret < 0) return read_failure(ret, "seeking to");
    avcodec_flush_buffers(decoder);
    demux_eof = false;
    seen_keyframe = false;
    has_pending = false;
    return Status::ok();
  }

  Status seek(int64_t k) {
    if (k < 0 || k >= info.frame_count) {
      return invalid_argument(fmt::format("frame {} is out of range: {} has {} frames (0 to {})", k, name(),
                                          info.frame_count, info.frame_count - 1));
    }
    error = Status::ok();
    // A failed seek leaves the decoder somewhere undefined (or closed): later reads repeat the error.
    Status s = seek_in_range(k);
    if (!s.is_ok()) error = s;
    return s;
  }

  Status seek_in_range(int64_t k) {
    const int64_t here = has_pending ? pending_index : next_index;
    // Close ahead (within ~2 s): decoding forward is cheaper than seeking.
    const int64_t near = std::max<int64_t>(2 * std::llround(info.fps), 8);
    if (k >= here && k - here <= near && !demux_eof) return decode_forward(here, k);
    if (info.variable_frame_rate && vfr_pts.empty()) FF_RETURN_IF_ERROR(build_vfr_index());

    // MP4/MKV seek by presentation time to the keyframe at or before; formats that seek by
    // decode time or to any packet (MPEG-TS) land after the target at first and are retried.
    int64_t backoff = 0;
    for (int attempt = 0;; ++attempt) {
      const int64_t target = k - backoff;
      const bool from_start = target <= 0 || attempt >= kMaxSeekAttempts;
      if (Status s = reposition(target, from_start); !s.is_ok()) {
        if (from_start) return s;
        backoff = k;  // this format does not seek here: decode from the start instead
        continue;
      }
      FF_ASSIGN_OR_RETURN(bool got, decode_next());
      int64_t index = from_start ? 0 : (got ? index_of_pts(frame_pts()) : kUnknownIndex);
      spdlog::debug("seek {} to frame {}: try {} from {} landed on frame {}", name(), k, attempt + 1,
                    from_start ? std::string("the start") : fmt::format("frame {}", target), index);
      if (!from_start && (index == kUnknownIndex || index > k || (index == k && is_corrupt(frame)))) {
        // Landed after the target (reordering, an open GOP) or on an unknown timestamp.
        backoff = std::max<int64_t>(2 * backoff, std::max<int64_t>(std::llround(info.fps), 1));
        continue;
      }
      if (!got) return ended_before(k, 0);
      has_pending = true;
      pending_index = index;
      next_index = index + 1;
      return decode_forward(index, k);
    }
  }

  // From position `here` (the pending frame or the next one), decodes and drops frames up to k.
  Status decode_forward(int64_t here, int64_t k) {
    int64_t index = here;
    if (!has_pending) {
      FF_ASSIGN_OR_RETURN(bool got, decode_next());
      if (!got) return ended_before(k, index);
      has_pending = true;
      pending_index = index;
      next_index = index + 1;
    }
    while (pending_index < k) {
      FF_ASSIGN_OR_RETURN(bool got, decode_next());
      if (!got) {
        has_pending = false;
        return ended_before(k, next_index);
      }
      pending_index = next_index++;
    }
    return Status::ok();
  }

  Status ended_before(int64_t k, int64_t at) {
    error = invalid_argument(fmt::format("cannot reach frame {} of {}: the stream ends at frame {} of {}; "
                                         "the file is truncated or corrupt",
                                         k, name(), at, info.frame_count));
    return error;
  }

  // Converts `frame` to BGR24 into `bgr`, rotated upright when asked.
  Status convert(cv::Mat& bgr) {
    bool full_range = frame->color_range == AVCOL_RANGE_JPEG;
    AVPixelFormat format = without_jpeg_range(static_cast<AVPixelFormat>(frame->format), full_range);
    const int w = frame->width;
    const int h = frame->height;
    sws = sws_getCachedContext(sws, w, h, format, w, h, AV_PIX_FMT_BGR24, SWS_BILINEAR, nullptr, nullptr, nullptr);
    if (sws == nullptr) {
      const char* fmt_name = av_get_pix_fmt_name(format);
      return unsupported(fmt::format("{}: cannot convert pixel format {} to BGR", name(), fmt_name ? fmt_name : "?"));
    }
    const int colorspace = sws_colorspace(frame->colorspace);
    if (w != sws_width || h != sws_height || format != sws_format || colorspace != sws_colorspace_set ||
        static_cast<int>(full_range) != sws_range_set) {
      sws_setColorspaceDetails(sws, sws_getCoefficients(colorspace), full_range ? 1 : 0,
                               sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
      sws_width = w;
      sws_height = h;
      sws_format = format;
      sws_colorspace_set = colorspace;
      sws_range_set = full_range ? 1 : 0;
    }
    const int rotation = options.apply_rotation ? info.rotation_degrees : 0;
    try {
      // swscale writes whole pixel blocks past the end of a row: its destination has padded
      // rows and a spare row (sws_image.h), never a tightly packed cv::Mat.
      cv::Mat& target = rotation == 0 ? bgr : stored_bgr;
      create_sws_bgr(target, h, w);
      uint8_t* dst[4] = {target.data, nullptr, nullptr, nullptr};
      int dst_stride[4] = {static_cast<int>(target.step), 0, 0, 0};
      sws_scale(sws, frame->data, frame->linesize, 0, h, dst, dst_stride);
      if (rotation != 0) {
        const bool quarter = rotation == 90 || rotation == 270;
        prepare_exclusive(bgr, quarter ? w : h, quarter ? h : w);
        cv::rotate(stored_bgr, bgr,
                   rotation == 90 ? cv::ROTATE_90_CLOCKWISE
                                  : rotation == 180 ? cv::ROTATE_180 : cv::ROTATE_90_COUNTERCLOCKWISE);
      }
    } catch (const cv::Exception& e) {
      return internal_error(fmt::format("converting frame of {} to BGR failed: {}", name(), e.what()));
    }
    return Status::ok();
  }

  // Copies the decoded planes into `yuv` when they can be handed to the encoder unchanged.
  void keep_yuv(YuvFrame& yuv) const {
    const bool rotated = options.apply_rotation && info.rotation_degrees != 0;
    const char* space = av_color_space_name(frame->colorspace);
    const auto matrix = yuv_matrix_for_colour_space(space != nullptr ? space : "");
    if (frame->format != AV_PIX_FMT_YUV420P || frame->color_range == AVCOL_RANGE_JPEG || rotated || !matrix ||
        frame->width % 2 != 0 || frame->height % 2 != 0) {
      yuv = {};
      return;
    }
    const int w = frame->width, h = frame->height;
    auto copy_plane = [&](int plane, int rows, int cols, cv::Mat& out) {
      if (out.u != nullptr && out.u->refcount > 1) out.release();  // never overwrite a caller's copy
      cv::Mat(rows, cols, CV_8UC1, frame->data[plane], static_cast<size_t>(frame->linesize[plane])).copyTo(out);
    };
    copy_plane(0, h, w, yuv.y);
    copy_plane(1, h / 2, w / 2, yuv.u);
    copy_plane(2, h / 2, w / 2, yuv.v);
    yuv.matrix = *matrix;
  }

  Result<bool> read(cv::Mat& bgr, int64_t& frame_index, YuvFrame* yuv) {
    if (!error.is_ok()) return error;
    int64_t index = 0;
    if (has_pending) {
      index = pending_index;
      has_pending = false;
    } else {
      auto got = decode_next();
      if (!got) return error = got.status();
      if (!*got) {
        if (next_index < info.frame_count) return ended_before(info.frame_count - 1, next_index);
        return false;
      }
      index = next_index++;
    }
    if (is_corrupt(frame)) {
      return error = invalid_argument(fmt::format("frame {} of {} is damaged (decoded with errors); the file is "
                                                  "truncated or corrupt",
                                                  index, name()));
    }
    FF_RETURN_IF_ERROR(convert(bgr));
    if (yuv != nullptr) keep_yuv(*yuv);
    av_frame_unref(frame);
    frame_index = index;
    return true;
  }
};

VideoReader::VideoReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VideoReader::~VideoReader() = default;

Result<std::unique_ptr<VideoReader>> VideoReader::open(const std::filesystem::path& path,
                                                       const VideoReaderOptions& options) {
  FF_ASSIGN_OR_RETURN(VideoInfo info, probe_video(path));
  auto impl = std::make_unique<Impl>();
  impl->info = std::move(info);
  impl->options = options;
  FF_RETURN_IF_ERROR(impl->open_stream());
  // Frame 0 is decoded now: an undecodable stream fails here, and its pts anchors frame indices.
  FF_ASSIGN_OR_RETURN(bool got, impl->decode_next());
  if (!got) return invalid_argument(fmt::format("{} has no decodable video frame", path.string()));
  impl->start_pts = impl->frame_pts();
  impl->has_pending = true;
  impl->pending_index = 0;
  impl->next_index = 1;
  return std::unique_ptr<VideoReader>(new VideoReader(std::move(impl)));
}

const VideoInfo& VideoReader::info() const { return impl_->info; }

cv::Size VideoReader::frame_size() const {
  return impl_->options.apply_rotation ? cv::Size(impl_->info.width, impl_->info.height)
                                       : cv::Size(impl_->info.coded_width, impl_->info.coded_height);
}

int64_t VideoReader::position() const { return impl_->has_pending ? impl_->pending_index : impl_->next_index; }

Status VideoReader::seek_to_frame(int64_t frame_index) { return impl_->seek(frame_index); }

Result<bool> VideoReader::read(cv::Mat& bgr, int64_t& frame_index, YuvFrame* yuv) {
  return impl_->read(bgr, frame_index, yuv);
}

}  // namespace facefuse::media
