// Shared helpers for facefuse tests: where the real test data and models are, loading photos,
// running the facefuse executable.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

namespace facefuse::testing {

// Root of the test-data cache filled by scripts/setup (photos/, dlib_faces/, videos/).
std::filesystem::path testdata_dir();
// Path of a file under the test-data root; fails the test (fatal) when it is missing.
std::filesystem::path testdata(const std::string& relative);
std::filesystem::path models_dir();
// A fresh, empty directory for one test; removed by the caller's TempDir destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// BGR uint8 photo from the test-data cache (EXIF orientation applied).
cv::Mat load_photo(const std::string& relative);

float iou(const cv::Rect2f& a, const cv::Rect2f& b);

// Whole file as bytes ("" when it cannot be read) / replaces a file with `bytes`.
std::string read_file_bytes(const std::filesystem::path& path);
void write_file_bytes(const std::filesystem::path& path, const std::string& bytes);
// `megabytes` MiB of non-repeating bytes (xorshift64; a repeating pattern could hide a part sent
// twice), always the same for the same size.
void write_pseudo_random_file(const std::filesystem::path& path, int megabytes);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};
// Runs `command` with /bin/sh (the caller quotes), stdout and stderr captured together.
CommandResult run_shell(const std::string& command);
// Runs the built facefuse executable with `args` (each quoted for the shell).
CommandResult run_facefuse(const std::vector<std::string>& args);

// The frames of a video file from the first, at most `max_frames` of them (all by default),
// decoded to BGR (a non-fatal test failure when it cannot be read).
std::vector<cv::Mat> read_video_frames(const std::filesystem::path& path, size_t max_frames = SIZE_MAX);
// Peak signal-to-noise ratio of two same-sized 8-bit images, dB (100 for identical images).
double psnr_db(const cv::Mat& a, const cv::Mat& b);

}  // namespace facefuse::testing
