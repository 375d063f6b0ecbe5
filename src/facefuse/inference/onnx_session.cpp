#include "facefuse/inference/onnx_session.h"

#include <onnxruntime_cxx_api.h>

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facefuse/core/cpu_budget.h"
#include "facefuse/core/out_of_memory.h"

namespace facefuse::inference {

Result<ExecutionProvider> parse_execution_provider(std::string_view name) {
  if (name == "cpu") return ExecutionProvider::kCpu;
  if (name == "cuda") return ExecutionProvider::kCuda;
  if (name == "tensorrt") return ExecutionProvider::kTensorRt;
  return invalid_argument(fmt::format("unknown execution provider '{}': use cpu, cuda or tensorrt", name));
}

const char* execution_provider_name(ExecutionProvider provider) {
  switch (provider) {
    case ExecutionProvider::kCpu: return "cpu";
    case ExecutionProvider::kCuda: return "cuda";
    case ExecutionProvider::kTensorRt: return "tensorrt";
  }
  return "?";
}

Tensor Tensor::zeros(std::vector<int64_t> shape) {
  Tensor t;
  t.shape = std::move(shape);
  t.data.assign(t.element_count(), 0.0f);
  return t;
}

size_t Tensor::element_count() const {
  return static_cast<size_t>(std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>()));
}

namespace {

const char* provider_library_name(ExecutionProvider provider) {
  return provider == ExecutionProvider::kCuda ? "libonnxruntime_providers_cuda.so"
                                              : "libonnxruntime_providers_tensorrt.so";
}

// The directory of the libonnxruntime this process runs with: ORT loads its provider libraries
// from there.
std::filesystem::path onnxruntime_library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) == 0 || info.dli_fname == nullptr) return {};
  return std::filesystem::path(info.dli_fname).parent_path();
}

// ORT requires one Env per process; it holds only the logging setup and thread pools, never
// per-job state, so sharing it does not break job isolation.
//
// Telemetry: the ORT 1.29 build we ship (scripts/setup) starts Microsoft's 1DS telemetry when the
// Env is created: it writes $TMPDIR/mat-debug-<pid>.log (never removed), $TMPDIR/.ses, a device
// id and an SQLite event store (executable path, OS) under ~/.cache/Microsoft/DeveloperTools/
// .onnxruntime/, and `:memory:.ses` in the working directory when that cache is unwritable.
// DisableTelemetryEvents() does not stop any of it (it only gates later ETW-style events) and
// ORT_TELEMETRY_DISABLED is not a variable this build reads; the switch it does read, at Env
// creation, is ORT_DISABLE_TELEMETRY=1 (found with strings/strace, docs/architecture.md). So it is
// forced here, before the Env exists; tests/cli/environment_test.cpp (NoStrayFiles) checks that a run and a
// detect leave nothing in HOME, TMPDIR or the working directory.
Ort::Env& ort_env() {
  static Ort::Env env = [] {
    // setenv before the Env: the first session is opened before any worker thread reads the
    // environment (serve and run open their models up front).
    ::setenv("ORT_DISABLE_TELEMETRY", "1", 1);
    Ort::Env e(ORT_LOGGING_LEVEL_ERROR, "facefuse");
    e.DisableTelemetryEvents();
    return e;
  }();
  return env;
}

ElementType to_element_type(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return ElementType::kFloat;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return ElementType::kDouble;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return ElementType::kFloat16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return ElementType::kInt64;
    default: return ElementType::kOther;
  }
}

std::vector<TensorInfo> read_infos(Ort::Session& session, bool inputs) {
  Ort::AllocatorWithDefaultOptions allocator;
  std::vector<TensorInfo> infos;
  size_t count = inputs ? session.GetInputCount() : session.GetOutputCount();
  for (size_t i = 0; i < count; ++i) {
    TensorInfo info;
    auto name = inputs ? session.GetInputNameAllocated(i, allocator) : session.GetOutputNameAllocated(i, allocator);
    info.name = name.get();
    // Keep the TypeInfo alive while reading its shape view.
    Ort::TypeInfo type_info = inputs ? session.GetInputTypeInfo(i) : session.GetOutputTypeInfo(i);
    if (type_info.GetONNXType() == ONNX_TYPE_TENSOR) {
      auto tensor_info = type_info.GetTensorTypeAndShapeInfo();
      info.shape = tensor_info.GetShape();
      info.type = to_element_type(tensor_info.GetElementType());
    } else {
      info.type = ElementType::kOther;
    }
    infos.push_back(std::move(info));
  }
  return infos;
}

}  // namespace

Status check_execution_provider_available(ExecutionProvider provider) {
  if (provider == ExecutionProvider::kCpu) return Status::ok();
  const auto dir = onnxruntime_library_dir();
  const auto library = dir / provider_library_name(provider);
  auto not_available = [&](const std::string& why) {
    return unsupported(fmt::format("execution provider '{}' is not available in this build/machine: {} ({}). Run with the "
                                   "GPU build of ONNX Runtime and CUDA/cuDNN{} installed (docs/models.md), or use "
                                   "--execution-providers cpu",
                                   execution_provider_name(provider), library.string(), why,
                                   provider == ExecutionProvider::kTensorRt ? "/TensorRT" : ""));
  };
  // The provider library resolves its host symbols from libonnxruntime_providers_shared, which
  // ORT itself loads globally first; dlopen would otherwise report those instead of what is missing.
  void* shared = dlopen((dir / "libonnxruntime_providers_shared.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (shared == nullptr) return not_available(dlerror());
  // RTLD_LAZY: only the library and its dependencies (CUDA, cuDNN, TensorRT) must load.
  void* handle = dlopen(library.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    std::string why = dlerror();
    dlclose(shared);
    return not_available(why);
  }
  dlclose(handle);
  dlclose(shared);
  return Status::ok();
}

struct OnnxSession::Impl {
  std::filesystem::path path;
  std::unique_ptr<Ort::Session> session;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  std::vector<const char*> input_names;
  std::vector<const char*> output_names;
};

OnnxSession::OnnxSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxSession::~OnnxSession() = default;

const std::vector<TensorInfo>& OnnxSession::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& OnnxSession::outputs() const { return impl_->outputs; }
const std::filesystem::path& OnnxSession::path() const { return impl_->path; }

Result<std::shared_ptr<OnnxSession>> OnnxSession::open(const std::filesystem::path& model_path,
                                                       const SessionOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_path, ec)) {
    return not_found(fmt::format("model file {} does not exist", model_path.string()));
  }
  auto impl = std::make_unique<Impl>();
  impl->path = model_path;
  try {
    Ort::SessionOptions so;
    so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    // ORT's default (one thread per core of the host) ignores affinity and cgroup quotas.
    so.SetIntraOpNumThreads(options.intra_op_threads > 0 ? options.intra_op_threads : available_cpus());
    so.SetInterOpNumThreads(1);
    if (options.provider != ExecutionProvider::kCpu) {
      FF_RETURN_IF_ERROR(check_execution_provider_available(options.provider));
      const std::string device_id = std::to_string(options.device_id);
      if (options.provider == ExecutionProvider::kCuda) {
        Ort::CUDAProviderOptions cuda;
        cuda.Update({{"device_id", device_id}});
        so.AppendExecutionProvider_CUDA_V2(*cuda);
      } else {
        Ort::TensorRTProviderOptions trt;
        trt.Update({{"device_id", device_id}});
        so.AppendExecutionProvider_TensorRT_V2(*trt);
      }
    }
    impl->session = std::make_unique<Ort::Session>(ort_env(), model_path.c_str(), so);
    impl->inputs = read_infos(*impl->session, true);
    impl->outputs = read_infos(*impl->session, false);
  } catch (const Ort::Exception& e) {
    if (is_out_of_memory_text(e.what())) return out_of_memory(fmt::format("loading model {}", model_path.string()));
    return invalid_argument(fmt::format("cannot load model {}: {}", model_path.string(), e.what()));
  } catch (const std::bad_alloc&) {
    return out_of_memory(fmt::format("loading model {}", model_path.string()));
  }
  for (auto& i : impl->inputs) impl->input_names.push_back(i.name.c_str());
  for (auto& o : impl->outputs) impl->output_names.push_back(o.name.c_str());
  return std::shared_ptr<OnnxSession>(new OnnxSession(std::move(impl)));
}

Result<std::vector<Tensor>> OnnxSession::run(const std::vector<Tensor>& inputs) const {
  const auto& infos = impl_->inputs;
  if (inputs.size() != infos.size()) {
    return invalid_argument(fmt::format("model {} takes {} inputs, got {}", impl_->path.filename().string(),
                                        infos.size(), inputs.size()));
  }
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<Ort::Value> values;
  // Converted copies for non-float32 inputs must outlive Run.
  std::vector<std::vector<double>> doubles;
  std::vector<std::vector<Ort::Float16_t>> halves;
  doubles.reserve(inputs.size());
  halves.reserve(inputs.size());
  try {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& t = inputs[i];
      const TensorInfo& info = infos[i];
      if (t.data.size() != t.element_count()) return internal_error("tensor data does not match its shape");
      bool shape_ok = t.shape.size() == info.shape.size();
      for (size_t d = 0; shape_ok && d < t.shape.size(); ++d) {
        shape_ok = info.shape[d] < 0 || info.shape[d] == t.shape[d];
      }
      if (!shape_ok) {
        return invalid_argument(fmt::format("input '{}' of {} expects shape [{}], got [{}]", info.name,
                                            impl_->path.filename().string(), fmt::join(info.shape, ","),
                                            fmt::join(t.shape, ",")));
      }
      auto* data = const_cast<float*>(t.data.data());
      switch (info.type) {
        case ElementType::kFloat:
          values.push_back(Ort::Value::CreateTensor<float>(memory, data, t.data.size(), t.shape.data(), t.shape.size()));
          break;
        case ElementType::kDouble: {
          auto& d = doubles.emplace_back(t.data.begin(), t.data.end());
          values.push_back(Ort::Value::CreateTensor<double>(memory, d.data(), d.size(), t.shape.data(), t.shape.size()));
          break;
        }
        case ElementType::kFloat16: {
          auto& h = halves.emplace_back();
          h.reserve(t.data.size());
          for (float f : t.data) h.emplace_back(f);
          values.push_back(Ort::Value::CreateTensor<Ort::Float16_t>(memory, h.data(), h.size(), t.shape.data(), t.shape.size()));
          break;
        }
        default:
          return unsupported(fmt::format("input '{}' of {} has an element type facefuse does not feed", info.name,
                                         impl_->path.filename().string()));
      }
    }
    auto outputs = impl_->session->Run(Ort::RunOptions{nullptr}, impl_->input_names.data(), values.data(),
                                       values.size(), impl_->output_names.data(), impl_->output_names.size());
    std::vector<Tensor> result;
    result.reserve(outputs.size());
    for (auto& out : outputs) {
      auto info = out.GetTensorTypeAndShapeInfo();
      Tensor t;
      t.shape = info.GetShape();
      size_t n = info.GetElementCount();
      t.data.resize(n);
      switch (info.GetElementType()) {
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: {
          const float* p = out.GetTensorData<float>();
          std::copy(p, p + n, t.data.begin());
          break;
        }
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: {
          const Ort::Float16_t* p = out.GetTensorData<Ort::Float16_t>();
          for (size_t k = 0; k < n; ++k) t.data[k] = p[k].ToFloat();
          break;
        }
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: {
          const double* p = out.GetTensorData<double>();
          for (size_t k = 0; k < n; ++k) t.data[k] = static_cast<float>(p[k]);
          break;
        }
        default:
          return unsupported(fmt::format("an output of {} has an element type facefuse does not read",
                                         impl_->path.filename().string()));
      }
      result.push_back(std::move(t));
    }
    return result;
  } catch (const Ort::Exception& e) {
    if (is_out_of_memory_text(e.what())) return out_of_memory(fmt::format("running {}", impl_->path.filename().string()));
    return internal_error(fmt::format("inference with {} failed: {}", impl_->path.filename().string(), e.what()));
  } catch (const std::bad_alloc&) {
    return out_of_memory(fmt::format("running {}", impl_->path.filename().string()));
  }
}

}  // namespace facefuse::inference
