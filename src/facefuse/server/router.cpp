#include "facefuse/server/router.h"

#include <fmt/format.h>

namespace facefuse::server {

namespace {
constexpr std::string_view kIdGroup = "([A-Za-z0-9_]+)";
constexpr std::string_view kTailGroup = "(.*)";
}  // namespace

Result<RoutePattern> RoutePattern::parse(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') {
    return invalid_argument(fmt::format("route pattern '{}' must start with '/'", pattern));
  }
  RoutePattern out;
  out.text_ = std::string(pattern);
  std::string_view rest = pattern.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    if (segment == kIdGroup) {
      out.segments_.push_back({Kind::kId, {}});
    } else if (segment == kTailGroup) {
      if (slash != std::string_view::npos) {
        return invalid_argument(fmt::format("route pattern '{}': (.*) must be the last segment", pattern));
      }
      out.segments_.push_back({Kind::kTail, {}});
    } else {
      for (char c : segment) {
        if (c == '(' || c == ')' || c == '[' || c == ']' || c == '*' || c == '+' || c == '?' || c == '\\' ||
            c == '|' || c == '{' || c == '}' || c == '^' || c == '$') {
          return invalid_argument(fmt::format("route pattern '{}': only literal segments, ([A-Za-z0-9_]+) and a "
                                              "final (.*) are supported",
                                              pattern));
        }
      }
      out.segments_.push_back({Kind::kLiteral, std::string(segment)});
    }
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return out;
}

bool RoutePattern::match(std::string_view path, std::vector<std::string>& captures) const {
  captures.clear();
  if (path.empty() || path.front() != '/') return false;
  std::string_view rest = path.substr(1);
  for (size_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    if (s.kind == Kind::kTail) {
      captures.emplace_back(rest);
      return true;
    }
    size_t slash = rest.find('/');
    bool last_in_path = slash == std::string_view::npos;
    std::string_view segment = rest.substr(0, slash);
    if (s.kind == Kind::kLiteral ? segment != s.literal : !is_route_id(segment)) {
      captures.clear();
      return false;
    }
    if (s.kind == Kind::kId) captures.emplace_back(segment);
    bool last_in_pattern = i + 1 == segments_.size();
    if (last_in_pattern != last_in_path) {
      captures.clear();
      return false;
    }
    if (!last_in_path) rest = rest.substr(slash + 1);
  }
  return true;
}

}  // namespace facefuse::server
