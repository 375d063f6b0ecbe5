// One safe path for bytes a client sent that we echo back or log: error messages naming a path,
// a query value or a file name, and upload display names. Pure functions, no I/O (fuzzed).
//
// Threading: stateless, call from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace facefuse::server {

// Cap for an echoed client value inside an error message, bytes.
constexpr std::size_t kMaxEchoBytes = 200;

// `bytes` as valid UTF-8 safe to put in JSON and logs: each invalid or overlong UTF-8 sequence
// becomes U+FFFD, control characters (C0, DEL) become '?', and the result is cut at a character
// boundary to at most `max_bytes` bytes (then ending in "..." within the cap).
std::string client_text(std::string_view bytes, std::size_t max_bytes = kMaxEchoBytes);

// True when `text` is valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool is_valid_utf8(std::string_view text);

// True when the JSON text nests arrays/objects deeper than `max_depth` (brackets inside strings
// do not count). O(n), no recursion: run before parsing so a 5 000-deep body never becomes a
// recursive structure.
bool json_nesting_exceeds(std::string_view json_text, int max_depth);

// Percent-decodes a URL path once ("%2e" → "."; '+' stays '+'). Malformed escapes stay as
// they are. The result may hold any byte: pass it through client_text() before echoing it.
std::string percent_decode_path(std::string_view path);

}  // namespace facefuse::server
