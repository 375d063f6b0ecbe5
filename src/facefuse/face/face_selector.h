// Which faces of a frame a processor works on: FaceFusion's face selector
// (facefusion/face_selector.py), as pure functions over analysed faces. No globals: every call
// gets its options and, for reference mode, the reference and the recognizer whose distance rule
// applies.
//
//   --face-selector-mode      many | one | reference (default reference)
//       many       all faces, ordered by --face-selector-order
//       one        the first face in that order
//       reference  the faces whose identity is within --reference-face-distance of the reference
//                  face, in the order the detector returned them (FaceFusion does not sort them)
//   --face-selector-order     left-right | right-left | top-bottom | bottom-top | small-large |
//                             large-small | best-worst | worst-best (default large-small); keys are
//                             the box's left edge, top edge, area and the detector score; ties keep
//                             the detector's order (a stable sort, like Python's sorted)
//   --reference-face-position which face of the reference frame, after ordering, is the reference
//                             (0-based; past the end means the last face, as FaceFusion's get_one_face)
//   --reference-face-distance a target face matches when recognizer.distance(target, reference) is
//                             strictly below this value
//   --face-selector-gender    female | male (default: unset = both). Keeps the faces the age/gender
//                             classifier (age_gender_classifier.h) calls that gender
//   --face-selector-age-start, --face-selector-age-end
//                             keep faces whose apparent age, in whole years (floor of the
//                             classifier's estimate), is within [start, end]; defaults 0 and 100 (no
//                             filter); an end of 100 has no upper limit ("100 and over")
// The filters are FaceFusion's sort_and_filter_faces: in modes many and one they apply to the target
// faces after ordering (one = the first face that passes); in reference mode to the faces of the
// reference frame, before --reference-face-position picks the reference (the matches are then the
// reference person's, whatever the classifier says about them frame by frame). They need
// Face::attributes on the faces they look at (kFailedPrecondition otherwise): callers classify
// only when filters_faces() is true, so no filter costs nothing. FaceFusion's race filter is not
// offered: no race classifier is obtainable here (docs/service.md).
//
// The distance rule belongs to the recognizer (FaceRecognizer::distance and
// same_person_threshold), so --reference-face-distance is in the active recognizer's own scale and
// defaults to its own same-person threshold:
//   - arcface_w600k_r50: distance = (1 − cos)/2 of the two embeddings, which is FaceFusion's
//     numpy.interp(1 − dot(e1/‖e1‖, e2/‖e2‖), [0, 2], [0, 1]); threshold 0.3 (cos > 0.4).
//     FaceFusion's --reference-face-distance values carry over unchanged.
//   - dlib_resnet (default): distance = Euclidean between the unnormalised 128-d descriptors;
//     threshold 0.6, dlib's own rule. FaceFusion's cosine values do not carry over: dlib
//     descriptors have norms of 1.3–1.6, and on our test photos (recognizer_test.cpp) every pair
//     of faces, same person or not, has (1 − cos)/2 < 0.15, so FaceFusion's 0.3 would match
//     anyone (same-person pairs reach 0.036 on that scale). Measured Euclidean
//     distances: same person 0.21–0.56, different people 0.47–1.11 (median 0.80, 2 % under 0.6,
//     mostly small, low-resolution faces). Lower the value (e.g. 0.5) to be stricter.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "facefuse/core/status.h"
#include "facefuse/face/face.h"

namespace facefuse::face {

enum class FaceSelectorMode { kMany, kOne, kReference };

enum class FaceSelectorOrder {
  kLeftRight,   // box left edge ascending
  kRightLeft,   // box left edge descending
  kTopBottom,   // box top edge ascending
  kBottomTop,   // box top edge descending
  kSmallLarge,  // box area ascending
  kLargeSmall,  // box area descending
  kBestWorst,   // detector score descending
  kWorstBest,   // detector score ascending
};

// FaceFusion's defaults.
inline constexpr FaceSelectorMode kDefaultFaceSelectorMode = FaceSelectorMode::kReference;
inline constexpr FaceSelectorOrder kDefaultFaceSelectorOrder = FaceSelectorOrder::kLargeSmall;

// Names as users type them ("many", "left-right", ...), in enum order.
const std::vector<std::string_view>& face_selector_mode_names();
const std::vector<std::string_view>& face_selector_order_names();
std::string_view face_selector_mode_name(FaceSelectorMode mode);
std::string_view face_selector_order_name(FaceSelectorOrder order);
// Unknown names are kInvalidArgument listing the valid ones.
Result<FaceSelectorMode> parse_face_selector_mode(std::string_view name);
Result<FaceSelectorOrder> parse_face_selector_order(std::string_view name);

// FaceFusion's age range: 0..100 years.
inline constexpr int kMinFaceSelectorAge = 0;
inline constexpr int kMaxFaceSelectorAge = 100;

const std::vector<std::string_view>& face_selector_gender_names();  // "female", "male" (Gender order)
std::string_view gender_name(Gender gender);
Result<Gender> parse_face_selector_gender(std::string_view name);

struct FaceSelectorOptions {
  FaceSelectorMode mode = kDefaultFaceSelectorMode;
  FaceSelectorOrder order = kDefaultFaceSelectorOrder;
  int reference_face_position = 0;
  // In the recognizer's distance scale; unset = the recognizer's same_person_threshold().
  std::optional<float> reference_face_distance;
  std::optional<Gender> gender;  // unset: both
  int age_start = kMinFaceSelectorAge;  // years, inclusive
  int age_end = kMaxFaceSelectorAge;    // years, inclusive; kMaxFaceSelectorAge = no upper limit

  // True when a gender or age filter is set (the faces then need Face::attributes).
  bool filters_faces() const {
    return gender.has_value() || age_start > kMinFaceSelectorAge || age_end < kMaxFaceSelectorAge;
  }
};

// kInvalidArgument for a negative position, a distance that is not a finite number > 0, or an age
// range outside 0..100 or with start > end.
Status validate_face_selector_options(const FaceSelectorOptions& options);

// `faces` ordered by `order` (stable).
std::vector<Face> sort_faces(std::vector<Face> faces, FaceSelectorOrder order);

// The faces that pass the gender and age filters, in their order; all of them when no filter is set.
// kFailedPrecondition when a filter is set and a face has no attributes.
Result<std::vector<Face>> filter_faces(std::vector<Face> faces, const FaceSelectorOptions& options);

// FaceFusion's get_one_face: the face at `position`, clamped to the last face; nullptr when
// `faces` is empty. Negative positions count as 0.
const Face* face_at_position(const std::vector<Face>& faces, int position);

// The reference face from the faces of the reference frame: ordered by options.order, filtered by
// gender/age, then the one at options.reference_face_position. kNoFace when the frame has no face
// (or none passes the filters); kInvalidArgument when the chosen face has no embedding.
Result<Face> select_reference_face(const std::vector<Face>& reference_frame_faces, const FaceSelectorOptions& options);

// What reference mode compares target faces with.
struct FaceReference {
  // Embeddings of the reference face(s) from `recognizer`; a target face matches if it is close
  // enough to any of them.
  std::vector<std::vector<float>> embeddings;
  // Supplies distance() and the default threshold; must outlive the call.
  const FaceRecognizer* recognizer = nullptr;
};

// The threshold reference mode uses: options.reference_face_distance, else the recognizer's own.
float reference_face_distance(const FaceSelectorOptions& options, const FaceRecognizer& recognizer);

// True when recognizer.distance(a, b) < threshold (FaceFusion's strict comparison).
bool is_same_face(const FaceRecognizer& recognizer, const std::vector<float>& a, const std::vector<float>& b,
                  float threshold);

// The faces of one target frame to process, by options.mode (see the top of this file). No face
// selected is an empty list, not an error. Reference mode needs `reference` with a recognizer and
// at least one embedding (else kFailedPrecondition) and target faces with embeddings from the
// same recognizer (else kInvalidArgument).
Result<std::vector<Face>> select_faces(const std::vector<Face>& target_faces, const FaceSelectorOptions& options,
                                       const FaceReference* reference = nullptr);

}  // namespace facefuse::face
