#include "facefuse/face/dlib_recognizer.h"

#include <cmath>
#include <limits>

#include <dlib/image_transforms/interpolation.h>
#include <dlib/matrix.h>
#include <dlib/opencv/cv_image.h>
#include <dlib/opencv/to_open_cv.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/inference/session_cache.h"

namespace facefuse::face {

namespace {

// dlib's mean face shape for landmarks 17–67 (dlib/image_transforms/interpolation.h,
// get_face_chip_details; Boost Software License), in units of the mean face's extent [0, 1].
// Copied rather than reached through get_face_chip_details because that function takes integer
// landmark points; recognizer_test checks this copy against dlib's own function.
constexpr double kMeanFaceX[51] = {
    0.000213256, 0.0752622, 0.18113,  0.29077,  0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004,
    0.490127,    0.490127,  0.490127, 0.490127, 0.36688,  0.426036, 0.490127, 0.554217, 0.613373, 0.121737,
    0.187122,    0.265825,  0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751,
    0.719335,    0.254149,  0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127,    0.423532,  0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127,
    0.42689};
constexpr double kMeanFaceY[51] = {
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454,
    0.203352, 0.307009, 0.409805,  0.515625,  0.587326,  0.609345,  0.628106,  0.609345,  0.587326, 0.216423,
    0.178758, 0.179852, 0.231733,  0.245099,  0.244077,  0.231733,  0.179852,  0.178758,  0.216423, 0.244077,
    0.245099, 0.780233, 0.745405,  0.727388,  0.742578,  0.727388,  0.745405,  0.780233,  0.864805, 0.902192,
    0.909281, 0.902192, 0.864805,  0.784792,  0.778746,  0.785343,  0.778746,  0.784792,  0.824182, 0.831803,
    0.824182};

dlib::dpoint mean_face(int landmark) { return {kMeanFaceX[landmark - 17], kMeanFaceY[landmark - 17]}; }

// Landmarks get_face_chip_details fits: 27–67 without the lower lip (55–59, 65–67); the jaw
// (0–16) and brows (17–26) are ignored.
bool used_by_dlib_chip(int landmark) {
  return landmark >= 27 && !(landmark >= 55 && landmark <= 59) && !(landmark >= 65 && landmark <= 67);
}

// Mean-face point → chip pixel, as get_face_chip_details does: (padding + p) / (2·padding + 1) · size.
// Same arithmetic, in the same order, as dlib, so whole-pixel landmarks give dlib's chip bit for bit.
dlib::dpoint to_chip(const dlib::dpoint& p) {
  constexpr double padding = DlibRecognizer::kChipPadding;
  const dlib::dpoint unit((padding + p.x()) / (2 * padding + 1), (padding + p.y()) / (2 * padding + 1));
  return unit * static_cast<unsigned long>(DlibRecognizer::kChipSize);
}

dlib::dpoint mean_of(int first, int last) {
  dlib::dpoint sum(0, 0);
  for (int i = first; i <= last; ++i) sum += mean_face(i);
  return sum / double(last - first + 1);
}

dlib::chip_details chip_from_68(const Landmarks68& points) {
  std::vector<dlib::dpoint> from, to;
  for (int i = 17; i < kLandmarkCount68; ++i) {
    if (!used_by_dlib_chip(i)) continue;
    from.push_back(to_chip(mean_face(i)));
    to.emplace_back(points[i].x, points[i].y);
  }
  return dlib::chip_details(from, to, dlib::chip_dims(DlibRecognizer::kChipSize, DlibRecognizer::kChipSize));
}

// The 5 alignment points (face.h order) placed on the mean face exactly as landmarks5_from_68
// derives them from 68 points.
dlib::chip_details chip_from_5(const Landmarks5& points) {
  static const std::array<dlib::dpoint, 5> kMean5 = {mean_of(36, 41), mean_of(42, 47), mean_face(30), mean_face(48),
                                                     mean_face(54)};
  std::vector<dlib::dpoint> from, to;
  for (size_t i = 0; i < points.size(); ++i) {
    from.push_back(to_chip(kMean5[i]));
    to.emplace_back(points[i].x, points[i].y);
  }
  return dlib::chip_details(from, to, dlib::chip_dims(DlibRecognizer::kChipSize, DlibRecognizer::kChipSize));
}

bool finite_points(const auto& points) {
  for (const auto& p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) return false;
  }
  return true;
}

}  // namespace

DlibRecognizer::DlibRecognizer(std::shared_ptr<inference::OnnxSession> session) : session_(std::move(session)) {}

Result<std::shared_ptr<DlibRecognizer>> DlibRecognizer::open(const std::filesystem::path& models_dir,
                                                             const inference::SessionOptions& options) {
  const auto path = models_dir / kModelFile;
  FF_ASSIGN_OR_RETURN(auto session, inference::open_setup_model(path, "identity model",
                                                                "it converts dlib's face descriptor from npm "
                                                                "@vladmandic/face-api with tools/convert_face_api_recognizer.py",
                                                                options));
  // Check the contract once here rather than on the first face (CONTRACTS: input `image`
  // [1,150,150,3] NHWC, output `descriptor` [1,128]).
  const auto& in = session->inputs();
  const auto& out = session->outputs();
  const auto dim_ok = [](int64_t got, int64_t want) { return got == want || got < 0; };
  const bool input_ok = in.size() == 1 && inference::is_square_nhwc_image(in[0], kChipSize);
  const bool output_ok = out.size() == 1 && out[0].shape.size() == 2 && dim_ok(out[0].shape[0], 1) &&
                         out[0].shape[1] == kDescriptorSize;
  if (!input_ok || !output_ok) {
    return invalid_argument(fmt::format(
        "{} is not dlib's face descriptor model: expected one input [1,{},{},3] and one output [1,{}], got "
        "input [{}] and output [{}]; re-run scripts/setup",
        path.string(), kChipSize, kChipSize, kDescriptorSize, in.empty() ? "" : fmt::format("{}", fmt::join(in[0].shape, ",")),
        out.empty() ? "" : fmt::format("{}", fmt::join(out[0].shape, ","))));
  }
  return std::shared_ptr<DlibRecognizer>(new DlibRecognizer(std::move(session)));
}

Result<cv::Mat> DlibRecognizer::face_chip(const cv::Mat& bgr, const Face& face) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    return invalid_argument("dlib recognizer needs a BGR uint8 frame (CV_8UC3)");
  }
  dlib::chip_details details;
  if (face.has_landmarks68()) {
    if (!finite_points(face.landmarks68)) return invalid_argument("face has non-finite 68-point landmarks");
    details = chip_from_68(face.landmarks68);
  } else {
    if (!finite_points(face.landmarks5)) return invalid_argument("face has non-finite 5-point landmarks");
    details = chip_from_5(face.landmarks5);
  }
  // Coincident points give a zero-size transform: there is no face to look at.
  if (!std::isfinite(details.angle) || !(details.rect.width() > 1.0) || !(details.rect.height() > 1.0)) {
    return invalid_argument("face landmarks are degenerate (all points coincide); cannot build a face chip");
  }
  try {
    // cv_image wraps the frame without copying; dlib samples only around the chip's rectangle.
    const dlib::cv_image<dlib::bgr_pixel> image(bgr);
    dlib::matrix<dlib::bgr_pixel> chip;
    dlib::extract_image_chip(image, details, chip);
    return cv::Mat(dlib::toMat(chip)).clone();
  } catch (const std::exception& e) {
    return internal_error(fmt::format("dlib face chip extraction failed: {}", e.what()));
  }
}

Result<std::vector<float>> DlibRecognizer::embed_chip(const cv::Mat& bgr_chip) const {
  if (bgr_chip.type() != CV_8UC3 || bgr_chip.rows != kChipSize || bgr_chip.cols != kChipSize) {
    return invalid_argument(fmt::format("dlib recognizer chip must be {}x{} BGR uint8", kChipSize, kChipSize));
  }
  // NHWC, RGB, raw 0..255 (the graph normalises).
  auto input = inference::Tensor::zeros({1, kChipSize, kChipSize, 3});
  float* dst = input.data.data();
  for (int y = 0; y < kChipSize; ++y) {
    const auto* row = bgr_chip.ptr<cv::Vec3b>(y);
    for (int x = 0; x < kChipSize; ++x) {
      *dst++ = row[x][2];
      *dst++ = row[x][1];
      *dst++ = row[x][0];
    }
  }
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run({input}));
  if (outputs.empty() || outputs[0].data.size() != kDescriptorSize) {
    return internal_error(fmt::format("{} returned no {}-d descriptor", session_->path().filename().string(),
                                      kDescriptorSize));
  }
  return std::move(outputs[0].data);
}

Result<std::vector<float>> DlibRecognizer::embed(const cv::Mat& bgr, const Face& face) const {
  FF_ASSIGN_OR_RETURN(auto chip, face_chip(bgr, face));
  return embed_chip(chip);
}

float DlibRecognizer::distance(const std::vector<float>& a, const std::vector<float>& b) const {
  if (a.size() != b.size() || a.empty()) return std::numeric_limits<float>::infinity();
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    sum += d * d;
  }
  return static_cast<float>(std::sqrt(sum));
}

}  // namespace facefuse::face
