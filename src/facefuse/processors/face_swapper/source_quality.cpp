#include "facefuse/processors/face_swapper/source_quality.h"

#include <array>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/glasses.h"
#include "facefuse/face/head_pose.h"
#include "facefuse/processors/face_swapper/classical_swapper.h"

namespace facefuse::processors {
namespace {

constexpr float kSharpnessFaceSize = 128.0f;  // px: faces are compared at this size
constexpr double kFineSigma = 1.0;            // px at kSharpnessFaceSize: the finest detail
constexpr double kContrastSigma = 4.0;        // px: the face's own structure (eyes, brows, mouth)

}  // namespace

int covered_eyes(const cv::Mat& image, const face::Face& face) {
  if (!face.has_landmarks68()) return 0;
  const std::array<bool, 2> covered = face::covered_eyes(image, face.landmarks68);
  return static_cast<int>(covered[0]) + static_cast<int>(covered[1]);
}

float source_face_sharpness(const cv::Mat& image, const face::Face& face) {
  if (image.empty() || !face.has_landmarks68()) return 0.0f;
  const auto& points = face.landmarks68;
  const float size = face::face_size(points);
  if (size < 2.0f) return 0.0f;
  const cv::Rect region = face::face_region(points, 0.15f, 0.1f, image.size());
  if (region.width < 4 || region.height < 4) return 0.0f;
  const double scale = kSharpnessFaceSize / size;
  cv::Mat gray, resized;
  cv::cvtColor(image(region), gray, cv::COLOR_BGR2GRAY);
  cv::resize(gray, resized, cv::Size(), scale, scale, scale < 1.0 ? cv::INTER_AREA : cv::INTER_CUBIC);
  cv::Mat f, fine, coarse;
  resized.convertTo(f, CV_32F);
  cv::GaussianBlur(f, fine, cv::Size(0, 0), kFineSigma);
  cv::GaussianBlur(f, coarse, cv::Size(0, 0), kContrastSigma);
  std::vector<cv::Point2f> inner, hull;
  for (int i = 17; i < face::kLandmarkCount68; ++i) {
    inner.emplace_back((points[i].x - region.x) * static_cast<float>(scale), (points[i].y - region.y) * static_cast<float>(scale));
  }
  cv::convexHull(inner, hull);
  const cv::Mat mask = face::polygon_mask(hull, cv::Rect(0, 0, resized.cols, resized.rows));
  if (cv::countNonZero(mask) == 0) return 0.0f;
  cv::Mat high = f - fine, mid = f - coarse;
  const double e_high = cv::mean(high.mul(high), mask)[0], e_mid = cv::mean(mid.mul(mid), mask)[0];
  return e_mid > 0 ? static_cast<float>(std::sqrt(e_high / e_mid)) : 0.0f;
}

std::vector<ProcessorWarning> source_quality_warnings(const cv::Mat& image, const face::Face& face,
                                                      const std::string& name) {
  std::vector<ProcessorWarning> out;
  if (!face.has_landmarks68()) return out;
  const float size = face::face_size(face.landmarks68);
  if (size < kSmallSourceFace) {
    out.push_back({"source_small",
                   fmt::format("the source face in {} is small ({:.0f} px): the swapped face will be soft where it is "
                               "shown larger than that; use a source photo where the face is at least {:.0f} px",
                               name, size, kSmallSourceFace)});
  } else if (float sharpness = source_face_sharpness(image, face); sharpness < kBlurredSourceSharpness) {
    out.push_back({"source_blurred",
                   fmt::format("the source face in {} is blurred (sharpness {:.3f}, a sharp photo gives ≥ {:.2f}): the "
                               "swapped face will be soft; use a sharper source photo",
                               name, sharpness, kBlurredSourceSharpness)});
  }
  const face::HeadPose pose = face::fit_head_pose(face.landmarks68);
  if (face::seen_from_the_side(face)) {
    // The fitted yaw of such a face is that of the three-quarter face dlib drew, not its own.
    out.push_back({"source_profile",
                   fmt::format("the source face in {} is seen from the side (profile): its landmarks cannot be "
                               "placed on the hidden half, and the swapped face will be torn and smeared; use a "
                               "source photo where both eyes are visible",
                               name)});
  } else if (std::abs(pose.yaw) > kTurnedSourceYaw) {
    out.push_back(
        {"source_turned",
         fmt::format("the source face in {} is turned {:.0f}° to the side: its far side is hidden and the swap "
                     "has to invent it; a source facing the camera (within {:.0f}°) works better",
                     name, std::abs(pose.yaw), kTurnedSourceYaw)});
  }
  if (const int covered = covered_eyes(image, face); covered > 0) {
    out.push_back({"source_eyes_covered",
                   fmt::format("the source face in {} has {} covered (sunglasses, hair or a hand: dark and without "
                               "detail where the eye is): the swap puts the covering on the target's face; use a "
                               "source photo where both eyes show",
                               name, covered == 2 ? "both eyes" : "one eye")});
  }
  const float roll = face::roll_degrees(face.landmarks68);
  if (std::abs(roll) > kTiltedSourceRoll) {
    out.push_back({"source_tilted",
                   fmt::format("the source face in {} is tilted {:.0f}° sideways: its landmarks are less reliable; a "
                               "source with the head upright (within {:.0f}°) works better",
                               name, std::abs(roll), kTiltedSourceRoll)});
  }
  return out;
}

float pose_yaw_difference(const face::Landmarks68& source, const face::Landmarks68& target) {
  if (source.size() != static_cast<size_t>(face::kLandmarkCount68) ||
      target.size() != static_cast<size_t>(face::kLandmarkCount68)) {
    return 0.0f;
  }
  float ys = face::fit_head_pose(source).yaw;
  const float yt = face::fit_head_pose(target).yaw;
  if (should_mirror_source(source, target)) ys = -ys;
  return std::abs(ys - yt);
}

}  // namespace facefuse::processors
