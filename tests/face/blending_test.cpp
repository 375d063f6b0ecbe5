// face::BilinearUpsampler: sampling a small image at the pixels of a larger grid must agree with
// cv::resize (INTER_LINEAR, same pixel-centre convention), also for a window of the large grid and
// for different x and y scales (the face swapper composites only the window its mask reaches).
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/blending.h"

namespace facefuse::testing {
namespace {

// Random values, so any misplaced sample shows.
cv::Mat random_image(cv::Size size, int channels) {
  cv::Mat image(size, CV_32FC(channels));
  cv::RNG rng(7);
  rng.fill(image, cv::RNG::UNIFORM, 0.0, 1.0);
  return image;
}

// Largest difference between the upsampler's rows and `expected` inside `window` of the large grid.
double max_difference(const cv::Mat& small, cv::Point2f scale, const cv::Mat& expected, cv::Rect window) {
  face::BilinearUpsampler up(small, scale, window.tl(), window.width);
  const int n = window.width * small.channels();
  double worst = 0;
  for (int y = 0; y < window.height; ++y) {
    const float* row = up.row(y);
    const float* ref = expected.ptr<float>(window.y + y) + window.x * small.channels();
    for (int i = 0; i < n; ++i) worst = std::max(worst, static_cast<double>(std::abs(row[i] - ref[i])));
  }
  return worst;
}

TEST(BilinearUpsampler, MatchesResizeOverTheWholeGrid) {
  const cv::Mat small = random_image({37, 23}, 3);
  cv::Mat large;
  cv::resize(small, large, cv::Size(111, 69), 0, 0, cv::INTER_LINEAR);
  EXPECT_LT(max_difference(small, {1.0f / 3.0f, 1.0f / 3.0f}, large, cv::Rect(0, 0, 111, 69)), 1e-4);
}

TEST(BilinearUpsampler, MatchesResizeInAWindowWithDifferentAxisScales) {
  const cv::Mat small = random_image({50, 31}, 4);
  const cv::Size large_size(127, 90);  // x scale 50/127, y scale 31/90
  cv::Mat large;
  cv::resize(small, large, large_size, 0, 0, cv::INTER_LINEAR);
  const cv::Point2f scale(50.0f / 127.0f, 31.0f / 90.0f);
  // Windows inside, touching the far borders (replicated edges), and a single column.
  for (cv::Rect window : {cv::Rect(20, 11, 60, 40), cv::Rect(90, 60, 37, 30), cv::Rect(0, 0, 1, 90)}) {
    EXPECT_LT(max_difference(small, scale, large, window), 1e-4) << window;
  }
}

}  // namespace
}  // namespace facefuse::testing
