#include "facefuse/core/error_codes.h"

namespace facefuse {

int exit_code_for(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kUnsupported:
    case StatusCode::kNoFace:
    case StatusCode::kLimitExceeded:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kModelNotInstalled:
    case StatusCode::kPermissionDenied:
    case StatusCode::kInvalidMedia:
      return kExitBadInput;
    case StatusCode::kQuotaExceeded:
    case StatusCode::kInsufficientStorage:
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
    case StatusCode::kInternal:
      return kExitProcessingFailure;
  }
  return kExitProcessingFailure;
}

int http_status_for(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kUnsupported: return 415;
    case StatusCode::kNoFace: return 422;
    case StatusCode::kLimitExceeded: return 413;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kCancelled: return 409;
    case StatusCode::kInternal: return 500;
    case StatusCode::kQuotaExceeded: return 429;
    case StatusCode::kModelNotInstalled: return 409;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kInsufficientStorage: return 507;
    case StatusCode::kInvalidMedia: return 422;
  }
  return 500;
}

}  // namespace facefuse
