// Face analysis types shared by detectors, landmarkers, recognizers, selection and processors.
// Coordinates are always source-image pixels (x right, y down), floating point.
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"

namespace facefuse::face {

// The 5 alignment points in FaceFusion's order, named by where they appear in the image:
// [0] eye on the image's left (the subject's right eye), [1] eye on the image's right,
// [2] nose tip, [3] mouth corner on the image's left, [4] mouth corner on the image's right.
using Landmarks5 = std::array<cv::Point2f, 5>;

// dlib/iBUG 68-point layout: 0–16 jaw, 17–26 brows, 27–35 nose, 36–47 eyes, 48–67 mouth.
using Landmarks68 = std::vector<cv::Point2f>;
inline constexpr int kLandmarkCount68 = 68;

// What a detector returns for one face.
struct Detection {
  // In the dlib 68-landmark convention (brows to chin, cheek to cheek) for every detector, so
  // that selection, tracking and the dlib_68 landmarker see the same kind of box whichever
  // detector ran.
  cv::Rect2f box;
  // The detector's own box in its own convention: FaceFusion's for yolo_face, scrfd, retinaface
  // and yunet (what FaceFusion's landmarkers expect); equal to `box` for blazeface and dlib_hog.
  cv::Rect2f detector_box;
  float score = 0.0f;       // detector confidence in [0, 1]
  Landmarks5 landmarks5{};  // from the detector; dlib_hog has none and estimates them from the box
  bool landmarks5_estimated = false;  // true when landmarks5 were placed from the box, not found (dlib_hog)
};

// Apparent gender and age of a face (AgeGenderClassifier: face-api's AgeGenderNet). The model
// only knows the two classes it was trained on; it says nothing about identity.
enum class Gender { kFemale, kMale };

struct FaceAttributes {
  float male_probability = 0.5f;  // P(male) in [0, 1]; P(female) = 1 − P(male)
  float age = 0.0f;               // years, a regression (fractional, not clamped)
  Gender gender() const { return male_probability > 0.5f ? Gender::kMale : Gender::kFemale; }
};

// One analysed face.
struct Face {
  cv::Rect2f box;  // in the landmarker's input convention (FaceLandmarker::input_box)
  float score = 0.0f;
  Landmarks5 landmarks5{};   // derived from landmarks68 when those exist, else the detector's
  Landmarks68 landmarks68;   // empty when no landmarker ran
  // The detector's own 5 points (FaceAnalyser::analyse), when it finds them: a second opinion on
  // where the eyes and nose are (face_geometry.h, seen_from_the_side). Unset for dlib_hog and for
  // faces followed from the previous video frame without the detector.
  std::optional<Landmarks5> detector_landmarks5;
  // Video: how far this face's swap is faded out because its track is seen in profile
  // (face_geometry.h, seen_from_the_side), set by the pipeline: 0 = swapped fully, 1 = left as it
  // is. Decided at the track's detections (followed frames have no detector points of their own to
  // tell) and ramped linearly over the frames between two that disagree (pipeline::profile_fade_at).
  // Live frames: moved a quarter per frame toward each frame's own verdict (live_swap.cpp).
  float profile_fade = 0.0f;
  // Video: how much of the glasses frame found on this face is kept by a face swap (0–1), decided
  // over its track's recent detections (face/glasses.h, glasses_keep_weight) and set by the
  // pipeline, so thin glasses the check finds on some frames and not on others do not flicker.
  // Live frames: smoothed over the session's frames (live_swap.cpp). Unset: decided on this face's
  // own pixels (still images).
  std::optional<float> glasses_weight;
  // Video: how sharp this face's track is (face::inner_face_energy at the common face size,
  // inner_face_sharpness.h), averaged over its recent detections and set by the pipeline; a face
  // swap softens a source sharper than this, so the face does not look pasted onto a soft clip.
  // Live frames: measured on the frame and smoothed over the session's frames (live_swap.cpp).
  // Unset: still images (whose swap measures the photo itself).
  std::optional<float> track_detail_energy;
  // Video: this face's yaw (processors::estimate_yaw) averaged over its track's recent detections,
  // set by the pipeline; live frames: smoothed over the session's frames (live_swap.cpp). The face
  // swapper decides from it whether to mirror the source (should_mirror_source), so a face whose
  // yaw hovers near the threshold does not flip the source's mirror image from frame to frame.
  // Unset: from landmarks68 (still images).
  std::optional<float> track_yaw;
  // Video: the eye-open ratios (face_geometry.h, one_eye_open_ratio: the image-left eye 36–41, then
  // 42–47) of this frame's own landmarks before the tracker smoothed them, set by the pipeline. A
  // blink lasts 2–4 frames and the smoothing (face_tracker.h) leaves the eyes of its closed frames
  // half open, so the face swapper tells a blink from these. Unset: from landmarks68 (still
  // images, faces bridged over a missed frame).
  std::optional<std::array<float, 2>> unsmoothed_eye_open;
  std::vector<float> embedding;  // identity descriptor of the active recognizer; empty if not computed
  std::optional<FaceAttributes> attributes;  // gender/age; unset until a classifier ran (only when needed)

  bool has_landmarks68() const { return landmarks68.size() == kLandmarkCount68; }
};

// 5 alignment points from 68 landmarks: eye centres = means of 36–41 and 42–47, nose tip 30,
// mouth corners 48 and 54.
Landmarks5 landmarks5_from_68(const Landmarks68& points);

class FaceDetector {
 public:
  virtual ~FaceDetector() = default;
  virtual std::string_view name() const = 0;
  // All faces in a BGR uint8 image, best score first. Thread-safe.
  virtual Result<std::vector<Detection>> detect(const cv::Mat& bgr) const = 0;
};

class FaceLandmarker {
 public:
  virtual ~FaceLandmarker() = default;
  virtual std::string_view name() const = 0;
  // The box of a detection that landmarks() expects: the dlib-convention box by default.
  virtual cv::Rect2f input_box(const Detection& detection) const { return detection.box; }
  // 68 points for the face in `box` of a BGR uint8 image. Thread-safe.
  virtual Result<Landmarks68> landmarks(const cv::Mat& bgr, const cv::Rect2f& box) const = 0;
  // The box (in this landmarker's input convention) that 68 points imply: feeding it back to
  // landmarks() on the next video frame follows a face without running the detector.
  virtual cv::Rect2f box_from_landmarks(const Landmarks68& points) const = 0;
};

class FaceRecognizer {
 public:
  virtual ~FaceRecognizer() = default;
  virtual std::string_view name() const = 0;
  // Identity descriptor of `face` (needs landmarks) in a BGR uint8 image. Thread-safe.
  virtual Result<std::vector<float>> embed(const cv::Mat& bgr, const Face& face) const = 0;
  // Distance between two descriptors of this recognizer (smaller = more alike) and the distance
  // under which two faces are the same person by this model's own rule.
  virtual float distance(const std::vector<float>& a, const std::vector<float>& b) const = 0;
  virtual float same_person_threshold() const = 0;
};

}  // namespace facefuse::face
