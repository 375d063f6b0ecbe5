#include "facefuse/jobs/job_request.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/media/video_writer.h"
#include "facefuse/processors/registry.h"

namespace facefuse::jobs {

namespace {

using nlohmann::json;

const std::set<std::string> kImageFormats = {"jpg", "png", "webp"};
const std::set<std::string> kVideoFormats = {"mp4", "mkv", "mov", "webm"};
constexpr int kDefaultImageQuality = 95;
constexpr int kDefaultVideoQuality = 80;

Status check_keys(const json& object, const std::set<std::string>& allowed, const std::string& where) {
  for (const auto& [key, value] : object.items()) {
    if (allowed.count(key) == 0) {
      return invalid_argument(fmt::format("{}: unknown field '{}' (allowed: {})", where, key, fmt::join(allowed, ", ")));
    }
  }
  return Status::ok();
}

Result<json> object_field(const json& body, const std::string& name, bool required) {
  if (!body.contains(name) || body[name].is_null()) {
    if (required) return invalid_argument(fmt::format("'{}' is required", name));
    return json::object();
  }
  if (!body[name].is_object()) return invalid_argument(fmt::format("'{}' must be a JSON object", name));
  return body[name];
}

// An integer field in [min, max]. A float is accepted when it holds a whole number; its range is
// checked as a double before any conversion (1e300 or an unsigned 2^64−1 converted to int64_t would
// be undefined behaviour).
Result<int64_t> integer_field(const json& object, const std::string& where, int64_t min, int64_t max) {
  auto out_of_range = [&](const std::string& got) {
    return invalid_argument(fmt::format("{} must be between {} and {}, got {}", where, min, max, got));
  };
  if (object.is_number_unsigned()) {
    const uint64_t u = object.get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return out_of_range(std::to_string(u));
    return static_cast<int64_t>(u);
  }
  if (object.is_number_integer()) {
    const int64_t v = object.get<int64_t>();
    if (v < min || v > max) return out_of_range(std::to_string(v));
    return v;
  }
  if (!object.is_number_float()) return invalid_argument(fmt::format("{} must be an integer", where));
  const double d = object.get<double>();
  if (!std::isfinite(d) || d != std::floor(d)) return invalid_argument(fmt::format("{} must be an integer", where));
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) return out_of_range(fmt::format("{:g}", d));
  return static_cast<int64_t>(d);
}

// output.resolution → the scale of the target's frames: "WxH" (keeping the aspect ratio, ±2 px) or
// "<H>p" ("720p", "1080p": that height, the width following the aspect ratio).
Result<double> resolution_scale(const std::string& text, int tw, int th) {
  constexpr const char* kForms = "output.resolution must be \"WIDTHxHEIGHT\" (e.g. \"1280x720\") or a height like \"720p\"";
  int w = 0, h = 0;
  char tail = 0;
  if (text.size() >= 2 && text.size() <= 6 && text.find_first_not_of("0123456789") == text.size() - 1 &&
      text.back() == 'p') {
    h = std::stoi(text.substr(0, text.size() - 1));
    if (h < 16 || h > 8640) return invalid_argument(fmt::format("output.resolution '{}': the height must be 16p to 8640p", text));
    if (th <= 0) return invalid_argument("output.resolution: the target's size is unknown");
    return static_cast<double>(h) / th;
  }
  if (std::sscanf(text.c_str(), "%dx%d%c", &w, &h, &tail) != 2 || w <= 0 || h <= 0) return invalid_argument(kForms);
  if (tw <= 0 || th <= 0) return invalid_argument("output.resolution: the target's size is unknown");
  const double scale = static_cast<double>(w) / tw;
  if (std::abs(th * scale - h) > 2.0) {
    return invalid_argument(fmt::format("output.resolution {}x{} changes the target's aspect ratio ({}x{}): the "
                                        "output keeps it, e.g. {}x{}", w, h, tw, th, w, static_cast<int>(th * scale)));
  }
  return scale;
}

// The encoder of a video output without output.video_encoder: libvpx-vp9 for webm (the only one it
// holds), else the pipeline's (libx264).
std::string default_video_encoder(const std::string& format) {
  return format == "webm" ? "libvpx-vp9" : pipeline::VideoOutputOptions{}.encoder;
}

// output.video_encoder, video_preset and audio_volume of a video output (FaceFusion's
// --output-video-encoder, --output-video-preset, --output-audio-volume), only those that differ
// from the defaults: equal requests still normalise equally, and a video request that sets none
// normalises as it did before these fields existed (same cache fingerprint; an older worker runs it
// as asked during a blue/green switch).
Result<json> video_encoding(const json& output, const std::string& format) {
  const std::vector<std::string> encoders = media::available_video_encoders();
  const pipeline::VideoOutputOptions defaults;
  std::string encoder = default_video_encoder(format);
  if (output.contains("video_encoder") && !output["video_encoder"].is_null()) {
    const json& v = output["video_encoder"];
    if (!v.is_string() || std::find(encoders.begin(), encoders.end(), v.get<std::string>()) == encoders.end()) {
      return invalid_argument(fmt::format("output.video_encoder {} is not available: use one of {} (the encoders of "
                                          "this server's FFmpeg)", v.dump(), fmt::join(encoders, ", ")));
    }
    encoder = v.get<std::string>();
  }
  if (!media::container_takes_encoder(format, encoder)) {
    std::vector<std::string> fitting;
    for (const auto& e : encoders) {
      if (media::container_takes_encoder(format, e)) fitting.push_back(e);
    }
    return invalid_argument(fmt::format("output.video_encoder {} cannot be written to {}: use {} or another "
                                        "output.format", encoder, format, fmt::join(fitting, " or ")));
  }
  std::string preset = defaults.preset;
  if (output.contains("video_preset") && !output["video_preset"].is_null()) {
    const json& v = output["video_preset"];
    const auto& presets = media::video_preset_names();
    if (!v.is_string() || std::find(presets.begin(), presets.end(), v.get<std::string>()) == presets.end()) {
      return invalid_argument(
          fmt::format("output.video_preset {} is not valid: use one of {}", v.dump(), fmt::join(presets, ", ")));
    }
    preset = v.get<std::string>();
  }
  double volume = defaults.audio_volume;
  if (output.contains("audio_volume") && !output["audio_volume"].is_null()) {
    const json& v = output["audio_volume"];
    if (!v.is_number() || !(v.get<double>() >= 0) || !(v.get<double>() <= 100)) {
      return invalid_argument(fmt::format("output.audio_volume must be a number from 0 (no audio track) to 100 "
                                          "(the target's volume), got {}", v.dump()));
    }
    volume = v.get<double>();
  }
  json out = json::object();
  if (encoder != default_video_encoder(format)) out["video_encoder"] = encoder;
  if (preset != defaults.preset) out["video_preset"] = preset;
  if (volume != defaults.audio_volume) out["audio_volume"] = volume;
  return out;
}

Result<Upload> resolve_upload(const json& part, const std::string& where, const UploadLookup& lookup) {
  if (!part.contains("upload_id")) {
    return invalid_argument(fmt::format("{0}.upload_id (or {0}.url, {0}.key) is required", where));
  }
  if (!part["upload_id"].is_string()) return invalid_argument(fmt::format("{}.upload_id must be a string", where));
  return lookup(part["upload_id"].get<std::string>());
}

}  // namespace

Result<json> normalise_job_request(const json& body, const UploadLookup& lookup) {
  if (!body.is_object()) return invalid_argument("the job body must be a JSON object");
  FF_RETURN_IF_ERROR(check_keys(body, {"source", "target", "output", "options", "webhook", "priority"}, "job body"));
  FF_ASSIGN_OR_RETURN(json source, object_field(body, "source", true));
  FF_ASSIGN_OR_RETURN(json target, object_field(body, "target", true));
  FF_ASSIGN_OR_RETURN(json output, object_field(body, "output", false));
  FF_ASSIGN_OR_RETURN(json options, object_field(body, "options", false));
  // url's aliases and key are resolved to an upload_id by JobService before this; listed so a
  // misspelt field's message names them.
  FF_RETURN_IF_ERROR(check_keys(source, {"upload_id", "url", "image_url", "key", "reference_face_index"}, "source"));
  FF_RETURN_IF_ERROR(check_keys(target, {"upload_id", "url", "image_url", "video_url", "key", "frame_range",
                                         "frame_number"}, "target"));
  FF_RETURN_IF_ERROR(check_keys(output, {"format", "resolution", "quality", "fps", "chunk_frames", "chunk_seconds",
                                         "video_encoder", "video_preset", "audio_volume"}, "output"));

  FF_ASSIGN_OR_RETURN(Upload source_upload, resolve_upload(source, "source", lookup));
  if (source_upload.media != "image") {
    return invalid_argument(fmt::format("source.upload_id '{}' is a {}: the source must be an image with a face",
                                        source_upload.id, source_upload.media));
  }
  FF_ASSIGN_OR_RETURN(Upload target_upload, resolve_upload(target, "target", lookup));
  const bool video_target = target_upload.media == "video";

  json out;
  out["source"] = {{"upload_id", source_upload.id}, {"storage_key", source_upload.storage_key},
                   {"sha256", source_upload.sha256}};
  json norm_target = {{"upload_id", target_upload.id}, {"storage_key", target_upload.storage_key},
                      {"sha256", target_upload.sha256}, {"media", target_upload.media},
                      {"frame_range", nullptr}, {"frame_number", nullptr}};
  if (target.contains("frame_range") && !target["frame_range"].is_null()) {
    if (!video_target) return invalid_argument("target.frame_range applies to video targets only");
    const json& range = target["frame_range"];
    if (!range.is_array() || range.size() != 2) {
      return invalid_argument("target.frame_range must be [start, end]: the first frame and one past the last");
    }
    FF_ASSIGN_OR_RETURN(int64_t start, integer_field(range[0], "target.frame_range[0]", 0, INT64_MAX / 2));
    FF_ASSIGN_OR_RETURN(int64_t end, integer_field(range[1], "target.frame_range[1]", 1, INT64_MAX / 2));
    if (end <= start) return invalid_argument(fmt::format("target.frame_range [{}, {}]: end must be after start", start, end));
    const int64_t frames = target_upload.info.value("frame_count", int64_t{0});
    if (frames > 0 && (start >= frames || end > frames)) {
      return invalid_argument(fmt::format("target.frame_range [{}, {}] is outside the target video's {} frames: start "
                                          "from 0 to {}, end at most {}", start, end, frames, frames - 1, frames));
    }
    norm_target["frame_range"] = {start, end};
  }

  // Output format: the target's kind unless asked; an image from a video takes one frame.
  std::string format = video_target ? "mp4" : target_upload.info.value("format", std::string("jpg"));
  if (output.contains("format")) {
    if (!output["format"].is_string()) return invalid_argument("output.format must be a string");
    format = output["format"].get<std::string>();
    if (format == "jpeg") format = "jpg";
  }
  const bool image_output = is_image_output_format(format);
  if (!image_output && kVideoFormats.count(format) == 0) {
    return invalid_argument(fmt::format("output.format '{}' is not supported: use jpg, png, webp (images) or mp4, "
                                        "mkv, mov, webm (videos)", format));
  }
  if (!video_target && !image_output) {
    return invalid_argument(fmt::format("output.format '{}' is a video format but the target is an image", format));
  }
  if (target.contains("frame_number") && !target["frame_number"].is_null()) {
    if (!video_target || !image_output) {
      return invalid_argument("target.frame_number applies to a video target with an image output format");
    }
    FF_ASSIGN_OR_RETURN(int64_t n, integer_field(target["frame_number"], "target.frame_number", 0, INT64_MAX / 2));
    const int64_t frames = target_upload.info.value("frame_count", int64_t{0});
    if (frames > 0 && n >= frames) {
      return invalid_argument(fmt::format("target.frame_number {} is beyond the target video's {} frames: use 0 to {}",
                                          n, frames, frames - 1));
    }
    norm_target["frame_number"] = n;
  }
  out["target"] = norm_target;

  json norm_output = {{"format", format}};
  int64_t quality = image_output ? kDefaultImageQuality : kDefaultVideoQuality;
  if (output.contains("quality")) {
    FF_ASSIGN_OR_RETURN(quality, integer_field(output["quality"], "output.quality", 0, 100));
  }
  norm_output["quality"] = quality;
  double scale = 1.0;
  if (output.contains("resolution") && !output["resolution"].is_null()) {
    if (!video_target || image_output) return invalid_argument("output.resolution applies to video outputs only");
    std::string text = output["resolution"].is_string() ? output["resolution"].get<std::string>() : "";
    int tw = target_upload.info.value("width", 0), th = target_upload.info.value("height", 0);
    FF_ASSIGN_OR_RETURN(scale, resolution_scale(text, tw, th));
  }
  norm_output["scale"] = scale;
  double fps = 0;
  if (output.contains("fps")) {
    if (!output["fps"].is_number() || output["fps"].get<double>() < 0 || output["fps"].get<double>() > 240) {
      return invalid_argument("output.fps must be a number from 0 (the target's) to 240");
    }
    fps = output["fps"].get<double>();
  }
  norm_output["fps"] = fps;
  int64_t chunk_frames = 0;
  if (output.contains("chunk_frames")) {
    FF_ASSIGN_OR_RETURN(chunk_frames, integer_field(output["chunk_frames"], "output.chunk_frames", 0, 1'000'000));
  }
  norm_output["chunk_frames"] = chunk_frames;
  // Chunks by time (chunk_frames 0): a killed worker loses at most this much video, whatever the
  // number of workers. chunk_frames, when given, wins.
  double chunk_seconds = kDefaultChunkSeconds;
  if (output.contains("chunk_seconds")) {
    const json& v = output["chunk_seconds"];
    if (!v.is_number() || !(v.get<double>() >= kMinChunkSeconds) || !(v.get<double>() <= kMaxChunkSeconds)) {
      return invalid_argument(fmt::format("output.chunk_seconds must be a number of seconds from {} to {}",
                                          kMinChunkSeconds, kMaxChunkSeconds));
    }
    chunk_seconds = v.get<double>();
  }
  norm_output["chunk_seconds"] = chunk_seconds;
  if (!image_output) {
    FF_ASSIGN_OR_RETURN(json encoding, video_encoding(output, format));
    norm_output.update(encoding);
  } else {
    for (const char* name : {"video_encoder", "video_preset", "audio_volume"}) {
      if (output.contains(name) && !output[name].is_null()) {
        return invalid_argument(fmt::format("output.{} applies to video outputs only (output.format is {})", name, format));
      }
    }
  }
  out["output"] = norm_output;

  // Processors (whitelist) and their options; the seed's names are aliases of the engine's.
  std::vector<std::string> processors = {"face_swapper"};
  if (options.contains("processors")) {
    const json& list = options["processors"];
    if (!list.is_array() || list.empty()) return invalid_argument("options.processors must be a non-empty array of names");
    processors.clear();
    for (const auto& p : list) {
      if (!p.is_string()) return invalid_argument("options.processors must hold processor names (strings)");
      FF_RETURN_IF_ERROR(processors::find_processor(p.get<std::string>()).status());
      processors.push_back(p.get<std::string>());
    }
    options.erase("processors");
  }
  const std::pair<const char*, const char*> kAliases[] = {{"blend_ratio", "face_swapper_blend"},
                                                          {"enhancer_model", "face_enhancer_model"}};
  for (const auto& [alias, name] : kAliases) {
    if (options.contains(alias)) {
      options[name] = options[alias];
      options.erase(alias);
    }
  }
  if (source.contains("reference_face_index")) options["reference_face_position"] = source["reference_face_index"];
  auto validated = processors::validate_options(processors, options);
  if (!validated) return invalid_argument("options: " + validated.status().message());
  out["processors"] = processors;
  out["options"] = *validated;

  // Claim order: higher priority first, then oldest (job_store.h).
  int64_t priority = kDefaultJobPriority;
  if (body.contains("priority")) {
    FF_ASSIGN_OR_RETURN(priority, integer_field(body["priority"], "priority", kMinJobPriority, kMaxJobPriority));
  }
  out["priority"] = priority;
  out["webhook"] = nullptr;
  if (body.contains("webhook") && !body["webhook"].is_null()) {
    const json& hook = body["webhook"];
    if (!hook.is_object()) return invalid_argument("webhook must be an object {url, secret}");
    FF_RETURN_IF_ERROR(check_keys(hook, {"url", "secret"}, "webhook"));
    if (!hook.contains("url") || !hook["url"].is_string()) return invalid_argument("webhook.url must be a string");
    std::string url = hook["url"].get<std::string>();
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return invalid_argument("webhook.url must be an http:// or https:// URL");
    }
    if (hook.contains("secret") && !hook["secret"].is_string()) return invalid_argument("webhook.secret must be a string");
    out["webhook"] = {{"url", url}, {"secret", hook.value("secret", std::string())}};
  }
  return out;
}

std::vector<processors::OptionSpec> video_output_option_specs() {
  const pipeline::VideoOutputOptions defaults;
  return {
      {"video_encoder", "string", defaults.encoder,
       "video codec of a video output: the encoders of this server's FFmpeg (webm takes libvpx-vp9 only and "
       "defaults to it)", media::available_video_encoders()},
      {"video_preset", "string", defaults.preset,
       "encoder speed against file size, x264/x265 names (libvpx-vp9 maps them to its speeds): slower = smaller file "
       "at the same quality", media::video_preset_names()},
      {"audio_volume", "number", defaults.audio_volume,
       "volume of the target's audio in the output, percent (0 = no audio track)", {}, 0, 100},
  };
}

pipeline::JobSpec job_spec_for(const json& request, const JobInputs& inputs, const std::filesystem::path& output,
                               const std::filesystem::path& temp_dir, const ExecutionSettings& settings) {
  pipeline::JobSpec spec;
  spec.sources = {inputs.source};
  spec.target = inputs.target;
  spec.output = output;
  spec.processors = request["processors"].get<std::vector<std::string>>();
  spec.options = request["options"];
  spec.models_dir = settings.models_dir;
  spec.session = settings.session;
  spec.max_pixels = settings.max_pixels;
  spec.processing_threads = settings.processing_threads;
  spec.temp_dir = temp_dir;
  const json& out = request["output"];
  spec.output_quality = out["quality"].get<int>();
  spec.video.quality = out["quality"].get<int>();
  spec.video.scale = out["scale"].get<double>();
  spec.video.fps = out["fps"].get<double>();
  spec.video.chunk_frames = out["chunk_frames"].get<int64_t>();
  // Absent: the default (normalise_job_request stores only what differs from it).
  spec.video.encoder = out.value("video_encoder", default_video_encoder(out["format"].get<std::string>()));
  spec.video.preset = out.value("video_preset", spec.video.preset);
  spec.video.audio_volume = out.value("audio_volume", spec.video.audio_volume);
  const json& target = request["target"];
  if (target["frame_range"].is_array()) {
    spec.video.trim_frame_start = target["frame_range"][0].get<int64_t>();
    spec.video.trim_frame_end = target["frame_range"][1].get<int64_t>();
  }
  if (target["frame_number"].is_number()) spec.video.frame_number = target["frame_number"].get<int64_t>();
  return spec;
}

Status client_facing_error(const Status& error, const std::vector<std::pair<std::string, std::string>>& names) {
  if (error.is_ok()) return error;
  // The pipeline's checks speak CLI: name the request fields an API client sent instead.
  static const std::pair<std::string_view, std::string_view> kFields[] = {
      {"--frame", "target.frame_number"},           {"--trim-frame-start", "target.frame_range[0]"},
      {"--trim-frame-end", "target.frame_range[1]"}, {"--output-video-fps", "output.fps"},
      {"--output-video-scale", "output.resolution"}, {"--output-video-quality", "output.quality"},
      {"--output-image-quality", "output.quality"},  {"--chunk-frames", "output.chunk_frames"},
      {"--output-video-encoder", "output.video_encoder"}, {"--output-video-preset", "output.video_preset"},
      {"--output-audio-volume", "output.audio_volume"},
  };
  std::string message = error.message();
  for (const auto& [path, name] : names) {
    if (path.empty()) continue;
    for (size_t at = message.find(path); at != std::string::npos; at = message.find(path, at + name.size())) {
      message.replace(at, path.size(), name);
    }
  }
  std::string out;
  for (size_t i = 0; i < message.size();) {
    const bool token_start = i == 0 || message[i - 1] == ' ' || message[i - 1] == '\'' || message[i - 1] == '"' ||
                             message[i - 1] == '(';
    size_t end = message.find_first_of(" '\"(),:;", i);
    if (end == std::string::npos) end = message.size();
    if (end == i) {
      out += message[i++];
      continue;
    }
    std::string_view token(message.data() + i, end - i);
    if (token_start && token.starts_with("--")) {
      std::string_view flag = token.substr(0, token.find_first_not_of("-abcdefghijklmnopqrstuvwxyz", 2));
      for (const auto& [cli, field] : kFields) {
        if (flag == cli) {
          out += field;
          token.remove_prefix(flag.size());
          break;
        }
      }
      out += token;
    } else if (token_start && token.size() > 1 && token[0] == '/' && token.find('/', 1) != std::string_view::npos &&
               !token.starts_with("/api/") && !token.starts_with("/media/") && !token.starts_with("/ws/")) {
      out += "(a file on the server)";  // a path the client never gave and must not learn
    } else {
      out += token;
    }
    i = end;
  }
  return Status(error.code(), out);
}

std::string output_file_name(const json& request) {
  return "output." + request["output"]["format"].get<std::string>();
}

bool is_image_output_format(const std::string& format) { return kImageFormats.count(format) != 0; }

}  // namespace facefuse::jobs
