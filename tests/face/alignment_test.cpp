// Alignment templates, the 5-point similarity fit and the crop (CONTRACTS.md "Alignment templates").
#include "facefuse/face/alignment.h"

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

namespace facefuse::face {
namespace {

// CONTRACTS.md table, typed in again on purpose: a change to either copy fails here.
struct ExpectedTemplate {
  const char* name;
  double points[5][2];
};
const ExpectedTemplate kContractTemplates[] = {
    {"arcface_112_v1",
     {{0.35473214, 0.45658929}, {0.64526786, 0.45658929}, {0.50000000, 0.61154464}, {0.37913393, 0.77687500},
      {0.62086607, 0.77687500}}},
    {"arcface_112_v2",
     {{0.34191607, 0.46157411}, {0.65653393, 0.45983393}, {0.50022500, 0.64050536}, {0.37097589, 0.82469196},
      {0.63151696, 0.82325089}}},
    {"arcface_128",
     {{0.36167656, 0.40387734}, {0.63696719, 0.40235469}, {0.50019687, 0.56044219}, {0.38710391, 0.72160547},
      {0.61507734, 0.72034453}}},
    {"dfl_whole_face",
     {{0.35342266, 0.39285716}, {0.62797622, 0.39285716}, {0.48660713, 0.54017860}, {0.38839287, 0.68750011},
      {0.59821427, 0.68750011}}},
    {"ffhq_512",
     {{0.37691676, 0.46864664}, {0.62285697, 0.46912813}, {0.50123859, 0.61331904}, {0.39308822, 0.72541100},
      {0.61150205, 0.72490465}}},
    {"mtcnn_512",
     {{0.36562865, 0.46733799}, {0.63305391, 0.46585885}, {0.50019127, 0.61942959}, {0.39032951, 0.77598822},
      {0.61178945, 0.77476328}}},
    {"styleganex_384",
     {{0.42353745, 0.52289879}, {0.57725008, 0.52319972}, {0.50123859, 0.61331904}, {0.43364461, 0.68337652},
      {0.57015325, 0.68306005}}},
};

cv::Point2d apply(const cv::Mat& affine, cv::Point2d p) {
  return {affine.at<double>(0, 0) * p.x + affine.at<double>(0, 1) * p.y + affine.at<double>(0, 2),
          affine.at<double>(1, 0) * p.x + affine.at<double>(1, 1) * p.y + affine.at<double>(1, 2)};
}

// Frame-space landmarks of a face whose template-pixel points were moved by a known similarity:
// rotation `degrees`, uniform `scale`, then translation `shift` (frame pixels).
Landmarks5 moved_template(AlignmentTemplate which, cv::Size crop, double degrees, double scale, cv::Point2d shift) {
  const auto pixels = alignment_template_pixels(which, crop);
  const double a = degrees * CV_PI / 180.0;
  Landmarks5 out;
  for (size_t i = 0; i < 5; ++i) {
    const double x = pixels[i].x, y = pixels[i].y;
    out[i] = cv::Point2f(static_cast<float>(scale * (std::cos(a) * x - std::sin(a) * y) + shift.x),
                         static_cast<float>(scale * (std::sin(a) * x + std::cos(a) * y) + shift.y));
  }
  return out;
}

TEST(AlignmentTemplates, ValuesAreThoseOfTheContract) {
  ASSERT_EQ(alignment_templates().size(), std::size(kContractTemplates));
  for (const auto& expected : kContractTemplates) {
    auto which = parse_alignment_template(expected.name);
    ASSERT_TRUE(which.is_ok()) << which.status().to_string();
    EXPECT_EQ(alignment_template_name(*which), expected.name);
    const auto& points = alignment_template_points(*which);
    for (int i = 0; i < 5; ++i) {
      EXPECT_DOUBLE_EQ(points[i].x, expected.points[i][0]) << expected.name << " point " << i;
      EXPECT_DOUBLE_EQ(points[i].y, expected.points[i][1]) << expected.name << " point " << i;
    }
  }
}

TEST(AlignmentTemplates, NamesRoundTripAndUnknownNamesListTheValidOnes) {
  for (auto which : alignment_templates()) {
    auto parsed = parse_alignment_template(alignment_template_name(which));
    ASSERT_TRUE(parsed.is_ok());
    EXPECT_EQ(*parsed, which);
  }
  auto bad = parse_alignment_template("arcface_112");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  for (auto which : alignment_templates()) {
    EXPECT_NE(bad.status().message().find(alignment_template_name(which)), std::string::npos) << bad.status().message();
  }
}

// arcface_112_v2 × 112 is insightface's arcface_dst, and arcface_128 × 128 is the same points
// shifted 8 px right (insightface's estimate_norm for 128 crops) — the provenance of both rows.
TEST(AlignmentTemplates, ArcfaceRowsAreInsightfaceReferencePoints) {
  const double arcface_dst[5][2] = {
      {38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041}};
  const auto v2 = alignment_template_pixels(AlignmentTemplate::kArcface112V2, {112, 112});
  const auto a128 = alignment_template_pixels(AlignmentTemplate::kArcface128, {128, 128});
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(v2[i].x, arcface_dst[i][0], 1e-3);
    EXPECT_NEAR(v2[i].y, arcface_dst[i][1], 1e-3);
    EXPECT_NEAR(a128[i].x, arcface_dst[i][0] + 8.0, 1e-3);
    EXPECT_NEAR(a128[i].y, arcface_dst[i][1], 1e-3);
  }
}

TEST(AlignmentTemplates, PixelsScaleXByWidthAndYByHeight) {
  const auto p = alignment_template_pixels(AlignmentTemplate::kFfhq512, {512, 256});
  EXPECT_NEAR(p[0].x, 0.37691676 * 512, 1e-3);  // 192.98
  EXPECT_NEAR(p[0].y, 0.46864664 * 256, 1e-3);  // 119.97
  EXPECT_NEAR(p[4].x, 0.61150205 * 512, 1e-3);
  EXPECT_NEAR(p[4].y, 0.72490465 * 256, 1e-3);
}

TEST(EstimateAlignment, FaceAlreadyOnTheTemplateGivesIdentity) {
  for (auto which : alignment_templates()) {
    for (cv::Size crop : {cv::Size(112, 112), cv::Size(128, 128), cv::Size(512, 512)}) {
      const auto pixels = alignment_template_pixels(which, crop);
      const Landmarks5 landmarks{pixels[0], pixels[1], pixels[2], pixels[3], pixels[4]};
      const cv::Mat affine = estimate_alignment(landmarks, which, crop);
      ASSERT_EQ(affine.rows, 2);
      ASSERT_EQ(affine.cols, 3);
      ASSERT_EQ(affine.type(), CV_64F);
      const cv::Mat identity = (cv::Mat_<double>(2, 3) << 1, 0, 0, 0, 1, 0);
      EXPECT_LT(cv::norm(affine, identity, cv::NORM_INF), 1e-4) << alignment_template_name(which) << " " << crop;
    }
  }
}

// A face rotated 30°, scaled 2.5× and shifted must be mapped back onto template × size: the
// affine is the exact inverse similarity, every point lands within 1e-3 px.
TEST(EstimateAlignment, RecoversAKnownSimilarity) {
  const cv::Size crop(128, 128);
  const auto which = AlignmentTemplate::kArcface128;
  const auto landmarks = moved_template(which, crop, 30.0, 2.5, {300.0, 200.0});
  const cv::Mat affine = estimate_alignment(landmarks, which, crop);
  ASSERT_FALSE(affine.empty());
  const auto target = alignment_template_pixels(which, crop);
  for (int i = 0; i < 5; ++i) {
    const auto mapped = apply(affine, landmarks[i]);
    EXPECT_NEAR(mapped.x, target[i].x, 1e-3);
    EXPECT_NEAR(mapped.y, target[i].y, 1e-3);
  }
  // 4-DoF: [s·cos, −s·sin; s·sin, s·cos] with s = 1/2.5 and angle −30°.
  const double s = 1.0 / 2.5, a = -30.0 * CV_PI / 180.0;
  EXPECT_NEAR(affine.at<double>(0, 0), s * std::cos(a), 1e-6);
  EXPECT_NEAR(affine.at<double>(0, 1), -s * std::sin(a), 1e-6);
  EXPECT_NEAR(affine.at<double>(1, 0), s * std::sin(a), 1e-6);
  EXPECT_NEAR(affine.at<double>(1, 1), s * std::cos(a), 1e-6);
  // Left eye of arcface_128 at 128 px is (46.2946, 51.6963) (CONTRACTS 0.36167656, 0.40387734).
  const auto eye = apply(affine, landmarks[0]);
  EXPECT_NEAR(eye.x, 46.2946, 1e-3);
  EXPECT_NEAR(eye.y, 51.6963, 1e-3);
}

// RANSAC threshold 100 px (crop space). In a 1024 px crop, one mouth corner 60 px off is still an
// inlier and pulls the least-squares fit; 400 px off it is rejected and the other four map
// exactly. (Both outcomes are what cv::estimateAffinePartial2D(RANSAC, 100) returns for these
// points. In small crops the whole template fits inside 100 px, so nothing is ever rejected.)
TEST(EstimateAlignment, RansacThresholdIsHundredPixels) {
  const cv::Size crop(1024, 1024);
  const auto which = AlignmentTemplate::kFfhq512;
  const auto target = alignment_template_pixels(which, crop);
  const Landmarks5 clean{target[0], target[1], target[2], target[3], target[4]};

  auto near_off = clean;
  near_off[4] += cv::Point2f(60.0f, 0.0f);
  const cv::Mat inlier_fit = estimate_alignment(near_off, which, crop);
  ASSERT_FALSE(inlier_fit.empty());
  EXPECT_GT(cv::norm(apply(inlier_fit, near_off[0]) - cv::Point2d(target[0])), 1.0)
      << "a 60 px displacement is inside the 100 px threshold and must move the fit";

  auto far_off = clean;
  far_off[4] += cv::Point2f(400.0f, 0.0f);
  const cv::Mat outlier_fit = estimate_alignment(far_off, which, crop);
  ASSERT_FALSE(outlier_fit.empty());
  for (int i = 0; i < 4; ++i) {
    EXPECT_LT(cv::norm(apply(outlier_fit, far_off[i]) - cv::Point2d(target[i])), 1e-3) << "point " << i;
  }
}

TEST(EstimateAlignment, DegeneratePointsGiveAnEmptyMatrix) {
  Landmarks5 same;
  same.fill(cv::Point2f(10.0f, 10.0f));
  EXPECT_TRUE(estimate_alignment(same, AlignmentTemplate::kArcface112V2, {112, 112}).empty());
  EXPECT_TRUE(warp_face(cv::Mat(100, 100, CV_8UC3, cv::Scalar::all(1)), cv::Mat(), {112, 112}).empty());
}

// Five small bright discs drawn at a rotated, scaled face's landmarks land, after warp_face, at
// the template points of the crop (centroids within 0.5 px).
TEST(WarpFace, MovesLandmarksOntoTheTemplate) {
  const cv::Size crop(256, 256);
  const auto which = AlignmentTemplate::kFfhq512;
  const auto landmarks = moved_template(which, crop, -20.0, 1.7, {260.0, 90.0});
  cv::Mat frame(600, 800, CV_8UC3, cv::Scalar(0, 0, 0));
  for (const auto& p : landmarks) cv::circle(frame, p, 4, cv::Scalar(255, 255, 255), cv::FILLED, cv::LINE_AA, 0);

  const cv::Mat affine = estimate_alignment(landmarks, which, crop);
  const cv::Mat aligned = warp_face(frame, affine, crop);
  ASSERT_EQ(aligned.size(), crop);
  ASSERT_EQ(aligned.type(), CV_8UC3);
  cv::Mat gray;
  cv::cvtColor(aligned, gray, cv::COLOR_BGR2GRAY);
  const auto target = alignment_template_pixels(which, crop);
  for (int i = 0; i < 5; ++i) {
    const cv::Rect window(cvRound(target[i].x) - 8, cvRound(target[i].y) - 8, 17, 17);
    const cv::Moments m = cv::moments(gray(window));
    ASSERT_GT(m.m00, 0.0) << "no disc near template point " << i;
    EXPECT_NEAR(window.x + m.m10 / m.m00, target[i].x, 0.5) << "point " << i;
    EXPECT_NEAR(window.y + m.m01 / m.m00, target[i].y, 0.5) << "point " << i;
  }
}

// A face at the frame's corner: the crop reaches outside the frame, and BORDER_REPLICATE fills it
// with the edge colour instead of black.
TEST(WarpFace, ReplicatesTheBorderOutsideTheFrame) {
  const cv::Size crop(112, 112);
  const auto which = AlignmentTemplate::kArcface112V2;
  const auto landmarks = moved_template(which, crop, 0.0, 1.0, {-50.0, -50.0});
  const cv::Mat frame(200, 200, CV_8UC3, cv::Scalar(40, 90, 200));
  const cv::Mat aligned = warp_face(frame, estimate_alignment(landmarks, which, crop), crop);
  ASSERT_FALSE(aligned.empty());
  cv::Mat diff;
  cv::absdiff(aligned, cv::Scalar(40, 90, 200), diff);
  double max_diff = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  EXPECT_EQ(max_diff, 0.0);
}

}  // namespace
}  // namespace facefuse::face
