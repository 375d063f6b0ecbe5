// Source-quality warnings of the classical face swapper (processors/face_swapper/source_quality.h,
// issue 17: "never a silent bad result"), on real photos with the project's detector and dlib 68
// points: each warning fires on a photo that has the problem and stays silent on a good source.
#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_analyser.h"
#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/head_pose.h"
#include "facefuse/processors/face_swapper/face_swapper.h"
#include "facefuse/processors/face_swapper/source_quality.h"
#include "support/test_support.h"

namespace facefuse::processors {
namespace {

const face::FaceAnalyser& analyser() {
  static std::unique_ptr<face::FaceAnalyser> instance = [] {
    face::FaceAnalyserOptions options;
    options.models_dir = testing::models_dir();
    auto opened = face::FaceAnalyser::open(options);
    EXPECT_TRUE(opened.is_ok()) << opened.status().to_string();
    return opened.is_ok() ? std::move(opened).value() : nullptr;
  }();
  if (!instance) throw std::runtime_error("face analyser unavailable");
  return *instance;
}

struct Picked {
  cv::Mat image;
  face::Face face;
};

// The face of `photo` whose box centre is nearest `near`.
Picked pick(const std::string& photo, cv::Point2f near) {
  Picked out;
  out.image = testing::load_photo(photo);
  auto faces = analyser().analyse(out.image);
  EXPECT_TRUE(faces.is_ok());
  float best = 1e9f;
  for (const auto& f : *faces) {
    const float d = static_cast<float>(cv::norm(cv::Point2f(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2) - near));
    if (f.has_landmarks68() && d < best) {
      best = d;
      out.face = f;
    }
  }
  EXPECT_TRUE(out.face.has_landmarks68()) << "no face near the point in " << photo;
  return out;
}

bool mentions(const std::vector<ProcessorWarning>& warnings, const std::string& word) {
  return std::any_of(warnings.begin(), warnings.end(),
                     [&](const ProcessorWarning& w) { return render_warning(w).find(word) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& warnings) {
  std::string out;
  for (const auto& w : warnings) out += w + "\n";
  return out;
}

std::string joined(const std::vector<ProcessorWarning>& warnings) { return joined(render_warnings(warnings)); }

// What FaceSwapper::open needs for one source photo (`photo` under the test data), named `name`.
ProcessorContext source_context(const std::string& photo, const std::string& name) {
  ProcessorContext context;
  context.analyser = &analyser();
  context.source_images = {testing::load_photo(photo)};
  context.source_names = {name};
  return context;
}

// A sharp, frontal, upright, large source: nothing to warn about.
TEST(SourceQuality, AGoodSourceGivesNoWarning) {
  for (const auto& [photo, near] : std::vector<std::pair<std::string, cv::Point2f>>{
           {"dlib_faces/Tom_Cruise_avp_2014_4.jpg", {265, 506}}, {"photos/jesper_2.jpg", {377, 281}},
           {"photos/new_wave_2.jpg", {400, 306}}}) {
    Picked s = pick(photo, near);
    const auto warnings = source_quality_warnings(s.image, s.face, "source.jpg");
    EXPECT_TRUE(warnings.empty()) << photo << ":\n" << joined(warnings);
  }
}

// The quality bench's small sources (42 and 52 px faces; sharpness 0.07× and 0.3× the target's).
TEST(SourceQuality, WarnsAboutASmallSourceFace) {
  for (const auto& [photo, near] : std::vector<std::pair<std::string, cv::Point2f>>{
           {"dlib_faces/2008_002470.jpg", {301, 206}}, {"photos/People-Jim.jpg", {50, 51}}}) {
    Picked s = pick(photo, near);
    ASSERT_LT(face::face_size(s.face.landmarks68), kSmallSourceFace);
    const auto warnings = source_quality_warnings(s.image, s.face, "small.jpg");
    EXPECT_TRUE(mentions(warnings, "small.jpg is small")) << joined(warnings);
  }
}

// The same sharp face blurred (Gaussian, sigma 2.5 % of the face size: an out-of-focus photo) is
// reported as blurred; the original is not.
TEST(SourceQuality, WarnsAboutABlurredSourceFace) {
  Picked s = pick("dlib_faces/Tom_Cruise_avp_2014_4.jpg", {265, 506});
  const float sigma = 0.025f * face::face_size(s.face.landmarks68);
  cv::Mat blurred;
  cv::GaussianBlur(s.image, blurred, cv::Size(0, 0), sigma);
  const float sharp = source_face_sharpness(s.image, s.face), soft = source_face_sharpness(blurred, s.face);
  std::printf("[ sharpness ] original %.3f, blurred %.3f\n", sharp, soft);
  EXPECT_GT(sharp, kBlurredSourceSharpness);
  EXPECT_LT(soft, kBlurredSourceSharpness);
  EXPECT_TRUE(mentions(source_quality_warnings(blurred, s.face, "soft.jpg"), "soft.jpg is blurred"));
}

// A strongly turned source (estimate_yaw −0.79, fitted yaw −32°) and one tilted 35° sideways.
TEST(SourceQuality, WarnsAboutATurnedOrTiltedSource) {
  Picked turned = pick("photos/sample4.jpg", {1035, 328});
  const auto w_turned = source_quality_warnings(turned.image, turned.face, "turned.jpg");
  EXPECT_TRUE(mentions(w_turned, "turned.jpg is turned")) << joined(w_turned);
  Picked tilted = pick("photos/sample4.jpg", {1326, 283});
  const auto w_tilted = source_quality_warnings(tilted.image, tilted.face, "tilted.jpg");
  EXPECT_TRUE(mentions(w_tilted, "sideways")) << joined(w_tilted);
}

// Sunglasses on the source: the swap would put them on the target's face. The three faces behind
// sunglasses in the test photos are reported (both eyes); open eyes are not, the darkest ones
// (deep-set, in shadow: bald_guys.jpg, donna_2.jpg) and the flattest dark one (the far eye of a
// turned, motion-blurred face: sample4.jpg) included, nor the good sources.
TEST(SourceQuality, WarnsAboutCoveredEyes) {
  for (const auto& [photo, near] :
       std::vector<std::pair<std::string, cv::Point2f>>{{"photos/anne_helene.jpg", {185, 190}},
                                                        {"photos/cold_water.jpg", {462, 210}},
                                                        {"photos/People-Anne_Helene.jpg", {70, 55}}}) {
    Picked s = pick(photo, near);
    EXPECT_EQ(covered_eyes(s.image, s.face), 2) << photo;
    const auto warnings = source_quality_warnings(s.image, s.face, "shades.jpg");
    EXPECT_TRUE(mentions(warnings, "shades.jpg has both eyes covered")) << photo << ":\n" << joined(warnings);
  }
  for (const auto& [photo, near] :
       std::vector<std::pair<std::string, cv::Point2f>>{{"dlib_faces/bald_guys.jpg", {376, 285}},
                                                        {"photos/donna_2.jpg", {404, 313}},
                                                        {"photos/sample4.jpg", {1035, 328}},
                                                        {"dlib_faces/Tom_Cruise_avp_2014_4.jpg", {265, 506}},
                                                        {"photos/jesper_2.jpg", {377, 281}},
                                                        {"photos/new_wave_2.jpg", {400, 306}},
                                                        {"photos/astronaut.png", {260, 130}}}) {
    Picked s = pick(photo, near);
    EXPECT_EQ(covered_eyes(s.image, s.face), 0) << photo;
  }
}

// The face_swapper reports the source's warnings and how many targets were far from its pose:
// a frontal source (fitted yaw −3°) onto a laughing target turned 38° (sample5; the bench's worst
// pose case before the 3D re-pose), and onto a frontal one.
TEST(SourceQuality, FaceSwapperReportsTargetsFarFromTheSourcesPose) {
  FaceSwapper swapper;
  ASSERT_TRUE(swapper.open(source_context("photos/new_wave_2.jpg", "/tmp/some/dir/new_wave_2.jpg")).is_ok());
  const auto at_open = swapper.take_warnings();
  EXPECT_TRUE(render_warnings(at_open).empty()) << joined(at_open);
  Picked frontal = pick("photos/jesper_2.jpg", {377, 281});
  Picked turned = pick("photos/sample5.jpg", {721, 560});
  EXPECT_LT(pose_yaw_difference(swapper.source().face.landmarks68, frontal.face.landmarks68), kPoseMismatchYaw);
  EXPECT_GT(pose_yaw_difference(swapper.source().face.landmarks68, turned.face.landmarks68), kPoseMismatchYaw);
  FrameContext a{frontal.image.clone(), {frontal.face}, 0}, b{turned.image.clone(), {turned.face}, 0};
  ASSERT_TRUE(swapper.process(a).is_ok());
  ASSERT_TRUE(swapper.process(b).is_ok());
  const auto warnings = render_warnings(swapper.take_warnings());
  ASSERT_EQ(warnings.size(), 1u) << joined(warnings);
  EXPECT_NE(warnings[0].find("1 of 2 swapped target face(s)"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("in new_wave_2.jpg"), std::string::npos) << "the source is named by its file name only";
}

// A source without fine detail (sample4.jpg's motion-blurred face, no source warning of its own)
// swapped into a sharp photo comes out soft, and the still-image swap says so; a good source does not.
TEST(SourceQuality, FaceSwapperReportsASoftResultOnStillImages) {
  Picked target = pick("photos/new_wave_2.jpg", {400, 306});
  for (const auto& [photo, near, soft] : std::vector<std::tuple<std::string, cv::Point2f, bool>>{
           {"photos/sample4.jpg", {722, 204}, true}, {"dlib_faces/Tom_Cruise_avp_2014_4.jpg", {265, 506}, false}}) {
    SCOPED_TRACE(photo);
    FaceSwapper swapper;
    ASSERT_TRUE(swapper.open(source_context(photo, photo)).is_ok());
    const auto at_open = swapper.take_warnings();
    EXPECT_FALSE(mentions(at_open, "blurred")) << "the source itself passes the blur check";
    FrameContext still{target.image.clone(), {target.face}, 0, /*still_image=*/true};
    ASSERT_TRUE(swapper.process(still).is_ok());
    const auto warnings = swapper.take_warnings();
    EXPECT_EQ(mentions(warnings, "1 of 1 swapped face(s) came out softer"), soft) << joined(warnings);
    // Video frames are not measured.
    FrameContext frame{target.image.clone(), {target.face}, 0};
    ASSERT_TRUE(swapper.process(frame).is_ok());
    EXPECT_FALSE(mentions(swapper.take_warnings(), "softer")) << "video frames";
  }
}

// A face seen in profile (sample2.jpg's woman on the left, finger at her lips): dlib's 68 points
// draw a three-quarter face across her cheek and hair, and a swap from or onto them was torn. The
// detector's own points tell it apart; no other face of the test photos of the checked size is.
TEST(SourceQuality, TellsAFaceInProfileFromEveryOtherFace) {
  EXPECT_TRUE(face::seen_from_the_side(pick("photos/sample2.jpg", {461, 293}).face));
  int checked = 0;
  for (const std::string photo : {"photos/sample1.jpg", "photos/sample2.jpg", "photos/sample3.jpg", "photos/sample4.jpg",
                                  "photos/sample5.jpg", "photos/sample6.jpg", "photos/jesper_2.jpg", "photos/new_wave_2.jpg",
                                  "photos/qt-logo.jpg", "photos/astronaut.png", "dlib_faces/bald_guys.jpg",
                                  "dlib_faces/Tom_Cruise_avp_2014_4.jpg"}) {
    const cv::Mat image = testing::load_photo(photo);
    auto faces = analyser().analyse(image);
    ASSERT_TRUE(faces.is_ok());
    for (const auto& f : *faces) {
      ASSERT_TRUE(f.detector_landmarks5.has_value()) << "blazeface finds its own points";
      const cv::Point2f c(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2);
      if (photo == "photos/sample2.jpg" && cv::norm(c - cv::Point2f(461, 293)) < 60) continue;
      checked += face::face_size(f.landmarks68) >= face::kProfileCheckMinFaceSize ? 1 : 0;
      EXPECT_FALSE(face::seen_from_the_side(f)) << photo << " @ " << c;
    }
  }
  EXPECT_GE(checked, 25) << "faces large enough to be checked";
}

// sample2.jpg's largest face is the one in profile: the swapper takes the largest face seen from the
// front instead and says so. Swapping onto a target in profile leaves that face as it is, and says so.
TEST(SourceQuality, FaceSwapperPassesOverFacesInProfile) {
  FaceSwapper swapper;
  ASSERT_TRUE(swapper.open(source_context("photos/sample2.jpg", "photos/sample2.jpg")).is_ok());
  EXPECT_FALSE(face::seen_from_the_side(swapper.source().face));
  const auto at_open = swapper.take_warnings();
  EXPECT_TRUE(mentions(at_open, "the largest face in sample2.jpg is seen from the side")) << joined(at_open);

  Picked profile = pick("photos/sample2.jpg", {461, 293}), frontal = pick("photos/sample2.jpg", {993, 379});
  cv::Mat before = profile.image.clone();
  FrameContext still{profile.image.clone(), {profile.face, frontal.face}, 0, /*still_image=*/true};
  ASSERT_TRUE(swapper.process(still).is_ok());
  const cv::Rect profile_box = cv::Rect(profile.face.box) & cv::Rect(0, 0, before.cols, before.rows);
  const cv::Rect frontal_box = cv::Rect(frontal.face.box) & cv::Rect(0, 0, before.cols, before.rows);
  EXPECT_EQ(cv::norm(still.frame(profile_box), before(profile_box), cv::NORM_INF), 0.0) << "the face in profile is untouched";
  EXPECT_GT(cv::norm(still.frame(frontal_box), before(frontal_box), cv::NORM_L1), 0.0) << "the frontal face is swapped";
  const auto warnings = swapper.take_warnings();
  EXPECT_TRUE(mentions(warnings, "1 target face(s) seen from the side (profile) were left as they are")) << joined(warnings);
}

}  // namespace
}  // namespace facefuse::processors
