#include "facefuse/storage/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cassert>
#include <limits>

namespace facefuse::storage {

std::string hex_encode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
  return out;
}

// EVP calls only fail on allocation failure or a broken OpenSSL build: treated as programmer
// errors (asserted), like the allocation failures of the standard library.
struct Sha256::Context {
  Context() : ctx(EVP_MD_CTX_new()) { reset(); }
  ~Context() { EVP_MD_CTX_free(ctx); }
  void reset() {
    [[maybe_unused]] const int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    assert(ok == 1);
  }
  EVP_MD_CTX* ctx;
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {}
Sha256::~Sha256() = default;

void Sha256::update(std::string_view data) {
  [[maybe_unused]] const int ok = EVP_DigestUpdate(context_->ctx, data.data(), data.size());
  assert(ok == 1);
}

std::string Sha256::finish_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  [[maybe_unused]] const int ok = EVP_DigestFinal_ex(context_->ctx, digest, &length);
  assert(ok == 1);
  context_->reset();
  return hex_encode({reinterpret_cast<const char*>(digest), length});
}

std::string sha256_hex(std::string_view data) {
  Sha256 sha;
  sha.update(data);
  return sha.finish_hex();
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  assert(key.size() <= static_cast<std::size_t>(std::numeric_limits<int>::max()));
  [[maybe_unused]] const unsigned char* ok =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), mac, &length);
  assert(ok != nullptr);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) { return hex_encode(hmac_sha256(key, data)); }

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> random_bytes(std::size_t count) {
  std::string out(count, '\0');
  if (count > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    return unavailable("the system random generator could not produce " + std::to_string(count) +
                       " bytes (OpenSSL RAND_bytes failed); check that /dev/urandom is readable");
  }
  return out;
}

}  // namespace facefuse::storage
