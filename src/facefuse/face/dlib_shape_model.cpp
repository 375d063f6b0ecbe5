#include "facefuse/face/dlib_shape_model.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <new>
#include <string>

#include <fmt/format.h>

namespace facefuse::face {
namespace {

// Fewest bytes one serialised element can take: an integer is a control byte and at least one
// value byte; a float two such integers. Counts are checked against the bytes left before anything
// is allocated for them, so a length field of 2^60 costs nothing.
constexpr size_t kMinIntegerBytes = 2, kMinFloatBytes = 2 * kMinIntegerBytes;
constexpr size_t kMinSplitBytes = 2 * kMinIntegerBytes + kMinFloatBytes;
constexpr size_t kMinMatrixBytes = 2 * kMinIntegerBytes;
constexpr size_t kMinTreeBytes = 2 * kMinIntegerBytes;  // two empty vectors' sizes
// dlib trains 10–15 cascade levels; an empty level takes only a few bytes but ~150 bytes of
// bookkeeping here, so the level count is capped rather than bounded by the bytes left.
constexpr size_t kMaxCascades = 1000;

// 2^e for e in [−126, 126], every one a normal float: the exponents dlib's float encoding uses for
// the model's values (a float's 24-bit mantissa scaled by 2^(e − 24)).
constexpr int kMaxPowerOfTwo = 126;
const std::array<float, 2 * kMaxPowerOfTwo + 1> kPowersOfTwo = [] {
  std::array<float, 2 * kMaxPowerOfTwo + 1> powers{};
  for (int e = -kMaxPowerOfTwo; e <= kMaxPowerOfTwo; ++e) powers[e + kMaxPowerOfTwo] = std::ldexp(1.0f, e);
  return powers;
}();

// Sequential decoder of dlib's integer and float encodings. The first failure is kept in error()
// and makes every later read fail too, so callers check once per structure, not per number.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  const std::string& error() const { return error_; }
  bool failed() const { return !error_.empty(); }
  size_t remaining() const { return bytes_.size() - pos_; }
  size_t position() const { return pos_; }

  // Value bytes of an integer of `max_bytes` bytes; `negative` only for signed types.
  bool magnitude(size_t max_bytes, bool is_signed, uint64_t& value, bool& negative, const char* what) {
    value = 0;
    negative = false;
    if (failed()) return false;
    if (pos_ >= bytes_.size()) return fail(fmt::format("the data ends inside {}", what));
    const uint8_t control = bytes_[pos_++];
    // dlib ignores the three reserved bits 0x70; an unsigned integer with the sign bit is refused
    // by dlib as too wide (its size test keeps bit 0x80), and so here.
    const size_t size = is_signed ? (control & 0x0F) : (control & 0x8F);
    negative = is_signed && (control & 0x80) != 0;
    if (size == 0 || size > max_bytes) return fail(fmt::format("{} has an invalid size byte 0x{:02x}", what, control));
    if (remaining() < size) return fail(fmt::format("the data ends inside {}", what));
    for (size_t i = size; i-- > 0;) value = (value << 8) | bytes_[pos_ + i];
    pos_ += size;
    return true;
  }

  bool unsigned_long(uint64_t& out, const char* what) {
    bool negative = false;
    return magnitude(8, false, out, negative, what);
  }

  bool signed_long(int64_t& out, const char* what) {
    uint64_t m = 0;
    bool negative = false;
    if (!magnitude(8, true, m, negative, what)) return false;
    // Two's complement wrap-around (well defined on unsigned), as dlib's item *= -1 on int64.
    out = static_cast<int64_t>(negative ? 0 - m : m);
    return true;
  }

  bool real(float& out, const char* what) {
    if (failed()) return false;
    // dlib's pre-2013 text format starts with an ASCII digit or sign (a bit of 0x70 set); binary
    // control bytes never have those bits. No model of that age is supported.
    if (pos_ < bytes_.size() && (bytes_[pos_] & 0x70) != 0) {
      return fail(fmt::format("{} is in dlib's old text float format (re-save the model with a current dlib)", what));
    }
    int64_t mantissa = 0;
    uint64_t exponent_bits = 0;
    bool exponent_negative = false;
    if (!signed_long(mantissa, what) || !magnitude(2, true, exponent_bits, exponent_negative, what)) return false;
    // int16 arithmetic as dlib's: the value bytes fill 16 bits, then the sign is applied.
    int16_t exponent = static_cast<int16_t>(exponent_bits);
    if (exponent_negative) exponent = static_cast<int16_t>(-static_cast<int>(exponent));
    constexpr int16_t kInf = 32000, kNegInf = 32001;
    if (exponent >= -kMaxPowerOfTwo && exponent <= kMaxPowerOfTwo) {
      // ldexp's result by one multiplication: 2^exponent is an exact float in this range and an
      // IEEE product is rounded once, as ldexp's is (a third of the parse time went to ldexpf).
      out = static_cast<float>(mantissa) * kPowersOfTwo[exponent + kMaxPowerOfTwo];
    } else if (exponent < kInf) {
      out = std::ldexp(static_cast<float>(mantissa), exponent);
    } else if (exponent == kInf) {
      out = std::numeric_limits<float>::infinity();
    } else if (exponent == kNegInf) {
      out = -std::numeric_limits<float>::infinity();
    } else {
      out = std::numeric_limits<float>::quiet_NaN();
    }
    return true;
  }

  // A vector's or matrix's element count, refused when the rest of the data cannot hold that many
  // elements of at least `min_element_bytes` each.
  bool count(uint64_t raw, size_t min_element_bytes, size_t& out, const char* what) {
    if (failed()) return false;
    if (raw > remaining() / min_element_bytes) {
      return fail(fmt::format("{} claims {} elements, more than the {} bytes left can hold", what, raw, remaining()));
    }
    out = static_cast<size_t>(raw);
    return true;
  }

  bool vector_size(size_t min_element_bytes, size_t& out, const char* what) {
    uint64_t raw = 0;
    return unsigned_long(raw, what) && count(raw, min_element_bytes, out, what);
  }

  // A matrix<float,0,1>: its rows (any sign), exactly one column, then the values appended to `out`.
  template <typename FloatVector>
  bool column(FloatVector& out, size_t& rows, const char* what) {
    int64_t nr = 0, nc = 0;
    if (!signed_long(nr, what) || !signed_long(nc, what)) return false;
    // Current dlib writes −rows, −columns (its newer matrix format); older files positive ones.
    const uint64_t r = nr < 0 ? 0 - static_cast<uint64_t>(nr) : static_cast<uint64_t>(nr);
    const uint64_t c = nc < 0 ? 0 - static_cast<uint64_t>(nc) : static_cast<uint64_t>(nc);
    if (c != 1 && !(r == 0 && c == 0)) return fail(fmt::format("{} has {} columns, not 1", what, c));
    if (!count(r, kMinFloatBytes, rows, what)) return false;
    const size_t first = out.size();
    out.resize(first + rows);
    for (size_t i = 0; i < rows; ++i) {
      if (!real(out[first + i], what)) return false;
    }
    return true;
  }

  bool fail(std::string message) {
    if (error_.empty()) error_ = fmt::format("{} (at byte {})", message, pos_);
    return false;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  std::string error_;
};

bool read_tree(Reader& in, DlibShapeModel::Cascade& cascade, DlibShapeModel::Leaves& all_leaves,
               size_t shape_values) {
  size_t splits = 0;
  if (!in.vector_size(kMinSplitBytes, splits, "a tree's split count")) return false;
  for (size_t s = 0; s < splits; ++s) {
    uint64_t idx1 = 0, idx2 = 0;
    float thresh = 0;
    if (!in.unsigned_long(idx1, "a split's first feature") || !in.unsigned_long(idx2, "a split's second feature") ||
        !in.real(thresh, "a split's threshold")) {
      return false;
    }
    // Feature counts are only known after the forests (the deltas come last): checked there.
    if (idx1 > std::numeric_limits<uint32_t>::max() || idx2 > std::numeric_limits<uint32_t>::max()) {
      return in.fail(fmt::format("a split reads feature {} / {}, beyond any feature count", idx1, idx2));
    }
    cascade.splits.push_back({static_cast<uint32_t>(idx1), static_cast<uint32_t>(idx2), thresh});
  }
  size_t leaves = 0;
  if (!in.vector_size(kMinMatrixBytes, leaves, "a tree's leaf count")) return false;
  if (leaves != splits + 1) {
    return in.fail(fmt::format("a tree has {} splits and {} leaves (a complete tree has one more leaf)", splits, leaves));
  }
  for (size_t l = 0; l < leaves; ++l) {
    size_t rows = 0;
    if (!in.column(all_leaves, rows, "a leaf")) return false;
    if (rows != shape_values) {
      return in.fail(fmt::format("a leaf has {} values, the shape {}", rows, shape_values));
    }
  }
  cascade.split_begin.push_back(static_cast<uint32_t>(cascade.splits.size()));
  return true;
}

}  // namespace

void* allocate_model_array(size_t bytes) {
  constexpr size_t kHugePage = size_t{2} << 20, kHugeFrom = size_t{4} << 20;
  if (bytes < kHugeFrom) {
    void* block = std::malloc(std::max<size_t>(bytes, 1));
    if (!block) throw std::bad_alloc();
    return block;
  }
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* block = std::aligned_alloc(kHugePage, rounded);
  if (!block) throw std::bad_alloc();
  ::madvise(block, rounded, MADV_HUGEPAGE);  // advice only: without huge pages it is just slower
  return block;
}

void free_model_array(void* block) noexcept { std::free(block); }

Result<DlibShapeModel> parse_dlib_shape_model(std::span<const uint8_t> bytes,
                                              const std::function<void(size_t)>& consumed) {
  Reader in(bytes);
  constexpr size_t kConsumedStep = size_t{8} << 20;
  size_t reported = 0;
  DlibShapeModel model;
  auto refuse = [&] { return invalid_argument("not a dlib shape predictor: " + in.error()); };

  int64_t version = 0;
  if (!in.signed_long(version, "the version")) return refuse();
  if (version != 1) return invalid_argument(fmt::format("not a dlib shape predictor (version {}, expected 1)", version));
  size_t shape_values = 0;
  if (!in.column(model.initial_shape, shape_values, "the mean shape")) return refuse();
  if (shape_values < 2 || shape_values % 2 != 0) {
    return invalid_argument(fmt::format("not a dlib shape predictor: its mean shape has {} values", shape_values));
  }
  const size_t parts = shape_values / 2;
  // Each leaf is a whole shape: the bytes bound how many leaves (and so splits) can follow.
  const size_t min_leaf_bytes = kMinMatrixBytes + shape_values * kMinFloatBytes;

  size_t cascades = 0;
  if (!in.vector_size(kMinIntegerBytes, cascades, "the cascade count")) return refuse();
  if (cascades > kMaxCascades) {
    return invalid_argument(fmt::format("not a dlib shape predictor: {} cascade levels (at most {})", cascades, kMaxCascades));
  }
  model.cascades.resize(cascades);
  for (auto& cascade : model.cascades) {
    size_t trees = 0;
    if (!in.vector_size(kMinTreeBytes + min_leaf_bytes, trees, "a cascade's tree count")) return refuse();
    cascade.split_begin.reserve(trees + 1);
    cascade.leaf_begin = model.leaves.size();
    cascade.split_begin.push_back(0);
    for (size_t t = 0; t < trees; ++t) {
      if (!read_tree(in, cascade, model.leaves, shape_values)) return refuse();
      if (consumed && in.position() - reported >= kConsumedStep) consumed(reported = in.position());
      if (t == 0) {
        // dlib's trees all have the same depth: room for every tree at once (the leaves are ~65 MB;
        // growing them step by step copied them twice over). Never more than the bytes left could
        // encode, so a hostile first tree reserves nothing the data cannot back.
        const size_t splits_per_tree = cascade.splits.size();
        const size_t leaf_values_per_tree = model.leaves.size() - cascade.leaf_begin;
        const size_t later_cascades = cascades - 1 - static_cast<size_t>(&cascade - model.cascades.data());
        const size_t trees_left = trees - 1 + later_cascades * trees;
        cascade.splits.reserve(std::min(trees * splits_per_tree, in.remaining() / kMinSplitBytes + splits_per_tree));
        model.leaves.reserve(model.leaves.size() +
                             std::min(trees_left * leaf_values_per_tree, in.remaining() / kMinFloatBytes));
      }
    }
  }

  // anchor_idx and deltas hold one list per cascade.
  auto one_list_per_cascade = [&](const char* what) -> Status {
    size_t lists = 0;
    if (!in.vector_size(kMinIntegerBytes, lists, what)) return refuse();
    if (lists != cascades) {
      return invalid_argument(fmt::format("not a dlib shape predictor: {} {} for {} cascades", lists, what, cascades));
    }
    return Status::ok();
  };
  FF_RETURN_IF_ERROR(one_list_per_cascade("anchor lists"));
  for (auto& cascade : model.cascades) {
    size_t features = 0;
    if (!in.vector_size(kMinIntegerBytes, features, "a cascade's anchor count")) return refuse();
    cascade.anchor_idx.resize(features);
    for (auto& anchor : cascade.anchor_idx) {
      uint64_t value = 0;
      if (!in.unsigned_long(value, "an anchor")) return refuse();
      if (value >= parts) return invalid_argument(fmt::format("not a dlib shape predictor: anchor {} of {} landmarks", value, parts));
      anchor = static_cast<uint32_t>(value);
    }
  }

  FF_RETURN_IF_ERROR(one_list_per_cascade("offset lists"));
  for (auto& cascade : model.cascades) {
    size_t features = 0;
    if (!in.vector_size(2 * kMinFloatBytes, features, "a cascade's offset count")) return refuse();
    if (features != cascade.anchor_idx.size()) {
      return invalid_argument(fmt::format("not a dlib shape predictor: a cascade has {} anchors and {} offsets",
                                          cascade.anchor_idx.size(), features));
    }
    cascade.deltas.resize(2 * features);
    for (float& d : cascade.deltas) {
      if (!in.real(d, "a feature offset")) return refuse();
    }
    for (const auto& split : cascade.splits) {
      if (split.idx1 >= features || split.idx2 >= features) {
        return invalid_argument(fmt::format("not a dlib shape predictor: a split reads feature {} / {} of {}",
                                            split.idx1, split.idx2, features));
      }
    }
  }
  return model;
}

}  // namespace facefuse::face
