// Upload display names: always valid UTF-8, cut at a character boundary, never a path. Regression
// for issue 10 item 7: an invalid or cut filename made the JSON answer throw after the upload was
// stored (500 and an orphaned upload).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "facefuse/storage/display_name.h"

namespace facefuse::storage {
namespace {

// Whether nlohmann can serialise `s` (it throws type_error 316 on invalid UTF-8).
bool serialisable(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

TEST(DisplayName, KeepsTheLastPathComponentOnly) {
  EXPECT_EQ(sanitize_display_name("photo.jpg"), "photo.jpg");
  EXPECT_EQ(sanitize_display_name("C:\\Users\\me\\photo.jpg"), "photo.jpg");
  EXPECT_EQ(sanitize_display_name("../../etc/passwd"), "passwd");
  EXPECT_EQ(sanitize_display_name("dir/"), "upload") << "nothing left: a neutral name";
  EXPECT_EQ(sanitize_display_name(""), "upload");
}

TEST(DisplayName, InvalidUtf8IsReplacedAndControlsDropped) {
  const std::string invalid = "bad\xff\xfe name\xc0\xae.png";  // stray bytes and an overlong '.'
  ASSERT_FALSE(serialisable(invalid));
  const std::string name = sanitize_display_name(invalid);
  EXPECT_TRUE(serialisable(name)) << name;
  EXPECT_EQ(name, "bad\xEF\xBF\xBD\xEF\xBF\xBD name\xEF\xBF\xBD\xEF\xBF\xBD.png");
  EXPECT_EQ(sanitize_display_name("a\r\nb\x1b[31m\x7f.jpg"), "ab[31m.jpg");
  EXPECT_EQ(sanitize_display_name("\xed\xa0\x80.jpg"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD.jpg") << "a UTF-16 surrogate";
  EXPECT_EQ(sanitize_display_name("caf\xc3\xa9 \xf0\x9f\x99\x82.jpg"), "caf\xc3\xa9 \xf0\x9f\x99\x82.jpg") << "valid text is kept";
}

TEST(DisplayName, CutAtACharacterBoundary) {
  std::string long_name;
  for (int i = 0; i < 100; ++i) long_name += "\xc3\xa9";  // é, 2 bytes: 200 bytes
  long_name = "x" + long_name;                              // 201 bytes: byte 200 is inside an é
  const std::string cut = sanitize_display_name(long_name);
  EXPECT_EQ(cut.size(), 199u) << "the é that would straddle the limit is left out whole";
  EXPECT_TRUE(serialisable(cut));
  EXPECT_EQ(sanitize_display_name(std::string(500, 'a')).size(), 200u);
  EXPECT_EQ(sanitize_display_name("\xf0\x9f\x99\x82\xf0\x9f\x99\x82", 6), "\xf0\x9f\x99\x82");
}

}  // namespace
}  // namespace facefuse::storage
