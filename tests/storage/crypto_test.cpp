#include <gtest/gtest.h>

#include <set>

#include "facefuse/storage/crypto.h"

namespace facefuse::storage {
namespace {

TEST(Crypto, Sha256MatchesTheFipsVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, IncrementalSha256EqualsOneShotAndRestarts) {
  Sha256 sha;
  sha.update("ab");
  sha.update("");
  sha.update("c");
  EXPECT_EQ(sha.finish_hex(), sha256_hex("abc"));
  sha.update("abc");
  EXPECT_EQ(sha.finish_hex(), sha256_hex("abc"));
}

TEST(Crypto, HmacSha256MatchesRfc4231) {
  // RFC 4231 test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_NE(hmac_sha256_hex("Jefe", "what do ya want for nothing!"),
            hmac_sha256_hex("Jefe", "what do ya want for nothing?"));
}

TEST(Crypto, ConstantTimeEqualComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("abcdef", "abcdef"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("abcdef", "abcdeF"));
  EXPECT_FALSE(constant_time_equal("Abcdef", "abcdef"));
  EXPECT_FALSE(constant_time_equal("abcdef", "abcde"));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(Crypto, RandomBytesHaveTheLengthAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 16; ++i) {
    auto bytes = random_bytes(32);
    ASSERT_TRUE(bytes) << bytes.status().to_string();
    EXPECT_EQ(bytes->size(), 32u);
    seen.insert(*bytes);
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(hex_encode(std::string("\x00\x7f\xff", 3)), "007fff");
}

}  // namespace
}  // namespace facefuse::storage
