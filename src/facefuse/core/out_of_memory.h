// Running out of memory is a resource failure, never bad input or a bad model: the same request
// succeeds once memory is free or fewer threads/jobs share it. Adapters that catch std::bad_alloc,
// cv::Exception (StsNoMem) or an ORT allocation error return out_of_memory(): kUnavailable, so the
// service retries the task with backoff and the CLI exits 1 (not 2) with this message.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "facefuse/core/status.h"

namespace facefuse {

// "out of memory while <doing>: ..." with what to change.
Status out_of_memory(std::string_view doing);

// Whether a library's error text reports an allocation failure (ORT: "Failed to allocate memory",
// "bad_alloc"; OpenCV: "Insufficient memory", "Failed to allocate"; FFmpeg: "Cannot allocate memory").
bool is_out_of_memory_text(std::string_view what);

}  // namespace facefuse
