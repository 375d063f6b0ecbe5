// AgeGenderClassifier and the face selector's gender/age filters on real photos.
//
// People were labelled by looking at the photos: dlib's 2008_001322.jpg is a group of three, left to
// right a man (about 50), a woman (about 60) and an older man with a moustache (about 65–70);
// astronaut.png is Eileen Collins (a woman, 42 at the time); Tom_Cruise_avp_2014_4.jpg a man (52).
// Reference values of face-api's own tfjs network come from
// tests/tools/face_api_age_gender_reference.mjs run on the same crops (see test_age_gender_converter.py).
#include "facefuse/face/age_gender_classifier.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "face/dlib_ground_truth.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/face/face_selector.h"
#include "support/test_support.h"

namespace facefuse::face {
namespace {

using facefuse::testing::load_photo;
using facefuse::testing::models_dir;
using facefuse::testing::testdata;

std::shared_ptr<AgeGenderClassifier> open_classifier() {
  auto classifier = AgeGenderClassifier::open(models_dir());
  EXPECT_TRUE(classifier.is_ok()) << classifier.status().message();
  return classifier.is_ok() ? *classifier : nullptr;
}

// The three faces of the group photo (2008_001322.jpg), analysed by the default pipeline
// (blazeface + dlib 68), classified, left to right; empty (with a failure reported) when the
// classifier or the analyser cannot open.
std::vector<Face> classified_group_faces() {
  auto classifier = open_classifier();
  if (!classifier) return {};
  const cv::Mat photo = load_photo("dlib_faces/2008_001322.jpg");
  FaceAnalyserOptions options;
  options.models_dir = models_dir();
  auto analyser = FaceAnalyser::open(options);
  EXPECT_TRUE(analyser.is_ok()) << analyser.status().message();
  if (!analyser.is_ok()) return {};
  auto faces = (*analyser)->analyse(photo);
  EXPECT_TRUE(faces.is_ok()) << faces.status().message();
  if (!faces.is_ok()) return {};
  EXPECT_TRUE(classifier->classify(photo, *faces).is_ok());
  return sort_faces(std::move(*faces), FaceSelectorOrder::kLeftRight);
}

TEST(AgeGenderClassifier, MatchesFaceApiOnDlibLandmarks) {
  // The crop from dlib's labelled 68 landmarks, so both sides see the same points: the C++
  // preprocessing (box, square padding, legacy bilinear resize) and ORT against face-api's tfjs.
  auto classifier = open_classifier();
  ASSERT_NE(classifier, nullptr);
  const auto truth = testing::load_dlib_ground_truth(testdata("dlib_faces/training_with_face_landmarks.xml"));
  auto image = std::find_if(truth.begin(), truth.end(), [](const auto& i) { return i.file == "2008_001322.jpg"; });
  ASSERT_NE(image, truth.end());
  ASSERT_EQ(image->faces.size(), 3u);
  // Decoded by FFmpeg, like the reference's input (test_age_gender_converter.py): JPEG decoders
  // differ by a level here and there, which alone moves the age by up to 0.04 years.
  facefuse::testing::TempDir tmp;
  const auto png = tmp / "photo.png";
  const auto decoded =
      facefuse::testing::run_shell("ffmpeg -v error -i '" + testdata("dlib_faces/2008_001322.jpg").string() +
                                   "' -frames:v 1 '" + png.string() + "'");
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output;
  const cv::Mat photo = cv::imread(png.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(photo.empty());
  struct Expected {
    float age, male;
  };
  const Expected face_api[3] = {{52.78952f, 0.908496f}, {66.78739f, 0.004415f}, {67.66776f, 0.988963f}};
  for (size_t i = 0; i < 3; ++i) {
    Face face;
    face.landmarks68 = image->faces[i].landmarks68;
    face.box = image->faces[i].box;
    auto got = classifier->classify(photo, face);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    EXPECT_NEAR(got->age, face_api[i].age, 1e-3) << "face " << i;
    EXPECT_NEAR(got->male_probability, face_api[i].male, 1e-4) << "face " << i;
  }
}

TEST(AgeGenderClassifier, GroupPhotoGendersAndFilters) {
  auto faces = classified_group_faces();
  ASSERT_EQ(faces.size(), 3u);
  for (const auto& f : faces) ASSERT_TRUE(f.attributes.has_value());
  EXPECT_EQ(faces[0].attributes->gender(), Gender::kMale);
  EXPECT_EQ(faces[1].attributes->gender(), Gender::kFemale);
  EXPECT_EQ(faces[2].attributes->gender(), Gender::kMale);
  for (const auto& f : faces) {
    EXPECT_GT(f.attributes->age, 40.0f);  // all three are adults past 45 by eye
    EXPECT_LT(f.attributes->age, 80.0f);
  }
  const float woman_x = faces[1].box.x;

  // Mode one with gender female: the woman, although a man comes first in every order.
  FaceSelectorOptions options;
  options.mode = FaceSelectorMode::kOne;
  options.order = FaceSelectorOrder::kLeftRight;
  options.gender = Gender::kFemale;
  auto one = select_faces(faces, options);
  ASSERT_TRUE(one.is_ok()) << one.status().message();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(one->front().box.x, woman_x);

  // Mode many with gender male: the two men, in order.
  options.mode = FaceSelectorMode::kMany;
  options.gender = Gender::kMale;
  auto men = select_faces(faces, options);
  ASSERT_TRUE(men.is_ok());
  ASSERT_EQ(men->size(), 2u);
  EXPECT_LT(men->at(0).box.x, woman_x);
  EXPECT_GT(men->at(1).box.x, woman_x);

  // Age: the younger man alone below 60, the other two from 60 on.
  options.gender.reset();
  options.age_end = 59;
  auto young = select_faces(faces, options);
  ASSERT_TRUE(young.is_ok());
  ASSERT_EQ(young->size(), 1u);
  EXPECT_LT(young->front().box.x, woman_x);
  options.age_start = 60;
  options.age_end = kMaxFaceSelectorAge;
  auto older = select_faces(faces, options);
  ASSERT_TRUE(older.is_ok());
  EXPECT_EQ(older->size(), 2u);
}

TEST(AgeGenderClassifier, ReferenceModeFiltersTheReferenceFrame) {
  // FaceFusion's reference mode: the filters choose among the reference frame's faces, then
  // position 0 (order left-right) is the first woman, i.e. the middle face.
  auto faces = classified_group_faces();
  ASSERT_EQ(faces.size(), 3u);
  for (size_t i = 0; i < faces.size(); ++i) faces[i].embedding = {static_cast<float>(i)};
  FaceSelectorOptions options;
  options.order = FaceSelectorOrder::kLeftRight;
  options.gender = Gender::kFemale;
  auto reference = select_reference_face(faces, options);
  ASSERT_TRUE(reference.is_ok()) << reference.status().message();
  EXPECT_EQ(reference->box.x, faces[1].box.x);
  options.age_start = 90;  // nobody
  options.gender.reset();
  auto none = select_reference_face(faces, options);
  ASSERT_FALSE(none.is_ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNoFace);
  EXPECT_NE(none.status().message().find("gender/age filters"), std::string::npos);
}

TEST(AgeGenderClassifier, SingleFaceGenders) {
  auto classifier = open_classifier();
  ASSERT_NE(classifier, nullptr);
  FaceAnalyserOptions options;
  options.models_dir = models_dir();
  auto analyser = FaceAnalyser::open(options);
  ASSERT_TRUE(analyser.is_ok()) << analyser.status().message();
  struct Labelled {
    const char* photo;
    Gender gender;
  };
  for (const Labelled& l : {Labelled{"photos/astronaut.png", Gender::kFemale},
                            Labelled{"dlib_faces/Tom_Cruise_avp_2014_4.jpg", Gender::kMale}}) {
    const cv::Mat photo = load_photo(l.photo);
    auto faces = (*analyser)->analyse(photo);
    ASSERT_TRUE(faces.is_ok());
    ASSERT_FALSE(faces->empty()) << l.photo;
    const Face* face = largest_face(*faces);
    auto got = classifier->classify(photo, *face);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    EXPECT_EQ(got->gender(), l.gender) << l.photo << " P(male) " << got->male_probability;
    EXPECT_GT(got->age, 20.0f) << l.photo;
    EXPECT_LT(got->age, 75.0f) << l.photo;
  }
}

TEST(AgeGenderClassifier, CropBoxIsFaceApis) {
  // Points spanning x 10..110, y 20..70: grown by 10 % per side → x 0..120, y 15..75; clipped to
  // a 100×100 frame → 0, 15, 100, 60 (floored).
  Face face;
  face.landmarks68.assign(kLandmarkCount68, cv::Point2f(50, 40));
  face.landmarks68[0] = {10, 20};
  face.landmarks68[1] = {110, 70};
  auto box = AgeGenderClassifier::crop_box(face, {100, 100});
  ASSERT_TRUE(box.is_ok());
  EXPECT_EQ(*box, cv::Rect(0, 15, 100, 60));
  // Without 68 landmarks the face box is grown the same way.
  Face boxed;
  boxed.box = cv::Rect2f(20.5f, 30.5f, 50, 40);
  box = AgeGenderClassifier::crop_box(boxed, {200, 200});
  ASSERT_TRUE(box.is_ok());
  EXPECT_EQ(*box, cv::Rect(15, 26, 60, 48));  // 15.5, 26.5, 60, 48 floored
  // Outside the frame: nothing to crop, and classify says so instead of reading out of bounds.
  boxed.box = cv::Rect2f(500, 500, 50, 50);
  box = AgeGenderClassifier::crop_box(boxed, {200, 200});
  ASSERT_TRUE(box.is_ok());
  EXPECT_TRUE(box->empty());
  EXPECT_FALSE(AgeGenderClassifier::model_input(cv::Mat(200, 200, CV_8UC3, cv::Scalar::all(0)), boxed).is_ok());
}

TEST(AgeGenderClassifier, InputPadsCentredAndResizesLikeTensorFlow) {
  // A 224-wide, 112-high crop: padded to 224×224 with 56 black rows above and below, then halved
  // by the legacy resize, which samples source pixel 2d exactly (no half-pixel blend).
  cv::Mat frame(112, 224, CV_8UC3);
  for (int y = 0; y < frame.rows; ++y) {
    for (int x = 0; x < frame.cols; ++x) frame.at<cv::Vec3b>(y, x) = cv::Vec3b(x % 256, y, 200);  // B, G, R
  }
  // A box larger than the frame: the crop is the whole frame after clipping.
  Face face;
  face.box = cv::Rect2f(-10, -10, 300, 200);
  auto box = AgeGenderClassifier::crop_box(face, frame.size());
  ASSERT_TRUE(box.is_ok());
  ASSERT_EQ(*box, cv::Rect(0, 0, 224, 112));
  auto input = AgeGenderClassifier::model_input(frame, face);
  ASSERT_TRUE(input.is_ok()) << input.status().message();
  ASSERT_EQ(input->size(), cv::Size(112, 112));
  ASSERT_EQ(input->type(), CV_32FC3);
  // Rows 0..27 are the padding above (56 source rows), 28..83 the crop, 84..111 below.
  EXPECT_EQ(input->at<cv::Vec3f>(27, 5), cv::Vec3f(0, 0, 0));
  EXPECT_EQ(input->at<cv::Vec3f>(84, 5), cv::Vec3f(0, 0, 0));
  // Row 30 = source row 60 = crop row 4; column 7 = source column 14. RGB order.
  EXPECT_EQ(input->at<cv::Vec3f>(30, 7), cv::Vec3f(200, 4, 14));
  EXPECT_EQ(input->at<cv::Vec3f>(83, 111), cv::Vec3f(200, 110, 222));
}

TEST(FaceSelectorFilters, NeedAttributesAndValidRanges) {
  Face face;
  face.box = cv::Rect2f(0, 0, 10, 10);
  FaceSelectorOptions options;
  options.mode = FaceSelectorMode::kMany;
  EXPECT_FALSE(options.filters_faces());
  auto all = select_faces({face}, options);  // no filter: no attributes needed
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->size(), 1u);
  options.gender = Gender::kMale;
  EXPECT_TRUE(options.filters_faces());
  auto missing = select_faces({face}, options);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);

  // Ages in whole years: 29.9 is 29; the end of 100 is open.
  options.gender.reset();
  face.attributes = FaceAttributes{0.9f, 29.9f};
  options.age_start = 30;
  EXPECT_TRUE(select_faces({face}, options)->empty());
  options.age_start = 29;
  options.age_end = 29;
  EXPECT_EQ(select_faces({face}, options)->size(), 1u);
  face.attributes->age = 130.0f;
  options.age_end = kMaxFaceSelectorAge;
  EXPECT_EQ(select_faces({face}, options)->size(), 1u);

  for (auto [start, end] : {std::pair{-1, 100}, {0, 101}, {50, 40}}) {
    options.age_start = start;
    options.age_end = end;
    EXPECT_FALSE(validate_face_selector_options(options).is_ok()) << start << ".." << end;
  }
  EXPECT_EQ(*parse_face_selector_gender("female"), Gender::kFemale);
  EXPECT_EQ(*parse_face_selector_gender("male"), Gender::kMale);
  EXPECT_FALSE(parse_face_selector_gender("other").is_ok());
}

}  // namespace
}  // namespace facefuse::face
