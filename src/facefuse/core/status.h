// Status and Result<T>: how every layer reports expected failures (bad input, missing model,
// no face in the source, ...). Exceptions from third-party libraries are caught in the adapter
// that calls the library and turned into a Status there. See error_codes.h for the mapping to
// CLI exit codes and HTTP statuses.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace facefuse {

enum class StatusCode {
  kOk,
  kInvalidArgument,     // the caller's input or options are wrong
  kNotFound,            // a named file, model or record does not exist
  kUnsupported,         // valid but not handled here (codec, execution provider, format)
  kNoFace,              // a source image without a usable face
  kLimitExceeded,       // pixel count, size or duration over a configured limit
  kFailedPrecondition,  // something must happen first (e.g. install a model)
  kUnavailable,         // a dependency is not reachable right now (retryable)
  kCancelled,
  kInternal,            // a bug or an unexpected library failure
  kQuotaExceeded,       // the caller already holds as much as it may (active jobs): retry later
  kModelNotInstalled,   // a model file the request needs is not installed (the message says how)
  kPermissionDenied,    // the caller is known (or holds a link) but may not do this: forged/expired link, other tenant
  kInsufficientStorage, // the disk is at its free-space reserve: delete jobs or uploads, then retry
  kInvalidMedia,        // the file is of a known type but unusable (e.g. a 0×0 image)
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: <message>"
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status no_face(std::string m) { return {StatusCode::kNoFace, std::move(m)}; }
inline Status limit_exceeded(std::string m) { return {StatusCode::kLimitExceeded, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status quota_exceeded(std::string m) { return {StatusCode::kQuotaExceeded, std::move(m)}; }
inline Status model_not_installed(std::string m) { return {StatusCode::kModelNotInstalled, std::move(m)}; }
inline Status permission_denied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status insufficient_storage(std::string m) { return {StatusCode::kInsufficientStorage, std::move(m)}; }
inline Status invalid_media(std::string m) { return {StatusCode::kInvalidMedia, std::move(m)}; }

// A value or the Status explaining why there is none. Accessing value() of an error is a
// programmer error (asserted).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like StatusOr
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).is_ok()); }  // NOLINT

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOkStatus;
    return is_ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { assert(is_ok()); return std::get<T>(v_); }
  const T& value() const& { assert(is_ok()); return std::get<T>(v_); }
  // By value, so `for (auto& x : make_result().value())` never refers to a destroyed temporary.
  T value() && { assert(is_ok()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace facefuse

#define FF_CONCAT_INNER(a, b) a##b
#define FF_CONCAT(a, b) FF_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define FF_RETURN_IF_ERROR(expr)                         \
  do {                                                   \
    ::facefuse::Status ff_status_ = (expr);              \
    if (!ff_status_.is_ok()) return ff_status_;          \
  } while (0)

// FF_ASSIGN_OR_RETURN(auto x, make_x()); declares x from a Result or returns its Status.
#define FF_ASSIGN_OR_RETURN(lhs, expr) FF_ASSIGN_OR_RETURN_IMPL(FF_CONCAT(ff_result_, __LINE__), lhs, expr)
#define FF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.is_ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
