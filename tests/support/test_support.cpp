#include "support/test_support.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include <opencv2/imgcodecs.hpp>

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
  cmd += " 2>&1";
  CommandResult result;
  FILE* pipe = popen(cmd.c_str(), "r");
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

}  // namespace facefuse::testing
