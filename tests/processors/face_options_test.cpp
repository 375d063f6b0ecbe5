// The shared face-analysis options (processors/registry.cpp common_options) as the CLI and the
// API validate them: detector names, FaceFusion detector sizes, angle lists, landmarkers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "facefuse/processors/registry.h"

namespace facefuse::processors {
namespace {

Result<nlohmann::json> validate(const nlohmann::json& options) {
  const std::vector<std::string> processors{"face_swapper"};
  return validate_options(processors, options);
}

TEST(FaceOptions, DefaultsStayBlazefaceAndDlib68) {
  auto options = validate(nlohmann::json::object());
  ASSERT_TRUE(options.is_ok()) << options.status().message();
  EXPECT_EQ((*options)["face_detector"], "blazeface");
  EXPECT_EQ((*options)["face_landmarker"], "dlib_68");
  EXPECT_EQ((*options)["face_detector_size"], "640x640");
  EXPECT_EQ((*options)["face_detector_angles"], nlohmann::json::array({0}));
}

TEST(FaceOptions, AcceptsFaceFusionDetectorsSizesAnglesAndLandmarker) {
  for (const char* name : {"yolo_face", "scrfd", "retinaface", "yunet"}) {
    EXPECT_TRUE(validate({{"face_detector", name}}).is_ok()) << name;
  }
  auto options = validate({{"face_detector", "scrfd"},
                           {"face_detector_size", "320x320"},
                           {"face_detector_angles", {0, 90, 270}},
                           {"face_landmarker", "2dfan4"}});
  ASSERT_TRUE(options.is_ok()) << options.status().message();
  EXPECT_EQ((*options)["face_detector_angles"], nlohmann::json::array({0, 90, 270}));
}

TEST(FaceOptions, RefusesBadAnglesSizesAndNames) {
  for (const nlohmann::json& angles : {nlohmann::json::array(), nlohmann::json::array({45}),
                                       nlohmann::json::array({0, 0}), nlohmann::json::array({"90"}),
                                       nlohmann::json(90)}) {
    auto options = validate({{"face_detector_angles", angles}});
    ASSERT_FALSE(options.is_ok()) << angles.dump();
    EXPECT_NE(options.status().message().find("0, 90, 180, 270"), std::string::npos) << options.status().message();
  }
  // Numbers no integer type holds (fuzz/corpus/job_request/crash-ub-huge-angle: a 64-digit angle
  // was cast to long long, undefined behaviour) are refused like any other angle.
  const std::string sixty_four_digits = "7777777777777777777777777777777777777777777777777777777777777770";
  for (const nlohmann::json& angles :
       {nlohmann::json::parse("[" + sixty_four_digits + ", 90]"), nlohmann::json::parse("[18446744073709551615]"),
        nlohmann::json::array({-1e300}), nlohmann::json::array({9.3e18})}) {
    auto options = validate({{"face_detector_angles", angles}});
    EXPECT_FALSE(options.is_ok()) << angles.dump();
  }
  EXPECT_FALSE(validate({{"face_detector_size", "641x641"}}).is_ok());
  EXPECT_FALSE(validate({{"face_landmarker", "peppa_wutz"}}).is_ok());
  EXPECT_FALSE(validate({{"face_detector", "yoloface"}}).is_ok());
}

}  // namespace
}  // namespace facefuse::processors
