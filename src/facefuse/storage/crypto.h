// Digests, MACs and randomness for the service (upload checksums, API key hashes, webhook
// signatures), on OpenSSL's EVP interface. All functions are thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "facefuse/core/status.h"

namespace facefuse::storage {

// Lowercase hex of every byte of `bytes` (two characters per byte).
std::string hex_encode(std::string_view bytes);

// Incremental SHA-256, for data that arrives in pieces (streamed uploads). Not thread-safe for
// one instance.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  // Lowercase hex digest (64 characters); the instance then starts over empty.
  std::string finish_hex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// Lowercase hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

// Raw HMAC-SHA256 of `data` under `key` (32 bytes), e.g. for chained keys (SigV4's signing key).
std::string hmac_sha256(std::string_view key, std::string_view data);

// Lowercase hex HMAC-SHA256 of `data` under `key` (64 characters).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Equality whose running time depends only on the lengths, not on where the contents differ, for
// comparing secrets and their digests. Different lengths are unequal (lengths are not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

// `count` bytes from OpenSSL's CSPRNG; unavailable when it cannot be seeded.
Result<std::string> random_bytes(std::size_t count);

}  // namespace facefuse::storage
