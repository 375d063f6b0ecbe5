#include "facefuse/face/forehead_strands.h"

#include <algorithm>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

#include "facefuse/face/face_mask.h"

namespace facefuse::face {

namespace {

// px: the neighbourhood cv::inpaint takes each painted pixel from.
constexpr double kInpaintRadius = 3.0;

}  // namespace

std::vector<cv::Point2f> forehead_band(const Landmarks68& points) {
  if (points.size() != static_cast<size_t>(kLandmarkCount68)) return {};
  const float size = face_size(points);
  const cv::Point2f up = face_up_direction(points);
  std::vector<cv::Point2f> band;
  for (int i = 17; i <= 26; ++i) band.push_back(points[i] + up * (kStrandZoneStart * size));
  for (int i = 26; i >= 17; --i) band.push_back(points[i] + up * (kStrandZoneEnd * size));
  return band;
}

cv::Mat forehead_strands_mask(const cv::Mat& bgr, const Landmarks68& points) {
  cv::Mat strands(bgr.size(), CV_8UC1, cv::Scalar(0));
  if (points.size() != static_cast<size_t>(kLandmarkCount68) || bgr.empty() || bgr.type() != CV_8UC3) return strands;
  const float size = face_size(points);
  const std::vector<cv::Point2f> band = forehead_band(points);
  const int k = std::max(3, 2 * static_cast<int>(kStrandWidth * size / 2.0f) + 1);
  // Only the band's box, grown by the disc's diameter, is looked at: a black-hat (a dilation then
  // an erosion) at a band pixel reads no pixel further away, so the band's result is the whole
  // image's. The rest of the source crop (face, hair, background) is not filtered.
  const cv::Rect image(0, 0, bgr.cols, bgr.rows);
  cv::Rect box = cv::boundingRect(band);
  box = cv::Rect(box.x - k - 1, box.y - k - 1, box.width + 2 * k + 2, box.height + 2 * k + 2) & image;
  if (box.empty()) return strands;
  const cv::Mat zone = polygon_mask(band, box);
  if (cv::countNonZero(zone) == 0) return strands;
  cv::Mat grey, dark;
  cv::cvtColor(bgr(box), grey, cv::COLOR_BGR2GRAY);
  cv::morphologyEx(grey, dark, cv::MORPH_BLACKHAT, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k)));
  cv::Mat found = (dark > kStrandContrast) & zone;
  cv::dilate(found, found, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(3, 3)));
  found.copyTo(strands(box));
  return strands;
}

cv::Mat without_forehead_strands(const cv::Mat& bgr, const Landmarks68& points) {
  const cv::Mat strands = forehead_strands_mask(bgr, points);
  if (strands.empty() || cv::countNonZero(strands) == 0) return bgr;
  cv::Mat painted;
  cv::inpaint(bgr, strands, painted, kInpaintRadius, cv::INPAINT_TELEA);
  return painted;
}

}  // namespace facefuse::face
