// required_models / check_required_models: which catalogue files a job's processors and options
// open, checked against a models directory holding stand-in files (presence is what is checked).
#include "facefuse/processors/required_models.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "facefuse/processors/registry.h"
#include "support/test_support.h"

namespace facefuse::processors {
namespace {

class RequiredModelsTest : public ::testing::Test {
 protected:
  nlohmann::json options(const std::vector<std::string>& processors, const nlohmann::json& given) {
    auto validated = validate_options(processors, given);
    EXPECT_TRUE(validated.is_ok()) << validated.status().to_string();
    return validated.is_ok() ? *validated : nlohmann::json::object();
  }

  std::vector<std::string> ids(const std::vector<std::string>& processors, const nlohmann::json& given) {
    auto required = required_models(processors, options(processors, given), dir_.path());
    EXPECT_TRUE(required.is_ok()) << required.status().to_string();
    std::vector<std::string> out;
    if (!required.is_ok()) return out;
    for (const auto& m : *required) out.push_back(m.id);
    return out;
  }

  void install(const std::string& file) { std::ofstream(dir_ / file) << "stand-in model bytes"; }

  // The files scripts/setup installs.
  void install_defaults() {
    for (const char* f :
         {"blazeface_back_256.onnx", "dlib_shape_predictor_68.dat", "dlib_face_recognition_resnet.onnx"}) {
      install(f);
    }
  }

  testing::TempDir dir_;
};

using Ids = std::vector<std::string>;

Ids sorted(Ids ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST_F(RequiredModelsTest, ClassicalSwapNeedsOnlyTheDefaultAnalyserModels) {
  EXPECT_EQ(ids({"face_swapper"}, nlohmann::json::object()),
            (Ids{"blazeface_back_256", "dlib_shape_predictor_68", "dlib_face_recognition_resnet"}));
  EXPECT_EQ(ids({"face_swapper"}, {{"face_selector_mode", "many"}, {"face_detector", "dlib_hog"}}),
            (Ids{"dlib_shape_predictor_68"}))
      << "no recognizer without reference mode, no file for dlib_hog";
}

TEST_F(RequiredModelsTest, OnnxSwapperBringsItsHelpersAndMaskModels) {
  const nlohmann::json many = {{"face_selector_mode", "many"}};
  nlohmann::json inswapper = many;
  inswapper["face_swapper_model"] = "inswapper_128";
  EXPECT_EQ(sorted(ids({"face_swapper"}, inswapper)),
            sorted({"blazeface_back_256", "dlib_shape_predictor_68", "inswapper_128", "arcface_w600k_r50"}));
  nlohmann::json simswap = many;
  simswap["face_swapper_model"] = "simswap_256";
  simswap["face_mask_types"] = "box occlusion region";
  simswap["face_detector"] = "scrfd";
  simswap["face_landmarker"] = "2dfan4";
  EXPECT_EQ(sorted(ids({"face_swapper"}, simswap)), sorted({"scrfd", "2dfan4", "simswap_256", "arcface_w600k_r50",
                                                            "crossface_simswap", "xseg_1", "bisenet_resnet_34"}));
  nlohmann::json blendswap = many;
  blendswap["face_swapper_model"] = "blendswap_256";
  EXPECT_EQ(sorted(ids({"face_swapper"}, blendswap)),
            sorted({"blazeface_back_256", "dlib_shape_predictor_68", "blendswap_256"}))
      << "a source-image swapper needs no ArcFace";
}

TEST_F(RequiredModelsTest, EnhancerNeedsItsModelAndTheRecognizerFollowsAuto) {
  EXPECT_EQ(ids({"face_enhancer"}, {{"face_selector_mode", "many"}, {"face_enhancer_model", "codeformer"}}),
            (Ids{"blazeface_back_256", "dlib_shape_predictor_68", "codeformer"}));
  EXPECT_EQ(ids({"face_debugger"}, nlohmann::json::object()),
            (Ids{"blazeface_back_256", "dlib_shape_predictor_68", "dlib_face_recognition_resnet"}));
  install("arcface_w600k_r50.onnx");
  EXPECT_EQ(ids({"face_debugger"}, nlohmann::json::object()),
            (Ids{"blazeface_back_256", "dlib_shape_predictor_68", "arcface_w600k_r50"}))
      << "recognizer auto opens ArcFace when it is installed";
}

TEST_F(RequiredModelsTest, MissingModelIsModelNotInstalledWithTheDownloadCommand) {
  install_defaults();
  EXPECT_TRUE(check_required_models({"face_swapper"}, options({"face_swapper"}, nlohmann::json::object()), dir_.path())
                  .is_ok());
  const std::vector<std::string> swapper = {"face_swapper"};
  Status missing =
      check_required_models(swapper, options(swapper, {{"face_swapper_model", "hyperswap_1a_256"}}), dir_.path());
  EXPECT_EQ(missing.code(), StatusCode::kModelNotInstalled);
  EXPECT_NE(missing.message().find("hyperswap_1a_256"), std::string::npos) << missing.message();
  EXPECT_NE(missing.message().find("`facefuse models download hyperswap_1a_256`"), std::string::npos)
      << missing.message();
  install("hyperswap_1a_256.onnx");
  Status helper =
      check_required_models(swapper, options(swapper, {{"face_swapper_model", "hyperswap_1a_256"}}), dir_.path());
  EXPECT_EQ(helper.code(), StatusCode::kModelNotInstalled);
  EXPECT_NE(helper.message().find("`facefuse models download arcface_w600k_r50`"), std::string::npos)
      << helper.message();
  install("arcface_w600k_r50.onnx");
  EXPECT_TRUE(
      check_required_models(swapper, options(swapper, {{"face_swapper_model", "hyperswap_1a_256"}}), dir_.path())
          .is_ok());

  std::ofstream(dir_ / "dlib_shape_predictor_68.dat", std::ios::trunc).close();  // empty = not installed
  Status setup_model = check_required_models(swapper, options(swapper, nlohmann::json::object()), dir_.path());
  EXPECT_EQ(setup_model.code(), StatusCode::kModelNotInstalled);
  EXPECT_NE(setup_model.message().find("scripts/setup"), std::string::npos)
      << "a model that is not downloadable says where it comes from: " << setup_model.message();
}

}  // namespace
}  // namespace facefuse::processors
