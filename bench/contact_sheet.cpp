// Writes a contact sheet: one row per (source, target, result) triple, each image scaled to the
// same height and labelled with its file name, so a person can judge swaps at a glance.
//
//   facefuse_contact_sheet OUTPUT.jpg SOURCE TARGET RESULT [SOURCE TARGET RESULT ...]
#include <cstdio>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "facefuse/media/image_io.h"

namespace {

constexpr int kRowHeight = 320;  // pixels per row
constexpr int kLabelHeight = 24;

cv::Mat labelled_tile(const cv::Mat& image, const std::string& label) {
  cv::Mat scaled;
  double scale = static_cast<double>(kRowHeight) / image.rows;
  cv::resize(image, scaled, cv::Size(std::max(1, static_cast<int>(image.cols * scale)), kRowHeight), 0, 0, cv::INTER_AREA);
  cv::Mat tile(kRowHeight + kLabelHeight, scaled.cols, CV_8UC3, cv::Scalar(32, 32, 32));
  scaled.copyTo(tile(cv::Rect(0, kLabelHeight, scaled.cols, kRowHeight)));
  cv::putText(tile, label, {4, kLabelHeight - 7}, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  return tile;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5 || (argc - 2) % 3 != 0) {
    std::fprintf(stderr, "usage: %s OUTPUT.jpg SOURCE TARGET RESULT [SOURCE TARGET RESULT ...]\n", argv[0]);
    return 2;
  }
  std::vector<cv::Mat> rows;
  int width = 0;
  for (int i = 2; i < argc; i += 3) {
    std::vector<cv::Mat> tiles;
    for (int k = 0; k < 3; ++k) {
      std::filesystem::path path = argv[i + k];
      auto image = facefuse::media::read_image(path);
      if (!image) {
        std::fprintf(stderr, "contact_sheet: %s\n", image.status().message().c_str());
        return 2;
      }
      static const char* kRole[] = {"source: ", "target: ", "result: "};
      tiles.push_back(labelled_tile(*image, kRole[k] + path.filename().string()));
    }
    cv::Mat row;
    cv::hconcat(tiles, row);
    width = std::max(width, row.cols);
    rows.push_back(row);
  }
  for (auto& row : rows) {
    if (row.cols < width) cv::copyMakeBorder(row, row, 0, 0, 0, width - row.cols, cv::BORDER_CONSTANT, cv::Scalar(32, 32, 32));
  }
  cv::Mat sheet;
  cv::vconcat(rows, sheet);
  auto status = facefuse::media::write_image(argv[1], sheet, 90);
  if (!status.is_ok()) {
    std::fprintf(stderr, "contact_sheet: %s\n", status.message().c_str());
    return 1;
  }
  std::printf("%s\n", argv[1]);
  return 0;
}
