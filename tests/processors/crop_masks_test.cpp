// Crop masks of the model-based processors with the numbers of CONTRACTS.md, and their options.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_mask.h"
#include "facefuse/face/face_occluder.h"
#include "facefuse/face/paste_back.h"
#include "facefuse/processors/crop_masks.h"
#include "facefuse/processors/registry.h"
#include "onnx_fixtures.h"

namespace facefuse::testing {
namespace {

TEST(CropMasks, AreaMaskIsTheSoftenedIntegerHull) {
  // In a 128 crop: the mouth points 48–67 on a circle of radius 25, the others in a corner.
  std::vector<cv::Point2f> points(68, cv::Point2f(5.5f, 5.5f));
  for (int i = 48; i < 68; ++i) {
    points[i] = {64.3f + 25.0f * std::cos(0.314f * i), 70.7f + 25.0f * std::sin(0.314f * i)};
  }
  const cv::Mat mask = face::crop_area_mask(points, cv::Size(128, 128), {face::FaceMaskArea::kMouth});
  // Independently: int32 hull filled with 1, GaussianBlur sigma 5, (clip(0.5, 1) − 0.5) · 2.
  std::vector<cv::Point> ints;
  for (int i = 48; i <= 67; ++i) ints.emplace_back(static_cast<int>(points[i].x), static_cast<int>(points[i].y));
  std::vector<cv::Point> hull;
  cv::convexHull(ints, hull);
  cv::Mat want(128, 128, CV_32FC1, cv::Scalar(0));
  cv::fillConvexPoly(want, hull, cv::Scalar(1.0));
  cv::GaussianBlur(want, want, cv::Size(0, 0), 5.0);
  cv::min(cv::max(want, 0.5), 1.0, want);
  want = (want - 0.5) * 2.0;
  EXPECT_LE(cv::norm(mask, want, cv::NORM_INF), 1e-6);
  EXPECT_GT(cv::countNonZero(mask > 0.99f), 50);
}

TEST(CropMasks, SoftenedModelMaskHasTheContractsEdge) {
  // A step at column 64: after sigma 5 and the [0.5, 1] rescale, 0 from the step on, 1 ~2σ inside.
  cv::Mat step(64, 128, CV_32FC1, cv::Scalar(0));
  step.colRange(0, 64).setTo(1.0f);
  const cv::Mat soft = face::soften_crop_mask(step);
  EXPECT_FLOAT_EQ(soft.at<float>(32, 64), 0.0f);
  EXPECT_FLOAT_EQ(soft.at<float>(32, 100), 0.0f);
  EXPECT_NEAR(soft.at<float>(32, 63), 2 * (0.5 + 0.5 * std::erf(0.5 / (5 * std::sqrt(2.0)))) - 1, 0.02);
  EXPECT_NEAR(soft.at<float>(32, 50), 1.0f, 0.01f);
}

TEST(CropMasks, FixtureOccluderAndParserMasks) {
  auto occluder = face::FaceOccluder::open(onnx_fixtures_dir() / "xseg_1.onnx");
  auto parser = face::FaceParser::open(onnx_fixtures_dir() / "bisenet_resnet_34.onnx");
  ASSERT_TRUE(occluder && parser);
  const cv::Mat crop = load_photo("photos/astronaut.png")(cv::Rect(150, 50, 200, 200)).clone();
  auto occlusion = (*occluder)->mask(crop);
  ASSERT_TRUE(occlusion);
  EXPECT_EQ(occlusion->size(), crop.size());
  EXPECT_NEAR(occlusion->at<float>(100, 20), 1.0f, 1e-3f);   // visible half (x < 100 of 200)
  EXPECT_FLOAT_EQ(occlusion->at<float>(100, 150), 0.0f);
  auto skin = (*parser)->mask(crop, {face::FaceMaskRegion::kSkin});
  ASSERT_TRUE(skin);
  EXPECT_NEAR(skin->at<float>(20, 100), 1.0f, 1e-3f);        // skin on the top half
  EXPECT_FLOAT_EQ(skin->at<float>(150, 100), 0.0f);
  auto nose = (*parser)->mask(crop, {face::FaceMaskRegion::kNose});
  ASSERT_TRUE(nose);
  EXPECT_EQ(cv::countNonZero(*nose), 0);
}

TEST(CropMasks, OptionsParseListsAndPadding) {
  nlohmann::json options = {{"face_mask_types", "box, occlusion area"}, {"face_mask_padding", "10 20"},
                            {"face_mask_areas", "mouth"}, {"face_mask_blur", 0.5}};
  auto parsed = processors::parse_crop_mask_options(options, true);
  ASSERT_TRUE(parsed) << parsed.status().to_string();
  EXPECT_TRUE(parsed->box && parsed->occlusion && parsed->area && !parsed->region);
  EXPECT_EQ(parsed->padding, (std::array<int, 4>{10, 20, 10, 20}));
  EXPECT_EQ(parsed->areas, std::vector<face::FaceMaskArea>{face::FaceMaskArea::kMouth});
  EXPECT_FLOAT_EQ(parsed->blur, 0.5f);
  // The enhancer ignores region and area (FaceFusion), but still rejects unknown words.
  auto enhancer = processors::parse_crop_mask_options(options, false);
  ASSERT_TRUE(enhancer);
  EXPECT_FALSE(enhancer->area);
  EXPECT_FALSE(processors::parse_crop_mask_options({{"face_mask_types", "box hull"}}, true));
  EXPECT_FALSE(processors::parse_crop_mask_options({{"face_mask_padding", "1 2 3 4 5"}}, true));
  EXPECT_FALSE(processors::parse_crop_mask_options({{"face_mask_padding", "101"}}, true));
  EXPECT_FALSE(processors::parse_crop_mask_options({{"face_mask_types", "region"}, {"face_mask_regions", "ear"}}, true));
}

// The API's forms (issue 15): face_mask_types, regions and areas as lists of choices, the padding
// as four numbers; the text forms of earlier versions are still accepted. Jobs store the text form
// API 1.3's binaries read (a job from a new node runs on an old worker during a blue/green switch),
// and the defaults stay as they were (equal cache fingerprints across the upgrade).
TEST(CropMasks, ValidatedOptionsAreListsOfChoicesAndFourPaddings) {
  const std::vector<std::string> swapper{"face_swapper"};
  auto defaults = processors::validate_options(swapper, nlohmann::json::object());
  ASSERT_TRUE(defaults) << defaults.status().to_string();
  EXPECT_EQ((*defaults)["face_mask_types"], "box");
  EXPECT_EQ((*defaults)["face_mask_padding"], "0");
  EXPECT_EQ((*defaults)["face_mask_areas"], "upper-face lower-face mouth");
  EXPECT_EQ((*defaults)["face_mask_regions"],
            "skin left-eyebrow right-eyebrow left-eye right-eye glasses nose mouth upper-lip lower-lip");

  auto lists = processors::validate_options(swapper, {{"face_mask_types", {"box", "area"}},
                                                      {"face_mask_regions", {"nose", "skin"}},
                                                      {"face_mask_areas", {"mouth"}},
                                                      {"face_mask_padding", {10, 0, 5, 0}}});
  ASSERT_TRUE(lists) << lists.status().to_string();
  EXPECT_EQ((*lists)["face_mask_types"], "box area");
  EXPECT_EQ((*lists)["face_mask_regions"], "nose skin");
  EXPECT_EQ((*lists)["face_mask_padding"], "10 0 5");
  auto parsed = processors::parse_crop_mask_options(*lists, true);
  ASSERT_TRUE(parsed) << parsed.status().to_string();
  EXPECT_TRUE(parsed->box && parsed->area && !parsed->occlusion && !parsed->region);
  EXPECT_EQ(parsed->padding, (std::array<int, 4>{10, 0, 5, 0}));
  EXPECT_EQ(parsed->areas, std::vector<face::FaceMaskArea>{face::FaceMaskArea::kMouth});
  // The engine also reads the arrays as such (options that did not go through validate_options).
  auto raw = processors::parse_crop_mask_options({{"face_mask_types", {"box", "area"}}, {"face_mask_areas", {"mouth"}},
                                                  {"face_mask_padding", {10, 0, 5, 0}}}, true);
  ASSERT_TRUE(raw) << raw.status().to_string();
  EXPECT_TRUE(raw->box && raw->area);
  EXPECT_EQ(raw->padding, (std::array<int, 4>{10, 0, 5, 0}));

  auto text = processors::validate_options(swapper, {{"face_mask_types", "box, area"}, {"face_mask_padding", "10 20 10 20"}});
  ASSERT_TRUE(text) << text.status().to_string();
  EXPECT_EQ((*text)["face_mask_types"], "box area");
  EXPECT_EQ((*text)["face_mask_padding"], "10 20");
  for (const auto& [given, stored] : std::vector<std::pair<nlohmann::json, std::string>>{
           {7, "7"}, {{1, 2, 3, 4}, "1 2 3 4"}, {{1, 2, 3, 2}, "1 2 3"}, {{4, 4, 4, 4}, "4"}, {"0 0 0 0", "0"}}) {
    auto v = processors::validate_options(swapper, {{"face_mask_padding", given}});
    ASSERT_TRUE(v) << given.dump();
    EXPECT_EQ((*v)["face_mask_padding"], stored) << given.dump();
  }

  // The enhancer's schema takes the swapper's list, so one job can give both processors.
  const std::vector<std::string> both{"face_enhancer", "face_swapper"};
  EXPECT_TRUE(processors::validate_options(both, {{"face_mask_types", {"box", "region"}}}));

  for (const auto& [name, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"face_mask_types", nlohmann::json::array()},
           {"face_mask_types", {"box", "box"}},
           {"face_mask_types", {"box", "hull"}},
           {"face_mask_types", 3},
           {"face_mask_regions", {"ear"}},
           {"face_mask_areas", {"chin"}},
           {"face_mask_padding", {1, 2, 3, 4, 5}},
           {"face_mask_padding", {101}},
           {"face_mask_padding", {-1}},
           {"face_mask_padding", {2.5}},
           {"face_mask_padding", "ten"},
           {"face_mask_padding", true}}) {
    auto bad = processors::validate_options(swapper, {{name, value}});
    ASSERT_FALSE(bad) << name << " = " << value.dump();
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find(name), std::string::npos) << bad.status().message();
  }
}

TEST(PasteBack, WritesOnlyInsideTheInverseMappedCropBox) {
  cv::Mat frame(300, 400, CV_8UC3);
  cv::randu(frame, 0, 255);
  const cv::Mat original = frame.clone();
  // A rotated, scaled crop of 64 px around (200, 150).
  cv::Mat affine = cv::getRotationMatrix2D(cv::Point2f(200, 150), 20, 0.5);
  affine.at<double>(0, 2) += 32 - 200;
  affine.at<double>(1, 2) += 32 - 150;
  const cv::Mat crop(64, 64, CV_8UC3, cv::Scalar(255, 0, 0));
  const cv::Mat mask(64, 64, CV_32FC1, cv::Scalar(1.0f));
  const cv::Rect box = face::paste_back(frame, crop, mask, affine);
  EXPECT_EQ(box, face::paste_box(affine, crop.size(), frame.size()));
  EXPECT_GT(box.area(), 64 * 64);
  EXPECT_LT(box.area(), 200 * 200);
  cv::Mat diff;
  cv::absdiff(frame, original, diff);
  diff(box).setTo(0);
  EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0);
  EXPECT_EQ(frame.at<cv::Vec3b>(150, 200), cv::Vec3b(255, 0, 0));  // the crop's centre, mask 1
  // A crop mapped partly outside the frame is clipped, not an error.
  cv::Mat corner = affine.clone();
  corner.at<double>(0, 2) += 90;
  corner.at<double>(1, 2) += 70;
  const cv::Rect clipped = face::paste_back(frame, crop, mask, corner);
  EXPECT_EQ(clipped, clipped & cv::Rect(0, 0, 400, 300));
}

}  // namespace
}  // namespace facefuse::testing
