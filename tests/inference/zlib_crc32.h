// The reference CRC32 of FaceFusion's .hash files for the catalogue and downloader tests: zlib's
// own crc32, independent of facefuse's file_crc32.
#pragma once

#include <cstdio>
#include <string>

#include <zlib.h>

namespace facefuse::testing {

inline std::string zlib_crc32_hex(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", crc);
  return hex;
}

}  // namespace facefuse::testing
