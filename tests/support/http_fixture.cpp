#include "support/http_fixture.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace facefuse::testing {

HttpFixture::HttpFixture(const std::vector<std::string>& args, const std::string& script_path) {
  int out[2];
  if (pipe(out) != 0) {
    ADD_FAILURE() << "pipe() failed";
    return;
  }
  const std::string script = std::string(FACEFUSE_SOURCE_DIR) + "/" + script_path;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv{const_cast<char*>("/usr/bin/python3"), const_cast<char*>(script.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  FILE* from_server = fdopen(out[0], "r");
  if (from_server == nullptr || std::fscanf(from_server, "PORT %d", &port_) != 1) port_ = 0;
  if (from_server != nullptr) std::fclose(from_server);  // the server prints nothing more
  if (port_ <= 0) ADD_FAILURE() << "the test HTTP server " << script << " did not start (is /usr/bin/python3 there?)";
}

HttpFixture::~HttpFixture() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
}

std::string HttpFixture::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

}  // namespace facefuse::testing
