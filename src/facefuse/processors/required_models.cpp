#include "facefuse/processors/required_models.h"

#include <algorithm>

#include <fmt/format.h>

#include "facefuse/face/detector_factory.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/inference/model_catalog.h"
#include "facefuse/processors/crop_masks.h"
#include "facefuse/processors/face_swapper/onnx_swapper.h"
#include "facefuse/processors/processor.h"

namespace facefuse::processors {
namespace {

void add(std::vector<RequiredModel>& out, std::string id, std::string kind, std::string needed_for) {
  bool known = std::any_of(out.begin(), out.end(), [&](const RequiredModel& m) { return m.id == id; });
  if (!known) out.push_back({std::move(id), std::move(kind), std::move(needed_for)});
}

void add_mask_models(std::vector<RequiredModel>& out, const CropMaskOptions& masks) {
  if (masks.occlusion) {
    add(out, masks.occluder_model, "face_occluder", fmt::format("face_occluder_model '{}'", masks.occluder_model));
  }
  if (masks.region) {
    add(out, masks.parser_model, "face_parser", fmt::format("face_parser_model '{}'", masks.parser_model));
  }
}

}  // namespace

Result<std::vector<RequiredModel>> required_models(const std::vector<std::string>& processors,
                                                   const nlohmann::json& options,
                                                   const std::filesystem::path& models_dir) {
  std::vector<RequiredModel> out;
  const std::string detector = option_or<std::string>(options, "face_detector", "blazeface");
  if (auto id = face::face_detector_model_id(detector)) {
    add(out, *id, "face_detector", fmt::format("face_detector '{}'", detector));
  }
  const std::string landmarker = option_or<std::string>(options, "face_landmarker", "dlib_68");
  add(out, face::face_landmarker_model_id(landmarker), "face_landmarker", fmt::format("face_landmarker '{}'", landmarker));
  if (option_or<std::string>(options, "face_selector_mode", "reference") == "reference") {
    const std::string recognizer = option_or<std::string>(options, "face_recognizer", "auto");
    FF_ASSIGN_OR_RETURN(std::string id, face::face_recognizer_model_id(recognizer, models_dir));
    add(out, id, "face_recognizer", fmt::format("face_recognizer '{}' (face_selector_mode 'reference')", recognizer));
  }
  const bool gender_filter = options.contains("face_selector_gender") && options["face_selector_gender"].is_string();
  if (gender_filter || option_or<double>(options, "face_selector_age_start", 0.0) > 0.0 ||
      option_or<double>(options, "face_selector_age_end", 100.0) < 100.0) {
    add(out, "face_api_age_gender", "face_classifier", "the face selector's gender/age filters");
  }

  for (const std::string& processor : processors) {
    if (processor == "face_swapper") {
      const std::string model = option_or<std::string>(options, "face_swapper_model", "classical");
      if (model == "classical") continue;  // no model file; it uses no crop masks either
      const std::string why = fmt::format("face_swapper_model '{}'", model);
      FF_ASSIGN_OR_RETURN(const inference::ModelEntry* entry, inference::find_model(model));
      add(out, model, "face_swapper", why);
      FF_ASSIGN_OR_RETURN(SwapperContract contract, parse_swapper_contract(entry->contract));
      for (const CatalogModelRef& helper : swapper_helper_models(contract)) add(out, helper.id, helper.kind, why);
      FF_ASSIGN_OR_RETURN(CropMaskOptions masks, parse_crop_mask_options(options, true));
      add_mask_models(out, masks);
    } else if (processor == "face_enhancer") {
      const std::string model = option_or<std::string>(options, "face_enhancer_model", "gfpgan_1.4");
      add(out, model, "face_enhancer", fmt::format("face_enhancer_model '{}'", model));
      FF_ASSIGN_OR_RETURN(CropMaskOptions masks, parse_crop_mask_options(options, false));
      add_mask_models(out, masks);
    }
  }
  return out;
}

Status check_required_models(const std::vector<std::string>& processors, const nlohmann::json& options,
                             const std::filesystem::path& models_dir) {
  FF_ASSIGN_OR_RETURN(std::vector<RequiredModel> required, required_models(processors, options, models_dir));
  for (const RequiredModel& model : required) {
    FF_ASSIGN_OR_RETURN(const inference::ModelEntry* entry, inference::find_model(model.id));
    const inference::ModelState state = inference::model_state(*entry, models_dir);
    if (state == inference::ModelState::kInstalled) continue;
    const std::string install =
        entry->downloadable()
            ? fmt::format("install it on the server with `facefuse models download {}`", model.id)
            : fmt::format("it comes with scripts/setup ({}): run scripts/setup on the server", entry->source);
    return model_not_installed(fmt::format("model {} is not installed (its file {} is {}), but the job's {} needs "
                                           "it: {}, then submit again (GET /api/v1/models lists what is installed)",
                                           model.id, entry->file,
                                           state == inference::ModelState::kMissing ? "missing" : "empty or unreadable",
                                           model.needed_for, install));
  }
  return Status::ok();
}

}  // namespace facefuse::processors
