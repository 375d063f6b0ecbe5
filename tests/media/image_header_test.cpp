// Image header sizes (media::read_image_size), which the upload check and the pixel limit trust
// before anything is decoded: a header declaring an empty or negative frame is refused. Found by
// fuzz/image_sniff_fuzz.cpp (a 0×0 PNG, issue 10, and a PNG width of 2^31 read as a negative int);
// both inputs are in fuzz/corpus/image_sniff/.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "facefuse/media/image_io.h"

namespace facefuse::testing {
namespace {

std::vector<uint8_t> encode(const std::string& ext, std::vector<int> params = {}) {
  cv::Mat image(6, 8, CV_8UC3, cv::Scalar(40, 120, 200));
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(cv::imencode(ext, image, bytes, params));
  return bytes;
}

void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

// `code`: kInvalidMedia for a well-formed header of an image without pixels (the API's 422),
// kInvalidArgument for a header that cannot be right (400).
void expect_refused(const std::vector<uint8_t>& bytes, media::ImageFormat format,
                    StatusCode code = StatusCode::kInvalidMedia) {
  auto size = media::read_image_size(bytes, format);
  ASSERT_FALSE(size) << "accepted " << size->width << "x" << size->height;
  EXPECT_EQ(size.status().code(), code);
  EXPECT_FALSE(media::decode_image(bytes, "patched"));
}

TEST(ImageHeader, ReadsTheSizeOfEncodedImages) {
  for (const char* ext : {".png", ".jpg", ".webp"}) {
    auto bytes = encode(ext);
    auto size = media::read_image_size(bytes, media::sniff_image_format(bytes));
    ASSERT_TRUE(size) << ext << ": " << size.status().to_string();
    EXPECT_EQ(*size, cv::Size(8, 6)) << ext;
  }
}

TEST(ImageHeader, RefusesAnEmptyPng) {
  auto bytes = encode(".png");
  put_be32(bytes, 16, 0);  // IHDR width
  put_be32(bytes, 20, 0);  // IHDR height
  expect_refused(bytes, media::ImageFormat::kPng);
}

TEST(ImageHeader, RefusesAPngWiderThanAnInt) {
  auto bytes = encode(".png");
  put_be32(bytes, 16, 0x80000000u);  // read as int: -2147483648, so width × height < any limit
  expect_refused(bytes, media::ImageFormat::kPng, StatusCode::kInvalidArgument);
}

TEST(ImageHeader, RefusesAJpegOfHeightZero) {
  auto bytes = encode(".jpg");
  const uint8_t sof0[] = {0xFF, 0xC0};
  auto it = std::search(bytes.begin(), bytes.end(), std::begin(sof0), std::end(sof0));
  ASSERT_NE(it, bytes.end());
  const size_t at = static_cast<size_t>(it - bytes.begin());
  bytes[at + 5] = 0;  // frame header: length(2) precision(1) height(2) width(2)
  bytes[at + 6] = 0;
  expect_refused(bytes, media::ImageFormat::kJpeg);
}

TEST(ImageHeader, RefusesAWebpOfWidthZero) {
  auto bytes = encode(".webp", {cv::IMWRITE_WEBP_QUALITY, 80});
  ASSERT_EQ(std::string(bytes.begin() + 12, bytes.begin() + 16), "VP8 ");
  bytes[26] = 0;  // the VP8 frame's 14-bit width
  bytes[27] &= 0xC0;
  expect_refused(bytes, media::ImageFormat::kWebp);
}

// fuzz_image_sniff: a WebP whose byte 128 starts "DICM" went to OpenCV's GDCM decoder, which
// allocated 1 GiB from a length field (fuzz/corpus/image_sniff/crash-dicom-preamble).
TEST(ImageHeader, RefusesImagesCarryingADicomPreamble) {
  cv::Mat noise(64, 64, CV_8UC3);
  cv::randu(noise, 0, 256);  // incompressible: the file is longer than 132 bytes
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(cv::imencode(".webp", noise, bytes, {cv::IMWRITE_WEBP_QUALITY, 80}));
  ASSERT_GT(bytes.size(), 132u);
  std::copy_n("DICM", 4, bytes.begin() + 128);
  auto image = media::decode_image(bytes, "patched.webp");
  ASSERT_FALSE(image);
  EXPECT_NE(image.status().message().find("DICOM"), std::string::npos) << image.status().message();
}

}  // namespace
}  // namespace facefuse::testing

