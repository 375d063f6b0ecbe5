// 68-point landmarks with dlib's ensemble-of-regression-trees shape predictor
// (dlib_shape_predictor_68.dat = Debian's shape_predictor_68_face_landmarks.dat, iBUG 300-W layout).
//
// The model file is dlib's own serialisation of dlib::shape_predictor, read once at open. The
// cascade is evaluated by our own copy of dlib's shape_predictor::operator() (same trees, same
// pixel sampling, same arithmetic) for one reason: dlib rounds its output points to whole pixels,
// which makes landmarks of small faces jitter by up to half a pixel; ours returns float points.
//
// Input box convention: the predictor was trained on dlib HOG boxes (roughly brows to chin,
// cheek to cheek). Both facefuse detectors return boxes calibrated to that convention. Because a
// box from another source may still be off-centre or differently sized, `refine_passes` re-runs
// the predictor on the dlib-convention box implied by the previous pass's points (the box that
// places the predictor's mean shape on them in the least-squares sense), which makes the result
// largely independent of the box's extent.
//
// Thread-safety: the model is immutable after open; landmarks() is const and safe to call from
// many threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "facefuse/face/face.h"

namespace facefuse::face {

class DlibLandmarker final : public FaceLandmarker {
 public:
  struct Options {
    // Extra passes on the box re-fitted from the previous pass's points. 1 measurably helps boxes
    // from other conventions (see landmarker_test.cpp) and costs one more evaluation (~1 ms).
    int refine_passes = 1;
  };

  static Result<std::unique_ptr<DlibLandmarker>> open(const std::filesystem::path& model_path,
                                                      const Options& options);
  ~DlibLandmarker() override;

  std::string_view name() const override { return "dlib_68"; }
  Result<Landmarks68> landmarks(const cv::Mat& bgr, const cv::Rect2f& box) const override;

  // One pass of the predictor on `box`, no refinement (exposed for tests).
  Landmarks68 predict(const cv::Mat& bgr, const cv::Rect2f& box) const;
  // The dlib-convention box implied by 68 points (see above).
  cv::Rect2f box_from_landmarks(const Landmarks68& points) const override;

 private:
  struct Model;
  DlibLandmarker(std::unique_ptr<Model> model, const Options& options);
  std::unique_ptr<Model> model_;
  Options options_;
};

}  // namespace facefuse::face
