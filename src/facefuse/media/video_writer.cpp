#include "facefuse/media/video_writer.h"

#include "facefuse/media/image_io.h"
#include "facefuse/media/sws_image.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <system_error>

#include "facefuse/media/video_probe.h"  // detail::configure_ffmpeg, av_error_text

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace facefuse::media {
namespace {

std::string av_error(int err) { return detail::av_error_text(err); }

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// FFmpeg muxer name for an output extension; nullptr when facefuse does not write that container.
const char* muxer_for_extension(std::string ext) {
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".mp4" || ext == ".m4v") return "mp4";
  if (ext == ".mkv") return "matroska";
  if (ext == ".webm") return "webm";
  if (ext == ".mov") return "mov";
  if (ext == ".ts") return "mpegts";
  return nullptr;
}

}  // namespace

Result<const char*> muxer_for_output(const std::filesystem::path& path) {
  const char* muxer = muxer_for_extension(path.extension().string());
  if (muxer == nullptr) {
    return invalid_argument(fmt::format(
        "cannot write video to '{}': use one of the extensions .mp4, .mkv, .webm, .mov, .ts", path.string()));
  }
  FF_RETURN_IF_ERROR(check_output_directory(path));
  return muxer;
}

std::vector<std::string> available_video_encoders() {
  std::vector<std::string> out;
  for (const auto& name : video_encoder_names()) {
    if (avcodec_find_encoder_by_name(name.c_str()) != nullptr) out.push_back(name);
  }
  return out;
}

bool container_takes_encoder(const std::string& container, const std::string& encoder) {
  const char* muxer = muxer_for_extension("." + container);
  const AVCodec* codec = avcodec_find_encoder_by_name(encoder.c_str());
  if (muxer == nullptr || codec == nullptr) return false;
  // MPEG-TS cannot be asked (no codec table) and takes H.264/HEVC; VP9 is not defined there.
  if (std::string(muxer) == "mpegts") return codec->id != AV_CODEC_ID_VP9;
  const AVOutputFormat* format = av_guess_format(muxer, nullptr, nullptr);
  return format != nullptr && avformat_query_codec(format, codec->id, FF_COMPLIANCE_NORMAL) == 1;
}

int quality_to_crf(const std::string& encoder, int quality) {
  double q = std::clamp(quality, 0, 100);
  if (encoder == "libvpx-vp9") return static_cast<int>(std::lround(63.0 - q * 0.63));
  return static_cast<int>(std::lround(51.0 - q * 0.51));
}

Vp9Speed vp9_speed_for_preset(const std::string& preset) {
  // libvpx's "good" deadline takes cpu-used 0–5 (higher = faster); "realtime" goes up to 8.
  if (preset == "ultrafast") return {"realtime", 8};
  if (preset == "superfast") return {"realtime", 7};
  if (preset == "veryfast") return {"good", 5};
  if (preset == "faster") return {"good", 4};
  if (preset == "fast") return {"good", 3};
  if (preset == "medium") return {"good", 2};
  if (preset == "slow") return {"good", 1};
  return {"good", 0};  // slower, veryslow
}

Result<VideoEncoderOptions> validate_encoder_options(VideoEncoderOptions o) {
  if (!contains(video_encoder_names(), o.encoder)) {
    return invalid_argument(
        fmt::format("unknown video encoder '{}': use one of {}", o.encoder, join(video_encoder_names())));
  }
  if (!contains(video_preset_names(), o.preset)) {
    return invalid_argument(
        fmt::format("unknown video preset '{}': use one of {}", o.preset, join(video_preset_names())));
  }
  if (o.quality < 0 || o.quality > 100) {
    return invalid_argument(fmt::format("video quality {} is out of range: use 0–100", o.quality));
  }
  if (o.fps_num <= 0 || o.fps_den <= 0) {
    return invalid_argument(
        fmt::format("frame rate {}/{} is invalid: both parts must be positive", o.fps_num, o.fps_den));
  }
  if (o.width < 0 || o.height < 0 || (o.width == 0) != (o.height == 0)) {
    return invalid_argument(
        fmt::format("output size {}x{} is invalid: give both dimensions, or 0x0 for the size of "
                    "the first frame",
                    o.width, o.height));
  }
  if (o.width > 0) {
    o.width &= ~1;
    o.height &= ~1;
    if (o.width < 2 || o.height < 2) {
      return invalid_argument(
          fmt::format("output size {}x{} is too small: yuv420p needs at least 2x2", o.width, o.height));
    }
  }
  if (o.threads < 0) return invalid_argument("encoder threads must be >= 0 (0 = automatic)");
  if (avcodec_find_encoder_by_name(o.encoder.c_str()) == nullptr) {
    return unsupported(
        fmt::format("video encoder '{}' is not compiled into this FFmpeg (libavcodec {}): install an "
                    "FFmpeg build with it or choose another --output-video-encoder",
                    o.encoder, AV_STRINGIFY(LIBAVCODEC_VERSION)));
  }
  return o;
}

struct VideoWriter::Impl {
  std::filesystem::path path;
  std::filesystem::path temp;
  VideoEncoderOptions options;
  int64_t first_frame_index = 0;
  int64_t last_frame_index = -1;
  int64_t frames = 0;
  const AVOutputFormat* format = nullptr;
  const AVCodec* codec = nullptr;
  AVFormatContext* oc = nullptr;
  AVCodecContext* enc = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  cv::Size sws_input;
  cv::Mat staging;  // swscale-safe copy of a caller's frame (sws_image.h)
  bool encoder_open = false;
  bool finished = false;
  bool failed = false;

  ~Impl() {
    sws_freeContext(sws);
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    if (oc != nullptr) {
      if (oc->pb != nullptr) avio_closep(&oc->pb);
      avformat_free_context(oc);
    }
    if (!finished && !temp.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
    }
  }

  Status fail(Status s) {
    failed = true;
    return s;
  }

  // Checks the order of `frame_index` and opens the encoder at the first frame when needed.
  Status accept(cv::Size frame_size, int64_t frame_index);
  // Encodes the prepared `frame` as frame `frame_index`.
  Status send(int64_t frame_index);

  // Opens the encoder for options.width×height and writes the container header.
  Status open_encoder() {
    const auto& o = options;
    enc = avcodec_alloc_context3(codec);
    if (enc == nullptr) return internal_error("out of memory allocating the video encoder");
    enc->width = o.width;
    enc->height = o.height;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = AVRational{o.fps_den, o.fps_num};
    enc->framerate = AVRational{o.fps_num, o.fps_den};
    enc->sample_aspect_ratio = AVRational{1, 1};
    enc->thread_count = o.threads;
    // By default BT.709 for HD, BT.601 (SMPTE 170M) for SD: what players assume for untagged
    // video, and we tag it anyway. The RGB→YUV conversion in write() uses the same matrix;
    // limited range.
    if (!o.matrix) options.matrix = o.height > 576 ? YuvMatrix::kBt709 : YuvMatrix::kBt601;
    bool hd = *o.matrix == YuvMatrix::kBt709;
    enc->colorspace = hd ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
    enc->color_primaries = hd ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M;
    enc->color_trc = hd ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M;
    enc->color_range = AVCOL_RANGE_MPEG;
    if (format->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

    AVDictionary* opts = nullptr;
    int crf = quality_to_crf(o.encoder, o.quality);
    if (o.encoder == "libx264") {
      av_dict_set(&opts, "preset", o.preset.c_str(), 0);
      av_dict_set_int(&opts, "crf", crf, 0);
      // Headers that do not depend on the content: segments of one video encoded by different
      // workers get identical SPS/PPS and can be joined by stream copy.
      av_dict_set(&opts, "x264-params", "stitchable=1", 0);
    } else if (o.encoder == "libx265") {
      av_dict_set(&opts, "preset", o.preset.c_str(), 0);
      av_dict_set_int(&opts, "crf", crf, 0);
      av_dict_set(&opts, "x265-params", "log-level=error", 0);
    } else {  // libvpx-vp9: constant quality needs a zero bitrate
      Vp9Speed speed = vp9_speed_for_preset(o.preset);
      enc->bit_rate = 0;
      av_dict_set_int(&opts, "crf", crf, 0);
      av_dict_set(&opts, "deadline", speed.deadline.c_str(), 0);
      av_dict_set_int(&opts, "cpu-used", speed.cpu_used, 0);
      av_dict_set_int(&opts, "row-mt", 1, 0);
    }
    int err = avcodec_open2(enc, codec, &opts);
    av_dict_free(&opts);
    if (err < 0) {
      return internal_error(
          fmt::format("cannot open video encoder {} at {}x{}: {}", o.encoder, o.width, o.height, av_error(err)));
    }
    stream = avformat_new_stream(oc, nullptr);
    if (stream == nullptr) return internal_error("out of memory adding the video stream");
    err = avcodec_parameters_from_context(stream->codecpar, enc);
    if (err < 0) return internal_error(fmt::format("cannot copy encoder parameters: {}", av_error(err)));
    // 'hvc1' (parameter sets in the sample entry) is the HEVC tag Apple players require.
    if (codec->id == AV_CODEC_ID_HEVC && (std::string(format->name) == "mp4" || std::string(format->name) == "mov")) {
      stream->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
    }
    stream->time_base = enc->time_base;
    stream->avg_frame_rate = enc->framerate;
    stream->r_frame_rate = enc->framerate;

    frame = av_frame_alloc();
    packet = av_packet_alloc();
    if (frame == nullptr || packet == nullptr) return internal_error("out of memory allocating frame buffers");
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = o.width;
    frame->height = o.height;
    frame->color_range = enc->color_range;
    frame->colorspace = enc->colorspace;
    err = av_frame_get_buffer(frame, 0);
    if (err < 0) return internal_error(fmt::format("cannot allocate a video frame: {}", av_error(err)));

    err = avformat_write_header(oc, nullptr);
    if (err < 0) {
      return unavailable(fmt::format("cannot write the header of {}: {}", path.string(), av_error(err)));
    }
    encoder_open = true;
    return Status::ok();
  }

  // Sends one frame (nullptr flushes) and writes every packet the encoder has ready.
  Status encode(AVFrame* f) {
    int err = avcodec_send_frame(enc, f);
    if (err < 0)
      return internal_error(fmt::format("video encoder {} refused a frame: {}", options.encoder, av_error(err)));
    while (true) {
      err = avcodec_receive_packet(enc, packet);
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::ok();
      if (err < 0) return internal_error(fmt::format("video encoder {} failed: {}", options.encoder, av_error(err)));
      // One packet per frame; the encoders of FFmpeg 5.1 do not all set its duration.
      if (packet->duration <= 0) packet->duration = 1;
      av_packet_rescale_ts(packet, enc->time_base, stream->time_base);
      packet->stream_index = stream->index;
      err = av_interleaved_write_frame(oc, packet);  // takes the packet's reference
      if (err < 0) {
        return unavailable(
            fmt::format("writing {} failed (disk full or I/O error?): {}", path.string(), av_error(err)));
      }
    }
  }

  Status convert(const cv::Mat& bgr) {
    cv::Size in = bgr.size();
    if (sws == nullptr || in != sws_input) {
      // Same size: a colour conversion only. ACCURATE_RND keeps swscale off its unscaled
      // BGR24→YV12 shortcut, which subsamples chroma by picking pixels instead of filtering.
      sws = sws_getCachedContext(sws, in.width, in.height, AV_PIX_FMT_BGR24, options.width, options.height,
                                 AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
      if (sws == nullptr) return internal_error(fmt::format("cannot convert {}x{} BGR frames", in.width, in.height));
      const int* coeffs = sws_getCoefficients(enc->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601);
      // Source: full-range RGB; destination: limited-range YUV with the tagged matrix.
      sws_setColorspaceDetails(sws, coeffs, 1, coeffs, 0, 0, 1 << 16, 1 << 16);
      sws_input = in;
    }
    int err = av_frame_make_writable(frame);
    if (err < 0) return internal_error(fmt::format("cannot get a writable frame: {}", av_error(err)));
    // swscale reads whole pixel blocks past the end of a row: a frame without padded rows and a
    // spare row (sws_image.h) is copied into one first (frames from VideoReader need no copy).
    const cv::Mat& source = sws_safe_source(bgr, staging);
    const uint8_t* src[1] = {source.data};
    int src_stride[1] = {static_cast<int>(source.step[0])};
    sws_scale(sws, src, src_stride, 0, in.height, frame->data, frame->linesize);
    return Status::ok();
  }
};

VideoWriter::VideoWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VideoWriter::~VideoWriter() = default;

Result<std::unique_ptr<VideoWriter>> VideoWriter::open(const std::filesystem::path& path,
                                                       const VideoEncoderOptions& options, int64_t first_frame_index) {
  FF_ASSIGN_OR_RETURN(VideoEncoderOptions o, validate_encoder_options(options));
  if (first_frame_index < 0) return invalid_argument("first_frame_index must be >= 0");
  FF_ASSIGN_OR_RETURN(const char* muxer, muxer_for_output(path));

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = o;
  impl->first_frame_index = first_frame_index;
  impl->format = av_guess_format(muxer, nullptr, nullptr);
  impl->codec = avcodec_find_encoder_by_name(o.encoder.c_str());
  if (impl->format == nullptr) return unsupported(fmt::format("the {} muxer is not compiled into this FFmpeg", muxer));
  if (!container_takes_encoder(path.extension().string().substr(1), o.encoder)) {
    return invalid_argument(
        fmt::format("{} cannot hold {} video: choose another container or encoder "
                    "(webm takes libvpx-vp9 only)",
                    path.extension().string(), o.encoder));
  }
  int err = avformat_alloc_output_context2(&impl->oc, impl->format, nullptr, nullptr);
  if (err < 0) return internal_error(fmt::format("cannot create a {} muxer: {}", muxer, av_error(err)));
  // x264's first decode time is negative (B-frames). libavformat would shift such a file so that
  // it starts at 0 — only segment 0 has negative times, so the segments would no longer line up.
  // MP4/MOV store negative times (edit lists); Matroska shifts by presentation times (already
  // >= 0); MPEG-TS adds its own mux delay, so negatives are fine there once the shift is off.
  if (std::string(muxer) == "mpegts") impl->oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
  detail::configure_ffmpeg();
  // A unique temporary name beside `path`: the final rename is atomic, and two writers of the
  // same output never share a file. Opened as "file:" so a colon in the name is no protocol.
  impl->temp = temp_path_beside(path);
  const std::string url = file_url(impl->temp);
  impl->oc->url = av_strdup(url.c_str());
  err = avio_open(&impl->oc->pb, url.c_str(), AVIO_FLAG_WRITE);
  if (err < 0) {
    impl->temp.clear();  // nothing was created
    return unavailable(fmt::format("cannot create {}: {}", path.string(), av_error(err)));
  }
  if (o.width > 0) FF_RETURN_IF_ERROR(impl->open_encoder());
  return std::unique_ptr<VideoWriter>(new VideoWriter(std::move(impl)));
}

Status VideoWriter::Impl::accept(cv::Size frame_size, int64_t frame_index) {
  if (finished) return failed_precondition("VideoWriter::write after finish()");
  if (failed) return failed_precondition("VideoWriter::write after an earlier failure");
  if (frames == 0 && frame_index != first_frame_index) {
    return invalid_argument(fmt::format("the first frame written must be frame {} (first_frame_index), got {}",
                                        first_frame_index, frame_index));
  }
  if (frames > 0 && frame_index <= last_frame_index) {
    return invalid_argument(fmt::format("frames must be written in increasing order: frame {} after frame {}",
                                        frame_index, last_frame_index));
  }
  if (!encoder_open) {
    options.width = frame_size.width & ~1;
    options.height = frame_size.height & ~1;
    if (options.width < 2 || options.height < 2) {
      return fail(invalid_argument(fmt::format("frame {}x{} is too small to encode", frame_size.width, frame_size.height)));
    }
    if (Status s = open_encoder(); !s.is_ok()) return fail(s);
  }
  return Status::ok();
}

Status VideoWriter::Impl::send(int64_t frame_index) {
  frame->pts = frame_index;
  if (Status s = encode(frame); !s.is_ok()) return fail(s);
  last_frame_index = frame_index;
  ++frames;
  return Status::ok();
}

Status VideoWriter::write(const cv::Mat& bgr, int64_t frame_index) {
  Impl& d = *impl_;
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    return invalid_argument(fmt::format("video frames must be BGR uint8 (CV_8UC3), got type {} size {}x{}", bgr.type(),
                                        bgr.cols, bgr.rows));
  }
  FF_RETURN_IF_ERROR(d.accept(bgr.size(), frame_index));
  if (Status s = d.convert(bgr); !s.is_ok()) return d.fail(s);
  return d.send(frame_index);
}

Status VideoWriter::write(const YuvFrame& yuv, int64_t frame_index) {
  Impl& d = *impl_;
  const cv::Size size = yuv.size();
  if (yuv.empty() || yuv.y.type() != CV_8UC1 || yuv.u.size() != cv::Size(size.width / 2, size.height / 2) ||
      yuv.v.size() != yuv.u.size() || size.width % 2 != 0 || size.height % 2 != 0) {
    return invalid_argument("a yuv420p frame needs even sides and chroma planes of half the size");
  }
  if (d.encoder_open && size != cv::Size(d.options.width, d.options.height)) {
    return invalid_argument(fmt::format("a {}x{} yuv420p frame cannot go into a {}x{} video unscaled", size.width,
                                        size.height, d.options.width, d.options.height));
  }
  if (!d.options.matrix && !d.encoder_open) d.options.matrix = yuv.matrix;
  if (d.options.matrix != yuv.matrix) {
    return invalid_argument("a yuv420p frame must use the colour matrix the writer was opened with");
  }
  FF_RETURN_IF_ERROR(d.accept(size, frame_index));
  if (int err = av_frame_make_writable(d.frame); err < 0) {
    return d.fail(internal_error(fmt::format("cannot get a writable frame: {}", av_error(err))));
  }
  const cv::Mat* planes[3] = {&yuv.y, &yuv.u, &yuv.v};
  for (int p = 0; p < 3; ++p) {
    const cv::Mat& plane = *planes[p];
    for (int row = 0; row < plane.rows; ++row) {
      std::memcpy(d.frame->data[p] + static_cast<ptrdiff_t>(row) * d.frame->linesize[p], plane.ptr(row),
                  static_cast<size_t>(plane.cols));
    }
  }
  return d.send(frame_index);
}

void VideoWriter::set_metadata(const std::string& key, const std::string& value) {
  av_dict_set(&impl_->oc->metadata, key.c_str(), value.c_str(), 0);
}

Status VideoWriter::finish() {
  Impl& d = *impl_;
  if (d.finished) return failed_precondition("VideoWriter::finish called twice");
  if (d.failed)
    return failed_precondition("VideoWriter::finish after an earlier failure; the partial file was not kept");
  if (d.frames == 0) {
    d.failed = true;
    return failed_precondition(fmt::format("no frames were written to {}: nothing to finish", d.path.string()));
  }
  if (Status s = d.encode(nullptr); !s.is_ok()) return d.fail(s);
  int err = av_write_trailer(d.oc);
  if (err < 0) return d.fail(unavailable(fmt::format("cannot finish {}: {}", d.path.string(), av_error(err))));
  err = avio_closep(&d.oc->pb);
  if (err < 0) return d.fail(unavailable(fmt::format("cannot close {}: {}", d.path.string(), av_error(err))));
  std::error_code ec;
  std::filesystem::rename(d.temp, d.path, ec);
  if (ec) {
    return d.fail(unavailable(fmt::format("cannot move the finished video to {}: {}", d.path.string(), ec.message())));
  }
  d.finished = true;
  return Status::ok();
}

int64_t VideoWriter::frames_written() const { return impl_->frames; }
cv::Size VideoWriter::size() const { return {impl_->options.width, impl_->options.height}; }
const VideoEncoderOptions& VideoWriter::options() const { return impl_->options; }

}  // namespace facefuse::media
