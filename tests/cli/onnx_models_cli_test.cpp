// `facefuse run` with FaceFusion's ONNX models (generated fixtures with the real signatures, see
// tests/processors/onnx_fixtures.h): flags, exit codes and messages of the model-based processors.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "processors/onnx_fixtures.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;

TEST(OnnxModelsCli, SwapsAndEnhancesWithFaceFusionModelIds) {
  TempDir dir;
  const std::string out = (dir / "out.png").string();
  const auto target = testdata("photos/anne_helene.jpg").string();
  CommandResult r = run_facefuse({"run", "--models-dir", onnx_fixtures_dir().string(), "-s",
                                  testdata("photos/astronaut.png").string(), "-t", target, "-o", out, "--processors",
                                  "face_swapper", "face_enhancer", "--face-swapper-model", "inswapper_128",
                                  "--face-swapper-pixel-boost", "256x256", "--face-mask-types", "box occlusion",
                                  "--face-swapper-weight", "0.3", "--face-enhancer-blend", "50",
                                  "--face-selector-mode", "one"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  const cv::Mat before = load_photo("photos/anne_helene.jpg");
  const cv::Mat after = cv::imread(out, cv::IMREAD_COLOR);
  ASSERT_EQ(after.size(), before.size());
  cv::Mat diff;
  cv::absdiff(before, after, diff);
  cv::Mat changed;
  cv::cvtColor(diff, changed, cv::COLOR_BGR2GRAY);
  const int n = cv::countNonZero(changed);
  EXPECT_GT(n, 500) << "the face was not processed";
  EXPECT_LT(n, before.total() / 10) << "pixels far from the face changed";  // the face box is ~3 % of the photo
}

TEST(OnnxModelsCli, MissingModelIsBadInputNamingTheDownloadCommand) {
  TempDir dir;
  CommandResult r = run_facefuse({"run", "--models-dir", models_dir().string(), "-s",
                                  testdata("photos/astronaut.png").string(), "-t",
                                  testdata("photos/anne_helene.jpg").string(), "-o", (dir / "out.jpg").string(),
                                  "--face-swapper-model", "hyperswap_1b_256"});
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.output;
  EXPECT_NE(r.output.find("facefuse models download hyperswap_1b_256"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(OnnxModelsCli, UnknownModelIdAndBadPixelBoostAreRejected) {
  TempDir dir;
  const std::vector<std::string> base = {"run", "--models-dir", onnx_fixtures_dir().string(), "-s",
                                         testdata("photos/astronaut.png").string(), "-t",
                                         testdata("photos/anne_helene.jpg").string(), "-o", (dir / "out.jpg").string()};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_facefuse(args);
  };
  CommandResult unknown = with({"--face-swapper-model", "inswapper_256"});
  EXPECT_EQ(unknown.exit_code, kExitBadInput) << unknown.output;
  EXPECT_NE(unknown.output.find("inswapper_128"), std::string::npos) << "should list the valid ids:\n" << unknown.output;
  CommandResult boost = with({"--face-swapper-model", "hyperswap_1a_256", "--face-swapper-pixel-boost", "384x384"});
  EXPECT_EQ(boost.exit_code, kExitBadInput) << boost.output;
  EXPECT_NE(boost.output.find("multiple"), std::string::npos) << boost.output;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace facefuse::testing
