// dlib's serialisation of dlib::shape_predictor (version 1), read from memory into flat arrays.
//
// Why not dlib::deserialize: it reads the ~100 MB model a byte at a time through std::istream
// and gives every leaf (15 cascades × 500 trees × 16 leaves) its own heap matrix: ~0.45 s of the
// CLI's start-up on this machine, every run. This reader decodes the same bytes from one buffer
// into a few contiguous arrays (the landmarker's trees are then walked without pointer chasing),
// and checks every count and index against the data it has, so a damaged or hostile file is
// refused with a message instead of read out of bounds (fuzz/dlib_shape_model_fuzz.cpp).
//
// The format (dlib/serialize.h): an integer is a control byte — low 4 bits = the number of value
// bytes that follow (1..sizeof(T)), 0x80 = negative (signed types only) — then those bytes, least
// significant first. A float is two integers, an int64 mantissa and an int16 exponent, worth
// ldexp(float(mantissa), exponent) (exponent 32000/32001/32002 = +inf/−inf/NaN). A std::vector is
// its size (unsigned long) then its elements; a dlib::matrix its rows and columns (signed long,
// written negated by current dlib) then its elements row by row. shape_predictor = int version (1),
// matrix<float,0,1> initial_shape, forests (vector<vector<regression_tree>>), anchor_idx
// (vector<vector<unsigned long>>), deltas (vector<vector<vector<float,2>>>); a regression tree =
// its splits (vector of {unsigned long idx1, unsigned long idx2, float thresh}, a complete binary
// tree in breadth-first order) and leaf_values (vector<matrix<float,0,1>>, one more than splits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::face {

// Storage for the model's large arrays: a block of 4 MB or more is 2 MB aligned and advised as
// transparent huge pages, so the ~65 MB of leaves take a few dozen page faults instead of ~16 000
// (~0.15 s of the start-up in a VM, where each fault is slow). Smaller blocks are plain malloc.
void* allocate_model_array(size_t bytes);
void free_model_array(void* block) noexcept;

template <typename T>
struct ModelArrayAllocator {
  using value_type = T;
  ModelArrayAllocator() = default;
  template <typename U>
  ModelArrayAllocator(const ModelArrayAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(allocate_model_array(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { free_model_array(p); }
  template <typename U>
  bool operator==(const ModelArrayAllocator<U>&) const { return true; }
};

struct DlibShapeModel {
  struct Split {
    uint32_t idx1 = 0, idx2 = 0;  // feature indices: go left when feature[idx1] − feature[idx2] > thresh
    float thresh = 0;
  };
  // One cascade level: its feature pixels and its regression trees.
  struct Cascade {
    std::vector<uint32_t> anchor_idx;  // per feature: the landmark the pixel is placed from
    std::vector<float> deltas;         // per feature: x, y offset from that landmark (mean-shape units)
    // Tree t's splits are splits[split_begin[t] .. split_begin[t + 1]); its leaf l is the shape
    // increment at the model's leaves[leaf_begin + (split_begin[t] + t + l) · shape_values] (a tree
    // has one more leaf than splits), shape_values = initial_shape.size() floats long.
    std::vector<Split> splits;
    std::vector<uint32_t> split_begin;  // trees + 1 entries
    size_t leaf_begin = 0;
    size_t trees() const { return split_begin.empty() ? 0 : split_begin.size() - 1; }
    size_t leaf_values(size_t shape_values) const { return (splits.size() + trees()) * shape_values; }
  };
  std::vector<float> initial_shape;  // mean shape in the unit box: x0 y0 x1 y1 … (2 × parts values)
  std::vector<Cascade> cascades;
  // Every cascade's leaves, in cascade order (~65 MB for the 68-point model): one block, so its
  // huge pages are rounded up once.
  using Leaves = std::vector<float, ModelArrayAllocator<float>>;
  Leaves leaves;
};

// kInvalidArgument (saying what is wrong) for anything that is not a complete, consistent version-1
// shape predictor: truncated data, integers wider than their type, dlib's old text float format,
// counts larger than the remaining bytes could hold, trees whose leaf count or leaf size does not
// match, feature or landmark indices out of range. Bytes after the model are ignored (as dlib does).
// `consumed(n)`, when given, is called every few MB with the number of leading bytes that will not
// be read again (the landmarker drops those pages of its file mapping, so the mapping and the
// parsed model are never both whole in memory).
Result<DlibShapeModel> parse_dlib_shape_model(std::span<const uint8_t> bytes,
                                              const std::function<void(size_t)>& consumed = {});

}  // namespace facefuse::face
