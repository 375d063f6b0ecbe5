#include "facefuse/jobs/janitor.h"

#include <chrono>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "facefuse/jobs/storage_keys.h"

namespace facefuse::jobs {

namespace {

constexpr int kPage = 500;  // rows per store query

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && text.substr(0, prefix.size()) == prefix;
}

// The keys a pass deletes, once each, with their reason.
class Doomed {
 public:
  void add(const std::string& key, const char* reason) {
    if (keys_.insert(key).second) {
      ordered_.push_back(key);
      ++counts_[reason];
    }
  }
  bool contains(const std::string& key) const { return keys_.count(key) != 0; }
  const std::vector<std::string>& keys() const { return ordered_; }
  const std::map<std::string, int64_t>& counts() const { return counts_; }

 private:
  std::unordered_set<std::string> keys_;
  std::vector<std::string> ordered_;
  std::map<std::string, int64_t> counts_;
};

}  // namespace

Result<int64_t> parse_retention_duration(const std::string& text, const std::string& flag) {
  auto bad = [&] {
    return invalid_argument(fmt::format("{} '{}': give a duration like 7d, 12h, 30m, 45s or 500ms (0 = keep forever)",
                                        flag, text));
  };
  if (text == "0") return int64_t{0};
  size_t digits_end = 0;
  while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') ++digits_end;
  if (digits_end == 0 || digits_end > 9) return bad();  // no number, or a typo over 30 years in seconds
  const int64_t n = std::stoll(text.substr(0, digits_end));
  const std::string unit = text.substr(digits_end);
  if (n <= 0) return bad();
  if (unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "m") return n * 60 * 1000;
  if (unit == "h") return n * 3600 * 1000;
  if (unit == "d") return n * 86400 * 1000;
  return bad();
}

const char* storage_kind_of(const std::string& key) {
  if (starts_with(key, std::string(kIncomingRoot) + "/")) return "staging";
  auto layout = parse_layout_key(key);
  if (!layout) return "other";
  if (layout->kind == "uploads") return "uploads";
  if (layout->kind == "outputs") return "outputs";
  return "segments";
}

Janitor::Janitor(JobStore& store, storage::BlobStore& blobs, RetentionPolicy policy)
    : store_(store), blobs_(blobs), policy_(policy) {}

Janitor::~Janitor() { stop(); }

Result<JanitorPass> Janitor::run_pass() {
  const auto started = std::chrono::steady_clock::now();
  JanitorPass pass;
  FF_ASSIGN_OR_RETURN(std::unique_ptr<StoreLock> lock, store_.try_lock("janitor"));
  if (!lock) return pass;
  pass.ran = true;
  const int64_t now = now_ms();

  FF_ASSIGN_OR_RETURN(std::vector<storage::BlobEntry> entries, blobs_.list_entries(""));
  std::map<std::string, const storage::BlobEntry*> listed;
  for (const auto& e : entries) listed.emplace(e.key, &e);
  Doomed doomed;
  // Every listed key under `prefix` + "/".
  auto add_under = [&](const std::string& prefix, const char* reason) {
    const std::string dir = prefix + "/";
    for (auto it = listed.lower_bound(dir); it != listed.end() && starts_with(it->first, dir); ++it) {
      doomed.add(it->first, reason);
    }
  };

  // Expired uploads: row first (refused while a live job reads it), then the object.
  if (policy_.uploads_ms > 0) {
    std::string after;
    for (;;) {
      FF_ASSIGN_OR_RETURN(auto page, store_.uploads_created_before(now - policy_.uploads_ms, after, kPage));
      for (const auto& upload : page) {
        Result<Upload> removed = store_.delete_upload(upload.tenant, upload.id);
        if (removed.is_ok()) {
          ++pass.uploads_deleted;
          if (listed.count(upload.storage_key) != 0) doomed.add(upload.storage_key, "expired_upload");
        } else if (removed.status().code() == StatusCode::kFailedPrecondition) {
          ++pass.uploads_kept_in_use;
        } else if (removed.status().code() != StatusCode::kNotFound) {
          return removed.status();
        }
      }
      if (static_cast<int>(page.size()) < kPage) break;
      after = page.back().id;
    }
  }

  // Expired outputs: the row says so first, then the objects go.
  if (policy_.outputs_ms > 0) {
    std::string after;
    for (;;) {
      FF_ASSIGN_OR_RETURN(auto page, store_.terminal_jobs_finished_before(now - policy_.outputs_ms, true, after, kPage));
      for (const auto& job : page) {
        FF_RETURN_IF_ERROR(store_.expire_output(job.id, now));
        ++pass.outputs_expired;
        add_under(output_prefix(job), "expired_output");
      }
      if (static_cast<int>(page.size()) < kPage) break;
      after = page.back().id;
    }
  }

  // Expired terminal jobs with their events and whatever objects they still have.
  if (policy_.jobs_ms > 0) {
    std::string after;
    for (;;) {
      FF_ASSIGN_OR_RETURN(auto page, store_.terminal_jobs_finished_before(now - policy_.jobs_ms, false, after, kPage));
      for (const auto& job : page) {
        Status removed = store_.delete_job(job.id);
        if (!removed.is_ok() && removed.code() != StatusCode::kNotFound) return removed;
        if (removed.is_ok()) ++pass.jobs_deleted;
        add_under(output_prefix(job), "expired_job");
        add_under(job_temp_prefix(job), "expired_job");
      }
      if (static_cast<int>(page.size()) < kPage) break;
      after = page.back().id;
    }
  }

  if (policy_.any()) {
    const int64_t settled = now - policy_.orphan_grace_ms;
    // Objects without a row: look the ids of old-enough layout objects up in one query per kind.
    std::vector<std::pair<const storage::BlobEntry*, LayoutKey>> candidates;
    std::set<std::string> upload_ids, job_ids;
    for (const auto& e : entries) {
      if (e.modified_ms >= settled || doomed.contains(e.key)) continue;
      auto layout = parse_layout_key(e.key);
      if (!layout) continue;
      (layout->kind == "uploads" ? upload_ids : job_ids).insert(layout->id);
      candidates.emplace_back(&e, std::move(*layout));
    }
    FF_ASSIGN_OR_RETURN(auto existing_uploads,
                        store_.existing_upload_ids(std::vector<std::string>(upload_ids.begin(), upload_ids.end())));
    FF_ASSIGN_OR_RETURN(auto jobs, store_.jobs_by_ids(std::vector<std::string>(job_ids.begin(), job_ids.end())));
    const std::unordered_set<std::string> uploads_known(existing_uploads.begin(), existing_uploads.end());
    std::unordered_map<std::string, const Job*> jobs_known;
    for (const auto& job : jobs) jobs_known.emplace(job.id, &job);
    for (const auto& [entry, layout] : candidates) {
      bool orphan = false;
      if (layout.kind == "uploads") {
        orphan = uploads_known.count(layout.id) == 0;
      } else {
        auto it = jobs_known.find(layout.id);
        if (it == jobs_known.end()) {
          orphan = true;
        } else if (is_terminal(it->second->state)) {
          // A finished job keeps only its live output; segments and anything else of it are leftovers.
          const Job& job = *it->second;
          orphan = layout.kind == "work" || job.output_key != entry->key || job.output_expired_at_ms > 0;
        }
      }
      if (orphan) doomed.add(entry->key, "orphan");
    }

    // Rows whose object is missing (rows settled before the listing began: their objects, written
    // before the row, would be in it).
    std::string after;
    for (;;) {
      FF_ASSIGN_OR_RETURN(auto page, store_.uploads_created_before(settled, after, kPage));
      for (const auto& upload : page) {
        if (listed.count(upload.storage_key) != 0) continue;
        Result<Upload> removed = store_.delete_upload(upload.tenant, upload.id);
        if (removed.is_ok()) ++pass.uploads_deleted;
      }
      if (static_cast<int>(page.size()) < kPage) break;
      after = page.back().id;
    }
    after.clear();
    for (;;) {
      FF_ASSIGN_OR_RETURN(auto page, store_.terminal_jobs_finished_before(settled, true, after, kPage));
      for (const auto& job : page) {
        if (listed.count(job.output_key) != 0) continue;
        FF_RETURN_IF_ERROR(store_.expire_output(job.id, now));
        ++pass.outputs_expired;
      }
      if (static_cast<int>(page.size()) < kPage) break;
      after = page.back().id;
    }
  }

  FF_RETURN_IF_ERROR(blobs_.remove_keys(doomed.keys()));
  pass.deleted_objects = doomed.counts();

  for (const char* kind : kStorageKinds) pass.usage[kind] = {};
  for (const auto& e : entries) {
    if (doomed.contains(e.key)) continue;
    StorageUsage& u = pass.usage[storage_kind_of(e.key)];
    ++u.objects;
    u.bytes += e.size;
  }
  pass.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return pass;
}

void Janitor::start(int64_t interval_ms, std::function<void(const Result<JanitorPass>&)> on_pass) {
  stopping_ = false;
  thread_ = std::thread([this, interval_ms, on_pass = std::move(on_pass)] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      Result<JanitorPass> pass = run_pass();
      if (on_pass) on_pass(pass);
      lock.lock();
      wake_.wait_for(lock, std::chrono::milliseconds(interval_ms), [this] { return stopping_; });
    }
  });
}

void Janitor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace facefuse::jobs
