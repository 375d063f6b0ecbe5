#include "facefuse/face/face_occluder.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <opencv2/imgproc.hpp>

#include "facefuse/face/face_mask.h"
#include "facefuse/inference/session_cache.h"

namespace facefuse::face {
namespace {

struct RegionEntry {
  FaceMaskRegion region;
  std::string_view name;
  int bisenet_class;
};

constexpr std::array<RegionEntry, 10> kRegions = {{
    {FaceMaskRegion::kSkin, "skin", 1},
    {FaceMaskRegion::kLeftEyebrow, "left-eyebrow", 2},
    {FaceMaskRegion::kRightEyebrow, "right-eyebrow", 3},
    {FaceMaskRegion::kLeftEye, "left-eye", 4},
    {FaceMaskRegion::kRightEye, "right-eye", 5},
    {FaceMaskRegion::kGlasses, "glasses", 6},
    {FaceMaskRegion::kNose, "nose", 10},
    {FaceMaskRegion::kMouth, "mouth", 11},
    {FaceMaskRegion::kUpperLip, "upper-lip", 12},
    {FaceMaskRegion::kLowerLip, "lower-lip", 13},
}};

bool dims_are(const std::vector<int64_t>& shape, std::initializer_list<int64_t> want) {
  if (shape.size() != want.size()) return false;
  size_t i = 0;
  for (int64_t w : want) {
    if (shape[i] >= 0 && shape[i] != w) return false;
    ++i;
  }
  return true;
}

std::string shape_text(const std::vector<inference::TensorInfo>& infos) {
  return infos.empty() ? std::string() : fmt::format("{}", fmt::join(infos[0].shape, ","));
}

}  // namespace

const std::vector<std::string_view>& face_mask_region_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const auto& e : kRegions) v.push_back(e.name);
    return v;
  }();
  return names;
}

Result<FaceMaskRegion> parse_face_mask_region(std::string_view name) {
  for (const auto& e : kRegions) {
    if (e.name == name) return e.region;
  }
  return invalid_argument(
      fmt::format("unknown face mask region '{}': use {}", name, fmt::join(face_mask_region_names(), ", ")));
}

int face_mask_region_class(FaceMaskRegion region) {
  for (const auto& e : kRegions) {
    if (e.region == region) return e.bisenet_class;
  }
  return -1;
}

Result<std::shared_ptr<FaceOccluder>> FaceOccluder::open(const std::filesystem::path& model_path,
                                                         const inference::SessionOptions& options) {
  FF_ASSIGN_OR_RETURN(auto session, inference::open_session(model_path, options));
  if (session->inputs().size() != 1 || !dims_are(session->inputs()[0].shape, {1, kSize, kSize, 3}) ||
      session->outputs().empty() || !dims_are(session->outputs()[0].shape, {1, kSize, kSize, 1})) {
    return invalid_argument(fmt::format("{} is not an XSeg occluder: expected input [1,{},{},3] and output "
                                        "[1,{},{},1], got [{}] and [{}]",
                                        model_path.string(), kSize, kSize, kSize, kSize,
                                        shape_text(session->inputs()), shape_text(session->outputs())));
  }
  return std::shared_ptr<FaceOccluder>(new FaceOccluder(std::move(session)));
}

Result<cv::Mat> FaceOccluder::mask(const cv::Mat& bgr_crop) const {
  cv::Mat resized;
  cv::resize(bgr_crop, resized, cv::Size(kSize, kSize));
  auto input = inference::Tensor::zeros({1, kSize, kSize, 3});
  cv::Mat input_view(kSize, kSize, CV_32FC3, input.data.data());  // NHWC, BGR, x / 255
  resized.convertTo(input_view, CV_32F, 1.0 / 255.0);
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run({input}));
  if (outputs.empty() || outputs[0].data.size() != static_cast<size_t>(kSize) * kSize) {
    return internal_error(fmt::format("{} returned no {}x{} mask", session_->path().filename().string(), kSize, kSize));
  }
  cv::Mat raw(kSize, kSize, CV_32FC1, outputs[0].data.data());
  cv::Mat clipped, mask;
  cv::min(cv::max(raw, 0.0), 1.0, clipped);
  cv::resize(clipped, mask, bgr_crop.size());
  return soften_crop_mask(mask);
}

Result<std::shared_ptr<FaceParser>> FaceParser::open(const std::filesystem::path& model_path,
                                                     const inference::SessionOptions& options) {
  FF_ASSIGN_OR_RETURN(auto session, inference::open_session(model_path, options));
  if (session->inputs().size() != 1 || !dims_are(session->inputs()[0].shape, {1, 3, kSize, kSize}) ||
      session->outputs().empty() || !dims_are(session->outputs()[0].shape, {1, kClasses, kSize, kSize})) {
    return invalid_argument(fmt::format("{} is not a BiSeNet face parser: expected input [1,3,{},{}] and output "
                                        "[1,{},{},{}], got [{}] and [{}]",
                                        model_path.string(), kSize, kSize, kClasses, kSize, kSize,
                                        shape_text(session->inputs()), shape_text(session->outputs())));
  }
  return std::shared_ptr<FaceParser>(new FaceParser(std::move(session)));
}

Result<cv::Mat> FaceParser::mask(const cv::Mat& bgr_crop, const std::vector<FaceMaskRegion>& regions) const {
  constexpr float kMean[3] = {0.485f, 0.456f, 0.406f}, kStd[3] = {0.229f, 0.224f, 0.225f};  // RGB
  cv::Mat resized;
  cv::resize(bgr_crop, resized, cv::Size(kSize, kSize));
  auto input = inference::Tensor::zeros({1, 3, kSize, kSize});
  const size_t plane = static_cast<size_t>(kSize) * kSize;
  for (int y = 0; y < kSize; ++y) {
    const auto* row = resized.ptr<cv::Vec3b>(y);
    for (int x = 0; x < kSize; ++x) {
      const size_t i = static_cast<size_t>(y) * kSize + x;
      for (int c = 0; c < 3; ++c) input.data[c * plane + i] = (row[x][2 - c] / 255.0f - kMean[c]) / kStd[c];
    }
  }
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run({input}));
  if (outputs.empty() || outputs[0].data.size() != kClasses * plane) {
    return internal_error(fmt::format("{} returned no {}-class map", session_->path().filename().string(), kClasses));
  }
  std::array<bool, kClasses> keep{};
  for (FaceMaskRegion r : regions) keep[static_cast<size_t>(face_mask_region_class(r))] = true;
  const float* scores = outputs[0].data.data();
  cv::Mat selected(kSize, kSize, CV_32FC1);
  for (size_t i = 0; i < plane; ++i) {
    int best = 0;
    for (int c = 1; c < kClasses; ++c) {
      if (scores[c * plane + i] > scores[best * plane + i]) best = c;  // first maximum wins, as numpy's argmax
    }
    selected.ptr<float>()[i] = keep[static_cast<size_t>(best)] ? 1.0f : 0.0f;
  }
  cv::Mat mask;
  cv::resize(selected, mask, bgr_crop.size());
  return soften_crop_mask(mask);
}

}  // namespace facefuse::face
