// Face detectors on real labelled photos: dlib's 9 PASCAL VOC photos with 43 hand-checked faces
// (boxes in dlib's HOG convention), face-free photos, and group photos.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "face/dlib_ground_truth.h"
#include "facefuse/face/blazeface_detector.h"
#include "facefuse/face/detector_factory.h"
#include "facefuse/face/dlib_hog_detector.h"
#include "support/test_support.h"

namespace facefuse::face {
namespace {

using facefuse::testing::GroundTruthImage;
using facefuse::testing::iou;
using facefuse::testing::load_dlib_ground_truth;
using facefuse::testing::load_photo;
using facefuse::testing::models_dir;
using facefuse::testing::testdata;

// A detection matches a labelled face at IoU ≥ 0.45, a little under PASCAL's 0.5: the labels are
// dlib HOG boxes computed on dlib's own 2x pyramid_up image, and HOG boxes snap to 8 px cells and
// 6/5 scale steps, so even dlib_hog on our (bilinear) 2x image moves a 37 px box enough to reach
// IoU 0.50 (measured minimum: dlib_hog 0.50, blazeface 0.58 after its box fit).
constexpr float kMatchIou = 0.45f;
// Measured recall 42/43 (blazeface: one 37 px face at score 0.43) and 43/43 (dlib_hog).
constexpr float kMinRecall = 0.95f;
// Mean IoU of the matches. Measured: blazeface 0.82, dlib_hog 0.86.
constexpr float kMinMeanIou = 0.75f;
// Detections without a label over the 9 photos. Measured 0 for both; the VOC photos hold a few
// unlabelled (partly hidden, turned) faces, so one or two would not be wrong.
constexpr int kMaxUnmatched = 2;
// 5 points from the detector against the 5 points derived from the labelled 68, mean distance
// over the 5 points / eye distance. Measured: blazeface 0.145 (eyes, nose from the model, mouth
// corners estimated), dlib_hog 0.21 (all five from a fixed template in the box).
constexpr float kMaxMean5PointErrorBlazeFace = 0.25f;
constexpr float kMaxMean5PointErrorDlibHog = 0.30f;

DetectorOptions single_pass() {
  DetectorOptions o;
  o.min_face_size = 0;
  return o;
}
DetectorOptions short_range() {
  DetectorOptions o;
  o.blazeface_variant = BlazeFaceVariant::kShortRange;
  return o;
}
DetectorOptions with_threshold(float t) {
  DetectorOptions o;
  o.score_threshold = t;
  return o;
}

struct Evaluation {
  int labelled = 0;
  int matched = 0;
  int unmatched_detections = 0;
  double iou_sum = 0;
  double point5_error_sum = 0;
  int frontal_order_violations = 0;  // matched faces whose 5 points are not ordered left/right
  float recall() const { return labelled > 0 ? static_cast<float>(matched) / labelled : 0.0f; }
  double mean_iou() const { return matched > 0 ? iou_sum / matched : 0.0; }
  double mean_point5_error() const { return matched > 0 ? point5_error_sum / matched : 0.0; }
};

std::vector<GroundTruthImage> labelled_photos() {
  std::vector<GroundTruthImage> all;
  for (const char* xml : {"dlib_faces/training_with_face_landmarks.xml", "dlib_faces/testing_with_face_landmarks.xml"}) {
    for (auto& image : load_dlib_ground_truth(testdata(xml))) {
      image.file = "dlib_faces/" + image.file;
      all.push_back(std::move(image));
    }
  }
  return all;
}

// Greedy one-to-one matching, best IoU first.
void evaluate_image(const GroundTruthImage& truth, const std::vector<Detection>& detections, Evaluation& e,
                    bool report_misses = true) {
  struct Pair {
    float iou;
    size_t label, detection;
  };
  std::vector<Pair> pairs;
  for (size_t l = 0; l < truth.faces.size(); ++l) {
    for (size_t d = 0; d < detections.size(); ++d) {
      const float v = iou(truth.faces[l].box, detections[d].box);
      if (v >= kMatchIou) pairs.push_back({v, l, d});
    }
  }
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.iou > b.iou; });
  std::vector<bool> label_used(truth.faces.size()), detection_used(detections.size());
  for (const auto& p : pairs) {
    if (label_used[p.label] || detection_used[p.detection]) continue;
    label_used[p.label] = detection_used[p.detection] = true;
    ++e.matched;
    e.iou_sum += p.iou;
    const Landmarks5 expected = landmarks5_from_68(truth.faces[p.label].landmarks68);
    const Landmarks5& got = detections[p.detection].landmarks5;
    const double eye_distance = cv::norm(expected[1] - expected[0]);
    double sum = 0;
    for (int k = 0; k < 5; ++k) sum += cv::norm(got[k] - expected[k]);
    e.point5_error_sum += sum / 5 / eye_distance;
    // The labelled faces are all roughly frontal and upright.
    const bool ordered = got[0].x < got[1].x && got[3].x < got[4].x && got[0].y < got[3].y && got[1].y < got[4].y;
    if (!ordered) ++e.frontal_order_violations;
  }
  e.labelled += static_cast<int>(truth.faces.size());
  e.unmatched_detections += static_cast<int>(std::count(detection_used.begin(), detection_used.end(), false));
  for (size_t l = 0; l < truth.faces.size() && report_misses; ++l) {
    if (!label_used[l]) {
      const auto& b = truth.faces[l].box;
      std::printf("  missed the %.0f px face at (%.0f, %.0f) of %s\n", b.width, b.x, b.y, truth.file.c_str());
    }
  }
}

Evaluation evaluate(const FaceDetector& detector, const std::vector<GroundTruthImage>& photos) {
  Evaluation e;
  for (const auto& truth : photos) {
    const cv::Mat image = load_photo(truth.file);
    auto detections = detector.detect(image);
    EXPECT_TRUE(detections.is_ok()) << detections.status().to_string();
    if (detections.is_ok()) evaluate_image(truth, *detections, e);
  }
  std::printf("  %s: recall %d/%d, unmatched detections %d, mean IoU %.3f, mean 5-point error %.3f\n",
              std::string(detector.name()).c_str(), e.matched, e.labelled, e.unmatched_detections, e.mean_iou(),
              e.mean_point5_error());
  return e;
}

// dlib's 9 labelled photos side by side in a 3 x 3 grid of 500 x 500 cells (1500 x 1500, black
// between photos): a synthetic large frame with 43 small (37–109 px) real faces.
struct Mosaic {
  cv::Mat image;
  GroundTruthImage truth;
};
Mosaic labelled_mosaic() {
  Mosaic m;
  m.image = cv::Mat(1500, 1500, CV_8UC3, cv::Scalar::all(0));
  m.truth.file = "mosaic";
  int cell = 0;
  for (const auto& photo : labelled_photos()) {
    const cv::Mat img = load_photo(photo.file);
    const int ox = (cell % 3) * 500, oy = (cell / 3) * 500;
    ++cell;
    img.copyTo(m.image(cv::Rect(ox, oy, img.cols, img.rows)));
    for (auto face : photo.faces) {
      face.box.x += static_cast<float>(ox);
      face.box.y += static_cast<float>(oy);
      for (auto& p : face.landmarks68) p += cv::Point2f(static_cast<float>(ox), static_cast<float>(oy));
      m.truth.faces.push_back(face);
    }
  }
  return m;
}

// Both detectors are created once, as a job would, through the factory with default options.
class FaceDetectors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto blaze = create_face_detector("blazeface", models_dir());
    if (blaze.is_ok()) blazeface_ = *blaze;
    auto hog = create_face_detector("dlib_hog", models_dir());
    if (hog.is_ok()) dlib_hog_ = *hog;
  }
  static void TearDownTestSuite() {
    blazeface_.reset();
    dlib_hog_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(blazeface_) << "blazeface_back_256.onnx missing in " << models_dir() << ": run scripts/setup";
    ASSERT_TRUE(dlib_hog_);
  }
  static size_t count_faces(const FaceDetector& detector, const std::string& photo) {
    auto r = detector.detect(load_photo(photo));
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r->size() : 0;
  }

  static inline std::shared_ptr<FaceDetector> blazeface_;
  static inline std::shared_ptr<FaceDetector> dlib_hog_;
};

TEST_F(FaceDetectors, BlazeFaceFindsTheLabelledFacesOfDlibsPhotos) {
  const Evaluation e = evaluate(*blazeface_, labelled_photos());
  EXPECT_EQ(e.labelled, 43);
  EXPECT_GE(e.recall(), kMinRecall);
  EXPECT_GE(e.mean_iou(), kMinMeanIou);
  EXPECT_LE(e.unmatched_detections, kMaxUnmatched);
  EXPECT_LE(e.mean_point5_error(), kMaxMean5PointErrorBlazeFace);
  EXPECT_EQ(e.frontal_order_violations, 0);
}

TEST_F(FaceDetectors, DlibHogFindsTheLabelledFacesOfDlibsPhotos) {
  const Evaluation e = evaluate(*dlib_hog_, labelled_photos());
  EXPECT_EQ(e.labelled, 43);
  EXPECT_GE(e.recall(), kMinRecall);
  EXPECT_GE(e.mean_iou(), kMinMeanIou);
  EXPECT_LE(e.unmatched_detections, kMaxUnmatched);
  EXPECT_LE(e.mean_point5_error(), kMaxMean5PointErrorDlibHog);
  EXPECT_EQ(e.frontal_order_violations, 0);
}

// The labelled faces shrink to 6–17 model pixels when the 1500 px mosaic is letterboxed whole;
// tiles for 40 px faces (the default) bring them back. Measured: 7/43 single pass, 43/43 tiled.
TEST_F(FaceDetectors, BlazeFaceTilingFindsSmallFacesInALargeFrame) {
  const Mosaic mosaic = labelled_mosaic();
  auto single = create_face_detector("blazeface", models_dir(), single_pass());
  ASSERT_TRUE(single.is_ok()) << single.status().to_string();

  Evaluation tiled_eval, single_eval;
  auto tiled_faces = blazeface_->detect(mosaic.image);
  auto single_faces = (*single)->detect(mosaic.image);
  ASSERT_TRUE(tiled_faces.is_ok() && single_faces.is_ok());
  evaluate_image(mosaic.truth, *tiled_faces, tiled_eval);
  evaluate_image(mosaic.truth, *single_faces, single_eval, /*report_misses=*/false);
  std::printf("  mosaic recall: tiled %d/%d (%d unmatched), single pass %d/%d\n", tiled_eval.matched,
              tiled_eval.labelled, tiled_eval.unmatched_detections, single_eval.matched, single_eval.labelled);
  EXPECT_GE(tiled_eval.recall(), kMinRecall);
  EXPECT_LE(tiled_eval.unmatched_detections, kMaxUnmatched);
  EXPECT_GE(tiled_eval.mean_iou(), kMinMeanIou);
  EXPECT_LT(single_eval.recall(), 0.5f);
}

TEST_F(FaceDetectors, FindNoFaceInPhotosOfDogs) {
  // dogs.jpg: four dogs; donna.jpg (kphotoalbum's demo): a black dog in a forest.
  for (const char* photo : {"dlib_faces/dogs.jpg", "photos/donna.jpg"}) {
    EXPECT_EQ(count_faces(*blazeface_, photo), 0u) << photo;
    EXPECT_EQ(count_faces(*dlib_hog_, photo), 0u) << photo;
  }
}

// camera.png (scikit-image's "cameraman") does show a face, in three-quarter view behind the
// camera: the frontal-only HOG detector finds nothing, BlazeFace finds exactly that face.
TEST_F(FaceDetectors, FindOnlyTheCameramansFaceInCameraPng) {
  EXPECT_EQ(count_faces(*dlib_hog_, "photos/camera.png"), 0u);
  auto faces = blazeface_->detect(load_photo("photos/camera.png"));
  ASSERT_TRUE(faces.is_ok());
  ASSERT_EQ(faces->size(), 1u);
  const cv::Rect2f head(170, 90, 110, 120);  // the cameraman's head, by eye
  const cv::Point2f centre = ((*faces)[0].box.tl() + (*faces)[0].box.br()) * 0.5f;
  EXPECT_TRUE(head.contains(centre)) << centre;
}

TEST_F(FaceDetectors, FindTheOneFaceInAstronautPng) {
  const cv::Rect2f face(176, 77, 90, 90);  // dlib_hog's box, checked by eye
  for (const auto& detector : {blazeface_, dlib_hog_}) {
    auto faces = detector->detect(load_photo("photos/astronaut.png"));
    ASSERT_TRUE(faces.is_ok());
    ASSERT_EQ(faces->size(), 1u) << detector->name();
    EXPECT_GE(iou((*faces)[0].box, face), 0.6f) << detector->name();
  }
}

// Every face of the group photos (counted by eye): 1920 px frames with 150–260 px faces, one in
// profile, plus dlib's bald_guys.jpg collage (24 faces of 95–290 px in 1986 x 1545).
TEST_F(FaceDetectors, BlazeFaceFindsEveryFaceInGroupPhotos) {
  const std::vector<std::pair<std::string, size_t>> photos = {
      {"photos/sample1.jpg", 3}, {"photos/sample2.jpg", 3}, {"photos/sample3.jpg", 3},
      {"photos/sample4.jpg", 4}, {"photos/sample5.jpg", 5}, {"photos/sample6.jpg", 4},
      {"photos/qt-logo.jpg", 3}, {"dlib_faces/bald_guys.jpg", 24}, {"dlib_faces/Tom_Cruise_avp_2014_4.jpg", 1}};
  for (const auto& [photo, count] : photos) EXPECT_EQ(count_faces(*blazeface_, photo), count) << photo;
}

TEST_F(FaceDetectors, ReturnBestScoreFirstWithScoresInUnitRangeAndBoxesInTheImage) {
  const cv::Mat image = load_photo("dlib_faces/2008_007676.jpg");
  for (const auto& detector : {blazeface_, dlib_hog_}) {
    auto faces = detector->detect(image);
    ASSERT_TRUE(faces.is_ok());
    ASSERT_GE(faces->size(), 5u) << detector->name();
    for (size_t i = 0; i < faces->size(); ++i) {
      const Detection& d = (*faces)[i];
      EXPECT_GT(d.score, 0.0f);
      EXPECT_LE(d.score, 1.0f);
      if (i > 0) {
        EXPECT_GE((*faces)[i - 1].score, d.score);
      }
      const cv::Point2f centre = (d.box.tl() + d.box.br()) * 0.5f;
      EXPECT_TRUE(cv::Rect2f(0, 0, static_cast<float>(image.cols), static_cast<float>(image.rows)).contains(centre));
    }
  }
}

// Letterboxing must not distort: a face moved into a wide canvas keeps its box, shifted.
TEST_F(FaceDetectors, BlazeFaceMapsBoxesBackThroughTheLetterbox) {
  const cv::Mat photo = load_photo("photos/astronaut.png");
  cv::Mat wide(photo.rows, photo.cols * 2, CV_8UC3, cv::Scalar::all(128));
  const int offset = 400;
  photo.copyTo(wide(cv::Rect(offset, 0, photo.cols, photo.rows)));
  auto single = create_face_detector("blazeface", models_dir(), single_pass());
  ASSERT_TRUE(single.is_ok());
  auto a = (*single)->detect(photo);
  auto b = (*single)->detect(wide);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  ASSERT_EQ(a->size(), 1u);
  ASSERT_EQ(b->size(), 1u);
  cv::Rect2f moved = (*a)[0].box;
  moved.x += offset;
  // The wide frame is letterboxed at half the scale, so allow a few source pixels of difference.
  EXPECT_GE(iou(moved, (*b)[0].box), 0.8f);
  EXPECT_NEAR((*a)[0].box.width, (*b)[0].box.width, 0.1f * (*a)[0].box.width);
}

TEST_F(FaceDetectors, AreSafeToCallFromManyThreads) {
  const std::vector<std::string> photos = {"dlib_faces/2008_002506.jpg", "dlib_faces/2008_001322.jpg",
                                           "photos/qt-logo.jpg", "photos/astronaut.png"};
  std::vector<cv::Mat> images;
  for (const auto& p : photos) images.push_back(load_photo(p));
  for (const auto& detector : {blazeface_, dlib_hog_}) {
    std::vector<std::vector<Detection>> expected;
    for (const auto& img : images) expected.push_back(detector->detect(img).value());
    std::vector<std::vector<Detection>> got(images.size() * 3);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t) {
      threads.emplace_back([&, t] {
        auto r = detector->detect(images[t % images.size()]);
        if (r.is_ok()) got[t] = std::move(r).value();
      });
    }
    for (auto& t : threads) t.join();
    for (size_t t = 0; t < got.size(); ++t) {
      const auto& want = expected[t % images.size()];
      ASSERT_EQ(got[t].size(), want.size()) << detector->name() << " " << photos[t % images.size()];
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[t][i].box, want[i].box);
        EXPECT_EQ(got[t][i].score, want[i].score);
      }
    }
  }
}

TEST_F(FaceDetectors, RejectImagesThatAreNotBgr) {
  const cv::Mat gray(100, 100, CV_8UC1, cv::Scalar(0));
  for (const auto& detector : {blazeface_, dlib_hog_}) {
    EXPECT_EQ(detector->detect(cv::Mat()).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(detector->detect(gray).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST_F(FaceDetectors, ReturnNoFaceForTinyOrExtremeFrames) {
  const cv::Mat tiny(8, 8, CV_8UC3, cv::Scalar(90, 120, 200));
  cv::Mat panorama(240, 4000, CV_8UC3, cv::Scalar::all(30));  // plain, very wide
  for (const auto& detector : {blazeface_, dlib_hog_}) {
    for (const cv::Mat* img : std::array<const cv::Mat*, 2>{&tiny, &panorama}) {
      auto faces = detector->detect(*img);
      ASSERT_TRUE(faces.is_ok()) << faces.status().to_string();
      EXPECT_TRUE(faces->empty()) << detector->name() << " " << img->cols << "x" << img->rows;
    }
  }
}

// Reported, not asserted (timing belongs to bench/): ms per image on a 640x480 and a 1920x1280
// photo with the default options, best of 3 runs.
TEST_F(FaceDetectors, ReportTimePerImage) {
  cv::Mat small;
  cv::resize(load_photo("photos/qt-logo.jpg"), small, cv::Size(640, 480), 0, 0, cv::INTER_AREA);
  const cv::Mat large = load_photo("photos/sample1.jpg");  // 1920 x 1280
  auto single = create_face_detector("blazeface", models_dir(), single_pass());
  ASSERT_TRUE(single.is_ok());
  for (const auto& detector : {blazeface_, *single, dlib_hog_}) {
    for (const cv::Mat* img : std::array<const cv::Mat*, 2>{&small, &large}) {
      double best = 1e9;
      size_t faces = 0;
      for (int i = 0; i < 3; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = detector->detect(*img);
        best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        ASSERT_TRUE(r.is_ok());
        faces = r->size();
      }
      std::printf("  %s%s %dx%d: %.1f ms, %zu faces\n", std::string(detector->name()).c_str(),
                  detector == *single ? " (single pass)" : "", img->cols, img->rows, best, faces);
    }
  }
}

TEST(BlazeFaceDetector, PlansOneRegionForSmallFramesAndOverlappingTilesForLargeOnes) {
  BlazeFaceDetector::Options options;  // min_face_size 40 → finest tiles of 512 px
  auto detector = BlazeFaceDetector::open(models_dir() / "blazeface_back_256.onnx", options);
  ASSERT_TRUE(detector.is_ok()) << detector.status().to_string();
  EXPECT_EQ((*detector)->plan_tiles(cv::Size(500, 375)).size(), 1u);
  const cv::Size large(1920, 1280);
  const auto tiles = (*detector)->plan_tiles(large);
  ASSERT_EQ(tiles.size(), 22u);  // whole frame + 3x2 tiles of 1024 + 5x3 tiles of 512
  EXPECT_EQ(tiles[0], cv::Rect(0, 0, 1920, 1280));
  // Every point of the frame is in a finest tile, and neighbouring finest tiles overlap by at
  // least a quarter of their side (so a face up to 128 px lies whole in one of them).
  for (int y = 0; y < large.height; y += 37) {
    for (int x = 0; x < large.width; x += 37) {
      const cv::Rect face(std::min(x, large.width - 128), std::min(y, large.height - 128), 128, 128);
      const bool inside = std::any_of(tiles.begin() + 7, tiles.end(), [&](const cv::Rect& t) { return (t & face) == face; });
      EXPECT_TRUE(inside) << face;
    }
  }
  BlazeFaceDetector::Options single = options;
  single.min_face_size = 0;
  auto one = BlazeFaceDetector::open(models_dir() / "blazeface_back_256.onnx", single);
  ASSERT_TRUE(one.is_ok());
  EXPECT_EQ((*one)->plan_tiles(large).size(), 1u);
}

TEST(BlazeFaceDetector, ShortRangeModelFindsCloseUps) {
  auto detector = create_face_detector("blazeface", models_dir(), short_range());
  ASSERT_TRUE(detector.is_ok()) << detector.status().to_string();
  for (const char* photo : {"photos/jesper.jpg", "dlib_faces/Tom_Cruise_avp_2014_4.jpg", "photos/astronaut.png"}) {
    auto faces = (*detector)->detect(load_photo(photo));
    ASSERT_TRUE(faces.is_ok());
    EXPECT_EQ(faces->size(), 1u) << photo;
  }
}

TEST(BlazeFaceDetector, RejectsAModelWithTheWrongContract) {
  BlazeFaceDetector::Options options;  // full range expects 256 x 256
  auto r = BlazeFaceDetector::open(models_dir() / "blazeface_front_128.onnx", options);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("[1,256,256,3]"), std::string::npos) << r.status().message();
}

TEST(DlibHogDetector, UpsamplesSmallFramesOnlyByDefault) {
  auto detector = DlibHogDetector::create({});
  ASSERT_TRUE(detector.is_ok());
  EXPECT_EQ((*detector)->upsample_count(cv::Size(500, 375)), 1);   // 80 px → 40 px faces
  EXPECT_EQ((*detector)->upsample_count(cv::Size(640, 480)), 1);
  EXPECT_EQ((*detector)->upsample_count(cv::Size(1920, 1280)), 0);  // doubling would cost ~4x
  DlibHogDetector::Options two;
  two.upsample = 2;
  auto fixed = DlibHogDetector::create(two);
  ASSERT_TRUE(fixed.is_ok());
  EXPECT_EQ((*fixed)->upsample_count(cv::Size(1920, 1280)), 2);
  two.upsample = 7;
  EXPECT_EQ(DlibHogDetector::create(two).status().code(), StatusCode::kInvalidArgument);
}

TEST(FaceDetectorFactory, RejectsAnUnknownNameListingTheValidOnes) {
  auto r = create_face_detector("yolo_face_v9", models_dir());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("blazeface"), std::string::npos);
  EXPECT_NE(r.status().message().find("dlib_hog"), std::string::npos);
}

TEST(FaceDetectorFactory, AMissingModelIsAFailedPreconditionNamingTheFileAndSetup) {
  facefuse::testing::TempDir empty;
  auto r = create_face_detector("blazeface", empty.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("blazeface_back_256.onnx"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("scripts/setup"), std::string::npos) << r.status().message();
  // dlib_hog needs no file.
  EXPECT_TRUE(create_face_detector("dlib_hog", empty.path()).is_ok());
}

TEST(FaceDetectorFactory, RejectsAScoreThresholdOutsideTheUnitRange) {
  EXPECT_EQ(create_face_detector("blazeface", models_dir(), with_threshold(1.5f)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(create_face_detector("dlib_hog", models_dir(), with_threshold(-0.1f)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(FaceDetectorFactory, NamesTheDefaultFirst) {
  ASSERT_FALSE(face_detector_names().empty());
  EXPECT_EQ(face_detector_names().front(), kDefaultFaceDetector);
  EXPECT_EQ(face_landmarker_names().front(), kDefaultFaceLandmarker);
}

}  // namespace
}  // namespace facefuse::face
