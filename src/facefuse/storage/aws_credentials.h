// AWS credentials from the standard places, in the order the AWS CLI and SDKs use: the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN), then the shared
// credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) at profile AWS_PROFILE
// (default "default"). Secrets are never logged: messages name the variable or file, not the value.
//
// Threading: load_aws_credentials() is thread-safe (it reads the environment and the file each call);
// AwsCredentialCache is thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "facefuse/core/status.h"
#include "facefuse/storage/sigv4.h"

namespace facefuse::storage {

// kFailedPrecondition naming what to set when no complete pair of keys is found; kInvalidArgument
// for a credentials file or profile that cannot be used (the message names the file and profile).
Result<AwsCredentials> load_aws_credentials();

// Parses the INI text of a credentials file and returns `profile`'s keys (aws_access_key_id,
// aws_secret_access_key, aws_session_token). kNotFound when the profile is missing.
Result<AwsCredentials> parse_aws_credentials_file(const std::string& text, const std::string& profile);

// Credentials reloaded at most every `refresh` (so rotated keys — a new session token written to the
// file, a changed environment of a re-exec — are picked up without a restart), or fixed ones.
class AwsCredentialCache {
 public:
  explicit AwsCredentialCache(std::optional<AwsCredentials> fixed = std::nullopt,
                              std::chrono::seconds refresh = std::chrono::seconds(60))
      : fixed_(std::move(fixed)), refresh_(refresh) {}
  Result<AwsCredentials> get();

 private:
  std::optional<AwsCredentials> fixed_;
  std::chrono::seconds refresh_;
  std::mutex mutex_;
  std::optional<AwsCredentials> cached_;
  std::chrono::steady_clock::time_point loaded_at_{};
};

}  // namespace facefuse::storage
