// One ONNX Runtime session per (model file, session options), shared by every thread of its
// owner; and, for models that are not ONNX (dlib's landmark predictor), one loaded object per
// (kind, file). The owner — a job, an engine, a worker process — holds the cache by value or
// shared_ptr; there is no process-wide cache, so two owners never share mutable state through
// it, and models are released with their owner. A worker hands its cache to every task through
// SessionOptions::cache, so the second task pays no model loading (docs/benchmarks.md).
// Thread-safe: get_or_open / get_or_load may be called from any number of threads; a model is
// opened once even when several threads ask for it at the same time, and opening one model does
// not block threads that want another. A failed open is not remembered (the next call tries
// again, e.g. after the model was installed). Cached objects must be safe to use from several
// threads at once (OnnxSession::run is; so are the landmarkers' const methods).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "facefuse/core/status.h"
#include "facefuse/inference/onnx_session.h"

namespace facefuse::inference {

class SessionCache {
 public:
  SessionCache() = default;
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  Result<std::shared_ptr<OnnxSession>> get_or_open(const std::filesystem::path& model_path,
                                                   const SessionOptions& options = {});

  // A non-ONNX model loaded by `load` once per (kind, canonical path); `kind` names the loader
  // (e.g. "dlib_landmarker") so two loaders of one file never hand each other's type back.
  template <class T>
  Result<std::shared_ptr<T>> get_or_load(const std::string& kind, const std::filesystem::path& model_path,
                                         const std::function<Result<std::shared_ptr<T>>()>& load) {
    auto slot = slot_for({kind + ":" + canonical_name(model_path), -1, -1, -1});
    std::lock_guard open_lock(slot->open_mutex);
    if (slot->object) return std::static_pointer_cast<T>(slot->object);
    FF_ASSIGN_OR_RETURN(std::shared_ptr<T> loaded, load());
    slot->object = loaded;
    return loaded;
  }

  // Models currently held (sessions and other loaded models).
  size_t size() const;

 private:
  // (canonical model path, provider, device id, intra-op threads); other models: ("kind:path", -1, -1, -1)
  using Key = std::tuple<std::string, int, int, int>;
  struct Slot {
    std::mutex open_mutex;  // held while this slot's model is being opened
    std::shared_ptr<OnnxSession> session;
    std::shared_ptr<void> object;  // get_or_load's model
  };
  static std::string canonical_name(const std::filesystem::path& model_path);
  std::shared_ptr<Slot> slot_for(const Key& key);

  mutable std::mutex mutex_;  // guards slots_ (not the opening of a model)
  std::map<Key, std::shared_ptr<Slot>> slots_;
};

// Opens `model_path` through options.cache when one is set (shared with the cache's other
// users), else a session of its own.
Result<std::shared_ptr<OnnxSession>> open_session(const std::filesystem::path& model_path,
                                                  const SessionOptions& options);

// open_session for a model file scripts/setup makes (the face-api conversions, not a catalogue
// download). A missing file is failed_precondition "<what> <path> is missing: run scripts/setup
// (<how>)": what needs it and how setup makes it, so the user knows which step to run again.
Result<std::shared_ptr<OnnxSession>> open_setup_model(const std::filesystem::path& model_path, std::string_view what,
                                                      std::string_view how, const SessionOptions& options);

// Whether `input` is one NHWC image [1, size, size, 3] (a dynamic batch dimension accepted).
bool is_square_nhwc_image(const TensorInfo& input, int64_t size);

}  // namespace facefuse::inference
