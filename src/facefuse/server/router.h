// Route patterns matched segment by segment, without regular expressions: no recursion and
// O(path length) whatever the client sends (issue 10 item 2: std::regex_match recursed once per
// character of a long path and overflowed the stack). Pure, no I/O (fuzzed: fuzz/router_fuzz.cpp).
//
// Pattern syntax (the subset of regex the route table always used, so route registrations keep
// their shape): '/'-separated literal segments, where a whole segment may be
//   ([A-Za-z0-9_]+)   an id: 1 to kMaxIdBytes characters of [A-Za-z0-9_], captured
//   (.*)              only as the last segment: the rest of the path, any bytes, captured
// e.g. "/api/v1/jobs/([A-Za-z0-9_]+)/cancel", "/media/(.*)".
//
// Threading: a parsed RoutePattern is immutable; match() from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/core/ids.h"
#include "facefuse/core/status.h"

namespace facefuse::server {

// A path segment an id group matches: core/ids.h's rule, the same as storage keys' id segments.
inline bool is_route_id(std::string_view text) { return is_valid_id(text); }

class RoutePattern {
 public:
  // kInvalidArgument for syntax outside the subset above (a programming error in a route table).
  static Result<RoutePattern> parse(std::string_view pattern);

  // Whether `path` (percent-decoded, without the query) matches; on a match `captures` holds the
  // captured segments in order (ids, then the tail).
  bool match(std::string_view path, std::vector<std::string>& captures) const;

  const std::string& text() const { return text_; }

 private:
  enum class Kind { kLiteral, kId, kTail };
  struct Segment {
    Kind kind;
    std::string literal;
  };
  std::string text_;
  std::vector<Segment> segments_;
};

}  // namespace facefuse::server
