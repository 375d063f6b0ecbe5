// Small HTTP helpers with no transport in them (unit-tested on their own): byte ranges, query
// parameters, media types, the error body.
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

}  // namespace facefuse::server
