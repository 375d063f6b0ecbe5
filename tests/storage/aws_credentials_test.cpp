// Credentials from the standard places: environment first, then AWS_PROFILE's section of the shared
// credentials file; messages name what to set and never contain a secret.
#include "facefuse/storage/aws_credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "support/test_support.h"

namespace facefuse::storage {
namespace {

// Sets or clears environment variables for one test and restores them afterwards.
class EnvGuard {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~EnvGuard() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) setenv(it->first.c_str(), it->second->c_str(), 1);
      else unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

constexpr const char* kFile =
    "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n\n"
    "# a comment\n[staging]\naws_access_key_id=AKIDSTAGING\naws_secret_access_key=staging-secret\n"
    "aws_session_token = token-1\n";

TEST(AwsCredentials, ParsesTheProfileAsked) {
  auto staging = parse_aws_credentials_file(kFile, "staging");
  ASSERT_TRUE(staging.is_ok());
  EXPECT_EQ(staging->access_key_id, "AKIDSTAGING");
  EXPECT_EQ(staging->secret_access_key, "staging-secret");
  EXPECT_EQ(staging->session_token, "token-1");
  EXPECT_EQ(parse_aws_credentials_file(kFile, "default")->access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(parse_aws_credentials_file(kFile, "prod").status().code(), StatusCode::kNotFound);
}

TEST(AwsCredentials, EnvironmentWinsThenProfileFile) {
  testing::TempDir dir;
  testing::write_file_bytes(dir.path() / "credentials", kFile);
  EnvGuard env;
  env.set("AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "credentials").c_str());
  env.set("AWS_ACCESS_KEY_ID", "AKIDENV");
  env.set("AWS_SECRET_ACCESS_KEY", "env-secret");
  env.set("AWS_SESSION_TOKEN", nullptr);
  env.set("AWS_PROFILE", "staging");
  EXPECT_EQ(load_aws_credentials()->access_key_id, "AKIDENV");
  env.set("AWS_ACCESS_KEY_ID", nullptr);
  env.set("AWS_SECRET_ACCESS_KEY", nullptr);
  EXPECT_EQ(load_aws_credentials()->access_key_id, "AKIDSTAGING");
  env.set("AWS_PROFILE", nullptr);
  EXPECT_EQ(load_aws_credentials()->access_key_id, "AKIDDEFAULT");
  env.set("AWS_PROFILE", "prod");
  auto missing = load_aws_credentials();
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("'prod'"), std::string::npos) << missing.status().message();
}

TEST(AwsCredentials, HalfAPairOrNothingSaysWhatToSet) {
  EnvGuard env;
  env.set("AWS_ACCESS_KEY_ID", "AKIDONLY");
  env.set("AWS_SECRET_ACCESS_KEY", nullptr);
  auto half = load_aws_credentials();
  EXPECT_EQ(half.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(half.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  env.set("AWS_ACCESS_KEY_ID", nullptr);
  env.set("AWS_PROFILE", nullptr);
  env.set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
  auto none = load_aws_credentials();
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(none.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(none.status().message().find("AWS_PROFILE"), std::string::npos);
}

}  // namespace
}  // namespace facefuse::storage
