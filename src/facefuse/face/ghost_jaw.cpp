#include "facefuse/face/ghost_jaw.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_geometry.h"

namespace facefuse::face {
namespace {

// All in inter-ocular distances (IOD).
constexpr float kGhostNear = 0.06f;     // closer than this to the jaw line, an edge is the jaw line itself
constexpr float kGhostFar = 0.35f;      // deeper inside, the chin's and cheeks' own features begin
constexpr float kGhostReach = 0.03f;    // tolerance of an edge's position across the line
constexpr float kGhostSmooth = 0.015f;  // smoothing before the gradient (noise, skin texture)
constexpr float kGhostStrength = 0.5f;  // × the jaw contour's strength: a visible second line
constexpr float kStep = 0.5f;           // px between samples across the jaw

}  // namespace

float ghost_jaw_fraction(const cv::Mat& target, const cv::Mat& result, const Landmarks68& tp) {
  if (tp.size() != static_cast<size_t>(kLandmarkCount68) || target.empty() || target.size() != result.size() ||
      target.type() != CV_8UC3 || result.type() != CV_8UC3) {
    return 0.0f;
  }
  const float iod = inter_ocular_distance(tp);
  if (iod < 4.0f) return 0.0f;
  const std::vector<cv::Point2f> jaw_line(tp.begin() + 1, tp.begin() + 16);
  const cv::Rect box = cv::boundingRect(std::vector<cv::Point2f>(tp.begin(), tp.end()));
  const int pad = static_cast<int>(std::ceil(0.2f * iod)) + 4;
  const cv::Rect region = cv::Rect(box.x - pad, box.y - pad, box.width + 2 * pad, box.height + 2 * pad) &
                          cv::Rect(0, 0, result.cols, result.rows);
  if (region.width < 8 || region.height < 8) return 0.0f;
  const double sigma = std::max(0.6, static_cast<double>(kGhostSmooth * iod));
  auto gradients = [&](const cv::Mat& image, cv::Mat& gx, cv::Mat& gy) {
    cv::Mat gray, g;
    cv::cvtColor(image(region), gray, cv::COLOR_BGR2GRAY);
    gray.convertTo(g, CV_32F);
    cv::GaussianBlur(g, g, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
    cv::Sobel(g, gx, CV_32F, 1, 0, 3, 0.125);
    cv::Sobel(g, gy, CV_32F, 0, 1, 3, 0.125);
  };
  cv::Mat tx, ty, rx, ry, magnitude;
  gradients(target, tx, ty);
  gradients(result, rx, ry);
  cv::magnitude(tx, ty, magnitude);
  const float face_gradient = static_cast<float>(cv::mean(magnitude)[0]);
  auto edge = [&](const cv::Mat& gx, const cv::Mat& gy, cv::Point2f q, cv::Point2f n) {
    q -= cv::Point2f(region.tl());
    const int x = cvRound(q.x), y = cvRound(q.y);
    if (x < 0 || y < 0 || x >= gx.cols || y >= gx.rows) return 0.0f;
    return std::abs(gx.at<float>(y, x) * n.x + gy.at<float>(y, x) * n.y);
  };
  cv::Point2f centre(0, 0);  // the nose: "inside" is toward it
  for (int i = 27; i <= 35; ++i) centre += tp[i];
  centre *= 1.0f / 9.0f;
  const float reach_px = kGhostReach * iod;
  const int reach = static_cast<int>(reach_px / kStep);
  int samples = 0, doubled = 0;
  std::vector<float> own;
  for (size_t i = 0; i + 1 < jaw_line.size(); ++i) {
    const cv::Point2f a = jaw_line[i], ab = jaw_line[i + 1] - a;
    const float len = static_cast<float>(cv::norm(ab));
    if (len < 1e-3f) continue;
    cv::Point2f n(-ab.y / len, ab.x / len);
    if (n.dot(centre - a) < 0) n = -n;
    for (float s = 0; s < len; s += 1.0f) {
      const cv::Point2f p = a + ab * (s / len);
      float contour = face_gradient;
      for (float t = -reach_px; t <= reach_px; t += kStep) contour = std::max(contour, edge(tx, ty, p + n * t, n));
      // The target's own edges across the band, reach samples wider on each side.
      own.clear();
      for (float t = kGhostNear * iod - reach * kStep; t <= kGhostFar * iod + reach * kStep + 1e-3f; t += kStep) {
        own.push_back(edge(tx, ty, p + n * t, n));
      }
      float excess = 0;
      int k = reach;
      for (float t = kGhostNear * iod; t <= kGhostFar * iod + 1e-3f; t += kStep, ++k) {
        float near = 0;
        const int last = std::min(static_cast<int>(own.size()) - 1, k + reach);
        for (int u = std::max(0, k - reach); u <= last; ++u) near = std::max(near, own[static_cast<size_t>(u)]);
        excess = std::max(excess, edge(rx, ry, p + n * t, n) - near);
      }
      ++samples;
      doubled += excess >= kGhostStrength * contour ? 1 : 0;
    }
  }
  return samples > 0 ? static_cast<float>(doubled) / static_cast<float>(samples) : 0.0f;
}

}  // namespace facefuse::face
