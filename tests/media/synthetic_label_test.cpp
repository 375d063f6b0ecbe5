// Issue 10, "Synthetic-media label": outputs say they were altered by face swapping, read back with
// independent tools — exiftool (Image::ExifTool, Debian libimage-exiftool-perl) for the XMP of
// JPEG/PNG/WebP, ffprobe for video container metadata — and the files still decode to the same
// pixels.
#include <cstdio>
#include <string>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/image_io.h"
#include "facefuse/media/muxer.h"
#include "facefuse/media/synthetic_label.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/media/video_writer.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

std::string run(const std::string& cmd) { return run_shell(cmd).output; }

std::string exiftool_source_type(const std::filesystem::path& file) {
  std::string out = run("exiftool -s3 -XMP-iptcExt:DigitalSourceType '" + file.string() + "'");
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST(SyntheticLabel, ImagesCarryTheIptcDigitalSourceTypeInXmp) {
  ASSERT_NE(run("exiftool -ver").find('.'), std::string::npos) << "exiftool is missing: run scripts/setup";
  const cv::Mat photo = load_photo("photos/jesper.jpg");
  cv::Mat bgra;
  cv::cvtColor(photo, bgra, cv::COLOR_BGR2BGRA);
  bgra(cv::Rect(0, 0, 50, 50)).setTo(cv::Scalar(0, 0, 0, 0));
  cv::Mat alpha;
  cv::extractChannel(bgra, alpha, 3);
  media::ImageTraits transparent;
  transparent.alpha = alpha;
  TempDir dir;
  struct Case {
    std::string name;
    int quality;
    const media::ImageTraits* traits;
  };
  // WebP: lossy (a simple VP8 file), lossless (VP8L) and with alpha (VP8X + ALPH): the first two
  // get the extended header that announces XMP.
  for (const Case& c : {Case{"out.jpg", 90, nullptr}, Case{"out.png", 90, nullptr}, Case{"lossy.webp", 80, nullptr},
                        Case{"lossless.webp", 101, nullptr}, Case{"alpha.webp", 80, &transparent},
                        Case{"alpha.png", 80, &transparent}}) {
    SCOPED_TRACE(c.name);
    const auto labelled = dir / c.name;
    const auto plain = dir / ("plain_" + c.name);
    ASSERT_TRUE(media::write_image(labelled, photo, {c.quality, c.traits, media::synthetic_media_xmp()}).is_ok());
    ASSERT_TRUE(media::write_image(plain, photo, {c.quality, c.traits, {}}).is_ok());
    EXPECT_EQ(exiftool_source_type(labelled), std::string(media::kDigitalSourceTypeComposite));
    EXPECT_EQ(exiftool_source_type(plain), "") << "no label without asking";
    // exiftool finds nothing wrong with the file's structure.
    std::string validate = run("exiftool -validate -warning -a '" + labelled.string() + "'");
    EXPECT_EQ(validate.find("Error"), std::string::npos) << validate;
    // The label adds metadata only: the same pixels (and alpha) decode.
    cv::Mat a = cv::imread(labelled.string(), cv::IMREAD_UNCHANGED);
    cv::Mat b = cv::imread(plain.string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(a.empty());
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(a.type(), b.type());
    EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
  }
}

TEST(SyntheticLabel, VideosCarryItInContainerMetadata) {
  TempDir dir;
  const cv::Mat photo = load_photo("photos/jesper.jpg");
  for (const std::string ext : {".mp4", ".mov", ".mkv"}) {
    SCOPED_TRACE(ext);
    media::VideoEncoderOptions options;
    options.preset = "ultrafast";
    const auto segment = dir / ("segment" + ext);
    auto writer = media::VideoWriter::open(segment, options);
    ASSERT_TRUE(writer) << writer.status().to_string();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*writer)->write(photo, i).is_ok());
    ASSERT_TRUE((*writer)->finish().is_ok());
    const auto out = dir / ("out" + ext);
    auto muxer = media::muxer_for_output(out);
    ASSERT_TRUE(muxer);
    ASSERT_TRUE(media::assemble_video({segment}, {}, {}, out, media::synthetic_media_video_tags(*muxer)).is_ok());
    std::string tags = run("ffprobe -v error -show_entries format_tags -of default=nw=1 '" + out.string() + "'");
    EXPECT_NE(tags.find(std::string(media::kDigitalSourceTypeComposite)), std::string::npos) << tags;
    auto info = media::probe_video(out);
    ASSERT_TRUE(info) << info.status().to_string();
    EXPECT_EQ(info->frame_count, 3);
  }
  EXPECT_TRUE(media::synthetic_media_video_tags("mpegts").empty()) << "MPEG-TS has no place for it";
}

}  // namespace
}  // namespace facefuse::testing
