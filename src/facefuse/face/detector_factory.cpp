#include "facefuse/face/detector_factory.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/face/dlib_hog_detector.h"
#include "facefuse/face/dlib_landmarker.h"

namespace facefuse::face {

namespace {

constexpr const char* kLandmarkModelFile = "dlib_shape_predictor_68.dat";

Status require_model(const std::filesystem::path& path, std::string_view what) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return Status::ok();
  return failed_precondition(fmt::format("{} needs the model file {}, which is missing: run scripts/setup "
                                         "(or set FACEFUSE_MODELS_DIR to the directory that holds it)",
                                         what, path.string()));
}

}  // namespace

std::vector<std::string_view> face_detector_names() { return {"blazeface", "dlib_hog"}; }
std::vector<std::string_view> face_landmarker_names() { return {"dlib_68"}; }

Result<std::shared_ptr<FaceDetector>> create_face_detector(std::string_view name,
                                                           const std::filesystem::path& models_dir,
                                                           const DetectorOptions& options) {
  if (name == "blazeface") {
    const auto path = models_dir / blazeface_model_file(options.blazeface_variant);
    FF_RETURN_IF_ERROR(require_model(path, "face detector 'blazeface'"));
    BlazeFaceDetector::Options o;
    o.variant = options.blazeface_variant;
    if (options.score_threshold) o.score_threshold = *options.score_threshold;
    o.min_face_size = options.blazeface_variant == BlazeFaceVariant::kFullRange ? options.min_face_size : 0;
    o.session = options.session;
    FF_ASSIGN_OR_RETURN(auto detector, BlazeFaceDetector::open(path, o));
    return std::shared_ptr<FaceDetector>(std::move(detector));
  }
  if (name == "dlib_hog") {
    DlibHogDetector::Options o;
    if (options.score_threshold) o.score_threshold = *options.score_threshold;
    o.min_face_size = options.min_face_size;
    FF_ASSIGN_OR_RETURN(auto detector, DlibHogDetector::create(o));
    return std::shared_ptr<FaceDetector>(std::move(detector));
  }
  return invalid_argument(fmt::format("unknown face detector '{}': use one of {}", name,
                                      fmt::join(face_detector_names(), ", ")));
}

Result<std::shared_ptr<FaceLandmarker>> create_face_landmarker(std::string_view name,
                                                               const std::filesystem::path& models_dir) {
  if (name == "dlib_68") {
    const auto path = models_dir / kLandmarkModelFile;
    FF_RETURN_IF_ERROR(require_model(path, "face landmarker 'dlib_68'"));
    FF_ASSIGN_OR_RETURN(auto landmarker, DlibLandmarker::open(path, {}));
    return std::shared_ptr<FaceLandmarker>(std::move(landmarker));
  }
  return invalid_argument(fmt::format("unknown face landmarker '{}': use one of {}", name,
                                      fmt::join(face_landmarker_names(), ", ")));
}

}  // namespace facefuse::face
