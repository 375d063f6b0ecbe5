// Reads one initializer (a constant weight tensor) straight from an ONNX model file, without ONNX
// Runtime or protobuf: inswapper's source input needs the graph's LAST initializer, the 512×512
// "EMAP" matrix (CONTRACTS.md "inswapper source"), which ORT does not expose.
//
// Only the protobuf wire format is parsed (ModelProto.graph = field 7, GraphProto.initializer =
// field 5, TensorProto dims = 1, data_type = 2, float_data = 4, name = 8, raw_data = 9). The file
// is read by seeking over everything else, so a 550 MB model costs a few hundred small reads and
// only the chosen tensor is held in memory. Supported element types: float32 (raw_data or
// float_data) and float16 (raw_data or int32_data = field 5), returned as float32. External data
// (tensors stored beside the .onnx file) is not supported and reported as such.
//
// Thread-safety: a pure function of the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::processors {

struct OnnxInitializer {
  std::string name;
  std::vector<int64_t> dims;
  std::vector<float> values;  // row-major in the order of dims
};

// The last initializer of the model's graph. kInvalidArgument when the file is not an ONNX model,
// has no initializer, or stores it in an unsupported way; kNotFound when the file is missing.
Result<OnnxInitializer> read_last_onnx_initializer(const std::filesystem::path& model_path);

}  // namespace facefuse::processors
