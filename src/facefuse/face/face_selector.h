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

struct FaceSelectorOptions {
  FaceSelectorMode mode = kDefaultFaceSelectorMode;
  FaceSelectorOrder order = kDefaultFaceSelectorOrder;
  int reference_face_position = 0;
  // In the recognizer's distance scale; unset = the recognizer's same_person_threshold().
  std::optional<float> reference_face_distance;
};

// kInvalidArgument for a negative position or a distance that is not a finite number > 0.
Status validate_face_selector_options(const FaceSelectorOptions& options);

// `faces` ordered by `order` (stable).
std::vector<Face> sort_faces(std::vector<Face> faces, FaceSelectorOrder order);

// FaceFusion's get_one_face: the face at `position`, clamped to the last face; nullptr when
// `faces` is empty. Negative positions count as 0.
const Face* face_at_position(const std::vector<Face>& faces, int position);

// The reference face from the faces of the reference frame: ordered by options.order, then the
// one at options.reference_face_position. kNoFace when the frame has no face; kInvalidArgument
// when the chosen face has no embedding.
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
