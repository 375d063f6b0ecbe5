// FaceFusion's static box mask with the numbers CONTRACTS.md gives.
#include <gtest/gtest.h>

#include "facefuse/face/face_mask.h"

namespace facefuse::face {
namespace {

TEST(BoxMask, Crop128AtBlur03HasA9PixelBorderAndSigma475) {
  BoxMaskGeometry g = box_mask_geometry({128, 128}, 0.3f);
  EXPECT_EQ(g.blur_amount, 19);
  EXPECT_EQ(g.border_top, 9);
  EXPECT_EQ(g.border_right, 9);
  EXPECT_EQ(g.border_bottom, 9);
  EXPECT_EQ(g.border_left, 9);
  EXPECT_DOUBLE_EQ(g.sigma, 4.75);
}

TEST(BoxMask, WithoutBlurIsBinaryWithAOnePixelBorder) {
  cv::Mat m = box_mask({128, 128}, 0.0f);
  ASSERT_EQ(m.type(), CV_32FC1);
  EXPECT_EQ(m.at<float>(0, 64), 0.0f);
  EXPECT_EQ(m.at<float>(1, 64), 1.0f);
  EXPECT_EQ(m.at<float>(127, 64), 0.0f);
  EXPECT_EQ(m.at<float>(126, 64), 1.0f);
  EXPECT_EQ(cv::countNonZero(m), 126 * 126);
}

TEST(BoxMask, PaddingWidensTheBorderPerSide) {
  // 10 % top on a 256 crop = 25 rows; the other sides keep blur_area (1 without blur).
  cv::Mat m = box_mask({256, 256}, 0.0f, {10, 0, 0, 0});
  EXPECT_EQ(m.at<float>(24, 128), 0.0f);
  EXPECT_EQ(m.at<float>(25, 128), 1.0f);
  EXPECT_EQ(m.at<float>(128, 0), 0.0f);
  EXPECT_EQ(m.at<float>(128, 1), 1.0f);
}

TEST(BoxMask, BlurredMaskIsSymmetricAndRisesFromTheEdgeToOne) {
  cv::Mat m = box_mask({128, 128}, 0.3f);
  EXPECT_NEAR(m.at<float>(64, 64), 1.0f, 1e-4);
  for (int x = 0; x < 63; ++x) {
    EXPECT_LE(m.at<float>(64, x), m.at<float>(64, x + 1) + 1e-6f) << x;
    EXPECT_NEAR(m.at<float>(64, x), m.at<float>(64, 127 - x), 1e-5f) << x;
    EXPECT_NEAR(m.at<float>(x, 64), m.at<float>(64, x), 1e-5f) << x;
  }
  // The blurred step sits at the 9-px border: about half height there, near zero at the edge.
  EXPECT_NEAR(m.at<float>(64, 9), 0.5f, 0.1f);
  EXPECT_LT(m.at<float>(64, 0), 0.1f);
}

}  // namespace
}  // namespace facefuse::face
