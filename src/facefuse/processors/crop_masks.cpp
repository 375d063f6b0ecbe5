#include "facefuse/processors/crop_masks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/processors/model_files.h"
#include "facefuse/processors/registry.h"

namespace facefuse::processors {

std::vector<std::string> split_option_list(const std::string& text) { return option_words(text); }

OptionSpec face_mask_blur_option() {
  return {"face_mask_blur", "number", 0.3, "feathering of the mask edge, relative to face size", {}, 0, 1};
}

std::vector<OptionSpec> crop_mask_option_specs(bool with_regions_and_areas) {
  // One job's face_mask_types is shared by all its processors, so the enhancer accepts region and
  // area too (and ignores them).
  std::vector<OptionSpec> specs = {
      face_mask_blur_option(),
      {"face_mask_types", "string_list", nlohmann::json::array({"box"}),
       with_regions_and_areas ? "masks of model-based processors, combined by minimum"
                              : "masks of model-based processors, combined by minimum (region and area: face_swapper "
                                "only)",
       {"box", "occlusion", "region", "area"}},
      {"face_mask_padding", "padding", nlohmann::json::array({0, 0, 0, 0}),
       "box mask padding in percent of the crop: top, right, bottom, left (1 to 4 values, CSS order)", {}, 0, 100},
      {"face_occluder_model", "string", "xseg_1", "occlusion mask model", catalog_model_ids("face_occluder")},
  };
  if (with_regions_and_areas) {
    const std::vector<std::string> regions(face::face_mask_region_names().begin(), face::face_mask_region_names().end());
    specs.push_back({"face_mask_regions", "string_list", regions, "face parts kept by the region mask", regions});
    const std::vector<std::string> areas = {"upper-face", "lower-face", "mouth"};
    specs.push_back({"face_mask_areas", "string_list", areas, "face areas kept by the area mask", areas});
    specs.push_back({"face_parser_model", "string", "bisenet_resnet_34", "region mask model",
                     catalog_model_ids("face_parser")});
  }
  return specs;
}

Result<CropMaskOptions> parse_crop_mask_options(const nlohmann::json& options, bool with_regions_and_areas) {
  CropMaskOptions out;
  out.blur = option_or(options, "face_mask_blur", out.blur);
  out.box = false;
  const auto at = options.find("face_mask_types");
  const auto types = at == options.end() || at->is_null() ? std::vector<std::string>{"box"} : option_words(*at);
  if (types.empty()) return invalid_argument("option face_mask_types is empty: use box, occlusion, region or area");
  for (const auto& t : types) {
    if (t == "box") out.box = true;
    else if (t == "occlusion") out.occlusion = true;
    else if (t == "region") out.region = with_regions_and_areas;
    else if (t == "area") out.area = with_regions_and_areas;
    else return invalid_argument(fmt::format("option face_mask_types: '{}' is not valid: use box, occlusion, region or area", t));
  }
  if (auto padding = options.find("face_mask_padding"); padding != options.end() && !padding->is_null()) {
    FF_ASSIGN_OR_RETURN(out.padding, padding_values(*padding, "face_mask_padding", 0, 100));
  }
  if (out.region) {
    for (const auto& word : option_words(options.value("face_mask_regions", nlohmann::json()))) {
      FF_ASSIGN_OR_RETURN(auto region, face::parse_face_mask_region(word));
      out.regions.push_back(region);
    }
    if (out.regions.empty()) return invalid_argument("option face_mask_regions is empty but the region mask is on");
  }
  if (out.area) {
    for (const auto& word : option_words(options.value("face_mask_areas", nlohmann::json()))) {
      FF_ASSIGN_OR_RETURN(auto area, face::parse_face_mask_area(word));
      out.areas.push_back(area);
    }
    if (out.areas.empty()) return invalid_argument("option face_mask_areas is empty but the area mask is on");
  }
  out.occluder_model = option_or<std::string>(options, "face_occluder_model", out.occluder_model);
  out.parser_model = option_or<std::string>(options, "face_parser_model", out.parser_model);
  return out;
}

Result<std::shared_ptr<CropMasker>> CropMasker::open(const CropMaskOptions& options, const ProcessorContext& context) {
  auto masker = std::make_shared<CropMasker>();
  masker->options_ = options;
  if (options.occlusion) {
    FF_ASSIGN_OR_RETURN(auto model, require_installed_model(options.occluder_model, "face_occluder", context.models_dir));
    FF_ASSIGN_OR_RETURN(masker->occluder_, face::FaceOccluder::open(model.path, context.session));
  }
  if (options.region) {
    FF_ASSIGN_OR_RETURN(auto model, require_installed_model(options.parser_model, "face_parser", context.models_dir));
    FF_ASSIGN_OR_RETURN(masker->parser_, face::FaceParser::open(model.path, context.session));
  }
  return masker;
}

Result<std::vector<cv::Mat>> CropMasker::before_model(const cv::Mat& target_crop) const {
  std::vector<cv::Mat> masks;
  if (options_.box) masks.push_back(face::box_mask(target_crop.size(), options_.blur, options_.padding));
  if (occluder_) {
    FF_ASSIGN_OR_RETURN(auto mask, occluder_->mask(target_crop));
    masks.push_back(std::move(mask));
  }
  return masks;
}

Result<std::vector<cv::Mat>> CropMasker::after_model(const cv::Mat& processed_crop,
                                                     const std::vector<cv::Point2f>& crop_landmarks68) const {
  std::vector<cv::Mat> masks;
  if (options_.area && crop_landmarks68.size() == static_cast<size_t>(face::kLandmarkCount68)) {
    masks.push_back(face::crop_area_mask(crop_landmarks68, processed_crop.size(), options_.areas));
  }
  if (parser_) {
    FF_ASSIGN_OR_RETURN(auto mask, parser_->mask(processed_crop, options_.regions));
    masks.push_back(std::move(mask));
  }
  return masks;
}

cv::Mat combine_crop_masks(const std::vector<cv::Mat>& masks, cv::Size crop) {
  cv::Mat out(crop, CV_32FC1, cv::Scalar(1.0f));
  for (const auto& m : masks) cv::min(out, m, out);
  cv::max(out, 0.0, out);
  return out;
}

}  // namespace facefuse::processors
