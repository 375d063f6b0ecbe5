// The model catalogue: data (models/catalog.json, embedded at build time), not code.
// FaceFusion models keep FaceFusion's ids and file names, so FaceFusion's .assets/models folder
// works as facefuse's models directory; their `contract` object is read by the code that runs them
// (layout in /work/shared/CONTRACTS.md and docs/models.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"

namespace facefuse::inference {

struct ModelEntry {
  std::string id;
  std::string file;  // a plain file name inside the models directory
  std::string kind;  // one of model_kinds()
  std::string description;
  std::string source;  // where setup obtains a non-downloadable model (npm/Debian package)
  std::string license;
  bool is_default = false;  // installed by scripts/setup
  std::string release;      // facefusion-assets release tag holding the file; empty = not downloadable
  int64_t size = 0;         // bytes when known, else 0
  std::string hash;         // CRC32 as 8 lowercase hex digits when known, else empty (the .hash sidecar is used)
  nlohmann::json contract;  // the model's pre/post-processing contract (an object), or null

  bool downloadable() const { return !release.empty(); }
  // FaceFusion's sidecar name: "<file stem>.hash" ("gfpgan_1.4.onnx" → "gfpgan_1.4.hash").
  std::string hash_file() const;
};

struct ModelCatalog {
  // Release assets live at {download_base_url}/{release}/{file} and {…}/{release}/{stem}.hash.
  std::string download_base_url;
  // The ids `facefuse models download --all-defaults` installs (docs/models.md says why).
  std::vector<std::string> download_defaults;
  std::vector<ModelEntry> models;

  const ModelEntry* find(std::string_view id) const;
};

// The valid `kind` values.
const std::vector<std::string>& model_kinds();

// Parses and validates a catalogue document: unknown kind, missing id/file, a file name with a
// directory part, duplicate ids, a malformed hash, a non-object contract, a swapper converter or a
// download default that names no catalogue entry → kInvalidArgument naming the entry and field.
Result<ModelCatalog> parse_model_catalog(std::string_view json_text);

// The catalogue compiled into the binary (validated by a unit test at build time; an invalid
// embedded catalogue is a build bug and stops the program at first use with the parse error).
const ModelCatalog& embedded_model_catalog();
const std::vector<ModelEntry>& model_catalog();
Result<const ModelEntry*> find_model(const std::string& id);

enum class ModelState { kInstalled, kMissing, kCorrupt };
const char* model_state_name(ModelState state);

// How much model_state() checks. Hashing reads the whole file (hundreds of MB for some models),
// so listings use kPresence and `models verify` / `models list --verify` use kHash.
enum class IntegrityCheck { kPresence, kHash };

// Missing = no file; corrupt = empty or unreadable, or (kHash) its CRC32 differs from the
// expected one; installed otherwise. The expected CRC32 is the catalogue's `hash`, else the
// `<stem>.hash` sidecar beside the file when there is one; without either, kHash cannot do more
// than kPresence.
ModelState model_state(const ModelEntry& model, const std::filesystem::path& models_dir,
                       IntegrityCheck check = IntegrityCheck::kPresence);

// The CRC32 expected for `model` in `models_dir`: the catalogue's hash, else the sidecar's; ""
// when there is neither; kInvalidArgument when the sidecar does not hold a CRC32 (then the file
// cannot be trusted either).
Result<std::string> expected_model_hash(const ModelEntry& model, const std::filesystem::path& models_dir);

// CRC32 (zlib's polynomial, as FaceFusion's .hash files) of a file, as 8 lowercase hex digits.
Result<std::string> file_crc32(const std::filesystem::path& path);

// "a1b2c3d4" from a .hash file's text (surrounding whitespace allowed, case folded), or
// kInvalidArgument when it is not 8 hex digits.
Result<std::string> parse_crc32_text(std::string_view text);

// The path of an installed model, or kFailedPrecondition saying how to install it.
Result<std::filesystem::path> require_model(const std::string& id, const std::filesystem::path& models_dir);

}  // namespace facefuse::inference
