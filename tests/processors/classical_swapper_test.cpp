// Classical face swapper, its masks and blending, and the face-debugger drawing, on real photos
// with real landmarks (the project's blazeface detector + dlib 68-point landmarker) and the
// project's identity recognizer (dlib ResNet descriptor, dlib_face_recognition_resnet.onnx).
//
// Faces are picked by where they are in a photo (the face whose box centre is nearest a point),
// not by detector index, so a change in detector ordering cannot silently swap other people.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/core/series_stats.h"
#include "facefuse/face/blending.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/forehead_strands.h"
#include "facefuse/face/ghost_jaw.h"
#include "facefuse/face/glasses.h"
#include "facefuse/face/inner_face_sharpness.h"
#include "facefuse/media/video_reader.h"
#include "facefuse/processors/face_debugger/face_debugger_draw.h"
#include "facefuse/processors/face_swapper/classical_swapper.h"
#include "support/test_support.h"

namespace facefuse::processors {
namespace {

using face::Face;
using face::Landmarks68;

// ---------------------------------------------------------------------------------------------
// Shared fixtures: one analyser (with recognizer) and a cache of analysed photos for the binary.

const face::FaceAnalyser& analyser() {
  static std::unique_ptr<face::FaceAnalyser> instance = [] {
    face::FaceAnalyserOptions options;
    options.models_dir = testing::models_dir();
    options.with_recognizer = true;
    auto opened = face::FaceAnalyser::open(options);
    if (!opened.is_ok()) {
      ADD_FAILURE() << "cannot open the face analyser: " << opened.status().to_string();
      return std::unique_ptr<face::FaceAnalyser>();
    }
    return std::move(opened).value();
  }();
  if (!instance) throw std::runtime_error("face analyser unavailable (see the failure above)");
  return *instance;
}

struct Photo {
  cv::Mat image;
  std::vector<Face> faces;
};

const Photo& photo(const std::string& relative) {
  static std::mutex mutex;
  static std::map<std::string, Photo> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(relative);
  if (it != cache.end()) return it->second;
  Photo p;
  p.image = testing::load_photo(relative);
  if (!p.image.empty()) {
    auto faces = analyser().analyse(p.image);
    EXPECT_TRUE(faces.is_ok()) << faces.status().to_string();
    if (faces.is_ok()) p.faces = std::move(faces).value();
  }
  return cache.emplace(relative, std::move(p)).first->second;
}

// A face of a photo, picked by the point nearest its box centre.
struct FaceRef {
  std::string photo;
  cv::Point2f near;
};

struct PickedFace {
  cv::Mat image;
  Face face;
  bool found = false;
};

PickedFace pick(const FaceRef& ref) {
  const Photo& p = photo(ref.photo);
  PickedFace out;
  out.image = p.image;
  float best = 0;
  for (const auto& f : p.faces) {
    cv::Point2f c(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2);
    float d = static_cast<float>(cv::norm(c - ref.near));
    if (f.has_landmarks68() && d < std::max(f.box.width, f.box.height) * 0.5f && (!out.found || d < best)) {
      out.face = f;
      out.found = true;
      best = d;
    }
  }
  EXPECT_TRUE(out.found) << "no face near (" << ref.near.x << ", " << ref.near.y << ") in " << ref.photo;
  return out;
}

// Distinct-person pairs (source → target): men and women, close-ups and group photos, frontal and
// turned, large and small (~60 px) faces, sources larger and smaller than targets; several of them
// take the mirrored-source path (yaws of opposite sign).
struct SwapPair {
  FaceRef source, target;
};

const FaceRef kTom{"dlib_faces/Tom_Cruise_avp_2014_4.jpg", {300, 440}};
const FaceRef kJesper2{"photos/jesper_2.jpg", {392, 255}};
const FaceRef kNewWave{"photos/new_wave_2.jpg", {400, 324}};
const FaceRef kQtMiddle{"photos/qt-logo.jpg", {416, 170}};
const FaceRef kBaldMan{"dlib_faces/2009_004587.jpg", {192, 84}};
const FaceRef kDarkHairWoman{"dlib_faces/2009_004587.jpg", {301, 311}};
const FaceRef kAstronaut{"photos/astronaut.png", {225, 123}};
const FaceRef kSample3Right{"photos/sample3.jpg", {1600, 460}};
const FaceRef kSample3Left{"photos/sample3.jpg", {670, 480}};
const FaceRef kSample3Middle{"photos/sample3.jpg", {1157, 384}};
const FaceRef kSample5Bottom{"photos/sample5.jpg", {480, 1040}};
const FaceRef kSample5Top{"photos/sample5.jpg", {880, 237}};
const FaceRef kSample5Right{"photos/sample5.jpg", {1183, 332}};
const FaceRef kSample6Left{"photos/sample6.jpg", {382, 652}};
const FaceRef kSample6Middle{"photos/sample6.jpg", {1278, 483}};
const FaceRef kSample6Right{"photos/sample6.jpg", {1563, 437}};
const FaceRef kOldManRight{"dlib_faces/2008_001322.jpg", {393, 205}};
const FaceRef kOldManLeft{"dlib_faces/2008_001322.jpg", {143, 198}};

const std::vector<SwapPair>& identity_pairs() {
  static const std::vector<SwapPair> pairs = {
      {kTom, kJesper2},
      {kJesper2, kNewWave},
      {kNewWave, kQtMiddle},
      {kBaldMan, kQtMiddle},
      {kQtMiddle, kTom},
      {kSample3Right, kSample6Right},
      {kSample6Right, kSample3Left},
      {kSample5Top, kSample6Left},
      {kSample6Left, kSample5Right},
      {kAstronaut, kDarkHairWoman},
      {kDarkHairWoman, kAstronaut},
      {kSample5Bottom, kSample3Middle},
      {kOldManRight, kOldManLeft},
      {kSample6Middle, kSample6Right},
  };
  return pairs;
}

struct SwapRun {
  cv::Mat original, result, mask;
  Face target;
  SwapSourceFace source;
  bool found = false;  // both faces were found (else nothing was swapped)
};

SwapRun run_swap(const SwapPair& pair, const ClassicalSwapOptions& options) {
  PickedFace s = pick(pair.source), t = pick(pair.target);
  SwapRun run;
  run.original = t.image;
  run.result = t.image.clone();
  run.target = t.face;
  run.source = {s.image, s.face};
  run.found = s.found && t.found;
  if (!run.found) return run;
  Status status = classical_swap(run.result, run.target, run.source, options, &run.mask);
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  return run;
}

// The face of `image` that overlaps `box` most, re-detected and re-landmarked from scratch.
const Face* redetect(const cv::Mat& image, const cv::Rect2f& box, std::vector<Face>& storage, float* iou_out) {
  auto faces = analyser().analyse(image);
  EXPECT_TRUE(faces.is_ok()) << faces.status().to_string();
  if (!faces.is_ok()) return nullptr;
  storage = std::move(faces).value();
  const Face* best = nullptr;
  float best_iou = 0;
  for (const auto& f : storage) {
    float iou = testing::iou(f.box, box);
    if (iou > best_iou) {
      best_iou = iou;
      best = &f;
    }
  }
  if (iou_out != nullptr) *iou_out = best_iou;
  return best;
}

float inter_ocular(const Landmarks68& p) {
  cv::Point2f left = (p[36] + p[39]) * 0.5f, right = (p[42] + p[45]) * 0.5f;
  return static_cast<float>(cv::norm(left - right));
}

// Pixels that differ between two same-size BGR images (CV_8UC1, 255 = differs).
cv::Mat changed_pixels(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  std::vector<cv::Mat> ch;
  cv::split(diff, ch);
  cv::Mat any = (ch[0] > 0) | (ch[1] > 0) | (ch[2] > 0);
  return any;
}

Landmarks68 scaled(const Landmarks68& p, float s, cv::Point2f shift = {0, 0}) {
  Landmarks68 out(p.size());
  // Pixel centres scale as (x + 0.5)·s − 0.5, the same convention as cv::resize.
  for (size_t i = 0; i < p.size(); ++i) out[i] = (p[i] + cv::Point2f(0.5f, 0.5f)) * s - cv::Point2f(0.5f, 0.5f) + shift;
  return out;
}

Face scaled_face(const Face& f, float s, cv::Point2f shift = {0, 0}) {
  Face out = f;
  out.landmarks68 = scaled(f.landmarks68, s, shift);
  out.landmarks5 = face::landmarks5_from_68(out.landmarks68);
  out.box = cv::Rect2f(f.box.x * s + shift.x, f.box.y * s + shift.y, f.box.width * s, f.box.height * s);
  return out;
}

// Every changed pixel lies inside the returned mask (mask > 0, dilated by one pixel for the
// rounding of the anti-aliased edge), and the mask is in [0, 1].
void expect_changes_only_inside_mask(const SwapRun& run) {
  ASSERT_EQ(run.mask.type(), CV_32FC1);
  ASSERT_EQ(run.mask.size(), run.original.size());
  double lo = 0, hi = 0;
  cv::minMaxLoc(run.mask, &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  cv::Mat support = run.mask > 0.0f;
  cv::dilate(support, support, cv::Mat::ones(3, 3, CV_8U));
  cv::Mat outside_changed = changed_pixels(run.original, run.result) & ~support;
  EXPECT_EQ(cv::countNonZero(outside_changed), 0) << "pixels changed outside the dilated face mask";
}

// ---------------------------------------------------------------------------------------------
// (1) Pixels outside the dilated face mask are unchanged, exactly.

TEST(ClassicalSwapper, ChangesPixelsOnlyInsideTheFaceMask) {
  for (ClassicalBlendMode mode : {ClassicalBlendMode::kMultiBand, ClassicalBlendMode::kPoisson}) {
    for (bool mouth : {false, true}) {
      ClassicalSwapOptions options;
      options.blend_mode = mode;
      options.mouth_mask = mouth;
      SwapRun run = run_swap({kTom, kJesper2}, options);
      SCOPED_TRACE(::testing::Message() << "poisson " << (mode == ClassicalBlendMode::kPoisson) << " mouth " << mouth);
      expect_changes_only_inside_mask(run);
      // The swap really happened: most of the inner face changed.
      cv::Rect inner = cv::boundingRect(std::vector<cv::Point2f>(run.target.landmarks68.begin() + 17,
                                                                 run.target.landmarks68.end()));
      cv::Mat changed = changed_pixels(run.original(inner), run.result(inner));
      EXPECT_GT(cv::countNonZero(changed), 0.8 * inner.area());
      // The mask stays around the face: nothing beyond the face box grown by its own size.
      cv::Rect2f b = run.target.box;
      cv::Rect around(cv::Rect2f(b.x - b.width * 0.5f, b.y - b.height * 0.5f, b.width * 2, b.height * 2));
      cv::Mat far = run.mask.clone();
      far(around & cv::Rect(0, 0, far.cols, far.rows)).setTo(0);
      EXPECT_EQ(cv::countNonZero(far), 0);
    }
  }
}

// (2) The result still has a face where the target's was, and (3) its landmarks stay close to the
// target's.
//
// Landmark tolerance: mean distance over the 68 points ≤ 0.15 × the target's inter-ocular distance
// (IOD, between the eye centres). The swap deliberately keeps the *source's* inner-face layout
// (eyes, nose and mouth placed by a similarity fitted to the target, DESIGN.md §4.2), so the
// result cannot match the target's landmarks exactly: between different people the inner-face
// layout after similarity alignment differs by ~3–10 % of the IOD, and dlib's landmarker itself
// moves by ~2–4 % IOD between two renderings of the same face. Measured on these pairs with the
// default morph: 0.03–0.10 mean. 0.15 leaves room for that and still fails a face that is
// misplaced by a quarter of an eye distance or a jaw that does not follow the target.
constexpr float kMaxMeanLandmarkError = 0.15f;  // × inter-ocular distance
constexpr float kMinRedetectIou = 0.7f;

TEST(ClassicalSwapper, ResultHasAFaceWhereTheTargetWasWithLandmarksNearTheTargets) {
  for (const auto& pair : identity_pairs()) {
    SCOPED_TRACE(pair.source.photo + " → " + pair.target.photo);
    SwapRun run = run_swap(pair, {});
    std::vector<Face> storage;
    float iou = 0;
    const Face* found = redetect(run.result, run.target.box, storage, &iou);
    ASSERT_NE(found, nullptr) << "no face in the result";
    EXPECT_GE(iou, kMinRedetectIou);
    ASSERT_TRUE(found->has_landmarks68());
    float iod = inter_ocular(run.target.landmarks68), sum = 0;
    for (int i = 0; i < face::kLandmarkCount68; ++i) sum += static_cast<float>(cv::norm(found->landmarks68[i] - run.target.landmarks68[i]));
    float mean = sum / face::kLandmarkCount68 / iod;
    EXPECT_LE(mean, kMaxMeanLandmarkError);
  }
}

// (4) Identity: the result is recognised as the source, not the target, and the default morph is
// the one this test chose. Prints the win rate and the mean margin d(result, target) −
// d(result, source) for each morph value.
//
// Measured (14 pairs, blazeface + dlib_68 + dlib ResNet descriptor; source wins / mean margin):
//   morph 0: 14/14 0.29   0.25: 14/14 0.28   0.5: 14/14 0.26   0.75: 14/14 0.18   1: 12/14 0.09
// The win rate saturates up to 0.75 and the margin falls as the inner face is bent toward the
// target's. 0.5 is the default: the largest morph that keeps the inner face purely the source's
// (all pairs won, ~90 % of morph 0's margin) while the jaw and outline follow the target
// completely — below 0.5 the target's own jaw line shows outside the source's (a visible
// face-in-face edge, a double chin); morph 1 (all landmarks warped onto the target's) loses two
// thirds of the margin.
// Since the swap keeps the target's expression (issue 17: its mouth and eyelids): 14/14 at every
// morph up to 0.75 (margins 0.21, 0.21, 0.20, 0.15), 12/14 at 1 (0.08); the 34-pair quality bench
// 34/34. With the source re-posed to the target's head pose (face/head_pose.h) and the target's
// fine detail on upsampled sources: 14/14 up to 0.5 (margins 0.158, 0.163, 0.156), 13/14 at 0.75
// (0.117), 11/14 at 1 (0.071); the bench 33/34. The bound is the issue's: identity must still move to the source in ≥ 90 % of pairs.
constexpr float kMinIdentityWinRate = 0.9f;

TEST(ClassicalSwapperSlow, ResultIsRecognisedAsTheSourceForMostPairs) {
  const auto* recognizer = analyser().recognizer();
  ASSERT_NE(recognizer, nullptr);
  const std::vector<float> morphs = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f};
  const float default_morph = ClassicalSwapOptions{}.morph;
  ASSERT_NE(std::find(morphs.begin(), morphs.end(), default_morph), morphs.end());
  std::vector<int> wins(morphs.size(), 0);
  std::vector<double> margin(morphs.size(), 0.0);
  int pairs = 0, mirrored = 0;
  for (const auto& pair : identity_pairs()) {
    PickedFace s = pick(pair.source), t = pick(pair.target);
    ASSERT_TRUE(s.found && t.found);
    auto es = recognizer->embed(s.image, s.face);
    auto et = recognizer->embed(t.image, t.face);
    ASSERT_TRUE(es.is_ok() && et.is_ok());
    // Distinct people by the recognizer's own rule.
    EXPECT_GT(recognizer->distance(*es, *et), recognizer->same_person_threshold() * 0.9f)
        << pair.source.photo << " and " << pair.target.photo << " look like the same person";
    ++pairs;
    mirrored += should_mirror_source(s.face.landmarks68, t.face.landmarks68) ? 1 : 0;
    for (size_t m = 0; m < morphs.size(); ++m) {
      ClassicalSwapOptions options;
      options.morph = morphs[m];
      cv::Mat result = t.image.clone();
      ASSERT_TRUE(classical_swap(result, t.face, {s.image, s.face}, options).is_ok());
      std::vector<Face> storage;
      const Face* found = redetect(result, t.face.box, storage, nullptr);
      if (found == nullptr) continue;  // counted as a loss
      auto er = recognizer->embed(result, *found);
      ASSERT_TRUE(er.is_ok());
      float to_source = recognizer->distance(*er, *es), to_target = recognizer->distance(*er, *et);
      wins[m] += to_source < to_target ? 1 : 0;
      margin[m] += to_target - to_source;
    }
  }
  ASSERT_GE(pairs, 8);
  EXPECT_GE(mirrored, 3) << "the pairs should exercise the mirrored-source path";
  size_t default_index = 0;
  for (size_t m = 0; m < morphs.size(); ++m) {
    std::printf("[ identity ] morph %.2f: source wins %d/%d (%.0f %%), mean margin %.3f\n", morphs[m], wins[m], pairs,
                100.0 * wins[m] / pairs, margin[m] / pairs);
    ::testing::Test::RecordProperty("morph_" + std::to_string(static_cast<int>(morphs[m] * 100)) + "_wins",
                                    wins[m]);
    if (morphs[m] == default_morph) default_index = m;
  }
  EXPECT_GE(wins[default_index], kMinIdentityWinRate * pairs);
  // Keeping the source's inner face is what carries identity: the default beats the full warp.
  EXPECT_GT(margin[default_index], margin.back());
}

// (5) blend, small faces, borders, source sizes, the mirrored source, mouth mask, bad input.

TEST(ClassicalSwapper, BlendZeroLeavesTheFrameUnchanged) {
  ClassicalSwapOptions options;
  options.blend = 0.0f;
  SwapRun run = run_swap({kTom, kJesper2}, options);
  EXPECT_EQ(cv::countNonZero(changed_pixels(run.original, run.result)), 0);
  EXPECT_EQ(cv::countNonZero(run.mask), 0);
}

TEST(ClassicalSwapper, BlendMixesTheSwapWithTheOriginal) {
  ClassicalSwapOptions full, half;
  half.blend = 0.5f;
  SwapRun a = run_swap({kTom, kJesper2}, full), b = run_swap({kTom, kJesper2}, half);
  cv::Mat orig, fa, fb;
  a.original.convertTo(orig, CV_32FC3);
  a.result.convertTo(fa, CV_32FC3);
  b.result.convertTo(fb, CV_32FC3);
  cv::Mat expected = orig * 0.5 + fa * 0.5;
  cv::Mat diff;
  cv::absdiff(expected, fb, diff);
  double max_diff = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  EXPECT_LE(max_diff, 1.01);  // rounding of the two 8-bit results
  EXPECT_NEAR(cv::sum(b.mask)[0], 0.5 * cv::sum(a.mask)[0], 1e-3 * cv::sum(a.mask)[0]);
}

TEST(ClassicalSwapper, SwapsASmallFace) {
  // new_wave_2's face (~210 px) shrunk to ~32 px: the mask shrinks with it (no fixed pixel
  // erosion eats it up) and stays inside the face.
  PickedFace t = pick(kNewWave), s = pick(kTom);
  ASSERT_TRUE(t.found && s.found);
  const float scale = 0.15f;
  cv::Mat small;
  cv::resize(t.image, small, cv::Size(), scale, scale, cv::INTER_AREA);
  Face target = scaled_face(t.face, scale);
  ASSERT_LT(face::face_size(target.landmarks68), 40.0f);
  SwapRun run;
  run.original = small;
  run.result = small.clone();
  ASSERT_TRUE(classical_swap(run.result, target, {s.image, s.face}, {}, &run.mask).is_ok());
  expect_changes_only_inside_mask(run);
  // The mask covers a good part of the face and reaches full strength in its middle.
  float size = face::face_size(target.landmarks68);
  EXPECT_GT(cv::countNonZero(run.mask > 0.5f), 0.3 * size * size);
  cv::Point2f nose = target.landmarks68[30];
  EXPECT_GT(run.mask.at<float>(cvRound(nose.y), cvRound(nose.x)), 0.99f);
  EXPECT_GT(cv::countNonZero(changed_pixels(run.original, run.result)), 0.3 * size * size);

  // ~11 px: still swapped, still only inside the mask; under 8 px: left alone.
  for (float tiny : {0.05f, 0.03f}) {
    cv::Mat frame;
    cv::resize(t.image, frame, cv::Size(), tiny, tiny, cv::INTER_AREA);
    SwapRun r;
    r.original = frame;
    r.result = frame.clone();
    Face f = scaled_face(t.face, tiny);
    ASSERT_TRUE(classical_swap(r.result, f, {s.image, s.face}, {}, &r.mask).is_ok());
    expect_changes_only_inside_mask(r);
    if (face::face_size(f.landmarks68) >= 8.0f) {
      EXPECT_GT(cv::countNonZero(changed_pixels(r.original, r.result)), 0);
    } else {
      EXPECT_EQ(cv::countNonZero(changed_pixels(r.original, r.result)), 0);
    }
  }
}

TEST(ClassicalSwapper, SwapsATargetFaceCutByTheFrameBorder) {
  PickedFace t = pick(kJesper2), s = pick(kTom);
  ASSERT_TRUE(t.found && s.found);
  // Crop so the left frame border runs through the middle of the target's left eye.
  int cut = cvRound(t.face.landmarks68[37].x);
  cv::Mat frame = t.image(cv::Rect(cut, 0, t.image.cols - cut, t.image.rows)).clone();
  Face target = scaled_face(t.face, 1.0f, cv::Point2f(static_cast<float>(-cut), 0));
  SwapRun run;
  run.original = frame;
  run.result = frame.clone();
  ASSERT_TRUE(classical_swap(run.result, target, {s.image, s.face}, {}, &run.mask).is_ok());
  expect_changes_only_inside_mask(run);
  // The face is swapped right up to the border (a face cut by the frame is not feathered there;
  // a feather would give ~0 at the border). The cheek there lies in the skin-gated zone, whose
  // gate is the skin likelihood (0.98 here since the mouth follows the target's, issue 17).
  int row = cvRound(target.landmarks68[33].y);
  EXPECT_GT(run.mask.at<float>(row, 0), 0.95f);
  // A face entirely outside the frame is not an error and changes nothing.
  Face gone = scaled_face(t.face, 1.0f, cv::Point2f(-5000, 0));
  cv::Mat untouched = frame.clone();
  ASSERT_TRUE(classical_swap(untouched, gone, {s.image, s.face}, {}).is_ok());
  EXPECT_EQ(cv::countNonZero(changed_pixels(frame, untouched)), 0);
}

TEST(ClassicalSwapper, HandlesASourceFaceCutByItsImageBorder) {
  PickedFace t = pick(kJesper2), s = pick(kTom);
  ASSERT_TRUE(t.found && s.found);
  int cut = cvRound(s.face.landmarks68[2].x + (s.face.landmarks68[31].x - s.face.landmarks68[2].x) * 0.5f);
  cv::Mat source_image = s.image(cv::Rect(cut, 0, s.image.cols - cut, s.image.rows)).clone();
  Face source = scaled_face(s.face, 1.0f, cv::Point2f(static_cast<float>(-cut), 0));
  SwapRun full = run_swap({kTom, kJesper2}, {});
  SwapRun run;
  run.original = t.image;
  run.result = t.image.clone();
  ASSERT_TRUE(classical_swap(run.result, t.face, {source_image, source}, {}, &run.mask).is_ok());
  expect_changes_only_inside_mask(run);
  // Where the source has no pixels the mask fades out: it is clearly smaller than with the whole
  // source, but the rest of the face is still swapped.
  double cut_area = cv::sum(run.mask)[0], full_area = cv::sum(full.mask)[0];
  EXPECT_LT(cut_area, 0.95 * full_area);
  EXPECT_GT(cut_area, 0.4 * full_area);
}

TEST(ClassicalSwapper, KeepsIdentityWhenTheSourceIsMuchSmallerOrLargerThanTheTarget) {
  const auto* recognizer = analyser().recognizer();
  ASSERT_NE(recognizer, nullptr);
  PickedFace t = pick(kJesper2), s = pick(kTom);
  ASSERT_TRUE(t.found && s.found);
  auto es = recognizer->embed(s.image, s.face);
  auto et = recognizer->embed(t.image, t.face);
  ASSERT_TRUE(es.is_ok() && et.is_ok());
  // Tom's face is ~355 px, the target's ~235 px: ×0.3 makes the source ~105 px (upsampled onto
  // the target), ×2.5 makes it ~890 px (downsampled before warping).
  for (float scale : {0.3f, 2.5f}) {
    SCOPED_TRACE(scale);
    cv::Mat source_image;
    cv::resize(s.image, source_image, cv::Size(), scale, scale, scale < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
    SwapRun run;
    run.original = t.image;
    run.result = t.image.clone();
    ASSERT_TRUE(classical_swap(run.result, t.face, {source_image, scaled_face(s.face, scale)}, {}, &run.mask).is_ok());
    expect_changes_only_inside_mask(run);
    std::vector<Face> storage;
    const Face* found = redetect(run.result, t.face.box, storage, nullptr);
    ASSERT_NE(found, nullptr);
    auto er = recognizer->embed(run.result, *found);
    ASSERT_TRUE(er.is_ok());
    EXPECT_LT(recognizer->distance(*er, *es), recognizer->distance(*er, *et));
  }
}

TEST(ClassicalSwapper, MirrorsLandmarksWithTheLeftRightPermutation) {
  PickedFace p = pick(kSample6Right);
  ASSERT_TRUE(p.found);
  const Landmarks68& a = p.face.landmarks68;
  Landmarks68 m = mirror_landmarks68(a, p.image.cols);
  Landmarks68 back = mirror_landmarks68(m, p.image.cols);
  for (int i = 0; i < face::kLandmarkCount68; ++i) EXPECT_LT(cv::norm(back[i] - a[i]), 1e-3) << i;
  // Index meanings survive: jaw 0 is still on the image's left, the left eye is still left of the
  // right eye, mouth corner 48 left of 54, and the nose tip is the same point.
  EXPECT_LT(m[0].x, m[16].x);
  EXPECT_LT(m[36].x, m[45].x);
  EXPECT_LT(m[48].x, m[54].x);
  EXPECT_NEAR(m[30].x, p.image.cols - 1 - a[30].x, 1e-3);
  EXPECT_NEAR(estimate_yaw(m), -estimate_yaw(a), 1e-4);
}

TEST(ClassicalSwapper, UsesTheMirroredSourceWhenYawsAreOpposite) {
  // sample6's right-hand woman looks one way, its left-hand woman the other.
  PickedFace s = pick(kSample6Right), t = pick(kSample6Left);
  ASSERT_TRUE(s.found && t.found);
  ASSERT_LT(estimate_yaw(s.face.landmarks68) * estimate_yaw(t.face.landmarks68), 0.0f);
  ASSERT_TRUE(should_mirror_source(s.face.landmarks68, t.face.landmarks68));
  // The same source, flipped beforehand with exactly mirrored landmarks, needs no mirroring and
  // must give the same swap: this checks the mirrored path end to end (image flip, landmark
  // permutation, yaw decision).
  cv::Mat flipped;
  cv::flip(s.image, flipped, 1);
  Face flipped_face = s.face;
  flipped_face.landmarks68 = mirror_landmarks68(s.face.landmarks68, s.image.cols);
  ASSERT_FALSE(should_mirror_source(flipped_face.landmarks68, t.face.landmarks68));
  cv::Mat via_mirror = t.image.clone(), via_flipped = t.image.clone(), mask;
  ASSERT_TRUE(classical_swap(via_mirror, t.face, {s.image, s.face}, {}, &mask).is_ok());
  ASSERT_TRUE(classical_swap(via_flipped, t.face, {flipped, flipped_face}, {}).is_ok());
  cv::Mat diff;
  cv::absdiff(via_mirror, via_flipped, diff);
  double max_diff = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  cv::Scalar mean_diff = cv::mean(diff, mask > 0.0f);
  EXPECT_LE(max_diff, 4.0);
  EXPECT_LT((mean_diff[0] + mean_diff[1] + mean_diff[2]) / 3, 0.2);
  // And it differs from what the unmirrored source would give (the mirroring did something).
  EXPECT_GT(cv::countNonZero(changed_pixels(via_mirror, t.image)), 0);
}

// Video and live frames decide the mirroring on the track's yaw (Face::track_yaw), not on each
// frame's points: a target whose yaw hovers near kMirrorYawThreshold flipped the source's mirror
// image from frame to frame (the 640×480 talking head with jesper.jpg: 7 flips in 11 frames).
TEST(ClassicalSwapper, MirrorsOnTheTracksYawWhenTheFaceHasOne) {
  PickedFace s = pick(kSample6Right), t = pick(kSample6Left);
  ASSERT_TRUE(s.found && t.found);
  ASSERT_TRUE(should_mirror_source(s.face.landmarks68, t.face));
  Face frontal_track = t.face;
  frontal_track.track_yaw = 0.0f;  // the track looks straight ahead: no mirroring
  EXPECT_FALSE(should_mirror_source(s.face.landmarks68, frontal_track));
  Face turned_track = t.face;
  turned_track.track_yaw = estimate_yaw(t.face.landmarks68);
  EXPECT_TRUE(should_mirror_source(s.face.landmarks68, turned_track));
  // classical_swap follows it: the frontal track's swap is not the mirrored one its points ask for,
  // and the turned track's is.
  cv::Mat by_frontal_track = t.image.clone(), by_turned_track = t.image.clone(), by_points = t.image.clone();
  ASSERT_TRUE(classical_swap(by_frontal_track, frontal_track, {s.image, s.face}, {}).is_ok());
  ASSERT_TRUE(classical_swap(by_turned_track, turned_track, {s.image, s.face}, {}).is_ok());
  ASSERT_TRUE(classical_swap(by_points, t.face, {s.image, s.face}, {}).is_ok());
  EXPECT_GT(cv::countNonZero(changed_pixels(by_frontal_track, by_points)), 0) << "the track's yaw was not used";
  EXPECT_EQ(cv::countNonZero(changed_pixels(by_turned_track, by_points)), 0);
}

TEST(ClassicalSwapper, APreparedSourceSwapsLikeTheWholePhoto) {
  // Video jobs swap from the source prepared once per job (prepared_source: cropped to the face's
  // surroundings, reduced, mirrored beforehand); for targets up to the size it was prepared for it
  // must give the swap the whole photo gives. Tom's face ×2.5 is ~890 px, reduced when prepared
  // (for a target 1.6× larger than the one swapped it is reduced twice); sample6's women look
  // opposite ways (mirrored beforehand).
  struct Case {
    FaceRef source;
    float source_scale;
    FaceRef target;
    float prepared_for;  // × the target's face size
  };
  for (const Case& c : {Case{kTom, 2.5f, kJesper2, 1.0f}, Case{kTom, 2.5f, kJesper2, 1.6f},
                        Case{kSample6Right, 1.0f, kSample6Left, 1.0f}}) {
    SCOPED_TRACE(c.source.photo + " x" + std::to_string(c.source_scale) + " onto " + c.target.photo +
                 ", prepared for " + std::to_string(c.prepared_for) + " x its size");
    PickedFace s = pick(c.source), t = pick(c.target);
    ASSERT_TRUE(s.found && t.found);
    SwapSourceFace source{s.image, s.face};
    if (c.source_scale != 1.0f) {
      cv::resize(s.image, source.image, cv::Size(), c.source_scale, c.source_scale, cv::INTER_CUBIC);
      source.face = scaled_face(s.face, c.source_scale);
    }
    const bool mirrored = should_mirror_source(source.face.landmarks68, t.face.landmarks68);
    const SwapSourceFace prepared =
        prepared_source(source, c.prepared_for * face::face_size(t.face.landmarks68), mirrored);
    EXPECT_LT(prepared.image.total(), source.image.total() / 2) << "only the face's surroundings are kept";
    EXPECT_FALSE(should_mirror_source(prepared.face.landmarks68, t.face.landmarks68));
    cv::Mat from_photo = t.image.clone(), from_prepared = t.image.clone(), mask;
    ASSERT_TRUE(classical_swap(from_photo, t.face, source, {}, &mask).is_ok());
    ASSERT_TRUE(classical_swap(from_prepared, t.face, prepared, {}).is_ok());
    ASSERT_GT(cv::countNonZero(mask > 0.5f), 1000);
    cv::Mat diff;
    cv::absdiff(from_photo, from_prepared, diff);
    const cv::Scalar mean_diff = cv::mean(diff, mask > 0.0f);
    const double mean_level = (mean_diff[0] + mean_diff[1] + mean_diff[2]) / 3;
    std::printf("[ prepared source ] mean difference inside the mask %.3f levels\n", mean_level);
    // 0.000 levels when one reduction or none is made (the same pixels), 0.57 with two reductions
    // (INTER_AREA twice is not once); landmarks off by 2 px give 3.2–4.5, a wrong scale or
    // mirroring far more.
    EXPECT_LT(mean_level, 1.0);
  }
}

TEST(ClassicalSwapper, MouthMaskKeepsTheTargetsInnerMouth) {
  // new_wave_2 smiles with his teeth showing; Tom's mouth is placed over it.
  PickedFace t = pick(kNewWave), s = pick(kTom);
  ASSERT_TRUE(t.found && s.found);
  std::vector<cv::Point2f> inner(t.face.landmarks68.begin() + 60, t.face.landmarks68.end());
  cv::Mat hard = face::polygon_mask(inner, cv::Rect(0, 0, t.image.cols, t.image.rows));
  cv::erode(hard, hard, cv::Mat::ones(3, 3, CV_8U));
  ASSERT_GT(cv::countNonZero(hard), 50) << "the target's mouth should be open";
  auto swap = [&](ClassicalSwapOptions options) {
    cv::Mat result = t.image.clone();
    EXPECT_TRUE(classical_swap(result, t.face, {s.image, s.face}, options).is_ok());
    return result;
  };
  ClassicalSwapOptions keep;
  keep.mouth_mask = true;
  EXPECT_EQ(cv::countNonZero(changed_pixels(t.image, swap(keep)) & hard), 0)
      << "inner mouth changed although mouth_mask is on";
  // The pre-issue-17 geometry pastes the source's mouth over it.
  ClassicalSwapOptions old;
  old.geometry = ClassicalGeometry::kSourceExpression;
  EXPECT_GT(cv::countNonZero(changed_pixels(t.image, swap(old)) & hard), cv::countNonZero(hard) / 2);
  // The default keeps the target's own teeth (only the blend's colour levels touch them): mean
  // difference inside the inner mouth under 6 grey levels (measured 2–3), against ~40 for the
  // source's mouth pasted there.
  cv::Mat diff_default, diff_old;
  cv::absdiff(t.image, swap({}), diff_default);
  cv::absdiff(t.image, swap(old), diff_old);
  const double mean_default = cv::mean(diff_default, hard)[0], mean_old = cv::mean(diff_old, hard)[0];
  std::printf("[ inner mouth ] mean |result - target|: default %.1f, source geometry %.1f\n", mean_default, mean_old);
  EXPECT_LT(mean_default, 6.0);
  EXPECT_GT(mean_old, 3 * mean_default);
}

// (6) Realism (issue 17): the target's expression and pose, measured on the re-detected result.
// Numbers from `make bench-quality` (docs/benchmarks.md), same pairs.

struct RealismRun {
  float mouth_error = 1, eye_error = 1, pose_error = 1;  // |result − target|; pose in target IODs
};

RealismRun measure_realism(const SwapPair& pair, ClassicalGeometry geometry) {
  ClassicalSwapOptions options;
  options.geometry = geometry;
  SwapRun run = run_swap(pair, options);
  RealismRun out;
  std::vector<Face> storage;
  float iou = 0;
  const Face* found = redetect(run.result, run.target.box, storage, &iou);
  EXPECT_NE(found, nullptr) << "no face in the result";
  if (found == nullptr || iou < kMinRedetectIou) return out;
  const Landmarks68& r = found->landmarks68;
  const Landmarks68& t = run.target.landmarks68;
  out.mouth_error = std::abs(face::mouth_open_ratio(r) - face::mouth_open_ratio(t));
  out.eye_error = std::abs(face::eye_open_ratio(r) - face::eye_open_ratio(t));
  double sum = 0;
  for (int i = 0; i < face::kLandmarkCount68; ++i) sum += cv::norm(r[i] - t[i]);
  out.pose_error = static_cast<float>(sum / face::kLandmarkCount68 / face::inter_ocular_distance(t));
  return out;
}

// Laughing and open-mouthed targets (mouth-open ratio 0.28–0.43) given closed- or half-open-mouthed
// sources: the result's mouth opens like the target's. Measured (default / pre-issue-17 geometry):
// mouth-open error 0.068 / 0.241 (0.061 until session 19 sharpened this 30 px face), 0.012 / 0.117,
// 0.007 / 0.174, 0.012 / 0.090, 0.022 / 0.127 (mean 0.024 / 0.150); eye-open error mean 0.05 /
// 0.09. Bounds: each ≤ 0.10 and mean ≤ 0.05 (the "within 0.05"; the worst, a 0.43 laugh,
// keeps 83 % of its opening), eyes mean ≤ 0.07.
TEST(ClassicalSwapperRealism, KeepsTheTargetsOpenMouthAndEyes) {
  const std::vector<SwapPair> pairs = {
      {kAstronaut, {"dlib_faces/2008_001009.jpg", {183, 121}}},
      {kTom, {"dlib_faces/2008_001009.jpg", {167, 255}}},
      {kJesper2, {"dlib_faces/2008_002506.jpg", {268, 144}}},
      {kSample3Right, {"photos/qt-logo.jpg", {618, 122}}},
      {{"dlib_faces/bald_guys.jpg", {1141, 851}}, {"dlib_faces/2008_001009.jpg", {167, 255}}},
  };
  double mouth = 0, mouth_old = 0, eyes = 0;
  for (const auto& pair : pairs) {
    SCOPED_TRACE(pair.source.photo + " → " + pair.target.photo);
    RealismRun now = measure_realism(pair, ClassicalGeometry::kTargetExpression);
    RealismRun old = measure_realism(pair, ClassicalGeometry::kSourceExpression);
    std::printf("[ expression ] mouth error %.3f (old %.3f), eye error %.3f\n", now.mouth_error, old.mouth_error,
                now.eye_error);
    EXPECT_LE(now.mouth_error, 0.10f);
    mouth += now.mouth_error;
    mouth_old += old.mouth_error;
    eyes += now.eye_error;
  }
  const double n = static_cast<double>(pairs.size());
  EXPECT_LE(mouth / n, 0.05);
  EXPECT_LE(eyes / n, 0.07);
  EXPECT_LT(mouth, 0.5 * mouth_old) << "the old geometry copied the source's mouth";
}

// Tilted (roll 29–35°) and strongly turned (fitted yaw −32°, estimate_yaw −0.79) heads, as source or
// target: the result's 68 points stay near the target's. Bound: the 0.10 IOD for every pair.
// Measured mean landmark error with the 3D re-pose (2D placement / pre-issue-17, IOD): tilted source
// 0.051 (0.055 / 0.070), tilted turned source 0.060 (0.053 / 0.052), tilted target 0.042 (0.046 /
// 0.076), strongly turned source 0.070 (0.046 / 0.119; see the next test).
TEST(ClassicalSwapperRealism, FollowsTiltedAndTurnedHeadsWithoutFolds) {
  const FaceRef tilted{"photos/sample4.jpg", {722, 204}}, tilted_turned{"photos/sample4.jpg", {1326, 283}};
  const FaceRef turned{"photos/sample4.jpg", {1035, 328}};
  const std::vector<SwapPair> pairs = {
      {tilted, kNewWave}, {tilted_turned, kAstronaut}, {kAstronaut, tilted}, {turned, kSample6Middle}};
  for (const auto& pair : pairs) {
    SCOPED_TRACE(pair.source.photo + " → " + pair.target.photo);
    RealismRun now = measure_realism(pair, ClassicalGeometry::kTargetExpression);
    std::printf("[ pose ] landmark error %.3f IOD\n", now.pose_error);
    EXPECT_LE(now.pose_error, 0.10f);
  }
}

// The worst pair of the quality table after the generic 3D face: a strongly turned source (fitted
// yaw −32°, estimate_yaw −0.79) onto a frontal target. Turned all the way back to frontal, its
// hidden cheek was stretched out of the silhouette's few pixels: 0.092 IOD (0.046 with the 2D
// placement). The re-pose now turns a source toward the camera by at most 20°: 0.070 (bench). Bound
// 0.08, which the full re-pose failed.
TEST(ClassicalSwapperRealism, TurnsAStronglyTurnedSourceOnlyPartWayBack) {
  const SwapPair pair{{"photos/sample4.jpg", {1035, 328}}, kSample6Middle};
  RealismRun now = measure_realism(pair, ClassicalGeometry::kTargetExpression);
  std::printf("[ pose ] strongly turned source onto a frontal target: %.3f IOD\n", now.pose_error);
  EXPECT_LE(now.pose_error, 0.08f);
}

// The worst case of the quality table before the generic 3D face (docs/benchmarks.md): a frontal
// source onto a laughing target turned 38° (fitted yaw; estimate_yaw 0.76). Placing the source's
// frontal layout with a similarity put its nose in the middle of a turned face: 0.199 IOD. Re-posed
// to the target's head pose: 0.046 (bench). Bound: the 0.10, and at most half the 2D
// placement's error.
TEST(ClassicalSwapperRealism, ReposesAFrontalSourceOntoATurnedLaughingTarget) {
  const SwapPair pair{kNewWave, {"photos/sample5.jpg", {721, 560}}};
  RealismRun now = measure_realism(pair, ClassicalGeometry::kTargetExpression);
  RealismRun flat = measure_realism(pair, ClassicalGeometry::kTargetExpressionFlat);
  std::printf("[ pose ] re-posed %.3f IOD, 2D placement %.3f IOD; mouth error %.3f\n", now.pose_error,
              flat.pose_error, now.mouth_error);
  EXPECT_LE(now.pose_error, 0.10f);
  EXPECT_LT(now.pose_error, 0.5f * flat.pose_error);
  EXPECT_LE(now.mouth_error, 0.10f);
}

// The talking-head clip (videos/talking_head.avi, every 2nd frame) swapped with a still source whose
// mouth is open in a smile (astronaut.png, teeth showing): the result must keep talking. Issue 17's
// bounds: the result's mouth-open ratio follows the target's with a correlation ≥ 0.8 and spans
// ≥ 0.8× its range (5–95 % spread). Measured (bench-quality --video): correlation 0.93, range
// 0.88× (pre-issue-17 geometry: 0.45, 0.29×).
TEST(ClassicalSwapperRealism, KeepsATalkingHeadTalking) {
  auto reader = media::VideoReader::open(testing::testdata("videos/talking_head.avi"));
  ASSERT_TRUE(reader.is_ok()) << reader.status().to_string();
  PickedFace s = pick(kAstronaut);
  ASSERT_TRUE(s.found);
  std::vector<double> target_mouth, result_mouth;
  cv::Mat frame;
  for (int64_t index = 0;; ++index) {
    auto more = (*reader)->read(frame, index);
    ASSERT_TRUE(more.is_ok()) << more.status().to_string();
    if (!*more) break;
    if (index % 2 != 0) continue;
    auto faces = analyser().analyse(frame);
    ASSERT_TRUE(faces.is_ok()) << faces.status().to_string();
    if (faces->empty()) continue;
    const Face& target = *face::largest_face(*faces);
    cv::Mat result = frame.clone();
    ASSERT_TRUE(classical_swap(result, target, {s.image, s.face}, {}).is_ok());
    auto again = analyser().analyse(result);
    ASSERT_TRUE(again.is_ok()) << again.status().to_string();
    if (again->empty()) continue;
    target_mouth.push_back(face::mouth_open_ratio(target.landmarks68));
    result_mouth.push_back(face::mouth_open_ratio(face::largest_face(*again)->landmarks68));
  }
  ASSERT_GE(target_mouth.size(), 30u) << "faces found in too few frames";
  const std::optional<double> follows = pearson_correlation(target_mouth, result_mouth);
  ASSERT_TRUE(follows.has_value()) << "the target's or the result's mouth never moved";
  const double correlation = *follows;
  const auto spread = percentile_spread;
  const double range = spread(result_mouth) / spread(target_mouth);
  std::printf("[ video ] %zu frames: mouth-open correlation %.2f, range %.2f × the target's\n", target_mouth.size(),
              correlation, range);
  EXPECT_GE(correlation, 0.8);
  EXPECT_GE(range, 0.8);
}

// The swapped face in `result` (re-detected near the target's box) is closer to the source's dlib
// descriptor than to the target's: what `what` changed did not give identity back.
void expect_recognised_as_source(const SwapRun& run, const char* what) {
  const auto* recognizer = analyser().recognizer();
  ASSERT_NE(recognizer, nullptr);
  std::vector<Face> storage;
  const Face* found = redetect(run.result, run.target.box, storage, nullptr);
  ASSERT_NE(found, nullptr);
  auto er = recognizer->embed(run.result, *found);
  auto es = recognizer->embed(run.source.image, run.source.face);
  auto et = recognizer->embed(run.original, run.target);
  ASSERT_TRUE(er.is_ok() && es.is_ok() && et.is_ok());
  EXPECT_LT(recognizer->distance(*er, *es), recognizer->distance(*er, *et)) << what;
}

// Fine detail of the band over the brows and upper lids (hull of points 17–26 and 36–39, 42–45 of
// `points`): mean squared 3×3 Laplacian of the grey image, `result` over `original`.
double brow_band_sharpness_ratio(const cv::Mat& original, const cv::Mat& result, const Landmarks68& points) {
  std::vector<cv::Point2f> band(points.begin() + 17, points.begin() + 27);
  for (int i : {36, 37, 38, 39, 42, 43, 44, 45}) band.push_back(points[i]);
  std::vector<cv::Point2f> hull;
  cv::convexHull(band, hull);
  const cv::Mat inside = face::polygon_mask(hull, cv::Rect(0, 0, original.cols, original.rows));
  auto energy = [&](const cv::Mat& bgr) {
    cv::Mat grey, lap;
    cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
    cv::Laplacian(grey, lap, CV_32F, 3);
    return cv::mean(lap.mul(lap), inside)[0];
  };
  return energy(result) / energy(original);
}

// A source seen from above (jesper.jpg, fitted pitch −36°) onto a target seen from below
// (new_wave_2.jpg, +15°), the quality bench's pair 34: re-posed the whole 50°, the source's brows
// and upper lids were stretched over the forehead into thick, blurred bands (at 100 %; decision
// 0006). The re-pose now tips a source by at most 30° (limit_repose). The brow band's fine detail
// (after the sharpness match) measures 0.80× the target's with the full re-pose and 0.87× with the
// limited one; bound 0.84. Still recognised as the source (identity margin 0.155 → 0.175 in the
// bench).
TEST(ClassicalSwapperRealism, TipsASourceSeenFromAboveOnlyPartWayUp) {
  const SwapPair pair{{"photos/jesper.jpg", {409, 275}}, kNewWave};
  const SwapRun run = run_swap(pair, {});
  ASSERT_TRUE(run.found);
  const double brows = brow_band_sharpness_ratio(run.original, run.result, run.target.landmarks68);
  std::printf("[ pitch ] source seen from above onto a target seen from below: brow band %.2f × the target's\n", brows);
  EXPECT_GE(brows, 0.84);
  expect_recognised_as_source(run, "the limited re-pose gave identity back");
}

// Pixels of the forehead band (face/forehead_strands.h) of `points` in `image`.
int forehead_band_pixels(const cv::Mat& image, const Landmarks68& points) {
  return cv::countNonZero(face::polygon_mask(face::forehead_band(points), cv::Rect(0, 0, image.cols, image.rows)));
}

// A source with a fringe (jesper_2.jpg: strands of hair across the forehead) put onto a frontal
// target (new_wave_2.jpg, bench pair 1) left those strands, half transparent, across the target's
// forehead: the forehead gate's skin test runs on a reduced copy where a strand is a fraction of a
// pixel. The strands are now painted over in the source before it is warped. Measured: the
// fringe's band is 56 % strands, foreheads without one 0–15 % (the hair above the hairline, whose
// mass the forehead gate leaves out anyway, and wrinkles); new strands in the result's forehead
// band, where the target has none within 2 px: 3.7 % of the band before, 1.2 % after (the curls
// lying on the brow stay). Bound 2.5 %, and still recognised as the source.
TEST(ClassicalSwapperRealism, LeavesTheSourcesFringeOutOfTheForehead) {
  const PickedFace fringe = pick(kJesper2), clean = pick(kAstronaut);
  ASSERT_TRUE(fringe.found && clean.found);
  auto strands = [](const PickedFace& f) {
    return cv::countNonZero(face::forehead_strands_mask(f.image, f.face.landmarks68)) /
           static_cast<double>(forehead_band_pixels(f.image, f.face.landmarks68));
  };
  const double with_fringe = strands(fringe), without = strands(clean);
  const SwapRun run = run_swap({kJesper2, kNewWave}, {});
  ASSERT_TRUE(run.found);
  const cv::Mat in_result = face::forehead_strands_mask(run.result, run.target.landmarks68);
  cv::Mat in_target = face::forehead_strands_mask(run.original, run.target.landmarks68);
  cv::dilate(in_target, in_target, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(5, 5)));
  const double added = cv::countNonZero(in_result & ~in_target) /
                       static_cast<double>(forehead_band_pixels(run.result, run.target.landmarks68));
  std::printf("[ strands ] forehead band: fringe %.2f, astronaut %.2f strands; new strands in the result %.3f\n",
              with_fringe, without, added);
  EXPECT_GT(with_fringe, 2.0 * without);
  EXPECT_LE(added, 0.025);
  expect_recognised_as_source(run, "painting the strands over gave identity back");
}

// A small source face (42 px, 2008_002470.jpg) onto a 235 px target: upsampled 5.6×, it has no
// detail finer than ~6 px, and the face came out smeared (Laplacian energy of the inner face 0.07×
// the target's). The target's own fine skin detail is added where both faces are skin (0.43×),
// and since the sharpness match (match_target_sharpness) the source's own remaining detail is
// sharpened up to the target's: measured 0.90× (the goal; 0.85× until session 19), and the result is
// still the source (margin 0.31, bench 0.33). Bound 0.8×: the issue's.
TEST(ClassicalSwapperRealism, ASmallSourceGetsTheTargetsFineDetail) {
  const SwapRun run = run_swap({{"dlib_faces/2008_002470.jpg", {301, 206}}, kJesper2}, {});
  ASSERT_TRUE(run.found);
  ASSERT_GT(face::face_size(run.target.landmarks68), 5.0f * face::face_size(run.source.face.landmarks68));
  const double ratio = face::inner_face_sharpness_ratio(run.original, run.result, run.target.landmarks68);
  std::printf("[ sharpness ] small source: %.2f × the target's\n", ratio);
  EXPECT_GE(ratio, 0.8);
  expect_recognised_as_source(run, "the detail gave identity back");
}

// "Soft at 100 %": pairs of the quality bench whose swapped face was under 0.8× the target's
// inner-face sharpness (face/inner_face_sharpness.h) — a lower-resolution or smoother source
// (Tom Cruise → jesper_2, 0.43×), blurred sources (sample5 → sample6, 0.31×; sample2 → bar55_2,
// 0.17×), a tilted turned one (bald_guys → jesper_2, 0.24×) and a turned one (sample5 → sample3,
// 0.28×). The sharpness match brings each to 0.86–0.90× (its goal is 0.9×), and each result is
// still recognised as its source (bench margins 0.13–0.31). Since session 19 small targets too: a
// laughing face 30 px between the eyes (astronaut → 2008_001009) and a 35 px one under a tilted,
// turned source (2008_002506 → 2008_001322) were left unsharpened under 40 px (0.59×, 0.59×) and
// now reach 0.85×, 0.86×. Bound 0.8×: the issue's.
TEST(ClassicalSwapperRealism, MatchesTheTargetsSharpness) {
  const std::vector<SwapPair> pairs = {
      {kAstronaut, {"dlib_faces/2008_001009.jpg", {183, 121}}},
      {{"dlib_faces/2008_002506.jpg", {173, 110}}, {"dlib_faces/2008_001322.jpg", {392, 205}}},
      {{"dlib_faces/Tom_Cruise_avp_2014_4.jpg", {265, 506}}, {"photos/jesper_2.jpg", {377, 281}}},
      {{"photos/sample5.jpg", {1183, 334}}, {"photos/sample6.jpg", {745, 512}}},
      {{"photos/sample2.jpg", {1535, 310}}, {"photos/bar55_2.jpg", {327, 209}}},
      {{"dlib_faces/bald_guys.jpg", {1892, 1394}}, {"photos/jesper_2.jpg", {377, 281}}},
      {{"photos/sample5.jpg", {1478, 555}}, {"photos/sample3.jpg", {671, 483}}},
  };
  for (const auto& pair : pairs) {
    SCOPED_TRACE(pair.source.photo + " -> " + pair.target.photo);
    const SwapRun run = run_swap(pair, {});
    ASSERT_TRUE(run.found);
    const double ratio = face::inner_face_sharpness_ratio(run.original, run.result, run.target.landmarks68);
    std::printf("[ sharpness ] %s -> %s: %.2f × the target's\n", pair.source.photo.c_str(), pair.target.photo.c_str(),
                ratio);
    EXPECT_GE(ratio, 0.8);
    expect_recognised_as_source(run, "the sharpening gave identity back");
  }
}

// The other way: a sharp source on a soft target face looks pasted on (the bench's laughing target
// turned 38°, new_wave_2 → sample5, was 9.6× the target's inner-face sharpness; a frontal source
// onto a soft target tilted 35°, 5.0×; a strongly turned soft target, 6.2×). Softened toward 1.1×
// (decision 0006): measured 1.12×, 1.11×, 1.13×, each still recognised as its source. Bound 1.3×
// (softening starts above it); without the match each is over 4×.
TEST(ClassicalSwapperRealism, SoftensAFaceSharperThanItsPhoto) {
  const std::vector<SwapPair> pairs = {
      {{"photos/new_wave_2.jpg", {400, 306}}, {"photos/sample5.jpg", {721, 560}}},
      {{"photos/new_wave_2.jpg", {400, 306}}, {"photos/sample4.jpg", {1326, 283}}},
      {{"photos/sample6.jpg", {1563, 440}}, {"photos/sample4.jpg", {1035, 328}}},
  };
  ClassicalSwapOptions off;
  off.match_target_sharpness = false;
  for (const auto& pair : pairs) {
    SCOPED_TRACE(pair.source.photo + " -> " + pair.target.photo);
    const SwapRun run = run_swap(pair, {}), plain = run_swap(pair, off);
    ASSERT_TRUE(run.found);
    const double ratio = face::inner_face_sharpness_ratio(run.original, run.result, run.target.landmarks68);
    const double plain_ratio = face::inner_face_sharpness_ratio(plain.original, plain.result, plain.target.landmarks68);
    std::printf("[ sharpness ] %s -> %s: %.2f × the target's (unmatched %.2f)\n", pair.source.photo.c_str(),
                pair.target.photo.c_str(), ratio, plain_ratio);
    EXPECT_GT(plain_ratio, 4.0);
    EXPECT_LE(ratio, 1.3);
    EXPECT_GE(ratio, 0.8);
    expect_recognised_as_source(run, "the softening gave identity back");
  }
}

// Video and live frames swap without the sharpness match (FaceSwapper sets the option from
// FrameContext::still_image): off, the first pair above stays as soft as before it (0.43×).
TEST(ClassicalSwapperRealism, TheSharpnessMatchCanBeTurnedOff) {
  PickedFace s = pick({"dlib_faces/Tom_Cruise_avp_2014_4.jpg", {265, 506}}), t = pick({"photos/jesper_2.jpg", {377, 281}});
  ASSERT_TRUE(s.found && t.found);
  ClassicalSwapOptions off;
  off.match_target_sharpness = false;
  cv::Mat matched = t.image.clone(), plain = t.image.clone();
  ASSERT_TRUE(classical_swap(matched, t.face, {s.image, s.face}, {}).is_ok());
  ASSERT_TRUE(classical_swap(plain, t.face, {s.image, s.face}, off).is_ok());
  const double on_ratio = face::inner_face_sharpness_ratio(t.image, matched, t.face.landmarks68);
  const double off_ratio = face::inner_face_sharpness_ratio(t.image, plain, t.face.landmarks68);
  std::printf("[ sharpness ] matched %.2f, off %.2f × the target's\n", on_ratio, off_ratio);
  EXPECT_LT(off_ratio, 0.6);
  EXPECT_GT(on_ratio, off_ratio + 0.3);
}

// What the sharpness match does not reach: a motion-blurred source (sample4.jpg, tilted 29°) onto a
// sharp target has almost no detail above the coring level to sharpen, and the gain stops at 3×:
// 0.14× → 0.32× (bench). Held at ≥ 0.28× (twice what it was) so a regression shows. (Its
// source_face_sharpness, 0.205, is above the "blurred" warning's 0.12: it gets no warning.)
TEST(ClassicalSwapperRealism, AMotionBlurredSourceIsSharpenedOnlyPartWay) {
  PickedFace s = pick({"photos/sample4.jpg", {722, 204}}), t = pick({"photos/new_wave_2.jpg", {400, 306}});
  ASSERT_TRUE(s.found && t.found);
  cv::Mat result = t.image.clone();
  ASSERT_TRUE(classical_swap(result, t.face, {s.image, s.face}, {}).is_ok());
  const double ratio = face::inner_face_sharpness_ratio(t.image, result, t.face.landmarks68);
  std::printf("[ sharpness ] motion-blurred source: %.2f × the target's\n", ratio);
  EXPECT_GE(ratio, 0.28);
}

// The inner-face energy at the common scale (face/inner_face_sharpness.h), which video tracks and
// the video source are compared by (FaceSwapper softens a source sharper than its track): the same
// 440 px face at half its size (still over the common 192 px) measures about the same, so the
// comparison does not depend on how large either face is; a face smaller than that has less detail
// to show and measures less; and a blurred face measures less, the more the blur.
TEST(InnerFaceEnergy, IsTheSameAtAnySizeOverTheCommonOneAndFallsWithBlur) {
  PickedFace t = pick({"photos/jesper.jpg", {409, 275}});
  ASSERT_TRUE(t.found);
  const Landmarks68& p = t.face.landmarks68;
  auto at_scale = [&](double k) {
    cv::Mat smaller;
    cv::resize(t.image, smaller, cv::Size(), k, k, cv::INTER_AREA);
    Landmarks68 q(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      q[i] = {static_cast<float>((p[i].x + 0.5) * k - 0.5), static_cast<float>((p[i].y + 0.5) * k - 0.5)};
    }
    return face::inner_face_energy(smaller, q);
  };
  const double full = face::inner_face_energy(t.image, p), half = at_scale(0.5), quarter = at_scale(0.25);
  std::vector<double> blurred;
  for (double sigma : {1.0, 2.0, 4.0}) {
    cv::Mat b;
    cv::GaussianBlur(t.image, b, cv::Size(0, 0), sigma);
    blurred.push_back(face::inner_face_energy(b, p));
  }
  std::printf(
      "[ inner-face energy ] %.0f px face %.1f, at half size %.1f, at a quarter %.1f; blurred 1 / 2 / 4 px "
      "%.1f / %.1f / %.1f\n",
      face::face_size(p), full, half, quarter, blurred[0], blurred[1], blurred[2]);
  ASSERT_GT(full, 0.0);
  EXPECT_NEAR(half / full, 1.0, 0.25);
  EXPECT_LT(quarter, half);
  EXPECT_LT(blurred[0], full);
  EXPECT_LT(blurred[1], blurred[0]);
  EXPECT_LT(blurred[2], blurred[1]);
  EXPECT_EQ(face::inner_face_energy(cv::Mat(), p), 0.0);
}

// The ghost-jaw measure (face/ghost_jaw.h) on a real face: nothing on the unchanged photo, nothing
// for the jaw's own contour moved by a pixel, most of the jaw for a dark line drawn 0.2 IOD inside it.
TEST(GhostJaw, SeesASecondLineInsideTheJawAndNothingElse) {
  PickedFace t = pick(kJesper2);
  ASSERT_TRUE(t.found);
  const Landmarks68& p = t.face.landmarks68;
  EXPECT_EQ(face::ghost_jaw_fraction(t.image, t.image, p), 0.0f);
  cv::Mat shifted;
  const cv::Matx23f one_px(1, 0, 1, 0, 1, 1);
  cv::warpAffine(t.image, shifted, one_px, t.image.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  const float moved = face::ghost_jaw_fraction(t.image, shifted, p);
  EXPECT_LT(moved, 0.05f) << "the jaw moved by a pixel is no second line";
  cv::Point2f nose(0, 0);
  for (int i = 27; i <= 35; ++i) nose += p[i] * (1.0f / 9.0f);
  const float iod = face::inter_ocular_distance(p);
  std::vector<cv::Point> inside;
  for (int i = 1; i <= 15; ++i) {
    cv::Point2f towards = nose - p[i];
    inside.emplace_back(p[i] + towards * (0.2f * iod / static_cast<float>(cv::norm(towards))));
  }
  cv::Mat ghost = t.image.clone();
  cv::polylines(ghost, inside, false, cv::Scalar(40, 40, 60), std::max(2, cvRound(0.03f * iod)), cv::LINE_AA);
  const float drawn = face::ghost_jaw_fraction(t.image, ghost, p);
  std::printf("[ ghost jaw ] unchanged 0, moved 1 px %.2f, line drawn inside %.2f\n", moved, drawn);
  EXPECT_GT(drawn, 0.6f);
}

// On a turned target the warp relaxes folded triangles toward the source's own layout, which can
// move the far-side jaw of a frontal source beyond the target's silhouette: the new face's edge
// then stuck out over the background as a jagged, streaked flap beside the mouth (the bench's
// laughing target turned 38°, new_wave_2 → sample5, at 100 %). The new face stays inside the
// target's own outline (hull of its 68 points and raised brows; above the brows the source's
// forehead may reach higher): no pixel below the target's brows and outside that outline changes.
// Before: 1 283, 49 and 58 such pixels on these pairs.
TEST(ClassicalSwapperRealism, TheNewFaceStaysInsideTheTargetsOutline) {
  const std::vector<SwapPair> pairs = {
      {{"photos/new_wave_2.jpg", {400, 306}}, {"photos/sample5.jpg", {721, 560}}},
      {{"photos/sample6.jpg", {1563, 440}}, {"photos/sample4.jpg", {1035, 328}}},
      {{"photos/sample6.jpg", {1278, 486}}, {"photos/qt-logo.jpg", {235, 161}}},
  };
  for (const auto& pair : pairs) {
    SCOPED_TRACE(pair.source.photo + " -> " + pair.target.photo);
    const SwapRun run = run_swap(pair, {});
    ASSERT_TRUE(run.found);
    const cv::Mat& result = run.result;
    const Landmarks68& p = run.target.landmarks68;
    std::vector<cv::Point2f> own(p.begin(), p.end());
    const auto outline = face::swap_mask_outline(p, face::SwapMaskOptions{}.brow_raise);
    own.insert(own.end(), outline.begin(), outline.end());
    std::vector<cv::Point2f> hull;
    cv::convexHull(own, hull);
    const cv::Rect whole(0, 0, result.cols, result.rows);
    const cv::Mat inside = face::polygon_mask(hull, whole);
    const cv::Point2f up = face::face_up_direction(p);
    float brow_level = 1e9f;
    for (int i = 17; i <= 26; ++i) brow_level = std::min(brow_level, up.dot(p[i]));
    cv::Mat changed;
    cv::absdiff(result, run.original, changed);
    cv::cvtColor(changed, changed, cv::COLOR_BGR2GRAY);
    int outside_changed = 0;
    for (int y = 0; y < result.rows; ++y) {
      for (int x = 0; x < result.cols; ++x) {
        if (changed.at<uchar>(y, x) == 0 || inside.at<uchar>(y, x) != 0) continue;
        if (up.dot(cv::Point2f(static_cast<float>(x), static_cast<float>(y))) < brow_level) ++outside_changed;
      }
    }
    std::printf("[ outline ] %s -> %s: %d changed pixels below the brows outside the target's outline\n",
                pair.source.photo.c_str(), pair.target.photo.c_str(), outside_changed);
    EXPECT_EQ(outside_changed, 0);
  }
}

// The ghost jaw (issue 17) on frontal pairs: no second jaw line. Measured (bench-quality, ghost
// column: fraction of the target's jaw with a second line inside it): 0.04 and 0.01 (pre-issue-17
// geometry 0.07 and 0.03). Bound 0.10. Turned and tilted targets still show one (0.3–0.6, the
// source's under-jaw shadow warped inside the target's near-side jaw: docs/decisions/0006), so they
// are not held here.
TEST(ClassicalSwapperRealism, LeavesNoSecondJawLineOnFrontalPairs) {
  for (const SwapPair& pair : {SwapPair{kTom, kJesper2}, SwapPair{kJesper2, kNewWave}}) {
    SCOPED_TRACE(pair.source.photo + " → " + pair.target.photo);
    SwapRun run = run_swap(pair, {});
    const float ghost = face::ghost_jaw_fraction(run.original, run.result, run.target.landmarks68);
    std::printf("[ ghost jaw ] %.2f of the jaw\n", ghost);
    EXPECT_LE(ghost, 0.10f);
    EXPECT_GT(cv::countNonZero(changed_pixels(run.original, run.result)), 1000) << "nothing was swapped";
  }
}

// Glasses (face/glasses.h): found on the two bench-quality targets that wear them (bridge 1.00), on
// none of six faces without (measured bridge 0.07–0.23; bound 0.8).
const FaceRef kGlassesMan{"photos/qt-logo.jpg", {618, 122}};
const FaceRef kGlassesMan2{"dlib_faces/2008_002506.jpg", {383, 137}};

TEST(Glasses, FindsTheFrameOnlyOnFacesThatWearGlasses) {
  const std::vector<std::pair<FaceRef, bool>> faces = {{kGlassesMan, true},  {kGlassesMan2, true}, {kJesper2, false},
                                                       {kNewWave, false},    {kTom, false},        {kAstronaut, false},
                                                       {kSample6Middle, false}, {kQtMiddle, false}};
  for (const auto& [ref, wears] : faces) {
    SCOPED_TRACE(ref.photo);
    PickedFace f = pick(ref);
    ASSERT_TRUE(f.found);
    face::GlassesEvidence evidence;
    const cv::Mat frame = face::glasses_frame_mask(f.image, f.face.landmarks68, &evidence);
    std::printf("[ glasses ] %s: bridge %.2f\n", ref.photo.c_str(), evidence.bridge);
    EXPECT_EQ(evidence.found, wears);
    EXPECT_EQ(frame.empty(), !wears);
    if (wears) {
      ASSERT_EQ(frame.size(), f.image.size());
      // The frame lies between the brows and the nose tip, thin: a few per cent of the face box.
      const float iod = face::inter_ocular_distance(f.face.landmarks68);
      const int on = cv::countNonZero(frame > 0.5f);
      EXPECT_GT(on, 2.0 * iod) << "less than a rim's length of frame";
      EXPECT_LT(on, 0.25 * f.face.box.area()) << "more than a frame";
    }
  }
}

// The talking head's rimless glasses (videos/talking_head_720p.mp4, frame 150): their top bar runs
// along the brows, whose band glasses_frame_mask cuts out (the brows are thin dark lines too), so
// the kept frame came in pieces and the swapped video showed a dashed rim there. Gaps along the
// eyes' line up to 0.2 IOD are now closed: pieces of the kept frame (over 0.5, at least 4 px)
// 26 → 10. Bound 15.
TEST(Glasses, KeepsARimRunningAlongTheBrowsInOnePiece) {
  auto reader = media::VideoReader::open(testing::testdata("videos/talking_head_720p.mp4"));
  ASSERT_TRUE(reader.is_ok()) << reader.status().to_string();
  const Status sought = (*reader)->seek_to_frame(150);
  ASSERT_TRUE(sought.is_ok()) << sought.to_string();
  cv::Mat frame;
  int64_t index = 0;
  auto more = (*reader)->read(frame, index);
  ASSERT_TRUE(more.is_ok() && *more && index == 150) << "frame 150 not read";
  auto faces = analyser().analyse(frame);
  ASSERT_TRUE(faces.is_ok() && !faces->empty());
  const Face& f = *face::largest_face(*faces);
  // As in the video, whose track decided the glasses are worn (one frame's bridge test is noisy on
  // this soft clip: pipeline::glasses_weight_at).
  const cv::Mat kept = face::glasses_frame_mask(frame, f.landmarks68, nullptr, 1.0f);
  ASSERT_FALSE(kept.empty());
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(kept > 0.5f, labels, stats, centroids, 8);
  int pieces = 0;
  for (int k = 1; k < n; ++k) pieces += stats.at<int>(k, cv::CC_STAT_AREA) >= 4 ? 1 : 0;
  std::printf("[ glasses ] the kept frame is in %d pieces\n", pieces);
  EXPECT_LE(pieces, 15);
}

// Mean |result − original| of a swap over the pixels of `where` (CV_8UC1), grey levels averaged
// over the three channels.
double mean_change(const SwapRun& run, const cv::Mat& where) {
  cv::Mat diff;
  cv::absdiff(run.original, run.result, diff);
  const cv::Scalar m = cv::mean(diff, where);
  return (m[0] + m[1] + m[2]) / 3;
}

// Glasses on the target stay: the swap keeps the target's pixels on the frame (mean difference
// measured 0.6 and 0.0 grey levels) where the pre-issue-17 geometry painted the source's face over it
// (28.5 and 34.0).
TEST(ClassicalSwapperRealism, KeepsTheTargetsGlasses) {
  for (const FaceRef& target : {kGlassesMan, kGlassesMan2}) {
    SCOPED_TRACE(target.photo);
    const SwapPair pair{kSample3Right, target};
    SwapRun now = run_swap(pair, {});
    ClassicalSwapOptions old;
    old.geometry = ClassicalGeometry::kSourceExpression;
    SwapRun before = run_swap(pair, old);
    const cv::Mat frame = face::glasses_frame_mask(now.original, now.target.landmarks68);
    ASSERT_FALSE(frame.empty());
    const cv::Mat on_frame = frame > 0.9f;
    ASSERT_GT(cv::countNonZero(on_frame), 20);
    const double kept = mean_change(now, on_frame), painted = mean_change(before, on_frame);
    std::printf("[ glasses ] frame: mean |result - target| %.1f (pre-issue-17 geometry %.1f)\n", kept, painted);
    EXPECT_LT(kept, 5.0);
    EXPECT_GT(painted, 3 * kept);
    // The face around the frame is still swapped.
    const cv::Rect box = cv::Rect(now.target.box) & cv::Rect(0, 0, now.result.cols, now.result.rows);
    EXPECT_GT(cv::countNonZero(changed_pixels(now.original(box), now.result(box))), 0.5 * box.area());
  }
}

// Sunglasses on the target stay too: its eyes are not in the photo, and the pre-issue-17 geometry
// (like the default before session 17) painted the source's open eyes over the lenses. The target's
// pixels are kept where face::covered_eye_mask finds the lenses (mean difference measured 0.0 grey
// levels; painted over: 37.2).
TEST(ClassicalSwapperRealism, KeepsTheTargetsSunglasses) {
  const FaceRef kSunglasses{"photos/anne_helene.jpg", {186, 192}};
  const SwapPair pair{kAstronaut, kSunglasses};
  SwapRun now = run_swap(pair, {});
  ClassicalSwapOptions old;
  old.geometry = ClassicalGeometry::kSourceExpression;
  SwapRun before = run_swap(pair, old);
  const std::array<bool, 2> covered = face::covered_eyes(now.original, now.target.landmarks68);
  EXPECT_TRUE(covered[0] && covered[1]);
  const cv::Mat lenses = face::covered_eye_mask(now.original, now.target.landmarks68);
  ASSERT_FALSE(lenses.empty());
  const cv::Mat on_lenses = lenses > 0.9f;
  const float iod = face::inter_ocular_distance(now.target.landmarks68);
  // Two lenses: each wider than half the distance between the eyes.
  ASSERT_GT(cv::countNonZero(on_lenses), 2 * 0.5 * iod * 0.3 * iod);
  const double kept = mean_change(now, on_lenses), painted = mean_change(before, on_lenses);
  std::printf("[ sunglasses ] lenses: mean |result - target| %.1f (pre-issue-17 geometry %.1f)\n", kept, painted);
  EXPECT_LT(kept, 3.0);
  EXPECT_GT(painted, 10 * kept + 10);
  // The rest of the face is still swapped, and faces without covered eyes keep theirs.
  const cv::Rect box = cv::Rect(now.target.box) & cv::Rect(0, 0, now.result.cols, now.result.rows);
  EXPECT_GT(cv::countNonZero(changed_pixels(now.original(box), now.result(box))), 0.4 * box.area());
  for (const FaceRef& open : {kJesper2, kAstronaut, kGlassesMan, kGlassesMan2, kSample5Bottom}) {
    PickedFace f = pick(open);
    ASSERT_TRUE(f.found);
    EXPECT_TRUE(face::covered_eye_mask(f.image, f.face.landmarks68).empty()) << open.photo;
  }
}

TEST(ClassicalSwapper, RejectsInvalidInput) {
  PickedFace t = pick(kJesper2), s = pick(kTom);
  ASSERT_TRUE(t.found && s.found);
  SwapSourceFace source{s.image, s.face};
  cv::Mat empty;
  EXPECT_EQ(classical_swap(empty, t.face, source, {}).code(), StatusCode::kInvalidArgument);
  cv::Mat gray(100, 100, CV_8UC1, cv::Scalar(0));
  EXPECT_EQ(classical_swap(gray, t.face, source, {}).code(), StatusCode::kInvalidArgument);
  cv::Mat frame = t.image.clone();
  Face no_landmarks = t.face;
  no_landmarks.landmarks68.clear();
  EXPECT_EQ(classical_swap(frame, no_landmarks, source, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(classical_swap(frame, t.face, {cv::Mat(), s.face}, {}).code(), StatusCode::kInvalidArgument);
  for (float bad : {-0.1f, 1.5f, std::nanf("")}) {
    ClassicalSwapOptions options;
    options.morph = bad;
    EXPECT_EQ(classical_swap(frame, t.face, source, options).code(), StatusCode::kInvalidArgument);
    options = {};
    options.blend = bad;
    EXPECT_EQ(classical_swap(frame, t.face, source, options).code(), StatusCode::kInvalidArgument);
    options = {};
    options.face_mask_blur = bad;
    EXPECT_EQ(classical_swap(frame, t.face, source, options).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(cv::countNonZero(changed_pixels(frame, t.image)), 0) << "a rejected call modified the frame";
}

// ---------------------------------------------------------------------------------------------
// Masks (face/face_mask.h) on real landmarks.

TEST(FaceMask, SwapMaskIsInsideTheOutlineAndFullInTheMiddle) {
  PickedFace p = pick(kJesper2);
  ASSERT_TRUE(p.found);
  const Landmarks68& lm = p.face.landmarks68;
  face::SwapMaskOptions options;
  cv::Rect region = face::face_region(lm, options.brow_raise, 0.25f, p.image.size());
  cv::Mat mask = face::swap_mask(lm, region, options);
  ASSERT_EQ(mask.type(), CV_32FC1);
  ASSERT_EQ(mask.size(), region.size());
  double lo = 0, hi = 0;
  cv::minMaxLoc(mask, &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  std::vector<cv::Point2f> hull;
  cv::convexHull(face::swap_mask_outline(lm, options.brow_raise), hull);
  cv::Mat outline = face::polygon_mask(hull, region);
  EXPECT_EQ(cv::countNonZero((mask > 0.0f) & ~outline), 0);
  for (int i : {30, 33, 36, 45, 51, 57, 19, 24}) {
    cv::Point2f p2 = lm[i] - cv::Point2f(region.tl());
    EXPECT_GT(mask.at<float>(cvRound(p2.y), cvRound(p2.x)), 0.99f) << "landmark " << i;
  }
}

TEST(FaceMask, ScalesWithFaceSize) {
  // The same face at twice the size gives the same mask at twice the size: erosion and feather
  // are fractions of the face, not pixel counts.
  PickedFace p = pick(kJesper2);
  ASSERT_TRUE(p.found);
  const Landmarks68& lm = p.face.landmarks68;
  Landmarks68 big = scaled(lm, 2.0f);
  cv::Rect region = face::face_region(lm, 0.15f, 0.25f, cv::Size(100000, 100000));
  cv::Rect big_region(region.x * 2, region.y * 2, region.width * 2, region.height * 2);
  for (float blur : {0.0f, 0.3f, 1.0f}) {
    face::SwapMaskOptions options;
    options.face_mask_blur = blur;
    cv::Mat small = face::swap_mask(lm, region, options);
    cv::Mat large = face::swap_mask(big, big_region, options);
    cv::Mat large_down;
    cv::resize(large, large_down, small.size(), 0, 0, cv::INTER_AREA);
    cv::Mat diff;
    cv::absdiff(small, large_down, diff);
    EXPECT_LT(cv::mean(diff)[0], 0.01) << "blur " << blur;
  }
  // More blur, softer edge: fewer pixels at full strength.
  face::SwapMaskOptions soft, hard;
  soft.face_mask_blur = 1.0f;
  hard.face_mask_blur = 0.0f;
  EXPECT_LT(cv::countNonZero(face::swap_mask(lm, region, soft) > 0.99f),
            cv::countNonZero(face::swap_mask(lm, region, hard) > 0.99f));
}

TEST(FaceMask, AreaAndMouthMasksCoverTheirParts) {
  PickedFace p = pick(kNewWave);
  ASSERT_TRUE(p.found);
  const Landmarks68& lm = p.face.landmarks68;
  cv::Rect region = face::face_region(lm, 0.15f, 0.25f, p.image.size());
  auto at = [&](const cv::Mat& m, cv::Point2f q) {
    q -= cv::Point2f(region.tl());
    return m.at<float>(cvRound(q.y), cvRound(q.x));
  };
  cv::Point2f left_eye = (lm[37] + lm[40]) * 0.5f, chin = lm[8] + (lm[57] - lm[8]) * 0.5f;
  cv::Point2f inner_mouth = (lm[62] + lm[66]) * 0.5f;
  cv::Mat upper = face::area_mask(lm, region, {face::FaceMaskArea::kUpperFace});
  cv::Mat lower = face::area_mask(lm, region, {face::FaceMaskArea::kLowerFace});
  cv::Mat mouth = face::area_mask(lm, region, {face::FaceMaskArea::kMouth});
  cv::Mat both = face::area_mask(lm, region, {face::FaceMaskArea::kUpperFace, face::FaceMaskArea::kLowerFace});
  EXPECT_GT(at(upper, left_eye), 0.99f);
  EXPECT_LT(at(upper, chin), 0.01f);
  EXPECT_GT(at(lower, chin), 0.99f);
  EXPECT_LT(at(lower, left_eye), 0.01f);
  EXPECT_GT(at(mouth, inner_mouth), 0.99f);
  EXPECT_LT(at(mouth, left_eye), 0.01f);
  EXPECT_GT(at(both, left_eye), 0.99f);
  EXPECT_GT(at(both, chin), 0.99f);
  cv::Mat inner = face::mouth_mask(lm, region);
  EXPECT_GT(at(inner, inner_mouth), 0.99f);
  EXPECT_LT(at(inner, lm[33]), 0.01f);  // nose
  EXPECT_LT(at(inner, chin), 0.01f);
}

// ---------------------------------------------------------------------------------------------
// Blending (face/blending.h).

TEST(Blending, MultiBandWithAFullOrEmptyMaskGivesOneImage) {
  cv::Mat a(97, 131, CV_32FC3), b(97, 131, CV_32FC3);
  cv::randu(a, 0.0f, 1.0f);
  cv::randu(b, 0.0f, 1.0f);
  cv::Mat ones(a.size(), CV_32FC1, cv::Scalar(1)), zeros(a.size(), CV_32FC1, cv::Scalar(0));
  cv::Mat diff;
  double max_diff = 0;
  cv::absdiff(face::multiband_blend(a, b, ones, 4), a, diff);
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  EXPECT_LT(max_diff, 1e-4);
  cv::absdiff(face::multiband_blend(a, b, zeros, 4), b, diff);
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  EXPECT_LT(max_diff, 1e-4);
}

TEST(Blending, ColourTransferMatchesTheReferenceStatisticsInsideTheMask) {
  PickedFace s = pick(kTom), t = pick(kNewWave);
  ASSERT_TRUE(s.found && t.found);
  cv::Size size(200, 200);
  cv::Mat fg, ref;
  cv::resize(s.image(cv::Rect(s.face.box) & cv::Rect(0, 0, s.image.cols, s.image.rows)), fg, size);
  cv::resize(t.image(cv::Rect(t.face.box) & cv::Rect(0, 0, t.image.cols, t.image.rows)), ref, size);
  fg.convertTo(fg, CV_32FC3, 1.0 / 255);
  ref.convertTo(ref, CV_32FC3, 1.0 / 255);
  cv::Mat mask(size, CV_32FC1, cv::Scalar(0));
  cv::circle(mask, {100, 100}, 70, cv::Scalar(1), cv::FILLED);
  face::transfer_color_lab(fg, ref, mask);
  cv::Mat fg_lab, ref_lab;
  cv::cvtColor(fg, fg_lab, cv::COLOR_BGR2Lab);
  cv::cvtColor(ref, ref_lab, cv::COLOR_BGR2Lab);
  cv::Scalar fm, fs, rm, rs;
  cv::meanStdDev(fg_lab, fm, fs, mask > 0.5f);
  cv::meanStdDev(ref_lab, rm, rs, mask > 0.5f);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(fm[c], rm[c], 1.5) << "channel " << c;  // clipping to [0, 1] moves it slightly
    EXPECT_NEAR(fs[c], rs[c], 0.15 * rs[c] + 0.5) << "channel " << c;
  }
}

TEST(Blending, CompositeLeavesZeroWeightPixelsExactlyAsTheyWere) {
  cv::Mat frame(60, 80, CV_8UC3);
  cv::randu(frame, 0, 256);
  cv::Mat original = frame.clone();
  cv::Mat blended(frame.size(), CV_32FC3, cv::Scalar(0.5, 0.5, 0.5));
  cv::Mat weight(frame.size(), CV_32FC1, cv::Scalar(0));
  weight(cv::Rect(20, 10, 30, 30)).setTo(1.0f);
  face::composite(frame, blended, weight);
  cv::Mat changed = changed_pixels(original, frame);
  EXPECT_EQ(cv::countNonZero(changed(cv::Rect(0, 0, 20, 60))), 0);
  EXPECT_EQ(frame.at<cv::Vec3b>(20, 30), cv::Vec3b(128, 128, 128));
}

TEST(Blending, PoissonKeepsTheBackgroundOutsideTheMask) {
  PickedFace s = pick(kTom);
  ASSERT_TRUE(s.found);
  cv::Mat bg(120, 160, CV_8UC3, cv::Scalar(40, 90, 160));
  cv::Mat fg;
  cv::resize(s.image(cv::Rect(s.face.box) & cv::Rect(0, 0, s.image.cols, s.image.rows)), fg, bg.size());
  cv::Mat mask(bg.size(), CV_32FC1, cv::Scalar(0));
  cv::ellipse(mask, {80, 60}, {50, 40}, 0, 0, 360, cv::Scalar(1), cv::FILLED);
  auto out = face::poisson_blend(fg, bg, mask);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  cv::Mat outside = mask < 0.5f;
  cv::erode(outside, outside, cv::Mat::ones(5, 5, CV_8U));
  EXPECT_EQ(cv::countNonZero(changed_pixels(bg, *out) & outside), 0);
  EXPECT_GT(cv::countNonZero(changed_pixels(bg, *out) & (mask > 0.5f)), 1000);
}

// ---------------------------------------------------------------------------------------------
// Face debugger drawing.

TEST(FaceDebuggerDraw, DrawsAroundTheFaceOnly) {
  PickedFace p = pick(kNewWave), s = pick(kTom);
  ASSERT_TRUE(p.found && s.found);
  cv::Mat mask;
  cv::Mat swapped = p.image.clone();
  ASSERT_TRUE(classical_swap(swapped, p.face, {s.image, s.face}, {}, &mask).is_ok());
  cv::Mat frame = p.image.clone();
  draw_face_debug(frame, p.face, 3, &mask);
  cv::Mat changed = changed_pixels(p.image, frame);
  EXPECT_GT(cv::countNonZero(changed), 500);
  // Nothing far from the face (the label sits just above or below the box).
  cv::Rect2f b = p.face.box;
  cv::Rect near(cv::Rect2f(b.x - b.width * 0.3f, b.y - b.height * 0.5f, b.width * 1.6f, b.height * 2.0f));
  cv::Mat far = changed.clone();
  far(near & cv::Rect(0, 0, far.cols, far.rows)).setTo(0);
  EXPECT_EQ(cv::countNonZero(far), 0);
  // The mask outline (magenta) is drawn.
  cv::Mat magenta;
  cv::inRange(frame, cv::Scalar(230, 0, 230), cv::Scalar(255, 30, 255), magenta);
  EXPECT_GT(cv::countNonZero(magenta), 100);
  // 5 points in red.
  cv::Mat red;
  cv::inRange(frame, cv::Scalar(0, 0, 230), cv::Scalar(30, 30, 255), red);
  EXPECT_GT(cv::countNonZero(red), 5 * 4);
}

TEST(FaceDebuggerDraw, HandlesFacesAtTheBorderAndBadMasks) {
  PickedFace p = pick(kTom);
  ASSERT_TRUE(p.found);
  // Only the top-left quarter of the photo: the face runs off the right and bottom edges.
  cv::Mat frame = p.image(cv::Rect(0, 0, p.image.cols / 2, p.image.rows / 2)).clone();
  cv::Mat wrong_size(10, 10, CV_32FC1, cv::Scalar(1));
  draw_face_debug(frame, p.face, 0, &wrong_size);  // a mask of another size is ignored
  EXPECT_GT(cv::countNonZero(changed_pixels(p.image(cv::Rect(0, 0, frame.cols, frame.rows)), frame)), 100);
  // A face a few pixels wide still gets a visible box and label.
  cv::Mat small = frame.clone();
  Face tiny = scaled_face(p.face, 0.05f);
  draw_face_debug(small, tiny, 12, nullptr);
  EXPECT_GT(cv::countNonZero(changed_pixels(frame, small)), 20);
}

}  // namespace
}  // namespace facefuse::processors
