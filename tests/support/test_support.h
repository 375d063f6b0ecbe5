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

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};
// Runs the built facefuse executable with `args` (each quoted for the shell).
CommandResult run_facefuse(const std::vector<std::string>& args);

}  // namespace facefuse::testing
