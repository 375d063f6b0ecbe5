// The one place where a StatusCode becomes a process exit code or an HTTP status.
#pragma once

#include "facefuse/core/status.h"

namespace facefuse {

// CLI exit codes: 0 ok, 1 processing failure, 2 bad arguments or input.
inline constexpr int kExitOk = 0;
inline constexpr int kExitProcessingFailure = 1;
inline constexpr int kExitBadInput = 2;

int exit_code_for(StatusCode code);
int http_status_for(StatusCode code);

}  // namespace facefuse
