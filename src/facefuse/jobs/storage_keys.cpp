#include "facefuse/jobs/storage_keys.h"

#include <ctime>
#include <vector>

#include <fmt/format.h>

#include "facefuse/core/ids.h"

namespace facefuse::jobs {

namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool is_key_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }

std::vector<std::string_view> split(std::string_view key) {
  std::vector<std::string_view> out;
  for (size_t at = 0;;) {
    size_t slash = key.find('/', at);
    out.push_back(key.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at));
    if (slash == std::string_view::npos) return out;
    at = slash + 1;
  }
}

bool all_digits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A file name of key characters.
bool is_file_name(std::string_view s) {
  if (s.empty() || s.size() > 255 || s.front() == '.') return false;
  for (char c : s) {
    if (!is_key_char(c)) return false;
  }
  return true;
}

std::string old_or(const Job& job, const char* member, const std::string& old) {
  const auto& storage = job.request.is_object() ? job.request.value("storage", nlohmann::json()) : nlohmann::json();
  if (storage.is_object() && storage.contains(member) && storage[member].is_string()) {
    return storage[member].get<std::string>();
  }
  return old;
}

}  // namespace

std::string tenant_key_segment(const std::string& tenant) {
  const bool plain = !tenant.empty() && is_alnum(tenant.front()) && tenant != "uploads" && tenant != "outputs" &&
                     tenant != "jobs";
  if (plain) {
    bool ok = true;
    for (char c : tenant) ok = ok && is_key_char(c);
    if (ok) return tenant;
  }
  std::string out = "_t";
  for (unsigned char c : tenant) out += fmt::format("{:02x}", c);
  return out;
}

std::string object_prefix(const std::string& tenant, int64_t created_at_ms, std::string_view kind,
                          const std::string& id) {
  const std::time_t seconds = static_cast<std::time_t>(created_at_ms / 1000);
  std::tm day{};
  gmtime_r(&seconds, &day);
  return fmt::format("{}/{:04d}/{:02d}/{:02d}/{}/{}", tenant_key_segment(tenant), day.tm_year + 1900, day.tm_mon + 1,
                     day.tm_mday, kind, id);
}

std::string upload_key(const std::string& tenant, int64_t created_at_ms, const std::string& upload_id,
                       const std::string& extension) {
  return object_prefix(tenant, created_at_ms, "uploads", upload_id) + "/input." + extension;
}

nlohmann::json job_storage_prefixes(const std::string& tenant, int64_t created_at_ms, const std::string& job_id) {
  return {{"outputs", object_prefix(tenant, created_at_ms, "outputs", job_id)},
          {"work", object_prefix(tenant, created_at_ms, "work", job_id)}};
}

std::string output_prefix(const Job& job) { return old_or(job, "outputs", "outputs/" + job.id); }

std::string job_temp_prefix(const Job& job) { return old_or(job, "work", "jobs/" + job.id); }

std::string segment_key(const Job& job, int chunk_index) {
  return fmt::format("{}/segments/chunk-{:05d}.mp4", job_temp_prefix(job), chunk_index);
}

std::string incoming_prefix(const std::string& upload_id) { return fmt::format("{}/{}", kIncomingRoot, upload_id); }

std::string output_key_job_id(std::string_view key) {
  std::vector<std::string_view> parts = split(key);
  size_t at = 0;
  if (parts.size() == 7) {
    if (!all_digits(parts[1], 4) || !all_digits(parts[2], 2) || !all_digits(parts[3], 2)) return "";
    at = 4;
  } else if (parts.size() != 3) {
    return "";
  }
  if (parts[at] != "outputs" || !is_valid_id(parts[at + 1]) || !is_file_name(parts[at + 2])) return "";
  return std::string(parts[at + 1]);
}

std::optional<LayoutKey> parse_layout_key(std::string_view key) {
  std::vector<std::string_view> parts = split(key);
  size_t at = 0;
  if (parts.size() >= 7 && all_digits(parts[1], 4) && all_digits(parts[2], 2) && all_digits(parts[3], 2) &&
      parts[0] != kIncomingRoot) {
    at = 4;
  } else if (parts.size() < 3) {
    return std::nullopt;
  }
  std::string_view kind = parts[at];
  if (at == 0 && kind == "jobs") kind = "work";  // the old layout's segments: jobs/<job>/segments/...
  else if (at == 0 && kind == "work") return std::nullopt;
  if (kind != "uploads" && kind != "outputs" && kind != "work") return std::nullopt;
  if (!is_valid_id(parts[at + 1])) return std::nullopt;
  return LayoutKey{std::string(kind), std::string(parts[at + 1])};
}

bool key_belongs_to_tenant(std::string_view key, const std::string& tenant) {
  const std::string prefix = tenant_key_segment(tenant) + "/";
  return key.size() > prefix.size() && key.substr(0, prefix.size()) == prefix;
}

}  // namespace facefuse::jobs
