// API keys (DESIGN.md §5.2): generation, hashing for storage, verification and scopes. Keys are
// shown to their owner once and only their SHA-256 is stored (by the job store, not here): a key
// has 256 random bits, so an unsalted fast hash is enough and lets the store look a key up by
// its hash. All functions are thread-safe.
//
// Key format: "ff_" followed by 52 lowercase RFC 4648 base32 characters (32 random bytes, no
// padding), e.g. ff_7mx2...; 55 characters in all.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "facefuse/core/status.h"

namespace facefuse::server {

enum class Scope : unsigned {
  kSubmit = 1u << 0,  // create and cancel jobs, upload
  kRead = 1u << 1,    // read jobs, events and media
  kAdmin = 1u << 2,   // manage keys; implies every other scope (see Scopes::allows)
};

// A set of scopes. Text form: comma-separated names in the order submit,read,admin.
class Scopes {
 public:
  Scopes() = default;
  Scopes(std::initializer_list<Scope> scopes);
  // Exactly the granted scopes.
  bool has(Scope scope) const { return (bits_ & static_cast<unsigned>(scope)) != 0; }
  // What an authorisation check asks: `needed` was granted, or admin was.
  bool allows(Scope needed) const { return has(needed) || has(Scope::kAdmin); }
  void add(Scope scope) { bits_ |= static_cast<unsigned>(scope); }
  bool empty() const { return bits_ == 0; }
  bool operator==(const Scopes&) const = default;

 private:
  unsigned bits_ = 0;
};

// "submit,read" → {submit, read}. Names are case-sensitive; blanks around names are ignored;
// duplicates are allowed. Empty text, empty names and unknown names are invalid_argument.
Result<Scopes> parse_scopes(std::string_view text);
// Canonical text form, e.g. "submit,read,admin"; "" for no scopes.
std::string format_scopes(const Scopes& scopes);

// One key as the job store keeps it.
struct ApiKey {
  std::string id;        // public handle for listing/revoking: "key_" + 16 lowercase hex
  std::string tenant;    // the key sees only this tenant's jobs and media
  Scopes scopes;
  std::string hash;      // hash_api_key(plaintext)
  std::int64_t created_at = 0;  // Unix seconds
};

// A freshly generated key: `plaintext` is shown once, `record` is what gets stored.
struct IssuedApiKey {
  ApiKey record;
  std::string plaintext;
};

// A new random key in the format above; unavailable when the system random generator fails.
Result<std::string> generate_api_key();
// Generates a key and its record for `tenant` (non-empty) with `scopes` (non-empty).
Result<IssuedApiKey> issue_api_key(std::string tenant, Scopes scopes, std::int64_t created_at);
// Lowercase hex SHA-256 of the key text, the form in which keys are stored and looked up.
std::string hash_api_key(std::string_view key);
// Whether `key` has the format above (a cheap check before any lookup).
bool is_well_formed_api_key(std::string_view key);
// Whether `key` hashes to `stored_hash`, compared in constant time.
bool api_key_matches(std::string_view key, std::string_view stored_hash);

}  // namespace facefuse::server
