// What a job reports and writes besides the swap itself (issues 10 and 11): the reference face
// found after a faceless first frame, warnings when faces were found but none swapped, the temp
// directory with TMPDIR unset or empty, outputs kept transparent / grey like their target, and
// the synthetic-media label read back with exiftool and ffprobe.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/synthetic_label.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/pipeline/run_job.h"
#include "facefuse/pipeline/video_job.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

std::string run(const std::string& cmd) { return run_shell(cmd).output; }

bool has_warning(const pipeline::JobReport& report, const std::string& part) {
  for (const auto& w : report.warnings) {
    if (w.find(part) != std::string::npos) return true;
  }
  return false;
}

std::string warnings_of(const pipeline::JobReport& report) {
  std::string all;
  for (const auto& w : report.warnings) all += w + "\n";
  return all;
}

// Sets an environment variable for the scope (nullptr: unset), restoring it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    if (value != nullptr) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class JobOutputsTest : public ::testing::Test {
 protected:
  pipeline::JobSpec spec(const std::filesystem::path& target, const std::string& output) {
    pipeline::JobSpec s;
    s.sources = {testdata("photos/astronaut.png")};
    s.target = target;
    s.output = out_ / output;
    s.models_dir = models_dir();
    s.temp_dir = temp_.path();
    s.video.preset = "ultrafast";
    return s;
  }

  TempDir out_, temp_;
};

// Issue 11, item 2: face_middle_third.mp4 opens on 50 frames of a landscape. In the default
// reference mode the reference face used to be looked for in frame 0 only: nothing was swapped
// and the job said nothing. Now it comes from frame 50 (the first with a face), with a warning.
TEST_F(JobOutputsTest, ReferenceFaceIsTakenFromTheFirstFrameWithAFace) {
  auto s = spec(testdata("videos/face_middle_third.mp4"), "ref.mp4");  // options: FaceFusion's defaults
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  ASSERT_TRUE(report->reference_frame.has_value());
  EXPECT_EQ(*report->reference_frame, 50);
  EXPECT_GE(report->processed_faces, 45) << "the face of frames 50–99 is swapped";
  EXPECT_TRUE(has_warning(*report, "reference frame 0 has no face")) << warnings_of(*report);

  // The chunk API (the service) finds the same reference in every chunk and the merge sums the
  // chunks' figures and warns the same way.
  auto chunked = spec(testdata("videos/face_middle_third.mp4"), "ref_chunked.mp4");
  chunked.video.chunk_frames = 60;
  auto plan = pipeline::plan_video_job(chunked);
  ASSERT_TRUE(plan) << plan.status().to_string();
  std::vector<std::filesystem::path> segments;
  int processed = 0;
  for (size_t i = 0; i < plan->chunks.size(); ++i) {
    segments.push_back(temp_ / ("chunk" + std::to_string(i) + ".mp4"));
    auto part = pipeline::process_video_chunk(chunked, *plan, plan->chunks[i], segments.back());
    ASSERT_TRUE(part) << part.status().to_string();
    EXPECT_EQ(part->reference_frame, std::optional<int64_t>(50)) << "chunk " << i;
    processed += part->processed_faces;
  }
  auto merged = pipeline::merge_video_chunks(chunked, *plan, segments);
  ASSERT_TRUE(merged) << merged.status().to_string();
  EXPECT_EQ(merged->processed_faces, processed);
  EXPECT_EQ(merged->processed_faces, report->processed_faces);
  EXPECT_EQ(merged->target_faces, report->target_faces);
  EXPECT_TRUE(has_warning(*merged, "reference frame 0 has no face")) << warnings_of(*merged);
}

// Faces found, none swapped: the reference person (jesper, frames 0–19 of a clip made here) never
// appears in the trimmed output (new_wave_2, frames 20–39).
TEST_F(JobOutputsTest, FacesFoundButNoneSwappedIsAWarning) {
  const auto clip = out_ / "two_people.mp4";
  const std::string fit = "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,"
                          "setsar=1,format=yuv420p";
  ASSERT_EQ(std::system(("ffmpeg -nostdin -v error -y -loop 1 -framerate 25 -t 0.8 -i '" +
                         testdata("photos/jesper.jpg").string() + "' -loop 1 -framerate 25 -t 0.8 -i '" +
                         testdata("photos/new_wave_2.jpg").string() + "' -filter_complex '[0:v]" + fit + "[a];[1:v]" +
                         fit + "[b];[a][b]concat=n=2:v=1[v]' -map '[v]' -c:v libx264 -preset ultrafast -g 10 '" +
                         clip.string() + "'")
                            .c_str()),
            0);
  auto s = spec(clip, "none.mp4");
  s.video.trim_frame_start = 20;
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  EXPECT_EQ(report->reference_frame, std::optional<int64_t>(0));
  EXPECT_GT(report->target_faces, 0);
  EXPECT_EQ(report->processed_faces, 0);
  EXPECT_TRUE(has_warning(*report, "but none was swapped")) << warnings_of(*report);
  EXPECT_TRUE(has_warning(*report, "reference_face_distance")) << "the warning says what to change";
}

// Issue 11, item 9: with TMPDIR empty (or unset) the job's temp directory goes to /tmp, never into
// the current directory; a TMPDIR that is not a directory fails the job before any work.
TEST_F(JobOutputsTest, EmptyOrUnsetTmpdirMeansTheSystemTempDirNotTheCurrentOne) {
  TempDir cwd_dir;
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(cwd_dir.path());
  for (const char* value : {"", static_cast<const char*>(nullptr)}) {
    SCOPED_TRACE(value == nullptr ? "unset" : "empty");
    ScopedEnv tmpdir("TMPDIR", value);
    auto s = spec(testdata("videos/widths/360x640.mp4"), "tmp.mp4");
    s.temp_dir.clear();  // the system temp dir, as the CLI runs
    bool saw_temp_dir_here = false;
    auto report = pipeline::run_job(s, [&](const pipeline::ProgressEvent&) {
      if (!std::filesystem::is_empty(cwd_dir.path())) saw_temp_dir_here = true;
    });
    EXPECT_TRUE(report) << report.status().to_string();
    EXPECT_FALSE(saw_temp_dir_here) << "the job's temporary files went into the current directory";
    EXPECT_TRUE(std::filesystem::is_empty(cwd_dir.path()));
  }
  {
    ScopedEnv tmpdir("TMPDIR", "/nonexistent-facefuse-tmp");
    auto s = spec(testdata("videos/widths/360x640.mp4"), "tmp2.mp4");
    s.temp_dir.clear();
    auto report = pipeline::run_job(s);
    ASSERT_FALSE(report);
    EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(report.status().message().find("TMPDIR"), std::string::npos) << report.status().message();
  }
  std::filesystem::current_path(cwd);
}

// Issue 11 weaknesses: a transparent PNG target comes out transparent; a grey photo comes out grey
// although the swapped-in face (astronaut.png) is in colour.
TEST_F(JobOutputsTest, TransparentAndGreyTargetsAreWrittenLikeTheTarget) {
  cv::Mat photo = load_photo("photos/jesper.jpg");
  cv::Mat bgra;
  cv::cvtColor(photo, bgra, cv::COLOR_BGR2BGRA);
  for (int y = 0; y < bgra.rows; ++y) {
    for (int x = 0; x < 60; ++x) bgra.at<cv::Vec4b>(y, x)[3] = 0;  // a transparent left edge
  }
  ASSERT_TRUE(cv::imwrite((out_ / "alpha.png").string(), bgra));
  auto s = spec(out_ / "alpha.png", "alpha_out.png");
  s.options = {{"face_selector_mode", "many"}};
  auto report = pipeline::run_job(s);
  ASSERT_TRUE(report) << report.status().to_string();
  EXPECT_EQ(report->processed_faces, 1);
  cv::Mat written = cv::imread(s.output.string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(written.channels(), 4) << "the output lost the target's transparency";
  cv::Mat alpha_in, alpha_out;
  cv::extractChannel(bgra, alpha_in, 3);
  cv::extractChannel(written, alpha_out, 3);
  EXPECT_EQ(cv::norm(alpha_in, alpha_out, cv::NORM_INF), 0.0);

  cv::Mat grey;
  cv::cvtColor(photo, grey, cv::COLOR_BGR2GRAY);
  ASSERT_TRUE(cv::imwrite((out_ / "grey.jpg").string(), grey));
  auto g = spec(out_ / "grey.jpg", "grey_out.jpg");
  g.options = {{"face_selector_mode", "many"}};
  auto grey_report = pipeline::run_job(g);
  ASSERT_TRUE(grey_report) << grey_report.status().to_string();
  EXPECT_EQ(grey_report->processed_faces, 1);
  cv::Mat out = cv::imread(g.output.string(), cv::IMREAD_COLOR);
  std::vector<cv::Mat> ch;
  cv::split(out, ch);
  EXPECT_LE(cv::norm(ch[0], ch[2], cv::NORM_INF), 2.0) << "the swapped face brought colour into a grey photo";
  cv::Mat in = cv::imread((out_ / "grey.jpg").string(), cv::IMREAD_GRAYSCALE);
  EXPECT_GT(cv::norm(ch[1], in, cv::NORM_L1) / static_cast<double>(in.total()), 0.5) << "the face was swapped";
}

// Issue 10: image and video outputs of a job carry the label by default and not when turned off.
TEST_F(JobOutputsTest, OutputsAreLabelledAsSyntheticUnlessTurnedOff) {
  const std::string url(media::kDigitalSourceTypeComposite);
  for (bool label : {true, false}) {
    SCOPED_TRACE(label ? "labelled" : "not labelled");
    auto image = spec(testdata("photos/jesper.jpg"), label ? "on.jpg" : "off.jpg");
    image.synthetic_label = label;
    ASSERT_TRUE(pipeline::run_job(image));
    std::string xmp = run("exiftool -s3 -XMP-iptcExt:DigitalSourceType '" + image.output.string() + "'");
    EXPECT_EQ(xmp.find(url) != std::string::npos, label) << xmp;

    auto video = spec(testdata("videos/widths/360x640.mp4"), label ? "on.mp4" : "off.mp4");
    video.synthetic_label = label;
    ASSERT_TRUE(pipeline::run_job(video));
    std::string tags = run("ffprobe -v error -show_entries format_tags -of default=nw=1 '" + video.output.string() + "'");
    EXPECT_EQ(tags.find(url) != std::string::npos, label) << tags;
  }
}

}  // namespace
}  // namespace facefuse::testing
