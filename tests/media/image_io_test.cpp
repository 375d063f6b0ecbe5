// Image IO on real photos: sniffing, EXIF orientation, truncation, pixel limit, atomic writes.
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "facefuse/media/image_io.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                           static_cast<std::streamsize>(bytes.size()));
}

// Offset of the value of the EXIF Orientation tag (0x0112) in a JPEG, or 0 when it has none.
size_t exif_orientation_offset(const std::vector<uint8_t>& b) {
  static const uint8_t kExif[] = {'E', 'x', 'i', 'f', 0, 0};
  auto it = std::search(b.begin(), b.end(), std::begin(kExif), std::end(kExif));
  if (it == b.end()) return 0;
  size_t tiff = static_cast<size_t>(it - b.begin()) + 6;
  bool le = b[tiff] == 'I';
  auto u16 = [&](size_t o) { return le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]; };
  auto u32 = [&](size_t o) { return le ? u16(o) | (u16(o + 2) << 16) : (u16(o) << 16) | u16(o + 2); };
  size_t ifd = tiff + static_cast<size_t>(u32(tiff + 4));
  int count = u16(ifd);
  for (int i = 0; i < count; ++i) {
    size_t entry = ifd + 2 + 12 * static_cast<size_t>(i);
    if (u16(entry) == 0x0112) return entry + 8 + (le ? 0 : 1);  // SHORT value, low byte
  }
  return 0;
}

TEST(ImageIo, SniffsFormatsByContentNotName) {
  EXPECT_EQ(media::sniff_image_format(read_bytes(testdata("photos/jesper.jpg"))), media::ImageFormat::kJpeg);
  EXPECT_EQ(media::sniff_image_format(read_bytes(testdata("photos/astronaut.png"))), media::ImageFormat::kPng);
  std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'};
  EXPECT_EQ(media::sniff_image_format(text), media::ImageFormat::kUnknown);
}

TEST(ImageIo, ReadsRealPhotosAsBgr) {
  auto img = media::read_image(testdata("photos/jesper.jpg"));
  ASSERT_TRUE(img) << img.status().to_string();
  EXPECT_EQ(img->type(), CV_8UC3);
  EXPECT_EQ(img->size(), cv::Size(800, 533));
  // A greyscale PNG still comes out as 3-channel BGR.
  auto grey = media::read_image(testdata("photos/camera.png"));
  ASSERT_TRUE(grey);
  EXPECT_EQ(grey->type(), CV_8UC3);
}

TEST(ImageIo, HeaderSizeMatchesDecodedSizeForEveryFormat) {
  TempDir tmp;
  cv::Mat img = load_photo("photos/jesper.jpg");
  for (const char* name : {"a.jpg", "a.png", "a.webp"}) {
    ASSERT_TRUE(media::write_image(tmp / name, img).is_ok()) << name;
    auto bytes = read_bytes(tmp / name);
    auto format = media::sniff_image_format(bytes);
    ASSERT_NE(format, media::ImageFormat::kUnknown) << name;
    auto size = media::read_image_size(bytes, format);
    ASSERT_TRUE(size) << name << ": " << size.status().to_string();
    EXPECT_EQ(*size, img.size()) << name;
  }
}

TEST(ImageIo, HonoursExifOrientation) {
  // A real photo whose EXIF orientation we set to 6 ("rotate 90° clockwise to display").
  auto bytes = read_bytes(testdata("photos/jesper.jpg"));
  size_t offset = exif_orientation_offset(bytes);
  ASSERT_NE(offset, 0u) << "jesper.jpg carries an EXIF orientation tag";
  ASSERT_EQ(bytes[offset], 1);
  auto upright = media::decode_image(bytes, "upright");
  ASSERT_TRUE(upright);
  bytes[offset] = 6;
  auto rotated = media::decode_image(bytes, "rotated");
  ASSERT_TRUE(rotated);
  ASSERT_EQ(rotated->size(), cv::Size(upright->rows, upright->cols));
  cv::Mat expected;
  cv::rotate(*upright, expected, cv::ROTATE_90_CLOCKWISE);
  EXPECT_EQ(cv::norm(*rotated, expected, cv::NORM_INF), 0.0);
}

TEST(ImageIo, RejectsTruncatedFiles) {
  TempDir tmp;
  cv::Mat img = load_photo("photos/jesper.jpg");
  for (const char* name : {"t.jpg", "t.png", "t.webp"}) {
    ASSERT_TRUE(media::write_image(tmp / name, img).is_ok());
    auto bytes = read_bytes(tmp / name);
    bytes.resize(bytes.size() * 2 / 3);
    write_bytes(tmp / name, bytes);
    auto r = media::read_image(tmp / name);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
  }
}

TEST(ImageIo, EnforcesThePixelLimitBeforeDecoding) {
  auto r = media::read_image(testdata("photos/jesper.jpg"), {800 * 533 - 1});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), StatusCode::kLimitExceeded);
  EXPECT_TRUE(media::read_image(testdata("photos/jesper.jpg"), {800 * 533}));
}

TEST(ImageIo, MissingAndNonImageFiles) {
  TempDir tmp;
  EXPECT_EQ(media::read_image(tmp / "nope.jpg").status().code(), StatusCode::kNotFound);
  write_bytes(tmp / "fake.jpg", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
  auto r = media::read_image(tmp / "fake.jpg");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not an image"), std::string::npos);
  write_bytes(tmp / "empty.png", {});
  EXPECT_EQ(media::read_image(tmp / "empty.png").status().code(), StatusCode::kInvalidArgument);
}

TEST(ImageIo, WritesAtomicallyAndLeavesNothingOnFailure) {
  TempDir tmp;
  cv::Mat img = load_photo("photos/jesper.jpg");
  ASSERT_TRUE(media::write_image(tmp / "out.png", img).is_ok());
  auto back = media::read_image(tmp / "out.png");
  ASSERT_TRUE(back);
  EXPECT_EQ(cv::norm(*back, img, cv::NORM_INF), 0.0) << "PNG is lossless";
  // Only the output exists: no temporary or probe files remain.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
  EXPECT_EQ(media::write_image(tmp / "missing/out.png", img).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(media::write_image(tmp / "out.tiff", img).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(media::write_image(tmp.path(), img).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace facefuse::testing
