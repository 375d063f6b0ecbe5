#include "facefuse/storage/display_name.h"

namespace facefuse::storage {

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF) and its code point; 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, char32_t& code_point) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) {
    code_point = b0;
    return 1;
  }
  size_t length = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2, code_point = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, code_point = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, code_point = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (b & 0x3F);
  }
  if (code_point < min || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return 0;
  return length;
}

bool is_blank_only(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

}  // namespace

std::string sanitize_display_name(std::string_view client_name, size_t max_bytes) {
  const size_t slash = client_name.find_last_of("/\\");
  if (slash != std::string_view::npos) client_name.remove_prefix(slash + 1);
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  while (!client_name.empty()) {
    char32_t cp = 0;
    size_t length = utf8_sequence(client_name, cp);
    std::string_view piece = client_name.substr(0, length);
    if (length == 0) {
      length = 1;
      piece = kReplacement;
    } else if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
      piece = {};  // control characters: never in a name shown back
    }
    client_name.remove_prefix(length);
    if (out.size() + piece.size() > max_bytes) break;  // whole characters only
    out += piece;
  }
  if (is_blank_only(out)) return "upload";
  return out;
}

}  // namespace facefuse::storage
