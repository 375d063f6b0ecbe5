#include "facefuse/storage/aws_credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace facefuse::storage {

namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return "";
  const size_t last = text.find_last_not_of(" \t\r");
  return std::string(text.substr(first, last - first + 1));
}

}  // namespace

Result<AwsCredentials> parse_aws_credentials_file(const std::string& text, const std::string& profile) {
  std::istringstream lines(text);
  std::string line;
  bool in_profile = false;
  bool found = false;
  AwsCredentials credentials;
  while (std::getline(lines, line)) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      in_profile = trim(std::string_view(t).substr(1, t.size() - 2)) == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    const size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = trim(std::string_view(t).substr(0, eq));
    const std::string value = trim(std::string_view(t).substr(eq + 1));
    if (name == "aws_access_key_id") credentials.access_key_id = value;
    if (name == "aws_secret_access_key") credentials.secret_access_key = value;
    if (name == "aws_session_token") credentials.session_token = value;
  }
  if (!found) return not_found(fmt::format("profile '{}' is not in the credentials file", profile));
  return credentials;
}

Result<AwsCredentials> load_aws_credentials() {
  AwsCredentials env{env_or_empty("AWS_ACCESS_KEY_ID"), env_or_empty("AWS_SECRET_ACCESS_KEY"),
                     env_or_empty("AWS_SESSION_TOKEN")};
  if (!env.access_key_id.empty() || !env.secret_access_key.empty()) {
    if (env.access_key_id.empty() || env.secret_access_key.empty()) {
      return failed_precondition(fmt::format("{} is set but {} is not: set both (or neither, to use ~/.aws/credentials)",
                                             env.access_key_id.empty() ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID",
                                             env.access_key_id.empty() ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY"));
    }
    return env;
  }
  std::filesystem::path file = env_or_empty("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty()) {
    const std::string home = env_or_empty("HOME");
    if (!home.empty()) file = std::filesystem::path(home) / ".aws" / "credentials";
  }
  std::string profile = env_or_empty("AWS_PROFILE");
  const bool profile_asked = !profile.empty();
  if (profile.empty()) profile = "default";
  std::ifstream in(file);
  if (file.empty() || !in) {
    return failed_precondition(
        profile_asked ? fmt::format("AWS_PROFILE is '{}' but the credentials file {} cannot be read", profile, file.string())
                      : "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
                        "temporary credentials), or AWS_PROFILE with a profile in ~/.aws/credentials");
  }
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_aws_credentials_file(text.str(), profile);
  if (!parsed) return invalid_argument(fmt::format("{} ({}): set AWS_PROFILE to a profile it has", parsed.status().message(), file.string()));
  if (parsed->access_key_id.empty() || parsed->secret_access_key.empty()) {
    return invalid_argument(fmt::format("profile '{}' of {} lacks aws_access_key_id or aws_secret_access_key", profile,
                                        file.string()));
  }
  return parsed;
}

Result<AwsCredentials> AwsCredentialCache::get() {
  if (fixed_) return *fixed_;
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (!cached_ || now - loaded_at_ >= refresh_) {
    FF_ASSIGN_OR_RETURN(AwsCredentials loaded, load_aws_credentials());
    cached_ = std::move(loaded);
    loaded_at_ = now;
  }
  return *cached_;
}

}  // namespace facefuse::storage
