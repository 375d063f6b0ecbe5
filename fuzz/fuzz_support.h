// Helpers shared by the fuzz targets in this folder (not a library: header-only, fuzzers only).
//
// FF_FUZZ_CHECK(condition, message) states a property every accepted input must have; a violation
// prints the message and aborts, which libFuzzer reports as a crash and saves the input.
// Threading: each fuzz process runs one input at a time; InputFile is per process.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#define FF_FUZZ_CHECK(condition, message)                                            \
  do {                                                                               \
    if (!(condition)) {                                                              \
      std::fprintf(stderr, "fuzz property violated: %s (%s)\n", #condition, message); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace facefuse::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A file holding the current input, for readers that take a path (video probe, ONNX reader): one
// per process under $TMPDIR, rewritten for every input and removed at exit.
class InputFile {
 public:
  explicit InputFile(std::string_view suffix)
      : path_(std::filesystem::temp_directory_path() /
              ("facefuse_fuzz_" + std::to_string(::getpid()) + std::string(suffix))) {}
  ~InputFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::filesystem::path& write(const uint8_t* data, size_t size) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    FF_FUZZ_CHECK(static_cast<bool>(out), "the fuzz input could not be written to $TMPDIR");
    return path_;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace facefuse::fuzz
