// Which identity recognizer a job's analyser opens (DESIGN.md §4.1): arcface_w600k_r50 when its
// model file is installed, else dlib's ResNet descriptor; explicit choices are honoured or refused.
#include <gtest/gtest.h>

#include "facefuse/face/face_analyser.h"
#include "onnx_fixtures.h"
#include "support/test_support.h"

namespace facefuse {
namespace {

Result<std::unique_ptr<face::FaceAnalyser>> open_with_recognizer(const std::filesystem::path& dir,
                                                                 const std::string& recognizer) {
  face::FaceAnalyserOptions options;
  options.models_dir = dir;
  options.with_recognizer = true;
  options.recognizer = recognizer;
  return face::FaceAnalyser::open(options);
}

TEST(RecognizerSelection, AutoPicksArcfaceOnlyWhenItsModelIsInstalled) {
  auto with_arcface = open_with_recognizer(testing::onnx_fixtures_dir(), "auto");
  ASSERT_TRUE(with_arcface) << with_arcface.status().to_string();
  EXPECT_EQ((*with_arcface)->recognizer()->name(), "arcface");
  EXPECT_FLOAT_EQ((*with_arcface)->recognizer()->same_person_threshold(), 0.3f);

  // The models installed by setup have no arcface_w600k_r50.onnx.
  ASSERT_FALSE(std::filesystem::exists(testing::models_dir() / "arcface_w600k_r50.onnx"));
  auto without = open_with_recognizer(testing::models_dir(), "auto");
  ASSERT_TRUE(without) << without.status().to_string();
  EXPECT_EQ((*without)->recognizer()->name(), "dlib_resnet");
  EXPECT_FLOAT_EQ((*without)->recognizer()->same_person_threshold(), 0.6f);
}

TEST(RecognizerSelection, ExplicitChoicesAreHonouredOrRefusedWithAReason) {
  auto dlib = open_with_recognizer(testing::onnx_fixtures_dir(), "dlib_resnet");
  ASSERT_TRUE(dlib) << dlib.status().to_string();
  EXPECT_EQ((*dlib)->recognizer()->name(), "dlib_resnet");

  auto missing = open_with_recognizer(testing::models_dir(), "arcface_w600k_r50");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("arcface_w600k_r50"), std::string::npos);

  auto unknown = open_with_recognizer(testing::models_dir(), "facenet");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("dlib_resnet"), std::string::npos);
}

}  // namespace
}  // namespace facefuse
