#include <gtest/gtest.h>

#include <fstream>

#include "facefuse/core/paths.h"
#include "support/test_support.h"

namespace facefuse {
namespace {

namespace fs = std::filesystem;
using facefuse::testing::TempDir;

void expect_refused(const fs::path& root, std::string_view relative, const std::string& reason) {
  auto r = resolve_under_root(root, relative);
  ASSERT_FALSE(r) << "accepted '" << relative << "' as " << r->string();
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(reason), std::string::npos) << r.status().message();
}

TEST(ResolveUnderRoot, PlainNamesResolveBelowTheRoot) {
  TempDir dir;
  const fs::path root = fs::canonical(dir.path());
  EXPECT_EQ(*resolve_under_root(root, "a.png"), root / "a.png");
  EXPECT_EQ(*resolve_under_root(root, "uploads/ab/cd.mp4"), root / "uploads/ab/cd.mp4");
  EXPECT_EQ(*resolve_under_root(root, "uploads/./x//y"), root / "uploads/x/y");
  // Percent signs that do not encode a traversal character are ordinary name characters.
  EXPECT_EQ(*resolve_under_root(root, "100%41ok"), root / "100%41ok");
  EXPECT_EQ(*resolve_under_root(root, "50%"), root / "50%");
  // Dots that are not a whole segment are names.
  EXPECT_EQ(*resolve_under_root(root, "..hidden/...x"), root / "..hidden/...x");
}

TEST(ResolveUnderRoot, RootNeedNotExist) {
  TempDir dir;
  const fs::path root = fs::canonical(dir.path()) / "not/yet";
  EXPECT_EQ(*resolve_under_root(root, "k"), root / "k");
  expect_refused(root, "../k", "'..'");
}

TEST(ResolveUnderRoot, RefusesAbsoluteDotDotBackslashAndNul) {
  TempDir dir;
  expect_refused(dir.path(), "", "empty");
  expect_refused(dir.path(), "/etc/passwd", "absolute");
  expect_refused(dir.path(), "..", "'..'");
  expect_refused(dir.path(), "../etc/passwd", "'..'");
  expect_refused(dir.path(), "a/../../etc/passwd", "'..'");
  expect_refused(dir.path(), "a/..", "'..'");
  expect_refused(dir.path(), "..\\etc\\passwd", "backslash");
  expect_refused(dir.path(), std::string_view("a.png\0/../../x", 14), "NUL");
  expect_refused(dir.path(), ".", "root itself");
}

TEST(ResolveUnderRoot, RefusesPercentEncodedTraversalInAnyCase) {
  TempDir dir;
  for (const char* name : {"%2e%2e/etc/passwd", "%2E%2E%2Fetc%2Fpasswd", "..%2fetc", "a%2f..%2f..%2fx", "%2e./x",
                           "..%5c..%5cx", "%5C", "a%00.png", "%252e%252e/x", "ok/%2E"}) {
    expect_refused(dir.path(), name, "percent-encoded");
  }
}

TEST(ResolveUnderRoot, RefusesSymlinksThatLeaveTheRoot) {
  TempDir dir;
  const fs::path base = fs::canonical(dir.path());
  const fs::path root = base / "data";
  fs::create_directories(root / "inside");
  fs::create_directories(base / "data2");
  std::ofstream(base / "secret.txt") << "s";
  fs::create_symlink(base / "secret.txt", root / "to_secret");
  fs::create_symlink(base, root / "to_parent");
  // A sibling whose name starts like the root is still outside it.
  fs::create_symlink(base / "data2", root / "to_sibling");
  fs::create_symlink(root / "inside", root / "to_inside");

  expect_refused(root, "to_secret", "symlink");
  expect_refused(root, "to_parent/secret.txt", "symlink");
  // Only where a name ends up counts: a detour through the parent that lands inside is inside.
  EXPECT_EQ(*resolve_under_root(root, "to_parent/data/inside/x"), root / "inside/x");
  expect_refused(root, "to_sibling/x", "symlink");
  EXPECT_EQ(*resolve_under_root(root, "to_inside/new.png"), root / "inside/new.png");
}

}  // namespace
}  // namespace facefuse
