// `facefuse detect` end to end with FaceFusion's detector and landmarker files, here the generated
// stand-ins of tests/tools/make_detector_fixtures.py (constant boxes at known model pixels, scores
// that read the model input), on a real photo: the printed boxes must be the model's boxes scaled
// back from the letterbox, with the scores the photo's pixels imply.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "face/detector_fixtures.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

nlohmann::json parse_json_output(const CommandResult& r) {
  const auto start = r.output.find('{');
  if (start == std::string::npos) return nullptr;
  return nlohmann::json::parse(r.output.substr(start), nullptr, false);
}

TEST(CliDetectOnnx, YoloFaceWith2dfan4PrintsTheModelBoxesInPhotoPixels) {
  const auto faces = detector_fixture_layout()["yoloface_8n.onnx"]["faces"];
  const std::string photo = testdata("photos/bar55.jpg").string();  // 800 x 600: shrunk by 0.8 to 640 x 480
  CommandResult r = run_facefuse({"--models-dir", detector_fixtures_dir().string(), "detect", photo, "--face-detector",
                                  "yolo_face", "--face-landmarker", "2dfan4", "--face-detector-score", "0.05"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json out = parse_json_output(r);
  ASSERT_TRUE(out.is_object()) << r.output;
  EXPECT_EQ(out["detector"], "yolo_face");
  EXPECT_EQ(out["landmarker"], "2dfan4");

  // Face 0 scores 0.1 + R/255 of model pixel (10, 10) of the shrunk photo (bilinear, as
  // FaceFusion's restrict_frame); it or its overlapping twin (face 1, 0.7) survives NMS. Faces 2
  // (0.6, a canvas pixel) and 3 (0.45) pass the 0.05 threshold.
  const cv::Mat image = load_photo("photos/bar55.jpg");
  ASSERT_EQ(image.size(), cv::Size(800, 600));
  cv::Mat shrunk;
  cv::resize(image, shrunk, cv::Size(640, 480), 0, 0, cv::INTER_LINEAR);
  const float score0 = 0.1f + shrunk.at<cv::Vec3b>(10, 10)[2] / 255.0f;
  const int first = score0 > 0.7f ? 0 : 1;
  struct Want {
    int face;
    float score;
  };
  const std::vector<Want> want{{first, first == 0 ? score0 : 0.7f}, {2, 0.6f}, {3, 0.45f}};
  ASSERT_EQ(out["faces"].size(), want.size()) << out.dump(1);
  const float ratio = 800.0f / 640.0f;
  for (const auto& w : want) {
    const auto b = faces[w.face]["box"].get<std::vector<float>>();
    const std::vector<float> box{(b[0] - b[2] / 2) * ratio, (b[1] - b[3] / 2) * ratio, b[2] * ratio, b[3] * ratio};
    const bool found = std::any_of(out["faces"].begin(), out["faces"].end(), [&](const nlohmann::json& f) {
      const auto got = f["box"].get<std::vector<float>>();
      for (int i = 0; i < 4; ++i) {
        if (std::abs(got[i] - box[i]) > 0.011f) return false;
      }
      return std::abs(f["score"].get<float>() - w.score) < 1.1e-3f && f["landmarks_5"].size() == 5;
    });
    EXPECT_TRUE(found) << "face " << w.face << " (score " << w.score << ") not printed:\n" << out.dump(1);
  }
}

TEST(CliDetectOnnx, RunTakesTheDetectorOptionsThroughTheJob) {
  // The same stand-in models drive `facefuse run`: on bar55 the detector finds face 0 or its twin
  // (whichever scores higher) and the canvas face 2 at the default threshold 0.5; searching the
  // turned frame too (0,90) finds each again on their side, so 4 faces are processed.
  TempDir out;
  const std::vector<std::string> base{"--models-dir", detector_fixtures_dir().string(), "run", "-s",
                                      testdata("photos/astronaut.png").string(), "-t",
                                      testdata("photos/bar55.jpg").string(), "--face-detector", "yolo_face",
                                      "--face-landmarker", "2dfan4", "--face-selector-mode", "many"};
  auto args = base;
  args.insert(args.end(), {"-o", (out / "upright.jpg").string()});
  CommandResult upright = run_facefuse(args);
  ASSERT_EQ(upright.exit_code, 0) << upright.output;
  EXPECT_NE(upright.output.find("(2 of 2 target face(s) processed)"), std::string::npos) << upright.output;
  args = base;
  args.insert(args.end(), {"-o", (out / "turned.jpg").string(), "--face-detector-angles", "0,90"});
  CommandResult turned = run_facefuse(args);
  ASSERT_EQ(turned.exit_code, 0) << turned.output;
  EXPECT_NE(turned.output.find("(4 of 4 target face(s) processed)"), std::string::npos) << turned.output;
  // A size yolo_face does not take is refused before anything is written.
  args = base;
  args.insert(args.end(), {"-o", (out / "bad.jpg").string(), "--face-detector-size", "320x320"});
  CommandResult bad = run_facefuse(args);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("not available for yolo_face"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(out / "bad.jpg"));
}

TEST(CliDetectOnnx, MissingFaceFusionModelIsABadInputThatSaysHowToInstall) {
  TempDir empty;
  CommandResult r = run_facefuse({"--models-dir", empty.path().string(), "detect", testdata("photos/bar55.jpg").string(),
                                  "--face-detector", "scrfd"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("facefuse models download scrfd"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace facefuse::testing
