// Model-based masks of an aligned face crop, FaceFusion's "occlusion" and "region" mask types
// (CONTRACTS.md "Masks and paste-back"):
//   - FaceOccluder (xseg_1/2/3.onnx): input [1,256,256,3] NHWC, BGR, x / 255; output
//     [1,256,256,1], 1 = face visible (hands, hair, glasses in front of the face → 0).
//   - FaceParser (bisenet_resnet_18/34.onnx): input [1,3,512,512] NCHW, RGB, ImageNet mean/std;
//     output [1,19,512,512] class scores; the mask keeps pixels whose argmax is a chosen region.
// Both masks are resized back to the crop (bilinear), blurred with sigma 5 crop pixels, clipped to
// [0.5, 1] and rescaled to [0, 1] (soften_crop_mask in face_mask.h), exactly as FaceFusion does.
//
// Masks are CV_32FC1 of the crop's size in [0, 1]. Thread-safety: immutable after open().
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"
#include "facefuse/inference/onnx_session.h"

namespace facefuse::face {

// FaceFusion's face_mask_region_set: region name → BiSeNet class index.
enum class FaceMaskRegion { kSkin, kLeftEyebrow, kRightEyebrow, kLeftEye, kRightEye, kGlasses, kNose, kMouth,
                            kUpperLip, kLowerLip };
const std::vector<std::string_view>& face_mask_region_names();  // "skin", "left-eyebrow", ...
Result<FaceMaskRegion> parse_face_mask_region(std::string_view name);
int face_mask_region_class(FaceMaskRegion region);  // skin 1, brows 2/3, eyes 4/5, glasses 6, nose 10, mouth 11, lips 12/13

class FaceOccluder {
 public:
  static constexpr int kSize = 256;
  static Result<std::shared_ptr<FaceOccluder>> open(const std::filesystem::path& model_path,
                                                    const inference::SessionOptions& options = {});
  // Occlusion mask of an aligned BGR uint8 crop.
  Result<cv::Mat> mask(const cv::Mat& bgr_crop) const;

 private:
  explicit FaceOccluder(std::shared_ptr<inference::OnnxSession> session) : session_(std::move(session)) {}
  std::shared_ptr<inference::OnnxSession> session_;
};

class FaceParser {
 public:
  static constexpr int kSize = 512;
  static constexpr int kClasses = 19;
  static Result<std::shared_ptr<FaceParser>> open(const std::filesystem::path& model_path,
                                                  const inference::SessionOptions& options = {});
  // Region mask of an aligned BGR uint8 crop: 1 where the parsed class is one of `regions`.
  Result<cv::Mat> mask(const cv::Mat& bgr_crop, const std::vector<FaceMaskRegion>& regions) const;

 private:
  explicit FaceParser(std::shared_ptr<inference::OnnxSession> session) : session_(std::move(session)) {}
  std::shared_ptr<inference::OnnxSession> session_;
};

}  // namespace facefuse::face
