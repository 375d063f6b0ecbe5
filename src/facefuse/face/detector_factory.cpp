#include "facefuse/face/detector_factory.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/face/dlib_hog_detector.h"
#include "facefuse/face/dlib_landmarker.h"
#include "facefuse/face/fan_landmarker.h"
#include "facefuse/face/onnx_face_detector.h"
#include "facefuse/inference/model_catalog.h"
#include "facefuse/inference/session_cache.h"

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

// A FaceFusion model of the catalogue: its path in `models_dir`, or failed_precondition telling
// how to install it.
Result<std::filesystem::path> require_facefusion_model(const std::string& id, const std::filesystem::path& models_dir,
                                                       std::string_view what) {
  FF_ASSIGN_OR_RETURN(const inference::ModelEntry* model, inference::find_model(id));
  const auto path = models_dir / model->file;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > 0) return path;
  return failed_precondition(fmt::format("{} needs the model file {}, which is missing: run `facefuse models download "
                                         "{}`, or copy FaceFusion's {} there (see docs/models.md)",
                                         what, path.string(), id, model->file));
}

Result<cv::Size> parse_detector_size(const std::string& text) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || x != 'x' || w <= 0 || h <= 0) {
    return invalid_argument(fmt::format("face detector size '{}' is not WIDTHxHEIGHT (e.g. 640x640)", text));
  }
  return cv::Size(w, h);
}

}  // namespace

std::vector<std::string_view> face_detector_names() {
  return {"blazeface", "dlib_hog", "yolo_face", "scrfd", "retinaface", "yunet"};
}
std::vector<std::string_view> face_landmarker_names() { return {"dlib_68", "2dfan4"}; }

std::optional<std::string> face_detector_model_id(std::string_view name) {
  if (name == "dlib_hog") return std::nullopt;
  if (name == "blazeface") return "blazeface_back_256";
  return std::string(name);  // FaceFusion's detectors keep their names as ids
}

std::string face_landmarker_model_id(std::string_view name) {
  return name == "dlib_68" ? "dlib_shape_predictor_68" : std::string(name);
}

Result<std::shared_ptr<FaceDetector>> create_face_detector(std::string_view name,
                                                           const std::filesystem::path& models_dir,
                                                           const DetectorOptions& options) {
  if ((name == "blazeface" || name == "dlib_hog") && options.angles != std::vector<int>{0}) {
    return invalid_argument(fmt::format("face detector angles other than 0 need one of FaceFusion's detectors "
                                        "(yolo_face, scrfd, retinaface, yunet), not {}", name));
  }
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
  if (auto family = parse_onnx_detector_family(name); family.is_ok()) {
    OnnxFaceDetector::Options o;
    o.family = *family;
    FF_ASSIGN_OR_RETURN(o.size, parse_detector_size(options.size));
    if (options.score_threshold) o.score_threshold = *options.score_threshold;
    o.angles = options.angles;
    o.session = options.session;
    FF_ASSIGN_OR_RETURN(auto path, require_facefusion_model(std::string(name), models_dir,
                                                            fmt::format("face detector '{}'", name)));
    FF_ASSIGN_OR_RETURN(auto detector, OnnxFaceDetector::open(path, o));
    return std::shared_ptr<FaceDetector>(std::move(detector));
  }
  return invalid_argument(fmt::format("unknown face detector '{}': use one of {}", name,
                                      fmt::join(face_detector_names(), ", ")));
}

Result<std::shared_ptr<FaceLandmarker>> create_face_landmarker(std::string_view name,
                                                               const std::filesystem::path& models_dir,
                                                               const inference::SessionOptions& session) {
  if (name == "dlib_68") {
    const auto path = models_dir / kLandmarkModelFile;
    FF_RETURN_IF_ERROR(require_model(path, "face landmarker 'dlib_68'"));
    // The predictor is ~100 MB of regression trees: load it once per cache owner, not per job.
    auto load = [&path]() -> Result<std::shared_ptr<FaceLandmarker>> {
      FF_ASSIGN_OR_RETURN(auto landmarker, DlibLandmarker::open(path, {}));
      return std::shared_ptr<FaceLandmarker>(std::move(landmarker));
    };
    if (session.cache != nullptr) return session.cache->get_or_load<FaceLandmarker>("dlib_landmarker", path, load);
    return load();
  }
  if (name == "2dfan4") {
    FF_ASSIGN_OR_RETURN(auto path, require_facefusion_model("2dfan4", models_dir, "face landmarker '2dfan4'"));
    FF_ASSIGN_OR_RETURN(auto landmarker, FanLandmarker::open(path, session));
    return std::shared_ptr<FaceLandmarker>(std::move(landmarker));
  }
  return invalid_argument(fmt::format("unknown face landmarker '{}': use one of {}", name,
                                      fmt::join(face_landmarker_names(), ", ")));
}

}  // namespace facefuse::face
