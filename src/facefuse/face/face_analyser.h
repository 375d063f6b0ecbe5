// FaceAnalyser: detector + 68-point landmarker + (optional) recognizer, opened once per job and
// shared by every thread that processes its frames.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"
#include "facefuse/face/face.h"
#include "facefuse/inference/onnx_session.h"

namespace facefuse::face {

struct FaceAnalyserOptions {
  std::filesystem::path models_dir;
  std::string detector = "blazeface";  // detector_factory.h names
  float detector_score = -1.0f;        // < 0: the detector's own default
  int min_face_size = 40;              // smallest face to look for, pixels (larger = faster)
  std::string detector_size = "640x640";  // FaceFusion's detectors: model input "WxH"
  std::vector<int> detector_angles{0};    // FaceFusion's detectors: 0, 90, 180, 270
  std::string landmarker = "dlib_68";     // dlib_68 | 2dfan4
  bool with_recognizer = false;        // open the identity recognizer (reference selection, tests)
  // Identity recognizer (DESIGN.md §4.1): "auto" = arcface_w600k_r50 when its model file is
  // installed, else dlib's ResNet descriptor; or one of face_recognizer_names() explicitly.
  std::string recognizer = "auto";
  inference::SessionOptions session;
};

// Valid values of FaceAnalyserOptions::recognizer, "auto" first.
std::vector<std::string_view> face_recognizer_names();

// The catalogue id of the recognizer model `name` opens with `models_dir` as it is now: "auto"
// is arcface_w600k_r50 when that is installed, else dlib_face_recognition_resnet.
// invalid_argument for an unknown name.
Result<std::string> face_recognizer_model_id(const std::string& name, const std::filesystem::path& models_dir);

// FaceAnalyser::follow keeps the box a face was found from while the box its points imply moves or
// changes size by at most this × its width (1 % of a 200 px box: 2 px). On the static test clip a
// bound of 0.4 % still let the smoothed points of a 150 px face move the box every few frames.
inline constexpr float kHeldBoxTolerance = 0.01f;
// FaceAnalyser::settle: a detection whose 68 points lie within this × the inter-ocular distance
// (mean point distance) of a face followed into the same frame is that face. The same face found
// from two boxes differs by ~0.01–0.02 IOD; two faces' points never come this close.
inline constexpr float kSameFaceDistance = 0.25f;

class FaceAnalyser {
 public:
  static Result<std::unique_ptr<FaceAnalyser>> open(const FaceAnalyserOptions& options);

  // Faces in a BGR uint8 image with box, score, 68 landmarks and the 5 points derived from them,
  // best detector score first. A face whose 5 detector points say it lies on its side or upside
  // down (eye line nearest 90°, 180° or 270°; found with detector angles) gets its landmarks on
  // the frame turned so that it stands upright, mapped back. Face::box is the box the landmarker
  // was given (its input convention). Embeddings are not computed here (see embed). Thread-safe.
  Result<std::vector<Face>> analyse(const cv::Mat& bgr) const;
  // Follows a face from the previous video frame into `bgr` without the detector: 68 landmarks on
  // the box the previous landmarks imply — or on `held_box` (the box the face was found from in
  // the previous frame) while that box is within kHeldBoxTolerance of it, so a still face gets the
  // same points frame after frame. `ran_from` (optional) receives the box used. nullopt when the
  // result does not look like the same face any more (its box moved or changed size too much).
  // Thread-safe.
  Result<std::optional<Face>> follow(const cv::Mat& bgr, const Face& previous,
                                     const std::optional<cv::Rect2f>& held_box = std::nullopt,
                                     cv::Rect2f* ran_from = nullptr) const;
  // Gives the faces detected in a video or camera frame the points following would give them.
  // dlib's points depend on the box they start from: a detection starts from the detector's box,
  // which varies with the picture's noise, a followed face from the box its previous points imply,
  // and on a still face the two differed by 3–4 px — a jump at every detection. So each of
  // `previous` (the faces of the frame before, with the boxes they were found from: `held_boxes`)
  // is followed into `bgr` and the detection whose points lie within kSameFaceDistance of it takes
  // the followed points; a detection of a new face is followed from the box its own points imply,
  // where its next frames start. Boxes, scores and the detector's points stay the detections'.
  // `found_from` receives, per detection, the box its points were found from (nullopt when
  // following failed and its own points stay). Thread-safe.
  Status settle(const cv::Mat& bgr, std::vector<Face>& detections, const std::vector<Face>& previous,
                const std::vector<std::optional<cv::Rect2f>>& held_boxes,
                std::vector<std::optional<cv::Rect2f>>& found_from) const;
  // Fills Face::embedding of each face that has none yet (faces already embedded keep theirs, so
  // callers can embed once and pass the faces on). kFailedPrecondition without a recognizer.
  // Thread-safe.
  Status embed(const cv::Mat& bgr, std::vector<Face>& faces) const;

  // The same landmarker and recognizer (shared, not reloaded) with a detector that looks for faces
  // down to `min_face_size` pixels instead (FaceAnalyserOptions::min_face_size): e.g. a coarser,
  // faster one for video or camera frames while sources keep this one. Thread-safe.
  Result<std::unique_ptr<FaceAnalyser>> with_min_face_size(int min_face_size) const;

  const FaceDetector& detector() const { return *detector_; }
  const FaceRecognizer* recognizer() const { return recognizer_.get(); }

 private:
  FaceAnalyser() = default;
  // Landmarks of the face in `box` on the frame turned by `angle` (0/90/180/270, frame_rotation),
  // in frame pixels.
  Result<Landmarks68> landmarks_upright(const cv::Mat& bgr, const cv::Rect2f& box, int angle) const;
  FaceAnalyserOptions options_;  // as opened (with_min_face_size)
  std::shared_ptr<FaceDetector> detector_;
  std::shared_ptr<FaceLandmarker> landmarker_;
  std::shared_ptr<FaceRecognizer> recognizer_;
};

// The largest face (by box area), or nullptr when `faces` is empty.
const Face* largest_face(const std::vector<Face>& faces);
// The largest of the faces for which `eligible` is true, or nullptr when there is none.
const Face* largest_face(const std::vector<Face>& faces, bool (*eligible)(const Face&));

}  // namespace facefuse::face
