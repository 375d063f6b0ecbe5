// What every benchmark prints about the machine it ran on, and the statistics they share.
// Header-only: the bench executables share no library of their own.
#pragma once

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace facefuse::bench {

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
