#include "support/s3_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace facefuse::testing {

namespace fs = std::filesystem;

S3Server::S3Server(std::vector<std::string> buckets) : buckets_(std::move(buckets)) {
  std::string pattern = (fs::temp_directory_path() / "facefuse-s3rver-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  directory_ = pattern;
  if (!start()) ADD_FAILURE() << "the S3 test server (tests/s3server/serve.js) did not start: run scripts/setup "
                                 "(npm ci in tests/s3server)";
}

S3Server::~S3Server() {
  stop();
  std::error_code ec;
  if (!directory_.empty()) fs::remove_all(directory_, ec);
}

bool S3Server::start() {
  if (pid_ > 0) return true;
  int out[2];
  if (pipe(out) != 0) return false;
  const std::string script = std::string(FACEFUSE_SOURCE_DIR) + "/tests/s3server/serve.js";
  // --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens with DES, which
  // OpenSSL 3 keeps in its legacy provider (without it every truncated listing is a 500).
  std::vector<std::string> args{"node", "--openssl-legacy-provider", script, "--directory", directory_.string(),
                                "--port", std::to_string(port_)};
  for (const auto& bucket : buckets_) {
    args.push_back("--bucket");
    args.push_back(bucket);
  }
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("node", argv.data());
    _exit(127);
  }
  close(out[1]);
  // Node takes a few seconds to load s3rver on a busy machine.
  pollfd ready{out[0], POLLIN, 0};
  int port = 0;
  if (poll(&ready, 1, 60'000) == 1) {
    FILE* from_server = fdopen(out[0], "r");
    if (from_server != nullptr && std::fscanf(from_server, "PORT %d", &port) != 1) port = 0;
    if (from_server != nullptr) std::fclose(from_server);
  } else {
    close(out[0]);
  }
  if (port <= 0) {
    stop();
    return false;
  }
  port_ = port;
  return true;
}

void S3Server::stop() {
  if (pid_ <= 0) return;
  // SIGKILL: a crash, not a graceful close that would let open keep-alive connections finish.
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string S3Server::aws_cli() const {
  return "AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null "
         "AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true " +
         std::string(kAwsCli) + " --endpoint-url " + endpoint() + " ";
}

storage::S3Options S3Server::options() const {
  storage::S3Options o;
  o.endpoint = endpoint();
  o.region = "us-east-1";
  o.addressing = storage::S3Addressing::kPath;
  o.credentials = storage::AwsCredentials{"S3RVER", "S3RVER", ""};
  o.backoff_base = std::chrono::milliseconds(10);
  o.backoff_cap = std::chrono::milliseconds(100);
  o.max_attempts = 4;
  o.part_size = int64_t{5} << 20;
  return o;
}

}  // namespace facefuse::testing
