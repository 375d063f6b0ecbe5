// Fuzzes the validators that stand between a client's text and the file system or the key store:
// storage::validate_key (object keys built from ids and file names), the API key format check,
// its hash, and the scope list parser (server/api_keys.h).
//
// Properties: no crash or UB; a key that passes validate_key is relative, 1–512 characters of
// [A-Za-z0-9._-] segments with no empty, "." or ".." segment, and stays inside the store's root
// when joined to it; a well-formed API key is "ff_" + 52 base32 characters; the hash is 64 hex
// digits; parsed scopes survive a format/parse round trip.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "facefuse/server/api_keys.h"
#include "facefuse/storage/blob_store.h"
#include "fuzz_support.h"

namespace {

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || c == '/';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = facefuse::fuzz::as_text(data, size);

  if (facefuse::storage::validate_key(text).is_ok()) {
    FF_FUZZ_CHECK(!text.empty() && text.size() <= 512, "a key has 1-512 characters");
    FF_FUZZ_CHECK(text.front() != '/' && text.back() != '/', "a key is relative with no trailing slash");
    for (char c : text) FF_FUZZ_CHECK(is_key_char(c), "a key uses [A-Za-z0-9._-/] only");
    FF_FUZZ_CHECK(text.find("//") == std::string_view::npos, "a key has no empty segment");
    const std::filesystem::path root = "/srv/facefuse/blobs";
    const std::filesystem::path joined = (root / std::string(text)).lexically_normal();
    const auto relative = joined.lexically_relative(root);
    FF_FUZZ_CHECK(!relative.empty() && *relative.begin() != "..", "a key stays inside the store's root");
    for (const auto& part : std::filesystem::path(std::string(text))) {
      FF_FUZZ_CHECK(part != "." && part != "..", "no '.' or '..' segment");
    }
  }

  if (facefuse::server::is_well_formed_api_key(text)) {
    FF_FUZZ_CHECK(text.size() == 55 && text.starts_with("ff_"), "an API key is ff_ + 52 characters");
    for (char c : text.substr(3)) {
      FF_FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'), "an API key is lowercase base32");
    }
  }
  const std::string hash = facefuse::server::hash_api_key(text);
  FF_FUZZ_CHECK(hash.size() == 64 && hash.find_first_not_of("0123456789abcdef") == std::string::npos,
                "a key hash is 64 lowercase hex digits");
  FF_FUZZ_CHECK(facefuse::server::api_key_matches(text, hash), "a key matches its own hash");

  auto scopes = facefuse::server::parse_scopes(text);
  if (scopes) {
    FF_FUZZ_CHECK(!scopes->empty(), "a parsed scope list is not empty");
    auto again = facefuse::server::parse_scopes(facefuse::server::format_scopes(*scopes));
    FF_FUZZ_CHECK(again.is_ok() && *again == *scopes, "scopes survive format + parse");
  }
  return 0;
}
