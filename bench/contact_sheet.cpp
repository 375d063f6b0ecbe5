// Writes a contact sheet: one row per (source, target, result) triple, each image scaled to the
// same height and labelled with its file name, so a person can judge swaps at a glance. When a text
// file RESULT.warnings exists (scripts/make_examples writes the CLI's "facefuse: warning:" lines
// there), its lines are printed under the row, so a bad result the engine reported reads as such.
//
//   facefuse_contact_sheet OUTPUT.jpg SOURCE TARGET RESULT [SOURCE TARGET RESULT ...]
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
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

// OpenCV's Hershey fonts draw ASCII only: the CLI's degree signs, dashes and multiplication signs
// spelled out, any other non-ASCII character as '?'.
std::string ascii(const std::string& text) {
  static const std::pair<const char*, const char*> kSpelled[] = {{"°", " deg"}, {"–", "-"}, {"—", "-"}, {"×", "x"}, {"…", "..."}};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool spelled = false;
    for (const auto& [from, to] : kSpelled) {
      if (text.compare(i, std::strlen(from), from) == 0) {
        out += to;
        i += std::strlen(from);
        spelled = true;
        break;
      }
    }
    if (spelled) continue;
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += text[i++];
    } else {
      out += '?';
      i += c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    }
  }
  return out;
}

// The lines of `path` (none when it does not exist), each wrapped at word boundaries to fit `width`
// pixels of the label font, as a strip of kLabelHeight-high lines in orange.
cv::Mat warning_strip(const std::filesystem::path& path, int width) {
  constexpr double kScale = 0.45;
  constexpr int kMargin = 4;
  auto fits = [&](const std::string& line) {
    int baseline = 0;
    return cv::getTextSize(line, cv::FONT_HERSHEY_SIMPLEX, kScale, 1, &baseline).width <= width - 2 * kMargin;
  };
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string text; std::getline(in, text);) {
    std::istringstream words(ascii(text));
    std::string line;
    for (std::string word; words >> word;) {
      const std::string longer = line.empty() ? word : line + " " + word;
      if (fits(longer) || line.empty()) {
        line = longer;
      } else {
        lines.push_back(line);
        line = "    " + word;
      }
    }
    if (!line.empty()) lines.push_back(line);
  }
  if (lines.empty()) return {};
  cv::Mat strip(static_cast<int>(lines.size()) * kLabelHeight + 6, width, CV_8UC3, cv::Scalar(32, 32, 32));
  for (size_t i = 0; i < lines.size(); ++i) {
    cv::putText(strip, lines[i], {kMargin, static_cast<int>(i + 1) * kLabelHeight - 7}, cv::FONT_HERSHEY_SIMPLEX,
                kScale, cv::Scalar(0, 170, 255), 1, cv::LINE_AA);
  }
  return strip;
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
    const cv::Mat warnings = warning_strip(std::string(argv[i + 2]) + ".warnings", row.cols);
    if (!warnings.empty()) cv::vconcat(row, warnings, row);
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
