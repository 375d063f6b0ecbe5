// The ONNX face swapper backends with FaceFusion's contracts (CONTRACTS.md "Face swappers"):
// inswapper_128(_fp16), hyperswap_1a/1b/1c_256, simswap_256, simswap_unofficial_512,
// ghost_1/2/3_256, blendswap_256, uniface_256. The contract of each model (template, size,
// mean/std, source input, converter) is data in the catalogue; what the family changes is code here.
//
// Per target face:
//   1. crop: 5-point similarity onto the model's template at the pixel-boost size N·S (alignment.h);
//   2. masks before the model (box, occlusion) on that crop (crop_masks.h);
//   3. pixel boost: the N·S crop is split into N² S×S crops by pixel-unshuffle (sub-crop (i, j)
//      holds pixels (y·N + i, x·N + j)); each is swapped and the results reassembled the same way;
//   4. model input `target`: RGB, x / 255, (x − mean) / std, NCHW; `source`: see SourceInput;
//   5. output [0][0] CHW → HWC; ghost, hyperswap and uniface de-normalise x·std + mean; clip [0, 1];
//      RGB → BGR; ×255 (float, as FaceFusion);
//   6. masks after the model (area, region) on the swapped crop; mask = min of all;
//   7. paste-back limited to the face box (paste_back.h).
// Source: the largest face of each source image; their raw ArcFace embeddings are averaged, and so
// are their normalised embeddings (FaceFusion's average face). Identity weight: with
// w = interp(face_swapper_weight, [0, 1] → [0.35, −0.35]), source = source·(1 − w) + target·w,
// where the target's ArcFace embedding is normalised first for inswapper, hyperswap and simswap.
//
// Thread-safety: immutable after open(); swap() may be called from many threads at once (one ORT
// session per model, shared).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "facefuse/face/alignment.h"
#include "facefuse/face/arcface_recognizer.h"
#include "facefuse/inference/onnx_session.h"
#include "facefuse/processors/crop_masks.h"
#include "facefuse/processors/processor.h"

namespace facefuse::processors {

enum class SwapperFamily { kInswapper, kHyperswap, kSimswap, kSimswapUnofficial, kGhost, kBlendswap, kUniface };

enum class SwapperSourceInput {
  kEmapEmbedding,           // inswapper: (e_raw · EMAP) / ‖e_raw‖, EMAP = the graph's last initializer
  kEmbeddingNorm,           // hyperswap: e / ‖e‖
  kConvertedEmbeddingNorm,  // simswap: converter(e_raw), L2-normalised
  kConvertedEmbedding,      // ghost: converter(e_raw)
  kSourceImage,             // blendswap, uniface: the source face crop, RGB, x / 255, NCHW
};

struct SwapperContract {
  SwapperFamily family = SwapperFamily::kInswapper;
  face::AlignmentTemplate alignment = face::AlignmentTemplate::kArcface128;
  int size = 128;                       // model input side, pixels
  std::array<float, 3> mean{}, std{};   // RGB
  SwapperSourceInput source_input = SwapperSourceInput::kEmapEmbedding;
  face::AlignmentTemplate source_alignment = face::AlignmentTemplate::kArcface112V2;  // kSourceImage only
  int source_size = 0;                                                                // kSourceImage only
  std::string converter;  // embedding_converter id for the converted_* inputs

  bool denormalises_output() const;           // ghost, hyperswap, uniface
  bool normalises_target_embedding() const;   // inswapper, hyperswap, simswap(_unofficial)
};

// Parses a catalogue `contract` object of kind face_swapper; kInvalidArgument naming what is wrong.
Result<SwapperContract> parse_swapper_contract(const nlohmann::json& contract);

// interp(face_swapper_weight, [0, 1] → [0.35, −0.35]).
float identity_weight(float face_swapper_weight);

// FaceFusion's pixel boost: an (N·S)×(N·S) image → N² S×S images (index i·N + j holds pixels
// (y·N + i, x·N + j)); and back. Any element type.
std::vector<cv::Mat> implode_pixel_boost(const cv::Mat& crop, int n);
cv::Mat explode_pixel_boost(const std::vector<cv::Mat>& parts, int n);

struct OnnxSwapOptions {
  int pixel_boost = 0;   // crop side N·S in pixels; 0 = the model size
  float weight = 0.5f;   // face_swapper_weight
  CropMaskOptions masks;
};

// A catalogue model by id and kind (models/catalog.json).
struct CatalogModelRef {
  std::string id;
  std::string kind;
};

// The models an ONNX swapper opens besides its own file: the ArcFace recognizer when the source
// input is an embedding, and the embedding converter the contract names.
std::vector<CatalogModelRef> swapper_helper_models(const SwapperContract& contract);

class OnnxSwapper {
 public:
  // Resolves model `model_id` (+ ArcFace recognizer, converter, mask models) in
  // context.models_dir, reads inswapper's EMAP once, analyses the sources. Missing files →
  // kFailedPrecondition; no face in any source → kNoFace.
  static Result<std::unique_ptr<OnnxSwapper>> open(const std::string& model_id, const OnnxSwapOptions& options,
                                                   const ProcessorContext& context);

  // Swaps `target` (needs 5 points; 68 for the area mask) in `frame` (BGR uint8) in place.
  Status swap(cv::Mat& frame, const face::Face& target) const;

  // The model's `source` input for a target whose raw ArcFace embedding is `target_embedding`
  // (ignored, may be empty, when the weight is 0.5 or the source is an image).
  Result<inference::Tensor> source_tensor(const std::vector<float>& target_embedding) const;
  // Steps 3–5 for an aligned BGR uint8 crop of the pixel-boost size: the swapped crop, float BGR
  // in [0, 255] (CV_32FC3).
  Result<cv::Mat> swap_crop(const cv::Mat& crop, const inference::Tensor& source) const;

  const SwapperContract& contract() const { return contract_; }
  int crop_size() const { return crop_size_; }
  const std::vector<float>& source_embedding() const { return source_embedding_; }        // averaged raw
  const std::vector<float>& source_embedding_norm() const { return source_embedding_norm_; }  // averaged normalised
  // Faces found in each source image (in order), before the largest was taken.
  const std::vector<int>& source_face_counts() const { return source_face_counts_; }
  const std::vector<float>& emap() const { return emap_; }  // 512×512 row-major; inswapper only

 private:
  OnnxSwapper() = default;

  SwapperContract contract_;
  OnnxSwapOptions options_;
  int crop_size_ = 0;
  std::shared_ptr<inference::OnnxSession> session_;
  std::shared_ptr<inference::OnnxSession> converter_;
  std::shared_ptr<face::ArcfaceRecognizer> recognizer_;
  std::shared_ptr<CropMasker> masker_;
  std::vector<float> emap_;
  std::vector<float> source_embedding_, source_embedding_norm_;
  std::vector<int> source_face_counts_;
  std::vector<float> prepared_source_;   // source embedding before the identity weight
  inference::Tensor source_image_;       // kSourceImage families
};

}  // namespace facefuse::processors
