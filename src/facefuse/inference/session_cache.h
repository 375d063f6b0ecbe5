// One ONNX Runtime session per (model file, session options), shared by every thread of its
// owner. The owner — a job, an engine, a worker — holds the cache by value or shared_ptr; there is
// no process-wide cache, so two jobs never share mutable state through it, and sessions are
// released with their owner.
// Thread-safe: get_or_open may be called from any number of threads; a model is opened once even
// when several threads ask for it at the same time, and opening one model does not block
// threads that want another. A failed open is not remembered (the next call tries again, e.g.
// after the model was installed).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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
  // Sessions currently held.
  size_t size() const;

 private:
  // (canonical model path, provider, device id, intra-op threads)
  using Key = std::tuple<std::string, int, int, int>;
  struct Slot {
    std::mutex open_mutex;  // held while this slot's model is being opened
    std::shared_ptr<OnnxSession> session;
  };

  mutable std::mutex mutex_;  // guards slots_ (not the opening of a model)
  std::map<Key, std::shared_ptr<Slot>> slots_;
};

}  // namespace facefuse::inference
