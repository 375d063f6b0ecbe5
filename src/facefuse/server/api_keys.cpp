#include "facefuse/server/api_keys.h"

#include <array>
#include <utility>

#include "facefuse/storage/crypto.h"

namespace facefuse::server {
namespace {

constexpr std::string_view kKeyPrefix = "ff_";
constexpr std::size_t kKeyRandomBytes = 32;
constexpr std::size_t kKeyBase32Chars = (kKeyRandomBytes * 8 + 4) / 5;  // 52
constexpr std::string_view kBase32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::size_t kKeyIdRandomBytes = 8;

constexpr std::array<std::pair<std::string_view, Scope>, 3> kScopeNames = {{
    {"submit", Scope::kSubmit},
    {"read", Scope::kRead},
    {"admin", Scope::kAdmin},
}};

// RFC 4648 base32 without padding, lowercase.
std::string base32_encode(std::string_view bytes) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 0x1f]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 0x1f]);
  return out;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Scopes::Scopes(std::initializer_list<Scope> scopes) {
  for (Scope s : scopes) add(s);
}

Result<Scopes> parse_scopes(std::string_view text) {
  Scopes scopes;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view name = trim_blanks(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    bool known = false;
    for (const auto& [scope_name, scope] : kScopeNames) {
      if (name == scope_name) {
        scopes.add(scope);
        known = true;
      }
    }
    if (!known) {
      return invalid_argument("unknown scope '" + std::string(name) + "' in '" + std::string(text) +
                              "'; use a comma-separated list of submit, read, admin");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return scopes;
}

std::string format_scopes(const Scopes& scopes) {
  std::string out;
  for (const auto& [name, scope] : kScopeNames) {
    if (!scopes.has(scope)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

Result<std::string> generate_api_key() {
  FF_ASSIGN_OR_RETURN(const std::string bytes, storage::random_bytes(kKeyRandomBytes));
  return std::string(kKeyPrefix) + base32_encode(bytes);
}

Result<IssuedApiKey> issue_api_key(std::string tenant, Scopes scopes, std::int64_t created_at) {
  if (tenant.empty()) return invalid_argument("an API key needs a tenant; give a non-empty tenant name");
  if (scopes.empty()) return invalid_argument("an API key needs at least one scope (submit, read, admin)");
  FF_ASSIGN_OR_RETURN(std::string plaintext, generate_api_key());
  FF_ASSIGN_OR_RETURN(const std::string id_bytes, storage::random_bytes(kKeyIdRandomBytes));
  IssuedApiKey issued;
  issued.record.id = "key_" + storage::hex_encode(id_bytes);
  issued.record.tenant = std::move(tenant);
  issued.record.scopes = scopes;
  issued.record.hash = hash_api_key(plaintext);
  issued.record.created_at = created_at;
  issued.plaintext = std::move(plaintext);
  return issued;
}

std::string hash_api_key(std::string_view key) { return storage::sha256_hex(key); }

bool is_well_formed_api_key(std::string_view key) {
  if (key.size() != kKeyPrefix.size() + kKeyBase32Chars || !key.starts_with(kKeyPrefix)) return false;
  key.remove_prefix(kKeyPrefix.size());
  return key.find_first_not_of(kBase32Alphabet) == std::string_view::npos;
}

bool api_key_matches(std::string_view key, std::string_view stored_hash) {
  return storage::constant_time_equal(hash_api_key(key), stored_hash);
}

}  // namespace facefuse::server
