#include "facefuse/processors/face_swapper/onnx_initializer.h"

#include <cstring>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <opencv2/core.hpp>

namespace facefuse::processors {
namespace {

// Protobuf wire types.
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

// ONNX field numbers (onnx.proto3).
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kGraphInitializer = 5;
constexpr uint32_t kTensorDims = 1, kTensorDataType = 2, kTensorFloatData = 4, kTensorInt32Data = 5,
                   kTensorName = 8, kTensorRawData = 9, kTensorDataLocation = 14;
constexpr int64_t kFloat = 1, kFloat16 = 10;  // TensorProto.DataType

// A bounded window [pos, end) of the file, read field by field.
class WireReader {
 public:
  WireReader(std::istream& in, uint64_t pos, uint64_t end) : in_(in), pos_(pos), end_(end) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(pos_));
  }
  bool done() const { return pos_ >= end_; }
  uint64_t pos() const { return pos_; }
  // Bytes left in the window. Every length field is checked against this before it is added to
  // pos_ or allocated for: a length near 2^64 would wrap pos_ back to an earlier field (a loop).
  uint64_t remaining() const { return pos_ < end_ ? end_ - pos_ : 0; }

  std::optional<uint64_t> varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && pos_ < end_; shift += 7) {
      int byte = in_.get();
      if (byte == EOF) return std::nullopt;
      ++pos_;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return std::nullopt;
  }
  // Skips the payload of a field of `wire_type`.
  bool skip(int wire_type) {
    switch (wire_type) {
      case kVarint: return varint().has_value();
      case kFixed64: return advance(8);
      case kFixed32: return advance(4);
      case kLengthDelimited: {
        auto length = varint();
        return length && advance(*length);
      }
      default: return false;
    }
  }
  // Moves n bytes forward; false past the window's end.
  bool advance(uint64_t n) {
    if (n > remaining()) return false;
    pos_ += n;
    in_.seekg(static_cast<std::streamoff>(pos_));
    return static_cast<bool>(in_);
  }
  bool read(void* out, uint64_t n) {
    if (n > remaining()) return false;
    in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
    pos_ += n;
    return static_cast<bool>(in_);
  }

 private:
  std::istream& in_;
  uint64_t pos_, end_;
};

struct FieldSpan {
  uint64_t begin = 0, end = 0;
};

Status malformed(const std::filesystem::path& path, std::string_view what) {
  return invalid_argument(fmt::format("{} is not a readable ONNX model ({}): re-download it with "
                                      "`facefuse models download <id>`",
                                      path.string(), what));
}

// Packed repeated values or a single unpacked one, appended to `out` via `decode`.
template <typename Decode>
bool read_repeated(WireReader& r, int wire_type, Decode decode) {
  if (wire_type != kLengthDelimited) return decode(r);
  auto length = r.varint();
  if (!length || *length > r.remaining()) return false;
  const uint64_t end = r.pos() + *length;
  while (r.pos() < end) {
    if (!decode(r)) return false;
  }
  return r.pos() == end;
}

}  // namespace

Result<OnnxInitializer> read_last_onnx_initializer(const std::filesystem::path& model_path) {
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(model_path, ec);
  if (ec) return not_found(fmt::format("model file {} not found", model_path.string()));
  std::ifstream in(model_path, std::ios::binary);
  if (!in) return not_found(fmt::format("cannot open model file {}", model_path.string()));

  // ModelProto → the graph field.
  WireReader model(in, 0, file_size);
  std::optional<FieldSpan> graph;
  while (!model.done()) {
    auto key = model.varint();
    if (!key) return malformed(model_path, "truncated model header");
    const uint32_t field = static_cast<uint32_t>(*key >> 3);
    const int wire_type = static_cast<int>(*key & 7);
    if (field == kModelGraph && wire_type == kLengthDelimited) {
      auto length = model.varint();
      if (!length || *length > model.remaining()) return malformed(model_path, "truncated graph");
      graph = FieldSpan{model.pos(), model.pos() + *length};
      if (!model.advance(*length)) return malformed(model_path, "truncated graph");
    } else if (!model.skip(wire_type)) {
      return malformed(model_path, "bad model field");
    }
  }
  if (!graph) return malformed(model_path, "no graph");

  // GraphProto → the last initializer field.
  WireReader graph_reader(in, graph->begin, graph->end);
  std::optional<FieldSpan> last;
  while (!graph_reader.done()) {
    auto key = graph_reader.varint();
    if (!key) return malformed(model_path, "truncated graph field");
    const uint32_t field = static_cast<uint32_t>(*key >> 3);
    const int wire_type = static_cast<int>(*key & 7);
    if (field == kGraphInitializer && wire_type == kLengthDelimited) {
      auto length = graph_reader.varint();
      if (!length || *length > graph_reader.remaining()) return malformed(model_path, "truncated initializer");
      last = FieldSpan{graph_reader.pos(), graph_reader.pos() + *length};
      if (!graph_reader.advance(*length)) return malformed(model_path, "truncated initializer");
    } else if (!graph_reader.skip(wire_type)) {
      return malformed(model_path, "bad graph field");
    }
  }
  if (!last) return malformed(model_path, "the graph has no initializer");

  // TensorProto.
  OnnxInitializer out;
  int64_t data_type = 0;
  std::vector<uint8_t> raw;
  std::vector<float> float_data;
  std::vector<uint16_t> half_data;
  bool external = false;
  WireReader tensor(in, last->begin, last->end);
  while (!tensor.done()) {
    auto key = tensor.varint();
    if (!key) return malformed(model_path, "truncated tensor");
    const uint32_t field = static_cast<uint32_t>(*key >> 3);
    const int wire_type = static_cast<int>(*key & 7);
    bool ok = true;
    if (field == kTensorDims) {
      ok = read_repeated(tensor, wire_type, [&](WireReader& r) {
        auto v = r.varint();
        if (v) out.dims.push_back(static_cast<int64_t>(*v));
        return v.has_value();
      });
    } else if (field == kTensorDataType && wire_type == kVarint) {
      auto v = tensor.varint();
      ok = v.has_value();
      data_type = v ? static_cast<int64_t>(*v) : 0;
    } else if (field == kTensorFloatData) {
      ok = read_repeated(tensor, wire_type, [&](WireReader& r) {
        float v = 0;
        bool got = r.read(&v, sizeof v);  // little-endian fixed32, as on x86-64
        float_data.push_back(v);
        return got;
      });
    } else if (field == kTensorInt32Data) {  // float16 values stored as int32 varints
      ok = read_repeated(tensor, wire_type, [&](WireReader& r) {
        auto v = r.varint();
        if (v) half_data.push_back(static_cast<uint16_t>(*v));
        return v.has_value();
      });
    } else if ((field == kTensorName || field == kTensorRawData) && wire_type == kLengthDelimited) {
      auto length = tensor.varint();
      ok = length.has_value() && *length <= tensor.remaining();  // checked before anything is allocated
      if (ok && field == kTensorName) {
        out.name.resize(*length);
        ok = tensor.read(out.name.data(), *length);
      } else if (ok) {
        raw.resize(*length);
        ok = tensor.read(raw.data(), *length);
      }
    } else if (field == kTensorDataLocation && wire_type == kVarint) {
      auto v = tensor.varint();
      ok = v.has_value();
      external = v && *v == 1;
    } else {
      ok = tensor.skip(wire_type);
    }
    if (!ok) return malformed(model_path, "bad tensor field");
  }
  if (external) {
    return invalid_argument(fmt::format("{}: initializer {} is stored as external data, which facefuse does not "
                                        "read; use the single-file model FaceFusion publishes",
                                        model_path.string(), out.name));
  }
  // Element count. Each value takes at least one byte of the tensor's field, so a count above its
  // size is malformed; checking per dim also keeps the product from overflowing.
  const uint64_t tensor_bytes = last->end - last->begin;
  uint64_t count = 1;
  for (int64_t d : out.dims) {
    if (d < 0) return malformed(model_path, "negative dimension");
    if (d != 0 && count > tensor_bytes / static_cast<uint64_t>(d)) {
      return malformed(model_path, "dimensions larger than the tensor's data");
    }
    count *= static_cast<uint64_t>(d);
  }
  if (data_type == kFloat) {
    if (!raw.empty()) {
      if (raw.size() != static_cast<size_t>(count) * 4) return malformed(model_path, "initializer size mismatch");
      out.values.resize(static_cast<size_t>(count));
      std::memcpy(out.values.data(), raw.data(), raw.size());
    } else {
      out.values = std::move(float_data);
    }
  } else if (data_type == kFloat16) {
    if (!raw.empty()) {
      if (raw.size() != static_cast<size_t>(count) * 2) return malformed(model_path, "initializer size mismatch");
      half_data.resize(static_cast<size_t>(count));
      std::memcpy(half_data.data(), raw.data(), raw.size());
    }
    out.values.reserve(half_data.size());
    for (uint16_t h : half_data) out.values.push_back(static_cast<float>(cv::float16_t::fromBits(h)));
  } else {
    return invalid_argument(fmt::format("{}: initializer {} has ONNX element type {}; only float32 and float16 are "
                                        "supported",
                                        model_path.string(), out.name, data_type));
  }
  if (out.values.size() != static_cast<size_t>(count)) return malformed(model_path, "initializer size mismatch");
  return out;
}

}  // namespace facefuse::processors
