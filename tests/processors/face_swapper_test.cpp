// The face_swapper processor on real photos: a target face much larger than the source face is
// swapped on a reduced copy of its region; the result must still be a swap confined to the face.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_analyser.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/processors/face_swapper/face_swapper.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

TEST(FaceSwapper, LargeTargetFaceIsSwappedOnlyInsideItsRegion) {
  face::FaceAnalyserOptions options;
  options.models_dir = models_dir();
  auto analyser = face::FaceAnalyser::open(options);
  ASSERT_TRUE(analyser) << analyser.status().to_string();
  processors::ProcessorContext context;
  context.analyser = analyser->get();
  context.source_images = {load_photo("photos/astronaut.png")};
  processors::FaceSwapper swapper;
  ASSERT_TRUE(swapper.open(context).is_ok());

  cv::Mat target = load_photo("photos/jesper.jpg");  // a close-up: the face is far larger than the source's
  auto faces = (*analyser)->analyse(target);
  ASSERT_TRUE(faces && faces->size() == 1u);
  const auto& face = faces->front();
  ASSERT_GT(face::face_size(face.landmarks68), 1.5f * face::face_size(swapper.source().face.landmarks68))
      << "this test is about the reduced-copy path";

  processors::FrameContext frame{target.clone(), *faces, 0};
  ASSERT_TRUE(swapper.process(frame).is_ok());
  // Outside the face's region (with the blend's margin) nothing changed, bit for bit.
  cv::Rect region = face::face_region(face.landmarks68, 0.3f, 0.5f, target.size());
  cv::Mat outside = cv::Mat::ones(target.size(), CV_8U);
  outside(region).setTo(0);
  cv::Mat diff;
  cv::absdiff(frame.frame, target, diff);
  cv::Mat diff_grey;
  cv::cvtColor(diff, diff_grey, cv::COLOR_BGR2GRAY);
  EXPECT_EQ(cv::countNonZero(diff_grey & outside), 0);
  // Inside the face, the swap changed the picture substantially.
  cv::Rect inner(cv::Rect(face.box) & cv::Rect(0, 0, target.cols, target.rows));
  EXPECT_GT(cv::mean(diff_grey(inner))[0], 8.0);
  // The swapped face is still a face where the target's was.
  auto after = (*analyser)->analyse(frame.frame);
  ASSERT_TRUE(after && !after->empty());
  EXPECT_GE(iou(after->front().box, face.box), 0.7f);
}

}  // namespace
}  // namespace facefuse::testing
