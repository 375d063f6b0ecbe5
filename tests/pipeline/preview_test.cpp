// The studio's preview (pipeline/preview.h) on real photos and a real face video: a reduced frame
// whose face changed and whose background did not, an engine reused for equal keys, a target
// without a face passing through unchanged, a frame number past the end refused, and video frames
// from the renderer's open decoders and frame cache equal to a fresh read, within the cache's bytes.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_analyser.h"
#include "facefuse/pipeline/preview.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

cv::Mat decode(const std::vector<unsigned char>& jpeg) { return cv::imdecode(jpeg, cv::IMREAD_COLOR); }

// Mean absolute difference (0–255) of two pictures inside `r`.
double mean_diff(const cv::Mat& a, const cv::Mat& b, const cv::Rect& r) {
  cv::Mat d;
  cv::absdiff(a(r), b(r), d);
  cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3.0;
}

class PreviewTest : public ::testing::Test {
 protected:
  pipeline::JobSpec spec(const std::string& target) {
    pipeline::JobSpec s;
    s.sources = {testdata("photos/astronaut.png")};
    s.target = testdata(target);
    s.output = tmp_ / "unused.jpg";
    s.models_dir = models_dir();
    s.temp_dir = tmp_.path();
    return s;
  }
  TempDir tmp_;
};

TEST_F(PreviewTest, SwapsTheFaceOfAReducedFrameAndLeavesTheBackground) {
  pipeline::PreviewRenderer renderer;  // max side 640
  auto job = spec("photos/jesper.jpg");
  auto before = renderer.render(job, 0, "k", /*original=*/true);
  ASSERT_TRUE(before) << before.status().to_string();
  auto after = renderer.render(job, 0, "k");
  ASSERT_TRUE(after) << after.status().to_string();
  EXPECT_EQ(std::max(after->width, after->height), 640);
  EXPECT_EQ(after->width, before->width);
  EXPECT_EQ(after->target_faces, 1);
  EXPECT_EQ(after->processed_faces, 1);
  EXPECT_EQ(before->processed_faces, 0);

  // The face is where the analyser finds it in the reduced frame: it changed there, not far away.
  cv::Mat a = decode(after->jpeg), b = decode(before->jpeg);
  ASSERT_FALSE(a.empty());
  face::FaceAnalyserOptions options;
  options.models_dir = models_dir();
  auto analyser = face::FaceAnalyser::open(options);
  ASSERT_TRUE(analyser);
  auto faces = (*analyser)->analyse(b);
  ASSERT_TRUE(faces);
  ASSERT_EQ(faces->size(), 1u);
  const cv::Rect2f& box = faces->front().box;
  cv::Rect inner(cv::Rect2f(box.x + box.width * 0.25f, box.y + box.height * 0.25f, box.width * 0.5f, box.height * 0.5f));
  const double inside = mean_diff(a, b, inner & cv::Rect(0, 0, a.cols, a.rows));
  // A corner strip a face-width away from the box: JPEG noise only.
  cv::Rect corner(0, 0, std::max(8, a.cols / 10), std::max(8, a.rows / 10));
  ASSERT_TRUE((corner & cv::Rect(box)).empty());
  const double outside = mean_diff(a, b, corner);
  EXPECT_GT(inside, 8.0) << "the face should change (mean |diff| inside the face box)";
  EXPECT_LT(outside, 2.0) << "the background should not change";
}

TEST_F(PreviewTest, ReusesTheEngineForEqualKeysAndRendersTheSameFrame) {
  pipeline::PreviewRenderer renderer;
  auto job = spec("photos/jesper.jpg");
  auto first = renderer.render(job, 0, "same");
  ASSERT_TRUE(first) << first.status().to_string();
  auto second = renderer.render(job, 0, "same");
  ASSERT_TRUE(second) << second.status().to_string();
  EXPECT_FALSE(first->engine_reused);
  EXPECT_TRUE(second->engine_reused);
  EXPECT_EQ(first->jpeg, second->jpeg);
  // Another option set is another engine, and another picture.
  job.options = {{"face_swapper_blend", 0.2}};
  auto third = renderer.render(job, 0, "other");
  ASSERT_TRUE(third) << third.status().to_string();
  EXPECT_FALSE(third->engine_reused);
  EXPECT_NE(third->jpeg, first->jpeg);
}

TEST_F(PreviewTest, ATargetWithoutAFacePassesThroughWithZeroProcessed) {
  pipeline::PreviewRenderer renderer;
  auto job = spec("photos/grand_canyon_1.jpg");  // a landscape: no face at any size
  auto after = renderer.render(job, 0, "k");
  ASSERT_TRUE(after) << after.status().to_string();
  auto before = renderer.render(job, 0, "k", true);
  ASSERT_TRUE(before);
  EXPECT_EQ(after->target_faces, 0);
  EXPECT_EQ(after->processed_faces, 0);
  EXPECT_EQ(after->jpeg, before->jpeg);
}

TEST_F(PreviewTest, RendersTheAskedVideoFrameAndRefusesOnePastTheEnd) {
  pipeline::PreviewRenderer renderer;
  auto job = spec("videos/talking_head_640x480.mp4");
  auto frame = renderer.render(job, 30, "k");
  ASSERT_TRUE(frame) << frame.status().to_string();
  EXPECT_EQ(frame->frame_number, 30);
  EXPECT_EQ(frame->width, 640);
  EXPECT_EQ(frame->processed_faces, 1);
  auto other = renderer.render(job, 0, "k", true);
  ASSERT_TRUE(other);
  auto same_frame = renderer.render(job, 30, "k", true);
  ASSERT_TRUE(same_frame);
  EXPECT_NE(other->jpeg, same_frame->jpeg) << "frames 0 and 30 of a talking head differ";
  auto past = renderer.render(job, 100000, "k");
  ASSERT_FALSE(past);
  EXPECT_EQ(past.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PreviewTest, VideoFramesFromTheOpenDecoderAndTheCacheEqualAFreshRead) {
  // Fresh: a decoder opened and seeked for every frame, nothing kept (the behaviour before the cache).
  pipeline::PreviewSettings fresh_settings;
  fresh_settings.frame_cache_bytes = 0;
  fresh_settings.open_videos = 0;
  pipeline::PreviewRenderer fresh(fresh_settings);
  pipeline::PreviewRenderer cached;
  auto job = spec("videos/talking_head_640x480.mp4");
  // Forward a little (decoded on from the open decoder), back (a seek), the same again (cache).
  for (int64_t n : {30, 34, 35, 10, 30, 34, 67}) {
    auto a = fresh.render(job, n, "", true);
    auto b = cached.render(job, n, "", true);
    ASSERT_TRUE(a) << a.status().to_string();
    ASSERT_TRUE(b) << b.status().to_string();
    EXPECT_EQ(a->jpeg, b->jpeg) << "frame " << n;
  }
  EXPECT_EQ(fresh.cached_frame_bytes(), 0u);
  EXPECT_EQ(cached.cached_frame_bytes(), 5u * 640 * 480 * 3) << "frames 30, 34, 35, 10, 67 kept once each";
  auto past = cached.render(job, 68, "", true);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PreviewTest, TheVideoFrameCacheStaysWithinItsBytes) {
  pipeline::PreviewSettings settings;
  settings.frame_cache_bytes = 2 * 640 * 480 * 3 + 100;  // two 640×480 frames
  pipeline::PreviewRenderer renderer(settings);
  auto job = spec("videos/talking_head_640x480.mp4");
  for (int64_t n = 0; n < 6; ++n) ASSERT_TRUE(renderer.render(job, n, "", true));
  EXPECT_EQ(renderer.cached_frame_bytes(), 2u * 640 * 480 * 3);
}

}  // namespace
}  // namespace facefuse::testing
