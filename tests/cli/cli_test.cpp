// End-to-end tests of the facefuse executable: exit codes, messages that say what to fix, and
// that no output file is ever left behind by a failed run. Real photos from scripts/setup.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "support/test_support.h"

namespace facefuse::testing {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;

class CliTest : public ::testing::Test {
 protected:
  std::string source() { return testdata("photos/astronaut.png").string(); }
  std::string target() { return testdata("dlib_faces/Tom_Cruise_avp_2014_4.jpg").string(); }
  std::string output(const std::string& name = "out.jpg") { return (tmp_ / name).string(); }

  // Runs facefuse and checks a bad-input failure: exit code 2, a message containing `expected`,
  // and no file at all left in the output directory.
  void expect_bad_input(const std::vector<std::string>& args, const std::string& expected) {
    CommandResult r = run_facefuse(args);
    EXPECT_EQ(r.exit_code, kExitBadInput) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << "message should contain '" << expected << "':\n" << r.output;
    EXPECT_TRUE(std::filesystem::is_empty(tmp_.path())) << "a failed run left files behind";
  }

  TempDir tmp_;
};

TEST_F(CliTest, SwapsARealPhotoAndPrintsTheOutputPath) {
  CommandResult r = run_facefuse({"run", "-s", source(), "-t", target(), "-o", output()});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_NE(r.output.find(output()), std::string::npos);
  cv::Mat out = cv::imread(output());
  cv::Mat in = cv::imread(target());
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.size(), in.size());
  // The face region changed substantially (a swap happened), not just JPEG noise.
  cv::Mat diff;
  cv::absdiff(out, in, diff);
  EXPECT_GT(cv::mean(diff)[0] + cv::mean(diff)[1] + cv::mean(diff)[2], 1.0);
}

TEST_F(CliTest, MissingSourceFile) {
  expect_bad_input({"run", "-s", "/nonexistent/face.jpg", "-t", target(), "-o", output()}, "does not exist");
}

TEST_F(CliTest, MissingTargetFile) {
  expect_bad_input({"run", "-s", source(), "-t", (tmp_ / "missing.jpg").string(), "-o", output()}, "does not exist");
}

TEST_F(CliTest, UnreadableInputIsADirectory) {
  TempDir other;
  expect_bad_input({"run", "-s", other.path().string(), "-t", target(), "-o", output()}, "is a directory");
}

TEST_F(CliTest, NonImageNamedJpg) {
  TempDir other;
  auto fake = other / "notes.jpg";
  std::ofstream(fake) << "this is a text file, not a photo\n";
  expect_bad_input({"run", "-s", fake.string(), "-t", target(), "-o", output()}, "not an image");
}

TEST_F(CliTest, TruncatedJpeg) {
  TempDir other;
  auto truncated = other / "truncated.jpg";
  std::ifstream in(target(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_bad_input({"run", "-s", source(), "-t", truncated.string(), "-o", output()}, "truncated");
}

TEST_F(CliTest, NoFaceInAnySourceImage) {
  expect_bad_input({"run", "-s", testdata("photos/sunset.jpg").string(), "-s", testdata("dlib_faces/dogs.jpg").string(),
                    "-t", target(), "-o", output()},
                   "no face found in the source");
}

TEST_F(CliTest, UnknownProcessor) {
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", output(), "--processors", "face_melter"},
                   "unknown processor 'face_melter'");
}

TEST_F(CliTest, UnknownOptionValue) {
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", output(), "--face-selector-mode", "everybody"},
                   "face_selector_mode");
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", output(), "--face-detector", "yolo9000"},
                   "face_detector");
}

TEST_F(CliTest, OptionOutOfRangeOrNotANumber) {
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", output(), "--face-swapper-blend", "3"}, "out of range");
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", output(), "--face-mask-blur", "soft"},
                   "expects a number");
}

TEST_F(CliTest, UnknownFlag) {
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", output(), "--frobnicate"}, "--help");
}

TEST_F(CliTest, UnknownExecutionProvider) {
  expect_bad_input({"--execution-providers", "quantum", "run", "-s", source(), "-t", target(), "-o", output()},
                   "unknown execution provider");
}

TEST_F(CliTest, CudaIsNotAvailableOnThisBuild) {
  expect_bad_input({"--execution-providers", "cuda", "run", "-s", source(), "-t", target(), "-o", output()},
                   "not available in this build/machine");
}

TEST_F(CliTest, OutputDirectoryMissing) {
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", (tmp_ / "no/such/dir/out.jpg").string()},
                   "does not exist");
}

TEST_F(CliTest, OutputDirectoryNotWritable) {
  // /proc takes no new files, even from root, so this holds for every user.
  CommandResult r = run_facefuse({"run", "-s", source(), "-t", target(), "-o", "/proc/facefuse-out.jpg"});
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.output;
  EXPECT_NE(r.output.find("not writable"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists("/proc/facefuse-out.jpg"));
}

TEST_F(CliTest, OutputWithUnknownExtension) {
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", output("out.bmpx")}, ".jpg, .png or .webp");
}

TEST_F(CliTest, ImageOverThePixelLimit) {
  expect_bad_input({"run", "-s", source(), "-t", target(), "-o", output(), "--max-pixels", "10000"}, "over the limit");
}

TEST_F(CliTest, TargetWithoutAFaceIsCopiedWithAWarning) {
  std::string no_face = testdata("photos/sunset.jpg").string();
  CommandResult r = run_facefuse({"run", "-s", source(), "-t", no_face, "-o", output("out.png")});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_NE(r.output.find("warning: no face found in the target"), std::string::npos) << r.output;
  cv::Mat out = cv::imread(output("out.png"));
  cv::Mat in = cv::imread(no_face);
  ASSERT_EQ(out.size(), in.size());
  EXPECT_EQ(cv::norm(out, in, cv::NORM_INF), 0.0) << "a PNG of an untouched target must be pixel-identical";
}

TEST_F(CliTest, DetectPrintsFacesAsJson) {
  CommandResult r = run_facefuse({"detect", testdata("dlib_faces/bald_guys.jpg").string(), "--landmarks-68",
                                  "--log-level", "off"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  auto doc = nlohmann::json::parse(r.output);
  ASSERT_GE(doc["faces"].size(), 5u) << "bald_guys.jpg shows a crowd of faces";
  float previous_area = 1e12f;
  for (size_t i = 0; i < doc["faces"].size(); ++i) {
    const auto& f = doc["faces"][i];
    EXPECT_EQ(f["index"].get<size_t>(), i);
    EXPECT_EQ(f["landmarks_5"].size(), 5u);
    EXPECT_EQ(f["landmarks_68"].size(), 68u);
    float area = f["box"][2].get<float>() * f["box"][3].get<float>();
    EXPECT_LE(area, previous_area) << "default order is large-small";
    previous_area = area;
  }
}

TEST_F(CliTest, DetectOnAMissingFile) {
  CommandResult r = run_facefuse({"detect", "/nonexistent.jpg"});
  EXPECT_EQ(r.exit_code, kExitBadInput);
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
}

TEST_F(CliTest, ModelsListShowsTheInstalledDefaults) {
  CommandResult r = run_facefuse({"models", "list", "--json"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  auto doc = nlohmann::json::parse(r.output);
  ASSERT_GE(doc["models"].size(), 4u);
  for (const auto& m : doc["models"]) {
    if (m["default"].get<bool>()) EXPECT_EQ(m["state"], "installed") << m.dump();
    EXPECT_FALSE(m["license"].get<std::string>().empty());
  }
  CommandResult missing = run_facefuse({"--models-dir", tmp_.path().string(), "models", "list"});
  EXPECT_EQ(missing.exit_code, kExitOk);
  EXPECT_NE(missing.output.find("missing"), std::string::npos);
}

TEST_F(CliTest, MissingModelsSayHowToInstallThem) {
  TempDir empty_models;
  CommandResult r = run_facefuse({"--models-dir", empty_models.path().string(), "run", "-s", source(), "-t", target(),
                                  "-o", output()});
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.output;
  EXPECT_NE(r.output.find("scripts/setup"), std::string::npos) << r.output;
}

TEST_F(CliTest, HelpListsTheOptions) {
  CommandResult r = run_facefuse({"run", "--help"});
  EXPECT_EQ(r.exit_code, kExitOk);
  for (const char* flag : {"--source", "--target", "--output", "--processors", "--face-selector-mode",
                           "--face-swapper-blend", "--face-mask-blur", "--reference-face-position"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace facefuse::testing

namespace facefuse::testing {
namespace {

TEST_F(CliTest, VideoTargetBadInputs) {
  // A text file named .mp4, a file with no video stream, an unknown output container.
  expect_bad_input({"run", "-s", source(), "-t", testdata("videos/fake/clip.mp4").string(), "-o", output("o.mp4")},
                   "not an image or video");
  expect_bad_input({"run", "-s", source(), "-t", testdata("videos/audio_only.m4a").string(), "-o", output("o.mp4")},
                   "not an image or video");
  expect_bad_input({"run", "-s", source(), "-t", testdata("videos/empty.mp4").string(), "-o", output("o.mp4")},
                   "not an image or video");
  expect_bad_input({"run", "-s", source(), "-t", testdata("videos/face_720p.mp4").string(), "-o", output("o.avi")},
                   ".mp4");
  expect_bad_input({"run", "-s", source(), "-t", testdata("videos/face_720p.mp4").string(), "-o", output("o.mp4"),
                    "--trim-frame-start", "90", "--trim-frame-end", "20"},
                   "--trim-frame-end");
  expect_bad_input({"run", "-s", source(), "-t", testdata("videos/face_720p.mp4").string(), "-o", output("o.mp4"),
                    "--output-video-encoder", "divx"},
                   "libx264");
}

TEST_F(CliTest, DetectOnAVideoFrame) {
  CommandResult r = run_facefuse({"detect", testdata("videos/face_720p.mp4").string(), "--frame", "30", "--log-level",
                                  "off"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  auto doc = nlohmann::json::parse(r.output);
  EXPECT_EQ(doc["frame"], 30);
  EXPECT_EQ(doc["width"], 1280);
  EXPECT_EQ(doc["faces"].size(), 1u);
  CommandResult out_of_range = run_facefuse({"detect", testdata("videos/face_720p.mp4").string(), "--frame", "300"});
  EXPECT_EQ(out_of_range.exit_code, kExitBadInput);
  EXPECT_NE(out_of_range.output.find("outside"), std::string::npos) << out_of_range.output;
}

TEST_F(CliTest, SwapsAVideoWithProgressLines) {
  CommandResult r = run_facefuse({"run", "-s", source(), "-t", testdata("videos/talking_head_640x480.mp4").string(),
                                  "-o", output("th.mp4"), "--trim-frame-end", "20", "--output-video-preset", "ultrafast"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_NE(r.output.find("frames "), std::string::npos) << "progress lines name frames done/total:\n" << r.output;
  EXPECT_TRUE(std::filesystem::exists(output("th.mp4")));
}

}  // namespace
}  // namespace facefuse::testing
