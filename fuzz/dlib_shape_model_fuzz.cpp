// Fuzzes the reader of dlib's shape predictor files (face/dlib_shape_model.h), a hand-written
// decoder of dlib's serialisation run on the ~100 MB model at every start.
//
// Properties: no crash, UB, hang or unbounded allocation (run_fuzzer's -malloc_limit_mb: a count
// of 2^60 must be refused before anything is allocated for it); an accepted model is consistent —
// every tree has one leaf more than splits and every leaf a whole shape, and every feature and
// landmark index it holds is in range, so the landmarker can walk it without checks.
// fuzz-link: facefuse::face
#include <cstddef>
#include <cstdint>
#include <span>

#include "facefuse/face/dlib_shape_model.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = facefuse::face::parse_dlib_shape_model(std::span(data, size));
  if (!model) {
    FF_FUZZ_CHECK(!model.status().message().empty(), "a refused model says why");
    return 0;
  }
  const size_t values = model->initial_shape.size();
  FF_FUZZ_CHECK(values >= 2 && values % 2 == 0, "the mean shape is x, y pairs");
  size_t leaf_values = 0;
  for (const auto& cascade : model->cascades) {
    FF_FUZZ_CHECK(cascade.leaf_begin == leaf_values, "cascades' leaves follow each other");
    leaf_values += cascade.leaf_values(values);
    const size_t features = cascade.anchor_idx.size();
    FF_FUZZ_CHECK(cascade.deltas.size() == 2 * features, "one x, y offset per feature");
    for (uint32_t anchor : cascade.anchor_idx) FF_FUZZ_CHECK(anchor < values / 2, "anchors are landmarks");
    FF_FUZZ_CHECK(!cascade.split_begin.empty() && cascade.split_begin.front() == 0 &&
                      cascade.split_begin.back() == cascade.splits.size(),
                  "the trees' split ranges cover the splits");
    for (size_t t = 0; t < cascade.trees(); ++t) {
      FF_FUZZ_CHECK(cascade.split_begin[t] <= cascade.split_begin[t + 1], "split ranges are ordered");
    }
    for (const auto& split : cascade.splits) {
      FF_FUZZ_CHECK(split.idx1 < features && split.idx2 < features, "splits read existing features");
    }
  }
  FF_FUZZ_CHECK(model->leaves.size() == leaf_values, "every tree has one leaf more than splits, each a whole shape");
  return 0;
}
