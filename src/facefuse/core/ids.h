// The one shape of an id the service hands out and accepts — job, upload and API key ids ("job_" +
// 16 hex digits, ...): in URL path segments (server/router.h) and in storage keys
// (jobs/storage_keys.h), so a key's id segment and a route's id are checked by the same rule.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

namespace facefuse {

// Longest id accepted (job, upload, key ids are ~20–30 characters).
inline constexpr std::size_t kMaxIdBytes = 64;

// 1..kMaxIdBytes characters of [A-Za-z0-9_].
bool is_valid_id(std::string_view text);

}  // namespace facefuse
