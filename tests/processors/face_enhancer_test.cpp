// face_enhancer against generated fixture enhancers (onnx_fixtures.h) on real photos: the model's
// pre/post-processing, codeformer's float64 `weight`, the box mask, the blend and paste-back only
// inside the face box.
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/alignment.h"
#include "facefuse/media/image_io.h"
#include "facefuse/pipeline/run_job.h"
#include "facefuse/processors/face_enhancer/face_enhancer.h"
#include "onnx_fixtures.h"

namespace facefuse::testing {
namespace {

const std::array<cv::Point2d, 5> kFfhq512 = {{{0.37691676, 0.46864664}, {0.62285697, 0.46912813},
                                              {0.50123859, 0.61331904}, {0.39308822, 0.72541100},
                                              {0.61150205, 0.72490465}}};

face::Face target_face(const cv::Mat& image) {
  auto faces = fixture_analyser().analyse(image);
  EXPECT_TRUE(faces && !faces->empty());
  return *face::largest_face(*faces);
}

cv::Mat ffhq_affine(const face::Face& face, int size) {
  std::vector<cv::Point2f> from(face.landmarks5.begin(), face.landmarks5.end()), to;
  for (const auto& p : kFfhq512) to.emplace_back(static_cast<float>(p.x * size), static_cast<float>(p.y * size));
  return cv::estimateAffinePartial2D(from, to, cv::noArray(), cv::RANSAC, 100);
}

// Every pixel of enhance_crop = round((clip((p/255 − 0.5)/0.5 + shift, −1, 1) + 1) / 2 · 255).
void expect_enhanced_by(const processors::FaceEnhancer& enhancer, const cv::Mat& crop, double shift) {
  auto enhanced = enhancer.enhance_crop(crop);
  ASSERT_TRUE(enhanced) << enhanced.status().to_string();
  int worst = 0;
  for (int y = 0; y < crop.rows; ++y) {
    for (int x = 0; x < crop.cols; ++x) {
      for (int c = 0; c < 3; ++c) {
        const double v = std::clamp((crop.at<cv::Vec3b>(y, x)[c] / 255.0 - 0.5) / 0.5 + shift, -1.0, 1.0);
        const int want = static_cast<int>(std::round((v + 1) / 2 * 255));
        worst = std::max(worst, std::abs(want - enhanced->at<cv::Vec3b>(y, x)[c]));
      }
    }
  }
  EXPECT_LE(worst, 1);  // float32 rounding at .5 boundaries
}

TEST(FaceEnhancer, NormalisesTheCropAndFeedsCodeformersWeightAsFloat64) {
  const cv::Mat image = load_photo("photos/anne_helene.jpg");
  const face::Face face = target_face(image);
  const cv::Mat crop = face::warp_face(image, ffhq_affine(face, 512), cv::Size(512, 512));
  const auto& data = onnx_fixture_data();

  processors::FaceEnhancer gfpgan;
  ASSERT_TRUE(gfpgan.open(fixture_context("face_enhancer", nlohmann::json::object())).is_ok());  // gfpgan_1.4 is the default
  EXPECT_EQ(gfpgan.contract().size, 512);
  EXPECT_EQ(gfpgan.contract().alignment, face::AlignmentTemplate::kFfhq512);
  expect_enhanced_by(gfpgan, crop, data.at("enhancer_offset").get<double>());

  for (double weight : {0.0, 0.25, 1.0}) {
    SCOPED_TRACE(weight);
    processors::FaceEnhancer codeformer;
    const Status status = codeformer.open(
        fixture_context("face_enhancer", {{"face_enhancer_model", "codeformer"}, {"face_enhancer_weight", weight}}));
    ASSERT_TRUE(status.is_ok()) << status.to_string();
    expect_enhanced_by(codeformer, crop,
                       data.at("enhancer_offset").get<double>() + data.at("codeformer_weight_gain").get<double>() * weight);
  }

  processors::FaceEnhancer gpen;
  ASSERT_TRUE(gpen.open(fixture_context("face_enhancer", {{"face_enhancer_model", "gpen_bfr_256"}})).is_ok());
  EXPECT_EQ(gpen.contract().size, 256);
  EXPECT_EQ(gpen.contract().alignment, face::AlignmentTemplate::kArcface128);
}

cv::Mat run_enhancer_job(const nlohmann::json& options) {
  TempDir dir;
  pipeline::JobSpec spec;
  spec.sources = {testdata("photos/astronaut.png")};
  spec.target = testdata("photos/anne_helene.jpg");
  spec.output = dir / "out.png";
  spec.processors = {"face_enhancer"};
  spec.options = options;
  spec.models_dir = onnx_fixtures_dir();
  auto report = pipeline::run_job(spec);
  EXPECT_TRUE(report) << report.status().to_string();
  auto written = media::read_image(dir / "out.png");
  EXPECT_TRUE(written) << written.status().to_string();
  return written ? *written : cv::Mat();
}

TEST(FaceEnhancer, JobBlendsTheEnhancedFaceOnlyInsideTheFaceBox) {
  const cv::Mat before = load_photo("photos/anne_helene.jpg");
  const face::Face face = target_face(before);
  const cv::Mat affine = ffhq_affine(face, 512);
  cv::Mat inverse;
  cv::invertAffineTransform(affine, inverse);
  std::vector<cv::Point2f> corners = {{0, 0}, {512, 0}, {512, 512}, {0, 512}}, mapped;
  cv::transform(corners, mapped, inverse);
  const cv::Rect box = cv::Rect(cv::boundingRect(mapped)) & cv::Rect(0, 0, before.cols, before.rows);
  // +0.2 in [−1, 1] = +25.5 levels; pasted at blend/100 where the box mask is 1.
  const double full = onnx_fixture_data().at("enhancer_offset").get<double>() / 2 * 255;
  for (double blend : {80.0, 40.0}) {
    SCOPED_TRACE(blend);
    const cv::Mat after =
        run_enhancer_job({{"face_selector_mode", "one"}, {"face_enhancer_blend", blend}});
    ASSERT_EQ(after.size(), before.size());
    cv::Mat diff;
    cv::absdiff(before, after, diff);
    diff(box).setTo(0);
    EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0) << "pixels outside the face box changed";
    double sum = 0;
    int n = 0;
    for (int y = box.y; y < box.y + box.height; ++y) {
      for (int x = box.x; x < box.x + box.width; ++x) {
        const double cx = affine.at<double>(0, 0) * x + affine.at<double>(0, 1) * y + affine.at<double>(0, 2);
        const double cy = affine.at<double>(1, 0) * x + affine.at<double>(1, 1) * y + affine.at<double>(1, 2);
        if (cx < 160 || cy < 160 || cx > 352 || cy > 352) continue;  // well inside the 76-px box border
        for (int c = 0; c < 3; ++c) {
          const int b = before.at<cv::Vec3b>(y, x)[c];
          if (b + full > 254) continue;
          sum += after.at<cv::Vec3b>(y, x)[c] - b;
          ++n;
        }
      }
    }
    ASSERT_GT(n, 1000);
    EXPECT_NEAR(sum / n, full * blend / 100, 1.0);
  }
}

TEST(FaceEnhancer, OcclusionMaskKeepsWhatTheOccluderHides) {
  // The fixture occluder sees the face only in the crop's left half (x < 256 of 512).
  const cv::Mat before = load_photo("photos/anne_helene.jpg");
  const cv::Mat affine = ffhq_affine(target_face(before), 512);
  const cv::Mat after = run_enhancer_job({{"face_selector_mode", "one"}, {"face_mask_types", "box occlusion"}});
  ASSERT_EQ(after.size(), before.size());
  int hidden_changed = 0, visible_changed = 0, visible = 0;
  for (int y = 0; y < before.rows; ++y) {
    for (int x = 0; x < before.cols; ++x) {
      const double cx = affine.at<double>(0, 0) * x + affine.at<double>(0, 1) * y + affine.at<double>(0, 2);
      const double cy = affine.at<double>(1, 0) * x + affine.at<double>(1, 1) * y + affine.at<double>(1, 2);
      const bool changed = before.at<cv::Vec3b>(y, x) != after.at<cv::Vec3b>(y, x);
      if (cx > 260 && cx < 512 && cy > 0 && cy < 512) hidden_changed += changed;
      if (cx > 120 && cx < 220 && cy > 120 && cy < 400) {
        visible_changed += changed;
        ++visible;
      }
    }
  }
  EXPECT_EQ(hidden_changed, 0);
  ASSERT_GT(visible, 100);
  EXPECT_GT(visible_changed, 0.9 * visible);
}

TEST(FaceEnhancer, MissingModelFileSaysHowToInstallIt) {
  processors::FaceEnhancer enhancer;
  auto context = fixture_context("face_enhancer", {{"face_enhancer_model", "gpen_bfr_512"}});
  const Status status = enhancer.open(context);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("gpen_bfr_512.onnx"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("facefuse models download gpen_bfr_512"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace facefuse::testing
