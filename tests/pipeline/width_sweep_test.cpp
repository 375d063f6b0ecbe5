// Issue 11, item 1, on every path of the pipeline that converts frames: image → video in one pass
// (YUV pass-through where the target allows it), in chunks (the chunk API the service uses),
// scaled outputs, a video frame to an image (--frame) and detection on a video frame (detect
// --frame), at the widths that used to corrupt the heap (see tests/support/width_sweep.h). Each
// output is checked for what a user would see: the right size and frame count, the face swapped
// (pixels inside the target's face box changed) and the picture around it kept.

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/image_io.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/media/video_reader.h"
#include "facefuse/pipeline/detect.h"
#include "facefuse/pipeline/run_job.h"
#include "facefuse/pipeline/video_job.h"
#include "support/test_support.h"
#include "support/width_sweep.h"

namespace facefuse::testing {
namespace {

// Mean absolute difference (levels) inside the target's face box above which the face counts as
// swapped (a swapped face differs by 15–40 levels), and outside it below which the picture counts
// as kept (re-encoding at CRF 10 changes ~1–2 levels).
constexpr double kSwappedFaceMinDifference = 6.0;
constexpr double kKeptBackgroundMaxDifference = 3.0;
constexpr double kMinChunkPsnrDb = 40.0;  // chunked vs single pass, as in video_job_test.cpp

double mean_difference(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  cv::Scalar m = cv::mean(diff);
  return (m[0] + m[1] + m[2]) / 3.0;
}

class WidthSweepSlowTest : public ::testing::Test {
 protected:
  pipeline::JobSpec spec(const std::string& target, const std::string& output) {
    pipeline::JobSpec s;
    s.sources = {testdata("photos/astronaut.png")};
    s.target = testdata("videos/" + target);
    s.output = out_ / output;
    s.models_dir = models_dir();
    s.temp_dir = temp_.path();
    s.video.preset = "ultrafast";
    s.video.quality = 90;
    s.options = {{"face_selector_mode", "many"}};
    return s;
  }

  // The face box of frame `index` of `target` (detect --frame), in the target's displayed pixels.
  cv::Rect face_box(const std::filesystem::path& target, int64_t index) {
    pipeline::DetectRequest request;
    request.image = target;
    request.frame_number = index;
    request.models_dir = models_dir();
    auto found = pipeline::detect_faces(request);
    EXPECT_TRUE(found) << found.status().to_string();
    if (!found || (*found)["faces"].size() != 1) {
      ADD_FAILURE() << "expected one face in frame " << index << " of " << target;
      return {};
    }
    auto b = (*found)["faces"][0]["box"];
    return cv::Rect(cv::Point(static_cast<int>(b[0].get<double>()), static_cast<int>(b[1].get<double>())),
                    cv::Size(static_cast<int>(b[2].get<double>()), static_cast<int>(b[3].get<double>())));
  }

  // `output` frame vs `target` frame (same size): the face inside `box` changed, the rest kept.
  void expect_swapped_in_place(const cv::Mat& output, const cv::Mat& target, cv::Rect box) {
    ASSERT_EQ(output.size(), target.size());
    box &= cv::Rect(0, 0, target.cols, target.rows);
    ASSERT_GT(box.area(), 0);
    EXPECT_GT(mean_difference(output(box), target(box)), kSwappedFaceMinDifference) << "the face was not swapped";
    // Outside a margin of half the box around the face, nothing moved.
    cv::Rect grown(box.x - box.width / 2, box.y - box.height / 2, box.width * 2, box.height * 2);
    cv::Mat outside(target.size(), CV_8U, cv::Scalar(255));
    outside(grown & cv::Rect(0, 0, target.cols, target.rows)).setTo(0);
    cv::Mat diff;
    cv::absdiff(output, target, diff);
    cv::Scalar m = cv::mean(diff, outside);
    EXPECT_LT((m[0] + m[1] + m[2]) / 3.0, kKeptBackgroundMaxDifference) << "the picture around the face changed";
  }

  TempDir out_, temp_;
};

TEST_F(WidthSweepSlowTest, SinglePassSwapsEveryWidth) {
  for (const auto& clip : width_sweep_clips()) {
    SCOPED_TRACE(clip.name);
    auto s = spec(clip.name, "single.mp4");
    auto plan = pipeline::plan_video_job(s);
    ASSERT_TRUE(plan) << plan.status().to_string();
    EXPECT_EQ(plan->pass_through_matrix.has_value(), clip.pass_through);
    auto report = pipeline::run_job(s);
    ASSERT_TRUE(report) << report.status().to_string();
    EXPECT_EQ(report->frames, kWidthSweepFrames);
    EXPECT_EQ(report->processed_faces, kWidthSweepFrames) << "one face in every frame";
    auto out = media::probe_video(s.output);
    ASSERT_TRUE(out) << out.status().to_string();
    EXPECT_EQ(out->width, clip.width & ~1);
    EXPECT_EQ(out->height, clip.height & ~1);
    EXPECT_EQ(out->frame_count, kWidthSweepFrames);
    auto target = read_video_frames(s.target);
    auto output = read_video_frames(s.output);
    ASSERT_EQ(output.size(), target.size());
    const cv::Rect even(0, 0, clip.width & ~1, clip.height & ~1);
    cv::Mat target_frame;
    cv::resize(target[4], target_frame, even.size(), 0, 0, cv::INTER_AREA);  // odd sides: as the job does
    expect_swapped_in_place(output[4], target_frame, face_box(s.target, 4) & even);
  }
}

TEST_F(WidthSweepSlowTest, ChunksMatchTheSinglePassAtEveryWidth) {
  for (const auto& clip : width_sweep_clips()) {
    SCOPED_TRACE(clip.name);
    auto single = spec(clip.name, "single.mp4");
    ASSERT_TRUE(pipeline::run_job(single));
    auto chunked = spec(clip.name, "chunked.mp4");
    chunked.video.chunk_frames = 3;  // chunks of 3, 3 and 2 frames, each decoded from a seek
    auto plan = pipeline::plan_video_job(chunked);
    ASSERT_TRUE(plan) << plan.status().to_string();
    ASSERT_EQ(plan->chunks.size(), 3u);
    std::vector<std::filesystem::path> segments;
    for (size_t i = 0; i < plan->chunks.size(); ++i) {
      segments.push_back(temp_ / ("segment_" + std::to_string(i) + ".mp4"));
      auto part = pipeline::process_video_chunk(chunked, *plan, plan->chunks[i], segments.back());
      ASSERT_TRUE(part) << part.status().to_string();
      EXPECT_EQ(part->processed_faces, plan->chunks[i].end - plan->chunks[i].begin);
    }
    ASSERT_TRUE(pipeline::merge_video_chunks(chunked, *plan, segments).is_ok());
    auto a = read_video_frames(single.output);
    auto b = read_video_frames(chunked.output);
    ASSERT_EQ(a.size(), static_cast<size_t>(kWidthSweepFrames));
    ASSERT_EQ(b.size(), a.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_GT(psnr_db(a[i], b[i]), kMinChunkPsnrDb) << "frame " << i;
    for (const auto& segment : segments) std::filesystem::remove(segment);
  }
}

TEST_F(WidthSweepSlowTest, ScaledOutputsSwapEveryWidth) {
  for (const auto& clip : width_sweep_clips()) {
    SCOPED_TRACE(clip.name);
    auto s = spec(clip.name, "scaled.mp4");
    s.video.scale = 0.75;
    auto report = pipeline::run_job(s);
    ASSERT_TRUE(report) << report.status().to_string();
    EXPECT_EQ(report->processed_faces, kWidthSweepFrames);
    auto out = media::probe_video(s.output);
    ASSERT_TRUE(out) << out.status().to_string();
    EXPECT_EQ(out->width, std::max(2, static_cast<int>(std::lround(clip.width * 0.75)) & ~1));
    EXPECT_EQ(out->height, std::max(2, static_cast<int>(std::lround(clip.height * 0.75)) & ~1));
    EXPECT_EQ(out->frame_count, kWidthSweepFrames);
  }
}

TEST_F(WidthSweepSlowTest, VideoFrameToImageAndDetectionAtEveryWidth) {
  for (const auto& clip : width_sweep_clips()) {
    SCOPED_TRACE(clip.name);
    auto s = spec(clip.name, "frame.png");
    s.video.frame_number = 6;
    auto report = pipeline::run_job(s);
    ASSERT_TRUE(report) << report.status().to_string();
    EXPECT_EQ(report->processed_faces, 1);
    auto image = media::read_image(s.output);
    ASSERT_TRUE(image) << image.status().to_string();
    ASSERT_EQ(image->size(), cv::Size(clip.width, clip.height)) << "an image output keeps odd sides";
    auto target = pipeline::read_target_frame(s.target, 6, media::kDefaultMaxPixels);
    ASSERT_TRUE(target) << target.status().to_string();
    expect_swapped_in_place(*image, *target, face_box(s.target, 6));
  }
}

}  // namespace
}  // namespace facefuse::testing
