#include "facefuse/face/face_selector.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/format.h>

namespace facefuse::face {

namespace {

const std::vector<std::string_view> kModeNames = {"many", "one", "reference"};
const std::vector<std::string_view> kGenderNames = {"female", "male"};  // Gender order
const std::vector<std::string_view> kOrderNames = {"left-right",  "right-left",  "top-bottom", "bottom-top",
                                                   "small-large", "large-small", "best-worst", "worst-best"};

template <typename Enum>
Result<Enum> parse_name(std::string_view name, const std::vector<std::string_view>& names, std::string_view what) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<Enum>(i);
  }
  std::string valid;
  for (auto n : names) {
    valid += valid.empty() ? "" : ", ";
    valid += n;
  }
  return invalid_argument(fmt::format("unknown {} '{}'; valid: {}", what, name, valid));
}

}  // namespace

const std::vector<std::string_view>& face_selector_mode_names() { return kModeNames; }
const std::vector<std::string_view>& face_selector_order_names() { return kOrderNames; }
std::string_view face_selector_mode_name(FaceSelectorMode mode) { return kModeNames.at(static_cast<size_t>(mode)); }
std::string_view face_selector_order_name(FaceSelectorOrder order) { return kOrderNames.at(static_cast<size_t>(order)); }

Result<FaceSelectorMode> parse_face_selector_mode(std::string_view name) {
  return parse_name<FaceSelectorMode>(name, kModeNames, "face selector mode");
}

Result<FaceSelectorOrder> parse_face_selector_order(std::string_view name) {
  return parse_name<FaceSelectorOrder>(name, kOrderNames, "face selector order");
}

const std::vector<std::string_view>& face_selector_gender_names() { return kGenderNames; }
std::string_view gender_name(Gender gender) { return kGenderNames.at(static_cast<size_t>(gender)); }
Result<Gender> parse_face_selector_gender(std::string_view name) {
  return parse_name<Gender>(name, kGenderNames, "face selector gender");
}

Status validate_face_selector_options(const FaceSelectorOptions& options) {
  if (options.reference_face_position < 0) {
    return invalid_argument(
        fmt::format("reference face position must be 0 or more, got {}", options.reference_face_position));
  }
  if (options.reference_face_distance &&
      !(std::isfinite(*options.reference_face_distance) && *options.reference_face_distance > 0.0f)) {
    return invalid_argument(fmt::format("reference face distance must be a number above 0, got {}",
                                        *options.reference_face_distance));
  }
  const auto in_range = [](int age) { return age >= kMinFaceSelectorAge && age <= kMaxFaceSelectorAge; };
  if (!in_range(options.age_start) || !in_range(options.age_end) || options.age_start > options.age_end) {
    return invalid_argument(fmt::format("face selector age range {}..{} is not valid: use whole years from {} to {}, "
                                        "start not above end",
                                        options.age_start, options.age_end, kMinFaceSelectorAge, kMaxFaceSelectorAge));
  }
  return Status::ok();
}

Result<std::vector<Face>> filter_faces(std::vector<Face> faces, const FaceSelectorOptions& options) {
  if (!options.filters_faces()) return faces;
  std::vector<Face> kept;
  for (auto& face : faces) {
    if (!face.attributes) {
      return failed_precondition("the face selector's gender/age filters need every face classified first "
                                 "(AgeGenderClassifier::classify)");
    }
    if (options.gender && face.attributes->gender() != *options.gender) continue;
    // Whole years, as people state an age; the top of the range is open-ended.
    const double years = std::floor(face.attributes->age);
    if (years < options.age_start) continue;
    if (options.age_end < kMaxFaceSelectorAge && years > options.age_end) continue;
    kept.push_back(std::move(face));
  }
  return kept;
}

std::vector<Face> sort_faces(std::vector<Face> faces, FaceSelectorOrder order) {
  const auto by = [&faces](auto key, bool descending) {
    std::stable_sort(faces.begin(), faces.end(), [&](const Face& a, const Face& b) {
      return descending ? key(b) < key(a) : key(a) < key(b);
    });
  };
  const auto left = [](const Face& f) { return f.box.x; };
  const auto top = [](const Face& f) { return f.box.y; };
  const auto area = [](const Face& f) { return f.box.width * f.box.height; };
  const auto score = [](const Face& f) { return f.score; };
  switch (order) {
    case FaceSelectorOrder::kLeftRight: by(left, false); break;
    case FaceSelectorOrder::kRightLeft: by(left, true); break;
    case FaceSelectorOrder::kTopBottom: by(top, false); break;
    case FaceSelectorOrder::kBottomTop: by(top, true); break;
    case FaceSelectorOrder::kSmallLarge: by(area, false); break;
    case FaceSelectorOrder::kLargeSmall: by(area, true); break;
    case FaceSelectorOrder::kBestWorst: by(score, true); break;
    case FaceSelectorOrder::kWorstBest: by(score, false); break;
  }
  return faces;
}

const Face* face_at_position(const std::vector<Face>& faces, int position) {
  if (faces.empty()) return nullptr;
  const size_t index = std::min(static_cast<size_t>(std::max(position, 0)), faces.size() - 1);
  return &faces[index];
}

Result<Face> select_reference_face(const std::vector<Face>& reference_frame_faces, const FaceSelectorOptions& options) {
  FF_RETURN_IF_ERROR(validate_face_selector_options(options));
  FF_ASSIGN_OR_RETURN(const auto ordered, filter_faces(sort_faces(reference_frame_faces, options.order), options));
  const Face* face = face_at_position(ordered, options.reference_face_position);
  if (face == nullptr) {
    if (!reference_frame_faces.empty()) {
      return no_face("no face of the reference frame passes the face selector's gender/age filters: widen them, pick "
                     "another --reference-frame-number or another face selector mode");
    }
    return no_face("the reference frame has no face: pick another --reference-frame-number or another face selector mode");
  }
  if (face->embedding.empty()) {
    return invalid_argument("the reference face has no embedding: run the recognizer on the reference frame's faces first");
  }
  return *face;
}

float reference_face_distance(const FaceSelectorOptions& options, const FaceRecognizer& recognizer) {
  return options.reference_face_distance.value_or(recognizer.same_person_threshold());
}

bool is_same_face(const FaceRecognizer& recognizer, const std::vector<float>& a, const std::vector<float>& b,
                  float threshold) {
  return recognizer.distance(a, b) < threshold;
}

Result<std::vector<Face>> select_faces(const std::vector<Face>& target_faces, const FaceSelectorOptions& options,
                                       const FaceReference* reference) {
  FF_RETURN_IF_ERROR(validate_face_selector_options(options));
  switch (options.mode) {
    case FaceSelectorMode::kMany:
      return filter_faces(sort_faces(target_faces, options.order), options);
    case FaceSelectorMode::kOne: {
      FF_ASSIGN_OR_RETURN(const auto ordered, filter_faces(sort_faces(target_faces, options.order), options));
      if (ordered.empty()) return std::vector<Face>{};
      return std::vector<Face>{ordered.front()};
    }
    case FaceSelectorMode::kReference:
      break;
  }
  if (reference == nullptr || reference->recognizer == nullptr || reference->embeddings.empty()) {
    return failed_precondition(
        "face selector mode 'reference' needs a reference face and a recognizer: pick the reference from the "
        "reference frame first, or use --face-selector-mode many|one");
  }
  const FaceRecognizer& recognizer = *reference->recognizer;
  const float threshold = reference_face_distance(options, recognizer);
  std::vector<Face> matches;
  for (const Face& face : target_faces) {
    if (face.embedding.empty()) {
      return invalid_argument(fmt::format(
          "face selector mode 'reference' needs the embedding of every target face ({} embeds them)",
          recognizer.name()));
    }
    const bool match = std::any_of(reference->embeddings.begin(), reference->embeddings.end(),
                                   [&](const auto& e) { return is_same_face(recognizer, face.embedding, e, threshold); });
    if (match) matches.push_back(face);
  }
  return matches;
}

}  // namespace facefuse::face
