#include "facefuse/face/alignment.h"

#include <cassert>
#include <cmath>
#include <string>

#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

namespace facefuse::face {

namespace {

struct TemplateEntry {
  AlignmentTemplate id;
  std::string_view name;
  AlignmentTemplatePoints points;
};

// CONTRACTS.md "Alignment templates" (FaceFusion 3.8.1 face_helper.WARP_TEMPLATE_SET), verbatim.
const std::array<TemplateEntry, 7> kTemplates = {{
    {AlignmentTemplate::kArcface112V1, "arcface_112_v1",
     {{{0.35473214, 0.45658929}, {0.64526786, 0.45658929}, {0.50000000, 0.61154464},
       {0.37913393, 0.77687500}, {0.62086607, 0.77687500}}}},
    {AlignmentTemplate::kArcface112V2, "arcface_112_v2",
     {{{0.34191607, 0.46157411}, {0.65653393, 0.45983393}, {0.50022500, 0.64050536},
       {0.37097589, 0.82469196}, {0.63151696, 0.82325089}}}},
    {AlignmentTemplate::kArcface128, "arcface_128",
     {{{0.36167656, 0.40387734}, {0.63696719, 0.40235469}, {0.50019687, 0.56044219},
       {0.38710391, 0.72160547}, {0.61507734, 0.72034453}}}},
    {AlignmentTemplate::kDflWholeFace, "dfl_whole_face",
     {{{0.35342266, 0.39285716}, {0.62797622, 0.39285716}, {0.48660713, 0.54017860},
       {0.38839287, 0.68750011}, {0.59821427, 0.68750011}}}},
    {AlignmentTemplate::kFfhq512, "ffhq_512",
     {{{0.37691676, 0.46864664}, {0.62285697, 0.46912813}, {0.50123859, 0.61331904},
       {0.39308822, 0.72541100}, {0.61150205, 0.72490465}}}},
    {AlignmentTemplate::kMtcnn512, "mtcnn_512",
     {{{0.36562865, 0.46733799}, {0.63305391, 0.46585885}, {0.50019127, 0.61942959},
       {0.39032951, 0.77598822}, {0.61178945, 0.77476328}}}},
    {AlignmentTemplate::kStyleganex384, "styleganex_384",
     {{{0.42353745, 0.52289879}, {0.57725008, 0.52319972}, {0.50123859, 0.61331904},
       {0.43364461, 0.68337652}, {0.57015325, 0.68306005}}}},
}};

const TemplateEntry& entry(AlignmentTemplate which) {
  for (const auto& e : kTemplates) {
    if (e.id == which) return e;
  }
  assert(false && "AlignmentTemplate not in kTemplates");
  return kTemplates[0];
}

// FaceFusion's ransacReprojThreshold, in crop pixels: all 5 points of any real face are inliers,
// so RANSAC only guards against wild outliers (and in crops of 256 px or less rejects nothing).
constexpr double kRansacThresholdPx = 100.0;

}  // namespace

const AlignmentTemplatePoints& alignment_template_points(AlignmentTemplate which) { return entry(which).points; }

std::string_view alignment_template_name(AlignmentTemplate which) { return entry(which).name; }

const std::vector<AlignmentTemplate>& alignment_templates() {
  static const std::vector<AlignmentTemplate> all = [] {
    std::vector<AlignmentTemplate> v;
    for (const auto& e : kTemplates) v.push_back(e.id);
    return v;
  }();
  return all;
}

Result<AlignmentTemplate> parse_alignment_template(std::string_view name) {
  std::string valid;
  for (const auto& e : kTemplates) {
    if (e.name == name) return e.id;
    valid += valid.empty() ? "" : ", ";
    valid += e.name;
  }
  return invalid_argument("unknown alignment template '" + std::string(name) + "'; valid: " + valid);
}

std::array<cv::Point2f, 5> alignment_template_pixels(AlignmentTemplate which, cv::Size crop) {
  const auto& points = entry(which).points;
  std::array<cv::Point2f, 5> out;
  for (size_t i = 0; i < points.size(); ++i) {
    out[i] = cv::Point2f(static_cast<float>(points[i].x * crop.width), static_cast<float>(points[i].y * crop.height));
  }
  return out;
}


// FaceFusion calls cv::estimateAffinePartial2D(points, template, RANSAC, 100): RANSAC over
// 2-point minimal samples, inliers = squared reprojection error ≤ 100², then Levenberg–Marquardt
// on the inliers. We do the same without OpenCV's calib3d (not among the OpenCV modules the build
// links, and 5 points do not need it): RANSAC is exhaustive over all 10 pairs (no randomness), the
// largest inlier set wins (ties: the smaller inlier error), and the refinement is the closed-form
// least squares above. Whenever OpenCV finds the same inliers — every real face, where all 5
// points are inliers — the results agree to rounding (checked against calib3d while writing this).
cv::Mat estimate_alignment(const Landmarks5& landmarks, AlignmentTemplate which, cv::Size crop) {
  const auto target = alignment_template_pixels(which, crop);
  std::vector<cv::Point2f> from, to;
  for (size_t i = 0; i < landmarks.size(); ++i) {
    if (!std::isfinite(landmarks[i].x) || !std::isfinite(landmarks[i].y)) return {};
    from.push_back(landmarks[i]);
    to.push_back(target[i]);
  }
  // Exactly FaceFusion's call: 4-DoF similarity, RANSAC with a 100 px reprojection threshold
  // (so in practice every point is an inlier and the result is the refined least-squares fit).
  cv::Mat affine;
  try {
    affine = cv::estimateAffinePartial2D(from, to, cv::noArray(), cv::RANSAC, kRansacThresholdPx);
  } catch (const cv::Exception&) {
    return {};
  }
  return affine;
}

cv::Mat warp_face(const cv::Mat& frame, const cv::Mat& affine, cv::Size crop) {
  if (frame.empty() || affine.empty() || crop.width <= 0 || crop.height <= 0) return {};
  cv::Mat out;
  // FaceFusion passes INTER_AREA; OpenCV 4.6's warpAffine has no area mode and samples bilinearly
  // for it (output identical to INTER_LINEAR). We pass the same flag so any OpenCV change affects
  // both alike.
  cv::warpAffine(frame, out, affine, crop, cv::INTER_AREA, cv::BORDER_REPLICATE);
  return out;
}

}  // namespace facefuse::face
