#include "support/test_support.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <cmath>
#include <random>

#include <opencv2/imgcodecs.hpp>

#include "facefuse/media/video_reader.h"

namespace facefuse::testing {

std::filesystem::path testdata_dir() {
  const char* env = std::getenv("FACEFUSE_TESTDATA");
  return env != nullptr ? std::filesystem::path(env) : std::filesystem::path(FACEFUSE_TESTDATA_DIR);
}

std::filesystem::path testdata(const std::string& relative) {
  auto p = testdata_dir() / relative;
  if (!std::filesystem::exists(p)) {
    ADD_FAILURE() << "test data " << p << " is missing: run scripts/setup";
  }
  return p;
}

std::filesystem::path models_dir() {
  const char* env = std::getenv("FACEFUSE_MODELS_DIR");
  return env != nullptr ? std::filesystem::path(env) : std::filesystem::path(FACEFUSE_TEST_MODELS_DIR);
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() / ("facefuse_test_" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

cv::Mat load_photo(const std::string& relative) {
  cv::Mat img = cv::imread(testdata(relative).string(), cv::IMREAD_COLOR);
  EXPECT_FALSE(img.empty()) << "cannot read " << relative;
  return img;
}

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  float inter = (a & b).area();
  float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

static std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

CommandResult run_facefuse(const std::vector<std::string>& args) {
  std::string cmd = shell_quote(FACEFUSE_BINARY);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  return run_shell(cmd);
}

CommandResult run_shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void write_pseudo_random_file(const std::filesystem::path& path, int megabytes) {
  std::ofstream out(path, std::ios::binary);
  std::string block(1 << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (int m = 0; m < megabytes; ++m) {
    for (size_t i = 0; i < block.size(); i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::memcpy(block.data() + i, &x, 8);
    }
    out.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
}

std::vector<cv::Mat> read_video_frames(const std::filesystem::path& path, size_t max_frames) {
  std::vector<cv::Mat> frames;
  auto reader = media::VideoReader::open(path);
  EXPECT_TRUE(reader) << reader.status().to_string();
  if (!reader) return frames;
  cv::Mat frame;
  int64_t index = 0;
  while (frames.size() < max_frames) {
    auto more = (*reader)->read(frame, index);
    EXPECT_TRUE(more) << more.status().to_string();
    if (!more || !*more) break;
    frames.push_back(frame.clone());
  }
  return frames;
}

double psnr_db(const cv::Mat& a, const cv::Mat& b) {
  double mse = cv::norm(a, b, cv::NORM_L2SQR) / static_cast<double>(a.total() * a.channels());
  return mse <= 1e-10 ? 100.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

}  // namespace facefuse::testing
