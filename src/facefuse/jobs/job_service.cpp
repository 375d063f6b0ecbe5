#include "facefuse/jobs/job_service.h"

#include <cmath>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "facefuse/inference/model_catalog.h"
#include "facefuse/media/image_io.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/pipeline/video_job.h"
#include "facefuse/processors/required_models.h"
#include "facefuse/storage/crypto.h"
#include "facefuse/storage/display_name.h"
#include "facefuse/storage/free_space.h"
#include "facefuse/storage/http_request.h"

namespace facefuse::jobs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Result<std::string> sha256_of_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unavailable(fmt::format("cannot read {}", path.string()));
  storage::Sha256 hash;
  std::string buffer(1 << 16, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
  }
  return hash.finish_hex();
}

// What an upload holds, judged by content: an image (header read, no decode) or a video (probed).
struct SniffedMedia {
  std::string media;      // image | video
  std::string extension;  // storage key extension
  json info;
};

Result<SniffedMedia> sniff_media(const fs::path& file, const ServiceLimits& limits) {
  std::ifstream in(file, std::ios::binary);
  std::vector<uint8_t> head(64 * 1024);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.empty()) return invalid_argument("the uploaded file is empty");
  media::ImageFormat format = media::sniff_image_format(head);
  if (format != media::ImageFormat::kUnknown) {
    auto size = media::read_image_size(head, format);
    // Animated WebP (unsupported) and images without pixels (invalid_media) keep their own codes.
    if (!size && size.status().code() != StatusCode::kInvalidArgument) return size.status();
    if (!size) return invalid_argument("the uploaded image has a malformed header: " + size.status().message());
    int64_t pixels = static_cast<int64_t>(size->width) * size->height;
    if (pixels > limits.max_pixels) {
      return limit_exceeded(fmt::format("the image is {}x{} = {} pixels, over this server's limit of {}", size->width,
                                        size->height, pixels, limits.max_pixels));
    }
    std::string ext = format == media::ImageFormat::kJpeg ? "jpg" : format == media::ImageFormat::kPng ? "png" : "webp";
    return SniffedMedia{"image", ext, {{"format", ext}, {"width", size->width}, {"height", size->height}}};
  }
  if (media::looks_like_video(file)) {
    auto info = media::probe_video(file);
    if (!info) return info.status();
    int64_t pixels = static_cast<int64_t>(info->width) * info->height;
    if (pixels > limits.max_pixels) {
      return limit_exceeded(fmt::format("the video's frames are {}x{}, over this server's limit of {} pixels",
                                        info->width, info->height, limits.max_pixels));
    }
    if (info->duration_sec > limits.max_video_seconds) {
      return limit_exceeded(fmt::format("the video lasts {:.1f} s, over this server's limit of {:.0f} s",
                                        info->duration_sec, limits.max_video_seconds));
    }
    return SniffedMedia{"video", "video", {{"width", info->width}, {"height", info->height},
                                           {"frame_count", info->frame_count}, {"fps", info->fps},
                                           {"duration_sec", info->duration_sec}, {"codec", info->codec},
                                           {"has_audio", !info->audio.empty()}}};
  }
  return unsupported("the upload is neither an image (JPEG, PNG, WebP) nor a video facefuse can read; the type is "
                     "judged by content, not by the file name");
}

// Identities of the installed model files (name, size, modification time): a changed model file
// changes every fingerprint, so the cache never serves results of an older model.
json model_identities(const fs::path& models_dir) {
  json out = json::array();
  for (const auto& m : inference::model_catalog()) {
    std::error_code ec;
    fs::path p = models_dir / m.file;
    auto size = fs::file_size(p, ec);
    if (ec) continue;
    auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    out.push_back({m.id, size, mtime});
  }
  return out;
}

}  // namespace

Result<std::string> new_id(const std::string& prefix) {
  FF_ASSIGN_OR_RETURN(std::string bytes, storage::random_bytes(8));
  return prefix + storage::hex_encode(bytes);
}

JobService::JobService(JobServiceConfig config, JobStore& store, storage::BlobStore& blobs)
    : config_(std::move(config)), store_(store), blobs_(blobs) {}

void JobService::set_hooks(std::function<void()> on_submit, std::function<void(const std::string&)> on_cancel,
                           std::function<void(const Job&)> on_finished) {
  on_submit_ = std::move(on_submit);
  on_cancel_ = std::move(on_cancel);
  on_finished_ = std::move(on_finished);
}

Status JobService::fetch_url_inputs(const std::string& tenant, json& body) {
  if (!body.is_object()) return Status::ok();
  for (const char* part : {"source", "target"}) {
    if (!body.contains(part) || !body[part].is_object()) continue;
    json& input = body[part];
    // The seed's names: source.image_url, target.video_url (and target.image_url) mean url;
    // messages name the one the client used.
    std::string url_name = "url";
    for (const char* alias : {"image_url", "video_url"}) {
      if (!input.contains(alias) || (std::string_view(part) == "source" && std::string_view(alias) == "video_url")) {
        continue;
      }
      if (input.contains("url")) {
        return invalid_argument(fmt::format("{0}: give either {0}.{1} or {0}.{2}, not both", part, url_name, alias));
      }
      input["url"] = input[alias];
      input.erase(alias);
      url_name = alias;
    }
    int given = 0;
    for (const char* way : {"upload_id", "url", "key"}) given += input.contains(way) ? 1 : 0;
    if (given > 1) return invalid_argument(fmt::format("{}: give one of upload_id, url and key", part));
    if (!input.contains("url") && !input.contains("key")) continue;
    FF_ASSIGN_OR_RETURN(std::string fetch_id, new_id("fetch_"));
    fs::path file = config_.temp_root / "uploads" / fetch_id;
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    std::string field, name;
    if (input.contains("url")) {
      field = fmt::format("{}.{}", part, url_name);
      if (!input["url"].is_string()) return invalid_argument(field + " must be a string");
      const std::string url = input["url"].get<std::string>();
      storage::UrlFetchOptions options = config_.url_fetch;
      options.max_bytes = static_cast<uint64_t>(config_.limits.max_upload_bytes);
      auto fetched = storage::fetch_url_to_file(url, file, options);
      if (!fetched) {
        fs::remove(file, ec);
        return Status(fetched.status().code(), fmt::format("{}: {}", field, fetched.status().message()));
      }
      name = url.substr(url.find_last_of('/') + 1);
      name = name.substr(0, name.find('?'));
    } else {
      // An object of this store by key, in the tenant's own prefix only: any other key is refused
      // by its spelling, before the store is asked, so nothing tells whether it exists.
      field = fmt::format("{}.key", part);
      if (!input["key"].is_string()) return invalid_argument(field + " must be a string");
      const std::string key = input["key"].get<std::string>();
      if (Status valid = storage::validate_key(key); !valid.is_ok()) {
        return invalid_argument(fmt::format("{}: {}", field, valid.message()));
      }
      if (!key_belongs_to_tenant(key, tenant)) {
        return invalid_argument(fmt::format("{}: a job may name objects under its tenant's prefix '{}/' only",
                                            field, tenant_key_segment(tenant)));
      }
      auto info = blobs_.stat(key);
      if (!info && info.status().code() == StatusCode::kNotFound) {
        return not_found(fmt::format("{}: no object '{}' in this server's storage", field, key));
      }
      if (!info) return Status(info.status().code(), fmt::format("{}: {}", field, info.status().message()));
      if (info->size > config_.limits.max_upload_bytes) {
        return limit_exceeded(fmt::format("{}: the object is {} bytes, over this server's limit of {} bytes", field,
                                          info->size, config_.limits.max_upload_bytes));
      }
      if (Status got = blobs_.get_file(key, file); !got.is_ok()) {
        fs::remove(file, ec);
        return Status(got.code(), fmt::format("{}: {}", field, got.message()));
      }
      name = key.substr(key.find_last_of('/') + 1);
    }
    auto upload = register_upload(tenant, file, name);
    fs::remove(file, ec);
    if (!upload) return Status(upload.status().code(), fmt::format("{}: {}", field, upload.status().message()));
    input.erase("url");
    input.erase("key");
    input["upload_id"] = upload->id;
  }
  return Status::ok();
}

Status JobService::check_free_space() const {
  return storage::check_free_space(config_.temp_root, config_.min_free_bytes);
}

Result<Upload> JobService::register_upload(const std::string& tenant, const fs::path& file,
                                           const std::string& client_filename, const std::string& upload_id) {
  // The file is already here: refuse it when keeping it (storage copy + record) would eat into the
  // reserve. The caller removes `file`.
  FF_RETURN_IF_ERROR(check_free_space());
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  if (ec) return internal_error(fmt::format("the stored upload {} is missing", file.string()));
  if (static_cast<int64_t>(size) > config_.limits.max_upload_bytes) {
    return limit_exceeded(fmt::format("the upload is {} bytes, over this server's limit of {} bytes", size,
                                      config_.limits.max_upload_bytes));
  }
  FF_ASSIGN_OR_RETURN(SniffedMedia sniffed, sniff_media(file, config_.limits));
  FF_ASSIGN_OR_RETURN(std::string sha, sha256_of_file(file));
  std::string id = upload_id;
  if (id.empty()) {
    FF_ASSIGN_OR_RETURN(id, new_id("up_"));
  }
  Upload upload;
  upload.id = id;
  upload.tenant = tenant;
  upload.created_at_ms = now_ms();
  upload.storage_key = upload_key(tenant, upload.created_at_ms, id, sniffed.extension);
  upload.filename = storage::sanitize_display_name(client_filename);
  upload.sha256 = sha;
  upload.size = static_cast<int64_t>(size);
  upload.media = sniffed.media;
  upload.info = sniffed.info;
  FF_RETURN_IF_ERROR(blobs_.put_file(upload.storage_key, file));
  FF_RETURN_IF_ERROR(store_.add_upload(upload));
  return upload;
}

std::string JobService::fingerprint(const json& request) const {
  json material = request;
  material.erase("webhook");
  material.erase("priority");  // when, not what
  material.erase("storage");   // where, not what
  material["source"].erase("upload_id");
  material["source"].erase("storage_key");
  material["target"].erase("upload_id");
  material["target"].erase("storage_key");
  // Chunking changes how, not what: outputs are identical either way.
  material["output"].erase("chunk_frames");
  material["output"].erase("chunk_seconds");
  material["engine"] = config_.engine_version;
  material["models"] = model_identities(config_.execution.models_dir);
  return storage::sha256_hex(material.dump());
}

Result<NewJob> JobService::plan(const std::string& job_id, const std::string& tenant, json request,
                                const Upload& target_upload) {
  NewJob out;
  Job& job = out.job;
  job.id = job_id;
  job.tenant = tenant;
  job.step = "queued";
  // Where the job's objects go, fixed now: the keys stay the same whatever day its tasks run.
  request["storage"] = job_storage_prefixes(tenant, now_ms(), job_id);
  const bool video_output =
      target_upload.media == "video" && !is_image_output_format(request["output"]["format"].get<std::string>());
  job.input_summary = {{"target_media", target_upload.media}, {"source_faces", nullptr}};
  for (const char* k : {"width", "height", "frame_count", "fps", "duration_sec"}) {
    if (target_upload.info.contains(k)) job.input_summary[k] = target_upload.info[k];
  }
  if (target_upload.info.contains("duration_sec")) job.input_summary["target_duration_sec"] = target_upload.info["duration_sec"];
  if (!video_output) {
    job.kind = "image";
    out.tasks.push_back({TaskKind::kImage, 0, 0, 0});
  } else {
    // Planning probes the target: check the video options now (400 at submit, not a failed job
    // later) and split the output frames into chunks.
    fs::path temp = config_.temp_root / job_id / "plan";
    FF_RETURN_IF_ERROR(blobs_.get_file(target_upload.storage_key, temp / "target"));
    JobInputs inputs{fs::path(), temp / "target"};
    pipeline::JobSpec spec = job_spec_for(request, inputs, temp / output_file_name(request), temp, config_.execution);
    auto planned = pipeline::plan_video_job(spec);
    if (planned && request["output"]["chunk_frames"].get<int64_t>() == 0) {
      // By time, so a preempted worker loses at most chunk_seconds of video whatever the number of
      // workers (which an API node without workers does not even know).
      const double seconds = request["output"].value("chunk_seconds", kDefaultChunkSeconds);
      int64_t per_chunk = std::llround(seconds * planned->output_fps());
      request["output"]["chunk_frames"] = std::max<int64_t>(1, per_chunk);
      spec.video.chunk_frames = request["output"]["chunk_frames"].get<int64_t>();
      planned = pipeline::plan_video_job(spec);
    }
    std::error_code ec;
    fs::remove_all(config_.temp_root / job_id, ec);
    if (!planned) return planned.status();
    job.kind = "video";
    job.frames_total = planned->frames_total;
    job.input_summary["frame_count"] = planned->frames_total;
    job.input_summary["chunks"] = planned->chunks.size();
    for (size_t i = 0; i < planned->chunks.size(); ++i) {
      out.tasks.push_back({TaskKind::kChunk, static_cast<int>(i), planned->chunks[i].begin, planned->chunks[i].end});
    }
    out.tasks.push_back({TaskKind::kMerge, 0, 0, 0});
  }
  job.priority = request.value("priority", static_cast<int>(kDefaultJobPriority));
  job.request = std::move(request);
  return out;
}

Result<CreatedJob> JobService::submit(const std::string& tenant, const json& body, const std::string& idempotency_key) {
  auto created = submit_checked(tenant, body, idempotency_key);
  if (created) return created;
  // Planning probes the target in the job's temp directory: its messages name that file.
  return client_facing_error(created.status(), {});
}

Result<CreatedJob> JobService::submit_checked(const std::string& tenant, const json& body,
                                              const std::string& idempotency_key) {
  if (idempotency_key.size() > 200) return invalid_argument("Idempotency-Key must be at most 200 characters");
  FF_RETURN_IF_ERROR(check_free_space());
  json resolved = body;
  FF_RETURN_IF_ERROR(fetch_url_inputs(tenant, resolved));
  std::map<std::string, Upload> uploads;  // by id, as the checks read them: planning needs the target's
  FF_ASSIGN_OR_RETURN(json request, normalise_job_request(resolved, [&](const std::string& id) -> Result<Upload> {
                        auto upload = store_.get_upload(tenant, id);
                        if (upload) uploads.insert_or_assign(id, *upload);
                        return upload;
                      }));
  // A webhook to an internal address would be refused at delivery, after the job ran: refuse the
  // job now. A host that does not resolve right now may later (delivery retries): not refused.
  if (request["webhook"].is_object() && !config_.url_fetch.allow_private) {
    auto resolved_hook = storage::resolve_url(request["webhook"]["url"].get<std::string>(), false);
    if (!resolved_hook && resolved_hook.status().code() == StatusCode::kInvalidArgument) {
      // The operator's remedy (a server flag) is not the client's: keep the reason only.
      std::string reason = resolved_hook.status().message();
      reason = reason.substr(0, reason.find(" (the server allows"));
      return invalid_argument("webhook.url: " + reason + " (webhooks are delivered to public addresses only)");
    }
  }
  // A job whose models are missing could only fail in the worker: refuse it now, with the command
  // that installs them.
  FF_RETURN_IF_ERROR(processors::check_required_models(request["processors"].get<std::vector<std::string>>(),
                                                       request["options"], config_.execution.models_dir));
  FF_ASSIGN_OR_RETURN(std::string job_id, new_id("job_"));
  // normalise_job_request has read the target's upload (resolve_upload) or failed above.
  const Upload& target = uploads.at(request["target"]["upload_id"].get<std::string>());
  FF_ASSIGN_OR_RETURN(NewJob job, plan(job_id, tenant, std::move(request), target));
  job.job.idempotency_key = idempotency_key;
  job.job.fingerprint = fingerprint(job.job.request);
  job.max_active_jobs = config_.max_active_jobs;

  // Result cache: a completed job of this tenant with the same fingerprint gives its output (a
  // copy under the new job, so deleting either job leaves the other's output intact).
  FF_ASSIGN_OR_RETURN(std::optional<Job> cached, store_.find_cached(tenant, job.job.fingerprint));
  std::string copied_key;
  if (cached) {
    fs::path temp = config_.temp_root / job_id / "cache";
    std::string key = output_prefix(job.job) + "/" + output_file_name(job.job.request);
    Status copied = blobs_.get_file(cached->output_key, temp / "output");
    if (copied.is_ok()) copied = blobs_.put_file(key, temp / "output");
    std::error_code ec;
    fs::remove_all(config_.temp_root / job_id, ec);
    if (copied.is_ok()) {
      copied_key = key;
      job.tasks.clear();
      job.job.state = JobState::kCompleted;
      job.job.cached = true;
      job.job.progress = 1.0;
      job.job.step = "done";
      job.job.output_key = key;
      job.job.frames_done = cached->frames_total;
      for (const char* k : {"source_faces", "target_faces", "faces_swapped", "warnings"}) {
        if (cached->input_summary.contains(k)) job.job.input_summary[k] = cached->input_summary[k];
      }
    }
  }
  FF_ASSIGN_OR_RETURN(CreatedJob created, store_.create_job(job));
  if (!created.created && !copied_key.empty()) {
    Status ignored = blobs_.remove_prefix(output_prefix(job.job));
    (void)ignored;
  }
  if (created.created && !created.job.cached && on_submit_) on_submit_();
  if (created.created && created.job.cached && on_finished_) on_finished_(created.job);
  return created;
}

Result<Job> JobService::get(const std::string& tenant, const std::string& job_id) {
  auto job = store_.get_job(job_id);
  if (!job) return job.status();
  if (job->tenant != tenant) return not_found(fmt::format("job '{}' does not exist", job_id));
  return job;
}

Result<Job> JobService::cancel(const std::string& tenant, const std::string& job_id) {
  FF_RETURN_IF_ERROR(get(tenant, job_id).status());
  FF_ASSIGN_OR_RETURN(Job job, store_.request_cancel(job_id));
  if (!is_terminal(job.state) && on_cancel_) on_cancel_(job_id);
  if (is_terminal(job.state) && on_finished_) on_finished_(job);
  return job;
}

void JobService::make_room_for_delete() {
  if (config_.ballast.empty()) return;
  auto free = storage::free_bytes(config_.temp_root);
  // Only when (nearly) nothing is free: at the reserve our own writes are refused anyway.
  constexpr uint64_t kDeleteHeadroomBytes = 1u << 20;
  if (!free || *free < kDeleteHeadroomBytes) storage::release_ballast(config_.ballast);
}

void JobService::restore_ballast() {
  if (config_.ballast.empty()) return;
  Status ignored = storage::ensure_ballast(config_.ballast, config_.ballast_bytes, config_.min_free_bytes);
  (void)ignored;  // best effort: the next delete tries again
}

Status JobService::remove_upload(const std::string& tenant, const std::string& upload_id) {
  make_room_for_delete();
  FF_ASSIGN_OR_RETURN(Upload upload, store_.delete_upload(tenant, upload_id));
  FF_RETURN_IF_ERROR(blobs_.remove(upload.storage_key));
  restore_ballast();
  return Status::ok();
}

Status JobService::remove(const std::string& tenant, const std::string& job_id) {
  FF_ASSIGN_OR_RETURN(Job job, get(tenant, job_id));
  make_room_for_delete();
  FF_RETURN_IF_ERROR(store_.delete_job(job_id));
  FF_RETURN_IF_ERROR(blobs_.remove_prefix(output_prefix(job)));
  FF_RETURN_IF_ERROR(blobs_.remove_prefix(job_temp_prefix(job)));
  std::error_code ec;
  fs::remove_all(config_.temp_root / job_id, ec);
  restore_ballast();
  return Status::ok();
}

}  // namespace facefuse::jobs
