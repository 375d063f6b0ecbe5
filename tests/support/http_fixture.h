// A local HTTP server for tests of HTTP clients: tests/support/http_fixture.py (routes listed
// there) run with Debian's /usr/bin/python3 on 127.0.0.1, stopped when the object goes away.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace facefuse::testing {

class HttpFixture {
 public:
  // `args` are passed to the script (e.g. {"--webhook-failures", "2"}); `script` (relative to the
  // source tree) may name another server printing "PORT <n>" (tests/support/fault_proxy.py). When
  // the server does not start, the current test fails and port() is 0.
  explicit HttpFixture(const std::vector<std::string>& args = {},
                       const std::string& script = "tests/support/http_fixture.py");
  ~HttpFixture();
  HttpFixture(const HttpFixture&) = delete;
  HttpFixture& operator=(const HttpFixture&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string url(const std::string& path) const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace facefuse::testing
