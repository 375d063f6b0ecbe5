// The masks of FaceFusion's model-based processors (face_swapper ONNX backends, face_enhancer),
// computed on the aligned crop, and the options that choose them (shared by both processors):
//   face_mask_types    string_list of box | occlusion | region | area (default [box])
//   face_mask_blur     0–1, box mask feather (default 0.3)
//   face_mask_padding  padding: percent of the crop, top right bottom left (default [0, 0, 0, 0])
//   face_mask_regions  string_list of the BiSeNet regions kept by the region mask (default all)
//   face_mask_areas    string_list of upper-face | lower-face | mouth (default all)
// (string_list and padding: processor.h; the text forms "box occlusion" and "10 20" of earlier
// versions are accepted too.)
//   face_occluder_model xseg_1 | xseg_2 | xseg_3, face_parser_model bisenet_resnet_18 | bisenet_resnet_34
// Order (CONTRACTS.md): box and occlusion on the target crop before the model; area and region on
// the processed crop after it; the final mask is the minimum of all, clipped to [0, 1].
//
// Thread-safety: immutable after open(); the mask functions may be called from many threads.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "facefuse/face/face.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/face_occluder.h"
#include "facefuse/processors/processor.h"

namespace facefuse::processors {

struct CropMaskOptions {
  bool box = true, occlusion = false, region = false, area = false;
  float blur = 0.3f;
  std::array<int, 4> padding{};  // percent: top, right, bottom, left
  std::vector<face::FaceMaskRegion> regions;
  std::vector<face::FaceMaskArea> areas;
  std::string occluder_model = "xseg_1";
  std::string parser_model = "bisenet_resnet_34";
};

// Option schemas; `with_regions_and_areas` = false for processors that only use box and occlusion
// (the enhancer).
std::vector<OptionSpec> crop_mask_option_specs(bool with_regions_and_areas);
// face_mask_blur, shared by every processor that feathers a face mask (also in crop_mask_option_specs).
OptionSpec face_mask_blur_option();
// Parses the validated options; kInvalidArgument naming the option on a bad list. Without
// regions and areas (the enhancer, as in FaceFusion) "region" and "area" are accepted and ignored,
// since one job's face_mask_types is shared by all its processors.
Result<CropMaskOptions> parse_crop_mask_options(const nlohmann::json& options, bool with_regions_and_areas);

class CropMasker {
 public:
  // Opens the occluder / parser models the options need (missing file → kFailedPrecondition).
  static Result<std::shared_ptr<CropMasker>> open(const CropMaskOptions& options, const ProcessorContext& context);

  // Box (with padding) and occlusion masks of the target crop (BGR uint8), before the model.
  Result<std::vector<cv::Mat>> before_model(const cv::Mat& target_crop) const;
  // Area and region masks of the processed crop (BGR uint8) with the target's 68 landmarks mapped
  // into the crop (empty: no area mask).
  Result<std::vector<cv::Mat>> after_model(const cv::Mat& processed_crop,
                                           const std::vector<cv::Point2f>& crop_landmarks68) const;
  const CropMaskOptions& options() const { return options_; }

 private:
  CropMaskOptions options_;
  std::shared_ptr<face::FaceOccluder> occluder_;
  std::shared_ptr<face::FaceParser> parser_;
};

// min of all masks clipped to [0, 1]; all ones when `masks` is empty.
cv::Mat combine_crop_masks(const std::vector<cv::Mat>& masks, cv::Size crop);

// Splits a list option ("box occlusion", "box,occlusion") into its words.
std::vector<std::string> split_option_list(const std::string& text);

}  // namespace facefuse::processors
