#include "facefuse/face/face_analyser.h"

#include <cmath>
#include <future>

#include <opencv2/imgproc.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/face/arcface_recognizer.h"
#include "facefuse/face/detector_factory.h"
#include "facefuse/face/dlib_landmarker.h"
#include "facefuse/face/dlib_recognizer.h"
#include "facefuse/face/face_geometry.h"
#include "facefuse/face/onnx_face_detector.h"
#include "facefuse/inference/model_catalog.h"

namespace facefuse::face {

namespace {

// The multiple of 90° (counter-clockwise, OpenCV's sense) that turns a face upright, from the
// direction of its eye line (image-left eye → image-right eye; y down), as FaceFusion estimates a
// face's angle.
int upright_angle(const Landmarks5& points) {
  const cv::Point2f eye_line = points[1] - points[0];
  const double theta = std::fmod(std::atan2(eye_line.y, eye_line.x) * 180.0 / CV_PI + 360.0, 360.0);
  return static_cast<int>(std::lround(theta / 90.0)) % 4 * 90;
}

constexpr std::string_view kArcfaceModelId = "arcface_w600k_r50";
constexpr std::string_view kDlibRecognizerName = "dlib_resnet";
constexpr std::string_view kDlibRecognizerModelId = "dlib_face_recognition_resnet";

Result<std::shared_ptr<FaceRecognizer>> open_recognizer(const FaceAnalyserOptions& options) {
  FF_ASSIGN_OR_RETURN(std::string model_id, face_recognizer_model_id(options.recognizer, options.models_dir));
  if (model_id == kDlibRecognizerModelId) {
    FF_ASSIGN_OR_RETURN(auto dlib, DlibRecognizer::open(options.models_dir, options.session));
    return std::shared_ptr<FaceRecognizer>(std::move(dlib));
  }
  FF_ASSIGN_OR_RETURN(auto path, inference::require_model(std::string(kArcfaceModelId), options.models_dir));
  FF_ASSIGN_OR_RETURN(auto arcface, ArcfaceRecognizer::open(path, options.session));
  return std::shared_ptr<FaceRecognizer>(std::move(arcface));
}

}  // namespace

std::vector<std::string_view> face_recognizer_names() { return {"auto", kDlibRecognizerName, kArcfaceModelId}; }

Result<std::string> face_recognizer_model_id(const std::string& name, const std::filesystem::path& models_dir) {
  if (name == kArcfaceModelId) return std::string(kArcfaceModelId);
  if (name == kDlibRecognizerName) return std::string(kDlibRecognizerModelId);
  if (name != "auto") {
    return invalid_argument(fmt::format("unknown face recognizer '{}': valid recognizers are {}", name,
                                        fmt::join(face_recognizer_names(), ", ")));
  }
  FF_ASSIGN_OR_RETURN(const inference::ModelEntry* arcface, inference::find_model(std::string(kArcfaceModelId)));
  const bool installed = inference::model_state(*arcface, models_dir) == inference::ModelState::kInstalled;
  return std::string(installed ? kArcfaceModelId : kDlibRecognizerModelId);
}

namespace {

Result<std::shared_ptr<FaceDetector>> open_detector(const FaceAnalyserOptions& options) {
  DetectorOptions detector_options;
  if (options.detector_score >= 0.0f) detector_options.score_threshold = options.detector_score;
  detector_options.session = options.session;
  detector_options.min_face_size = options.min_face_size;
  detector_options.size = options.detector_size;
  detector_options.angles = options.detector_angles;
  return create_face_detector(options.detector, options.models_dir, detector_options);
}

}  // namespace

Result<std::unique_ptr<FaceAnalyser>> FaceAnalyser::open(const FaceAnalyserOptions& options) {
  std::unique_ptr<FaceAnalyser> analyser(new FaceAnalyser());
  analyser->options_ = options;
  // The models open side by side: dlib's predictor (~0.35 s parsing ~100 MB of trees), the
  // recognizer's ONNX session (~0.3 s) and the detector's (~0.15 s) each keep one core busy. A CLI
  // job's "open" stage 738 -> 639 ms, its wall time 1.28 -> 1.19 s (median of 8 alternating
  // one-frame runs). A failure is reported in the order the models were opened before: detector,
  // landmarker, recognizer.
  auto landmarker = std::async(std::launch::async, [&options] {
    return create_face_landmarker(options.landmarker, options.models_dir, options.session);
  });
  std::future<Result<std::shared_ptr<FaceRecognizer>>> recognizer;
  if (options.with_recognizer) {
    recognizer = std::async(std::launch::async, [&options] { return open_recognizer(options); });
  }
  // An early return waits for the other openers: a std::async future's destructor joins them.
  FF_ASSIGN_OR_RETURN(analyser->detector_, open_detector(options));
  FF_ASSIGN_OR_RETURN(analyser->landmarker_, landmarker.get());
  if (recognizer.valid()) {
    FF_ASSIGN_OR_RETURN(analyser->recognizer_, recognizer.get());
  }
  return analyser;
}

Result<std::unique_ptr<FaceAnalyser>> FaceAnalyser::with_min_face_size(int min_face_size) const {
  std::unique_ptr<FaceAnalyser> analyser(new FaceAnalyser());
  analyser->options_ = options_;
  analyser->options_.min_face_size = min_face_size;
  FF_ASSIGN_OR_RETURN(analyser->detector_, open_detector(analyser->options_));
  analyser->landmarker_ = landmarker_;
  analyser->recognizer_ = recognizer_;
  return analyser;
}

Result<std::vector<Face>> FaceAnalyser::analyse(const cv::Mat& bgr) const {
  FF_ASSIGN_OR_RETURN(auto detections, detector_->detect(bgr));
  std::vector<Face> faces;
  faces.reserve(detections.size());
  for (const auto& d : detections) {
    Face face;
    face.box = landmarker_->input_box(d);
    face.score = d.score;
    FF_ASSIGN_OR_RETURN(face.landmarks68, landmarks_upright(bgr, face.box, upright_angle(d.landmarks5)));
    face.landmarks5 = landmarks5_from_68(face.landmarks68);
    if (!d.landmarks5_estimated) face.detector_landmarks5 = d.landmarks5;
    faces.push_back(std::move(face));
  }
  return faces;
}

Result<Landmarks68> FaceAnalyser::landmarks_upright(const cv::Mat& bgr, const cv::Rect2f& box, int angle) const {
  if (angle == 0) return landmarker_->landmarks(bgr, box);
  const FrameRotation rotation = frame_rotation(angle, bgr.size());
  cv::Mat upright;
  cv::warpAffine(bgr, upright, rotation.matrix, rotation.size);
  FF_ASSIGN_OR_RETURN(auto points, landmarker_->landmarks(upright, transform_box(rotation.matrix, box)));
  cv::Matx23d inverse;
  cv::invertAffineTransform(rotation.matrix, inverse);
  for (auto& p : points) p = transform_point(inverse, p);
  return points;
}

Result<std::optional<Face>> FaceAnalyser::follow(const cv::Mat& bgr, const Face& previous,
                                                 const std::optional<cv::Rect2f>& held_box,
                                                 cv::Rect2f* ran_from) const {
  if (!previous.has_landmarks68()) return std::optional<Face>{};
  // dlib's points depend on the box they start from: from a box that moves with the previous
  // (smoothed) points, a still face's points wandered by ~0.5 px per frame. The box is held while
  // the face stays within kHeldBoxTolerance of it, so a still face gets the same points.
  cv::Rect2f box = landmarker_->box_from_landmarks(previous.landmarks68);
  if (held_box) {
    const float tolerance = kHeldBoxTolerance * held_box->width;
    const cv::Point2f shift = (box.tl() + box.br() - held_box->tl() - held_box->br()) * 0.5f;
    if (std::abs(shift.x) <= tolerance && std::abs(shift.y) <= tolerance &&
        std::abs(box.width - held_box->width) <= tolerance && std::abs(box.height - held_box->height) <= tolerance) {
      box = *held_box;
    }
  }
  if (ran_from != nullptr) *ran_from = box;
  const cv::Rect2f frame(0, 0, static_cast<float>(bgr.cols), static_cast<float>(bgr.rows));
  if ((box & frame).area() < 0.5f * box.area()) return std::optional<Face>{};  // leaving the frame
  Face face;
  // The box implied by the previous frame's points is already the one the predictor converges
  // to, so dlib's refinement pass would only repeat the work.
  const int angle = upright_angle(previous.landmarks5);
  if (angle != 0) {
    FF_ASSIGN_OR_RETURN(face.landmarks68, landmarks_upright(bgr, box, angle));
  } else if (const auto* dlib = dynamic_cast<const DlibLandmarker*>(landmarker_.get())) {
    face.landmarks68 = dlib->predict(bgr, box);
  } else {
    FF_ASSIGN_OR_RETURN(face.landmarks68, landmarker_->landmarks(bgr, box));
  }
  face.landmarks5 = landmarks5_from_68(face.landmarks68);
  face.box = landmarker_->box_from_landmarks(face.landmarks68);
  face.score = previous.score;
  // A face that turned away or was covered drags the points somewhere else: the box they imply
  // then no longer overlaps the one they were predicted from.
  float inter = (face.box & box).area();
  float iou = inter / (face.box.area() + box.area() - inter);
  constexpr float kMinFollowIou = 0.6f;
  if (iou < kMinFollowIou) return std::optional<Face>{};
  return std::optional<Face>{std::move(face)};
}

Status FaceAnalyser::settle(const cv::Mat& bgr, std::vector<Face>& detections, const std::vector<Face>& previous,
                            const std::vector<std::optional<cv::Rect2f>>& held_boxes,
                            std::vector<std::optional<cv::Rect2f>>& found_from) const {
  found_from.assign(detections.size(), std::nullopt);
  if (detections.empty()) return Status::ok();
  auto take_points = [&](size_t i, const Face& from, const cv::Rect2f& box) {
    detections[i].landmarks68 = from.landmarks68;
    detections[i].landmarks5 = from.landmarks5;
    found_from[i] = box;
  };
  for (size_t k = 0; k < previous.size(); ++k) {
    cv::Rect2f box;
    FF_ASSIGN_OR_RETURN(auto followed,
                        follow(bgr, previous[k], k < held_boxes.size() ? held_boxes[k] : std::nullopt, &box));
    if (!followed) continue;
    std::optional<size_t> nearest;
    float nearest_distance = kSameFaceDistance * inter_ocular_distance(followed->landmarks68);
    for (size_t i = 0; i < detections.size(); ++i) {
      if (found_from[i] || !detections[i].has_landmarks68()) continue;
      const float d = mean_point_distance(detections[i].landmarks68, followed->landmarks68);
      if (d < nearest_distance) {
        nearest_distance = d;
        nearest = i;
      }
    }
    if (nearest) take_points(*nearest, *followed, box);
  }
  for (size_t i = 0; i < detections.size(); ++i) {
    if (found_from[i]) continue;
    cv::Rect2f box;
    FF_ASSIGN_OR_RETURN(auto refined, follow(bgr, detections[i], std::nullopt, &box));
    if (refined) take_points(i, *refined, box);
  }
  return Status::ok();
}

Status FaceAnalyser::embed(const cv::Mat& bgr, std::vector<Face>& faces) const {
  if (!recognizer_) return failed_precondition("face analyser opened without a recognizer");
  for (auto& face : faces) {
    if (!face.embedding.empty()) continue;
    FF_ASSIGN_OR_RETURN(face.embedding, recognizer_->embed(bgr, face));
  }
  return Status::ok();
}

const Face* largest_face(const std::vector<Face>& faces) {
  return largest_face(faces, [](const Face&) { return true; });
}

const Face* largest_face(const std::vector<Face>& faces, bool (*eligible)(const Face&)) {
  const Face* best = nullptr;
  for (const auto& f : faces) {
    if (eligible(f) && (best == nullptr || f.box.area() > best->box.area())) best = &f;
  }
  return best;
}

}  // namespace facefuse::face
