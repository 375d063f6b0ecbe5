#include "facefuse/face/dlib_hog_detector.h"

#include <algorithm>
#include <cmath>

#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv/cv_image.h>
#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

namespace facefuse::face {

namespace {

// Box side (source pixels at 1x) of the smallest face the detector reports (its 80 x 80 window;
// the smallest labelled boxes, found at 2x, are 37 px).
constexpr float kSmallestFaceAt1x = 80.0f;
// score = logistic(kScoreSlope · svm_margin).
constexpr double kScoreSlope = 2.0;

// Mean 5 points relative to a dlib box (x = left + fx · width, y = top + fy · height), measured
// from the 68 landmarks of dlib's labelled faces (whose boxes are dlib HOG boxes), made
// left-right symmetric. Spread over those faces: 0.04–0.10 of the box side.
constexpr std::array<std::array<float, 2>, 5> kPointsInBox{{
    {0.305f, 0.30f},  // image-left eye centre (mean of 36–41)
    {0.695f, 0.30f},  // image-right eye centre (mean of 42–47)
    {0.50f, 0.51f},   // nose tip (30)
    {0.31f, 0.71f},   // mouth corner, image left (48)
    {0.69f, 0.71f},   // mouth corner, image right (54)
}};

// dlib deserialises its built-in detector from a string (~0.3 s): done once per process. The
// prototype is never called, only copied, so sharing it is safe.
const dlib::frontal_face_detector& prototype_detector() {
  static const dlib::frontal_face_detector prototype = dlib::get_frontal_face_detector();
  return prototype;
}

}  // namespace

struct DlibHogDetector::Pool {
  std::mutex mutex;
  std::vector<std::unique_ptr<dlib::frontal_face_detector>> idle;

  std::unique_ptr<dlib::frontal_face_detector> acquire() {
    std::lock_guard lock(mutex);
    if (!idle.empty()) {
      auto d = std::move(idle.back());
      idle.pop_back();
      return d;
    }
    return std::make_unique<dlib::frontal_face_detector>(prototype_detector());
  }
  void release(std::unique_ptr<dlib::frontal_face_detector> d) {
    std::lock_guard lock(mutex);
    idle.push_back(std::move(d));
  }
};

DlibHogDetector::DlibHogDetector(const Options& options) : options_(options), pool_(std::make_unique<Pool>()) {}
DlibHogDetector::~DlibHogDetector() = default;

Result<std::unique_ptr<DlibHogDetector>> DlibHogDetector::create(const Options& options) {
  if (!(options.score_threshold >= 0.0f && options.score_threshold < 1.0f)) {
    return invalid_argument(fmt::format("face detector score threshold must be in [0, 1), got {}", options.score_threshold));
  }
  if (options.upsample < kAutoUpsample || options.upsample > 3) {
    return invalid_argument(fmt::format("dlib_hog upsample must be 0..3 or auto (-1), got {}", options.upsample));
  }
  if (options.min_face_size < 0) {
    return invalid_argument(fmt::format("minimum face size must be >= 0 pixels, got {}", options.min_face_size));
  }
  return std::make_unique<DlibHogDetector>(options);
}

int DlibHogDetector::upsample_count(cv::Size size) const {
  if (options_.upsample != kAutoUpsample) return options_.upsample;
  if (options_.min_face_size <= 0) return 0;
  int n = 0;
  float smallest = kSmallestFaceAt1x;
  double pixels = static_cast<double>(size.area());
  while (n < 3 && smallest > static_cast<float>(options_.min_face_size) * 1.05f &&
         pixels * 4 <= static_cast<double>(options_.max_upsampled_pixels)) {
    ++n;
    smallest /= 2;
    pixels *= 4;
  }
  return n;
}

Result<std::vector<Detection>> DlibHogDetector::detect(const cv::Mat& bgr) const {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    return invalid_argument("face detection needs a non-empty 8-bit BGR image (CV_8UC3)");
  }
  const int ups = upsample_count(bgr.size());
  const double factor = std::ldexp(1.0, ups);
  cv::Mat work = bgr;
  if (ups > 0) cv::resize(bgr, work, cv::Size(), factor, factor, cv::INTER_LINEAR);
  if (!work.isContinuous()) work = work.clone();

  // score ≥ threshold ⇔ margin ≥ logit(threshold) / slope; dlib takes that as adjust_threshold.
  const double p = std::max(1e-6, static_cast<double>(options_.score_threshold));
  const double adjust = std::log(p / (1.0 - p)) / kScoreSlope;

  std::vector<dlib::rect_detection> found;
  auto detector = pool_->acquire();
  try {
    dlib::cv_image<dlib::bgr_pixel> image(work);
    (*detector)(image, found, adjust);
  } catch (const std::exception& e) {
    pool_->release(std::move(detector));
    return internal_error(fmt::format("dlib face detection failed: {}", e.what()));
  }
  pool_->release(std::move(detector));

  std::vector<Detection> detections;
  detections.reserve(found.size());
  for (const auto& f : found) {
    Detection d;
    // dlib rectangles are inclusive (width = right - left + 1) with pixel centres at integers;
    // upsampled pixel u is source pixel (u + 0.5) / factor - 0.5.
    const auto& r = f.rect;
    d.box = cv::Rect2f(static_cast<float>((r.left() + 0.5) / factor - 0.5), static_cast<float>((r.top() + 0.5) / factor - 0.5),
                       static_cast<float>(r.width() / factor), static_cast<float>(r.height() / factor));
    d.detector_box = d.box;
    d.score = static_cast<float>(1.0 / (1.0 + std::exp(-kScoreSlope * f.detection_confidence)));
    d.landmarks5_estimated = true;
    for (size_t k = 0; k < kPointsInBox.size(); ++k) {
      d.landmarks5[k] = cv::Point2f(d.box.x + kPointsInBox[k][0] * d.box.width, d.box.y + kPointsInBox[k][1] * d.box.height);
    }
    detections.push_back(d);
  }
  std::sort(detections.begin(), detections.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
  return detections;
}

}  // namespace facefuse::face
