// Fetching a job's URL input (source/target `url`) to a local file, DESIGN.md §5.2: http(s) only,
// internal addresses refused unless allowed, the checked address pinned against DNS rebinding
// (see http_request.h), redirects followed by hand with the same check on every hop, a size
// limit and timeouts. The file appears only when complete (temporary file + rename). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "facefuse/core/status.h"

namespace facefuse::storage {

struct UrlFetchOptions {
  bool allow_private = false;                          // serve --allow-private-urls
  std::uint64_t max_bytes = std::uint64_t{2} << 30;    // body size limit (> 0; 2 GiB)
  std::chrono::milliseconds connect_timeout{10'000};   // per hop
  std::chrono::milliseconds timeout{10 * 60'000};      // per hop, whole transfer
  int max_redirects = 3;
};

struct FetchedUrl {
  std::uint64_t bytes = 0;
  std::string final_url;     // after redirects
  std::string content_type;  // as the server declared it (inputs are sniffed by content anyway)
};

// Downloads `url` to `destination` (its directory must exist; an existing file is replaced).
// Errors: invalid_argument (bad URL or scheme, refused address, too many redirects, HTTP 4xx
// other than 404/410), not_found (HTTP 404/410), limit_exceeded (larger than max_bytes),
// unavailable (DNS, network, timeout, HTTP 5xx: worth retrying). The message carries the HTTP
// status, e.g. "HTTP 404". On error nothing is left at `destination`.
Result<FetchedUrl> fetch_url_to_file(const std::string& url, const std::filesystem::path& destination,
                                     const UrlFetchOptions& options = {});

}  // namespace facefuse::storage
