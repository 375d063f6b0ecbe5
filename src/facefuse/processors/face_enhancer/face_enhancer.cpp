#include "facefuse/processors/face_enhancer/face_enhancer.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "facefuse/face/crop_tensor.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/paste_back.h"
#include "facefuse/inference/session_cache.h"
#include "facefuse/processors/model_files.h"

namespace facefuse::processors {

std::vector<OptionSpec> face_enhancer_options() {
  std::vector<OptionSpec> specs = {
      {"face_enhancer_model", "string", "gfpgan_1.4", "face restoration model (docs/models.md)",
       catalog_model_ids("face_enhancer")},
      {"face_enhancer_blend", "number", 80, "how much of the restored face to show, percent", {}, 0, 100},
      {"face_enhancer_weight", "number", 0.5,
       "codeformer only: fidelity weight (0 = strongest restoration, 1 = closest to the input)", {}, 0, 1},
  };
  for (auto& spec : crop_mask_option_specs(false)) specs.push_back(std::move(spec));
  return specs;
}

Result<EnhancerContract> parse_enhancer_contract(const nlohmann::json& contract) {
  EnhancerContract c;
  if (!contract.is_object()) return invalid_argument("the catalogue entry has no contract object");
  try {
    FF_ASSIGN_OR_RETURN(c.alignment, face::parse_alignment_template(contract.at("template").get<std::string>()));
    c.size = contract.at("size").get<int>();
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(fmt::format("bad face_enhancer contract {}: {}", contract.dump(), e.what()));
  }
  if (c.size <= 0) return invalid_argument(fmt::format("bad face_enhancer contract {}: size", contract.dump()));
  return c;
}

Status FaceEnhancer::open(const ProcessorContext& context) {
  const auto& o = context.options;
  const auto model_id = option_or<std::string>(o, "face_enhancer_model", "gfpgan_1.4");
  weight_ = option_or(o, "face_enhancer_weight", weight_);
  blend_ = option_or(o, "face_enhancer_blend", 80.0f) / 100.0f;
  FF_ASSIGN_OR_RETURN(auto masks, parse_crop_mask_options(o, false));
  masks.box = true;          // FaceFusion's enhancer always uses the box mask, without padding
  masks.padding = {0, 0, 0, 0};
  FF_ASSIGN_OR_RETURN(auto model, require_installed_model(model_id, "face_enhancer", context.models_dir));
  FF_ASSIGN_OR_RETURN(contract_, parse_enhancer_contract(model.entry->contract));
  FF_ASSIGN_OR_RETURN(masker_, CropMasker::open(masks, context));
  FF_ASSIGN_OR_RETURN(session_, inference::open_session(model.path, context.session));
  const auto& inputs = session_->inputs();
  if (std::none_of(inputs.begin(), inputs.end(), [](const auto& i) { return i.name == "input"; })) {
    return invalid_argument(fmt::format("{} is not a FaceFusion face enhancer: it has no input `input`",
                                        model.path.string()));
  }
  return Status::ok();
}

Result<cv::Mat> FaceEnhancer::enhance_crop(const cv::Mat& crop) const {
  const int s = contract_.size;
  if (crop.type() != CV_8UC3 || crop.rows != s || crop.cols != s) {
    return invalid_argument(fmt::format("enhance_crop needs a {0}x{0} BGR uint8 crop", s));
  }
  const size_t plane = static_cast<size_t>(s) * s;
  // Enhancer contract: RGB, (x / 255 − 0.5) / 0.5.
  const inference::Tensor input = face::rgb_planes(crop, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f});
  std::vector<inference::Tensor> feed;
  for (const auto& info : session_->inputs()) {
    // `weight` is float64 in the model; OnnxSession converts.
    feed.push_back(info.name == "weight" ? inference::Tensor{{1}, {static_cast<float>(weight_)}} : input);
  }
  FF_ASSIGN_OR_RETURN(auto outputs, session_->run(feed));
  if (outputs.empty() || outputs[0].data.size() != 3 * plane) {
    return internal_error(fmt::format("{} returned no 3x{}x{} image", session_->path().filename().string(), s, s));
  }
  const float* out = outputs[0].data.data();
  cv::Mat enhanced(s, s, CV_8UC3);
  for (int y = 0; y < s; ++y) {
    auto* row = enhanced.ptr<cv::Vec3b>(y);
    for (int x = 0; x < s; ++x) {
      const size_t i = static_cast<size_t>(y) * s + x;
      for (int c = 0; c < 3; ++c) {
        const float v = (std::clamp(out[c * plane + i], -1.0f, 1.0f) + 1.0f) / 2.0f;
        row[x][2 - c] = static_cast<uchar>(std::round(v * 255.0f));
      }
    }
  }
  return enhanced;
}

Status FaceEnhancer::enhance(cv::Mat& frame, const face::Face& target) const {
  const cv::Size crop_size(contract_.size, contract_.size);
  const cv::Mat affine = face::estimate_alignment(target.landmarks5, contract_.alignment, crop_size);
  if (affine.empty()) return Status::ok();  // degenerate landmarks: the frame passes through
  const cv::Mat crop = face::warp_face(frame, affine, crop_size);
  FF_ASSIGN_OR_RETURN(auto masks, masker_->before_model(crop));
  FF_ASSIGN_OR_RETURN(cv::Mat enhanced, enhance_crop(crop));
  cv::Mat mask = combine_crop_masks(masks, crop_size) * blend_;
  face::paste_back(frame, enhanced, mask, affine);
  return Status::ok();
}

Status FaceEnhancer::process(FrameContext& frame) const {
  for (const auto& target : frame.target_faces) FF_RETURN_IF_ERROR(enhance(frame.frame, target));
  return Status::ok();
}

}  // namespace facefuse::processors
