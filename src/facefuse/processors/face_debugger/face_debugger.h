// face_debugger: draws what the analysis found on each selected face (box, score, index,
// 5 and 68 landmarks, swap-mask outline). Used to check detection and selection by eye.
#pragma once

#include <vector>

#include "facefuse/processors/processor.h"

namespace facefuse::processors {

std::vector<OptionSpec> face_debugger_options();

class FaceDebugger final : public FrameProcessor {
 public:
  std::string_view name() const override { return "face_debugger"; }
  Status open(const ProcessorContext& context) override;
  Status process(FrameContext& frame) const override;

 private:
  float face_mask_blur_ = 0.3f;
};

}  // namespace facefuse::processors
