#include <gtest/gtest.h>

#include <set>

#include "facefuse/server/api_keys.h"

namespace facefuse::server {
namespace {

TEST(ApiKeys, GeneratedKeysAreWellFormedAndDistinct) {
  std::set<std::string> keys;
  for (int i = 0; i < 64; ++i) {
    auto key = generate_api_key();
    ASSERT_TRUE(key) << key.status().to_string();
    EXPECT_EQ(key->size(), 55u) << *key;
    EXPECT_EQ(key->substr(0, 3), "ff_");
    EXPECT_TRUE(is_well_formed_api_key(*key)) << *key;
    keys.insert(*key);
  }
  EXPECT_EQ(keys.size(), 64u);
}

TEST(ApiKeys, WellFormedRejectsOtherShapes) {
  const std::string good = *generate_api_key();
  EXPECT_FALSE(is_well_formed_api_key(""));
  EXPECT_FALSE(is_well_formed_api_key(good.substr(0, 54)));
  EXPECT_FALSE(is_well_formed_api_key(good + "a"));
  EXPECT_FALSE(is_well_formed_api_key("xx_" + good.substr(3)));
  std::string upper = good;
  upper[10] = 'A';
  EXPECT_FALSE(is_well_formed_api_key(upper));
  std::string digit = good;
  digit[10] = '1';  // not in the base32 alphabet
  EXPECT_FALSE(is_well_formed_api_key(digit));
}

TEST(ApiKeys, HashIsSha256HexAndVerificationNeedsTheExactKey) {
  EXPECT_EQ(hash_api_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string key = *generate_api_key();
  const std::string stored = hash_api_key(key);
  EXPECT_EQ(stored.size(), 64u);
  EXPECT_EQ(stored.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_TRUE(api_key_matches(key, stored));
  std::string changed = key;
  changed.back() = changed.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(api_key_matches(changed, stored));
  EXPECT_FALSE(api_key_matches(key, stored.substr(0, 63)));
  EXPECT_FALSE(api_key_matches(key, key));  // a plaintext in the hash column never matches
}

TEST(ApiKeys, IssueProducesARecordThatVerifiesThePlaintext) {
  auto issued = issue_api_key("acme", {Scope::kSubmit, Scope::kRead}, 1700000000);
  ASSERT_TRUE(issued) << issued.status().to_string();
  EXPECT_EQ(issued->record.tenant, "acme");
  EXPECT_EQ(issued->record.created_at, 1700000000);
  EXPECT_EQ(format_scopes(issued->record.scopes), "submit,read");
  EXPECT_EQ(issued->record.id.size(), 20u);
  EXPECT_EQ(issued->record.id.substr(0, 4), "key_");
  EXPECT_TRUE(api_key_matches(issued->plaintext, issued->record.hash));
  EXPECT_EQ(issued->record.hash.find(issued->plaintext), std::string::npos);

  EXPECT_EQ(issue_api_key("", {Scope::kRead}, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(issue_api_key("acme", {}, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(ApiKeys, ScopesRoundTripInCanonicalOrder) {
  auto all = parse_scopes("admin, read ,submit");
  ASSERT_TRUE(all) << all.status().to_string();
  EXPECT_EQ(format_scopes(*all), "submit,read,admin");
  EXPECT_EQ(*parse_scopes("read,read"), Scopes{Scope::kRead});
  EXPECT_EQ(format_scopes(*parse_scopes("read")), "read");
  EXPECT_EQ(format_scopes(Scopes{}), "");
  for (const char* bad : {"", "read,", ",read", "write", "READ", "read;submit", "read,,admin"}) {
    auto parsed = parse_scopes(bad);
    ASSERT_FALSE(parsed) << "accepted '" << bad << "'";
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("submit, read, admin"), std::string::npos);
  }
}

TEST(ApiKeys, AdminAllowsEveryScopeButHasOnlyItself) {
  const Scopes admin{Scope::kAdmin};
  EXPECT_TRUE(admin.allows(Scope::kSubmit));
  EXPECT_TRUE(admin.allows(Scope::kRead));
  EXPECT_FALSE(admin.has(Scope::kRead));
  const Scopes reader{Scope::kRead};
  EXPECT_TRUE(reader.allows(Scope::kRead));
  EXPECT_FALSE(reader.allows(Scope::kSubmit));
  EXPECT_FALSE(reader.allows(Scope::kAdmin));
}

}  // namespace
}  // namespace facefuse::server
