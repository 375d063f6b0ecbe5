#include <gtest/gtest.h>

#include "facefuse/core/error_codes.h"
#include "facefuse/core/status.h"

namespace facefuse {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return invalid_argument("must be positive");
  return v;
}

Result<int> doubled(int v) {
  FF_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return x * 2;
}

Status check(int v) {
  FF_RETURN_IF_ERROR(parse_positive(v).status());
  return Status::ok();
}

TEST(Status, MacrosPropagateTheFirstError) {
  EXPECT_EQ(*doubled(4), 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().to_string(), "invalid_argument: must be positive");
  EXPECT_TRUE(check(1).is_ok());
  EXPECT_FALSE(check(0).is_ok());
}

TEST(ErrorCodes, BadInputIsExitCode2AndProcessingFailuresAre1) {
  EXPECT_EQ(exit_code_for(StatusCode::kOk), 0);
  for (auto c : {StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kNoFace, StatusCode::kLimitExceeded,
                 StatusCode::kUnsupported, StatusCode::kFailedPrecondition, StatusCode::kModelNotInstalled}) {
    EXPECT_EQ(exit_code_for(c), 2) << status_code_name(c);
  }
  for (auto c : {StatusCode::kInternal, StatusCode::kUnavailable, StatusCode::kCancelled, StatusCode::kQuotaExceeded}) {
    EXPECT_EQ(exit_code_for(c), 1) << status_code_name(c);
  }
  EXPECT_EQ(http_status_for(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status_for(StatusCode::kNotFound), 404);
  EXPECT_EQ(http_status_for(StatusCode::kLimitExceeded), 413);
  EXPECT_EQ(http_status_for(StatusCode::kNoFace), 422);
  EXPECT_EQ(http_status_for(StatusCode::kInternal), 500);
  EXPECT_EQ(http_status_for(StatusCode::kQuotaExceeded), 429);
  EXPECT_EQ(http_status_for(StatusCode::kModelNotInstalled), 409);
  EXPECT_STREQ(status_code_name(StatusCode::kQuotaExceeded), "quota_exceeded");
  EXPECT_STREQ(status_code_name(StatusCode::kModelNotInstalled), "model_not_installed");
}

TEST(ErrorCodes, ForbiddenFullDiskAndUnusableMedia) {
  EXPECT_EQ(http_status_for(StatusCode::kPermissionDenied), 403);
  EXPECT_STREQ(status_code_name(StatusCode::kPermissionDenied), "forbidden");
  EXPECT_EQ(http_status_for(StatusCode::kInsufficientStorage), 507);
  EXPECT_STREQ(status_code_name(StatusCode::kInsufficientStorage), "insufficient_storage");
  EXPECT_EQ(exit_code_for(StatusCode::kInsufficientStorage), 1) << "not the input's fault: free space and retry";
  EXPECT_EQ(http_status_for(StatusCode::kInvalidMedia), 422);
  EXPECT_STREQ(status_code_name(StatusCode::kInvalidMedia), "invalid_media");
  EXPECT_EQ(exit_code_for(StatusCode::kInvalidMedia), 2);
}

}  // namespace
}  // namespace facefuse
