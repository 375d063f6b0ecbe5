#include "facefuse/media/muxer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <system_error>

#include "facefuse/media/image_io.h"  // temp_path_beside, file_url
#include "facefuse/media/video_writer.h"  // muxer_for_output
#include "facefuse/media/video_probe.h"  // detail::MediaInput: the safety settings of every input

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
}

namespace facefuse::media {
namespace {

std::string av_error(int err) { return detail::av_error_text(err); }

using InputPtr = std::unique_ptr<detail::MediaInput>;
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameFree>;
struct CodecFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFree>;
struct SwrFree {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
using SwrPtr = std::unique_ptr<SwrContext, SwrFree>;
struct FifoFree {
  void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};
using FifoPtr = std::unique_ptr<AVAudioFifo, FifoFree>;

PacketPtr make_packet() { return PacketPtr(av_packet_alloc()); }

// Whether `f` can store `codec` as it is. MPEG-TS has no codec table to ask, so it is listed here.
bool container_takes(const AVOutputFormat* f, AVCodecID codec) {
  if (std::strcmp(f->name, "mpegts") == 0) {
    static constexpr AVCodecID kTs[] = {AV_CODEC_ID_H264, AV_CODEC_ID_HEVC, AV_CODEC_ID_MPEG2VIDEO,
                                        AV_CODEC_ID_AAC,  AV_CODEC_ID_MP3,  AV_CODEC_ID_MP2,
                                        AV_CODEC_ID_AC3,  AV_CODEC_ID_EAC3, AV_CODEC_ID_OPUS};
    return std::find(std::begin(kTs), std::end(kTs), codec) != std::end(kTs);
  }
  return avformat_query_codec(f, codec, FF_COMPLIANCE_NORMAL) == 1;
}

bool is_mp4_family(const AVOutputFormat* f) {
  return std::strcmp(f->name, "mp4") == 0 || std::strcmp(f->name, "mov") == 0;
}

// Opened with media/'s input safety settings (file protocol only, container whitelist, bounded
// probing, I/O deadline).
Result<InputPtr> open_input(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return not_found(fmt::format("{} {} does not exist", what, path.string()));
  }
  return detail::MediaInput::open(path);
}

// av_read_frame under the input's I/O deadline.
int read_packet(detail::MediaInput& in, AVPacket* pkt) {
  in.arm_deadline();
  return av_read_frame(in.context(), pkt);
}

double to_seconds(int64_t ts, AVRational tb) { return static_cast<double>(ts) * av_q2d(tb); }

// ---------------------------------------------------------------------------------------------
// Video: the segments read one after the other, their packets put on one constant-frame-rate
// timeline whose unit is one frame (time base fps_den/fps_num).

class SegmentChain {
 public:
  explicit SegmentChain(std::vector<std::filesystem::path> paths) : paths_(std::move(paths)) {}

  // Opens the first segment: its parameters define the output stream.
  Status open() { return open_segment(0); }
  const AVCodecParameters* codecpar() const { return first_par_; }
  AVRational frame_rate() const { return fps_; }
  AVRational frame_time_base() const { return av_inv_q(fps_); }
  int64_t frames() const { return end_frame_; }

  // Next packet with pts/dts/duration in frames; false after the last segment.
  Result<bool> next(AVPacket* out) {
    while (true) {
      av_packet_unref(out);
      int err = read_packet(*in_, out);
      if (err == AVERROR_EOF) {
        if (index_ + 1 >= paths_.size()) return false;
        cursor_ = end_frame_;  // the next segment starts where this one ended
        FF_RETURN_IF_ERROR(open_segment(index_ + 1));
        FF_RETURN_IF_ERROR(check_continuity());
        continue;
      }
      if (err < 0) {
        return unavailable(fmt::format("reading segment {} failed: {}", paths_[index_].string(), av_error(err)));
      }
      if (out->stream_index != stream_index_) continue;
      if (out->pts == AV_NOPTS_VALUE) {
        return invalid_argument(
            fmt::format("segment {} has a packet without a presentation time", paths_[index_].string()));
      }
      AVRational frame_tb = frame_time_base();
      auto rebase = [&](int64_t ts) {
        return cursor_ + av_rescale_q_rnd(ts - start_, tb_, frame_tb,
                                          static_cast<AVRounding>(AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX));
      };
      out->pts = rebase(out->pts);
      // Matroska/WebM store no decode times: libavformat leaves the first `delay` packets of a
      // stream with B-frames without one. One packet per frame at a constant rate, so the decode
      // time of packet i of the segment is (i - delay) frames after the segment's start.
      if (out->dts == AV_NOPTS_VALUE)
        out->dts = cursor_ + packet_in_segment_ - delay_;
      else
        out->dts = rebase(out->dts);
      ++packet_in_segment_;
      if (out->dts > out->pts) {
        return invalid_argument(
            fmt::format("segment {} reorders frames deeper than it declares (decode time after "
                        "presentation time): re-encode it as .mp4",
                        paths_[index_].string()));
      }
      out->duration = 1;
      out->pos = -1;
      if (out->dts <= last_dts_) {
        return invalid_argument(
            fmt::format("segment {} does not continue the previous one (decode time {} after {}): "
                        "segments must be encoded with the same options",
                        paths_[index_].string(), out->dts, last_dts_));
      }
      last_dts_ = out->dts;
      end_frame_ = std::max(end_frame_, out->pts + 1);
      return true;
    }
  }

 private:
  Status open_segment(size_t i) {
    index_ = i;
    in_.reset();
    FF_ASSIGN_OR_RETURN(in_, open_input(paths_[i], "video segment"));
    int video = detail::find_video_stream(in_->context());
    if (video < 0) return invalid_argument(fmt::format("video segment {} has no video stream", paths_[i].string()));
    stream_index_ = video;
    AVStream* st = in_->context()->streams[video];
    tb_ = st->time_base;
    AVRational fps = av_guess_frame_rate(in_->context(), st, nullptr);
    if (fps.num <= 0 || fps.den <= 0) {
      return invalid_argument(fmt::format("video segment {} has no frame rate", paths_[i].string()));
    }
    const AVCodecParameters* par = st->codecpar;
    if (i == 0) {
      first_par_owned_.reset(avcodec_parameters_alloc());
      avcodec_parameters_copy(first_par_owned_.get(), par);
      first_par_ = first_par_owned_.get();
      fps_ = fps;
    } else {
      const AVCodecParameters* a = first_par_;
      std::string what;
      if (par->codec_id != a->codec_id)
        what = fmt::format("codec {} vs {}", avcodec_get_name(par->codec_id), avcodec_get_name(a->codec_id));
      else if (par->width != a->width || par->height != a->height)
        what = fmt::format("size {}x{} vs {}x{}", par->width, par->height, a->width, a->height);
      else if (par->format != a->format)
        what = "pixel format";
      else if (av_cmp_q(fps, fps_) != 0)
        what = fmt::format("frame rate {}/{} vs {}/{}", fps.num, fps.den, fps_.num, fps_.den);
      else if (par->extradata_size != a->extradata_size ||
               (a->extradata_size > 0 &&
                std::memcmp(par->extradata, a->extradata, static_cast<size_t>(a->extradata_size)) != 0)) {
        what = "codec headers (SPS/PPS)";
      }
      if (!what.empty()) {
        return invalid_argument(
            fmt::format("video segment {} does not match {}: {} differ; encode all segments of "
                        "one output with the same options",
                        paths_[i].string(), paths_[0].string(), what));
      }
    }
    // The segment's first presented frame goes to the cursor. start_time is the smallest pts.
    start_ = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    if (i == 0) first_start_sec_ = to_seconds(start_, tb_);
    delay_ = std::max(par->video_delay, 0);
    packet_in_segment_ = 0;
    return Status::ok();
  }

  // VideoWriter stamps frame k with time k, so segment i must start where segment i-1 ended;
  // anything else is a missing or repeated chunk, which would shift the picture against the
  // audio from there on.
  Status check_continuity() const {
    double start_sec = to_seconds(start_, tb_) - first_start_sec_;
    int64_t start_frame = std::llround(start_sec / av_q2d(frame_time_base()));
    if (start_frame != cursor_) {
      return invalid_argument(
          fmt::format("video segment {} starts at frame {} but the segments before it end at "
                      "frame {}: a chunk is missing, repeated or out of order (write each with "
                      "VideoWriter's first_frame_index = its first frame)",
                      paths_[index_].string(), start_frame, cursor_));
    }
    return Status::ok();
  }

  struct ParFree {
    void operator()(AVCodecParameters* p) const { avcodec_parameters_free(&p); }
  };

  std::vector<std::filesystem::path> paths_;
  size_t index_ = 0;
  InputPtr in_;
  int stream_index_ = -1;
  AVRational tb_{1, 1};
  AVRational fps_{25, 1};
  int64_t start_ = 0;
  double first_start_sec_ = 0;     // start of the first segment (container offsets, trim start)
  int64_t delay_ = 0;              // frames of reordering (B-frames): has_b_frames
  int64_t packet_in_segment_ = 0;  // video packets read from the current segment
  int64_t cursor_ = 0;             // first frame of the current segment on the output timeline
  int64_t end_frame_ = 0;          // one past the last frame so far
  int64_t last_dts_ = std::numeric_limits<int64_t>::min();
  std::unique_ptr<AVCodecParameters, ParFree> first_par_owned_;
  const AVCodecParameters* first_par_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Audio: each audio stream of the source is either copied or re-encoded. Output time 0 is the
// window start; `horizon` (seconds of output time) says how far the video has got, and at the end
// the final cut (min(window end, video end)). Nothing at or past the horizon is written yet.

class AudioTrack {
 public:
  virtual ~AudioTrack() = default;
  // A packet of this track's input stream (source time base).
  virtual Status push(AVPacket* pkt) = 0;
  // Writes everything earlier than `horizon` seconds; `final` also drains decoders/encoders.
  virtual Status release(double horizon, bool final) = 0;
};

Status write_packet(AVFormatContext* oc, AVPacket* pkt, const std::string& output) {
  int err = av_interleaved_write_frame(oc, pkt);
  if (err < 0)
    return unavailable(fmt::format("writing {} failed (disk full or I/O error?): {}", output, av_error(err)));
  return Status::ok();
}

class CopyTrack : public AudioTrack {
 public:
  CopyTrack(AVFormatContext* oc, AVStream* in, AVStream* out, double window_start_src, bool trim_start,
            bool allow_negative, std::string output)
      : oc_(oc),
        in_(in),
        out_(out),
        window_start_src_(window_start_src),
        trim_start_(trim_start),
        allow_negative_(allow_negative),
        output_(std::move(output)) {}

  Status push(AVPacket* pkt) override {
    if (pkt->pts == AV_NOPTS_VALUE) pkt->pts = pkt->dts;
    if (pkt->pts == AV_NOPTS_VALUE) return Status::ok();  // cannot be placed; players skip such packets too
    if (pkt->duration <= 0) {
      int frame_size = in_->codecpar->frame_size;
      int rate = in_->codecpar->sample_rate;
      if (frame_size > 0 && rate > 0) pkt->duration = av_rescale_q(frame_size, AVRational{1, rate}, in_->time_base);
    }
    PacketPtr p = make_packet();
    av_packet_move_ref(p.get(), pkt);
    pending_.push_back(std::move(p));
    return Status::ok();
  }

  Status release(double horizon, bool final) override {
    while (!pending_.empty()) {
      AVPacket* p = pending_.front().get();
      double start = to_seconds(p->pts, in_->time_base) - window_start_src_;
      double duration = to_seconds(p->duration, in_->time_base);
      double mid = start + duration / 2;
      // A packet belongs to the window when its middle does: the cut is off by at most half a
      // packet (AAC at 48 kHz: 10.7 ms), well under a video frame.
      if (mid >= horizon) {
        if (final) pending_.clear();
        return Status::ok();
      }
      PacketPtr owned = std::move(pending_.front());
      pending_.pop_front();
      if (!started_) {
        // Untrimmed start into mp4/mov: keep leading packets that end at or after 0 (AAC priming
        // in mp4 ends exactly at 0) at their negative times, so the decoder gets its warm-up and
        // the edit list hides it. Otherwise drop what lies mostly before the window. Timestamps
        // keep their exact offset to the video (a first packet at -5 ms or +5 ms stays there),
        // except where a stream cannot start before 0 (Matroska, MPEG-TS): the first packet
        // kept moves to 0 there, off by at most half a packet.
        bool keep_leading = !trim_start_ && allow_negative_;
        if (keep_leading ? start + duration < -1e-6 : mid < 0) continue;
        started_ = true;
        offset_ = std::llround(window_start_src_ / av_q2d(in_->time_base));
        if (p->pts < offset_ && !allow_negative_) offset_ = p->pts;
      }
      p->pts -= offset_;
      if (p->dts != AV_NOPTS_VALUE) p->dts -= offset_;
      if (p->dts == AV_NOPTS_VALUE || p->dts > p->pts) p->dts = p->pts;
      if (p->dts <= last_dts_) continue;  // a duplicate or out-of-order packet would stop the muxer
      last_dts_ = p->dts;
      av_packet_rescale_ts(p, in_->time_base, out_->time_base);
      p->stream_index = out_->index;
      p->pos = -1;
      FF_RETURN_IF_ERROR(write_packet(oc_, p, output_));
    }
    return Status::ok();
  }

 private:
  AVFormatContext* oc_;
  AVStream* in_;
  AVStream* out_;
  double window_start_src_;
  bool trim_start_;
  bool allow_negative_;
  std::string output_;
  std::deque<PacketPtr> pending_;
  bool started_ = false;
  int64_t offset_ = 0;
  int64_t last_dts_ = std::numeric_limits<int64_t>::min();
};

class EncodeTrack : public AudioTrack {
 public:
  EncodeTrack(AVFormatContext* oc, AVStream* in, double window_start_src, double gain, std::string output)
      : oc_(oc), in_(in), window_start_src_(window_start_src), gain_(gain), output_(std::move(output)) {}

  Status open(const AVCodec* encoder) {
    const AVCodec* decoder = avcodec_find_decoder(in_->codecpar->codec_id);
    if (decoder == nullptr) {
      return unsupported(fmt::format("the audio codec {} of the target cannot be decoded by this FFmpeg",
                                     avcodec_get_name(in_->codecpar->codec_id)));
    }
    dec_.reset(avcodec_alloc_context3(decoder));
    int err = avcodec_parameters_to_context(dec_.get(), in_->codecpar);
    if (err < 0) return internal_error(fmt::format("audio decoder parameters: {}", av_error(err)));
    dec_->pkt_timebase = in_->time_base;
    err = avcodec_open2(dec_.get(), decoder, nullptr);
    if (err < 0) return unsupported(fmt::format("cannot open the {} audio decoder: {}", decoder->name, av_error(err)));

    enc_.reset(avcodec_alloc_context3(encoder));
    AVCodecContext* e = enc_.get();
    // Sample rate: the source's when the encoder takes it (AAC: 8–96 kHz), else 48 kHz (Opus).
    int rate = in_->codecpar->sample_rate > 0 ? in_->codecpar->sample_rate : 48000;
    if (encoder->supported_samplerates != nullptr) {
      bool ok = false;
      for (const int* r = encoder->supported_samplerates; *r != 0; ++r) ok = ok || *r == rate;
      if (!ok) rate = 48000;
    }
    e->sample_rate = rate;
    e->time_base = AVRational{1, rate};
    // Channel layout: the source's (unordered PCM gets the default order for its channel count)
    // when the encoder takes it, else stereo.
    AVChannelLayout layout{};
    int channels = in_->codecpar->ch_layout.nb_channels > 0 ? in_->codecpar->ch_layout.nb_channels : 2;
    if (in_->codecpar->ch_layout.order == AV_CHANNEL_ORDER_NATIVE)
      av_channel_layout_copy(&layout, &in_->codecpar->ch_layout);
    else
      av_channel_layout_default(&layout, channels);
    if (encoder->ch_layouts != nullptr) {
      bool ok = false;
      for (const AVChannelLayout* l = encoder->ch_layouts; l->nb_channels != 0; ++l)
        ok = ok || av_channel_layout_compare(l, &layout) == 0;
      if (!ok) {
        av_channel_layout_uninit(&layout);
        layout = AV_CHANNEL_LAYOUT_STEREO;
      }
    }
    av_channel_layout_copy(&e->ch_layout, &layout);
    av_channel_layout_uninit(&layout);
    // Float samples so the gain is applied without integer wrap-around.
    e->sample_fmt = encoder->sample_fmts != nullptr ? encoder->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    for (const AVSampleFormat* f = encoder->sample_fmts; f != nullptr && *f != AV_SAMPLE_FMT_NONE; ++f) {
      if (*f == AV_SAMPLE_FMT_FLTP || *f == AV_SAMPLE_FMT_FLT) {
        e->sample_fmt = *f;
        break;
      }
    }
    e->bit_rate = std::min(e->ch_layout.nb_channels, 2) * 96000 + std::max(e->ch_layout.nb_channels - 2, 0) * 64000;
    if (oc_->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    err = avcodec_open2(e, encoder, nullptr);
    if (err < 0)
      return internal_error(fmt::format("cannot open the {} audio encoder: {}", encoder->name, av_error(err)));

    out_ = avformat_new_stream(oc_, nullptr);
    if (out_ == nullptr) return internal_error("out of memory adding an audio stream");
    err = avcodec_parameters_from_context(out_->codecpar, e);
    if (err < 0) return internal_error(fmt::format("audio encoder parameters: {}", av_error(err)));
    out_->time_base = e->time_base;
    av_dict_copy(&out_->metadata, in_->metadata, 0);

    frame_size_ =
        (encoder->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) || e->frame_size <= 0 ? 1024 : e->frame_size;
    fifo_.reset(av_audio_fifo_alloc(e->sample_fmt, e->ch_layout.nb_channels, frame_size_ * 4));
    decoded_.reset(av_frame_alloc());
    packet_ = make_packet();
    if (!fifo_ || !decoded_ || !packet_) return internal_error("out of memory for audio buffers");
    return Status::ok();
  }

  Status push(AVPacket* pkt) override {
    int err = avcodec_send_packet(dec_.get(), pkt);
    if (err < 0 && err != AVERROR(EAGAIN)) {
      // A damaged packet in the target's audio: skip it like a player would.
      return Status::ok();
    }
    return drain_decoder();
  }

  Status release(double horizon, bool final) override {
    if (final) {
      FF_RETURN_IF_ERROR(push_null_once());
      if (swr_) FF_RETURN_IF_ERROR(convert(nullptr, 0));
    }
    int rate = enc_->sample_rate;
    int64_t limit = horizon == std::numeric_limits<double>::infinity()
                        ? std::numeric_limits<int64_t>::max()
                        : static_cast<int64_t>(std::floor(horizon * rate + 1e-6));
    // Samples already in the FIFO start at output sample next_pts_.
    while (true) {
      int64_t available = av_audio_fifo_size(fifo_.get());
      int64_t allowed = limit - next_pts_;
      int64_t n = std::min<int64_t>({available, allowed, frame_size_});
      if (n <= 0) break;
      if (n < frame_size_ && !final) break;  // wait for a full frame
      FF_RETURN_IF_ERROR(encode_from_fifo(static_cast<int>(n)));
      if (n < frame_size_) break;
    }
    if (final) {
      av_audio_fifo_reset(fifo_.get());
      FF_RETURN_IF_ERROR(encode(nullptr));
    }
    return Status::ok();
  }

 private:
  Status push_null_once() {
    if (decoder_flushed_) return Status::ok();
    decoder_flushed_ = true;
    avcodec_send_packet(dec_.get(), nullptr);
    return drain_decoder();
  }

  Status drain_decoder() {
    while (true) {
      int err = avcodec_receive_frame(dec_.get(), decoded_.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::ok();
      if (err < 0) return Status::ok();  // corrupt data: keep what decoded
      Status s = take_frame(decoded_.get());
      av_frame_unref(decoded_.get());
      FF_RETURN_IF_ERROR(s);
    }
  }

  // Cuts the decoded frame at the window start (to the sample) and converts it for the encoder.
  Status take_frame(AVFrame* f) {
    int in_rate = f->sample_rate;
    int64_t skip = 0;
    if (!started_) {
      int64_t ts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
      double t = ts != AV_NOPTS_VALUE ? to_seconds(ts, in_->time_base) - window_start_src_ : 0.0;
      double end = t + static_cast<double>(f->nb_samples) / in_rate;
      if (end <= 0) return Status::ok();  // wholly before the window
      if (t < 0) skip = std::llround(-t * in_rate);
      // Audio that starts after the window start keeps its delay.
      next_pts_ = t > 0 ? std::llround(t * enc_->sample_rate) : 0;
      started_ = true;
      FF_RETURN_IF_ERROR(open_resampler(f));
    }
    if (skip >= f->nb_samples) return Status::ok();
    std::vector<const uint8_t*> planes(
        static_cast<size_t>(f->ch_layout.nb_channels > 0 ? f->ch_layout.nb_channels : 1));
    int bytes = av_get_bytes_per_sample(static_cast<AVSampleFormat>(f->format));
    bool planar = av_sample_fmt_is_planar(static_cast<AVSampleFormat>(f->format));
    for (size_t c = 0; c < planes.size(); ++c) {
      if (planar)
        planes[c] = f->extended_data[c] + skip * bytes;
      else if (c == 0)
        planes[c] = f->extended_data[0] + skip * bytes * f->ch_layout.nb_channels;
    }
    return convert(planes.data(), static_cast<int>(f->nb_samples - skip));
  }

  Status open_resampler(const AVFrame* f) {
    AVChannelLayout in_layout{};
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f->ch_layout.nb_channels == 0) {
      av_channel_layout_default(&in_layout, f->ch_layout.nb_channels > 0 ? f->ch_layout.nb_channels : 2);
    } else {
      av_channel_layout_copy(&in_layout, &f->ch_layout);
    }
    SwrContext* raw = nullptr;
    int err = swr_alloc_set_opts2(&raw, &enc_->ch_layout, enc_->sample_fmt, enc_->sample_rate, &in_layout,
                                  static_cast<AVSampleFormat>(f->format), f->sample_rate, 0, nullptr);
    av_channel_layout_uninit(&in_layout);
    swr_.reset(raw);
    if (err < 0 || (err = swr_init(swr_.get())) < 0) {
      return unsupported(fmt::format("cannot convert the target's audio ({} Hz, {} channels): {}", f->sample_rate,
                                     f->ch_layout.nb_channels, av_error(err)));
    }
    return Status::ok();
  }

  // Converts (nullptr: drains the resampler), applies the gain and appends to the FIFO.
  Status convert(const uint8_t** in, int in_samples) {
    if (!swr_) return Status::ok();
    int capacity = swr_get_out_samples(swr_.get(), in_samples);
    if (capacity <= 0) return Status::ok();
    uint8_t** out = nullptr;
    int err =
        av_samples_alloc_array_and_samples(&out, nullptr, enc_->ch_layout.nb_channels, capacity, enc_->sample_fmt, 0);
    if (err < 0) return internal_error("out of memory converting audio");
    int n = swr_convert(swr_.get(), out, capacity, in, in_samples);
    Status status;
    if (n < 0) {
      status = internal_error(fmt::format("audio conversion failed: {}", av_error(n)));
    } else if (n > 0) {
      apply_gain(out, n);
      if (av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(out), n) < n)
        status = internal_error("out of memory buffering audio");
    }
    av_freep(&out[0]);
    av_freep(&out);
    return status;
  }

  void apply_gain(uint8_t** data, int samples) {
    if (gain_ == 1.0) return;
    auto g = static_cast<float>(gain_);
    bool planar = av_sample_fmt_is_planar(enc_->sample_fmt);
    int channels = enc_->ch_layout.nb_channels;
    if (enc_->sample_fmt != AV_SAMPLE_FMT_FLTP && enc_->sample_fmt != AV_SAMPLE_FMT_FLT) return;
    int planes = planar ? channels : 1;
    size_t per_plane = static_cast<size_t>(samples) * (planar ? 1 : channels);
    for (int c = 0; c < planes; ++c) {
      auto* s = reinterpret_cast<float*>(data[c]);
      for (size_t i = 0; i < per_plane; ++i) s[i] = std::clamp(s[i] * g, -1.0f, 1.0f);
    }
  }

  Status encode_from_fifo(int n) {
    FramePtr f(av_frame_alloc());
    f->nb_samples = n;
    f->format = enc_->sample_fmt;
    f->sample_rate = enc_->sample_rate;
    av_channel_layout_copy(&f->ch_layout, &enc_->ch_layout);
    int err = av_frame_get_buffer(f.get(), 0);
    if (err < 0) return internal_error("out of memory for an audio frame");
    if (av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(f->data), n) < n)
      return internal_error("audio FIFO underrun");
    f->pts = next_pts_;
    next_pts_ += n;
    return encode(f.get());
  }

  Status encode(AVFrame* f) {
    int err = avcodec_send_frame(enc_.get(), f);
    if (err < 0 && err != AVERROR_EOF) return internal_error(fmt::format("audio encoder failed: {}", av_error(err)));
    while (true) {
      err = avcodec_receive_packet(enc_.get(), packet_.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::ok();
      if (err < 0) return internal_error(fmt::format("audio encoder failed: {}", av_error(err)));
      av_packet_rescale_ts(packet_.get(), enc_->time_base, out_->time_base);
      packet_->stream_index = out_->index;
      FF_RETURN_IF_ERROR(write_packet(oc_, packet_.get(), output_));
    }
  }

  AVFormatContext* oc_;
  AVStream* in_;
  AVStream* out_ = nullptr;
  double window_start_src_;
  double gain_;
  std::string output_;
  CodecPtr dec_, enc_;
  SwrPtr swr_;
  FifoPtr fifo_;
  FramePtr decoded_;
  PacketPtr packet_;
  int frame_size_ = 1024;
  bool started_ = false;
  bool decoder_flushed_ = false;
  int64_t next_pts_ = 0;
};

// The audio encoder used when a stream cannot be copied into the container.
const AVCodec* fallback_audio_encoder(const AVOutputFormat* f) {
  if (std::strcmp(f->name, "webm") == 0) {
    const AVCodec* c = avcodec_find_encoder_by_name("libopus");
    return c != nullptr ? c : avcodec_find_encoder_by_name("libvorbis");
  }
  return avcodec_find_encoder_by_name("aac");
}

// Everything one assemble_video call owns; the destructor removes the temporary file unless the
// output was committed.
struct Assembly {
  std::filesystem::path temp;
  AVFormatContext* oc = nullptr;
  bool committed = false;
  ~Assembly() {
    if (oc != nullptr) {
      if (oc->pb != nullptr) avio_closep(&oc->pb);
      avformat_free_context(oc);
    }
    if (!committed && !temp.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
    }
  }
};

}  // namespace

Status assemble_video(const std::vector<std::filesystem::path>& segments,
                      const std::filesystem::path& audio_source_or_empty, const AudioOptions& audio,
                      const std::filesystem::path& output, const std::map<std::string, std::string>& tags) {
  if (segments.empty()) return invalid_argument("assemble_video needs at least one video segment");
  if (!(audio.volume >= 0) || !std::isfinite(audio.volume)) {
    return invalid_argument(
        fmt::format("audio volume {} is invalid: use a factor >= 0 (0 drops the audio)", audio.volume));
  }
  if (!(audio.start_sec >= 0) || (audio.end_sec >= 0 && audio.end_sec <= audio.start_sec)) {
    return invalid_argument(fmt::format("audio window [{}, {}] is invalid: need 0 <= start < end (end < 0: to the end)",
                                        audio.start_sec, audio.end_sec));
  }
  FF_ASSIGN_OR_RETURN(const char* muxer, muxer_for_output(output));
  const AVOutputFormat* ofmt = av_guess_format(muxer, nullptr, nullptr);
  if (ofmt == nullptr) return unsupported(fmt::format("the {} muxer is not compiled into this FFmpeg", muxer));
  detail::configure_ffmpeg();

  SegmentChain video(segments);
  FF_RETURN_IF_ERROR(video.open());
  if (!container_takes(ofmt, video.codecpar()->codec_id)) {
    return invalid_argument(fmt::format("{} cannot hold {} video: choose another output container",
                                        output.extension().string(), avcodec_get_name(video.codecpar()->codec_id)));
  }

  Assembly a;
  int err = avformat_alloc_output_context2(&a.oc, ofmt, nullptr, nullptr);
  if (err < 0) return internal_error(fmt::format("cannot create a {} muxer: {}", muxer, av_error(err)));
  for (const auto& [key, value] : tags) av_dict_set(&a.oc->metadata, key.c_str(), value.c_str(), 0);
  AVStream* vout = avformat_new_stream(a.oc, nullptr);
  if (vout == nullptr) return internal_error("out of memory adding the video stream");
  avcodec_parameters_copy(vout->codecpar, video.codecpar());
  vout->codecpar->codec_tag = 0;
  if (vout->codecpar->codec_id == AV_CODEC_ID_HEVC && is_mp4_family(ofmt))
    vout->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
  vout->time_base = video.frame_time_base();
  vout->avg_frame_rate = video.frame_rate();
  vout->r_frame_rate = video.frame_rate();

  // Audio source: its streams, the window origin (the first video frame of the target).
  InputPtr source;
  std::vector<std::unique_ptr<AudioTrack>> tracks;
  std::vector<int> track_of_stream;
  double window_start = 0;  // source seconds that become output time 0
  if (!audio_source_or_empty.empty() && audio.volume > 0) {
    FF_ASSIGN_OR_RETURN(source, open_input(audio_source_or_empty, "audio source"));
    AVFormatContext* src = source->context();
    track_of_stream.assign(src->nb_streams, -1);
    double origin = 0;
    int v = detail::find_video_stream(src);
    if (v >= 0 && src->streams[v]->start_time != AV_NOPTS_VALUE) {
      origin = to_seconds(src->streams[v]->start_time, src->streams[v]->time_base);
    } else if (src->start_time != AV_NOPTS_VALUE) {
      origin = static_cast<double>(src->start_time) / AV_TIME_BASE;
    }
    window_start = origin + audio.start_sec;
    for (unsigned i = 0; i < src->nb_streams; ++i) {
      AVStream* in = src->streams[i];
      if (in->codecpar->codec_type != AVMEDIA_TYPE_AUDIO || in->codecpar->codec_id == AV_CODEC_ID_NONE) continue;
      bool copy = audio.volume == 1.0 && container_takes(ofmt, in->codecpar->codec_id);
      if (copy) {
        AVStream* out = avformat_new_stream(a.oc, nullptr);
        if (out == nullptr) return internal_error("out of memory adding an audio stream");
        avcodec_parameters_copy(out->codecpar, in->codecpar);
        out->codecpar->codec_tag = 0;
        out->time_base = in->time_base;
        av_dict_copy(&out->metadata, in->metadata, 0);
        bool negative_ok = is_mp4_family(ofmt);
        tracks.push_back(std::make_unique<CopyTrack>(a.oc, in, out, window_start, audio.start_sec > 0, negative_ok,
                                                     output.string()));
      } else {
        const AVCodec* encoder = fallback_audio_encoder(ofmt);
        if (encoder == nullptr) return unsupported(fmt::format("no audio encoder for {} in this FFmpeg", muxer));
        auto track = std::make_unique<EncodeTrack>(a.oc, in, window_start, audio.volume, output.string());
        FF_RETURN_IF_ERROR(track->open(encoder));
        tracks.push_back(std::move(track));
      }
      track_of_stream[i] = static_cast<int>(tracks.size()) - 1;
    }
    // A window far into the target: seek instead of reading everything before it. A second of
    // lead-in covers the packets that straddle the start and warms up a decoder.
    constexpr double kSeekLeadSec = 1.0;
    if (!tracks.empty() && audio.start_sec > 2 * kSeekLeadSec) {
      auto target_ts = static_cast<int64_t>((window_start - kSeekLeadSec) * AV_TIME_BASE);
      source->arm_deadline();
      // On failure (an unseekable file) nothing moved: reading from the start works, only slower.
      (void)avformat_seek_file(src, -1, INT64_MIN, target_ts, target_ts, 0);
    }
  }

  a.temp = temp_path_beside(output);
  // "file:": a colon in the name ("swap-12:30.mp4") is no protocol. faststart re-opens the file
  // by this url.
  const std::string url = file_url(a.temp);
  a.oc->url = av_strdup(url.c_str());
  err = avio_open(&a.oc->pb, url.c_str(), AVIO_FLAG_WRITE);
  if (err < 0) {
    a.temp.clear();
    return unavailable(fmt::format("cannot create {}: {}", output.string(), av_error(err)));
  }
  AVDictionary* mux_opts = nullptr;
  // Index first, so a browser can play the file while it downloads (a second pass at the end).
  if (is_mp4_family(ofmt)) av_dict_set(&mux_opts, "movflags", "+faststart", 0);
  err = avformat_write_header(a.oc, &mux_opts);
  av_dict_free(&mux_opts);
  if (err < 0) return unavailable(fmt::format("cannot write the header of {}: {}", output.string(), av_error(err)));

  // Video drives the loop; the source is read about a second ahead of the video and its audio
  // released up to the video's time, so the interleaver and the audio queues only ever hold a
  // second or so, whatever the length.
  PacketPtr vpkt = make_packet();
  PacketPtr apkt = make_packet();
  bool source_eof = source == nullptr;
  double audio_read_to = -std::numeric_limits<double>::infinity();  // output seconds
  auto pump_audio = [&](double until, double horizon) -> Status {
    while (!source_eof && audio_read_to < until) {
      av_packet_unref(apkt.get());
      int e = read_packet(*source, apkt.get());
      if (e == AVERROR_EOF) {
        source_eof = true;
        break;
      }
      if (e < 0) {
        return unavailable(
            fmt::format("reading the audio of {} failed: {}", audio_source_or_empty.string(), av_error(e)));
      }
      int t = track_of_stream[static_cast<size_t>(apkt->stream_index)];
      if (t < 0) continue;
      AVStream* in = source->context()->streams[apkt->stream_index];
      int64_t ts = apkt->dts != AV_NOPTS_VALUE ? apkt->dts : apkt->pts;
      if (ts != AV_NOPTS_VALUE) audio_read_to = to_seconds(ts, in->time_base) - window_start;
      FF_RETURN_IF_ERROR(tracks[static_cast<size_t>(t)]->push(apkt.get()));
      FF_RETURN_IF_ERROR(tracks[static_cast<size_t>(t)]->release(horizon, false));
    }
    return Status::ok();
  };
  constexpr double kReadAheadSec = 1.0;
  double frame_sec = av_q2d(video.frame_time_base());
  double window_end = audio.end_sec >= 0 ? audio.end_sec - audio.start_sec : std::numeric_limits<double>::infinity();
  while (true) {
    FF_ASSIGN_OR_RETURN(bool more, video.next(vpkt.get()));
    if (!more) break;
    if (!tracks.empty()) {
      double horizon = std::min(static_cast<double>(vpkt->dts) * frame_sec, window_end);
      FF_RETURN_IF_ERROR(pump_audio(horizon + kReadAheadSec, horizon));
      for (auto& t : tracks) FF_RETURN_IF_ERROR(t->release(horizon, false));
    }
    av_packet_rescale_ts(vpkt.get(), video.frame_time_base(), vout->time_base);
    vpkt->stream_index = vout->index;
    FF_RETURN_IF_ERROR(write_packet(a.oc, vpkt.get(), output.string()));
  }
  if (!tracks.empty()) {
    // The audio ends with the picture (or the window's end, if earlier).
    double end = std::min(static_cast<double>(video.frames()) * frame_sec, window_end);
    FF_RETURN_IF_ERROR(pump_audio(end + kReadAheadSec, end));
    for (auto& t : tracks) FF_RETURN_IF_ERROR(t->release(end, true));
  }
  err = av_write_trailer(a.oc);
  if (err < 0) return unavailable(fmt::format("cannot finish {}: {}", output.string(), av_error(err)));
  err = avio_closep(&a.oc->pb);
  if (err < 0) return unavailable(fmt::format("cannot close {}: {}", output.string(), av_error(err)));
  std::error_code ec;
  std::filesystem::rename(a.temp, output, ec);
  if (ec) return unavailable(fmt::format("cannot move the finished video to {}: {}", output.string(), ec.message()));
  a.committed = true;
  return Status::ok();
}

}  // namespace facefuse::media
