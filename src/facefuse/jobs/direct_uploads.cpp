#include "facefuse/jobs/direct_uploads.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <span>

#include <fmt/format.h>

#include "facefuse/jobs/storage_keys.h"
#include "facefuse/media/image_io.h"
#include "facefuse/storage/display_name.h"

namespace facefuse::jobs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kObject = "object";
// Bytes read by the ranged GET that checks the type before the whole object is fetched: enough for
// any image header read_image_size needs (JPEG SOF markers after large EXIF blocks included).
constexpr int64_t kSniffBytes = 64 * 1024;
// Manifests are a few hundred bytes; anything longer is not ours.
constexpr int64_t kMaxManifestBytes = 16 * 1024;

struct ContentType {
  const char* type;
  media::ImageFormat image;  // images (checked by sniff_image_format); kUnknown for videos
  const char* container;     // videos (checked by container magic): "iso" (MP4/QuickTime) or "ebml" (Matroska/WebM)
};

// The content types a direct upload may declare (images and the video containers facefuse reads).
constexpr ContentType kContentTypes[] = {
    {"image/jpeg", media::ImageFormat::kJpeg, ""},
    {"image/png", media::ImageFormat::kPng, ""},
    {"image/webp", media::ImageFormat::kWebp, ""},
    {"video/mp4", media::ImageFormat::kUnknown, "iso"},
    {"video/quicktime", media::ImageFormat::kUnknown, "iso"},
    {"video/x-matroska", media::ImageFormat::kUnknown, "ebml"},
    {"video/webm", media::ImageFormat::kUnknown, "ebml"},
};

const ContentType* find_content_type(const std::string& type) {
  for (const auto& t : kContentTypes) {
    if (type == t.type) return &t;
  }
  return nullptr;
}

std::string content_type_list() {
  std::string out;
  for (const auto& t : kContentTypes) out += (out.empty() ? "" : ", ") + std::string(t.type);
  return out;
}

// The container family of a file's first bytes: ISO BMFF (MP4, QuickTime: a box type at offset 4)
// or EBML (Matroska, WebM), "" otherwise.
std::string container_of(std::string_view head) {
  if (head.size() >= 4 && head.substr(0, 4) == std::string_view("\x1a\x45\xdf\xa3", 4)) return "ebml";
  if (head.size() >= 8) {
    std::string_view box = head.substr(4, 4);
    for (const char* t : {"ftyp", "moov", "mdat", "free", "wide", "skip"}) {
      if (box == t) return "iso";
    }
  }
  return "";
}

Status write_file(const fs::path& path, std::string_view bytes) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return unavailable(fmt::format("cannot write {}", path.string()));
  return Status::ok();
}

Status valid_upload_id(const std::string& upload_id) {
  bool ok = upload_id.size() > 3 && upload_id.size() <= 64 && upload_id.rfind("up_", 0) == 0;
  for (char c : upload_id) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  if (!ok) return not_found(fmt::format("upload '{}' does not exist", upload_id.substr(0, 64)));
  return Status::ok();
}

}  // namespace

DirectUploads::DirectUploads(JobService& service, int64_t ttl_seconds) : service_(service), ttl_seconds_(ttl_seconds) {}

Result<DirectUploadTicket> DirectUploads::begin(const std::string& tenant, const std::string& filename, int64_t size,
                                                const std::string& content_type) {
  maybe_expire();
  const int64_t limit = service_.config().limits.max_upload_bytes;
  if (size <= 0) return invalid_argument("size must be the file's length in bytes (1 or more)");
  if (size > limit) {
    return limit_exceeded(fmt::format("size: the upload is {} bytes, over this server's limit of {} bytes", size, limit));
  }
  if (find_content_type(content_type) == nullptr) {
    return unsupported(fmt::format("content_type '{}' is not accepted: use one of {}", content_type.substr(0, 100),
                                   content_type_list()));
  }
  FF_ASSIGN_OR_RETURN(std::string id, new_id("up_"));
  const std::string prefix = incoming_prefix(id);
  auto url = service_.blobs().presigned_put_url(prefix + "/" + kObject, ttl_seconds_, size, content_type);
  if (!url) {
    if (url.status().code() == StatusCode::kUnsupported) {
      return failed_precondition("direct uploads need object storage that presigns URLs (serve --storage s3://...); "
                                 "this server stores files itself: upload with POST /api/v1/upload "
                                 "(multipart/form-data, the file in the field 'file')");
    }
    return url.status();
  }
  DirectUploadTicket ticket{id, *url, now_ms() + ttl_seconds_ * 1000, size, content_type};
  json manifest = {{"upload_id", id},           {"tenant", tenant},
                   {"filename", storage::sanitize_display_name(filename)},
                   {"size", size},              {"content_type", content_type},
                   {"created_at_ms", now_ms()}, {"expires_at_ms", ticket.expires_at_ms}};
  const fs::path local = service_.config().temp_root / "uploads" / (id + ".manifest");
  FF_RETURN_IF_ERROR(write_file(local, manifest.dump()));
  Status stored = service_.blobs().put_file(prefix + "/" + kManifest, local);
  std::error_code ec;
  fs::remove(local, ec);
  FF_RETURN_IF_ERROR(stored);
  return ticket;
}

Result<Upload> DirectUploads::complete(const std::string& tenant, const std::string& upload_id) {
  // The sweep after the answer: an expired upload's completion says "expired", not "unknown".
  auto completed = complete_checked(tenant, upload_id);
  maybe_expire();
  return completed;
}

Result<Upload> DirectUploads::complete_checked(const std::string& tenant, const std::string& upload_id) {
  FF_RETURN_IF_ERROR(valid_upload_id(upload_id));
  // Completed before (the manifest is gone, the upload registered): the same answer again.
  if (auto done = service_.store().get_upload(tenant, upload_id)) return done;
  const std::string prefix = incoming_prefix(upload_id);
  storage::BlobStore& blobs = service_.blobs();
  const Status missing = not_found(fmt::format("upload '{}' does not exist", upload_id));
  auto text = blobs.read_range(prefix + "/" + kManifest, 0, kMaxManifestBytes);
  if (!text) return text.status().code() == StatusCode::kNotFound ? missing : text.status();
  json manifest = json::parse(*text, nullptr, false);
  if (!manifest.is_object() || manifest.value("tenant", std::string()) != tenant) return missing;
  const int64_t expires_at_ms = manifest.value("expires_at_ms", int64_t{0});
  if (now_ms() >= expires_at_ms) {
    Status ignored = blobs.remove_prefix(prefix);
    (void)ignored;
    return failed_precondition(fmt::format("upload '{}' expired at {} before it was completed: start a new one with "
                                           "POST /api/v1/uploads", upload_id, rfc3339_utc(expires_at_ms)));
  }
  const std::string object = prefix + "/" + kObject;
  auto info = blobs.stat(object);
  if (!info) {
    if (info.status().code() != StatusCode::kNotFound) return info.status();
    return failed_precondition(fmt::format("nothing was uploaded for '{}' yet: PUT the file to its put_url (with the "
                                           "Content-Type and Content-Length it was issued for), then complete it",
                                           upload_id));
  }
  // From here on the upload is used up whatever happens: a failed check removes it.
  auto discard = [&](Status why) {
    Status ignored = blobs.remove_prefix(prefix);
    (void)ignored;
    return why;
  };
  const int64_t size = manifest.value("size", int64_t{0});
  if (info->size != size) {
    return discard(invalid_argument(fmt::format("the uploaded object is {} bytes but the upload was begun with size {}: "
                                                "begin a new upload with the file's real size", info->size, size)));
  }
  const std::string type = manifest.value("content_type", std::string());
  const ContentType* expected = find_content_type(type);
  auto head = blobs.read_range(object, 0, kSniffBytes);
  if (!head) return discard(head.status());
  const auto* bytes = reinterpret_cast<const uint8_t*>(head->data());
  const std::span<const uint8_t> head_bytes(bytes, head->size());
  const bool is_image = expected != nullptr && expected->image != media::ImageFormat::kUnknown;
  const bool type_ok = expected != nullptr && (is_image ? media::sniff_image_format(head_bytes) == expected->image
                                                        : container_of(*head) == expected->container);
  if (!type_ok) {
    return discard(unsupported(fmt::format("the uploaded bytes are not {} as the upload declared (the type is judged "
                                           "by content): begin a new upload with the file's real content_type", type)));
  }
  if (is_image) {
    // Refuse an oversized image from its header, before fetching the whole object.
    auto dims = media::read_image_size(head_bytes, expected->image);
    const int64_t max_pixels = service_.config().limits.max_pixels;
    if (dims && static_cast<int64_t>(dims->width) * dims->height > max_pixels) {
      return discard(limit_exceeded(fmt::format("the image is {}x{} = {} pixels, over this server's limit of {}",
                                                dims->width, dims->height,
                                                static_cast<int64_t>(dims->width) * dims->height, max_pixels)));
    }
  }
  const fs::path local = service_.config().temp_root / "uploads" / (upload_id + ".direct");
  Status fetched = blobs.get_file(object, local);
  if (!fetched.is_ok()) return discard(fetched);
  auto upload = service_.register_upload(tenant, local, manifest.value("filename", std::string()), upload_id);
  std::error_code ec;
  fs::remove(local, ec);
  // A concurrent complete() of the same upload registered it first: the same answer as a repeat.
  if (!upload) {
    if (auto done = service_.store().get_upload(tenant, upload_id)) return done;
  }
  // Registered or refused, the staging copy goes: only the verified copy is ever used.
  Status ignored = blobs.remove_prefix(prefix);
  (void)ignored;
  return upload;
}

Result<int> DirectUploads::expire(int64_t now) {
  storage::BlobStore& blobs = service_.blobs();
  FF_ASSIGN_OR_RETURN(std::vector<std::string> keys, blobs.list(kIncomingRoot));
  std::map<std::string, bool> has_manifest;  // upload id → a manifest was listed
  const std::string root = std::string(kIncomingRoot) + "/";
  for (const auto& key : keys) {
    std::string_view rest = std::string_view(key).substr(root.size());
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) continue;
    bool& manifest = has_manifest[std::string(rest.substr(0, slash))];
    manifest = manifest || rest.substr(slash + 1) == kManifest;
  }
  int removed = 0;
  for (const auto& [id, manifest] : has_manifest) {
    const std::string prefix = incoming_prefix(id);
    bool expired = !manifest;  // an object without a manifest is a leftover (begin writes the manifest first)
    if (manifest) {
      auto text = blobs.read_range(prefix + "/" + kManifest, 0, kMaxManifestBytes);
      if (!text) continue;
      json m = json::parse(*text, nullptr, false);
      expired = !m.is_object() || m.value("expires_at_ms", int64_t{0}) <= now;
    }
    if (!expired) continue;
    FF_RETURN_IF_ERROR(blobs.remove_prefix(prefix));
    ++removed;
  }
  return removed;
}

void DirectUploads::maybe_expire() {
  const int64_t now = now_ms();
  const int64_t interval_ms = std::min<int64_t>(60'000, ttl_seconds_ * 1000);
  int64_t last = last_expiry_ms_.load();
  if (now - last < interval_ms || !last_expiry_ms_.compare_exchange_strong(last, now)) return;
  Status ignored = expire(now).status();  // best effort: the next call tries again
  (void)ignored;
}

}  // namespace facefuse::jobs
