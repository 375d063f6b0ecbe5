#include "facefuse/processors/registry.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/face/detector_factory.h"
#include "facefuse/processors/face_debugger/face_debugger.h"
#include "facefuse/processors/face_enhancer/face_enhancer.h"
#include "facefuse/processors/face_swapper/face_swapper.h"

namespace facefuse::processors {

namespace {

std::vector<std::string> names_of(const std::vector<std::string_view>& names) {
  return {names.begin(), names.end()};
}

}  // namespace

const std::vector<OptionSpec>& common_options() {
  static const std::vector<OptionSpec> specs = {
      {"face_detector", "string", "blazeface",
       "face detector; yolo_face, scrfd, retinaface and yunet are FaceFusion's models (docs/models.md)",
       names_of(face::face_detector_names())},
      {"face_detector_size", "string", "640x640",
       "FaceFusion detectors: model input size (scrfd and retinaface take any listed size, the others 640x640)",
       {"160x160", "320x320", "480x480", "512x512", "640x640"}},
      {"face_detector_score", "number", nullptr,
       "minimum detector score (default: the detector's own; 0.5 for FaceFusion's detectors)", {}, 0.0, 1.0},
      {"face_detector_angles", "number_list", nlohmann::json::array({0}),
       "FaceFusion detectors: also search the frame turned by these angles, for faces on their side or upside down "
       "(CLI: comma-separated)",
       {"0", "90", "180", "270"}},
      {"face_landmarker", "string", "dlib_68", "68-point landmarker; 2dfan4 is FaceFusion's model (docs/models.md)",
       names_of(face::face_landmarker_names())},
      {"face_detector_min_size", "number", 0,
       "smallest face to look for, in pixels (0 = auto: 40 for images, 1/8 of the frame height for videos; "
       "lower it for small faces in videos, at a cost in speed)", {}, 0, 4096},
      {"face_recognizer", "string", "auto",
       "identity model for reference selection: auto = arcface_w600k_r50 when installed, else dlib_resnet",
       names_of(face::face_recognizer_names())},
      {"face_selector_mode", "string", "reference",
       "which target faces to process: many = all, one = the first in order, reference = the person at "
       "--reference-face-position",
       {"many", "one", "reference"}},
      {"face_selector_order", "string", "large-small", "order of the faces for 'one' and the reference position",
       {"left-right", "right-left", "top-bottom", "bottom-top", "small-large", "large-small", "best-worst", "worst-best"}},
      {"reference_frame_number", "number", 0, "video targets: the frame whose faces the reference position counts",
       {}, 0, 1e9},
      {"reference_face_position", "number", 0, "index (in selector order) of the reference face in the target", {}, 0, 1000},
      {"reference_face_distance", "number", nullptr,
       "how unlike the reference a face may be and still count as the same person (default: the recognizer's own "
       "rule)", {}, 0.0, 2.0},
      {"face_selector_gender", "string", nullptr,
       "only faces the age/gender classifier calls female or male (default: both); in reference mode it filters "
       "the reference frame's faces",
       {"female", "male"}},
      {"face_selector_age_start", "number", 0,
       "only faces of at least this apparent age, in whole years (0 = no lower limit)", {}, 0, 100},
      {"face_selector_age_end", "number", 100,
       "only faces of at most this apparent age, in whole years (100 = no upper limit)", {}, 0, 100},
  };
  return specs;
}

std::span<const ProcessorInfo> processor_registry() {
  static const std::vector<ProcessorInfo> registry = {
      {"face_swapper", "replaces target faces with the source face", face_swapper_options(),
       [] { return std::make_unique<FaceSwapper>(); }},
      {"face_enhancer", "restores detail in target faces with a face restoration model (gfpgan, codeformer, ...)",
       face_enhancer_options(), [] { return std::make_unique<FaceEnhancer>(); }},
      {"face_debugger", "draws boxes, 5/68 landmarks and the swap mask of each selected face", face_debugger_options(),
       [] { return std::make_unique<FaceDebugger>(); }},
  };
  return registry;
}

Result<const ProcessorInfo*> find_processor(std::string_view name) {
  for (const auto& p : processor_registry()) {
    if (p.name == name) return &p;
  }
  std::vector<std::string_view> names;
  for (const auto& p : processor_registry()) names.push_back(p.name);
  return invalid_argument(fmt::format("unknown processor '{}': valid processors are {}", name, fmt::join(names, ", ")));
}

std::vector<std::string> option_words(const nlohmann::json& value) {
  std::vector<std::string> words;
  if (value.is_string()) {
    std::string spaced = value.get<std::string>();
    for (char& c : spaced) {
      if (c == ',') c = ' ';
    }
    std::istringstream in(spaced);
    for (std::string w; in >> w;) words.push_back(w);
  } else if (value.is_array()) {
    for (const auto& item : value) {
      if (!item.is_string()) return {};
      words.push_back(item.get<std::string>());
    }
  }
  return words;
}

Result<std::array<int, 4>> padding_values(const nlohmann::json& value, const std::string& name, int min, int max) {
  const auto bad = [&](const std::string& what) {
    return invalid_argument(fmt::format("option {}: {}: give 1 to 4 integers from {} to {} (top right bottom left, "
                                        "CSS order), e.g. [10, 0, 0, 0]", name, what, min, max));
  };
  std::vector<nlohmann::json> items;
  if (value.is_array()) {
    items.assign(value.begin(), value.end());
  } else if (value.is_number()) {
    items.push_back(value);
  } else if (value.is_string()) {
    for (const auto& word : option_words(value)) {
      size_t used = 0;
      int v = 0;
      try {
        v = std::stoi(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != word.size()) return bad(fmt::format("'{}' is not an integer", word));
      items.push_back(v);
    }
  } else {
    return bad(fmt::format("{} is not a padding", value.dump()));
  }
  std::vector<int> v;
  for (const auto& item : items) {
    if (!item.is_number() || item.get<double>() != std::floor(item.get<double>()) || item.get<double>() < min ||
        item.get<double>() > max) {
      return bad(fmt::format("{} is not an integer from {} to {}", item.dump(), min, max));
    }
    v.push_back(static_cast<int>(item.get<double>()));
  }
  switch (v.size()) {  // CSS shorthand, as FaceFusion's --face-mask-padding
    case 1: return std::array<int, 4>{v[0], v[0], v[0], v[0]};
    case 2: return std::array<int, 4>{v[0], v[1], v[0], v[1]};
    case 3: return std::array<int, 4>{v[0], v[1], v[2], v[1]};
    case 4: return std::array<int, 4>{v[0], v[1], v[2], v[3]};
    default: return bad(fmt::format("{} values", v.size()));
  }
}

namespace {

Status check_value(const OptionSpec& spec, const nlohmann::json& value);

// The value in its stored form, or kInvalidArgument. string_list and padding values are stored in
// the text form API 1.3 took and its binaries read ("box area", "10 20"; padding in its shortest
// CSS form): a job submitted to a new node then still runs on an older worker during a blue/green
// switch on a shared store (docs/deploy.md), and the defaults' cache fingerprints stay as they were.
Result<nlohmann::json> normalised_value(const OptionSpec& spec, const nlohmann::json& value) {
  if (value.is_null()) return value;
  if (spec.type == "string_list") {
    // A non-empty list of distinct choices; the text form of earlier versions is accepted.
    const auto bad = invalid_argument(fmt::format("option {} must be a non-empty list of distinct values from {}",
                                                  spec.name, fmt::join(spec.choices, ", ")));
    const std::vector<std::string> words = option_words(value);
    if (words.empty()) return bad;
    std::set<std::string> seen;
    for (const auto& word : words) {
      if (!seen.insert(word).second) return bad;
      if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), word) == spec.choices.end()) {
        return invalid_argument(fmt::format("option {}: '{}' is not valid: use {}", spec.name, word,
                                            fmt::join(spec.choices, ", ")));
      }
    }
    return nlohmann::json(fmt::format("{}", fmt::join(words, " ")));
  }
  if (spec.type == "padding") {
    FF_ASSIGN_OR_RETURN(auto p, padding_values(value, spec.name, static_cast<int>(spec.min),
                                               static_cast<int>(spec.max)));
    std::vector<int> shortest(p.begin(), p.end());  // CSS shorthand: drop what repeats
    if (p[3] == p[1]) {
      shortest.pop_back();
      if (p[2] == p[0]) {
        shortest.pop_back();
        if (p[1] == p[0]) shortest.pop_back();
      }
    }
    return nlohmann::json(fmt::format("{}", fmt::join(shortest, " ")));
  }
  FF_RETURN_IF_ERROR(check_value(spec, value));
  return value;
}

Status check_value(const OptionSpec& spec, const nlohmann::json& value) {
  if (value.is_null()) return Status::ok();
  if (spec.type == "number") {
    if (!value.is_number()) return invalid_argument(fmt::format("option {} must be a number", spec.name));
    double v = value.get<double>();
    if (v < spec.min || v > spec.max) {
      return invalid_argument(fmt::format("option {} = {} is out of range: use a value from {} to {}", spec.name, v,
                                          spec.min, spec.max));
    }
  } else if (spec.type == "number_list") {
    // A non-empty list of distinct numbers, each one of `choices` when those are given.
    const auto bad = invalid_argument(fmt::format("option {} must be a non-empty list of distinct values from {}",
                                                  spec.name, fmt::join(spec.choices, ", ")));
    if (!value.is_array() || value.empty()) return bad;
    std::set<double> seen;
    for (const auto& item : value) {
      if (!item.is_number() || !seen.insert(item.get<double>()).second) return bad;
      // Whole numbers are compared as integers ("90" also for 90.0). One outside long long's range
      // (a 64-digit angle, 1e300) is no choice; casting it would be undefined (found by fuzz_job_request).
      const double number = item.get<double>();
      const bool whole = number == std::floor(number) && std::abs(number) < 9.0e18;
      const std::string text = whole ? fmt::format("{}", static_cast<long long>(number)) : item.dump();
      if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
        return bad;
      }
    }
  } else if (spec.type == "boolean") {
    if (!value.is_boolean()) return invalid_argument(fmt::format("option {} must be true or false", spec.name));
  } else {
    if (!value.is_string()) return invalid_argument(fmt::format("option {} must be a string", spec.name));
    if (!spec.choices.empty() &&
        std::find(spec.choices.begin(), spec.choices.end(), value.get<std::string>()) == spec.choices.end()) {
      return invalid_argument(fmt::format("option {} = '{}' is not valid: use one of {}", spec.name,
                                          value.get<std::string>(), fmt::join(spec.choices, ", ")));
    }
  }
  return Status::ok();
}

}  // namespace

Result<nlohmann::json> validate_options(std::span<const std::string> processor_names, const nlohmann::json& options) {
  if (!options.is_object()) return invalid_argument("options must be a JSON object");
  if (processor_names.empty()) return invalid_argument("no processors given: name at least one (e.g. face_swapper)");
  std::vector<const OptionSpec*> specs;
  for (const auto& spec : common_options()) specs.push_back(&spec);
  std::set<std::string> seen;
  for (const auto& name : processor_names) {
    FF_ASSIGN_OR_RETURN(const ProcessorInfo* info, find_processor(name));
    if (!seen.insert(name).second) return invalid_argument(fmt::format("processor {} is listed twice", name));
    for (const auto& spec : info->options) specs.push_back(&spec);
  }
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : options.items()) {
    // Captured by name: clang 14 (the sanitizer builds) cannot capture a structured binding.
    const std::string& name = key;
    auto it = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec* s) { return s->name == name; });
    if (it == specs.end()) {
      return invalid_argument(fmt::format("unknown option '{}' for processors {}", key, fmt::join(processor_names, ", ")));
    }
    FF_ASSIGN_OR_RETURN(out[key], normalised_value(**it, value));
  }
  for (const OptionSpec* spec : specs) {
    if (!out.contains(spec->name)) {
      FF_ASSIGN_OR_RETURN(out[spec->name], normalised_value(*spec, spec->default_value));  // stored form
    }
  }
  // The face selector's age range: whole years, start not above end (FaceFusion's are integers).
  const double age_start = out.at("face_selector_age_start").get<double>();
  const double age_end = out.at("face_selector_age_end").get<double>();
  for (const auto& [key, v] : {std::pair{"face_selector_age_start", age_start}, {"face_selector_age_end", age_end}}) {
    if (v != std::floor(v)) return invalid_argument(fmt::format("option {} = {} must be a whole number of years", key, v));
  }
  if (age_start > age_end) {
    return invalid_argument(fmt::format("option face_selector_age_start = {} is above face_selector_age_end = {}: the "
                                        "age range must not be empty",
                                        age_start, age_end));
  }
  return out;
}

}  // namespace facefuse::processors
