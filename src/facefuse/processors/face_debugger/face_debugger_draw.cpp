#include "facefuse/processors/face_debugger/face_debugger_draw.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

namespace facefuse::processors {
namespace {

const cv::Scalar kBoxColour(0, 220, 0);
const cv::Scalar kPoints68Colour(255, 255, 0);
const cv::Scalar kPoints5Colour(0, 0, 255);
const cv::Scalar kMaskColour(255, 0, 255);
const cv::Scalar kTextColour(255, 255, 255);

constexpr int kShift = 4;  // sub-pixel drawing precision (1/16 px)

cv::Point fixed(cv::Point2f p) { return {cvRound(p.x * (1 << kShift)), cvRound(p.y * (1 << kShift))}; }

void draw_mask_outline(cv::Mat& frame, const cv::Mat& mask, const cv::Rect2f& face_box, int thickness) {
  if (mask.empty() || mask.size() != frame.size()) return;
  // Only the area around the face: the mask of one face is local, and this keeps the cost O(face).
  cv::Rect2f grown(face_box.x - face_box.width, face_box.y - face_box.height, face_box.width * 3,
                   face_box.height * 3);
  cv::Rect roi = cv::Rect(grown) & cv::Rect(0, 0, frame.cols, frame.rows);
  if (roi.empty()) return;
  cv::Mat binary;
  if (mask.type() == CV_8UC1) {
    binary = mask(roi) > 127;
  } else if (mask.type() == CV_32FC1) {
    binary = mask(roi) > 0.5f;
  } else {
    return;
  }
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(binary, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE, roi.tl());
  cv::drawContours(frame, contours, -1, kMaskColour, thickness, cv::LINE_AA);
}

}  // namespace

void draw_face_debug(cv::Mat& frame, const face::Face& face, int index, const cv::Mat* mask_or_null) {
  if (frame.empty() || frame.type() != CV_8UC3) return;
  const float size = std::max(1.0f, std::max(face.box.width, face.box.height));
  const int thickness = std::max(1, cvRound(size / 120.0f));
  const int radius = std::max(1, cvRound(size / 100.0f));

  if (mask_or_null != nullptr) draw_mask_outline(frame, *mask_or_null, face.box, thickness);

  cv::rectangle(frame, fixed(face.box.tl()), fixed(face.box.br()), kBoxColour, thickness, cv::LINE_AA, kShift);
  for (const auto& p : face.landmarks68) {
    cv::circle(frame, fixed(p), radius << kShift, kPoints68Colour, cv::FILLED, cv::LINE_AA, kShift);
  }
  for (const auto& p : face.landmarks5) {
    if (p.x == 0.0f && p.y == 0.0f) continue;  // not set
    cv::circle(frame, fixed(p), (radius * 2) << kShift, kPoints5Colour, cv::FILLED, cv::LINE_AA, kShift);
  }

  // Label "#index score" on a filled box above the face box (below it when at the top edge).
  const std::string label = fmt::format("#{} {:.2f}", index, face.score);
  const double font_scale = std::clamp(size / 250.0, 0.35, 2.0);
  const int font_thickness = std::max(1, cvRound(font_scale * 1.5));
  int baseline = 0;
  cv::Size text = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, font_scale, font_thickness, &baseline);
  cv::Point org(cvRound(face.box.x), cvRound(face.box.y) - baseline - thickness);
  if (org.y - text.height < 0) org.y = cvRound(face.box.y + face.box.height) + text.height + thickness;
  cv::rectangle(frame, cv::Point(org.x, org.y - text.height - 2), cv::Point(org.x + text.width + 2, org.y + baseline),
                kBoxColour, cv::FILLED);
  cv::putText(frame, label, org + cv::Point(1, 0), cv::FONT_HERSHEY_SIMPLEX, font_scale, kTextColour, font_thickness,
              cv::LINE_AA);
}

}  // namespace facefuse::processors
