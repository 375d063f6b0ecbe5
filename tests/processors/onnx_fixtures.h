// Generated ONNX fixture models (tests/tools/make_swapper_fixtures.py) for the model-based
// processors' tests: small models with FaceFusion's signatures whose outputs are known functions
// of their inputs. Generated once per test process under the build tree.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "facefuse/face/face_analyser.h"
#include "facefuse/processors/processor.h"
#include "facefuse/processors/registry.h"
#include "support/test_support.h"

namespace facefuse::testing {

// The fixture models directory (with the default models linked in, so a whole job runs from it).
inline const std::filesystem::path& onnx_fixtures_dir() {
  static const std::filesystem::path dir = [] {
    const auto out = std::filesystem::path(FACEFUSE_BINARY).parent_path().parent_path() / "test_fixtures" / "onnx_models";
    const std::string command = "/usr/bin/python3 '" + std::string(FACEFUSE_SOURCE_DIR) +
                                "/tests/tools/make_swapper_fixtures.py' --out '" + out.string() + "' --link-models '" +
                                models_dir().string() + "'";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return out;
  }();
  return dir;
}

// fixtures.json: k, converter_offset, enhancer_offset, codeformer_weight_gain, arcface_w, arcface_b.
inline const nlohmann::json& onnx_fixture_data() {
  static const nlohmann::json data = nlohmann::json::parse(std::ifstream(onnx_fixtures_dir() / "fixtures.json"));
  return data;
}

// inswapper's EMAP as the generator wrote it beside the model (float32, 512×512 row-major).
inline std::vector<float> fixture_emap() {
  std::vector<float> emap(512 * 512);
  std::ifstream in(onnx_fixtures_dir() / "inswapper_emap.f32", std::ios::binary);
  in.read(reinterpret_cast<char*>(emap.data()), static_cast<std::streamsize>(emap.size() * sizeof(float)));
  EXPECT_TRUE(in) << "inswapper_emap.f32 unreadable";
  return emap;
}

// One analyser over the fixture directory for the whole test process.
inline const face::FaceAnalyser& fixture_analyser() {
  static const std::unique_ptr<face::FaceAnalyser> analyser = [] {
    face::FaceAnalyserOptions options;
    options.models_dir = onnx_fixtures_dir();
    auto opened = face::FaceAnalyser::open(options);
    EXPECT_TRUE(opened) << opened.status().to_string();
    return opened ? std::move(*opened) : nullptr;
  }();
  return *analyser;
}

// A processor context for `processor` with `options` validated and defaulted like a job's.
inline processors::ProcessorContext fixture_context(const std::string& processor, const nlohmann::json& options,
                                                    const std::vector<std::string>& sources = {"photos/astronaut.png"}) {
  processors::ProcessorContext context;
  context.models_dir = onnx_fixtures_dir();
  context.analyser = &fixture_analyser();
  for (const auto& s : sources) {
    context.source_images.push_back(load_photo(s));
    context.source_names.push_back(s);
  }
  const std::vector<std::string> names = {processor};
  auto validated = processors::validate_options(names, options);
  EXPECT_TRUE(validated) << validated.status().to_string();
  if (validated) context.options = *validated;
  return context;
}

}  // namespace facefuse::testing
