// SessionCache: one session per (model, options) per owner, shared by threads.
#include <atomic>
#include <fstream>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "facefuse/inference/session_cache.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

using inference::SessionCache;
using inference::SessionOptions;

std::filesystem::path small_model() { return models_dir() / "blazeface_front_128.onnx"; }

TEST(SessionCache, SameModelAndOptionsShareOneSession) {
  SessionCache cache;
  auto a = cache.get_or_open(small_model());
  auto b = cache.get_or_open(models_dir() / "." / "blazeface_front_128.onnx");
  ASSERT_TRUE(a) << a.status().to_string();
  ASSERT_TRUE(b) << b.status().to_string();
  EXPECT_EQ(a->get(), b->get()) << "another spelling of the same path is the same model";
  EXPECT_EQ(cache.size(), 1u);
  SessionOptions two_threads;
  two_threads.intra_op_threads = 2;
  auto c = cache.get_or_open(small_model(), two_threads);
  ASSERT_TRUE(c);
  EXPECT_NE(a->get(), c->get()) << "different options need their own session";
  EXPECT_EQ(cache.size(), 2u);
}

TEST(SessionCache, ConcurrentCallersGetTheSameSession) {
  SessionCache cache;
  constexpr int kThreads = 8;
  std::vector<const inference::OnnxSession*> seen(kThreads, nullptr);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();  // start together
      auto session = cache.get_or_open(small_model());
      if (session) seen[t] = session->get();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_NE(seen[t], nullptr) << t;
    EXPECT_EQ(seen[t], seen[0]) << t;
  }
  EXPECT_EQ(cache.size(), 1u);
}

TEST(SessionCache, FailuresAreNotRemembered) {
  SessionCache cache;
  TempDir dir;
  auto path = dir / "later.onnx";
  auto missing = cache.get_or_open(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(cache.size(), 0u);
  std::filesystem::copy_file(small_model(), path);
  auto present = cache.get_or_open(path);
  EXPECT_TRUE(present) << present.status().to_string();
  EXPECT_EQ(cache.size(), 1u);
}

TEST(SessionCache, OwnersDoNotShareSessions) {
  SessionCache job_a;
  SessionCache job_b;
  auto a = job_a.get_or_open(small_model());
  auto b = job_b.get_or_open(small_model());
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->get(), b->get());
}

TEST(SessionCache, OpenSessionSharesThroughTheOptionsCache) {
  SessionCache cache;
  SessionOptions options;
  options.cache = &cache;
  auto a = inference::open_session(small_model(), options);
  auto b = inference::open_session(small_model(), options);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->get(), b->get());
  options.cache = nullptr;
  auto own = inference::open_session(small_model(), options);
  ASSERT_TRUE(own);
  EXPECT_NE(own->get(), a->get()) << "without a cache every caller opens its own";
  EXPECT_EQ(cache.size(), 1u);
}

TEST(SessionCache, OtherModelsLoadOncePerKindAndFailuresAreNotRemembered) {
  SessionCache cache;
  int loads = 0;
  bool fail = true;
  std::function<Result<std::shared_ptr<int>>()> load = [&]() -> Result<std::shared_ptr<int>> {
    ++loads;
    if (fail) return not_found("not installed yet");
    return std::make_shared<int>(68);
  };
  EXPECT_FALSE(cache.get_or_load<int>("landmarker", small_model(), load));
  EXPECT_EQ(cache.size(), 0u);
  fail = false;
  auto a = cache.get_or_load<int>("landmarker", small_model(), load);
  auto b = cache.get_or_load<int>("landmarker", models_dir() / "." / "blazeface_front_128.onnx", load);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(loads, 2) << "one failed load, one real load";
  auto other_kind = cache.get_or_load<int>("recognizer", small_model(), load);
  ASSERT_TRUE(other_kind);
  EXPECT_NE(other_kind->get(), a->get());
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace facefuse::testing
