#include "facefuse/inference/session_cache.h"

#include <fmt/format.h>

namespace facefuse::inference {

std::string SessionCache::canonical_name(const std::filesystem::path& model_path) {
  // The same file reached through different spellings ("a/../m.onnx", a symlink) is one model.
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(model_path, ec);
  return (ec ? model_path : canonical).string();
}

std::shared_ptr<SessionCache::Slot> SessionCache::slot_for(const Key& key) {
  std::lock_guard lock(mutex_);
  auto& entry = slots_[key];
  if (!entry) entry = std::make_shared<Slot>();
  return entry;
}

Result<std::shared_ptr<OnnxSession>> SessionCache::get_or_open(const std::filesystem::path& model_path,
                                                               const SessionOptions& options) {
  auto slot = slot_for({canonical_name(model_path), static_cast<int>(options.provider), options.device_id,
                        options.intra_op_threads});
  std::lock_guard open_lock(slot->open_mutex);
  if (slot->session) return slot->session;
  SessionOptions own = options;
  own.cache = nullptr;
  FF_ASSIGN_OR_RETURN(slot->session, OnnxSession::open(model_path, own));
  return slot->session;
}

size_t SessionCache::size() const {
  std::lock_guard lock(mutex_);
  size_t opened = 0;
  for (const auto& [key, slot] : slots_) {
    std::lock_guard open_lock(slot->open_mutex);
    if (slot->session || slot->object) ++opened;
  }
  return opened;
}

Result<std::shared_ptr<OnnxSession>> open_session(const std::filesystem::path& model_path,
                                                  const SessionOptions& options) {
  if (options.cache != nullptr) return options.cache->get_or_open(model_path, options);
  return OnnxSession::open(model_path, options);
}

Result<std::shared_ptr<OnnxSession>> open_setup_model(const std::filesystem::path& model_path, std::string_view what,
                                                      std::string_view how, const SessionOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_path, ec)) {
    return failed_precondition(
        fmt::format("{} {} is missing: run scripts/setup ({})", what, model_path.string(), how));
  }
  return open_session(model_path, options);
}

bool is_square_nhwc_image(const TensorInfo& input, int64_t size) {
  return input.shape.size() == 4 && (input.shape[0] == 1 || input.shape[0] < 0) && input.shape[1] == size &&
         input.shape[2] == size && input.shape[3] == 3;
}

}  // namespace facefuse::inference
