#include "facefuse/core/out_of_memory.h"

#include <fmt/format.h>

namespace facefuse {

Status out_of_memory(std::string_view doing) {
  return unavailable(fmt::format("out of memory while {}: free memory, or lower --processing-threads, --workers or "
                                 "--execution-thread-count (or the input size), then retry",
                                 doing));
}

bool is_out_of_memory_text(std::string_view what) {
  for (std::string_view needle : {"bad_alloc", "Failed to allocate", "Insufficient memory", "out of memory",
                                  "Out of memory", "Cannot allocate memory"}) {
    if (what.find(needle) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace facefuse
