// face_enhancer: restores detail in each selected face with one of FaceFusion's face restoration
// models (CONTRACTS.md "Face enhancers"): gfpgan_1.2/1.3/1.4 (default 1.4), codeformer,
// gpen_bfr_256/512/1024/2048, restoreformer_plus_plus.
//
// Per face: crop aligned on the model's template (ffhq_512, or arcface_128 for gpen_bfr_256) at
// the model's size; input `input` [1,3,S,S] RGB, (x / 255 − 0.5) / 0.5; codeformer also gets
// `weight`, float64 [1] (face_enhancer_weight: 0 = stronger restoration, 1 = closer to the input);
// output [0][0] clipped to [−1, 1], (x + 1) / 2 · 255 rounded, BGR. Mask = box (face_mask_blur, no
// padding) and, with face_mask_types containing occlusion, the XSeg mask; pasted back inside the
// face box with strength face_enhancer_blend / 100:
//   out = frame·(1 − b·m) + enhanced·b·m
// (FaceFusion pastes, then blends the whole frame with the original; the same pixels, O(face box)).
//
// Thread-safety: immutable after open(); process() may run on many frames at once.
#pragma once

#include <memory>
#include <vector>

#include "facefuse/face/alignment.h"
#include "facefuse/inference/onnx_session.h"
#include "facefuse/processors/crop_masks.h"
#include "facefuse/processors/processor.h"

namespace facefuse::processors {

std::vector<OptionSpec> face_enhancer_options();

struct EnhancerContract {
  face::AlignmentTemplate alignment = face::AlignmentTemplate::kFfhq512;
  int size = 512;
};
Result<EnhancerContract> parse_enhancer_contract(const nlohmann::json& contract);

class FaceEnhancer final : public FrameProcessor {
 public:
  std::string_view name() const override { return "face_enhancer"; }
  // Resolves and opens the model (and the occluder when asked); a missing file is
  // kFailedPrecondition naming it and `facefuse models download <id>`.
  Status open(const ProcessorContext& context) override;
  Status process(FrameContext& frame) const override;

  // The restored crop (BGR uint8) of an aligned BGR uint8 crop of the model's size.
  Result<cv::Mat> enhance_crop(const cv::Mat& crop) const;
  // Enhances one face in place.
  Status enhance(cv::Mat& frame, const face::Face& target) const;
  const EnhancerContract& contract() const { return contract_; }

 private:
  EnhancerContract contract_;
  std::shared_ptr<inference::OnnxSession> session_;
  std::shared_ptr<CropMasker> masker_;
  double weight_ = 0.5;   // codeformer's fidelity weight
  float blend_ = 0.8f;    // face_enhancer_blend / 100
};

}  // namespace facefuse::processors
