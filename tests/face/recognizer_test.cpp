// DlibRecognizer on real photos: identity distances, invariance to flips and rescaling, the face
// chip against dlib's own, and reference selection end to end.
//
// Landmarks come from dlib directly (HOG detector + the 68-point shape predictor that setup
// installs), not from facefuse's detectors, so these tests measure the recognizer alone.
//
// Identities were assigned by looking at the photos (see the catalogue below); faces whose
// identity we could not decide by eye are listed as "unsure" pairs and left out of the
// different-person set.
#include "facefuse/face/dlib_recognizer.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv/cv_image.h>
#include <dlib/opencv/to_open_cv.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face/dlib_ground_truth.h"
#include "facefuse/face/face_selector.h"
#include "support/test_support.h"

namespace facefuse::face {
namespace {

using facefuse::testing::load_photo;
using facefuse::testing::models_dir;
using facefuse::testing::testdata;

// ---------------------------------------------------------------------------------------------
// Test-only landmarking with dlib itself.

class DlibLandmarks {
 public:
  static DlibLandmarks& get() {
    static DlibLandmarks instance;
    return instance;
  }
  bool ok() const { return ok_; }

  // All faces dlib's HOG detector finds, with 68 landmarks (whole pixels, as dlib returns them)
  // and the 5 points derived from them. Large frames are searched at ≤ 1000 px for speed; small
  // ones with one 2× upsampling so that 40 px faces are found.
  std::vector<Face> faces(const cv::Mat& bgr) {
    const double scale = std::min(1.0, 1000.0 / std::max(bgr.cols, bgr.rows));
    cv::Mat search;
    cv::resize(bgr, search, {}, scale, scale, cv::INTER_AREA);
    dlib::array2d<dlib::bgr_pixel> img;
    dlib::assign_image(img, dlib::cv_image<dlib::bgr_pixel>(search));
    double to_frame = 1.0 / scale;
    if (scale == 1.0 && std::max(bgr.cols, bgr.rows) <= 1000) {
      dlib::pyramid_up(img);
      to_frame = 0.5;
    }
    std::vector<dlib::rectangle> boxes;
    {
      std::lock_guard lock(mutex_);  // the detector keeps scratch state
      boxes = detector_(img);
    }
    const dlib::cv_image<dlib::bgr_pixel> frame(bgr);
    std::vector<Face> out;
    for (const auto& r : boxes) {
      const dlib::rectangle box(std::lround(r.left() * to_frame), std::lround(r.top() * to_frame),
                                std::lround(r.right() * to_frame), std::lround(r.bottom() * to_frame));
      const auto shape = predictor_(frame, box);
      Face face;
      face.box = cv::Rect2f(box.left(), box.top(), box.width(), box.height());
      face.score = 1.0f;
      for (unsigned long i = 0; i < shape.num_parts(); ++i) {
        face.landmarks68.emplace_back(shape.part(i).x(), shape.part(i).y());
      }
      face.landmarks5 = landmarks5_from_68(face.landmarks68);
      out.push_back(std::move(face));
    }
    return out;
  }

  dlib::full_object_detection shape(const cv::Mat& bgr, const cv::Rect2f& box) {
    const dlib::cv_image<dlib::bgr_pixel> frame(bgr);
    return predictor_(frame, dlib::rectangle(box.x, box.y, box.x + box.width - 1, box.y + box.height - 1));
  }

 private:
  DlibLandmarks() {
    detector_ = dlib::get_frontal_face_detector();
    try {
      dlib::deserialize((models_dir() / "dlib_shape_predictor_68.dat").string()) >> predictor_;
      ok_ = true;
    } catch (const std::exception&) {
      ok_ = false;
    }
  }
  std::mutex mutex_;
  dlib::frontal_face_detector detector_;
  dlib::shape_predictor predictor_;
  bool ok_ = false;
};

// The face whose box contains `inside` (frame pixels); fails the test when there is not exactly one.
std::optional<Face> face_at(const std::vector<Face>& faces, cv::Point2f inside, const std::string& what) {
  std::optional<Face> found;
  int count = 0;
  for (const auto& f : faces) {
    if (f.box.contains(inside)) {
      found = f;
      ++count;
    }
  }
  EXPECT_EQ(count, 1) << what << ": expected exactly one detected face containing " << inside;
  return count == 1 ? found : std::nullopt;
}

std::shared_ptr<DlibRecognizer> open_recognizer() {
  auto r = DlibRecognizer::open(models_dir());
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : nullptr;
}

// ---------------------------------------------------------------------------------------------
// The catalogue: which face in which photo is whom.

struct CatalogueFace {
  std::string photo;      // under the test-data root
  cv::Point2f inside;     // a point inside the face's box, frame pixels (EXIF orientation applied)
  std::string identity;
};

// Same-person groups (decided by eye): "jesper" is the man in jesper.jpg, jesper_2.jpg, both bar
// photos and the middle man of qt-logo.jpg (kphotoalbum's demo album; same face shape, eyes and
// hair under different light and hair styles); "bar_blonde" is the woman beside him in both bar
// photos (same evening); "redhead" is the strawberry-blonde woman of sample1.jpg (right) and
// sample3.jpg (middle). Everyone else is taken to appear once, except the unsure pairs below.
// Left out: cold_water.jpg, grand_canyon_2.jpg and new_wave_2.jpg (possibly Jesper, behind
// sunglasses, a hat or many years); donna*.jpg show a dog and spiff*.jpg a rabbit.
const std::vector<CatalogueFace> kCatalogue = {
    {"photos/jesper.jpg", {426, 272}, "jesper"},
    {"photos/jesper_2.jpg", {365, 276}, "jesper"},
    {"photos/bar55.jpg", {409, 230}, "jesper"},
    {"photos/bar55_2.jpg", {434, 190}, "jesper"},
    {"photos/qt-logo.jpg", {420, 176}, "jesper"},
    {"photos/bar55.jpg", {325, 302}, "bar_blonde"},
    {"photos/bar55_2.jpg", {325, 206}, "bar_blonde"},
    {"photos/sample1.jpg", {1566, 350}, "redhead"},
    {"photos/sample3.jpg", {1165, 372}, "redhead"},
    {"photos/bar55.jpg", {52, 201}, "bar_glasses"},
    {"photos/qt-logo.jpg", {624, 108}, "qt_glasses"},
    {"photos/qt-logo.jpg", {233, 147}, "qt_left"},
    {"photos/sample1.jpg", {488, 488}, "s1_clown"},
    {"photos/sample1.jpg", {946, 580}, "s1_dark"},
    {"photos/sample2.jpg", {1543, 304}, "s2_brunette"},
    {"photos/sample3.jpg", {671, 488}, "s3_curly_blonde"},
    {"photos/sample3.jpg", {1612, 465}, "s3_dark"},
    {"photos/sample4.jpg", {1324, 292}, "s4_blonde"},
    {"photos/sample4.jpg", {717, 212}, "s4_highlights"},
    {"photos/sample4.jpg", {1038, 304}, "s4_brunette"},
    {"photos/sample5.jpg", {717, 557}, "s5_a"},
    {"photos/sample5.jpg", {1189, 331}, "s5_b"},
    {"photos/sample5.jpg", {488, 1038}, "s5_c"},
    {"photos/sample5.jpg", {878, 212}, "s5_d"},
    {"photos/sample5.jpg", {1497, 557}, "s5_e"},
    {"photos/sample6.jpg", {1268, 488}, "s6_striped"},
    {"photos/sample6.jpg", {373, 648}, "s6_green"},
    {"photos/sample6.jpg", {751, 476}, "s6_maroon"},
    {"photos/sample6.jpg", {1576, 448}, "s6_greentop"},
    {"photos/astronaut.png", {222, 122}, "collins"},
    {"dlib_faces/Tom_Cruise_avp_2014_4.jpg", {270, 484}, "cruise"},
    {"photos/anne_helene.jpg", {185, 193}, "anne_helene"},
};

// Pairs that may be the same person; we could not tell by eye, so they count as neither.
const std::set<std::pair<std::string, std::string>> kUnsurePairs = {
    {"s4_highlights", "s6_striped"}, {"s1_dark", "s6_maroon"},   {"s2_brunette", "s4_brunette"},
    {"s3_curly_blonde", "s4_blonde"}, {"s5_a", "s6_green"},      {"anne_helene", "bar_blonde"},
};

bool unsure(const std::string& a, const std::string& b) {
  return kUnsurePairs.count({a, b}) > 0 || kUnsurePairs.count({b, a}) > 0;
}

struct Embedded {
  std::string label;  // photo#identity
  std::string identity;
  std::vector<float> descriptor;
};

// Descriptors of the catalogue plus the 43 faces of dlib's 9 PASCAL VOC photos (landmarks from
// dlib's labelled XML; every face in one photo is a different person, and the photos come from
// unrelated events, so each counts as its own identity).
class RecognizerOnRealPhotos : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    recognizer_ = open_recognizer();
    if (!recognizer_ || !DlibLandmarks::get().ok()) return;
    std::map<std::string, std::vector<Face>> detected;
    for (const auto& c : kCatalogue) {
      const cv::Mat img = load_photo(c.photo);
      if (img.empty()) continue;
      if (!detected.count(c.photo)) detected[c.photo] = DlibLandmarks::get().faces(img);
      auto face = face_at(detected[c.photo], c.inside, c.photo);
      if (!face) continue;
      auto d = recognizer_->embed(img, *face);
      EXPECT_TRUE(d.is_ok()) << d.status().to_string();
      if (d.is_ok()) embedded_.push_back({c.photo + "#" + c.identity, c.identity, *d});
    }
    const auto dir = testdata("dlib_faces");
    for (const char* xml : {"training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"}) {
      for (const auto& image : facefuse::testing::load_dlib_ground_truth(dir / xml)) {
        const cv::Mat img = load_photo("dlib_faces/" + image.file);
        for (size_t i = 0; i < image.faces.size(); ++i) {
          Face face;
          face.box = image.faces[i].box;
          face.landmarks68 = image.faces[i].landmarks68;
          if (!face.has_landmarks68()) continue;
          face.landmarks5 = landmarks5_from_68(face.landmarks68);
          auto d = recognizer_->embed(img, face);
          EXPECT_TRUE(d.is_ok()) << d.status().to_string();
          const std::string id = "voc_" + image.file + "#" + std::to_string(i);
          if (d.is_ok()) embedded_.push_back({id, id, *d});
        }
      }
    }
  }
  static void TearDownTestSuite() {
    embedded_.clear();
    recognizer_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(recognizer_) << "dlib_face_recognition_resnet.onnx missing: run scripts/setup";
    ASSERT_TRUE(DlibLandmarks::get().ok()) << "dlib_shape_predictor_68.dat missing: run scripts/setup";
  }

  static inline std::shared_ptr<DlibRecognizer> recognizer_;
  static inline std::vector<Embedded> embedded_;
};

struct Pairs {
  std::vector<std::pair<float, std::string>> same, different;  // ascending distance
};

Pairs pair_distances(const DlibRecognizer& recognizer, const std::vector<Embedded>& faces) {
  Pairs p;
  for (size_t i = 0; i < faces.size(); ++i) {
    for (size_t j = i + 1; j < faces.size(); ++j) {
      const float d = recognizer.distance(faces[i].descriptor, faces[j].descriptor);
      const std::string pair = faces[i].label + " ~ " + faces[j].label;
      if (faces[i].identity == faces[j].identity) {
        p.same.emplace_back(d, pair);
      } else if (!unsure(faces[i].identity, faces[j].identity)) {
        p.different.emplace_back(d, pair);
      }
    }
  }
  std::sort(p.same.begin(), p.same.end());
  std::sort(p.different.begin(), p.different.end());
  return p;
}

// The set: 32 catalogue faces (75–460 px) + 43 VOC faces (37–80 px), 12 same-person pairs and
// ≈ 2 750 different-person pairs. Measured when written (distances, dlib rule 0.6):
//   same person       0.21 … 0.559 (hardest: jesper_2 ~ bar55, where his eyes are closed)
//   different people  min 0.471, 1 % quantile 0.576, median 0.80; 2.0 % of pairs under 0.6
// The closest impostors are small VOC faces, above all the elderly people of 2007_007763 —
// dlib's known weak spot (its training faces are mostly adult and Western; the uint8-quantised
// weights of face-api's copy may add to it). So "every same pair below the closest of 2 750
// impostors" does not hold for this model on this set, and it would test dlib's worst case
// rather than our pipeline.
// What is asserted instead:
//   1. every same-person pair is under the recognizer's own threshold (dlib's 0.6);
//   2. the hardest same-person pair is closer than the 1 % quantile of different-person pairs
//      (at most 1 in 100 impostor pairs is closer than any genuine pair; measured 0.6 %);
//   3. identification: for every face that has a same-person partner in the set, its nearest
//      face (among all 74 others, unsure pairs excepted) is that same person — what a
//      reference selection needs;
//   4. dlib's 0.6 rule accepts at most 3 % of different-person pairs (measured 2.0 %).
TEST_F(RecognizerOnRealPhotos, SamePersonPairsAreCloserThanDifferentPersonPairs) {
  ASSERT_EQ(embedded_.size(), kCatalogue.size() + 43);
  const auto [same, different] = pair_distances(*recognizer_, embedded_);
  ASSERT_EQ(same.size(), 10u + 1u + 1u);  // C(5,2) jesper + bar_blonde + redhead
  const float threshold = recognizer_->same_person_threshold();
  const auto quantile = [&](double q) { return different[static_cast<size_t>(q * different.size())].first; };
  const long impostors_under_threshold =
      std::count_if(different.begin(), different.end(), [&](const auto& p) { return p.first < threshold; });
  for (const auto& [d, pair] : same) std::cout << "  same      " << d << "  " << pair << "\n";
  for (size_t k = 0; k < 3; ++k) std::cout << "  different " << different[k].first << "  " << different[k].second << "\n";
  std::cout << "  different-person pairs: " << different.size() << ", 1% quantile " << quantile(0.01) << ", median "
            << quantile(0.5) << ", under " << threshold << ": " << impostors_under_threshold << "\n";

  const auto& hardest_same = same.back();
  EXPECT_LT(hardest_same.first, threshold) << hardest_same.second;
  EXPECT_LT(hardest_same.first, quantile(0.01)) << hardest_same.second;
  EXPECT_LE(impostors_under_threshold, static_cast<long>(different.size() * 3 / 100));

  for (size_t i = 0; i < embedded_.size(); ++i) {
    const auto& face = embedded_[i];
    const bool has_partner = std::any_of(embedded_.begin(), embedded_.end(), [&](const Embedded& e) {
      return &e != &face && e.identity == face.identity;
    });
    if (!has_partner) continue;
    float nearest = std::numeric_limits<float>::infinity();
    const Embedded* nearest_face = nullptr;
    for (const auto& other : embedded_) {
      if (&other == &face || unsure(face.identity, other.identity)) continue;
      const float d = recognizer_->distance(face.descriptor, other.descriptor);
      if (d < nearest) {
        nearest = d;
        nearest_face = &other;
      }
    }
    ASSERT_NE(nearest_face, nullptr);
    EXPECT_EQ(nearest_face->identity, face.identity)
        << face.label << " is nearest to " << nearest_face->label << " (" << nearest << ")";
  }
}

// The descriptor is the raw 128-d output: not unit length (norms measured 1.3–1.6 on real faces),
// which is why the distance scale is dlib's own and not FaceFusion's cosine scale.
TEST_F(RecognizerOnRealPhotos, DescriptorsAre128dAndNotNormalised) {
  float lowest = std::numeric_limits<float>::infinity(), highest = 0;
  for (const auto& e : embedded_) {
    ASSERT_EQ(e.descriptor.size(), 128u);
    double n = 0;
    for (float v : e.descriptor) n += double(v) * v;
    lowest = std::min(lowest, static_cast<float>(std::sqrt(n)));
    highest = std::max(highest, static_cast<float>(std::sqrt(n)));
  }
  std::cout << "  descriptor norms " << lowest << " … " << highest << "\n";
  EXPECT_GT(lowest, 1.1f);
  EXPECT_LT(highest, 2.0f);
}

// ---------------------------------------------------------------------------------------------

struct Probe {
  const char* photo;
  cv::Point2f inside;
};
const Probe kProbes[] = {
    {"dlib_faces/Tom_Cruise_avp_2014_4.jpg", {270, 484}},
    {"photos/astronaut.png", {222, 122}},
    {"photos/jesper_2.jpg", {365, 276}},
    {"photos/sample3.jpg", {1165, 372}},
    {"photos/qt-logo.jpg", {233, 147}},
};

// The same face after a horizontal flip (landmarks found again on the flipped photo) and after
// shrinking the photo to 60 % must stay within dlib's rule and closer than any other person in
// the probe set.
TEST(DlibRecognizer, FaceIsCloserToItselfFlippedAndRescaledThanToOthers) {
  auto recognizer = open_recognizer();
  ASSERT_TRUE(recognizer);
  ASSERT_TRUE(DlibLandmarks::get().ok());
  std::vector<std::vector<float>> original, flipped, rescaled;
  for (const auto& p : kProbes) {
    const cv::Mat img = load_photo(p.photo);
    ASSERT_FALSE(img.empty());
    cv::Mat mirror, small;
    cv::flip(img, mirror, 1);
    cv::resize(img, small, {}, 0.6, 0.6, cv::INTER_AREA);
    auto a = face_at(DlibLandmarks::get().faces(img), p.inside, p.photo);
    auto b = face_at(DlibLandmarks::get().faces(mirror), {img.cols - 1 - p.inside.x, p.inside.y}, p.photo);
    auto c = face_at(DlibLandmarks::get().faces(small), p.inside * 0.6f, p.photo);
    ASSERT_TRUE(a && b && c);
    original.push_back(*recognizer->embed(img, *a));
    flipped.push_back(*recognizer->embed(mirror, *b));
    rescaled.push_back(*recognizer->embed(small, *c));
  }
  for (size_t i = 0; i < original.size(); ++i) {
    float nearest_other = std::numeric_limits<float>::infinity();
    for (size_t j = 0; j < original.size(); ++j) {
      if (j == i) continue;
      nearest_other = std::min({nearest_other, recognizer->distance(original[i], original[j]),
                                recognizer->distance(flipped[i], original[j]),
                                recognizer->distance(rescaled[i], original[j])});
    }
    const float to_flipped = recognizer->distance(original[i], flipped[i]);
    const float to_rescaled = recognizer->distance(original[i], rescaled[i]);
    std::cout << "  " << kProbes[i].photo << ": flipped " << to_flipped << ", rescaled " << to_rescaled
              << ", nearest other " << nearest_other << "\n";
    EXPECT_LT(to_flipped, recognizer->same_person_threshold()) << kProbes[i].photo;
    EXPECT_LT(to_rescaled, recognizer->same_person_threshold()) << kProbes[i].photo;
    EXPECT_LT(to_flipped, nearest_other) << kProbes[i].photo;
    EXPECT_LT(to_rescaled, nearest_other) << kProbes[i].photo;
  }
}

// For whole-pixel landmarks (what dlib's shape predictor returns) our chip is dlib's own
// get_face_chip_details(shape, 150, 0.25) + extract_image_chip, pixel for pixel.
TEST(DlibRecognizer, ChipIsDlibsFaceChip) {
  ASSERT_TRUE(DlibLandmarks::get().ok());
  for (const auto& p : kProbes) {
    const cv::Mat img = load_photo(p.photo);
    auto face = face_at(DlibLandmarks::get().faces(img), p.inside, p.photo);
    ASSERT_TRUE(face);
    const auto shape = DlibLandmarks::get().shape(img, face->box);
    face->landmarks68.clear();
    for (unsigned long i = 0; i < shape.num_parts(); ++i) face->landmarks68.emplace_back(shape.part(i).x(), shape.part(i).y());

    // dlib's dnn_face_recognition_ex: an RGB matrix image, get_face_chip_details(shape, 150, 0.25),
    // extract_image_chip.
    cv::Mat rgb;
    cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
    dlib::matrix<dlib::rgb_pixel> rgb_image;
    dlib::assign_image(rgb_image, dlib::cv_image<dlib::rgb_pixel>(rgb));
    dlib::matrix<dlib::rgb_pixel> reference;
    dlib::extract_image_chip(rgb_image, dlib::get_face_chip_details(shape, 150, 0.25), reference);
    cv::Mat expected;
    cv::cvtColor(dlib::toMat(reference), expected, cv::COLOR_RGB2BGR);
    auto chip = DlibRecognizer::face_chip(img, *face);
    ASSERT_TRUE(chip.is_ok()) << chip.status().to_string();
    ASSERT_EQ(chip->size(), cv::Size(150, 150));
    ASSERT_EQ(chip->type(), CV_8UC3);
    EXPECT_EQ(cv::norm(*chip, expected, cv::NORM_INF), 0.0) << p.photo;
  }
}

// Without 68 landmarks the chip comes from the 5 points; it is not dlib's chip, but the
// descriptor must stay the same person and nearer to itself than to anyone else.
TEST(DlibRecognizer, FivePointFallbackStaysTheSamePerson) {
  auto recognizer = open_recognizer();
  ASSERT_TRUE(recognizer);
  ASSERT_TRUE(DlibLandmarks::get().ok());
  std::vector<std::vector<float>> with68, with5;
  for (const auto& p : kProbes) {
    const cv::Mat img = load_photo(p.photo);
    auto face = face_at(DlibLandmarks::get().faces(img), p.inside, p.photo);
    ASSERT_TRUE(face);
    with68.push_back(*recognizer->embed(img, *face));
    face->landmarks68.clear();
    auto d5 = recognizer->embed(img, *face);
    ASSERT_TRUE(d5.is_ok()) << d5.status().to_string();
    with5.push_back(*d5);
  }
  for (size_t i = 0; i < with68.size(); ++i) {
    const float self = recognizer->distance(with68[i], with5[i]);
    std::cout << "  " << kProbes[i].photo << ": 68-point vs 5-point chip " << self << "\n";
    EXPECT_LT(self, recognizer->same_person_threshold() / 2) << kProbes[i].photo;
    for (size_t j = 0; j < with68.size(); ++j) {
      if (j == i) continue;
      EXPECT_LT(self, recognizer->distance(with5[i], with68[j])) << kProbes[i].photo;
    }
  }
}

TEST(DlibRecognizer, EmbedIsDeterministicAndThreadSafe) {
  auto recognizer = open_recognizer();
  ASSERT_TRUE(recognizer);
  ASSERT_TRUE(DlibLandmarks::get().ok());
  const cv::Mat img = load_photo("photos/sample5.jpg");
  const auto faces = DlibLandmarks::get().faces(img);
  ASSERT_EQ(faces.size(), 5u);
  std::vector<std::vector<float>> sequential;
  for (const auto& f : faces) sequential.push_back(*recognizer->embed(img, f));

  std::vector<std::vector<std::vector<float>>> parallel(4, std::vector<std::vector<float>>(faces.size()));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < parallel.size(); ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < faces.size(); ++k) {
        const size_t i = (k + t) % faces.size();
        auto d = recognizer->embed(img, faces[i]);
        if (d.is_ok()) parallel[t][i] = *d;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& run : parallel) {
    for (size_t i = 0; i < faces.size(); ++i) EXPECT_EQ(run[i], sequential[i]) << "face " << i;
  }
}

TEST(DlibRecognizer, RejectsBadFramesAndDegenerateLandmarks) {
  auto recognizer = open_recognizer();
  ASSERT_TRUE(recognizer);
  Face face;
  face.landmarks5 = {cv::Point2f(40, 50), cv::Point2f(80, 50), cv::Point2f(60, 70), cv::Point2f(45, 90),
                     cv::Point2f(75, 90)};
  const cv::Mat gray(200, 200, CV_8UC1, cv::Scalar(128));
  EXPECT_EQ(recognizer->embed(gray, face).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recognizer->embed(cv::Mat(), face).status().code(), StatusCode::kInvalidArgument);

  const cv::Mat bgr(200, 200, CV_8UC3, cv::Scalar(128, 128, 128));
  EXPECT_TRUE(recognizer->embed(bgr, face).is_ok()) << "5 points are enough";
  Face degenerate;  // all points at (0, 0)
  EXPECT_EQ(recognizer->embed(bgr, degenerate).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recognizer->embed_chip(bgr).status().code(), StatusCode::kInvalidArgument) << "200×200 is not a chip";
}

TEST(DlibRecognizer, DistanceIsEuclideanAndThresholdIsDlibs) {
  auto recognizer = open_recognizer();
  ASSERT_TRUE(recognizer);
  std::vector<float> a(128, 0.0f), b(128, 0.0f);
  b[0] = 0.3f;
  b[5] = 0.4f;
  EXPECT_FLOAT_EQ(recognizer->distance(a, b), 0.5f);
  EXPECT_EQ(recognizer->distance(a, std::vector<float>(512, 0.0f)), std::numeric_limits<float>::infinity());
  EXPECT_FLOAT_EQ(recognizer->same_person_threshold(), 0.6f);
  EXPECT_EQ(recognizer->name(), "dlib_resnet");
}

TEST(DlibRecognizerOpen, MissingModelIsFailedPreconditionNamingTheFileAndSetup) {
  facefuse::testing::TempDir dir;
  auto r = DlibRecognizer::open(dir.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("dlib_face_recognition_resnet.onnx"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("run scripts/setup"), std::string::npos) << r.status().message();
}

TEST(DlibRecognizerOpen, RejectsAModelWithAnotherContract) {
  facefuse::testing::TempDir dir;
  std::filesystem::copy_file(models_dir() / "blazeface_front_128.onnx", dir / "dlib_face_recognition_resnet.onnx");
  auto r = DlibRecognizer::open(dir.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("[1,150,150,3]"), std::string::npos) << r.status().message();
}

// ---------------------------------------------------------------------------------------------
// Reference selection end to end: the reference face picked by position in one photo selects
// exactly the same person among the faces of another photo.

std::vector<Face> embedded_faces(const DlibRecognizer& recognizer, const cv::Mat& img) {
  auto faces = DlibLandmarks::get().faces(img);
  for (auto& f : faces) f.embedding = *recognizer.embed(img, f);
  return faces;
}

TEST(FaceSelectorWithDlibRecognizer, ReferenceFaceFindsTheSamePersonInAnotherPhoto) {
  auto recognizer = open_recognizer();
  ASSERT_TRUE(recognizer);
  ASSERT_TRUE(DlibLandmarks::get().ok());
  struct Case {
    const char* reference_photo;
    FaceSelectorOrder order;
    int position;
    const char* target_photo;
    cv::Point2f expected_inside;
  };
  const Case cases[] = {
      // sample1 left to right: clown, dark-haired, redhead (position 2) → sample3's middle woman.
      {"photos/sample1.jpg", FaceSelectorOrder::kLeftRight, 2, "photos/sample3.jpg", {1165, 372}},
      // qt-logo right to left: the man with glasses, Jesper (position 1), the man on the left →
      // Jesper beside the blonde woman in bar55_2.
      {"photos/qt-logo.jpg", FaceSelectorOrder::kRightLeft, 1, "photos/bar55_2.jpg", {434, 190}},
  };
  for (const auto& c : cases) {
    FaceSelectorOptions options;
    options.mode = FaceSelectorMode::kReference;
    options.order = c.order;
    options.reference_face_position = c.position;
    auto reference = select_reference_face(embedded_faces(*recognizer, load_photo(c.reference_photo)), options);
    ASSERT_TRUE(reference.is_ok()) << reference.status().to_string();
    const FaceReference ref{{reference->embedding}, recognizer.get()};
    auto selected = select_faces(embedded_faces(*recognizer, load_photo(c.target_photo)), options, &ref);
    ASSERT_TRUE(selected.is_ok()) << selected.status().to_string();
    ASSERT_EQ(selected->size(), 1u) << c.reference_photo << " → " << c.target_photo;
    EXPECT_TRUE(selected->front().box.contains(c.expected_inside)) << c.target_photo;
  }
}

}  // namespace
}  // namespace facefuse::face
