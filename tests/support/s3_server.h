// The S3-compatible test server: tests/s3server/serve.js (@20minutes/s3rver, npm ci'd by
// scripts/setup) on a free 127.0.0.1 port with a temporary data directory and the given buckets,
// stopped (and its directory removed) when the object goes away. It verifies SigV4 signatures;
// credentials are its built-in S3RVER / S3RVER pair. Not thread-safe: one test thread owns it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "facefuse/storage/s3_options.h"

namespace facefuse::testing {

class S3Server {
 public:
  // When the server does not start within a minute the current test fails and port() is 0.
  explicit S3Server(std::vector<std::string> buckets = {"facefuse-test"});
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& directory() const { return directory_; }

  // Options for a store on this server: endpoint, path-style addressing, the server's credentials,
  // fast retries (tests do not wait seconds for backoff).
  storage::S3Options options() const;

  // Debian's awscli (an independent S3 client; not a pyenv shim), and a shell command prefix that runs
  // it against this server with the server's credentials and no other configuration: append
  // "s3 cp A B" and the like.
  static constexpr const char* kAwsCli = "/usr/bin/aws";
  std::string aws_cli() const;

  // Kills the server (SIGKILL, like a crash); start() brings it back on the same port with the same data.
  void stop();
  bool start();

 private:
  std::vector<std::string> buckets_;
  std::filesystem::path directory_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace facefuse::testing
