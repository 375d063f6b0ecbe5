// What every benchmark prints about the machine it ran on. Header-only: the bench executables
// share no library of their own.
#pragma once

#include <fstream>
#include <string>

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

}  // namespace facefuse::bench
