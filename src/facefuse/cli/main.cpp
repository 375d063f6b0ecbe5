// facefuse: the command-line program. Thin: each verb parses its flags into the library's job
// objects and calls the library (DESIGN.md §1).
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "facefuse/cli/commands.h"
#include "facefuse/core/error_codes.h"
#include "facefuse/core/out_of_memory.h"

namespace {

// A process started with stdin, stdout or stderr closed (`>&-`, some service managers) would hand
// those numbers to the next files it opens: the job store or serve.lock would then receive what is
// printed to "stdout" (the one-time admin key once landed in serve.lock). Pointing the closed ones
// at /dev/null first keeps every later open() off 0–2; `serve` sees that stdout is /dev/null and
// prints the admin key on stderr instead (server/serve.cpp).
void occupy_closed_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1) continue;
    int null_fd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null_fd >= 0 && null_fd != fd) {
      dup2(null_fd, fd);
      close(null_fd);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  occupy_closed_standard_descriptors();
  // A reader that goes away (`facefuse run ... 2>&1 | head`, a client closing its socket) must not
  // kill the process with SIGPIPE mid-run: writes then fail with EPIPE, which every writer handles
  // (progress lines are dropped, sockets are closed), and the run finishes or cancels cleanly.
  std::signal(SIGPIPE, SIG_IGN);
  // This translation unit is compiled without AVX2 so the check runs before any AVX2 code does.
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "facefuse: this build needs an x86-64-v3 CPU (AVX2 + FMA); rebuild with "
                         "-DFACEFUSE_SIMD_FLAGS=\"\" for older CPUs\n");
    return facefuse::kExitProcessingFailure;
  }
  try {
    return facefuse::cli::run_cli(argc, argv);
  } catch (const std::bad_alloc&) {
    // Unwinding has removed the run's temporary files; this is a resource failure (exit 1), not
    // bad input.
    std::fprintf(stderr, "facefuse: error: %s\n", facefuse::out_of_memory("running facefuse").message().c_str());
    return facefuse::kExitProcessingFailure;
  }
}
