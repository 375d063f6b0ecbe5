// Generated stand-ins for FaceFusion's detector and 2dfan4 models (tests/tools/
// make_detector_fixtures.py), written once per test process under the build tree, and the layout
// the script recorded for them (fixtures.json). Header-only, shared by the face and cli tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace facefuse::testing {

// The fixture directory (models + fixtures.json); fails the test if the script fails.
inline std::filesystem::path detector_fixtures_dir() {
  static const std::filesystem::path dir =
      std::filesystem::path(FACEFUSE_BINARY).parent_path().parent_path() / "test_fixtures" / "detectors";
  static std::once_flag once;
  static int exit_code = -1;
  std::call_once(once, [] {
    const std::string command = "/usr/bin/python3 '" FACEFUSE_SOURCE_DIR "/tests/tools/make_detector_fixtures.py' '" +
                                dir.string() + "'";
    exit_code = std::system(command.c_str());
  });
  EXPECT_EQ(exit_code, 0) << "make_detector_fixtures.py failed (needs Debian's python3-onnx and python3-numpy)";
  return dir;
}

inline nlohmann::json detector_fixture_layout() {
  std::ifstream in(detector_fixtures_dir() / "fixtures.json");
  return nlohmann::json::parse(in);
}

}  // namespace facefuse::testing
