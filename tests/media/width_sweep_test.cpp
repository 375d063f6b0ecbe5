// Issue 11, item 1: every libswscale conversion in media/ at widths that used to corrupt the heap
// (≡ 8..15 mod 16: 1080, 1000, 1288, 1928, 360, 650...), odd widths, portrait, square and a rotated
// phone clip. The reader's frames are compared with the ffmpeg tool's own decoding (an independent
// implementation), right edge included; the writer is fed tightly packed frames, whose last row is
// what swscale used to read past.
//
// Every cv::Mat allocated during these tests ends exactly at an inaccessible guard page (an
// electric fence, GuardPageAllocator below), so a read or write past the end of any frame buffer
// crashes the test at once. (Without it the 24-byte overrun often lands in cv::fastMalloc's own
// alignment slack and goes unseen; valgrind cannot run these binaries: libhwy, loaded by libjxl,
// executes rdtscp in a static initialiser and valgrind 3.19 stops on it.)
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/sws_image.h"
#include "facefuse/media/video_probe.h"
#include "facefuse/media/video_reader.h"
#include "facefuse/media/video_writer.h"
#include "support/test_support.h"
#include "support/width_sweep.h"

namespace facefuse::testing {
namespace {

// Largest mean absolute difference (0–255 levels) allowed between our BGR and the ffmpeg tool's
// for the same decoded frame: both convert the same YUV samples with slightly different rounding
// and chroma filtering (measured ≤ 1.2 on these clips); a garbled row or edge is tens of levels.
constexpr double kMaxMeanDifference = 2.5;

// Frames of `path` as the ffmpeg tool decodes them (auto-rotated), BGR.
std::vector<cv::Mat> ffmpeg_frames(const std::filesystem::path& path, int width, int height) {
  std::string cmd = "ffmpeg -nostdin -v error -i '" + path.string() + "' -f rawvideo -pix_fmt bgr24 -";
  std::vector<cv::Mat> frames;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return frames;
  while (true) {
    cv::Mat f(height, width, CV_8UC3);
    if (std::fread(f.data, 1, f.total() * 3, pipe) != f.total() * 3) break;
    frames.push_back(f);
  }
  pclose(pipe);
  return frames;
}

// A cv::MatAllocator that places every buffer so that it ends exactly where an inaccessible page
// begins: any access past the end faults (SIGSEGV). One mapping per matrix; for tests only.
class GuardPageAllocator : public cv::MatAllocator {
 public:
  cv::UMatData* allocate(int dims, const int* sizes, int type, void* data0, size_t* step, cv::AccessFlag,
                         cv::UMatUsageFlags) const override {
    // As cv::StdMatAllocator: continuous steps unless the caller gave its own data and steps.
    size_t total = CV_ELEM_SIZE(type);
    for (int i = dims - 1; i >= 0; --i) {
      if (step != nullptr) {
        if (data0 != nullptr && step[i] != cv::Mat::AUTO_STEP) {
          total = step[i];
        } else {
          step[i] = total;
        }
      }
      total *= static_cast<size_t>(sizes[i]);
    }
    auto* u = new cv::UMatData(this);
    u->size = total;
    if (data0 != nullptr) {
      u->data = u->origdata = static_cast<uchar*>(data0);
      u->flags |= cv::UMatData::USER_ALLOCATED;
      return u;
    }
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t mapped = (total + page - 1) / page * page + page;
    void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) CV_Error(cv::Error::StsNoMem, "guard-page allocation failed");
    mprotect(static_cast<uchar*>(base) + mapped - page, page, PROT_NONE);
    u->data = u->origdata = static_cast<uchar*>(base) + mapped - page - total;
    return u;
  }
  bool allocate(cv::UMatData* u, cv::AccessFlag, cv::UMatUsageFlags) const override { return u != nullptr; }
  void deallocate(cv::UMatData* u) const override {
    if (u == nullptr) return;
    if (!(u->flags & cv::UMatData::USER_ALLOCATED)) {
      const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
      const size_t mapped = (u->size + page - 1) / page * page + page;
      munmap(u->origdata + u->size + page - mapped, mapped);
    }
    delete u;
  }
};

// Installs GuardPageAllocator as OpenCV's default allocator for one test.
class GuardedMats : public ::testing::Test {
 protected:
  void SetUp() override {
    // Never destroyed: a buffer OpenCV keeps beyond the test still names it as its allocator.
    static GuardPageAllocator* allocator = new GuardPageAllocator();
    previous_ = cv::Mat::getDefaultAllocator();
    cv::Mat::setDefaultAllocator(allocator);
  }
  void TearDown() override { cv::Mat::setDefaultAllocator(previous_); }

 private:
  cv::MatAllocator* previous_ = nullptr;
};

double mean_difference(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  cv::Scalar m = cv::mean(diff);
  return (m[0] + m[1] + m[2]) / 3.0;
}

TEST(SwsImage, LayoutHasPaddedAlignedRowsAndASpareRow) {
  for (int cols : {1, 2, 7, 8, 15, 16, 63, 64, 65, 360, 641, 1000, 1080, 1279, 1288, 1920, 1928}) {
    SCOPED_TRACE(cols);
    cv::Mat m;
    media::create_sws_bgr(m, 5, cols);
    ASSERT_EQ(m.size(), cv::Size(cols, 5));
    ASSERT_EQ(m.type(), CV_8UC3);
    EXPECT_EQ(m.step[0] % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data) % 64, 0u);
    // Room for a whole 16-pixel block beyond every row's last pixel block.
    EXPECT_GE(m.step[0], static_cast<size_t>((cols + 15) / 16 * 16) * 3);
    EXPECT_GE(static_cast<size_t>(m.datalimit - m.data), 6 * m.step[0]) << "a spare row follows the last";
    EXPECT_TRUE(media::is_sws_safe_bgr(m));
    const uint8_t* before = m.data;
    media::create_sws_bgr(m, 5, cols);
    EXPECT_EQ(m.data, before) << "an unshared buffer of the right layout is reused";
    cv::Mat shared = m;
    media::create_sws_bgr(m, 5, cols);
    EXPECT_NE(m.data, before) << "a buffer another cv::Mat holds is never written";
  }
  EXPECT_FALSE(media::is_sws_safe_bgr(cv::Mat(4, 1080, CV_8UC3))) << "a tightly packed frame is not safe";
  cv::Mat staging;
  cv::Mat tight(4, 1080, CV_8UC3, cv::Scalar(1, 2, 3));
  const cv::Mat& source = media::sws_safe_source(tight, staging);
  EXPECT_EQ(&source, &staging);
  EXPECT_TRUE(media::is_sws_safe_bgr(source));
  EXPECT_EQ(cv::norm(source, tight, cv::NORM_INF), 0.0);
}

// Every frame of every sweep clip, through VideoReader (BGR, and the YUV planes it keeps for
// pass-through), against the ffmpeg tool's decoding; then a seek, as chunks do.
using VideoReaderWidthSweep = GuardedMats;
using VideoWriterWidthSweep = GuardedMats;

TEST_F(VideoReaderWidthSweep, DecodesEveryWidthLikeTheFfmpegTool) {
  for (const auto& clip : width_sweep_clips()) {
    SCOPED_TRACE(clip.name);
    const auto path = testdata("videos/" + clip.name);
    auto reference = ffmpeg_frames(path, clip.width, clip.height);
    ASSERT_EQ(reference.size(), static_cast<size_t>(kWidthSweepFrames));
    auto reader = media::VideoReader::open(path);
    ASSERT_TRUE(reader) << reader.status().to_string();
    EXPECT_EQ((*reader)->frame_size(), cv::Size(clip.width, clip.height));
    EXPECT_EQ((*reader)->info().frame_count, kWidthSweepFrames);
    cv::Mat frame;
    media::YuvFrame yuv;
    int64_t index = -1;
    int count = 0;
    while (true) {
      auto more = (*reader)->read(frame, index, &yuv);
      ASSERT_TRUE(more) << more.status().to_string();
      if (!*more) break;
      ASSERT_EQ(index, count);
      ASSERT_EQ(frame.size(), cv::Size(clip.width, clip.height));
      EXPECT_LT(mean_difference(frame, reference[count]), kMaxMeanDifference);
      // The right edge is where a block-wise conversion would show garbage.
      const cv::Rect edge(clip.width - 16, 0, 16, clip.height);
      EXPECT_LT(mean_difference(frame(edge), reference[count](edge)), kMaxMeanDifference);
      EXPECT_EQ(yuv.empty(), !clip.pass_through);
      if (!yuv.empty()) {
        ASSERT_EQ(yuv.size(), frame.size());
        cv::Mat grey_ours, grey_ref;
        cv::cvtColor(frame, grey_ours, cv::COLOR_BGR2GRAY);
        // Luma (16–235) against the converted frame's grey: the planes are the frame's own.
        cv::Mat luma;
        yuv.y.convertTo(luma, CV_8U, 255.0 / 219.0, -16.0 * 255.0 / 219.0);
        EXPECT_LT(mean_difference(luma, grey_ours), 3.0);
      }
      ++count;
    }
    EXPECT_EQ(count, kWidthSweepFrames);
    ASSERT_TRUE((*reader)->seek_to_frame(5).is_ok());
    auto more = (*reader)->read(frame, index);
    ASSERT_TRUE(more && *more);
    EXPECT_EQ(index, 5);
    EXPECT_LT(mean_difference(frame, reference[5]), kMaxMeanDifference);
  }
}

// VideoWriter takes tightly packed frames (as processors and cv::resize make them) and the
// reader's padded ones at every width, same size and scaled; what it wrote decodes to the picture.
TEST_F(VideoWriterWidthSweep, EncodesTightAndPaddedFramesOfEveryWidth) {
  const cv::Mat photo = load_photo("photos/jesper.jpg");
  TempDir dir;
  struct Case {
    int width, height;
    double scale;  // output size relative to the frames (1 = no scaling)
  };
  for (const Case c : {Case{1080, 1920, 1}, Case{1080, 1080, 1}, Case{1000, 562, 1}, Case{1288, 724, 1},
                       Case{1928, 1080, 1}, Case{360, 640, 1}, Case{650, 366, 1}, Case{1279, 719, 1},
                       Case{1081, 607, 1}, Case{18, 10, 1}, Case{1080, 1920, 0.5}, Case{1000, 562, 0.75},
                       Case{1279, 719, 0.5}}) {
    SCOPED_TRACE(::testing::Message() << c.width << "x" << c.height << " scale " << c.scale);
    for (bool padded : {false, true}) {
      cv::Mat frame;
      if (padded) media::create_sws_bgr(frame, c.height, c.width);
      cv::resize(photo, frame, cv::Size(c.width, c.height), 0, 0, cv::INTER_AREA);
      ASSERT_EQ(media::is_sws_safe_bgr(frame), padded);
      media::VideoEncoderOptions options;
      options.preset = "ultrafast";
      options.fps_num = 25;
      options.width = static_cast<int>(c.width * c.scale);
      options.height = static_cast<int>(c.height * c.scale);
      const auto out = dir / (std::to_string(c.width) + (padded ? "p.mp4" : "t.mp4"));
      auto writer = media::VideoWriter::open(out, options);
      ASSERT_TRUE(writer) << writer.status().to_string();
      for (int i = 0; i < 3; ++i) ASSERT_TRUE((*writer)->write(frame, i).is_ok());
      ASSERT_TRUE((*writer)->finish().is_ok());
      const cv::Size size = (*writer)->size();
      EXPECT_EQ(size, cv::Size(options.width & ~1, options.height & ~1));
      auto decoded = ffmpeg_frames(out, size.width, size.height);
      ASSERT_EQ(decoded.size(), 3u);
      cv::Mat expected;
      cv::resize(frame, expected, size, 0, 0, cv::INTER_AREA);
      // Encoding (CRF 10) plus chroma subsampling: a few levels; a garbled row is far more. Tiny
      // frames lose more to 4:2:0.
      EXPECT_LT(mean_difference(decoded[2], expected), c.width < 64 ? 12.0 : 4.0);
    }
  }
}

}  // namespace
}  // namespace facefuse::testing
