#include "facefuse/server/http_util.h"

#include <charconv>

#include <fmt/format.h>

namespace facefuse::server {

namespace {

bool parse_int(std::string_view text, int64_t& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

Result<std::optional<ByteRange>> parse_byte_range(std::string_view header, int64_t size) {
  constexpr std::string_view kPrefix = "bytes=";
  if (header.substr(0, kPrefix.size()) != kPrefix) return std::optional<ByteRange>();
  std::string_view spec = header.substr(kPrefix.size());
  if (spec.find(',') != std::string_view::npos) return std::optional<ByteRange>();
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>();
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  int64_t first = 0, last = 0;
  auto unsatisfiable = [&] {
    return limit_exceeded(fmt::format("range '{}' is outside the object's {} bytes", header, size));
  };
  if (a.empty()) {  // suffix: the last n bytes
    int64_t n = 0;
    if (!parse_int(b, n)) return std::optional<ByteRange>();
    if (n == 0 || size == 0) return unsatisfiable();
    first = std::max<int64_t>(0, size - n);
    last = size - 1;
  } else {
    if (!parse_int(a, first)) return std::optional<ByteRange>();
    if (b.empty()) {
      last = size - 1;
    } else if (!parse_int(b, last) || last < first) {
      return std::optional<ByteRange>();
    }
    if (first >= size) return unsatisfiable();
    last = std::min(last, size - 1);
  }
  return std::optional<ByteRange>(ByteRange{first, last});
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    size_t eq = pair.find('=');
    if (!pair.empty()) {
      if (eq == std::string_view::npos) out[url_decode(pair)] = "";
      else out[url_decode(pair.substr(0, eq))] = url_decode(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return out;
}

const char* content_type_for(std::string_view key) {
  auto ends_with = [&](std::string_view ext) {
    return key.size() >= ext.size() && key.substr(key.size() - ext.size()) == ext;
  };
  if (ends_with(".jpg") || ends_with(".jpeg")) return "image/jpeg";
  if (ends_with(".png")) return "image/png";
  if (ends_with(".webp")) return "image/webp";
  if (ends_with(".mp4")) return "video/mp4";
  if (ends_with(".mov")) return "video/quicktime";
  if (ends_with(".mkv")) return "video/x-matroska";
  if (ends_with(".webm")) return "video/webm";
  return "application/octet-stream";
}

nlohmann::json error_body(std::string_view code, std::string_view message) {
  return {{"error", code}, {"message", message}};
}

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string bearer_token(std::string_view authorization) {
  authorization = trim(authorization);
  const size_t space = authorization.find_first_of(" \t");
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "bearer")) return {};
  return std::string(trim(authorization.substr(space + 1)));
}

WebSocketCredentials websocket_credentials(std::string_view header) {
  WebSocketCredentials out;
  bool plain_offered = false;
  std::string bearer_protocol;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    const std::string_view token = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (token == kWebSocketProtocol) {
      plain_offered = true;
    } else if (token.starts_with(kWebSocketBearerPrefix) && out.key.empty()) {
      out.key = std::string(token.substr(kWebSocketBearerPrefix.size()));
      bearer_protocol = std::string(token);
    }
  }
  out.protocol = plain_offered ? std::string(kWebSocketProtocol) : bearer_protocol;
  return out;
}

}  // namespace facefuse::server
