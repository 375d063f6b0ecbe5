// The model catalogue: the shipped models/catalog.json is valid and holds FaceFusion's models with
// their contracts; the parser rejects bad catalogues with messages naming the entry; model_state
// checks presence cheaply and CRC32 on request.
#include <zlib.h>

#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "facefuse/inference/model_catalog.h"
#include "facefuse/inference/model_downloader.h"
#include "inference/zlib_crc32.h"
#include "support/test_support.h"

namespace facefuse::testing {
namespace {

using inference::IntegrityCheck;
using inference::ModelEntry;
using inference::ModelState;

inference::ModelCatalog shipped_catalog() {
  auto parsed = inference::parse_model_catalog(testing::read_file_bytes(std::filesystem::path(FACEFUSE_SOURCE_DIR) / "models/catalog.json"));
  EXPECT_TRUE(parsed) << parsed.status().to_string();
  return parsed ? std::move(parsed).value() : inference::ModelCatalog{};
}

// The shipped file is what the binary embeds: validating it here is the build-time check that
// makes the start-up abort in embedded_model_catalog() unreachable.
TEST(ModelCatalog, ShippedCatalogueIsValidAndEmbedded) {
  auto catalog = shipped_catalog();
  EXPECT_EQ(catalog.models.size(), inference::embedded_model_catalog().models.size());
  EXPECT_EQ(catalog.download_base_url, "https://github.com/facefusion/facefusion-assets/releases/download");
  for (const auto& id : {"blazeface_back_256", "blazeface_front_128", "dlib_shape_predictor_68",
                         "dlib_face_recognition_resnet"}) {
    const ModelEntry* m = catalog.find(id);
    ASSERT_NE(m, nullptr) << id;
    EXPECT_TRUE(m->is_default);
    EXPECT_FALSE(m->downloadable()) << id << " comes from setup, not from FaceFusion's releases";
  }
}

TEST(ModelCatalog, HoldsEveryFaceFusionModelOfTheContracts) {
  auto catalog = shipped_catalog();
  // id → (file, kind, release) as FaceFusion 3.x names them.
  const std::map<std::string, std::tuple<std::string, std::string, std::string>> expected = {
      {"inswapper_128", {"inswapper_128.onnx", "face_swapper", "models-3.0.0"}},
      {"inswapper_128_fp16", {"inswapper_128_fp16.onnx", "face_swapper", "models-3.0.0"}},
      {"hyperswap_1a_256", {"hyperswap_1a_256.onnx", "face_swapper", "models-3.3.0"}},
      {"hyperswap_1b_256", {"hyperswap_1b_256.onnx", "face_swapper", "models-3.3.0"}},
      {"hyperswap_1c_256", {"hyperswap_1c_256.onnx", "face_swapper", "models-3.3.0"}},
      {"simswap_256", {"simswap_256.onnx", "face_swapper", "models-3.0.0"}},
      {"simswap_unofficial_512", {"simswap_unofficial_512.onnx", "face_swapper", "models-3.0.0"}},
      {"ghost_1_256", {"ghost_1_256.onnx", "face_swapper", "models-3.0.0"}},
      {"ghost_2_256", {"ghost_2_256.onnx", "face_swapper", "models-3.0.0"}},
      {"ghost_3_256", {"ghost_3_256.onnx", "face_swapper", "models-3.0.0"}},
      {"blendswap_256", {"blendswap_256.onnx", "face_swapper", "models-3.0.0"}},
      {"uniface_256", {"uniface_256.onnx", "face_swapper", "models-3.0.0"}},
      {"crossface_simswap", {"crossface_simswap.onnx", "embedding_converter", "models-3.4.0"}},
      {"crossface_ghost", {"crossface_ghost.onnx", "embedding_converter", "models-3.4.0"}},
      {"gfpgan_1.2", {"gfpgan_1.2.onnx", "face_enhancer", "models-3.0.0"}},
      {"gfpgan_1.3", {"gfpgan_1.3.onnx", "face_enhancer", "models-3.0.0"}},
      {"gfpgan_1.4", {"gfpgan_1.4.onnx", "face_enhancer", "models-3.0.0"}},
      {"codeformer", {"codeformer.onnx", "face_enhancer", "models-3.0.0"}},
      {"gpen_bfr_256", {"gpen_bfr_256.onnx", "face_enhancer", "models-3.0.0"}},
      {"gpen_bfr_512", {"gpen_bfr_512.onnx", "face_enhancer", "models-3.0.0"}},
      {"gpen_bfr_1024", {"gpen_bfr_1024.onnx", "face_enhancer", "models-3.0.0"}},
      {"gpen_bfr_2048", {"gpen_bfr_2048.onnx", "face_enhancer", "models-3.0.0"}},
      {"restoreformer_plus_plus", {"restoreformer_plus_plus.onnx", "face_enhancer", "models-3.0.0"}},
      {"yolo_face", {"yoloface_8n.onnx", "face_detector", "models-3.0.0"}},
      {"scrfd", {"scrfd_2.5g.onnx", "face_detector", "models-3.0.0"}},
      {"retinaface", {"retinaface_10g.onnx", "face_detector", "models-3.0.0"}},
      {"yunet", {"yunet_2023_mar.onnx", "face_detector", "models-3.4.0"}},
      {"2dfan4", {"2dfan4.onnx", "face_landmarker", "models-3.0.0"}},
      {"arcface_w600k_r50", {"arcface_w600k_r50.onnx", "face_recognizer", "models-3.0.0"}},
      {"xseg_1", {"xseg_1.onnx", "face_occluder", "models-3.1.0"}},
      {"xseg_2", {"xseg_2.onnx", "face_occluder", "models-3.1.0"}},
      {"xseg_3", {"xseg_3.onnx", "face_occluder", "models-3.2.0"}},
      {"bisenet_resnet_18", {"bisenet_resnet_18.onnx", "face_parser", "models-3.1.0"}},
      {"bisenet_resnet_34", {"bisenet_resnet_34.onnx", "face_parser", "models-3.0.0"}},
  };
  for (const auto& [id, want] : expected) {
    const ModelEntry* m = catalog.find(id);
    ASSERT_NE(m, nullptr) << id;
    EXPECT_EQ(m->file, std::get<0>(want)) << id;
    EXPECT_EQ(m->kind, std::get<1>(want)) << id;
    EXPECT_EQ(m->release, std::get<2>(want)) << id;
    EXPECT_FALSE(m->license.empty()) << id;
    ASSERT_TRUE(m->contract.is_object()) << id;
    if (m->kind == "face_swapper") {
      EXPECT_EQ(m->contract["mean"].size(), 3u) << id;
      EXPECT_EQ(m->contract["std"].size(), 3u) << id;
    }
  }
  for (const auto& id : catalog.download_defaults) EXPECT_TRUE(expected.count(id)) << id;
  EXPECT_FALSE(catalog.download_defaults.empty());
}

TEST(ModelCatalog, ContractsCarryTheNumbersOfContractsMd) {
  auto catalog = shipped_catalog();
  const auto& inswapper = catalog.find("inswapper_128")->contract;
  EXPECT_EQ(inswapper["family"], "inswapper");
  EXPECT_EQ(inswapper["template"], "arcface_128");
  EXPECT_EQ(inswapper["size"], 128);
  EXPECT_EQ(inswapper["source_input"], "emap_embedding");
  const auto& simswap = catalog.find("simswap_256")->contract;
  EXPECT_EQ(simswap["template"], "arcface_112_v1");
  EXPECT_DOUBLE_EQ(simswap["mean"][0].get<double>(), 0.485);
  EXPECT_DOUBLE_EQ(simswap["std"][2].get<double>(), 0.225);
  EXPECT_EQ(simswap["converter"], "crossface_simswap");
  EXPECT_EQ(catalog.find("ghost_2_256")->contract["source_input"], "converted_embedding");
  EXPECT_EQ(catalog.find("hyperswap_1b_256")->contract["source_input"], "embedding_norm");
  const auto& blendswap = catalog.find("blendswap_256")->contract;
  EXPECT_EQ(blendswap["source_input"], "source_image");
  EXPECT_EQ(blendswap["source_template"], "arcface_112_v2");
  EXPECT_EQ(blendswap["source_size"], 112);
  EXPECT_EQ(catalog.find("uniface_256")->contract["source_size"], 256);
  EXPECT_EQ(catalog.find("gpen_bfr_256")->contract["template"], "arcface_128");
  EXPECT_EQ(catalog.find("gpen_bfr_2048")->contract["size"], 2048);
  EXPECT_EQ(catalog.find("arcface_w600k_r50")->contract["template"], "arcface_112_v2");
  EXPECT_EQ(catalog.find("2dfan4")->contract["size"], 256);
  EXPECT_EQ(catalog.find("xseg_2")->contract["family"], "xseg");
  EXPECT_EQ(catalog.find("bisenet_resnet_18")->contract["size"], 512);
  EXPECT_EQ(catalog.find("yunet")->contract["size"], 640);
}

struct BadCatalogue {
  const char* name;
  const char* json;
  const char* message_part;
};

class ModelCatalogRejects : public ::testing::TestWithParam<BadCatalogue> {};

TEST_P(ModelCatalogRejects, WithAMessageNamingTheProblem) {
  auto parsed = inference::parse_model_catalog(GetParam().json);
  ASSERT_FALSE(parsed) << GetParam().name;
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find(GetParam().message_part), std::string::npos) << parsed.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    BadCatalogues, ModelCatalogRejects,
    ::testing::Values(
        BadCatalogue{"unknown_kind", R"({"models":[{"id":"a","file":"a.onnx","kind":"face_swaper"}]})",
                     "catalogue entry 'a': unknown kind 'face_swaper'"},
        BadCatalogue{"missing_file", R"({"models":[{"id":"a","kind":"face_swapper"}]})", "'a' has no \"file\""},
        BadCatalogue{"missing_id", R"({"models":[{"file":"a.onnx","kind":"face_swapper"}]})", "entry #0 has no \"id\""},
        BadCatalogue{"path_in_file", R"({"models":[{"id":"a","file":"../a.onnx","kind":"face_swapper"}]})",
                     "plain file name"},
        BadCatalogue{"duplicate_id",
                     R"({"models":[{"id":"a","file":"a.onnx","kind":"face_parser"},{"id":"a","file":"b.onnx","kind":"face_parser"}]})",
                     "'a' appears twice"},
        BadCatalogue{"bad_hash", R"({"models":[{"id":"a","file":"a.onnx","kind":"face_parser","hash":"XYZ"}]})",
                     "8 lowercase hex"},
        BadCatalogue{"contract_not_object",
                     R"({"models":[{"id":"a","file":"a.onnx","kind":"face_parser","contract":[1]}]})", "\"contract\""},
        BadCatalogue{"release_without_base",
                     R"({"models":[{"id":"a","file":"a.onnx","kind":"face_parser","release":"models-3.0.0"}]})",
                     "download_base_url"},
        BadCatalogue{"unknown_converter",
                     R"({"models":[{"id":"s","file":"s.onnx","kind":"face_swapper","contract":{"family":"ghost","converter":"nope"}}]})",
                     "converter \"nope\""},
        BadCatalogue{"unknown_default", R"({"download_defaults":["zz"],"models":[]})", "\"zz\""},
        BadCatalogue{"wrong_type", R"({"download_base_url":5,"models":[]})", "wrong type"},
        BadCatalogue{"not_json", "{models", "not valid JSON"}),
    [](const ::testing::TestParamInfo<BadCatalogue>& info) { return std::string(info.param.name); });

TEST(ModelCatalog, HashSidecarNamesFollowFaceFusion) {
  ModelEntry m;
  m.file = "gfpgan_1.4.onnx";
  EXPECT_EQ(m.hash_file(), "gfpgan_1.4.hash");
  m.file = "scrfd_2.5g.onnx";
  EXPECT_EQ(m.hash_file(), "scrfd_2.5g.hash");
  m.release = "models-3.0.0";
  EXPECT_EQ(inference::model_download_url(m, "https://example.org/base/"), "https://example.org/base/models-3.0.0/scrfd_2.5g.onnx");
  EXPECT_EQ(inference::model_hash_url(m, "https://example.org/base"), "https://example.org/base/models-3.0.0/scrfd_2.5g.hash");
}

TEST(ModelCatalog, Crc32MatchesTheStandardCheckValue) {
  TempDir dir;
  testing::write_file_bytes(dir / "check.bin", "123456789");
  auto crc = inference::file_crc32(dir / "check.bin");
  ASSERT_TRUE(crc) << crc.status().to_string();
  EXPECT_EQ(*crc, "cbf43926");  // CRC-32/ISO-HDLC check value
  EXPECT_EQ(*inference::parse_crc32_text(" CBF43926\n"), "cbf43926");
  EXPECT_FALSE(inference::parse_crc32_text("cbf4392"));
  EXPECT_FALSE(inference::parse_crc32_text("not a crc"));
}

class ModelStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_.id = "m";
    model_.file = "m.onnx";
    model_.kind = "face_parser";
    bytes_ = std::string(100000, '\0');
    for (size_t i = 0; i < bytes_.size(); ++i) bytes_[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  ModelState state(IntegrityCheck check) { return inference::model_state(model_, dir_.path(), check); }

  TempDir dir_;
  ModelEntry model_;
  std::string bytes_;
};

TEST_F(ModelStateTest, MissingEmptyAndPresent) {
  EXPECT_EQ(state(IntegrityCheck::kHash), ModelState::kMissing);
  testing::write_file_bytes(dir_ / "m.onnx", "");
  EXPECT_EQ(state(IntegrityCheck::kPresence), ModelState::kCorrupt);
  testing::write_file_bytes(dir_ / "m.onnx", bytes_);
  EXPECT_EQ(state(IntegrityCheck::kPresence), ModelState::kInstalled);
  // Neither a catalogue hash nor a sidecar: nothing to check against.
  EXPECT_EQ(state(IntegrityCheck::kHash), ModelState::kInstalled);
}

TEST_F(ModelStateTest, CatalogueHashDecidesWhenHashing) {
  testing::write_file_bytes(dir_ / "m.onnx", bytes_);
  model_.hash = testing::zlib_crc32_hex(bytes_);
  EXPECT_EQ(state(IntegrityCheck::kHash), ModelState::kInstalled);
  std::string changed = bytes_;
  changed[54321] ^= 0x01;
  testing::write_file_bytes(dir_ / "m.onnx", changed);
  EXPECT_EQ(state(IntegrityCheck::kHash), ModelState::kCorrupt);
  EXPECT_EQ(state(IntegrityCheck::kPresence), ModelState::kInstalled) << "presence checks never read the file";
}

TEST_F(ModelStateTest, SidecarHashIsUsedWithoutACatalogueHash) {
  testing::write_file_bytes(dir_ / "m.onnx", bytes_);
  testing::write_file_bytes(dir_ / "m.hash", testing::zlib_crc32_hex(bytes_));
  EXPECT_EQ(*inference::expected_model_hash(model_, dir_.path()), testing::zlib_crc32_hex(bytes_));
  EXPECT_EQ(state(IntegrityCheck::kHash), ModelState::kInstalled);
  testing::write_file_bytes(dir_ / "m.hash", "00000000");
  EXPECT_EQ(state(IntegrityCheck::kHash), ModelState::kCorrupt);
  testing::write_file_bytes(dir_ / "m.hash", "garbage");
  EXPECT_FALSE(inference::expected_model_hash(model_, dir_.path()));
  EXPECT_EQ(state(IntegrityCheck::kHash), ModelState::kCorrupt) << "an unreadable sidecar must not pass";
}

TEST_F(ModelStateTest, CatalogueSizeMismatchIsCorrupt) {
  testing::write_file_bytes(dir_ / "m.onnx", bytes_);
  model_.size = static_cast<int64_t>(bytes_.size()) + 1;
  EXPECT_EQ(state(IntegrityCheck::kHash), ModelState::kCorrupt);
}

}  // namespace
}  // namespace facefuse::testing
