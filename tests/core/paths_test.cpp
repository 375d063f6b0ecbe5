#include <gtest/gtest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>

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

// Sets an environment variable for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) setenv(name, value->c_str(), 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1); else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Issue 11 item 6: with HOME unset (a root systemd unit without User=) everything fell back to
// /tmp/.local/share/facefuse, a directory any user could plant beforehand.
TEST(Paths, UnsetOrEmptyHomeFallsBackToThePasswdEntryNeverTmp) {
  const passwd* pw = getpwuid(geteuid());
  ASSERT_NE(pw, nullptr);
  ScopedEnv no_facefuse_home("FACEFUSE_HOME", std::nullopt);
  ScopedEnv no_models("FACEFUSE_MODELS_DIR", std::nullopt);
  ScopedEnv no_cache("FACEFUSE_CACHE", std::nullopt);
  for (std::optional<std::string> home : {std::optional<std::string>(), std::optional<std::string>("")}) {
    ScopedEnv h("HOME", home);
    EXPECT_EQ(user_home(), fs::path(pw->pw_dir));
    EXPECT_EQ(facefuse_home(), fs::path(pw->pw_dir) / ".local/share/facefuse");
    EXPECT_EQ(facefuse_cache(), fs::path(pw->pw_dir) / ".cache/facefuse");
    EXPECT_EQ(user_models_dir(), fs::path(pw->pw_dir) / ".local/share/facefuse/models");
  }
  ScopedEnv h("HOME", "/srv/someone");
  EXPECT_EQ(facefuse_home(), fs::path("/srv/someone/.local/share/facefuse"));
}

TEST(Paths, PrivateDirectoryIsCreatedOwnerOnly) {
  TempDir dir;
  const fs::path data = dir / "a/b/data";
  ASSERT_TRUE(check_private_directory(data, "data directory").is_ok());
  struct stat st {};
  ASSERT_EQ(stat(data.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(check_private_directory(data, "data directory").is_ok()) << "an existing private directory is fine";
  chmod(data.c_str(), 0755);
  EXPECT_TRUE(check_private_directory(data, "data directory").is_ok()) << "readable by others is the owner's choice";
}

TEST(Paths, DirectoryWritableByOthersOrGroupIsRefused) {
  TempDir dir;
  for (mode_t mode : {0777, 0770, 0703}) {
    const fs::path data = dir / ("d" + std::to_string(mode));
    fs::create_directories(data);
    chmod(data.c_str(), mode);
    Status s = check_private_directory(data, "data directory");
    ASSERT_FALSE(s.is_ok()) << std::oct << mode;
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("chmod go-w " + data.string()), std::string::npos) << s.message();
  }
}

TEST(Paths, DirectoryOwnedByAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  TempDir dir;
  const fs::path planted = dir / "planted";
  fs::create_directories(planted);
  chmod(planted.c_str(), 0700);
  ASSERT_EQ(chown(planted.c_str(), 65534, 65534), 0);
  Status s = check_private_directory(planted, "data directory");
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("owned by user id 65534"), std::string::npos) << s.message();
}

TEST(Paths, NotADirectoryOrNoHomeAtAllIsRefused) {
  TempDir dir;
  std::ofstream(dir / "file") << "x";
  Status file = check_private_directory(dir / "file", "data directory");
  EXPECT_NE(file.message().find("not a directory"), std::string::npos) << file.message();
  Status empty = check_private_directory({}, "data directory");
  EXPECT_NE(empty.message().find("set HOME or FACEFUSE_HOME"), std::string::npos) << empty.message();
}

TEST(Paths, ErrorsOnTheDirectoryCarryTheErrnoReason) {
  TempDir dir;
  std::ofstream(dir / "file") << "x";
  Status under_file = check_private_directory(dir / "file" / "sub", "data directory");
  EXPECT_NE(under_file.message().find("Not a directory (errno 20)"), std::string::npos) << under_file.message();
}

TEST(Paths, PermissionDeniedCarriesTheErrnoReason) {
  if (geteuid() == 0) GTEST_SKIP() << "root is never denied: the EACCES case needs another user";
  TempDir dir;
  chmod(dir.path().c_str(), 0500);
  Status s = check_private_directory(dir / "sub", "data directory");
  chmod(dir.path().c_str(), 0700);
  EXPECT_NE(s.message().find("Permission denied (errno 13)"), std::string::npos) << s.message();
}

TEST(Paths, ErrnoTextNamesTheReasonAndNumber) {
  EXPECT_EQ(errno_text(EACCES), "Permission denied (errno 13)");
  EXPECT_EQ(errno_text(ENAMETOOLONG), "File name too long (errno 36)");
}

}  // namespace
}  // namespace facefuse
