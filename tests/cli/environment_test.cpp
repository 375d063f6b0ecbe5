// End-to-end tests of facefuse in the environments users run it in (issue 11): fresh HOME, TMPDIR
// and working directory (no stray files: ONNX Runtime's telemetry), real signals on real runs
// (SIGHUP from a closed terminal, SIGPIPE from `| head`), `serve` drained by SIGHUP, data
// directories another user owns or can write to, HOME unset, stdout closed, over-long paths.
// Each test starts the real executable with fork/exec so it controls the environment, the working
// directory, the standard descriptors and the signals.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace facefuse::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;

// A facefuse process with its own environment, working directory and output files.
class Child {
 public:
  struct Options {
    std::vector<std::string> args;
    std::map<std::string, std::optional<std::string>> env;  // nullopt: unset
    fs::path cwd;
    fs::path stdout_path, stderr_path;  // empty: inherit
    bool close_stdout = false;
    int stderr_fd = -1;  // >= 0: this descriptor becomes the child's stderr
  };

  explicit Child(const Options& o) {
    pid_ = fork();
    if (pid_ != 0) return;
    if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) _exit(120);
    for (const auto& [name, value] : o.env) {
      if (value) setenv(name.c_str(), value->c_str(), 1); else unsetenv(name.c_str());
    }
    auto redirect = [](const fs::path& path, int fd) {
      if (path.empty()) return;
      int f = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (f < 0 || dup2(f, fd) < 0) _exit(121);
      close(f);
    };
    redirect(o.stdout_path, STDOUT_FILENO);
    redirect(o.stderr_path, STDERR_FILENO);
    if (o.stderr_fd >= 0) dup2(o.stderr_fd, STDERR_FILENO);
    if (o.close_stdout) close(STDOUT_FILENO);
    // The test runner may ignore or block signals; the child must start with defaults.
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv{const_cast<char*>(FACEFUSE_BINARY)};
    for (const auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(FACEFUSE_BINARY, argv.data());
    _exit(127);
  }
  ~Child() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      wait();
    }
  }

  void signal_it(int number) { ASSERT_EQ(kill(pid_, number), 0); }

  // Raw waitpid status.
  int wait() {
    if (!waited_) {
      waitpid(pid_, &status_, 0);
      waited_ = true;
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool waited_ = false;
};

std::string describe(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exit code " + std::to_string(WEXITSTATUS(status));
}

// Every path under `dir` (recursive), relative, with a trailing '/' for directories.
std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    out.insert(fs::relative(it->path(), dir).string() + (it->is_directory() ? "/" : ""));
  }
  return out;
}

std::string joined(const std::set<std::string>& names) {
  std::string text;
  for (const auto& n : names) text += "  " + n + "\n";
  return text;
}

// Polls `ready` every 20 ms for up to `limit`.
bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return ready();
}

// A fresh HOME, TMPDIR and working directory, plus an output directory: the process must leave
// nothing in the first three.
struct FreshEnvironment {
  TempDir home, tmp, cwd, out;
  std::map<std::string, std::optional<std::string>> env() const {
    return {{"HOME", home.path().string()},
            {"TMPDIR", tmp.path().string()},
            {"XDG_CACHE_HOME", std::nullopt},
            {"FACEFUSE_HOME", std::nullopt},
            // The models installed by scripts/setup (a fresh HOME has none).
            {"FACEFUSE_MODELS_DIR", models_dir().string()}};
  }
  void expect_untouched() const {
    for (const auto* dir : {&home, &tmp, &cwd}) {
      EXPECT_TRUE(listing(dir->path()).empty()) << "files left in " << dir->path() << ":\n" << joined(listing(dir->path()));
    }
  }
};

std::string source_photo() { return testdata("photos/astronaut.png").string(); }

// ---- ONNX Runtime telemetry (issue 11 item 3) ----

TEST(NoStrayFiles, RunAndDetectLeaveNothingOutsideTheirOutput) {
  FreshEnvironment e;
  const std::vector<std::vector<std::string>> commands = {
      {"run", "-s", source_photo(), "-t", testdata("dlib_faces/Tom_Cruise_avp_2014_4.jpg").string(), "-o",
       (e.out / "swap.jpg").string()},
      {"run", "-s", source_photo(), "-t", testdata("videos/talking_head_640x480.mp4").string(), "-o",
       (e.out / "swap.mp4").string(), "--trim-frame-end", "8", "--output-video-preset", "ultrafast"},
      {"detect", testdata("photos/jesper.jpg").string()},
      {"detect", testdata("videos/face_720p.mp4").string(), "--frame", "5"},
  };
  TempDir logs;
  for (const auto& args : commands) {
    Child child({args, e.env(), e.cwd.path(), logs / "stdout", logs / "stderr"});
    const int status = child.wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kExitOk)
        << args[0] << ": " << describe(status) << "\n" << read_file_bytes(logs / "stderr");
  }
  e.expect_untouched();
  EXPECT_EQ(listing(e.out.path()), (std::set<std::string>{"swap.jpg", "swap.mp4"}));
}

// ---- signals (item 7) ----

// Starts a video run long enough to be interrupted and waits until it is processing frames.
struct VideoRun {
  FreshEnvironment e;
  TempDir logs;
  fs::path output = e.out / "swap.mp4";
  std::unique_ptr<Child> child;

  explicit VideoRun(int stderr_fd = -1) {
    Child::Options o{{"run", "-s", source_photo(), "-t", testdata("videos/face_720p.mp4").string(), "-o", output.string(),
                      "--processing-threads", "1"},
                     e.env(), e.cwd.path(), logs / "stdout", stderr_fd >= 0 ? fs::path() : logs / "stderr"};
    o.stderr_fd = stderr_fd;
    child = std::make_unique<Child>(o);
  }
  // The run has written its temporary video files (so an interruption has something to clean up).
  bool started() const { return !listing(e.tmp.path()).empty(); }
};

TEST(Signals, SighupDuringAVideoRunCancelsItAndRemovesItsTemporaryFiles) {
  VideoRun run;
  ASSERT_TRUE(eventually([&] { return run.started(); })) << "the run never created its temporary files";
  run.child->signal_it(SIGHUP);
  const int status = run.child->wait();
  EXPECT_FALSE(WIFSIGNALED(status)) << "SIGHUP must cancel the run, not kill it: " << describe(status);
  EXPECT_EQ(WEXITSTATUS(status), 1) << read_file_bytes(run.logs / "stderr");
  EXPECT_NE(read_file_bytes(run.logs / "stderr").find("cancel"), std::string::npos) << read_file_bytes(run.logs / "stderr");
  EXPECT_FALSE(fs::exists(run.output)) << "a cancelled run writes no output";
  run.e.expect_untouched();
}

TEST(Signals, ReaderOfStderrGoingAwayDoesNotKillTheRun) {
  // `facefuse run ... 2>&1 | head -1`: the pipe's reader is gone, every progress line fails.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  VideoRun run(fds[1]);
  close(fds[1]);
  const int status = run.child->wait();
  EXPECT_FALSE(WIFSIGNALED(status)) << "SIGPIPE killed the run: " << describe(status);
  EXPECT_EQ(WEXITSTATUS(status), kExitOk);
  EXPECT_TRUE(fs::exists(run.output)) << "the run should finish and write its output";
  run.e.expect_untouched();
}

// ---- serve: SIGHUP, data directory, admin key (items 6, 7 and weaknesses) ----

struct ServeRun {
  TempDir root, logs;
  fs::path data = root / "data";
  std::unique_ptr<Child> child;

  void start(std::vector<std::string> extra = {}, bool close_stdout = false, fs::path data_dir = {}) {
    if (!data_dir.empty()) data = data_dir;
    std::vector<std::string> args{"serve", "--listen", "127.0.0.1:0", "--data", data.string(), "--workers", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    Child::Options o{args, {{"FACEFUSE_MODELS_DIR", models_dir().string()}, {"FACEFUSE_ADMIN_KEY", std::nullopt}},
                     {}, logs / "stdout", logs / "stderr"};
    o.close_stdout = close_stdout;
    child = std::make_unique<Child>(o);
  }
  std::string out() const { return read_file_bytes(logs / "stdout"); }
  std::string err() const { return read_file_bytes(logs / "stderr"); }
  // The JSON log line {"msg":"serving",...} is on stderr whatever happens to stdout.
  bool serving() const { return err().find("\"serving\"") != std::string::npos; }
};

TEST(Serve, SighupDrainsLikeSigterm) {
  ServeRun s;
  s.start({"--no-auth"});
  ASSERT_TRUE(eventually([&] { return s.serving(); })) << s.err();
  s.child->signal_it(SIGHUP);
  const int status = s.child->wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kExitOk) << describe(status) << "\n" << s.err();
  EXPECT_NE(s.err().find("\"draining\""), std::string::npos) << s.err();
  EXPECT_NE(s.err().find("\"stopped\""), std::string::npos) << s.err();
}

TEST(Serve, RefusesADataDirectoryOthersCanWrite) {
  ServeRun s;
  fs::create_directories(s.data);
  chmod(s.data.c_str(), 0777);
  s.start({"--no-auth"});
  const int status = s.child->wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kExitBadInput) << describe(status);
  EXPECT_NE(s.err().find("chmod go-w"), std::string::npos) << s.err();
  EXPECT_TRUE(listing(s.data).empty()) << "nothing may be written into a refused directory:\n" << joined(listing(s.data));
}

TEST(Serve, RefusesADataDirectoryOwnedByAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  ServeRun s;
  fs::create_directories(s.data);
  ASSERT_EQ(chown(s.data.c_str(), 65534, 65534), 0);  // nobody
  s.start({"--no-auth"});
  const int status = s.child->wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kExitBadInput) << describe(status);
  EXPECT_NE(s.err().find("owned by user id 65534"), std::string::npos) << s.err();
  EXPECT_TRUE(listing(s.data).empty()) << joined(listing(s.data));
}

TEST(Serve, NewDataDirectoryIsPrivate) {
  ServeRun s;
  s.start({"--no-auth"});
  ASSERT_TRUE(eventually([&] { return s.serving(); })) << s.err();
  s.child->signal_it(SIGTERM);
  EXPECT_EQ(s.child->wait(), 0) << s.err();
  struct stat st {};
  ASSERT_EQ(stat(s.data.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "uploads and outputs live here: owner only";
}

TEST(Serve, AdminKeyWithStdoutClosedGoesToStderrNeverIntoTheLockFile) {
  ServeRun s;
  s.start({}, /*close_stdout=*/true);
  ASSERT_TRUE(eventually([&] { return s.serving(); })) << s.err();
  s.child->signal_it(SIGTERM);
  EXPECT_EQ(s.child->wait(), 0) << s.err();
  EXPECT_EQ(read_file_bytes(s.data / "serve.lock"), "") << "the lock file received output meant for stdout";
  const std::string err = s.err();
  const auto at = err.find("admin API key (shown only now, keep it): ff_");
  EXPECT_NE(at, std::string::npos) << "the one-time key must be shown on stderr when stdout is closed:\n" << err;
}

TEST(Serve, DataDirectoryPathOverSqlitesLimitSaysWhy) {
  ServeRun s;
  fs::path deep = s.root.path();
  while (deep.string().size() < 520) deep /= std::string(100, 'd');
  s.start({"--no-auth"}, false, deep);
  const int status = s.child->wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kExitBadInput) << describe(status) << "\n" << s.err();
  EXPECT_NE(s.err().find("SQLite opens paths of at most 504 bytes"), std::string::npos) << s.err();
}

// ---- HOME unset (item 6) ----

TEST(Home, UnsetHomeFallsBackToThePasswdEntryNeverTmp) {
  const passwd* pw = getpwuid(geteuid());
  ASSERT_NE(pw, nullptr);
  TempDir logs;
  Child child({{"models", "list", "--json"},
               {{"HOME", std::nullopt}, {"FACEFUSE_HOME", std::nullopt}, {"FACEFUSE_MODELS_DIR", std::nullopt}},
               {}, logs / "stdout", logs / "stderr"});
  ASSERT_EQ(child.wait(), 0) << read_file_bytes(logs / "stderr");
  const auto doc = nlohmann::json::parse(read_file_bytes(logs / "stdout"));
  EXPECT_EQ(doc["models_dir"], (fs::path(pw->pw_dir) / ".local/share/facefuse/models").string());
}

}  // namespace
}  // namespace facefuse::testing
