// Display names of uploaded files: the client's file name as stored and shown back (job JSON,
// upload answers). It is never used as a path. Pure and thread-safe; every upload path (multipart
// parsers of any transport, URL inputs) goes through it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace facefuse::storage {

// The name of an uploaded file as stored and shown back (never used as a path): the last
// component of `client_name` after '/' or '\\', invalid UTF-8 sequences and control characters
// replaced by U+FFFD / dropped, cut to at most `max_bytes` bytes at a character boundary; "upload"
// when nothing is left. Always valid UTF-8, so JSON answers that echo it cannot fail.
std::string sanitize_display_name(std::string_view client_name, size_t max_bytes = 200);

}  // namespace facefuse::storage
