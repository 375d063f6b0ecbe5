// face_swapper: replaces each selected target face with the source face. Backends:
// "classical" (default, no model: landmark warp + colour transfer + blending, see
// classical_swapper.h) or one of FaceFusion's ONNX swappers by model id (inswapper_128,
// hyperswap_1a_256, ..., see onnx_swapper.h), chosen by the option face_swapper_model.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facefuse/processors/face_swapper/classical_swapper.h"
#include "facefuse/processors/face_swapper/onnx_swapper.h"
#include "facefuse/processors/processor.h"

namespace facefuse::processors {

std::vector<OptionSpec> face_swapper_options();

class FaceSwapper final : public FrameProcessor {
 public:
  std::string_view name() const override { return "face_swapper"; }
  // Classical: finds the source face: the largest face of each source image; the largest of those
  // is used. ONNX models: opens the model and its helpers (OnnxSwapper::open). kNoFace when no
  // source image has a face.
  Status open(const ProcessorContext& context) override;
  Status process(FrameContext& frame) const override;

  std::vector<int> source_face_counts() const override {
    return onnx_ ? onnx_->source_face_counts() : source_face_counts_;
  }
  // Classical backend: the source's quality warnings (source_quality.h, every call) and, when some
  // targets' yaw differs from the source's by more than kPoseMismatchYaw, how many since the last
  // call (kind "pose_mismatch": sums "mismatches" of "swapped", maximum "worst_yaw" in degrees), and
  // on still images how many swapped faces came out soft (kind "soft_result": sums "soft" of
  // "measured"; under half the target face's inner-face sharpness, face/inner_face_sharpness.h).
  std::vector<ProcessorWarning> take_warnings() const override;

  const SwapSourceFace& source() const { return source_; }
  // The ONNX backend, or nullptr for the classical one.
  const OnnxSwapper* onnx_swapper() const { return onnx_.get(); }

 private:
  // Video and live frames: a target face larger than kVideoFullSizeFace (192 px) is swapped on a
  // copy of its region reduced to that size, and the swap's change is upsampled and added at full resolution
  // (for speed; the detail finer than the copy stays the target's own, so still images, which are
  // measured against the photo's own sharpness, never take this path).
  Status swap_reduced(cv::Mat& frame, const face::Face& target, const SwapSourceFace& source, float scale,
                      const ClassicalSwapOptions& options) const;

  // Video frames: the blur (Gaussian sigma, px of the face at face::kCommonFaceSize) that brings the
  // source's detail down to the target's track (Face::track_detail_energy); 0 when it is not
  // sharper than kVideoSoftenAbove× the track or the track was not measured.
  double video_softening(const face::Face& target) const;
  // `prepared` blurred by `sigma` (as video_softening gives it).
  static SwapSourceFace soften(const SwapSourceFace& prepared, double sigma);
  // video_sources_[mirrored] softened by `sigma` (> 0), from softened_ when a recent frame asked
  // for the same.
  std::shared_ptr<const SwapSourceFace> softened_video_source(bool mirrored, double sigma) const;

  SwapSourceFace source_;
  // Video and live frames swap from source_ prepared once for faces up to kVideoFullSizeFace
  // (prepared_source): [0] as it is, [1] mirrored.
  SwapSourceFace video_sources_[2];
  // The prepared source's inner-face energy (face::inner_face_energy) blurred by each of
  // kVideoSofteningSigmas, the first as it is: what video_softening reads the blur off.
  std::vector<double> video_source_energies_;
  // The last few softened video sources: a track's blur changes only at its detections (every 5th
  // frame) and is rounded (kVideoSofteningStep), so frames mostly share one; blurring the prepared
  // source on every frame cost 3 % of the talking head's speed with a 650 px source (jesper.jpg).
  // process() runs on several frames at once: guarded by softened_mutex_.
  struct SoftenedSource {
    bool mirrored = false;
    double sigma = 0.0;
    std::shared_ptr<const SwapSourceFace> source;
  };
  static constexpr size_t kSoftenedCacheSize = 4;
  mutable std::mutex softened_mutex_;
  mutable std::vector<SoftenedSource> softened_;  // most recently used last
  std::vector<int> source_face_counts_;  // classical backend; the ONNX one keeps its own
  ClassicalSwapOptions options_;
  std::unique_ptr<OnnxSwapper> onnx_;
  std::vector<ProcessorWarning> source_warnings_;  // classical backend, from open()
  std::string source_name_;
  // Target faces swapped, and those whose yaw is far from the source's (process() runs on several
  // frames at once: counters only). Worst yaw difference in whole degrees.
  mutable std::atomic<int64_t> swapped_faces_{0}, pose_mismatches_{0};
  // Still images: faces measured after the swap, and those that came out soft (kSoftResult).
  mutable std::atomic<int64_t> measured_faces_{0}, soft_results_{0};
  // Target faces seen in profile (face::seen_from_the_side, Face::profile_fade 1), left as they are.
  mutable std::atomic<int64_t> profile_targets_{0};
  mutable std::atomic<int> worst_yaw_difference_{0};
};

}  // namespace facefuse::processors
