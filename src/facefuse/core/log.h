// Logging: spdlog to stderr. Plain lines for people; JSON lines (one object per line, with the
// fields ts, level, msg) when a service or a log collector reads them.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

#include "facefuse/core/status.h"

namespace facefuse {

// level: trace|debug|info|warn|error|off. Safe to call more than once (last call wins).
Status init_logging(std::string_view level, bool json);

}  // namespace facefuse
