#include "facefuse/processors/face_debugger/face_debugger.h"

#include "facefuse/face/face_mask.h"
#include "facefuse/processors/crop_masks.h"
#include "facefuse/processors/face_debugger/face_debugger_draw.h"

namespace facefuse::processors {

std::vector<OptionSpec> face_debugger_options() {
  return {face_mask_blur_option()};
}

Status FaceDebugger::open(const ProcessorContext& context) {
  face_mask_blur_ = option_or(context.options, "face_mask_blur", face_mask_blur_);
  return Status::ok();
}

Status FaceDebugger::process(FrameContext& frame) const {
  for (size_t i = 0; i < frame.target_faces.size(); ++i) {
    const face::Face& f = frame.target_faces[i];
    if (!f.has_landmarks68()) {
      draw_face_debug(frame.frame, f, static_cast<int>(i), nullptr);
      continue;
    }
    // The outline drawn is the swap mask the face_swapper uses for this face.
    face::SwapMaskOptions mask_options;
    mask_options.face_mask_blur = face_mask_blur_;
    cv::Rect region(0, 0, frame.frame.cols, frame.frame.rows);
    cv::Mat mask = face::swap_mask(f.landmarks68, region, mask_options);
    draw_face_debug(frame.frame, f, static_cast<int>(i), &mask);
  }
  return Status::ok();
}

}  // namespace facefuse::processors
