#include "facefuse/server/studio_routes.h"

#include <algorithm>
#include <future>

#include <fmt/format.h>

#include "facefuse/inference/model_catalog.h"
#include "facefuse/jobs/job_request.h"
#include "facefuse/jobs/job_service.h"
#include "facefuse/processors/registry.h"
#include "facefuse/server/http_util.h"
#include "facefuse/server/web_page.h"

namespace facefuse::server {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json option_json(const processors::OptionSpec& spec, const fs::path& models_dir) {
  json out = {{"name", spec.name}, {"type", spec.type}, {"default", spec.default_value}, {"help", spec.help}};
  if (!spec.choices.empty()) {
    out["choices"] = spec.choices;
    // Choices that are catalogue models the server cannot run yet (the page marks them).
    json missing = json::array();
    for (const auto& choice : spec.choices) {
      auto model = inference::find_model(choice);
      if (model && inference::model_state(**model, models_dir) != inference::ModelState::kInstalled) {
        missing.push_back(choice);
      }
    }
    if (!missing.empty()) out["missing_models"] = missing;
  }
  if (spec.type == "number" || spec.type == "padding") {
    out["min"] = spec.min;
    out["max"] = spec.max;
  }
  return out;
}

// The file part of the storage key ("uploads/up_x/input.jpg" → ".jpg"), so the engine's content
// sniffing and OpenCV see a familiar extension.
std::string extension_of(const std::string& key) {
  auto dot = key.find_last_of('.');
  auto slash = key.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return key.substr(dot);
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

StudioRoutes::StudioRoutes(jobs::JobService& service, StudioConfig config)
    : service_(service), config_(std::move(config)), renderer_(config_.preview) {
  std::error_code ignored;
  fs::remove_all(config_.temp_dir, ignored);  // copies left by a previous run
}

StudioRoutes::~StudioRoutes() {
  std::error_code ignored;
  fs::remove_all(config_.temp_dir, ignored);
}

StudioReply StudioRoutes::web_asset(std::string_view path) {
  StudioReply reply;
  reply.headers = web_security_headers();
  const WebAsset* asset = find_web_asset(path);
  if (asset == nullptr) {
    reply.status = 404;
    reply.body = error_body("not_found", fmt::format("no page asset '{}'", path)).dump();
    return reply;
  }
  reply.content_type = std::string(asset->content_type);
  reply.body = std::string(asset->body);
  return reply;
}

StudioReply StudioRoutes::processors() const {
  const fs::path& models_dir = service_.config().execution.models_dir;
  json face_options = json::array();
  for (const auto& spec : processors::common_options()) face_options.push_back(option_json(spec, models_dir));
  json list = json::array();
  for (const auto& p : processors::processor_registry()) {
    json options = json::array();
    for (const auto& spec : p.options) options.push_back(option_json(spec, models_dir));
    list.push_back({{"name", std::string(p.name)}, {"description", std::string(p.description)}, {"options", options}});
  }
  json output_options = json::array();
  for (const auto& spec : jobs::video_output_option_specs()) output_options.push_back(option_json(spec, models_dir));
  StudioReply reply;
  reply.body = json{{"face_options", face_options}, {"processors", list}, {"output_options", output_options}}.dump();
  return reply;
}

Result<fs::path> StudioRoutes::local_input(const std::string& storage_key, const std::string& sha256) {
  // Named by content: the same upload bytes are one local file, whatever the upload id.
  const fs::path path = config_.temp_dir / (sha256 + extension_of(storage_key));
  std::lock_guard lock(inputs_mutex_);
  auto it = std::find(inputs_.begin(), inputs_.end(), path);
  if (it != inputs_.end()) {
    inputs_.splice(inputs_.begin(), inputs_, it);
    return path;
  }
  std::error_code ec;
  fs::create_directories(config_.temp_dir, ec);
  FF_ASSIGN_OR_RETURN(std::string id, jobs::new_id("part_"));
  const fs::path partial = config_.temp_dir / id;
  Status got = service_.blobs().get_file(storage_key, partial);
  if (!got.is_ok()) {
    fs::remove(partial, ec);
    return got;
  }
  fs::rename(partial, path, ec);
  if (ec) {
    fs::remove(partial, ec);
    return unavailable("the preview could not keep a copy of an upload: the server's temp space is not writable");
  }
  inputs_.push_front(path);
  while (inputs_.size() > std::max<size_t>(2, config_.cached_inputs)) {
    // A render still reading an evicted file keeps it open (POSIX): removal is safe.
    fs::remove(inputs_.back(), ec);
    inputs_.pop_back();
  }
  return path;
}

Result<StudioReply> StudioRoutes::preview(const std::string& tenant, const json& body) {
  if (!body.is_object()) return invalid_argument("the preview body is a job body: a JSON object with source and target");
  json job_body = body;
  json settings = json::object();
  if (job_body.contains("preview")) {
    settings = job_body["preview"];
    job_body.erase("preview");
    if (!settings.is_object()) return invalid_argument("preview must be an object {frame_number, original}");
    for (const auto& [key, value] : settings.items()) {
      if (key != "frame_number" && key != "original") {
        return invalid_argument(fmt::format("unknown field preview.{}: use frame_number or original", key));
      }
    }
  }
  job_body.erase("webhook");  // no job, so nothing to tell
  std::map<std::string, jobs::Upload> uploads;
  auto lookup = [&](const std::string& id) -> Result<jobs::Upload> {
    FF_ASSIGN_OR_RETURN(jobs::Upload upload, service_.store().get_upload(tenant, id));
    uploads[id] = upload;
    return upload;
  };
  FF_ASSIGN_OR_RETURN(json request, jobs::normalise_job_request(job_body, lookup));

  int64_t frame_number = 0;
  const json& target = request["target"];
  if (target["frame_number"].is_number()) frame_number = target["frame_number"].get<int64_t>();
  else if (target["frame_range"].is_array()) frame_number = target["frame_range"][0].get<int64_t>();
  bool original = false;
  try {
    if (settings.contains("frame_number")) {
      if (!settings["frame_number"].is_number_integer() || settings["frame_number"].get<int64_t>() < 0) {
        return invalid_argument("preview.frame_number must be an integer, 0 or more");
      }
      frame_number = settings["frame_number"].get<int64_t>();
    }
    original = settings.value("original", false);
  } catch (const json::exception&) {
    return invalid_argument("preview.original must be true or false");
  }

  const jobs::Upload& source = uploads.at(request["source"]["upload_id"].get<std::string>());
  const jobs::Upload& target_upload = uploads.at(target["upload_id"].get<std::string>());
  if (target_upload.media == "video") {
    const int64_t frames = target_upload.info.value("frame_count", int64_t{0});
    if (frames > 0 && frame_number >= frames) {
      return invalid_argument(fmt::format("preview frame {} is past the end of the target '{}' ({} frames: 0 to {})",
                                          frame_number, target_upload.filename, frames, frames - 1));
    }
  }
  FF_ASSIGN_OR_RETURN(fs::path source_file, local_input(source.storage_key, source.sha256));
  FF_ASSIGN_OR_RETURN(fs::path target_file, local_input(target_upload.storage_key, target_upload.sha256));

  jobs::ExecutionSettings execution = service_.config().execution;
  pipeline::JobSpec spec = jobs::job_spec_for(request, {source_file, target_file}, config_.temp_dir / "unused.jpg",
                                              config_.temp_dir, execution);
  // Everything the engine depends on: equal keys may share one opened engine.
  const std::string engine_key = fmt::format("{}|{}|{}", source.sha256, request["processors"].dump(),
                                             request["options"].dump());
  // Rendered on a thread of its own with the process's default stack (8 MiB): ONNX Runtime's
  // session set-up overflowed the 100 KiB worker stacks of the earlier civetweb transport, and this
  // keeps the preview safe whatever stack a transport gives its handlers.
  auto rendered = std::async(std::launch::async, [&] {
                    return renderer_.render(spec, frame_number, engine_key, original);
                  }).get();
  if (!rendered) {
    // The engine names files by path; the user knows them by the names they uploaded.
    std::string message = rendered.status().message();
    replace_all(message, source_file.string(), fmt::format("source '{}'", source.filename));
    replace_all(message, target_file.string(), fmt::format("target '{}'", target_upload.filename));
    replace_all(message, config_.temp_dir.string(), "(server)");
    return Status(rendered.status().code(), message);
  }
  StudioReply reply;
  reply.content_type = "image/jpeg";
  reply.body.assign(rendered->jpeg.begin(), rendered->jpeg.end());
  reply.headers = {{"X-Facefuse-Frame", std::to_string(rendered->frame_number)},
                   {"X-Facefuse-Target-Faces", std::to_string(rendered->target_faces)},
                   {"X-Facefuse-Processed-Faces", std::to_string(rendered->processed_faces)},
                   {"X-Facefuse-Preview-Ms", fmt::format("{:.1f}", rendered->milliseconds)},
                   {"X-Facefuse-Preview-Warm", rendered->engine_reused ? "1" : "0"},
                   {"X-Facefuse-Size", fmt::format("{}x{}", rendered->width, rendered->height)}};
  return reply;
}

}  // namespace facefuse::server
