// Outbound HTTP for URL inputs and webhooks, safe against server-side request forgery
// (DESIGN.md §5.2): only http and https; the host is resolved once here and refused when any of its
// addresses is loopback, private, link-local, unspecified, multicast or otherwise not public
// (unless allow_private); the request then goes to exactly that checked address (libcurl's
// CURLOPT_RESOLVE), so a second DNS answer (rebinding) cannot redirect it. Redirects are never
// followed here: the caller decides and checks the target again. No proxy from the environment is
// used. All functions are thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::storage {

// Whether `numeric_ip` (dotted IPv4 or IPv6 text, no brackets) is a public unicast address.
// IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address they carry. Text that
// is not an address is not public.
bool is_public_address(std::string_view numeric_ip);

struct ResolvedUrl {
  std::string url;      // as given
  std::string scheme;   // "http" or "https"
  std::string host;     // as in the URL (IPv6 literals keep their brackets)
  int port = 0;         // explicit or the scheme's default
  // Every address the host resolved to (numeric, resolver order, no duplicates), all checked; the
  // request may go to any of them and to no other.
  std::vector<std::string> addresses;
};

// Parses `url`, checks its scheme and resolves its host. invalid_argument for a malformed URL, a
// scheme other than http/https or a refused address; unavailable when the host does not resolve.
Result<ResolvedUrl> resolve_url(std::string_view url, bool allow_private);

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent when non-empty or when method is POST/PUT
  bool allow_private = false;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{60'000};  // whole request, including the body
  // Responses announcing a larger Content-Length fail with limit_exceeded; 0 = no limit. The body
  // sink enforces the limit for bodies without a length.
  std::uint64_t max_body_bytes = 0;
};

struct HttpResponse {
  long status = 0;
  std::string redirect_url;  // absolute target of a 3xx Location header, else empty
  std::string content_type;
};

// Receives a 2xx response body in pieces; a non-ok Status aborts the transfer and is returned
// from perform_http_request. Bodies of other responses are discarded.
using HttpBodySink = std::function<Status(std::string_view chunk)>;

// One request to the checked, pinned address of `request.url`, redirects not followed. Any HTTP
// status is a successful result; network failures and timeouts are unavailable.
Result<HttpResponse> perform_http_request(const HttpRequest& request, const HttpBodySink& on_body);

}  // namespace facefuse::storage
