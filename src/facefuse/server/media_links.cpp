#include "facefuse/server/media_links.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>

#include <fmt/format.h>

#include "facefuse/storage/crypto.h"

namespace facefuse::server {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSecretFile = "media_link.key";
constexpr size_t kSecretBytes = 32;
constexpr std::string_view kMediaPrefix = "/media/";

}  // namespace

MediaLinkSigner::MediaLinkSigner(std::string secret, int64_t ttl_seconds)
    : secret_(std::move(secret)), ttl_seconds_(ttl_seconds) {}

Result<std::string> MediaLinkSigner::new_secret() {
  FF_ASSIGN_OR_RETURN(std::string bytes, storage::random_bytes(kSecretBytes));
  return storage::hex_encode(bytes);
}

Result<MediaLinkSigner> MediaLinkSigner::open(const fs::path& data_dir, int64_t ttl_seconds) {
  if (ttl_seconds < 1) return invalid_argument("--media-link-ttl must be at least 1 second");
  const fs::path path = data_dir / kSecretFile;
  // O_EXCL: the first start creates the file with its final mode; never a moment of wider access.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    FF_ASSIGN_OR_RETURN(const std::string hex, new_secret());
    const bool written = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
    const bool closed = ::close(fd) == 0;
    if (!written || !closed) {
      std::error_code ignored;
      fs::remove(path, ignored);
      return unavailable(fmt::format("cannot write the media link secret {} (disk full?)", path.string()));
    }
    return MediaLinkSigner(hex, ttl_seconds);
  }
  if (errno != EEXIST) return unavailable(fmt::format("cannot create the media link secret {}", path.string()));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return unavailable(fmt::format("cannot read {}", path.string()));
  if ((st.st_mode & 077) != 0) {
    return failed_precondition(fmt::format("{} is readable by other users: anyone who read it can forge media links; "
                                           "delete it (a new secret is made at the next start) or chmod 600 it",
                                           path.string()));
  }
  std::ifstream in(path);
  std::string secret;
  std::getline(in, secret);
  if (secret.size() < kSecretBytes) {
    return failed_precondition(fmt::format("{} holds no usable secret (under {} characters): delete it and restart",
                                           path.string(), kSecretBytes));
  }
  return MediaLinkSigner(secret, ttl_seconds);
}

std::string MediaLinkSigner::signature(std::string_view path, int64_t expires) const {
  return storage::hmac_sha256_hex(secret_, fmt::format("{}\n{}", path, expires));
}

std::string MediaLinkSigner::sign(std::string_view path, int64_t now_seconds) const {
  const int64_t expires = now_seconds + ttl_seconds_;
  return fmt::format("{}?expires={}&sig={}", path, expires, signature(path, expires));
}

std::string MediaLinkSigner::link(std::string_view path, int64_t now_seconds) const {
  if (presigner_ && path.starts_with(kMediaPrefix)) {
    auto presigned = presigner_(path.substr(kMediaPrefix.size()));
    if (presigned.is_ok()) return *presigned;
  }
  return sign(path, now_seconds);
}

Status MediaLinkSigner::verify(std::string_view path, const std::map<std::string, std::string>& query,
                               int64_t now_seconds) const {
  auto expires_it = query.find("expires");
  auto sig_it = query.find("sig");
  if (expires_it == query.end() || sig_it == query.end()) {
    return permission_denied("this media link is not signed: use the job's output_url as GET /api/v1/jobs/{job_id} "
                             "returns it, or send an API key");
  }
  int64_t expires = 0;
  const std::string& text = expires_it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), expires);
  if (ec != std::errc() || end != text.data() + text.size() ||
      !storage::constant_time_equal(signature(path, expires), sig_it->second)) {
    return permission_denied("this media link's signature is not valid: use the job's output_url as GET "
                             "/api/v1/jobs/{job_id} returns it");
  }
  if (expires < now_seconds) {
    return permission_denied("this media link has expired: GET /api/v1/jobs/{job_id} again for a fresh output_url");
  }
  return Status::ok();
}

void sign_output_url(nlohmann::json& job, const MediaLinkSigner& signer, int64_t now_seconds) {
  if (!job.is_object() || !job.contains("output_url") || !job["output_url"].is_string()) return;
  const std::string url = job["output_url"].get<std::string>();
  if (!url.starts_with(kMediaPrefix) || url.find('?') != std::string::npos) return;
  job["output_url"] = signer.link(url, now_seconds);
}

}  // namespace facefuse::server
