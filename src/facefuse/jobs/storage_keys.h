// Where the service puts objects in the blob store (issue 13): every new object goes under
//
//   <tenant>/<yyyy>/<mm>/<dd>/<kind>/<id>/...     kind: uploads | outputs | work
//
// (the date is the UTC day the upload or job was created), so bucket lifecycle rules and
// per-tenant accounting work on prefixes. Objects written by older versions keep their keys
// (uploads/<id>/input.<ext>, outputs/<job>/..., jobs/<job>/segments/...): a job stores the
// prefixes it writes to in its request ("storage": {"outputs", "work"}), so a job submitted
// before an upgrade keeps reading and writing where it started, and one without them uses the old
// layout. Direct uploads wait, before verification, under _incoming/<upload_id>/ (not in any
// tenant's prefix: nothing unverified is ever readable as a tenant's object).
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "facefuse/jobs/job.h"

namespace facefuse::jobs {

// The first key segment of a tenant's objects: the tenant name itself when it starts with a letter
// or digit and is not one of the old layout's top-level names (uploads, outputs, jobs), otherwise
// "_t" + the name's hex. Injective (a plain name never starts with '_'), and always a valid key
// segment (tenant names may start with '.', which keys may not).
std::string tenant_key_segment(const std::string& tenant);

// "<tenant>/<yyyy>/<mm>/<dd>/<kind>/<id>" for an object made at `created_at_ms` (Unix ms, UTC day).
std::string object_prefix(const std::string& tenant, int64_t created_at_ms, std::string_view kind,
                          const std::string& id);

// An upload's object: "<tenant>/<date>/uploads/<id>/input.<ext>".
std::string upload_key(const std::string& tenant, int64_t created_at_ms, const std::string& upload_id,
                       const std::string& extension);

// The "storage" member a new job's request carries: {"outputs": <prefix>, "work": <prefix>}.
nlohmann::json job_storage_prefixes(const std::string& tenant, int64_t created_at_ms, const std::string& job_id);

// Where the job's output goes (its "storage.outputs", else the old outputs/<job>).
std::string output_prefix(const Job& job);
// Where its chunk segments go until the merge (its "storage.work", else the old jobs/<job>).
std::string job_temp_prefix(const Job& job);
std::string segment_key(const Job& job, int chunk_index);

// Prefix of unverified direct uploads: "_incoming/<upload_id>" holds "object" (what the client PUT)
// and "manifest.json" (what it promised: tenant, size, type, expiry).
inline constexpr std::string_view kIncomingRoot = "_incoming";
std::string incoming_prefix(const std::string& upload_id);

// The job id of an output key of either layout ("outputs/<job>/<file>" or
// "<tenant>/<yyyy>/<mm>/<dd>/outputs/<job>/<file>", file of [A-Za-z0-9._-]), or "" for any other key.
std::string output_key_job_id(std::string_view key);

// What the retention janitor reads from a key of the service's layout (either generation):
// kind "uploads" (<...>/uploads/<upload_id>/...), "outputs" (<...>/outputs/<job_id>/...) or "work"
// (<...>/work/<job_id>/... and the old jobs/<job_id>/...), and the id. Keys of the new layout need the
// full "<tenant>/<yyyy>/<mm>/<dd>/<kind>/<id>/<file...>" shape with digits in the date, so an object a
// tenant put elsewhere in its prefix (an input by reference) never parses. nullopt for any other key
// (the _incoming staging area included).
struct LayoutKey {
  std::string kind;
  std::string id;
};
std::optional<LayoutKey> parse_layout_key(std::string_view key);

// Whether `key` lies in the tenant's own prefix ("<tenant segment>/..."): the only keys a job may
// name as an input by reference.
bool key_belongs_to_tenant(std::string_view key, const std::string& tenant);

}  // namespace facefuse::jobs
