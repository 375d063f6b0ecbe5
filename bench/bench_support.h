// What every benchmark prints about the machine it ran on, and the statistics they share.
// Header-only: the bench executables share no library of their own.
#pragma once

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace facefuse::bench {

// The benches that take TESTDATA_DIR first: with no arguments, or an option where the directory
// should be, they print `usage` (printf format, %s = the program) instead of reading files under
// "--help/"; -h/--help is a request (stdout, exit 0), anything else a mistake (stderr, exit 2).
// Returns the exit code to leave with, or -1 to go on.
inline int usage_exit(int argc, char** argv, const char* usage) {
  if (argc >= 2 && argv[1][0] != '-') return -1;
  const bool asked = argc >= 2 && (std::string_view(argv[1]) == "-h" || std::string_view(argv[1]) == "--help");
  std::fprintf(asked ? stdout : stderr, usage, argv[0]);
  return asked ? 0 : 2;
}

// The CPU's "model name" from /proc/cpuinfo ("unknown CPU" where there is none).
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// Median of v (the mean of the two middle values for an even count); 0 for an empty v.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

}  // namespace facefuse::bench
