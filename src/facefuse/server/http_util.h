// Small HTTP helpers with no transport in them (unit-tested on their own): byte ranges, query
// parameters, media types, the error body, credentials in headers (upload display names: storage/display_name.h). Every
// function is pure and thread-safe; the transport (http_server.h) and the routes call them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"

namespace facefuse::server {

// An inclusive byte range [first, last] of an object of `size` bytes.
struct ByteRange {
  int64_t first = 0;
  int64_t last = 0;
  int64_t length() const { return last - first + 1; }
};

// The Range header "bytes=a-b", "bytes=a-" or "bytes=-n" (one range) for an object of `size`
// bytes. nullopt: no usable range header (serve everything, 200). kLimitExceeded: not satisfiable
// (416). Several ranges are served whole (nullopt), which RFC 9110 allows.
Result<std::optional<ByteRange>> parse_byte_range(std::string_view header, int64_t size);

// "a=1&b=x%20y" → {a: 1, b: "x y"}; later duplicates win.
std::map<std::string, std::string> parse_query(std::string_view query);

// Content-Type by extension of a storage key (outputs are named by us: output.jpg, output.mp4).
const char* content_type_for(std::string_view key);

// {"error": "<code>", "message": "<text>"}
nlohmann::json error_body(std::string_view code, std::string_view message);

// The credentials of an `Authorization` header: "<scheme> <token>" with the scheme `Bearer`
// compared case-insensitively (RFC 9110 §11.1) and blanks around the token ignored. Empty when the
// header is missing or uses another scheme.
std::string bearer_token(std::string_view authorization);

// Browsers cannot set headers on a WebSocket, but they can offer subprotocols: a client passes its
// key as the subprotocol "facefuse.bearer.<key>" (usually beside "facefuse.v1"), e.g.
//   new WebSocket(url, ["facefuse.v1", "facefuse.bearer." + key])
// The server must answer with one of the offered protocols or the browser drops the connection.
inline constexpr std::string_view kWebSocketProtocol = "facefuse.v1";
inline constexpr std::string_view kWebSocketBearerPrefix = "facefuse.bearer.";

struct WebSocketCredentials {
  std::string key;       // the key from "facefuse.bearer.<key>"; empty when none was offered
  std::string protocol;  // the subprotocol to echo in Sec-WebSocket-Protocol: "facefuse.v1" when
                         // offered (so the key is not echoed), else the bearer protocol; empty when
                         // the client offered neither (then send no Sec-WebSocket-Protocol)
};
// Reads a Sec-WebSocket-Protocol header (comma-separated tokens, blanks ignored).
WebSocketCredentials websocket_credentials(std::string_view sec_websocket_protocol);

}  // namespace facefuse::server
