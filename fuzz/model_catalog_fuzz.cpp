// Fuzzes the model catalogue parser (inference/model_catalog.h): the catalogue is embedded at
// build time, but the same parser reads a catalogue given on the command line, so it must refuse
// any document with a message rather than crash.
//
// Properties: no crash, UB or escaped exception; an accepted catalogue has unique, findable ids,
// plain file names and known kinds.
// fuzz-link: facefuse::inference
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>

#include "facefuse/inference/model_catalog.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace facefuse::inference;
  auto catalog = parse_model_catalog(facefuse::fuzz::as_text(data, size));
  if (!catalog) {
    FF_FUZZ_CHECK(!catalog.status().message().empty(), "a refused catalogue says why");
    return 0;
  }
  std::set<std::string> ids;
  const auto& kinds = model_kinds();
  for (const auto& model : catalog->models) {
    FF_FUZZ_CHECK(!model.id.empty() && ids.insert(model.id).second, "ids are unique and non-empty");
    FF_FUZZ_CHECK(catalog->find(model.id) == &model, "every model is found by its id");
    FF_FUZZ_CHECK(!model.file.empty() && model.file.find('/') == std::string::npos, "a model file is a plain name");
    FF_FUZZ_CHECK(std::find(kinds.begin(), kinds.end(), model.kind) != kinds.end(), "a model's kind is known");
    (void)model.hash_file();
  }
  for (const auto& id : catalog->download_defaults) FF_FUZZ_CHECK(ids.count(id) == 1, "defaults name catalogue ids");
  return 0;
}
