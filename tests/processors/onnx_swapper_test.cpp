// The ONNX face swapper backends against generated fixture models (onnx_fixtures.h) on real
// photos: every number the contracts fix (templates, normalisation, EMAP projection, converters,
// identity weight, de-normalisation, pixel boost, masks, paste-back) is recomputed here
// independently from CONTRACTS.md and compared with what the processor does.
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/arcface_recognizer.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/paste_back.h"
#include "facefuse/media/image_io.h"
#include "facefuse/pipeline/run_job.h"
#include "facefuse/processors/face_swapper/face_swapper.h"
#include "facefuse/processors/face_swapper/onnx_initializer.h"
#include "onnx_fixtures.h"

namespace facefuse::testing {
namespace {

using Template = std::array<cv::Point2d, 5>;
// CONTRACTS.md "Alignment templates", typed in again so the test does not share the code's table.
const Template kArcface112V1 = {{{0.35473214, 0.45658929}, {0.64526786, 0.45658929}, {0.50000000, 0.61154464},
                                 {0.37913393, 0.77687500}, {0.62086607, 0.77687500}}};
const Template kArcface112V2 = {{{0.34191607, 0.46157411}, {0.65653393, 0.45983393}, {0.50022500, 0.64050536},
                                 {0.37097589, 0.82469196}, {0.63151696, 0.82325089}}};
const Template kArcface128 = {{{0.36167656, 0.40387734}, {0.63696719, 0.40235469}, {0.50019687, 0.56044219},
                               {0.38710391, 0.72160547}, {0.61507734, 0.72034453}}};
const Template kFfhq512 = {{{0.37691676, 0.46864664}, {0.62285697, 0.46912813}, {0.50123859, 0.61331904},
                            {0.39308822, 0.72541100}, {0.61150205, 0.72490465}}};

// FaceFusion's warp_face_by_face_landmark_5, written out from CONTRACTS.md.
cv::Mat reference_affine(const face::Landmarks5& points, const Template& tpl, int size) {
  std::vector<cv::Point2f> from(points.begin(), points.end()), to;
  for (const auto& p : tpl) to.emplace_back(static_cast<float>(p.x * size), static_cast<float>(p.y * size));
  return cv::estimateAffinePartial2D(from, to, cv::noArray(), cv::RANSAC, 100);
}
cv::Mat reference_crop(const cv::Mat& frame, const cv::Mat& affine, int size) {
  cv::Mat crop;
  cv::warpAffine(frame, crop, affine, cv::Size(size, size), cv::INTER_AREA, cv::BORDER_REPLICATE);
  return crop;
}

const face::Face& largest(const std::vector<face::Face>& faces) {
  const face::Face* f = face::largest_face(faces);
  EXPECT_NE(f, nullptr);
  return *f;
}

face::Face analysed_face(const cv::Mat& image) {
  auto faces = fixture_analyser().analyse(image);
  EXPECT_TRUE(faces && !faces->empty());
  return largest(*faces);
}

// The fixture ArcFace: mean over the aligned 112 crop of x / 127.5 − 1 per RGB channel, @ W + b.
std::vector<float> reference_arcface(const cv::Mat& image, const face::Face& face) {
  const cv::Mat crop = reference_crop(image, reference_affine(face.landmarks5, kArcface112V2, 112), 112);
  const cv::Scalar bgr_mean = cv::mean(crop);
  const double rgb[3] = {bgr_mean[2] / 127.5 - 1, bgr_mean[1] / 127.5 - 1, bgr_mean[0] / 127.5 - 1};
  const auto& w = onnx_fixture_data().at("arcface_w");
  const auto& b = onnx_fixture_data().at("arcface_b");
  std::vector<float> e(512);
  for (int j = 0; j < 512; ++j) {
    double v = b[j].get<double>();
    for (int c = 0; c < 3; ++c) v += rgb[c] * w[c][j].get<double>();
    e[j] = static_cast<float>(v);
  }
  return e;
}

std::vector<float> normalised(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += double(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

void expect_near_vectors(const std::vector<float>& got, const std::vector<float>& want, double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - want[i]));
  EXPECT_LE(worst, tolerance);
}

std::unique_ptr<processors::FaceSwapper> open_swapper(const nlohmann::json& options,
                                                      const std::vector<std::string>& sources = {"photos/astronaut.png"}) {
  auto swapper = std::make_unique<processors::FaceSwapper>();
  const Status status = swapper->open(fixture_context("face_swapper", options, sources));
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_NE(swapper->onnx_swapper(), nullptr);
  return status.is_ok() ? std::move(swapper) : nullptr;
}

TEST(OnnxInitializer, ReadsTheLastInitializerOfAModelFile) {
  const auto emap = fixture_emap();
  auto f32 = processors::read_last_onnx_initializer(onnx_fixtures_dir() / "inswapper_128.onnx");
  ASSERT_TRUE(f32) << f32.status().to_string();
  EXPECT_EQ(f32->name, "emap");
  EXPECT_EQ(f32->dims, (std::vector<int64_t>{512, 512}));
  EXPECT_EQ(f32->values, emap);  // bit for bit
  // The fp16 model stores the same matrix as float16: equal to float16 precision.
  auto f16 = processors::read_last_onnx_initializer(onnx_fixtures_dir() / "inswapper_128_fp16.onnx");
  ASSERT_TRUE(f16) << f16.status().to_string();
  ASSERT_EQ(f16->values.size(), emap.size());
  for (size_t i = 0; i < emap.size(); i += 997) EXPECT_NEAR(f16->values[i], emap[i], 2e-3 * std::abs(emap[i]) + 1e-4);
  // Not an ONNX file → a clear error, not a crash.
  auto bad = processors::read_last_onnx_initializer(onnx_fixtures_dir() / "fixtures.json");
  EXPECT_FALSE(bad);
}

TEST(ArcfaceRecognizer, EmbeddingFollowsTheContract) {
  auto recognizer = face::ArcfaceRecognizer::open(onnx_fixtures_dir() / "arcface_w600k_r50.onnx");
  ASSERT_TRUE(recognizer) << recognizer.status().to_string();
  const cv::Mat image = load_photo("photos/astronaut.png");
  const face::Face face = analysed_face(image);
  auto e = (*recognizer)->embed(image, face);
  ASSERT_TRUE(e) << e.status().to_string();
  expect_near_vectors(*e, reference_arcface(image, face), 2e-3);
  EXPECT_NEAR((*recognizer)->distance(*e, *e), 0.0f, 1e-6f);
  std::vector<float> opposite(e->size());
  for (size_t i = 0; i < e->size(); ++i) opposite[i] = -(*e)[i];
  EXPECT_NEAR((*recognizer)->distance(*e, opposite), 1.0f, 1e-5f);  // (1 − cos) / 2
  // Same person below 0.3 = cosine above 0.4 (CONTRACTS.md reference rule).
  EXPECT_FLOAT_EQ((*recognizer)->same_person_threshold(), 0.3f);
  std::vector<float> a(512, 0.0f), b(512, 0.0f);
  a[0] = 2.0f;
  b[0] = 0.4f, b[1] = std::sqrt(1.0f - 0.4f * 0.4f);  // cos(a, b) = 0.4
  EXPECT_NEAR((*recognizer)->distance(a, b), 0.3f, 1e-6f);
}

TEST(OnnxSwapper, InswapperSourceIsTheEmapProjectionOfTheRawEmbedding) {
  auto swapper = open_swapper({{"face_swapper_model", "inswapper_128"}});
  ASSERT_TRUE(swapper);
  const auto* onnx = swapper->onnx_swapper();
  const cv::Mat source = load_photo("photos/astronaut.png");
  const auto e = reference_arcface(source, analysed_face(source));
  expect_near_vectors(onnx->source_embedding(), e, 2e-3);
  // latent = (e · EMAP) / ‖e‖, not re-normalised (FaceFusion).
  const auto emap = fixture_emap();
  double norm = 0;
  for (float v : e) norm += double(v) * v;
  norm = std::sqrt(norm);
  std::vector<float> latent(512);
  for (int col = 0; col < 512; ++col) {
    double sum = 0;
    for (int row = 0; row < 512; ++row) sum += double(e[row]) * emap[row * 512 + col];
    latent[col] = static_cast<float>(sum / norm);
  }
  auto tensor = onnx->source_tensor({});
  ASSERT_TRUE(tensor);
  EXPECT_EQ(tensor->shape, (std::vector<int64_t>{1, 512}));
  expect_near_vectors(tensor->data, latent, 5e-3);
}

TEST(OnnxSwapper, SeveralSourcesAverageTheirEmbeddings) {
  auto swapper = open_swapper({{"face_swapper_model", "hyperswap_1a_256"}},
                              {"photos/astronaut.png", "photos/jesper.jpg"});
  ASSERT_TRUE(swapper);
  const cv::Mat a = load_photo("photos/astronaut.png"), b = load_photo("photos/jesper.jpg");
  const auto ea = reference_arcface(a, analysed_face(a)), eb = reference_arcface(b, analysed_face(b));
  std::vector<float> mean(512), mean_norm(512);
  const auto na = normalised(ea), nb = normalised(eb);
  for (int i = 0; i < 512; ++i) {
    mean[i] = (ea[i] + eb[i]) / 2;
    mean_norm[i] = (na[i] + nb[i]) / 2;
  }
  expect_near_vectors(swapper->onnx_swapper()->source_embedding(), mean, 2e-3);
  // hyperswap feeds the average of the normalised embeddings.
  auto tensor = swapper->onnx_swapper()->source_tensor({});
  ASSERT_TRUE(tensor);
  expect_near_vectors(tensor->data, mean_norm, 1e-4);
}

TEST(OnnxSwapper, ConvertersFeedSimswapNormalisedAndGhostRaw) {
  const cv::Mat source = load_photo("photos/astronaut.png");
  auto converted = reference_arcface(source, analysed_face(source));
  const float offset = onnx_fixture_data().at("converter_offset").get<float>();
  for (float& v : converted) v += offset;  // the fixture converter adds a constant
  auto simswap = open_swapper({{"face_swapper_model", "simswap_256"}});
  auto ghost = open_swapper({{"face_swapper_model", "ghost_1_256"}});
  ASSERT_TRUE(simswap && ghost);
  auto s = simswap->onnx_swapper()->source_tensor({});
  auto g = ghost->onnx_swapper()->source_tensor({});
  ASSERT_TRUE(s && g);
  expect_near_vectors(s->data, normalised(converted), 1e-4);
  expect_near_vectors(g->data, converted, 2e-3);
}

TEST(OnnxSwapper, IdentityWeightMixesInTheTargetEmbedding) {
  EXPECT_FLOAT_EQ(processors::identity_weight(0.5f), 0.0f);
  EXPECT_FLOAT_EQ(processors::identity_weight(0.0f), 0.35f);
  EXPECT_FLOAT_EQ(processors::identity_weight(1.0f), -0.35f);
  std::vector<float> target(512);
  for (int i = 0; i < 512; ++i) target[i] = std::sin(0.1f * i) * 3.0f;  // any raw embedding
  for (const std::string model : {"inswapper_128", "ghost_1_256"}) {
    auto neutral = open_swapper({{"face_swapper_model", model}});
    auto weighted = open_swapper({{"face_swapper_model", model}, {"face_swapper_weight", 0.0}});
    ASSERT_TRUE(neutral && weighted);
    auto base = neutral->onnx_swapper()->source_tensor({});
    auto mixed = weighted->onnx_swapper()->source_tensor(target);
    ASSERT_TRUE(base && mixed);
    // inswapper normalises the target embedding first; ghost does not (FaceFusion).
    const auto t = model == "inswapper_128" ? normalised(target) : target;
    std::vector<float> want(512);
    for (int i = 0; i < 512; ++i) want[i] = base->data[i] * 0.65f + t[i] * 0.35f;
    expect_near_vectors(mixed->data, want, 1e-4);
  }
}

struct FamilyCase {
  std::string model;
  const Template* tpl;
  int size;
  std::array<float, 3> mean, std;  // RGB
  bool denormalised_by_facefuse;   // ghost, hyperswap, uniface
  bool denormalised_in_model;      // the simswap_256 fixture outputs [0, 1] like the real model
  bool image_source;
};

// Swapped crop for every family = the contract's pre/post-processing around the fixture's known
// function, recomputed here per pixel in double precision.
TEST(OnnxSwapper, EachFamilyNormalisesTheCropAndDenormalisesTheOutputAsContracted) {
  const float k = onnx_fixture_data().at("k").get<float>();
  const std::vector<FamilyCase> cases = {
      {"inswapper_128", &kArcface128, 128, {0, 0, 0}, {1, 1, 1}, false, false, false},
      {"hyperswap_1a_256", &kArcface128, 256, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, true, false, false},
      {"simswap_256", &kArcface112V1, 256, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, false, true, false},
      {"simswap_unofficial_512", &kArcface112V1, 512, {0, 0, 0}, {1, 1, 1}, false, false, false},
      {"ghost_1_256", &kArcface112V1, 256, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, true, false, false},
      {"blendswap_256", &kFfhq512, 256, {0, 0, 0}, {1, 1, 1}, false, false, true},
      {"uniface_256", &kFfhq512, 256, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, true, false, true},
  };
  const cv::Mat target = load_photo("photos/anne_helene.jpg");
  const face::Face face = analysed_face(target);
  for (const auto& fc : cases) {
    SCOPED_TRACE(fc.model);
    auto swapper = open_swapper({{"face_swapper_model", fc.model}});
    ASSERT_TRUE(swapper);
    const auto* onnx = swapper->onnx_swapper();
    ASSERT_EQ(onnx->crop_size(), fc.size);
    // Alignment: the processor's crop is FaceFusion's warp with the model's template.
    const cv::Mat affine = reference_affine(face.landmarks5, *fc.tpl, fc.size);
    const cv::Mat crop = reference_crop(target, affine, fc.size);
    const cv::Mat own = face::warp_face(target, face::estimate_alignment(face.landmarks5, onnx->contract().alignment,
                                                                         cv::Size(fc.size, fc.size)),
                                        cv::Size(fc.size, fc.size));
    EXPECT_LE(cv::norm(crop, own, cv::NORM_INF), 1.0);

    auto source = onnx->source_tensor({});
    ASSERT_TRUE(source);
    std::array<double, 3> d{};
    if (fc.image_source) {
      const int64_t plane = source->shape[2] * source->shape[3];
      for (int c = 0; c < 3; ++c) {
        double sum = 0;
        for (int64_t i = 0; i < plane; ++i) sum += source->data[c * plane + i];
        d[c] = sum / static_cast<double>(plane);
      }
    } else {
      for (int c = 0; c < 3; ++c) d[c] = source->data[c];
    }
    auto swapped = onnx->swap_crop(crop, *source);
    ASSERT_TRUE(swapped) << swapped.status().to_string();
    double worst = 0;
    for (int y = 0; y < fc.size; ++y) {
      for (int x = 0; x < fc.size; ++x) {
        for (int c = 0; c < 3; ++c) {  // c: RGB channel; BGR index 2 − c
          const double p = crop.at<cv::Vec3b>(y, x)[2 - c] / 255.0;
          double v = (p - fc.mean[c]) / fc.std[c];
          if (fc.denormalised_in_model) v = v * fc.std[c] + fc.mean[c];
          v += k * d[c];
          if (fc.denormalised_by_facefuse) v = v * fc.std[c] + fc.mean[c];
          const double want = std::clamp(v, 0.0, 1.0) * 255.0;
          worst = std::max(worst, std::abs(want - swapped->at<cv::Vec3f>(y, x)[2 - c]));
        }
      }
    }
    EXPECT_LE(worst, 0.01) << "largest error in 0–255 units";
  }
}

TEST(OnnxSwapper, PixelBoostSplitsAndReassemblesByPixelUnshuffle) {
  cv::Mat image(12, 12, CV_8UC3);
  cv::randu(image, 0, 255);
  const auto parts = processors::implode_pixel_boost(image, 3);
  ASSERT_EQ(parts.size(), 9u);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int y = 0; y < 4; ++y) {
        for (int x = 0; x < 4; ++x) {
          EXPECT_EQ(parts[i * 3 + j].at<cv::Vec3b>(y, x), image.at<cv::Vec3b>(y * 3 + i, x * 3 + j));
        }
      }
    }
  }
  EXPECT_EQ(cv::norm(processors::explode_pixel_boost(parts, 3), image, cv::NORM_INF), 0.0);

  // Through the model: a 512 crop of inswapper_128 (16 sub-crops) comes back pixel for pixel.
  auto swapper = open_swapper({{"face_swapper_model", "inswapper_128"}, {"face_swapper_pixel_boost", "512x512"}});
  ASSERT_TRUE(swapper);
  const auto* onnx = swapper->onnx_swapper();
  ASSERT_EQ(onnx->crop_size(), 512);
  const cv::Mat target = load_photo("photos/anne_helene.jpg");
  const face::Face face = analysed_face(target);
  const cv::Mat crop = reference_crop(target, reference_affine(face.landmarks5, kArcface128, 512), 512);
  auto source = onnx->source_tensor({});
  ASSERT_TRUE(source);
  auto swapped = onnx->swap_crop(crop, *source);
  ASSERT_TRUE(swapped);
  const float k = onnx_fixture_data().at("k").get<float>();
  double worst = 0;
  for (int y = 0; y < 512; ++y) {
    for (int x = 0; x < 512; ++x) {
      for (int c = 0; c < 3; ++c) {
        const double want = std::clamp(crop.at<cv::Vec3b>(y, x)[2 - c] / 255.0 + k * source->data[c], 0.0, 1.0) * 255;
        worst = std::max(worst, std::abs(want - swapped->at<cv::Vec3f>(y, x)[2 - c]));
      }
    }
  }
  EXPECT_LE(worst, 0.01);
}

TEST(OnnxSwapper, PixelBoostMustBeAMultipleOfTheModelSize) {
  processors::FaceSwapper swapper;
  const Status status = swapper.open(fixture_context(
      "face_swapper", {{"face_swapper_model", "hyperswap_1a_256"}, {"face_swapper_pixel_boost", "384x384"}}));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("multiple"), std::string::npos) << status.message();
}

TEST(OnnxSwapper, MissingModelFileSaysHowToInstallIt) {
  processors::FaceSwapper swapper;
  auto context = fixture_context("face_swapper", {{"face_swapper_model", "inswapper_128"}});
  context.models_dir = models_dir();  // the default models only
  const Status status = swapper.open(context);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("inswapper_128.onnx"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("facefuse models download inswapper_128"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("docs/models.md"), std::string::npos) << status.message();

  // The swapper alone is not enough: its recognizer is named too.
  TempDir dir;
  std::filesystem::create_symlink(onnx_fixtures_dir() / "inswapper_128.onnx", dir / "inswapper_128.onnx");
  context.models_dir = dir.path();
  const Status without_arcface = swapper.open(context);
  EXPECT_EQ(without_arcface.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(without_arcface.message().find("arcface_w600k_r50"), std::string::npos) << without_arcface.message();
}

// ---- Whole jobs through the pipeline `facefuse run` uses ----

struct JobResult {
  cv::Mat before, after;
  face::Face face;
};

JobResult run_swap_job(const nlohmann::json& options, const std::string& processor = "face_swapper") {
  TempDir dir;
  pipeline::JobSpec spec;
  spec.sources = {testdata("photos/astronaut.png")};
  spec.target = testdata("photos/anne_helene.jpg");
  spec.output = dir / "out.png";  // lossless, so untouched pixels compare bit for bit
  spec.processors = {processor};
  spec.options = options;
  spec.models_dir = onnx_fixtures_dir();
  auto report = pipeline::run_job(spec);
  EXPECT_TRUE(report) << report.status().to_string();
  JobResult r;
  r.before = load_photo("photos/anne_helene.jpg");
  auto written = media::read_image(dir / "out.png");
  EXPECT_TRUE(written) << written.status().to_string();
  if (written) r.after = *written;
  r.face = analysed_face(r.before);
  return r;
}

// Frame pixels of `box` whose position in the crop (through `affine`) satisfies `where`, split
// into changed / unchanged counts.
struct ChangeCount {
  int changed = 0, unchanged = 0;
};
template <typename Where>
ChangeCount count_changes(const JobResult& r, const cv::Mat& affine, Where where) {
  ChangeCount n;
  for (int y = 0; y < r.before.rows; ++y) {
    for (int x = 0; x < r.before.cols; ++x) {
      const double cx = affine.at<double>(0, 0) * x + affine.at<double>(0, 1) * y + affine.at<double>(0, 2);
      const double cy = affine.at<double>(1, 0) * x + affine.at<double>(1, 1) * y + affine.at<double>(1, 2);
      if (!where(cx, cy)) continue;
      (r.before.at<cv::Vec3b>(y, x) == r.after.at<cv::Vec3b>(y, x) ? n.unchanged : n.changed)++;
    }
  }
  return n;
}

TEST(OnnxSwapper, JobChangesOnlyTheFaceBoxByTheModelsShift) {
  const JobResult r = run_swap_job({{"face_swapper_model", "inswapper_128"}, {"face_selector_mode", "one"}});
  ASSERT_FALSE(r.after.empty());
  ASSERT_EQ(r.after.size(), r.before.size());
  const cv::Mat affine = reference_affine(r.face.landmarks5, kArcface128, 128);
  // Paste-back bound: outside the inverse-mapped crop corners nothing changed, bit for bit.
  cv::Mat inverse;
  cv::invertAffineTransform(affine, inverse);
  std::vector<cv::Point2f> corners = {{0, 0}, {128, 0}, {128, 128}, {0, 128}}, mapped;
  cv::transform(corners, mapped, inverse);
  const cv::Rect box = cv::Rect(cv::boundingRect(mapped)) & cv::Rect(0, 0, r.before.cols, r.before.rows);
  cv::Mat outside_diff;
  cv::absdiff(r.before, r.after, outside_diff);
  outside_diff(box).setTo(0);
  EXPECT_EQ(cv::countNonZero(outside_diff.reshape(1)), 0);
  // Face centre (mask 1): shifted by K·latent[c]·255 per RGB channel, up to resampling.
  auto swapper = open_swapper({{"face_swapper_model", "inswapper_128"}});
  ASSERT_TRUE(swapper);
  auto source = swapper->onnx_swapper()->source_tensor({});
  ASSERT_TRUE(source);
  const float k = onnx_fixture_data().at("k").get<float>();
  std::array<double, 3> sum{};
  int count = 0;
  for (int y = box.y; y < box.y + box.height; ++y) {
    for (int x = box.x; x < box.x + box.width; ++x) {
      const double cx = affine.at<double>(0, 0) * x + affine.at<double>(0, 1) * y + affine.at<double>(0, 2);
      const double cy = affine.at<double>(1, 0) * x + affine.at<double>(1, 1) * y + affine.at<double>(1, 2);
      if (cx < 40 || cy < 40 || cx > 88 || cy > 88) continue;
      const auto b = r.before.at<cv::Vec3b>(y, x);
      bool saturated = false;
      for (int c = 0; c < 3; ++c) saturated |= b[2 - c] + k * source->data[c] * 255 > 254 || b[2 - c] + k * source->data[c] * 255 < 1;
      if (saturated) continue;
      for (int c = 0; c < 3; ++c) sum[c] += r.after.at<cv::Vec3b>(y, x)[2 - c] - b[2 - c];
      ++count;
    }
  }
  ASSERT_GT(count, 100);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(sum[c] / count, k * source->data[c] * 255.0, 1.5) << "RGB channel " << c;
  }
  // Box mask (128 crop, blur 0.3: 9-px border, sigma 4.75): the pasted fraction of the shift is
  // ~Φ(−9/4.75) ≈ 0.03 at the crop's edge and ~0.5 on the border line (the blurred step), measured
  // on the channel with the largest shift along the left and right edges of the crop.
  int strongest = 0;
  for (int c = 1; c < 3; ++c) strongest = std::abs(source->data[c]) > std::abs(source->data[strongest]) ? c : strongest;
  const double shift = k * source->data[strongest] * 255.0;
  ASSERT_GT(std::abs(shift), 8.0) << "the fixture's latent gives too small a shift to measure the mask";
  auto pasted_fraction = [&](double x0, double x1) {
    double total = 0;
    int n = 0;
    for (int y = box.y; y < box.y + box.height; ++y) {
      for (int x = box.x; x < box.x + box.width; ++x) {
        const double cx = affine.at<double>(0, 0) * x + affine.at<double>(0, 1) * y + affine.at<double>(0, 2);
        const double cy = affine.at<double>(1, 0) * x + affine.at<double>(1, 1) * y + affine.at<double>(1, 2);
        if (cy < 40 || cy > 88) continue;
        const double edge = std::min(cx, 128.0 - cx);
        if (edge < x0 || edge >= x1) continue;
        const int b = r.before.at<cv::Vec3b>(y, x)[2 - strongest];
        if (b + shift > 254 || b + shift < 1) continue;
        total += r.after.at<cv::Vec3b>(y, x)[2 - strongest] - b;
        ++n;
      }
    }
    EXPECT_GT(n, 10);
    return total / n / shift;
  };
  EXPECT_LT(pasted_fraction(0.0, 1.5), 0.12);
  EXPECT_NEAR(pasted_fraction(8.5, 9.5), 0.5, 0.15);
  EXPECT_GT(pasted_fraction(25.0, 30.0), 0.9);
}

TEST(OnnxSwapper, OcclusionMaskKeepsWhatTheOccluderHides) {
  // The fixture occluder sees the face only in the crop's left half (x < 64 of 128).
  const JobResult r = run_swap_job({{"face_swapper_model", "inswapper_128"}, {"face_selector_mode", "one"},
                                    {"face_mask_types", "box occlusion"}});
  const cv::Mat affine = reference_affine(r.face.landmarks5, kArcface128, 128);
  const auto hidden = count_changes(r, affine, [](double x, double y) { return x > 66 && x < 128 && y > 0 && y < 128; });
  const auto visible = count_changes(r, affine, [](double x, double y) { return x > 25 && x < 50 && y > 25 && y < 100; });
  EXPECT_EQ(hidden.changed, 0);
  EXPECT_GT(visible.changed, 0.9 * (visible.changed + visible.unchanged));
}

TEST(OnnxSwapper, RegionMaskKeepsOnlyTheParsedRegions) {
  // The fixture parser labels the crop's top half skin (y < 64 of 128), the rest background.
  const JobResult r = run_swap_job({{"face_swapper_model", "inswapper_128"}, {"face_selector_mode", "one"},
                                    {"face_mask_types", "box region"}, {"face_mask_regions", "skin"}});
  const cv::Mat affine = reference_affine(r.face.landmarks5, kArcface128, 128);
  const auto lower = count_changes(r, affine, [](double x, double y) { return y > 66 && y < 128 && x > 0 && x < 128; });
  const auto upper = count_changes(r, affine, [](double x, double y) { return y > 25 && y < 50 && x > 25 && x < 100; });
  EXPECT_EQ(lower.changed, 0);
  EXPECT_GT(upper.changed, 0.9 * (upper.changed + upper.unchanged));
  // Regions not produced by the parser keep nothing: the face is left as it was.
  const JobResult none = run_swap_job({{"face_swapper_model", "inswapper_128"}, {"face_selector_mode", "one"},
                                       {"face_mask_types", "box region"}, {"face_mask_regions", "nose mouth"}});
  EXPECT_EQ(cv::norm(none.before, none.after, cv::NORM_INF), 0.0);
}

TEST(OnnxSwapper, AreaMaskIsTheHullOfTheAreasLandmarksInTheCrop) {
  const JobResult r = run_swap_job({{"face_swapper_model", "inswapper_128"}, {"face_selector_mode", "one"},
                                    {"face_mask_types", "area"}, {"face_mask_areas", "mouth"}});
  const cv::Mat affine = reference_affine(r.face.landmarks5, kArcface128, 128);
  std::vector<cv::Point2f> crop68;
  cv::transform(r.face.landmarks68, crop68, affine);
  std::vector<cv::Point2f> mouth(crop68.begin() + 48, crop68.begin() + 68), hull;
  cv::convexHull(mouth, hull);
  // Outside the mouth hull (more than a pixel away) nothing changed; well inside, most did.
  const auto outside = count_changes(r, affine, [&](double x, double y) {
    return x > 0 && y > 0 && x < 128 && y < 128 && cv::pointPolygonTest(hull, cv::Point2f(x, y), true) < -1.5;
  });
  const auto inside = count_changes(r, affine, [&](double x, double y) {
    return cv::pointPolygonTest(hull, cv::Point2f(x, y), true) > 4.0;
  });
  EXPECT_EQ(outside.changed, 0);
  EXPECT_GT(inside.changed, 0.9 * (inside.changed + inside.unchanged));
}

}  // namespace
}  // namespace facefuse::testing
