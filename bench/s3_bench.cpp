// S3 put/get throughput of S3BlobStore against Debian's `aws s3 cp` of the same file to the same
// S3 test server (@20minutes/s3rver on loopback, started here), as a ratio (issue 13 goal ≥ 0.9×),
// and this process's peak RSS after a small and after a large object (goal: flat — bodies stream).
//
//   facefuse_bench_s3 [--mb 200] [--small-mb 20]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "facefuse/storage/s3_blob_store.h"
#include "support/s3_server.h"
#include "support/test_support.h"

namespace fs = std::filesystem;
using facefuse::storage::S3BlobStore;
using facefuse::testing::write_pseudo_random_file;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

long peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;  // ru_maxrss is KiB on Linux
}

// Seconds `command` took, or -1 when it failed.
double timed(const std::string& command) {
  const auto start = std::chrono::steady_clock::now();
  const int rc = std::system(command.c_str());
  return rc == 0 ? seconds_since(start) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  int mb = 200;
  int small_mb = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--mb") == 0) mb = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--small-mb") == 0) small_mb = std::atoi(argv[i + 1]);
  }
  facefuse::testing::S3Server server({"bench"});
  if (server.port() == 0) {
    std::fprintf(stderr, "the S3 test server did not start: run scripts/setup\n");
    return 1;
  }
  const fs::path dir = server.directory().parent_path() / fmt::format("facefuse-s3-bench-{}", server.port());
  fs::create_directories(dir);
  auto options = server.options();
  options.part_size = int64_t{16} << 20;  // the serve default
  auto store = S3BlobStore::open("bench", "b", options);
  if (!store.is_ok()) return 1;

  std::printf("S3 test server: s3rver on 127.0.0.1 (loopback); part size 16 MiB; objects %d MiB and %d MiB\n", small_mb,
              mb);
  write_pseudo_random_file(dir / "small.bin", small_mb);
  if (!(*store)->put_file("small.bin", dir / "small.bin").is_ok() ||
      !(*store)->get_file("small.bin", dir / "small.back").is_ok()) {
    return 1;
  }
  const long rss_small = peak_rss_mib();

  write_pseudo_random_file(dir / "big.bin", mb);
  auto start = std::chrono::steady_clock::now();
  if (!(*store)->put_file("big.bin", dir / "big.bin").is_ok()) return 1;
  const double ours_put = seconds_since(start);
  start = std::chrono::steady_clock::now();
  if (!(*store)->get_file("big.bin", dir / "big.back").is_ok()) return 1;
  const double ours_get = seconds_since(start);
  const long rss_big = peak_rss_mib();

  const std::string aws = server.aws_cli() + "s3 cp --only-show-errors ";
  const double aws_put = timed(aws + (dir / "big.bin").string() + " s3://bench/aws/big.bin");
  const double aws_get = timed(aws + "s3://bench/aws/big.bin " + (dir / "aws.back").string());

  std::printf("\n| step | facefuse s | aws s3 cp s | MiB/s facefuse | ratio (aws time / ours) |\n|---|---|---|---|---|\n");
  std::printf("| put %d MiB | %.2f | %.2f | %.1f | %.2f |\n", mb, ours_put, aws_put, mb / ours_put, aws_put / ours_put);
  std::printf("| get %d MiB | %.2f | %.2f | %.1f | %.2f |\n", mb, ours_get, aws_get, mb / ours_get, aws_get / ours_get);
  std::printf("\npeak RSS of this process: %ld MiB after %d MiB objects, %ld MiB after %d MiB objects\n", rss_small,
              small_mb, rss_big, mb);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
