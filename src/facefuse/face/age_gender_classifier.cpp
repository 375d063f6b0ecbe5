#include "facefuse/face/age_gender_classifier.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/inference/session_cache.h"

namespace facefuse::face {

namespace {

// TensorFlow's resize_bilinear with align_corners = false and half_pixel_centers = false (tfjs
// resizeBilinear's defaults, which face-api uses): dest pixel d samples source d × in/out.
// In/out: RGB float, square. Computed in float like tfjs' CPU kernel.
cv::Mat resize_bilinear_legacy(const cv::Mat& square, int size) {
  const int n = square.rows;
  if (n == size) return square.clone();
  cv::Mat out(size, size, CV_32FC3);
  const float scale = static_cast<float>(n) / static_cast<float>(size);
  std::vector<int> i0(size), i1(size);
  std::vector<float> frac(size);
  for (int d = 0; d < size; ++d) {
    const float src = static_cast<float>(d) * scale;
    i0[d] = std::min(static_cast<int>(std::floor(src)), n - 1);
    i1[d] = std::min(i0[d] + 1, n - 1);
    frac[d] = src - static_cast<float>(i0[d]);
  }
  for (int y = 0; y < size; ++y) {
    const auto* top = square.ptr<cv::Vec3f>(i0[y]);
    const auto* bottom = square.ptr<cv::Vec3f>(i1[y]);
    auto* dst = out.ptr<cv::Vec3f>(y);
    const float fy = frac[y];
    for (int x = 0; x < size; ++x) {
      const float fx = frac[x];
      for (int c = 0; c < 3; ++c) {
        const float t = top[i0[x]][c] + (top[i1[x]][c] - top[i0[x]][c]) * fx;
        const float b = bottom[i0[x]][c] + (bottom[i1[x]][c] - bottom[i0[x]][c]) * fx;
        dst[x][c] = t + (b - t) * fy;
      }
    }
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<AgeGenderClassifier>> AgeGenderClassifier::open(const std::filesystem::path& models_dir,
                                                                       const inference::SessionOptions& options) {
  const auto path = models_dir / kModelFile;
  FF_ASSIGN_OR_RETURN(auto session,
                      inference::open_setup_model(path, "age/gender model (for the face selector's gender and age filters)",
                                                  "it converts face-api's classifier from npm @vladmandic/face-api with "
                                                  "tools/convert_face_api_age_gender.py",
                                                  options));
  const auto& in = session->inputs();
  const auto& out = session->outputs();
  const bool input_ok = in.size() == 1 && inference::is_square_nhwc_image(in[0], kInputSize);
  const bool output_ok = out.size() == 2 && out[0].name == "age" && out[1].name == "gender" &&
                         out[1].shape.size() == 2 && out[1].shape[1] == 2;
  if (!input_ok || !output_ok) {
    return invalid_argument(
        fmt::format("{} is not face-api's age/gender model: expected input [1,{},{},3] and outputs age [1,1], gender "
                    "[1,2]; "
                    "re-run scripts/setup",
                    path.string(), kInputSize, kInputSize));
  }
  return std::shared_ptr<AgeGenderClassifier>(new AgeGenderClassifier(std::move(session)));
}

Result<cv::Rect> AgeGenderClassifier::crop_box(const Face& face, cv::Size frame_size) {
  double x0, y0, x1, y1;
  if (face.has_landmarks68()) {
    // face-api's minBbox: min and max over the points.
    x0 = y0 = std::numeric_limits<double>::infinity();
    x1 = y1 = -std::numeric_limits<double>::infinity();
    for (const auto& p : face.landmarks68) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) return invalid_argument("face has non-finite landmarks");
      x0 = std::min<double>(x0, p.x);
      y0 = std::min<double>(y0, p.y);
      x1 = std::max<double>(x1, p.x);
      y1 = std::max<double>(y1, p.y);
    }
  } else {
    x0 = face.box.x;
    y0 = face.box.y;
    x1 = face.box.x + face.box.width;
    y1 = face.box.y + face.box.height;
    if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) {
      return invalid_argument("face has a non-finite box");
    }
  }
  // Box.pad(w·0.2, h·0.2), then clipAtImageBorders and floor, in face-api's order.
  const double w = x1 - x0, h = y1 - y0;
  const double x = x0 - w * kBoxPadding / 2, y = y0 - h * kBoxPadding / 2;
  const double right = x + w * (1 + kBoxPadding), bottom = y + h * (1 + kBoxPadding);
  const double cx = std::max(x, 0.0), cy = std::max(y, 0.0);
  const double cw = std::min(right - cx, frame_size.width - cx), ch = std::min(bottom - cy, frame_size.height - cy);
  cv::Rect box(static_cast<int>(std::floor(cx)), static_cast<int>(std::floor(cy)), static_cast<int>(std::floor(cw)),
               static_cast<int>(std::floor(ch)));
  box &= cv::Rect(0, 0, frame_size.width, frame_size.height);
  if (box.width <= 0 || box.height <= 0) return cv::Rect();
  return box;
}

Result<cv::Mat> AgeGenderClassifier::model_input(const cv::Mat& bgr, const Face& face) {
  if (bgr.empty() || bgr.type() != CV_8UC3) return invalid_argument("age/gender classifier needs a BGR uint8 frame");
  FF_ASSIGN_OR_RETURN(cv::Rect box, crop_box(face, bgr.size()));
  if (box.empty()) return invalid_argument("the face lies outside the frame: nothing to classify");
  // padToSquare(isCenterImage = true): round(diff / 2) black rows/columns after, the rest before.
  const int side = std::max(box.width, box.height);
  const int diff = side - std::min(box.width, box.height);
  const int after = static_cast<int>(std::floor(diff * 0.5 + 0.5));  // JS Math.round
  const int before = diff - after;
  cv::Mat square(side, side, CV_32FC3, cv::Scalar::all(0));
  const cv::Rect inner =
      box.width >= box.height ? cv::Rect(0, before, box.width, box.height) : cv::Rect(before, 0, box.width, box.height);
  cv::Mat rgb;
  cv::cvtColor(bgr(box), rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(square(inner), CV_32FC3);
  return resize_bilinear_legacy(square, kInputSize);
}

Result<FaceAttributes> AgeGenderClassifier::classify(const cv::Mat& bgr, const Face& face) const {
  FF_ASSIGN_OR_RETURN(cv::Mat input, model_input(bgr, face));
  auto tensor = inference::Tensor::zeros({1, kInputSize, kInputSize, 3});
  CV_Assert(input.isContinuous());
  std::copy(input.ptr<float>(), input.ptr<float>() + tensor.data.size(), tensor.data.begin());
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run({tensor}));
  if (outputs.size() != 2 || outputs[0].data.size() != 1 || outputs[1].data.size() != 2) {
    return internal_error(fmt::format("{} returned no age and gender", session_->path().filename().string()));
  }
  FaceAttributes attributes;
  attributes.age = outputs[0].data[0];
  attributes.male_probability = outputs[1].data[0];
  if (!std::isfinite(attributes.age) || !std::isfinite(attributes.male_probability)) {
    return internal_error("age/gender classifier returned a non-finite value");
  }
  return attributes;
}

Status AgeGenderClassifier::classify(const cv::Mat& bgr, std::vector<Face>& faces) const {
  for (auto& face : faces) {
    if (face.attributes) continue;
    FF_ASSIGN_OR_RETURN(face.attributes, classify(bgr, face));
  }
  return Status::ok();
}

}  // namespace facefuse::face
