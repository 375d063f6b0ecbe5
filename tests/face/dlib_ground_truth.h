// Ground truth from dlib's labelled face XML (imglab format), header-only for the face tests.
//
// dlib ships 9 PASCAL VOC photos with 43 faces in training_with_face_landmarks.xml and
// testing_with_face_landmarks.xml: <image file=...> then per face <box top left width height>
// (dlib HOG box convention: width = right - left + 1) with 68 <part name='NN' x y/> landmarks
// (produced by dlib's own 68-point shape predictor, rounded to whole pixels).
#pragma once

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace facefuse::testing {

struct GroundTruthFace {
  cv::Rect2f box;
  std::vector<cv::Point2f> landmarks68;  // empty when the XML has no parts
};

struct GroundTruthImage {
  std::string file;  // relative to the XML's directory
  std::vector<GroundTruthFace> faces;
};

// Parses an imglab XML; returns an empty list when the file cannot be read.
inline std::vector<GroundTruthImage> load_dlib_ground_truth(const std::filesystem::path& xml) {
  std::ifstream in(xml);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();

  static const std::regex tag(R"(<(image|box|part)\s([^>]*)>)");
  static const std::regex attr(R"((\w+)\s*=\s*'([^']*)')");
  std::vector<GroundTruthImage> images;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), tag); it != std::sregex_iterator(); ++it) {
    const std::string kind = (*it)[1];
    const std::string attrs = (*it)[2];
    auto get = [&](const std::string& name) -> std::string {
      for (auto a = std::sregex_iterator(attrs.begin(), attrs.end(), attr); a != std::sregex_iterator(); ++a) {
        if ((*a)[1] == name) return (*a)[2];
      }
      return {};
    };
    if (kind == "image") {
      images.push_back({get("file"), {}});
    } else if (kind == "box" && !images.empty()) {
      images.back().faces.push_back({cv::Rect2f(std::stof(get("left")), std::stof(get("top")), std::stof(get("width")),
                                                std::stof(get("height"))),
                                     {}});
    } else if (kind == "part" && !images.empty() && !images.back().faces.empty()) {
      auto& parts = images.back().faces.back().landmarks68;
      const size_t index = std::stoul(get("name"));
      if (parts.size() <= index) parts.resize(index + 1);
      parts[index] = cv::Point2f(std::stof(get("x")), std::stof(get("y")));
    }
  }
  return images;
}

}  // namespace facefuse::testing
