// The facefuse executable on real-world media (issue 11): portrait phone video and odd widths
// through `run`, `run --frame` and `detect --frame` (item 1: these aborted with heap corruption),
// output names with a colon or of 242–255 bytes (item 8), warnings when faces were present but
// none was swapped (item 2), and the synthetic-media label switch (issue 10).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "facefuse/media/video_probe.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;

class MediaCliTest : public ::testing::Test {
 protected:
  std::string source() { return testdata("photos/astronaut.png").string(); }
  std::string video(const std::string& name) { return testdata("videos/" + name).string(); }
  TempDir tmp_;
};

TEST_F(MediaCliTest, PortraitAndOddWidthVideosRunAndDetect) {
  for (const char* clip : {"widths/1080x1920.mp4", "widths/1081x607_mpeg4.mkv"}) {
    SCOPED_TRACE(clip);
    const auto out = tmp_ / "out.mp4";
    CommandResult r = run_facefuse({"run", "-s", source(), "-t", video(clip), "-o", out.string(),
                                    "--face-selector-mode", "many", "--output-video-preset", "ultrafast"});
    ASSERT_EQ(r.exit_code, kExitOk) << r.output;
    EXPECT_NE(r.output.find("8 of 8 target face(s) processed"), std::string::npos) << r.output;
    auto info = media::probe_video(out);
    ASSERT_TRUE(info) << info.status().to_string();
    EXPECT_EQ(info->frame_count, 8);

    const auto frame = tmp_ / "frame.png";
    r = run_facefuse({"run", "-s", source(), "-t", video(clip), "-o", frame.string(), "--frame", "5",
                      "--face-selector-mode", "many"});
    ASSERT_EQ(r.exit_code, kExitOk) << r.output;
    EXPECT_TRUE(std::filesystem::exists(frame));

    r = run_facefuse({"detect", video(clip), "--frame", "5", "--log-level", "off"});
    ASSERT_EQ(r.exit_code, kExitOk) << r.output;
    auto doc = nlohmann::json::parse(r.output);
    EXPECT_EQ(doc["faces"].size(), 1u);
    std::filesystem::remove(out);
    std::filesystem::remove(frame);
  }
}

TEST_F(MediaCliTest, OutputNamesWithColonsOrUpTo255BytesWork) {
  // Relative, as typed: "swap-12" must not be taken for an FFmpeg protocol.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(tmp_.path());
  CommandResult r = run_facefuse({"run", "-s", source(), "-t", video("widths/360x640.mp4"), "-o", "swap-12:30.mp4",
                                  "--face-selector-mode", "many", "--output-video-preset", "ultrafast"});
  std::filesystem::current_path(cwd);
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_TRUE(std::filesystem::exists(tmp_ / "swap-12:30.mp4"));

  const std::string longest = std::string(251, 'n') + ".mp4";  // 255 bytes
  r = run_facefuse({"run", "-s", source(), "-t", video("widths/360x640.mp4"), "-o", (tmp_ / longest).string(),
                    "--output-video-preset", "ultrafast"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_TRUE(std::filesystem::exists(tmp_ / longest));

  const std::string too_long = std::string(252, 'n') + ".mp4";  // 256 bytes: refused before any work
  r = run_facefuse({"run", "-s", source(), "-t", video("widths/360x640.mp4"), "-o", (tmp_ / too_long).string()});
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.output;
  EXPECT_NE(r.output.find("choose a shorter name"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("processed"), std::string::npos) << "no work before the check:\n" << r.output;
  for (const auto& e : std::filesystem::directory_iterator(tmp_.path())) {
    EXPECT_NE(e.path().extension(), ".part") << "temporary file left: " << e.path();
  }
}

TEST_F(MediaCliTest, FacesFoundButNoneSwappedPrintsAWarning) {
  // The reference face from frame 50 and a reference_face_distance so strict that the same person
  // a few frames later (zoomed and panned) no longer matches: faces in every frame, none swapped.
  CommandResult r = run_facefuse({"run", "-s", source(), "-t", video("face_middle_third.mp4"), "-o",
                                  (tmp_ / "none.mp4").string(), "--reference-face-distance", "0.0001",
                                  "--trim-frame-start", "55", "--trim-frame-end", "95", "--reference-frame-number",
                                  "50", "--output-video-preset", "ultrafast"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_NE(r.output.find("facefuse: warning:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("but none was swapped"), std::string::npos) << r.output;
}

TEST_F(MediaCliTest, NoSyntheticLabelFlagIsAccepted) {
  CommandResult r = run_facefuse({"run", "-s", source(), "-t", testdata("photos/jesper.jpg").string(), "-o",
                                  (tmp_ / "plain.jpg").string(), "--no-synthetic-label"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  CommandResult help = run_facefuse({"run", "--help"});
  EXPECT_NE(help.output.find("--no-synthetic-label"), std::string::npos);
}

}  // namespace
}  // namespace facefuse::testing
