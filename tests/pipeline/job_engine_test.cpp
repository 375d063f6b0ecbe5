// JobEngine's two analysers (JobSpec::frame_min_face_size): target frames may be searched with a
// coarser, faster detector while the sources keep the full one (live mode, issue 15).
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/pipeline/job_engine.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

// astronaut.png shrunk 4× (its face ~50 px) in the middle of a 1280×1280 black canvas: found by
// the 40 px smallest-face detector (tiles), missed by a frame detector of smallest face 0 (one
// whole-frame pass: 1280 → 256 shrinks the face to ~10 model pixels).
cv::Mat small_face_canvas() {
  cv::Mat photo = load_photo("photos/astronaut.png");
  cv::Mat small;
  cv::resize(photo, small, photo.size() / 4, 0, 0, cv::INTER_AREA);
  cv::Mat canvas(1280, 1280, CV_8UC3, cv::Scalar::all(0));
  small.copyTo(canvas(cv::Rect(600, 600, small.cols, small.rows)));
  return canvas;
}

class JobEngineAnalysers : public ::testing::Test {
 protected:
  void SetUp() override {
    canvas_ = small_face_canvas();
    source_ = tmp_ / "small_face.png";
    ASSERT_TRUE(cv::imwrite(source_.string(), canvas_));
  }

  pipeline::JobSpec spec(std::optional<int> frame_min_face_size) const {
    pipeline::JobSpec s;
    s.sources = {source_};
    s.target = source_;
    s.output = tmp_ / "out.jpg";
    s.models_dir = models_dir();
    s.frame_min_face_size = frame_min_face_size;
    return s;
  }

  TempDir tmp_;
  cv::Mat canvas_;
  std::filesystem::path source_;
};

TEST_F(JobEngineAnalysers, FramesUseTheirOwnDetectorWhileTheSourceKeepsTheFullOne) {
  auto engine = pipeline::JobEngine::open(spec(0));
  ASSERT_TRUE(engine) << engine.status().to_string();
  // The source was read at 40 px: its one face is found, so the swapper opened.
  EXPECT_EQ((*engine)->source_face_counts(), std::vector<int>{1});
  EXPECT_NE(&(*engine)->analyser(), &(*engine)->source_analyser());
  auto frame_faces = (*engine)->analyser().analyse(canvas_);
  ASSERT_TRUE(frame_faces) << frame_faces.status().to_string();
  EXPECT_EQ(frame_faces->size(), 0u) << "frames are searched in one whole-frame pass";
  auto source_faces = (*engine)->source_analyser().analyse(canvas_);
  ASSERT_TRUE(source_faces) << source_faces.status().to_string();
  EXPECT_EQ(source_faces->size(), 1u);
}

TEST_F(JobEngineAnalysers, OneAnalyserWithoutAFrameSizeOrWhenTheJobSetsTheSmallestFace) {
  auto engine = pipeline::JobEngine::open(spec(std::nullopt));
  ASSERT_TRUE(engine) << engine.status().to_string();
  EXPECT_EQ(&(*engine)->analyser(), &(*engine)->source_analyser());
  // face_detector_min_size is the user's choice for every image of the job: it wins.
  auto s = spec(0);
  s.options = {{"face_detector_min_size", 40}};
  auto chosen = pipeline::JobEngine::open(s);
  ASSERT_TRUE(chosen) << chosen.status().to_string();
  EXPECT_EQ(&(*chosen)->analyser(), &(*chosen)->source_analyser());
  auto faces = (*chosen)->analyser().analyse(canvas_);
  ASSERT_TRUE(faces) << faces.status().to_string();
  EXPECT_EQ(faces->size(), 1u);
}

}  // namespace
}  // namespace facefuse::testing
