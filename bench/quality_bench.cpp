// Swap-quality benchmark of the classical swapper (issue 17) on real photo pairs of distinct
// people: for every pair the swap runs three times — the pre-issue-17 geometry (the baseline, same
// run), the target's expression with the 2D placement (before the generic 3D face), and today's
// default — and the result is re-analysed from scratch (blazeface + dlib 68 points +
// dlib ResNet descriptor) to measure:
//   identity    d(result, target) − d(result, source) of the descriptor: > 0 = the source wins;
//   pose        mean distance of the result's 68 re-detected points to the target's, in target
//               inter-ocular distances (IOD);
//   expression  |mouth-open ratio| and |eye-open ratio| of the result minus the target's, and the
//               brow raise of the brow that differs more (face_geometry.h);
//   sharpness   Laplacian energy of the inner face (hull of points 17–67) in the result over the
//               same region of the target (same image, same scale): < 1 = softer than the target
//               (face/inner_face_sharpness.h);
//   seam        mean gradient magnitude on the mask's half-strength contour over the mean gradient
//               of the target's face region (> ~1.5: a visible edge);
//   ghost       a second jaw line: the fraction of the target's jaw (points 1–15) along which the
//               result has an edge parallel to it, 0.06–0.35 IOD inside, that the target has not
//               (at least half as strong as the jaw contour; face/ghost_jaw.h).
// Prints one row per pair and variant, then the aggregate; with --markdown FILE it also replaces the
// block between "<!-- bench-quality:begin -->" and "<!-- bench-quality:end -->" of FILE with the
// aggregate table.
//
//   facefuse_bench_quality TESTDATA_DIR [--first I] [--pairs N] [--save DIR] [--markdown FILE]
//     --first/--pairs: run pairs I … I+N−1 only; --save: source | target | result | result crops per pair (the
//     last with the result's re-detected points in red over the target's in green), and
//     target | result at 100 % (I_VARIANT_100.png);
//     --variant baseline|flat|default: run that variant only (while tuning)
//     --probe-noise SEED (≠ 0): re-analyse each result with Gaussian noise of 1 grey level added (the
//     pixel measures — sharpness, seam, ghost — use the result itself): dlib's re-detection moves by
//     a few hundredths of an IOD for such noise, so compare worst cases over several seeds
//     (decision 0006)
//   facefuse_bench_quality TESTDATA_DIR --video N     the talking-head clip, N frames: how the
//                                                     result's mouth and eyes follow the target's
//   facefuse_bench_quality TESTDATA_DIR --survey [--landmarks FILE]
//                                                     every face of the test photos: size, yaw,
//                                                     roll, mouth and eye opening, 3D yaw and pitch
//                                                     (head_pose.h), sharpness and covered eyes
//                                                     (source_quality.h), glasses bridge score
//                                                     (glasses.h);
//                                                     FILE gets their 68 points (input of
//                                                     scripts/derive_face_shape)
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "facefuse/core/series_stats.h"
#include "facefuse/core/paths.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/ghost_jaw.h"
#include "facefuse/face/glasses.h"
#include "facefuse/face/inner_face_sharpness.h"
#include "facefuse/media/image_io.h"
#include "facefuse/media/video_reader.h"
#include "facefuse/face/head_pose.h"
#include "facefuse/processors/face_swapper/classical_swapper.h"
#include "facefuse/processors/face_swapper/source_quality.h"
#include "bench_support.h"

using namespace facefuse;

namespace {

struct FaceRef {
  const char* photo;
  cv::Point2f near;  // a point inside the face's box (the face whose box centre is nearest)
};

struct Pair {
  FaceRef source, target;
  const char* why;  // what the pair exercises
};

// Distinct-person pairs, chosen by measuring the test photos (--survey): yaw is estimate_yaw
// (≈ sin of the head turn; 0.5 ≈ 30°), roll from the eye line, mouth the mouth-open ratio.
const std::vector<Pair>& pairs() {
  static const std::vector<Pair> list = {
#include "quality_pairs.inc"
  };
  return list;
}

struct Photo {
  cv::Mat image;
  std::vector<face::Face> faces;
};

class Photos {
 public:
  Photos(const face::FaceAnalyser& analyser, std::filesystem::path root) : analyser_(analyser), root_(std::move(root)) {}
  const Photo* get(const std::string& relative) {
    auto it = cache_.find(relative);
    if (it != cache_.end()) return &it->second;
    Photo p;
    auto image = media::read_image(root_ / relative);
    if (!image) {
      std::fprintf(stderr, "bench: %s: %s\n", relative.c_str(), image.status().to_string().c_str());
      return nullptr;
    }
    p.image = *image;
    auto faces = analyser_.analyse(p.image);
    if (faces) p.faces = std::move(faces).value();
    return &cache_.emplace(relative, std::move(p)).first->second;
  }
  const face::Face* pick(const FaceRef& ref, const Photo** photo_out) {
    const Photo* p = get(ref.photo);
    *photo_out = p;
    if (p == nullptr) return nullptr;
    const face::Face* best = nullptr;
    float best_d = 0;
    for (const auto& f : p->faces) {
      cv::Point2f c(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2);
      float d = static_cast<float>(cv::norm(c - ref.near));
      if (f.has_landmarks68() && d < std::max(f.box.width, f.box.height) * 0.6f && (best == nullptr || d < best_d)) {
        best = &f;
        best_d = d;
      }
    }
    return best;
  }

 private:
  const face::FaceAnalyser& analyser_;
  std::filesystem::path root_;
  std::map<std::string, Photo> cache_;
};

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  float inter = (a & b).area();
  float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

cv::Mat gray_float(const cv::Mat& bgr) {
  cv::Mat g, f;
  cv::cvtColor(bgr, g, cv::COLOR_BGR2GRAY);
  g.convertTo(f, CV_32F);
  return f;
}

cv::Mat gradient_magnitude(const cv::Mat& gray) {
  cv::Mat gx, gy, mag;
  cv::Sobel(gray, gx, CV_32F, 1, 0, 3);
  cv::Sobel(gray, gy, CV_32F, 0, 1, 3);
  cv::magnitude(gx, gy, mag);
  return mag;
}

struct Metrics {
  bool found = false;
  bool win = false;
  float margin = 0, pose_mean = 0, mouth_err = 0, eye_err = 0, sharpness = 0, seam = 0, ghost = 0;
  float mouth_result = 0, mouth_target = 0;
  float brow_diff = 0;  // result − target brow raise (face_geometry.h), the side that differs more
  double swap_ms = 0;
  face::Landmarks68 redetected;  // the result's 68 points (empty: no face found)
};

Metrics measure(const face::FaceAnalyser& analyser, const cv::Mat& target_image, const face::Face& target,
                const processors::SwapSourceFace& source, const std::vector<float>& source_embedding,
                const std::vector<float>& target_embedding, const processors::ClassicalSwapOptions& options,
                std::uint64_t probe_noise_seed, cv::Mat* result_out) {
  Metrics m;
  cv::Mat result = target_image.clone(), mask;
  auto t0 = std::chrono::steady_clock::now();
  Status status = processors::classical_swap(result, target, source, options, &mask);
  m.swap_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!status.is_ok()) {
    std::fprintf(stderr, "bench: swap failed: %s\n", status.to_string().c_str());
    return m;
  }
  // The copy that is re-analysed: with --probe-noise, the result plus Gaussian noise of 1 grey level
  // (invisible), to see how much of a change in the re-detected points is dlib's own sensitivity.
  cv::Mat probed = result;
  if (probe_noise_seed != 0) {
    cv::Mat noise(result.size(), CV_32FC3), f;
    cv::RNG rng(probe_noise_seed);
    rng.fill(noise, cv::RNG::NORMAL, 0.0, 1.0);
    result.convertTo(f, CV_32FC3);
    f += noise;
    probed = cv::Mat();
    f.convertTo(probed, CV_8UC3);
  }
  if (result_out != nullptr) *result_out = result;
  auto faces = analyser.analyse(probed);
  if (!faces) return m;
  const face::Face* found = nullptr;
  float best = 0.3f;
  for (const auto& f : *faces) {
    float o = iou(f.box, target.box);
    if (f.has_landmarks68() && o > best) {
      best = o;
      found = &f;
    }
  }
  if (found == nullptr) return m;
  m.found = true;
  m.redetected = found->landmarks68;
  const auto* recognizer = analyser.recognizer();
  auto er = recognizer->embed(probed, *found);
  if (er) {
    float ds = recognizer->distance(*er, source_embedding), dt = recognizer->distance(*er, target_embedding);
    m.win = ds < dt;
    m.margin = dt - ds;
  }
  const auto& tp = target.landmarks68;
  const auto& rp = found->landmarks68;
  const float iod = face::inter_ocular_distance(tp);
  double sum = 0;
  for (int i = 0; i < face::kLandmarkCount68; ++i) sum += cv::norm(rp[i] - tp[i]);
  m.pose_mean = static_cast<float>(sum / face::kLandmarkCount68 / iod);
  m.mouth_result = face::mouth_open_ratio(rp);
  m.mouth_target = face::mouth_open_ratio(tp);
  m.mouth_err = std::abs(m.mouth_result - m.mouth_target);
  m.eye_err = std::abs(face::eye_open_ratio(rp) - face::eye_open_ratio(tp));
  for (int brow : {17, 22}) {
    const float d = face::brow_raise_ratio(rp, brow) - face::brow_raise_ratio(tp, brow);
    if (std::abs(d) > std::abs(m.brow_diff)) m.brow_diff = d;
  }

  m.sharpness = static_cast<float>(face::inner_face_sharpness_ratio(target_image, result, tp));

  // Seam on the target's face region.
  const cv::Rect region = face::face_region(tp, 0.15f, 0.25f, target_image.size());
  cv::Mat g_result = gray_float(result(region)), g_target = gray_float(target_image(region));

  cv::Mat mask_region = mask(region);
  cv::Mat mag_result = gradient_magnitude(g_result), mag_target = gradient_magnitude(g_target);
  cv::Mat contour = (mask_region > 0.35f) & (mask_region < 0.65f);
  const double own = cv::mean(mag_target)[0];
  if (cv::countNonZero(contour) > 0 && own > 0) m.seam = static_cast<float>(cv::mean(mag_result, contour)[0] / own);

  // Ghost jaw: a second jaw line inside the target's (face/ghost_jaw.h).
  m.ghost = face::ghost_jaw_fraction(target_image, result, tp);
  return m;
}

int survey(const face::FaceAnalyser& analyser, const std::filesystem::path& root, const std::string& landmarks_out) {
  Photos photos(analyser, root);
  std::ofstream dump;
  if (!landmarks_out.empty()) dump.open(landmarks_out);
  std::printf("%-40s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %7s %7s\n", "photo @ box centre", "size", "yaw", "roll",
              "mouth", "eyes", "iod", "score", "yaw3d", "pitch", "sharp", "covered", "glasses");
  for (const char* dir : {"photos", "dlib_faces"}) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(root / dir)) {
      auto ext = e.path().extension().string();
      if (ext == ".jpg" || ext == ".png") names.push_back(std::string(dir) + "/" + e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const Photo* p = photos.get(name);
      if (p == nullptr) continue;
      for (const auto& f : p->faces) {
        if (!f.has_landmarks68()) continue;
        const auto& l = f.landmarks68;
        const face::HeadPose pose = face::fit_head_pose(l);
        std::printf("%-28s @%5.0f,%5.0f %6.0f %6.2f %6.1f %6.2f %6.2f %6.0f %6.2f %6.1f %6.1f %6.3f %7d %7.2f\n",
                    name.c_str(), f.box.x + f.box.width / 2, f.box.y + f.box.height / 2, face::face_size(l),
                    processors::estimate_yaw(l), face::roll_degrees(l), face::mouth_open_ratio(l),
                    face::eye_open_ratio(l), face::inter_ocular_distance(l), f.score, pose.yaw, pose.pitch,
                    processors::source_face_sharpness(p->image, f), processors::covered_eyes(p->image, f),
                    face::glasses_bridge_score(p->image, l));
        if (dump.is_open()) {
          // One face per line: photo, face size (px), detector score, then x y of the 68 points.
          dump << name << ' ' << face::face_size(l) << ' ' << f.score;
          for (const auto& q : l) dump << ' ' << q.x << ' ' << q.y;
          dump << '\n';
        }
      }
    }
  }
  return 0;
}

// Variants run on every pair, in this order: the pre-issue-17 geometry, the target's expression with
// the 2D similarity placement, and today's default (re-posed with the generic 3D face).
constexpr int kVariants = 3;
const processors::ClassicalGeometry kVariantGeometry[kVariants] = {processors::ClassicalGeometry::kSourceExpression,
                                                                   processors::ClassicalGeometry::kTargetExpressionFlat,
                                                                   processors::ClassicalGeometry::kTargetExpression};
const char* const kVariantName[kVariants] = {"baseline", "flat", "default"};
const char* const kVariantTitle[kVariants] = {"baseline (pre-issue-17)", "target expression, 2D placement",
                                              "default (+ 3D re-pose)"};  // the table's rows

struct Aggregate {
  int n = 0, found = 0, wins = 0;
  double margin = 0, pose = 0, pose_worst = 0, mouth = 0, mouth_worst = 0, eye = 0, eye_worst = 0;
  double brow = 0, brow_worst = 0;
  double sharp = 0, sharp_worst = 1e9, sharp_most = 0, seam = 0, ghost = 0, ghost_worst = 0;
  double open_mouth_worst = 0;  // mouth error on open-mouth targets (ratio ≥ 0.15)
  std::vector<double> times;
  void add(const Metrics& m) {
    ++n;
    times.push_back(m.swap_ms);
    if (!m.found) return;
    ++found;
    wins += m.win ? 1 : 0;
    margin += m.margin;
    pose += m.pose_mean;
    pose_worst = std::max<double>(pose_worst, m.pose_mean);
    mouth += m.mouth_err;
    mouth_worst = std::max<double>(mouth_worst, m.mouth_err);
    if (m.mouth_target >= 0.15f) open_mouth_worst = std::max<double>(open_mouth_worst, m.mouth_err);
    eye += m.eye_err;
    eye_worst = std::max<double>(eye_worst, m.eye_err);
    brow += std::abs(m.brow_diff);
    brow_worst = std::max<double>(brow_worst, std::abs(m.brow_diff));
    sharp += m.sharpness;
    sharp_worst = std::min<double>(sharp_worst, m.sharpness);
    sharp_most = std::max<double>(sharp_most, m.sharpness);
    seam += m.seam;
    ghost += m.ghost;
    ghost_worst = std::max<double>(ghost_worst, m.ghost);
  }
  std::string row(const char* name) const {
    const double f = std::max(1, found);
    std::vector<double> t = times;
    std::sort(t.begin(), t.end());
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "| %s | %d/%d | %d/%d (%.0f %%) | %.3f | %.3f / %.3f | %.3f / %.3f (open %.3f) | %.3f / %.3f | "
                  "%.3f / %.3f | %.2f / %.2f / %.2f | %.2f | %.2f / %.2f | %.0f |",
                  name, found, n, wins, n, 100.0 * wins / std::max(1, n), margin / f, pose / f, pose_worst, mouth / f,
                  mouth_worst, open_mouth_worst, eye / f, eye_worst, brow / f, brow_worst, sharp / f, sharp_worst,
                  sharp_most, seam / f, ghost / f, ghost_worst, t.empty() ? 0.0 : t[t.size() / 2]);
    return buf;
  }
};

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  return pearson_correlation(a, b).value_or(0.0);
}

// The talking-head clip: every `step`-th frame's largest face swapped with a still source photo
// (both geometries), the result re-analysed; prints how the result's mouth-open and eye-open
// ratios follow the target's over time (Pearson correlation, and the result's range over the
// target's: 5th–95th percentile spread).
int video_check(const face::FaceAnalyser& analyser, const std::filesystem::path& root, int max_frames,
                const FaceRef& source_ref) {
  auto reader = media::VideoReader::open(root / "videos/talking_head.avi");
  if (!reader) {
    std::fprintf(stderr, "bench: %s\n", reader.status().to_string().c_str());
    return 1;
  }
  Photos photos(analyser, root);
  const Photo* source_photo = nullptr;
  const face::Face* source_face = photos.pick(source_ref, &source_photo);
  if (source_face == nullptr) return 1;
  const processors::SwapSourceFace source{source_photo->image, *source_face};
  std::vector<double> mouth_t, mouth_new, mouth_old, eye_t, eye_new, eye_old;
  cv::Mat frame;
  int64_t index = 0;
  const int step = 2;
  while (static_cast<int>(mouth_t.size()) < max_frames) {
    auto more = (*reader)->read(frame, index);
    if (!more || !*more) break;
    if (index % step != 0) continue;
    auto faces = analyser.analyse(frame);
    if (!faces || faces->empty()) continue;
    const face::Face& target = *face::largest_face(*faces);
    double m[2] = {-1, -1}, e[2] = {-1, -1};
    for (int variant = 0; variant < 2; ++variant) {
      processors::ClassicalSwapOptions o;
      if (variant == 0) o.geometry = processors::ClassicalGeometry::kSourceExpression;
      cv::Mat result = frame.clone();
      if (!processors::classical_swap(result, target, source, o).is_ok()) continue;
      auto again = analyser.analyse(result);
      if (!again || again->empty()) continue;
      const face::Face& r = *face::largest_face(*again);
      m[variant] = face::mouth_open_ratio(r.landmarks68);
      e[variant] = face::eye_open_ratio(r.landmarks68);
    }
    if (m[0] < 0 || m[1] < 0) continue;
    mouth_t.push_back(face::mouth_open_ratio(target.landmarks68));
    eye_t.push_back(face::eye_open_ratio(target.landmarks68));
    mouth_old.push_back(m[0]);
    mouth_new.push_back(m[1]);
    eye_old.push_back(e[0]);
    eye_new.push_back(e[1]);
  }
  const auto spread = percentile_spread;
  std::printf("talking_head.avi, every %d. frame, %zu frames, source %s\n", step, mouth_t.size(), source_ref.photo);
  std::printf("| variant | mouth-open correlation | mouth-open range × target | eye-open correlation | eye-open range × target |\n");
  std::printf("|---|---|---|---|---|\n");
  const double rt = spread(mouth_t), et = spread(eye_t);
  std::printf("| baseline (pre-issue-17) | %.2f | %.2f | %.2f | %.2f |\n", correlation(mouth_t, mouth_old),
              rt > 0 ? spread(mouth_old) / rt : 0.0, correlation(eye_t, eye_old), et > 0 ? spread(eye_old) / et : 0.0);
  std::printf("| default | %.2f | %.2f | %.2f | %.2f |\n", correlation(mouth_t, mouth_new),
              rt > 0 ? spread(mouth_new) / rt : 0.0, correlation(eye_t, eye_new), et > 0 ? spread(eye_new) / et : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (int code = bench::usage_exit(argc, argv,
                                    "usage: %s TESTDATA_DIR [--first I] [--pairs N] [--save DIR] [--markdown FILE] "
                                    "[--variant baseline|flat|default] [--probe-noise SEED] | --survey [--landmarks FILE] "
                                    "| --video N\n");
      code >= 0) {
    return code;
  }
  std::filesystem::path testdata = argv[1];
  size_t max_pairs = pairs().size();
  std::string markdown, save_dir, landmarks_out, only_variant;
  bool do_survey = false;
  int video_frames = 0;
  size_t first_pair = 0;
  std::uint64_t probe_noise_seed = 0;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--survey") {
      do_survey = true;
    } else if (a == "--video" && i + 1 < argc) {
      video_frames = std::max(2, std::atoi(argv[++i]));
    } else if (a == "--pairs" && i + 1 < argc) {
      max_pairs = static_cast<size_t>(std::max(1, std::atoi(argv[++i])));
    } else if (a == "--first" && i + 1 < argc) {
      first_pair = static_cast<size_t>(std::max(0, std::atoi(argv[++i])));
    } else if (a == "--save" && i + 1 < argc) {
      save_dir = argv[++i];
    } else if (a == "--variant" && i + 1 < argc) {
      only_variant = argv[++i];
    } else if (a == "--landmarks" && i + 1 < argc) {
      landmarks_out = argv[++i];
    } else if (a == "--markdown" && i + 1 < argc) {
      markdown = argv[++i];
    } else if (a == "--probe-noise" && i + 1 < argc) {
      probe_noise_seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "bench: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (!markdown.empty() && (!only_variant.empty() || probe_noise_seed != 0)) {
    std::fprintf(stderr, "bench: --markdown needs every variant and no probe noise (drop --variant, --probe-noise)\n");
    return 2;
  }
  face::FaceAnalyserOptions options;
  options.models_dir = default_models_dir();
  options.with_recognizer = true;
  options.recognizer = "dlib_resnet";
  auto analyser = face::FaceAnalyser::open(options);
  if (!analyser) {
    std::fprintf(stderr, "bench: %s\n", analyser.status().to_string().c_str());
    return 1;
  }
  if (do_survey) return survey(**analyser, testdata, landmarks_out);
  if (video_frames > 0) {
    // Two still sources: a smile with the teeth showing and a closed mouth.
    for (const FaceRef& ref : {FaceRef{"photos/astronaut.png", {224, 125}}, FaceRef{"photos/sample6.jpg", {1278, 486}}}) {
      if (int rc = video_check(**analyser, testdata, video_frames, ref); rc != 0) return rc;
    }
    return 0;
  }

  utsname uts{};
  uname(&uts);
  std::printf("facefuse swap-quality benchmark\nmachine: %s, %u hardware threads, %s %s\n", bench::cpu_model().c_str(),
              std::thread::hardware_concurrency(), uts.sysname, uts.release);
  std::printf("%zu pairs from %s; variants: baseline = pre-issue-17 geometry, flat = target expression with 2D placement, default = today's\n\n",
              std::min(max_pairs, pairs().size()), testdata.c_str());
  std::printf("%-3s %-8s %-60s %5s %7s %6s %6s %6s %6s %6s %6s %5s %5s\n", "#", "variant", "source -> target (why)",
              "win", "margin", "pose", "mouth±", "m.tgt", "eyes", "brow±", "sharp", "seam", "ghost");
  Photos photos(**analyser, testdata);
  const auto* recognizer = (*analyser)->recognizer();
  Aggregate all[kVariants];
  for (size_t i = first_pair; i < pairs().size() && i < first_pair + max_pairs; ++i) {
    const Pair& pair = pairs()[i];
    const Photo *sp = nullptr, *tp = nullptr;
    const face::Face* s = photos.pick(pair.source, &sp);
    const face::Face* t = photos.pick(pair.target, &tp);
    if (s == nullptr || t == nullptr) {
      std::fprintf(stderr, "bench: pair %zu: no face near the given point (%s / %s)\n", i, pair.source.photo,
                   pair.target.photo);
      continue;
    }
    auto es = recognizer->embed(sp->image, *s);
    auto et = recognizer->embed(tp->image, *t);
    if (!es || !et) continue;
    processors::SwapSourceFace source{sp->image, *s};
    for (int variant = 0; variant < kVariants; ++variant) {
      if (!only_variant.empty() && only_variant != kVariantName[variant]) continue;
      processors::ClassicalSwapOptions o;
      o.geometry = kVariantGeometry[variant];
      cv::Mat result;
      Metrics m = measure(**analyser, tp->image, *t, source, *es, *et, o, probe_noise_seed, &result);
      if (!save_dir.empty() && !result.empty()) {
        // The target's face region, the result's, and the source face side by side.
        const cv::Rect r = face::face_region(t->landmarks68, 0.15f, 0.4f, result.size());
        const cv::Rect sr = face::face_region(s->landmarks68, 0.15f, 0.4f, sp->image.size());
        cv::Mat a, b, c, d, row;
        cv::Mat marked = result.clone();
        if (m.found) {
          // The result's re-detected points (red) over the target's (green): where pose and
          // expression errors come from.
          for (int k = 0; k < face::kLandmarkCount68; ++k) {
            cv::circle(marked, t->landmarks68[k], 1, cv::Scalar(0, 255, 0), cv::FILLED);
            cv::circle(marked, m.redetected[k], 1, cv::Scalar(0, 0, 255), cv::FILLED);
          }
        }
        cv::resize(sp->image(sr), a, cv::Size(400 * sr.width / sr.height, 400));
        cv::resize(tp->image(r), b, cv::Size(400 * r.width / r.height, 400));
        cv::resize(result(r), c, cv::Size(400 * r.width / r.height, 400));
        cv::resize(marked(r), d, cv::Size(400 * r.width / r.height, 400));
        cv::hconcat(std::vector<cv::Mat>{a, b, c, d}, row);
        (void)media::write_image(std::filesystem::path(save_dir) / (std::to_string(i) + "_" + kVariantName[variant] + ".png"), row);
        // Target and result at 100 % (the face region at its own pixels): how it looks up close.
        cv::Mat native;
        cv::hconcat(std::vector<cv::Mat>{tp->image(r), result(r)}, native);
        (void)media::write_image(std::filesystem::path(save_dir) / (std::to_string(i) + "_" + kVariantName[variant] + "_100.png"), native);
      }
      all[variant].add(m);
      std::string label = std::string(pair.source.photo) + " -> " + pair.target.photo + " (" + pair.why + ")";
      if (label.size() > 60) label = "…" + label.substr(label.size() - 59);
      if (!m.found) {
        std::printf("%-3zu %-8s %-60s  no face found in the result\n", i, kVariantName[variant],
                    label.c_str());
        continue;
      }
      std::printf("%-3zu %-8s %-60s %5s %7.3f %6.3f %+6.3f %6.2f %6.3f %+6.3f %6.2f %5.2f %5.2f\n", i,
                  kVariantName[variant], label.c_str(), m.win ? "yes" : "NO", m.margin, m.pose_mean,
                  m.mouth_result - m.mouth_target, m.mouth_target, m.eye_err, m.brow_diff, m.sharpness, m.seam,
                  m.ghost);
      std::fflush(stdout);
    }
  }
  std::ostringstream table;
  table << "| variant | re-detected | source wins | mean margin | pose mean / worst (IOD) | mouth-open error mean / "
           "worst (worst on open-mouth targets) | eye-open error mean / worst | brow-raise error mean / worst | "
           "sharpness mean / worst / sharpest (× target) | seam | ghost jaw mean / worst | swap ms (median) |\n";
  table << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (int variant = 0; variant < kVariants; ++variant) {
    if (all[variant].n > 0) table << all[variant].row(kVariantTitle[variant]) << "\n";  // --variant runs one
  }
  std::printf("\n%s", table.str().c_str());
  if (!markdown.empty()) {
    std::ifstream in(markdown);
    std::stringstream all;
    all << in.rdbuf();
    std::string text = all.str();
    const std::string begin = "<!-- bench-quality:begin -->", end = "<!-- bench-quality:end -->";
    auto b = text.find(begin), e = text.find(end);
    if (b == std::string::npos || e == std::string::npos || e < b) {
      std::fprintf(stderr, "bench: %s has no %s … %s block\n", markdown.c_str(), begin.c_str(), end.c_str());
      return 1;
    }
    std::ostringstream block;
    block << begin << "\n" << "Machine: " << bench::cpu_model() << "; " << std::min(max_pairs, pairs().size())
          << " pairs (bench/quality_pairs.inc).\n\n" << table.str() << end;
    text = text.substr(0, b) + block.str() + text.substr(e + end.size());
    std::ofstream out(markdown);
    out << text;
    std::printf("table written to %s\n", markdown.c_str());
  }
  return 0;
}
