// facefuse: the command-line program. Thin: each verb parses its flags into the library's job
// objects and calls the library (DESIGN.md §1).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "facefuse/cli/commands.h"
#include "facefuse/core/error_codes.h"

int main(int argc, char** argv) {
  // This translation unit is compiled without AVX2 so the check runs before any AVX2 code does.
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "facefuse: this build needs an x86-64-v3 CPU (AVX2 + FMA); rebuild with "
                         "-DFACEFUSE_SIMD_FLAGS=\"\" for older CPUs\n");
    return facefuse::kExitProcessingFailure;
  }
  return facefuse::cli::run_cli(argc, argv);
}
