#include "facefuse/core/status.h"

namespace facefuse {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kNoFace: return "no_face";
    case StatusCode::kLimitExceeded: return "limit_exceeded";
    case StatusCode::kFailedPrecondition: return "failed_precondition";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kCancelled: return "cancelled";
    case StatusCode::kInternal: return "internal";
    case StatusCode::kQuotaExceeded: return "quota_exceeded";
    case StatusCode::kModelNotInstalled: return "model_not_installed";
    case StatusCode::kPermissionDenied: return "forbidden";
    case StatusCode::kInsufficientStorage: return "insufficient_storage";
    case StatusCode::kInvalidMedia: return "invalid_media";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

}  // namespace facefuse
