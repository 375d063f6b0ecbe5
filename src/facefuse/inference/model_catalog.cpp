#include "facefuse/inference/model_catalog.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace facefuse::inference {

extern const char* const kModelCatalogJson;  // generated from models/catalog.json

std::string ModelEntry::hash_file() const { return std::filesystem::path(file).stem().string() + ".hash"; }

const ModelEntry* ModelCatalog::find(std::string_view id) const {
  for (const auto& m : models) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

const std::vector<std::string>& model_kinds() {
  static const std::vector<std::string> kinds = {"face_detector", "face_landmarker", "face_recognizer",
                                                 "face_swapper",  "face_enhancer",   "face_occluder",
                                                 "face_parser",   "embedding_converter", "face_classifier"};
  return kinds;
}

namespace {

bool is_plain_file_name(const std::string& file) {
  return !file.empty() && file != "." && file != ".." && file.find('/') == std::string::npos &&
         file.find('\\') == std::string::npos;
}

bool is_crc32_hex(std::string_view s) {
  return s.size() == 8 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<ModelEntry> parse_entry(const nlohmann::json& m, size_t index) {
  auto where = [&](const ModelEntry& e) {
    return e.id.empty() ? fmt::format("catalogue entry #{}", index) : fmt::format("catalogue entry '{}'", e.id);
  };
  ModelEntry e;
  if (!m.is_object()) return invalid_argument(fmt::format("catalogue entry #{} is not an object", index));
  auto text = [&](const char* key) { return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : ""; };
  e.id = text("id");
  e.file = text("file");
  e.kind = text("kind");
  e.description = text("description");
  e.source = text("source");
  e.license = text("license");
  e.release = text("release");
  e.hash = text("hash");
  e.is_default = m.contains("default") && m["default"].is_boolean() && m["default"].get<bool>();
  if (e.id.empty()) return invalid_argument(fmt::format("{} has no \"id\"", where(e)));
  if (e.file.empty()) return invalid_argument(fmt::format("{} has no \"file\"", where(e)));
  if (!is_plain_file_name(e.file)) {
    return invalid_argument(fmt::format("{}: \"file\" must be a plain file name, got '{}'", where(e), e.file));
  }
  const auto& kinds = model_kinds();
  if (std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) {
    return invalid_argument(fmt::format("{}: unknown kind '{}' (valid: {})", where(e), e.kind, fmt::join(kinds, ", ")));
  }
  if (m.contains("size")) {
    if (!m["size"].is_number_integer() || m["size"].get<int64_t>() <= 0) {
      return invalid_argument(fmt::format("{}: \"size\" must be a positive byte count", where(e)));
    }
    e.size = m["size"].get<int64_t>();
  }
  if (!e.hash.empty() && !is_crc32_hex(e.hash)) {
    return invalid_argument(fmt::format("{}: \"hash\" must be a CRC32 of 8 lowercase hex digits, got '{}'", where(e), e.hash));
  }
  if (m.contains("contract") && !m["contract"].is_null()) {
    if (!m["contract"].is_object() || !m["contract"].contains("family")) {
      return invalid_argument(fmt::format("{}: \"contract\" must be an object with a \"family\"", where(e)));
    }
    e.contract = m["contract"];
  }
  return e;
}

Result<ModelCatalog> parse_catalog_document(std::string_view json_text) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid_argument("model catalogue is not valid JSON");
  if (!doc.is_object() || !doc.contains("models") || !doc["models"].is_array()) {
    return invalid_argument("model catalogue needs a \"models\" array");
  }
  ModelCatalog catalog;
  catalog.download_base_url = doc.value("download_base_url", "");
  std::set<std::string> ids;
  for (size_t i = 0; i < doc["models"].size(); ++i) {
    FF_ASSIGN_OR_RETURN(ModelEntry entry, parse_entry(doc["models"][i], i));
    if (!ids.insert(entry.id).second) return invalid_argument(fmt::format("catalogue id '{}' appears twice", entry.id));
    if (entry.downloadable() && catalog.download_base_url.empty()) {
      return invalid_argument(fmt::format("catalogue entry '{}' has a release but the catalogue has no "
                                          "\"download_base_url\"", entry.id));
    }
    catalog.models.push_back(std::move(entry));
  }
  // Cross-references: a swapper's embedding converter and the download defaults must exist.
  for (const auto& m : catalog.models) {
    if (!m.contract.is_object() || !m.contract.contains("converter")) continue;
    const ModelEntry* converter = catalog.find(m.contract["converter"].get<std::string>());
    if (converter == nullptr || converter->kind != "embedding_converter") {
      return invalid_argument(fmt::format("catalogue entry '{}': converter {} is not an embedding_converter entry",
                                          m.id, m.contract["converter"].dump()));
    }
  }
  if (doc.contains("download_defaults")) {
    for (const auto& id : doc["download_defaults"]) {
      const ModelEntry* m = id.is_string() ? catalog.find(id.get<std::string>()) : nullptr;
      if (m == nullptr || !m->downloadable()) {
        return invalid_argument(fmt::format("download_defaults names {}, which is not a downloadable catalogue entry",
                                            id.dump()));
      }
      catalog.download_defaults.push_back(m->id);
    }
  }
  return catalog;
}

}  // namespace

Result<ModelCatalog> parse_model_catalog(std::string_view json_text) {
  try {
    return parse_catalog_document(json_text);
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong JSON type (e.g. a number where a string belongs).
    return invalid_argument(fmt::format("model catalogue has a field of the wrong type: {}", e.what()));
  }
}

const ModelCatalog& embedded_model_catalog() {
  // Immutable after first use; built from data compiled into the binary.
  static const ModelCatalog catalog = [] {
    auto parsed = parse_model_catalog(kModelCatalogJson);
    if (!parsed) {
      std::fprintf(stderr, "facefuse: the built-in model catalogue (models/catalog.json) is invalid: %s\n",
                   parsed.status().message().c_str());
      std::abort();
    }
    return std::move(parsed).value();
  }();
  return catalog;
}

const std::vector<ModelEntry>& model_catalog() { return embedded_model_catalog().models; }

Result<const ModelEntry*> find_model(const std::string& id) {
  if (const ModelEntry* m = embedded_model_catalog().find(id)) return m;
  return not_found(fmt::format("unknown model '{}': `facefuse models list` shows the catalogue", id));
}

const char* model_state_name(ModelState state) {
  switch (state) {
    case ModelState::kInstalled: return "installed";
    case ModelState::kMissing: return "missing";
    case ModelState::kCorrupt: return "corrupt";
  }
  return "?";
}

Result<std::string> parse_crc32_text(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r\n");
  auto last = text.find_last_not_of(" \t\r\n");
  std::string hex = first == std::string_view::npos ? "" : std::string(text.substr(first, last - first + 1));
  std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!is_crc32_hex(hex)) return invalid_argument(fmt::format("'{}' is not a CRC32 (8 hex digits)", hex.substr(0, 40)));
  return hex;
}

Result<std::string> expected_model_hash(const ModelEntry& model, const std::filesystem::path& models_dir) {
  if (!model.hash.empty()) return model.hash;
  auto sidecar_path = models_dir / model.hash_file();
  std::ifstream sidecar(sidecar_path, std::ios::binary);
  if (!sidecar) return std::string();
  std::string text((std::istreambuf_iterator<char>(sidecar)), std::istreambuf_iterator<char>());
  auto parsed = parse_crc32_text(text);
  if (!parsed) return invalid_argument(fmt::format("{}: {}", sidecar_path.string(), parsed.status().message()));
  return parsed;
}

Result<std::string> file_crc32(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(fmt::format("cannot read {}", path.string()));
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    auto got = in.gcount();
    if (got > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(got));
  }
  if (in.bad()) return unavailable(fmt::format("read error in {}", path.string()));
  return fmt::format("{:08x}", static_cast<uint32_t>(crc));
}

ModelState model_state(const ModelEntry& model, const std::filesystem::path& models_dir, IntegrityCheck check) {
  std::error_code ec;
  auto path = models_dir / model.file;
  if (!std::filesystem::exists(path, ec)) return ModelState::kMissing;
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size == 0) return ModelState::kCorrupt;
  std::ifstream probe(path, std::ios::binary);
  if (!probe) return ModelState::kCorrupt;
  if (check == IntegrityCheck::kPresence) return ModelState::kInstalled;
  if (model.size > 0 && static_cast<int64_t>(size) != model.size) return ModelState::kCorrupt;
  auto expected = expected_model_hash(model, models_dir);
  if (!expected) return ModelState::kCorrupt;
  if (expected->empty()) return ModelState::kInstalled;
  auto actual = file_crc32(path);
  return actual && *actual == *expected ? ModelState::kInstalled : ModelState::kCorrupt;
}

Result<std::filesystem::path> require_model(const std::string& id, const std::filesystem::path& models_dir) {
  FF_ASSIGN_OR_RETURN(const ModelEntry* model, find_model(id));
  auto path = models_dir / model->file;
  std::string how = model->downloadable()
                        ? fmt::format("run `facefuse models download {}` (docs/models.md), or copy {} from "
                                      "FaceFusion's .assets/models into {}",
                                      id, model->file, models_dir.string())
                        : std::string("run scripts/setup");
  switch (model_state(*model, models_dir)) {
    case ModelState::kInstalled: return path;
    case ModelState::kMissing:
      return failed_precondition(fmt::format("model {} is not installed (expected {}): {}, or set "
                                             "--models-dir/FACEFUSE_MODELS_DIR to the directory that holds it",
                                             id, path.string(), how));
    case ModelState::kCorrupt:
      return failed_precondition(fmt::format("model file {} is empty or unreadable: delete it and {}", path.string(), how));
  }
  return internal_error("unreachable");
}

}  // namespace facefuse::inference
