// Fuzzes the ONNX initializer reader (processors/face_swapper/onnx_initializer.h), a hand-written
// protobuf reader run on model files a user downloads or copies in: the input is written to a file
// and read as a model.
//
// Properties: no crash, UB, hang or unbounded allocation (run_fuzzer's -malloc_limit_mb: a length
// field of 2^60 must be refused before anything is allocated for it); an accepted initializer has
// non-negative dims whose product is the number of values.
// fuzz-link: facefuse::processors
#include <cstddef>
#include <cstdint>

#include "facefuse/processors/face_swapper/onnx_initializer.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static facefuse::fuzz::InputFile file(".onnx");
  auto initializer = facefuse::processors::read_last_onnx_initializer(file.write(data, size));
  if (!initializer) {
    FF_FUZZ_CHECK(!initializer.status().message().empty(), "a refused model says why");
    return 0;
  }
  uint64_t count = 1;
  for (int64_t d : initializer->dims) {
    FF_FUZZ_CHECK(d >= 0, "dims are non-negative");
    count *= static_cast<uint64_t>(d);
  }
  FF_FUZZ_CHECK(count == initializer->values.size(), "the dims' product is the number of values");
  return 0;
}
