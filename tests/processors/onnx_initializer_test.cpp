// The ONNX initializer reader (processors/face_swapper/onnx_initializer.h) on hand-made protobuf
// bytes: malformed length and size fields of an untrusted model file are refused with a message,
// never followed backwards (a loop), allocated for (an exception crossing the layer) or multiplied
// past int64 (UB). The inputs are the kind fuzz/onnx_initializer_fuzz.cpp produces; each was a
// hang or a crash before the reader bounded every field by the bytes left in its parent.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "facefuse/processors/face_swapper/onnx_initializer.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
// A field key: field number and protobuf wire type.
std::string key(uint32_t field, int wire_type) { return varint((uint64_t{field} << 3) | wire_type); }
std::string bytes_field(uint32_t field, const std::string& payload) { return key(field, 2) + varint(payload.size()) + payload; }
// ModelProto{graph = GraphProto{initializer = tensor}}.
std::string model_with_tensor(const std::string& tensor) { return bytes_field(7, bytes_field(5, tensor)); }

Result<processors::OnnxInitializer> read(const TempDir& dir, const std::string& bytes) {
  write_file_bytes(dir / "model.onnx", bytes);
  return processors::read_last_onnx_initializer(dir / "model.onnx");
}

TEST(OnnxInitializer, ReadsAHandMadeFloatTensor) {
  TempDir dir;
  std::string raw(8, '\0');
  const float values[2] = {1.5f, -2.0f};
  std::memcpy(raw.data(), values, sizeof values);
  const std::string tensor = key(1, 0) + varint(2) + key(2, 0) + varint(1) + bytes_field(8, "emap") + bytes_field(9, raw);
  auto got = read(dir, model_with_tensor(tensor));
  ASSERT_TRUE(got) << got.status().to_string();
  EXPECT_EQ(got->name, "emap");
  EXPECT_EQ(got->dims, (std::vector<int64_t>{2}));
  EXPECT_EQ(got->values, (std::vector<float>{1.5f, -2.0f}));
}

TEST(OnnxInitializer, RefusesALengthThatWrapsBackIntoTheFile) {
  TempDir dir;
  // An unknown graph field whose length is 2^64 - 11 (a 10-byte varint): pos + length wrapped to the
  // field's own start, so the reader jumped back and read the same field forever.
  const uint64_t back_to_start = ~uint64_t{0} - 10;
  const std::string graph = key(1, 2) + varint(back_to_start);
  auto got = read(dir, bytes_field(7, graph));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  // The same in the model header and in the initializer's own span.
  EXPECT_FALSE(read(dir, key(3, 2) + varint(back_to_start)));
  EXPECT_FALSE(read(dir, key(7, 2) + varint(back_to_start) + "xx"));
  EXPECT_FALSE(read(dir, bytes_field(7, key(5, 2) + varint(back_to_start) + "xx")));
}

TEST(OnnxInitializer, RefusesANameOrDataLongerThanTheTensor) {
  TempDir dir;
  // A name of 2^60 bytes: resized before the bounds check (length_error / bad_alloc thrown).
  auto name = read(dir, model_with_tensor(key(2, 0) + varint(1) + key(8, 2) + varint(uint64_t{1} << 60) + "x"));
  ASSERT_FALSE(name);
  EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
  auto raw = read(dir, model_with_tensor(key(2, 0) + varint(1) + key(9, 2) + varint(uint64_t{1} << 40) + "x"));
  ASSERT_FALSE(raw);
  EXPECT_EQ(raw.status().code(), StatusCode::kInvalidArgument);
}

TEST(OnnxInitializer, RefusesDimsWhoseProductOverflows) {
  TempDir dir;
  // dims 2^62 × 4 × 2^62 + 1: the element count overflowed int64 (UB), and a count wrapping to the
  // raw data's size resized the value vector to ~2^63 floats.
  const std::string dims = key(1, 0) + varint(uint64_t{1} << 62) + key(1, 0) + varint(4) + key(1, 0) +
                           varint((uint64_t{1} << 62) + 1);
  auto got = read(dir, model_with_tensor(dims + key(2, 0) + varint(1) + bytes_field(9, std::string(4, '\0'))));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  // A negative dim (varint 2^64 - 1 read as int64).
  auto negative = read(dir, model_with_tensor(key(1, 0) + varint(~uint64_t{0}) + key(2, 0) + varint(1)));
  ASSERT_FALSE(negative);
  // 2^63 + 1 float16 values claimed by 2 bytes of raw data (count * 2 wraps to 2).
  const std::string half = key(1, 0) + varint((uint64_t{1} << 63) + 1) + key(2, 0) + varint(10) +
                           bytes_field(9, std::string(2, '\0'));
  EXPECT_FALSE(read(dir, model_with_tensor(half)));
}

}  // namespace
}  // namespace facefuse::testing
