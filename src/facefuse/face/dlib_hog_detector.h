// dlib's HOG + linear SVM frontal face detector (dlib::get_frontal_face_detector(); no model
// file: the weights are compiled into dlib). Five sliding-window filters (front, left, right,
// front tilted left/right) over an image pyramid of 5/6 steps.
//
// What detect() returns:
//   - boxes as dlib reports them (the 68-landmark box convention), source-image pixels with pixel
//     centres at integer coordinates (also after upsampling);
//   - score = logistic(2 · svm_margin), svm_margin being dlib's detection confidence above its own
//     threshold, so score 0.5 is dlib's default operating point, 0.88 a margin of 1 (a clear
//     frontal face) and 0.27 a margin of -0.5 (mostly noise);
//   - landmarks5 estimated from the box alone (mean positions relative to dlib boxes, measured
//     on dlib's labelled faces); only good enough to order and roughly align faces — run the
//     68-point landmarker for anything else.
//
// The detector's window is 80 x 80 pixels, so at 1x it finds faces of about 80 px and up. Each
// upsampling doubles the image first (cv::resize, bilinear) and halves that size, at 4x the cost.
//
// Thread-safety: dlib's object_detector keeps scratch state and is not safe to call from two
// threads at once. detect() takes a copy from a small pool (created on demand, returned after the
// call), so concurrent calls run in parallel without sharing a detector; the pool holds at most
// as many copies as there were simultaneous callers. The copies come from one immutable
// prototype per process (dlib deserialises its built-in model in ~0.3 s; copying is cheap).
#pragma once

#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "facefuse/face/face.h"

namespace facefuse::face {

class DlibHogDetector final : public FaceDetector {
 public:
  // Upsampling policy: kAuto picks per frame the number of doublings that brings the detector's
  // smallest face down to `min_face_size`, but never beyond `max_upsampled_pixels`.
  static constexpr int kAutoUpsample = -1;

  struct Options {
    // 0.55 = SVM margin 0.1 above dlib's own threshold: on our labelled photos it keeps all 43
    // VOC faces (lowest 0.61) and drops the one false positive dlib's default lets through (a
    // round mission patch in astronaut.png, 0.53).
    float score_threshold = 0.55f;
    int upsample = kAutoUpsample;  // 0, 1, 2 doublings, or kAutoUpsample
    // Smallest face (box side, source pixels) kAutoUpsample aims for; 0 = never upsample. dlib's
    // labelled VOC faces are 37–109 px in ~500 px photos: finding all of them needs one doubling.
    int min_face_size = 40;
    // Cap for kAutoUpsample: upsampled frames above this many pixels are not upsampled further
    // (a 1920 x 1280 frame doubled is 9.8 MP and takes seconds).
    int max_upsampled_pixels = 1280 * 1024;
  };

  explicit DlibHogDetector(const Options& options);
  ~DlibHogDetector() override;
  // Checks options.
  static Result<std::unique_ptr<DlibHogDetector>> create(const Options& options);

  std::string_view name() const override { return "dlib_hog"; }
  Result<std::vector<Detection>> detect(const cv::Mat& bgr) const override;

  // Doublings detect() applies to a frame of `size`.
  int upsample_count(cv::Size size) const;
  const Options& options() const { return options_; }

 private:
  struct Pool;
  Options options_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace facefuse::face
