// The ONNX Runtime wrapper on the real BlazeFace model installed by setup.
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "facefuse/inference/model_catalog.h"
#include "facefuse/inference/onnx_session.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

using inference::OnnxSession;
using inference::Tensor;

std::filesystem::path blazeface_model() { return models_dir() / "blazeface_front_128.onnx"; }

TEST(OnnxSession, ReadsInputAndOutputMetadataOnce) {
  auto session = OnnxSession::open(blazeface_model());
  ASSERT_TRUE(session) << session.status().to_string();
  const auto& inputs = (*session)->inputs();
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0].shape, (std::vector<int64_t>{1, 128, 128, 3}));
  EXPECT_EQ(inputs[0].type, inference::ElementType::kFloat);
  EXPECT_EQ((*session)->outputs().size(), 4u);
}

TEST(OnnxSession, RunIsDeterministicAndThreadSafe) {
  auto session = OnnxSession::open(blazeface_model());
  ASSERT_TRUE(session);
  Tensor input = Tensor::zeros({1, 128, 128, 3});
  for (size_t i = 0; i < input.data.size(); ++i) input.data[i] = static_cast<float>((i * 7919) % 255) / 127.5f - 1.0f;
  auto reference = (*session)->run({input});
  ASSERT_TRUE(reference) << reference.status().to_string();
  std::vector<std::thread> threads;
  std::vector<int> equal(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto out = (*session)->run({input});
      equal[static_cast<size_t>(t)] = out && (*out)[0].data == (*reference)[0].data;
    });
  }
  for (auto& th : threads) th.join();
  for (int e : equal) EXPECT_EQ(e, 1);
}

TEST(OnnxSession, RejectsWrongShapesWithTheExpectedShape) {
  auto session = OnnxSession::open(blazeface_model());
  ASSERT_TRUE(session);
  auto out = (*session)->run({Tensor::zeros({1, 64, 64, 3})});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("[1,128,128,3]"), std::string::npos) << out.status().message();
}

TEST(OnnxSession, MissingOrCorruptModelFiles) {
  TempDir tmp;
  EXPECT_EQ(OnnxSession::open(tmp / "none.onnx").status().code(), StatusCode::kNotFound);
  std::ofstream(tmp / "bad.onnx") << "not a model";
  EXPECT_EQ(OnnxSession::open(tmp / "bad.onnx").status().code(), StatusCode::kInvalidArgument);
}

// This build ships ORT's CPU library only (no libonnxruntime_providers_cuda/_tensorrt.so beside
// it), so both GPU providers must refuse with the fallback named, before any session is made.
TEST(OnnxSession, GpuProvidersSayTheyAreNotAvailableAndNameTheCpuFallback) {
  for (auto provider : {inference::ExecutionProvider::kCuda, inference::ExecutionProvider::kTensorRt}) {
    inference::SessionOptions options;
    options.provider = provider;
    options.device_id = 1;
    auto session = OnnxSession::open(blazeface_model(), options);
    ASSERT_FALSE(session) << inference::execution_provider_name(provider);
    const auto& message = session.status().message();
    EXPECT_EQ(session.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(message.find(fmt::format("execution provider '{}' is not available in this build",
                                       inference::execution_provider_name(provider))),
              std::string::npos) << message;
    EXPECT_NE(message.find(provider == inference::ExecutionProvider::kCuda ? "libonnxruntime_providers_cuda.so"
                                                                           : "libonnxruntime_providers_tensorrt.so"),
              std::string::npos) << message;
    EXPECT_NE(message.find("--execution-providers cpu"), std::string::npos) << message;
    EXPECT_EQ(inference::check_execution_provider_available(provider).message(), message);
  }
  EXPECT_TRUE(inference::check_execution_provider_available(inference::ExecutionProvider::kCpu).is_ok());
  EXPECT_FALSE(inference::parse_execution_provider("gpu"));
  EXPECT_EQ(*inference::parse_execution_provider("tensorrt"), inference::ExecutionProvider::kTensorRt);
}

TEST(ModelCatalog, ListsTheDefaultsWithLicencesAndFindsThemInstalled) {
  const auto& catalog = inference::model_catalog();
  ASSERT_GE(catalog.size(), 4u);
  for (const auto& m : catalog) {
    EXPECT_FALSE(m.license.empty()) << m.id;
    if (m.is_default) {
      EXPECT_EQ(inference::model_state(m, models_dir()), inference::ModelState::kInstalled) << m.id;
    }
  }
  TempDir empty;
  auto missing = inference::require_model("blazeface_back_256", empty.path());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("scripts/setup"), std::string::npos);
  std::ofstream(empty / "blazeface_back_256.onnx").close();
  EXPECT_EQ(inference::model_state(**inference::find_model("blazeface_back_256"), empty.path()),
            inference::ModelState::kCorrupt);
}

}  // namespace
}  // namespace facefuse::testing
