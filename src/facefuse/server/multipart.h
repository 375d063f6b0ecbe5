// Streaming multipart/form-data parser (RFC 7578 / RFC 2046 §5.1). Bytes go in as they arrive,
// split anywhere (a boundary may straddle two reads); part headers and part data come out through
// a MultipartHandler, data in pieces, never the whole body in memory. Pure: no I/O, no allocation
// beyond one delimiter's worth of look-behind plus the current part's headers (fuzzed:
// fuzz/multipart_fuzz.cpp). Replaces civetweb's form handler (issue 10 item 8).
//
// Threading: one parser per body, used from one thread at a time.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "facefuse/core/status.h"

namespace facefuse::server {

struct MultipartPart {
  std::string name;                     // Content-Disposition name="..."
  std::optional<std::string> filename;  // filename="..." as sent (any bytes): sanitise before use
  std::string content_type;             // empty when the part has none
};

// Receives a body's parts in order. A non-ok Status from any call stops the parser and is
// returned by feed().
class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  virtual Status on_part_begin(const MultipartPart& part) = 0;
  virtual Status on_part_data(std::string_view bytes) = 0;
  virtual Status on_part_end() = 0;
};

struct MultipartLimits {
  std::size_t max_part_header_bytes = 8 * 1024;  // one part's header block (431-like abuse)
  std::size_t max_parts = 32;
};

// The boundary parameter of a multipart/form-data Content-Type (quoted or not, 1–70 characters).
// kInvalidArgument when the type is not multipart/form-data or the boundary is missing or invalid.
Result<std::string> multipart_boundary(std::string_view content_type);

class MultipartParser {
 public:
  MultipartParser(std::string boundary, MultipartHandler& handler, MultipartLimits limits = {});

  // Consumes the next bytes of the body. kInvalidArgument for a malformed body or a part header
  // over the limit; the handler's own errors as they are. After an error the parser stays failed.
  Status feed(std::string_view bytes);
  // The body ended: kInvalidArgument when the closing boundary was not reached (cut short).
  Status finish();
  // The closing boundary was seen (later bytes are the epilogue and ignored).
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kData, kDone, kFailed };
  Status step(bool& progressed);
  Status fail(Status status);

  std::string delimiter_;  // "\r\n--" + boundary
  MultipartHandler& handler_;
  MultipartLimits limits_;
  State state_ = State::kPreamble;
  std::string pending_;  // bytes not yet consumed
  std::size_t parts_ = 0;
  std::size_t padding_ = 0;  // transport padding (spaces, tabs) skipped after a delimiter
  Status error_;
};

}  // namespace facefuse::server
