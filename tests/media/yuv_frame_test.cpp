// YUV pass-through (media/yuv_frame.h): the BGR → limited-range YUV conversion of changed regions,
// the changed-region search, the reader keeping decoded planes and the writer taking them.
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/image_io.h"
#include "facefuse/media/video_reader.h"
#include "facefuse/media/video_writer.h"
#include "facefuse/media/yuv_frame.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

using media::YuvFrame;
using media::YuvMatrix;

YuvFrame blank_yuv(cv::Size size, YuvMatrix matrix, uint8_t luma = 16, uint8_t chroma = 128) {
  return {cv::Mat(size, CV_8UC1, cv::Scalar(luma)), cv::Mat(size / 2, CV_8UC1, cv::Scalar(chroma)),
          cv::Mat(size / 2, CV_8UC1, cv::Scalar(chroma)), matrix};
}

// Every pixel of `bgr` counts as changed (the comparison image differs in every byte).
void overwrite_all(const cv::Mat& bgr, YuvFrame& yuv) {
  cv::Mat before;
  cv::bitwise_not(bgr, before);
  media::overwrite_changed_pixels(before, bgr, yuv);
}

struct Sample {
  int y, cb, cr;
};

Sample convert_colour(cv::Vec3b bgr, YuvMatrix matrix) {
  cv::Mat image(4, 4, CV_8UC3, cv::Scalar(bgr[0], bgr[1], bgr[2]));
  YuvFrame yuv = blank_yuv(image.size(), matrix, 0, 0);
  overwrite_all(image, yuv);
  return {yuv.y.at<uint8_t>(1, 1), yuv.u.at<uint8_t>(1, 1), yuv.v.at<uint8_t>(1, 1)};
}

// Reference values of ITU-R BT.601 / BT.709 in 8-bit limited range (Y 16–235, Cb/Cr 16–240).
TEST(YuvFrame, PrimaryColoursGetTheStandardsLimitedRangeValues) {
  struct Case {
    cv::Vec3b bgr;
    YuvMatrix matrix;
    Sample expected;
  };
  const Case cases[] = {
      {{255, 255, 255}, YuvMatrix::kBt601, {235, 128, 128}}, {{0, 0, 0}, YuvMatrix::kBt601, {16, 128, 128}},
      {{0, 0, 255}, YuvMatrix::kBt601, {81, 90, 240}},       {{0, 255, 0}, YuvMatrix::kBt601, {145, 54, 34}},
      {{255, 0, 0}, YuvMatrix::kBt601, {41, 240, 110}},      {{0, 0, 255}, YuvMatrix::kBt709, {63, 102, 240}},
      {{0, 255, 0}, YuvMatrix::kBt709, {173, 42, 26}},       {{255, 0, 0}, YuvMatrix::kBt709, {32, 240, 118}},
  };
  for (const auto& c : cases) {
    Sample got = convert_colour(c.bgr, c.matrix);
    EXPECT_EQ(got.y, c.expected.y) << c.bgr;
    EXPECT_EQ(got.cb, c.expected.cb) << c.bgr;
    EXPECT_EQ(got.cr, c.expected.cr) << c.bgr;
  }
}

TEST(YuvFrame, OnlyChangedPixelsAndTheirChromaBlocksAreRewritten) {
  cv::Mat before(8, 8, CV_8UC3, cv::Scalar(0, 0, 0));
  cv::Mat after = before.clone();
  after.at<cv::Vec3b>(1, 3) = {255, 255, 255};  // odd row and column
  after.at<cv::Vec3b>(6, 6) = {255, 255, 255};
  YuvFrame yuv = blank_yuv(before.size(), YuvMatrix::kBt601, 50, 100);
  EXPECT_EQ(media::overwrite_changed_pixels(before, after, yuv), cv::Rect(3, 1, 4, 6));
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      bool changed = (x == 3 && y == 1) || (x == 6 && y == 6);
      EXPECT_EQ(yuv.y.at<uint8_t>(y, x), changed ? 235 : 50) << x << "," << y;
    }
  }
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      // Chroma blocks (1, 0) and (3, 3) hold a changed pixel: white + three black → neutral 128.
      bool changed = (x == 1 && y == 0) || (x == 3 && y == 3);
      EXPECT_EQ(yuv.u.at<uint8_t>(y, x), changed ? 128 : 100) << x << "," << y;
      EXPECT_EQ(yuv.v.at<uint8_t>(y, x), changed ? 128 : 100) << x << "," << y;
    }
  }
  YuvFrame untouched = blank_yuv(before.size(), YuvMatrix::kBt601, 50, 100);
  EXPECT_TRUE(media::overwrite_changed_pixels(before, before, untouched).empty());
  EXPECT_EQ(cv::norm(untouched.y, yuv.y, cv::NORM_L1), 2 * (235 - 50));
}

TEST(YuvFrame, ChromaIsTheMeanOfEachTwoByTwoBlock) {
  cv::Mat image(2, 2, CV_8UC3, cv::Scalar(0, 0, 0));
  image.at<cv::Vec3b>(0, 0) = {255, 0, 0};  // one blue pixel of four: Cb = 128 + (240 − 128) / 4
  YuvFrame yuv = blank_yuv(image.size(), YuvMatrix::kBt601);
  overwrite_all(image, yuv);
  EXPECT_EQ(yuv.u.at<uint8_t>(0, 0), 156);
  EXPECT_EQ(yuv.y.at<uint8_t>(0, 0), 41);
  EXPECT_EQ(yuv.y.at<uint8_t>(1, 1), 16);
}

TEST(YuvFrame, ReturnsTheTightBoxOfDifferingPixels) {
  cv::Mat before(120, 200, CV_8UC3);
  cv::randu(before, 0, 256);
  auto changed_box = [&](const cv::Mat& after) {
    YuvFrame yuv = blank_yuv(before.size(), YuvMatrix::kBt601);
    return media::overwrite_changed_pixels(before, after, yuv);
  };
  cv::Mat after = before.clone();
  EXPECT_TRUE(changed_box(after).empty());
  after.at<cv::Vec3b>(30, 150)[2] ^= 1;  // one channel of one pixel
  after.at<cv::Vec3b>(70, 40)[0] ^= 4;
  after.at<cv::Vec3b>(50, 90) = {0, 0, 0};
  EXPECT_EQ(changed_box(after), cv::Rect(40, 30, 111, 41));
  cv::Mat edges = before.clone();
  edges.at<cv::Vec3b>(0, 0)[1] ^= 1;
  edges.at<cv::Vec3b>(119, 199)[1] ^= 1;
  EXPECT_EQ(changed_box(edges), cv::Rect(0, 0, 200, 120));
}

TEST(YuvFrame, ColourSpaceNamesMapToTheMatrixVideoReaderUses) {
  EXPECT_EQ(media::yuv_matrix_for_colour_space("bt709"), YuvMatrix::kBt709);
  EXPECT_EQ(media::yuv_matrix_for_colour_space("unknown"), YuvMatrix::kBt601);
  EXPECT_EQ(media::yuv_matrix_for_colour_space("smpte170m"), YuvMatrix::kBt601);
  EXPECT_EQ(media::yuv_matrix_for_colour_space("bt470bg"), YuvMatrix::kBt601);
  EXPECT_FALSE(media::yuv_matrix_for_colour_space("bt2020nc"));
}

// The planes the reader keeps are the frame it also returns as BGR: converting that BGR back
// lands within the round-trip error of the kept samples.
TEST(YuvFrame, ReaderKeepsTheDecodedPlanesOfPlainYuv420Video) {
  auto reader = media::VideoReader::open(testdata("videos/face_720p.mp4"));
  ASSERT_TRUE(reader) << reader.status().to_string();
  EXPECT_EQ((*reader)->info().colour_space, "unknown");
  EXPECT_FALSE((*reader)->info().full_range);
  cv::Mat bgr;
  YuvFrame kept;
  int64_t index = -1;
  ASSERT_TRUE(*(*reader)->read(bgr, index, &kept));
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.size(), cv::Size(1280, 720));
  EXPECT_EQ(kept.u.size(), cv::Size(640, 360));
  EXPECT_EQ(kept.matrix, YuvMatrix::kBt601);
  YuvFrame reconverted = kept.clone();
  overwrite_all(bgr, reconverted);
  // The reader's fast conversion rounds down (~1 level); outliers are samples outside 16–235
  // clipped in BGR.
  cv::Mat difference;
  cv::absdiff(kept.y, reconverted.y, difference);
  EXPECT_LT(cv::mean(difference)[0], 1.5);
  EXPECT_GT(cv::countNonZero(difference <= 2), 0.999 * static_cast<double>(difference.total()));
  cv::absdiff(kept.u, reconverted.u, difference);
  EXPECT_LT(cv::mean(difference)[0], 1.5);
}

TEST(YuvFrame, ReaderKeepsNothingWhenFramesNeedRotationOrAreFullRange) {
  for (const char* name : {"face_720p_rotated.mp4", "talking_head.avi"}) {
    auto reader = media::VideoReader::open(testdata(std::string("videos/") + name));
    ASSERT_TRUE(reader) << reader.status().to_string();
    cv::Mat bgr;
    YuvFrame kept = blank_yuv({4, 4}, YuvMatrix::kBt601);
    int64_t index = -1;
    ASSERT_TRUE(*(*reader)->read(bgr, index, &kept));
    EXPECT_TRUE(kept.empty()) << name;
  }
}

// Quality 100 is CRF 0, lossless in x264: planes written unchanged decode bit-exact.
TEST(YuvFrame, WriterPassesPlanesThroughUnchanged) {
  TempDir dir;
  auto reader = media::VideoReader::open(testdata("videos/talking_head_640x480.mp4"));
  ASSERT_TRUE(reader);
  std::vector<YuvFrame> written;
  media::VideoEncoderOptions options;
  options.quality = 100;
  options.preset = "ultrafast";
  options.matrix = YuvMatrix::kBt601;
  auto writer = media::VideoWriter::open(dir.path() / "pass.mp4", options);
  ASSERT_TRUE(writer) << writer.status().to_string();
  cv::Mat bgr;
  YuvFrame kept;
  int64_t index = -1;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(*(*reader)->read(bgr, index, &kept));
    ASSERT_FALSE(kept.empty());
    written.push_back(kept.clone());
    ASSERT_TRUE((*writer)->write(kept, i).is_ok());
  }
  YuvFrame wrong_matrix = kept.clone();
  wrong_matrix.matrix = YuvMatrix::kBt709;
  EXPECT_EQ((*writer)->write(wrong_matrix, 5).code(), StatusCode::kInvalidArgument);
  YuvFrame wrong_size = blank_yuv({320, 240}, YuvMatrix::kBt601);
  EXPECT_EQ((*writer)->write(wrong_size, 5).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*writer)->finish().is_ok());

  auto out = media::VideoReader::open(dir.path() / "pass.mp4");
  ASSERT_TRUE(out);
  EXPECT_EQ((*out)->info().colour_space, "smpte170m");
  for (const auto& expected : written) {
    ASSERT_TRUE(*(*out)->read(bgr, index, &kept));
    ASSERT_FALSE(kept.empty());
    EXPECT_EQ(cv::norm(expected.y, kept.y, cv::NORM_INF), 0.0) << "frame " << index;
    EXPECT_EQ(cv::norm(expected.u, kept.u, cv::NORM_INF), 0.0) << "frame " << index;
    EXPECT_EQ(cv::norm(expected.v, kept.v, cv::NORM_INF), 0.0) << "frame " << index;
  }
}

}  // namespace
}  // namespace facefuse::testing
