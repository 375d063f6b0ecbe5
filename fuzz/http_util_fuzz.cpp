// Fuzzes the transport-free HTTP helpers (server/http_util.h) with what a client controls: the
// Range header, the query string, and a storage key's extension. Input: "SIZE\nHEADER" (SIZE in
// decimal, the object's byte count; 1000 when absent or malformed); the whole input is also parsed
// as a query string and looked up as a key.
//
// Properties: no crash or UB; a satisfiable range lies inside the object (0 <= first <= last <
// size) and an unsatisfiable one is kLimitExceeded (416).
#include <charconv>
#include <cstddef>
#include <cstdint>

#include "facefuse/server/http_util.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = facefuse::fuzz::as_text(data, size);

  int64_t object_size = 1000;
  std::string_view header = text;
  if (size_t newline = text.find('\n'); newline != std::string_view::npos) {
    int64_t parsed = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + newline, parsed);
    if (ec == std::errc() && end == text.data() + newline && parsed >= 0) object_size = parsed;
    header = text.substr(newline + 1);
  }
  auto range = facefuse::server::parse_byte_range(header, object_size);
  if (range && range->has_value()) {
    const auto& r = **range;
    FF_FUZZ_CHECK(r.first >= 0 && r.first <= r.last && r.last < object_size, "a served range lies inside the object");
    FF_FUZZ_CHECK(r.length() >= 1 && r.length() <= object_size, "a served range has 1..size bytes");
  } else if (!range) {
    FF_FUZZ_CHECK(range.status().code() == facefuse::StatusCode::kLimitExceeded, "an unsatisfiable range is a 416");
  }

  auto query = facefuse::server::parse_query(text);
  for (const auto& [key, value] : query) {
    FF_FUZZ_CHECK(key.size() <= size && value.size() <= size, "decoding never lengthens a parameter");
  }
  (void)facefuse::server::content_type_for(text);
  return 0;
}
