#include "facefuse/core/ids.h"

namespace facefuse {

bool is_valid_id(std::string_view text) {
  if (text.empty() || text.size() > kMaxIdBytes) return false;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace facefuse
