// The ONNX Runtime wrapper on the real BlazeFace model installed by setup.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <thread>
#include <vector>

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

// Issue 11: running out of memory was reported as a bad model (exit 2, never retried). Under an
// address-space limit just above what the process already uses, loading a 22 MB model fails in
// ORT's allocator; that must come back as a resource failure (kUnavailable: retried by the
// service, CLI exit 1) that says "out of memory". Runs in a forked child so the limit stays there.
TEST(OnnxSession, OutOfMemoryIsAResourceFailureNotABadModel) {
  const auto model = models_dir() / "dlib_face_recognition_resnet.onnx";
  ASSERT_TRUE(std::filesystem::exists(model));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    const rlim_t limit = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (8u << 20);
    const rlimit rl{limit, limit};
    setrlimit(RLIMIT_AS, &rl);
    inference::SessionOptions options;
    options.intra_op_threads = 1;  // no thread pool: the failure is the model's memory, not a thread stack
    // Memory freed by earlier tests in this process can hold a session or two within the limit;
    // sessions kept open soon need fresh address space, which the limit refuses.
    std::vector<std::shared_ptr<inference::OnnxSession>> kept;
    std::string report = "ok";
    for (int i = 0; i < 64; ++i) {
      auto session = inference::OnnxSession::open(model, options);
      if (!session) {
        report = std::string(status_code_name(session.status().code())) + "|" + session.status().message();
        break;
      }
      kept.push_back(*session);
    }
    if (write(fds[1], report.data(), report.size()) < 0) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  std::string report;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof(buffer))) > 0;) report.append(buffer, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died instead of reporting: signal " << WTERMSIG(status);
  ASSERT_NE(report, "ok") << "64 sessions loaded within the limit: the test needs a smaller margin";
  EXPECT_EQ(report.substr(0, report.find('|')), "unavailable") << report;
  EXPECT_NE(report.find("out of memory while loading model"), std::string::npos) << report;
}

}  // namespace
}  // namespace facefuse::testing
