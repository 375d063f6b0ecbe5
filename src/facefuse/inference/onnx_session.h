// An ONNX Runtime session: input/output metadata read once at open, thread-safe run().
// One session per model per process, shared by threads (ORT's Run is safe to call concurrently).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/core/status.h"

namespace facefuse::inference {

enum class ExecutionProvider { kCpu, kCuda, kTensorRt };

// "cpu" | "cuda" | "tensorrt"; anything else is kInvalidArgument naming the valid values.
Result<ExecutionProvider> parse_execution_provider(std::string_view name);
const char* execution_provider_name(ExecutionProvider provider);

// kOk when `provider` can be used: cpu always; cuda/tensorrt when ORT's provider library
// (libonnxruntime_providers_cuda.so / _tensorrt.so beside libonnxruntime) and its CUDA
// dependencies load. Otherwise kUnsupported saying that the provider is not available in this
// build and that `--execution-providers cpu` is the fallback. OnnxSession::open checks this.
Status check_execution_provider_available(ExecutionProvider provider);

class SessionCache;

struct SessionOptions {
  ExecutionProvider provider = ExecutionProvider::kCpu;
  int device_id = 0;
  // Threads ORT may use inside one Run (0 = available_cpus(): affinity and cgroup quota honoured).
  int intra_op_threads = 0;
  // When set, models are opened through this cache (session_cache.h: open_session, SessionCache::get_or_load)
  // so every job of its owner — a worker process, serve's pool — shares one session per model
  // instead of opening it per task. Not part of the cache key; the owner keeps it alive for as
  // long as any job runs with these options.
  SessionCache* cache = nullptr;
};

enum class ElementType { kFloat, kDouble, kFloat16, kInt64, kOther };

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // -1 for dynamic dimensions
  ElementType type = ElementType::kFloat;
};

// A dense float32 tensor, row-major in the order of `shape`. Inputs whose model type is float64
// or float16 are converted on the way in; outputs are always returned as float32.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  static Tensor zeros(std::vector<int64_t> shape);
  size_t element_count() const;
};

class OnnxSession {
 public:
  static Result<std::shared_ptr<OnnxSession>> open(const std::filesystem::path& model_path,
                                                   const SessionOptions& options = {});
  ~OnnxSession();
  OnnxSession(const OnnxSession&) = delete;
  OnnxSession& operator=(const OnnxSession&) = delete;

  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  const std::filesystem::path& path() const;

  // Runs the model on `inputs`, given in the order of inputs(); returns all outputs in the order
  // of outputs(). Shapes are checked against the model's static dimensions first. Thread-safe.
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) const;

 private:
  struct Impl;
  explicit OnnxSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facefuse::inference
