#include "facefuse/inference/session_cache.h"

namespace facefuse::inference {

Result<std::shared_ptr<OnnxSession>> SessionCache::get_or_open(const std::filesystem::path& model_path,
                                                               const SessionOptions& options) {
  // The same file reached through different spellings ("a/../m.onnx", a symlink) is one model.
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(model_path, ec);
  Key key{(ec ? model_path : canonical).string(), static_cast<int>(options.provider), options.device_id,
          options.intra_op_threads};
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mutex_);
    auto& entry = slots_[key];
    if (!entry) entry = std::make_shared<Slot>();
    slot = entry;
  }
  std::lock_guard open_lock(slot->open_mutex);
  if (slot->session) return slot->session;
  FF_ASSIGN_OR_RETURN(slot->session, OnnxSession::open(model_path, options));
  return slot->session;
}

size_t SessionCache::size() const {
  std::lock_guard lock(mutex_);
  size_t opened = 0;
  for (const auto& [key, slot] : slots_) {
    std::lock_guard open_lock(slot->open_mutex);
    if (slot->session) ++opened;
  }
  return opened;
}

}  // namespace facefuse::inference
