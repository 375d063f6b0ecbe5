#include "facefuse/processors/face_swapper/face_swapper.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace facefuse::processors {

std::vector<OptionSpec> face_swapper_options() {
  ClassicalSwapOptions defaults;
  return {
      {"face_swapper_model", "string", "classical", "swap backend", {"classical"}},
      {"face_swapper_blend", "number", defaults.blend, "how much of the swapped face to show (0 = target kept)", {}, 0, 1},
      {"face_swapper_morph", "number", defaults.morph,
       "how far the source's face shape is bent to the target's (0 = source proportions kept, best identity; "
       "1 = target's landmarks exactly)", {}, 0, 1},
      {"face_swapper_blend_mode", "string", "multiband", "how the face is merged", {"multiband", "poisson"}},
      {"face_mask_blur", "number", defaults.face_mask_blur, "feathering of the mask edge, relative to face size", {}, 0, 1},
      {"face_swapper_mouth_mask", "boolean", false, "keep the target's inner mouth (teeth, tongue)"},
  };
}

Status FaceSwapper::open(const ProcessorContext& context) {
  const auto& o = context.options;
  options_.blend = option_or(o, "face_swapper_blend", options_.blend);
  options_.morph = option_or(o, "face_swapper_morph", options_.morph);
  options_.face_mask_blur = option_or(o, "face_mask_blur", options_.face_mask_blur);
  options_.mouth_mask = option_or(o, "face_swapper_mouth_mask", options_.mouth_mask);
  options_.blend_mode = option_or<std::string>(o, "face_swapper_blend_mode", "multiband") == "poisson"
                            ? ClassicalBlendMode::kPoisson
                            : ClassicalBlendMode::kMultiBand;
  if (context.analyser == nullptr) return internal_error("face_swapper opened without a face analyser");
  if (context.source_images.empty()) return invalid_argument("face_swapper needs at least one source image (-s)");

  // A multi-face source never prompts: its largest face is the one meant.
  std::vector<std::string> without_face;
  float best_area = 0.0f;
  for (size_t i = 0; i < context.source_images.size(); ++i) {
    FF_ASSIGN_OR_RETURN(auto faces, context.analyser->analyse(context.source_images[i]));
    const face::Face* largest = face::largest_face(faces);
    if (largest == nullptr) {
      without_face.push_back(i < context.source_names.size() ? context.source_names[i] : fmt::format("#{}", i));
      continue;
    }
    if (largest->box.area() > best_area) {
      best_area = largest->box.area();
      source_ = {context.source_images[i], *largest};
    }
  }
  if (best_area == 0.0f) {
    return no_face(fmt::format("no face found in the source image(s) {}: use a photo where the face is clearly "
                               "visible, frontal and at least ~40 pixels wide",
                               fmt::join(without_face, ", ")));
  }
  return Status::ok();
}

Status FaceSwapper::process(FrameContext& frame) const {
  for (const auto& target : frame.target_faces) {
    if (!target.has_landmarks68()) continue;
    FF_RETURN_IF_ERROR(classical_swap(frame.frame, target, source_, options_));
  }
  return Status::ok();
}

}  // namespace facefuse::processors
