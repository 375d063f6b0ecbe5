// Face selection plumbing (modes, orders, reference rule) on synthetic faces. The real-photo
// reference test is in recognizer_test.cpp.
#include "facefuse/face/face_selector.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

namespace facefuse::face {
namespace {

// Distance = |a[0] − b[0]| (1-d "embeddings"), threshold 0.5: enough to exercise the rule, and a
// different scale from both real recognizers so the test proves the threshold comes from here.
class FakeRecognizer final : public FaceRecognizer {
 public:
  std::string_view name() const override { return "fake"; }
  Result<std::vector<float>> embed(const cv::Mat&, const Face&) const override { return std::vector<float>{0.0f}; }
  float distance(const std::vector<float>& a, const std::vector<float>& b) const override {
    return std::fabs(a.at(0) - b.at(0));
  }
  float same_person_threshold() const override { return 0.5f; }
};

// A face with box (x, y, size, size), detector score and a 1-d embedding; `tag` in landmarks5[0].x
// identifies it after reordering.
Face make_face(float tag, float x, float y, float size, float score, float identity) {
  Face f;
  f.box = cv::Rect2f(x, y, size, size);
  f.score = score;
  f.landmarks5[0] = cv::Point2f(tag, 0.0f);
  f.embedding = {identity};
  return f;
}

std::vector<int> tags(const std::vector<Face>& faces) {
  std::vector<int> out;
  for (const auto& f : faces) out.push_back(static_cast<int>(f.landmarks5[0].x));
  return out;
}

// Detector order 0..3; left edges 300,100,200,50; tops 10,40,20,30; sizes 50,80,20,80
// (faces 1 and 3 tie on area); scores .7,.9,.6,.8.
std::vector<Face> four_faces() {
  return {make_face(0, 300, 10, 50, 0.7f, 0.0f), make_face(1, 100, 40, 80, 0.9f, 1.0f),
          make_face(2, 200, 20, 20, 0.6f, 2.0f), make_face(3, 50, 30, 80, 0.8f, 3.0f)};
}

TEST(FaceSelectorNames, AreFaceFusionsAndRoundTrip) {
  const std::vector<std::string_view> modes = {"many", "one", "reference"};
  const std::vector<std::string_view> orders = {"left-right",  "right-left",  "top-bottom", "bottom-top",
                                                "small-large", "large-small", "best-worst", "worst-best"};
  EXPECT_EQ(face_selector_mode_names(), modes);
  EXPECT_EQ(face_selector_order_names(), orders);
  for (auto n : modes) EXPECT_EQ(face_selector_mode_name(*parse_face_selector_mode(n)), n);
  for (auto n : orders) EXPECT_EQ(face_selector_order_name(*parse_face_selector_order(n)), n);
  EXPECT_EQ(kDefaultFaceSelectorMode, FaceSelectorMode::kReference);
  EXPECT_EQ(kDefaultFaceSelectorOrder, FaceSelectorOrder::kLargeSmall);
}

TEST(FaceSelectorNames, UnknownNamesAreInvalidArgumentListingValidValues) {
  auto mode = parse_face_selector_mode("all");
  ASSERT_FALSE(mode.is_ok());
  EXPECT_EQ(mode.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mode.status().message().find("'all'"), std::string::npos);
  EXPECT_NE(mode.status().message().find("many, one, reference"), std::string::npos) << mode.status().message();

  auto order = parse_face_selector_order("left_right");
  ASSERT_FALSE(order.is_ok());
  EXPECT_EQ(order.status().code(), StatusCode::kInvalidArgument);
  for (auto n : face_selector_order_names()) {
    EXPECT_NE(order.status().message().find(n), std::string::npos) << order.status().message();
  }
}

TEST(SortFaces, EachOrderUsesItsKeyAndKeepsTiesInDetectorOrder) {
  const auto faces = four_faces();
  EXPECT_EQ(tags(sort_faces(faces, FaceSelectorOrder::kLeftRight)), (std::vector<int>{3, 1, 2, 0}));
  EXPECT_EQ(tags(sort_faces(faces, FaceSelectorOrder::kRightLeft)), (std::vector<int>{0, 2, 1, 3}));
  EXPECT_EQ(tags(sort_faces(faces, FaceSelectorOrder::kTopBottom)), (std::vector<int>{0, 2, 3, 1}));
  EXPECT_EQ(tags(sort_faces(faces, FaceSelectorOrder::kBottomTop)), (std::vector<int>{1, 3, 2, 0}));
  // Faces 1 and 3 have equal areas: stable, like Python's sorted (also with reverse=True).
  EXPECT_EQ(tags(sort_faces(faces, FaceSelectorOrder::kSmallLarge)), (std::vector<int>{2, 0, 1, 3}));
  EXPECT_EQ(tags(sort_faces(faces, FaceSelectorOrder::kLargeSmall)), (std::vector<int>{1, 3, 0, 2}));
  EXPECT_EQ(tags(sort_faces(faces, FaceSelectorOrder::kBestWorst)), (std::vector<int>{1, 3, 0, 2}));
  EXPECT_EQ(tags(sort_faces(faces, FaceSelectorOrder::kWorstBest)), (std::vector<int>{2, 0, 3, 1}));
  EXPECT_TRUE(sort_faces({}, FaceSelectorOrder::kLeftRight).empty());
}

TEST(FaceAtPosition, ClampsToTheLastFaceLikeGetOneFace) {
  const auto faces = four_faces();
  EXPECT_EQ(face_at_position(faces, 0), &faces[0]);
  EXPECT_EQ(face_at_position(faces, 2), &faces[2]);
  EXPECT_EQ(face_at_position(faces, 99), &faces[3]);
  EXPECT_EQ(face_at_position(faces, -1), &faces[0]);
  EXPECT_EQ(face_at_position({}, 0), nullptr);
}

TEST(SelectFaces, ManyReturnsAllFacesInOrder) {
  FaceSelectorOptions options;
  options.mode = FaceSelectorMode::kMany;
  options.order = FaceSelectorOrder::kLeftRight;
  auto selected = select_faces(four_faces(), options);
  ASSERT_TRUE(selected.is_ok()) << selected.status().to_string();
  EXPECT_EQ(tags(*selected), (std::vector<int>{3, 1, 2, 0}));
}

TEST(SelectFaces, OneReturnsTheFirstFaceInOrderAndNothingForAnEmptyFrame) {
  FaceSelectorOptions options;
  options.mode = FaceSelectorMode::kOne;
  options.order = FaceSelectorOrder::kWorstBest;
  options.reference_face_position = 3;  // ignored by 'one', as in FaceFusion
  auto selected = select_faces(four_faces(), options);
  ASSERT_TRUE(selected.is_ok());
  EXPECT_EQ(tags(*selected), (std::vector<int>{2}));

  auto none = select_faces({}, options);
  ASSERT_TRUE(none.is_ok()) << "no face in a frame is not an error";
  EXPECT_TRUE(none->empty());
}

TEST(SelectReferenceFace, PicksThePositionAfterOrdering) {
  FaceSelectorOptions options;
  options.order = FaceSelectorOrder::kLeftRight;  // 3, 1, 2, 0
  options.reference_face_position = 1;
  auto reference = select_reference_face(four_faces(), options);
  ASSERT_TRUE(reference.is_ok());
  EXPECT_EQ(tags({*reference}), (std::vector<int>{1}));

  options.reference_face_position = 10;  // past the end: the last face, as FaceFusion
  EXPECT_EQ(tags({*select_reference_face(four_faces(), options)}), (std::vector<int>{0}));

  auto empty = select_reference_face({}, options);
  ASSERT_FALSE(empty.is_ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kNoFace);

  auto faces = four_faces();
  faces[0].embedding.clear();
  auto missing = select_reference_face(faces, options);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
}

TEST(SelectFaces, ReferenceKeepsFacesStrictlyCloserThanTheRecognizersThreshold) {
  const FakeRecognizer recognizer;
  FaceSelectorOptions options;
  options.mode = FaceSelectorMode::kReference;
  options.order = FaceSelectorOrder::kLeftRight;  // must not reorder reference matches
  auto faces = four_faces();
  faces.push_back(make_face(4, 0, 0, 10, 0.5f, 2.4f));   // 0.4 from identity 2: a match
  faces.push_back(make_face(5, 0, 0, 10, 0.5f, 2.5f));   // exactly 0.5 away: not a match (strict <)
  faces.push_back(make_face(6, 0, 0, 10, 0.5f, 1.55f));  // 0.45 away: a match
  const FaceReference reference{{{2.0f}}, &recognizer};

  auto selected = select_faces(faces, options, &reference);
  ASSERT_TRUE(selected.is_ok()) << selected.status().to_string();
  EXPECT_EQ(tags(*selected), (std::vector<int>{2, 4, 6})) << "detector order, threshold 0.5 from the recognizer";
  EXPECT_FLOAT_EQ(reference_face_distance(options, recognizer), 0.5f);

  options.reference_face_distance = 0.42f;  // stricter, in the recognizer's own scale
  EXPECT_EQ(tags(*select_faces(faces, options, &reference)), (std::vector<int>{2, 4}));
  options.reference_face_distance = 1.01f;
  EXPECT_EQ(tags(*select_faces(faces, options, &reference)), (std::vector<int>{1, 2, 3, 4, 5, 6}));
}

TEST(SelectFaces, ReferenceWithSeveralReferencesMatchesAnyOnceEach) {
  const FakeRecognizer recognizer;
  FaceSelectorOptions options;
  options.mode = FaceSelectorMode::kReference;
  options.reference_face_distance = 0.6f;
  const FaceReference reference{{{0.0f}, {0.2f}, {3.0f}}, &recognizer};  // face 0 is near two of them
  auto selected = select_faces(four_faces(), options, &reference);
  ASSERT_TRUE(selected.is_ok());
  EXPECT_EQ(tags(*selected), (std::vector<int>{0, 3}));
}

TEST(SelectFaces, ReferenceModeNeedsAReferenceAndTargetEmbeddings) {
  const FakeRecognizer recognizer;
  FaceSelectorOptions options;
  options.mode = FaceSelectorMode::kReference;
  auto no_reference = select_faces(four_faces(), options);
  ASSERT_FALSE(no_reference.is_ok());
  EXPECT_EQ(no_reference.status().code(), StatusCode::kFailedPrecondition);

  const FaceReference no_recognizer{{{1.0f}}, nullptr};
  EXPECT_EQ(select_faces(four_faces(), options, &no_recognizer).status().code(), StatusCode::kFailedPrecondition);

  auto faces = four_faces();
  faces[2].embedding.clear();
  const FaceReference reference{{{1.0f}}, &recognizer};
  auto missing = select_faces(faces, options, &reference);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("fake"), std::string::npos);

  auto empty = select_faces({}, options, &reference);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());
}

TEST(SelectFaces, RejectsInvalidOptions) {
  FaceSelectorOptions options;
  options.mode = FaceSelectorMode::kMany;
  options.reference_face_position = -1;
  EXPECT_EQ(select_faces(four_faces(), options).status().code(), StatusCode::kInvalidArgument);
  options.reference_face_position = 0;
  for (float bad : {0.0f, -0.3f, std::nanf("")}) {
    options.reference_face_distance = bad;
    EXPECT_EQ(validate_face_selector_options(options).code(), StatusCode::kInvalidArgument) << bad;
  }
  options.reference_face_distance = 0.3f;
  EXPECT_TRUE(validate_face_selector_options(options).is_ok());
}

}  // namespace
}  // namespace facefuse::face
