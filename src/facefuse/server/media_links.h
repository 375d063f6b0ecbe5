// Short-lived signed links to job outputs, so a browser can load a result (an <img>, a <video>, a
// download) without an API key in the URL. A link is
//
//   /media/<key>?expires=<unix seconds>&sig=<hex HMAC-SHA256(secret, "/media/<key>\n<expires>")>
//
// and authorises exactly that path until `expires`. The secret is 32 random bytes kept per data
// directory in a file of mode 0600 (created on first use), so links survive a restart and a new
// data directory invalidates them all; nodes sharing a PostgreSQL store take it from the store
// instead (node_common.h, open_media_link_signer), so a link works on every API node. The API hands out a fresh link on every read of a job
// (job JSON `output_url`), valid for the server's --media-link-ttl.
//
// With S3 storage the link is instead a presigned S3 URL (storage::BlobStore::presigned_get_url,
// valid for --presign-ttl), so the bytes go from the bucket to the client without the API.
//
// Threading: a MediaLinkSigner is immutable once shared (set_presigner() before); all const
// methods are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"

namespace facefuse::server {

class MediaLinkSigner {
 public:
  // `secret`: raw key bytes (non-empty); `ttl_seconds` > 0.
  MediaLinkSigner(std::string secret, int64_t ttl_seconds);

  // Reads `<data_dir>/media_link.key`, creating it (32 random bytes, hex, mode 0600) when missing.
  // kUnavailable when it can be neither read nor created; kFailedPrecondition when it exists but is
  // readable by group or others, or too short.
  static Result<MediaLinkSigner> open(const std::filesystem::path& data_dir, int64_t ttl_seconds);

  // A fresh secret as open() writes it: 32 random bytes, hex. kUnavailable when the system random
  // generator fails.
  static Result<std::string> new_secret();

  int64_t ttl_seconds() const { return ttl_seconds_; }

  // Turns a storage key into a URL the client fetches directly (a presigned S3 GET). When set,
  // output links are made by it; when it fails, the signed /media link is used instead (the API
  // serves every store).
  using Presigner = std::function<Result<std::string>(std::string_view key)>;
  void set_presigner(Presigner presigner) { presigner_ = std::move(presigner); }

  // The link for `path` ("/media/<key>"): presigned when a presigner is set and succeeds, else sign().
  std::string link(std::string_view path, int64_t now_seconds) const;

  // `path` ("/media/outputs/<job>/output.jpg") with expires = now + ttl and its signature.
  std::string sign(std::string_view path, int64_t now_seconds) const;

  // Whether the query of a request for `path` carries a valid, unexpired signature. kPermissionDenied
  // (403) with what is wrong: missing/forged signature, expired link (ask for the job again).
  Status verify(std::string_view path, const std::map<std::string, std::string>& query, int64_t now_seconds) const;

 private:
  std::string signature(std::string_view path, int64_t expires) const;

  std::string secret_;
  int64_t ttl_seconds_;
  Presigner presigner_;
};

// Replaces the output_url of a job JSON (as jobs::job_to_json makes it, "/media/<key>" or null)
// by signer.link(); other fields untouched.
void sign_output_url(nlohmann::json& job, const MediaLinkSigner& signer, int64_t now_seconds);

}  // namespace facefuse::server
