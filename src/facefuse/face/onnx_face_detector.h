// FaceFusion's ONNX face detectors: yolo_face (yoloface_8n.onnx), scrfd (scrfd_2.5g.onnx),
// retinaface (retinaface_10g.onnx) and yunet (yunet_2023_mar.onnx), with FaceFusion 3.x's
// pre- and post-processing (shared/CONTRACTS.md), so its model files give its detections.
//
// Per angle in `angles` (0 = the frame as is; 90/180/270 = the frame rotated counter-clockwise
// about its centre into a canvas that holds it whole, as FaceFusion's
// create_rotation_matrix_and_size does):
//   1. The frame is shrunk to fit `size` keeping its aspect ratio (never enlarged; new side =
//      int(side · min(W/w, H/h)), bilinear), pasted at the top-left of a zero canvas of `size`.
//   2. The whole canvas (padding included) is normalised: yolo_face x/255, scrfd and retinaface
//      (x − 127.5)/128, yunet raw 0–255. Channels stay BGR, layout NCHW, input name `input`.
//   3. Outputs are decoded (layouts below) into boxes and 5 points in model-input pixels, kept when
//      score > score_threshold, scaled back by frame side / shrunk side per axis and rotated back
//      (boxes: the axis-aligned extent of the rotated corners).
// Candidates of all angles then go through one greedy non-maximum suppression (IoU threshold 0.4
// for one angle; 0.3, 0.2, 0.1 for 2, 3, 4 angles, FaceFusion's values), best score first.
//
// Output layouts (float32; batch 1; strides 8, 16, 32 with a (W/s)·(H/s) grid of cells in
// row-major order; anchor of cell (col, row) = (col·s, row·s), its top-left corner):
//   yolo_face  one output [1, 20, N] (N = 8400 at 640): column j = cx, cy, w, h, score, then
//              5 × (x, y, visibility), all in input pixels.
//   scrfd,     9 outputs: scores [K,1] × 3 strides, box distances [K,4] × 3, keypoint offsets
//   retinaface [K,10] × 3, K = 2 anchors per cell (both at the cell's corner). Box = (ax − d0·s,
//              ay − d1·s, ax + d2·s, ay + d3·s); point k = anchor + (o_2k, o_2k+1)·s.
//   yunet      12 outputs: cls [1,K,1] × 3, obj [1,K,1] × 3, bbox [1,K,4] × 3, kps [1,K,10] × 3,
//              K = 1 anchor per cell. Score = cls·obj; centre = anchor + (o0, o1)·s; size =
//              exp(o2, o3)·s; point k = anchor + (o_2k, o_2k+1)·s.
//
// What detect() returns (face.h): `detector_box` is the model's own box (FaceFusion's, what its
// 2dfan4 landmarker is fed); `box` is the dlib-convention box fitted to the 5 points
// (box_convention.h), which the default dlib_68 landmarker, selection and tracking expect. When
// the 5 points are degenerate (a fit more than 1.5× off the model box's width, or its centre more
// than 0.3 of a side away) `box` falls back to the square of the model box's width about its
// centre. Neither rule was measured on these models (their weights cannot be fetched here).
// `score` is the model's own, in [0, 1].
//
// Thread-safety: detect() is const and safe to call from many threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"
#include "facefuse/inference/onnx_session.h"

namespace facefuse::face {

enum class OnnxDetectorFamily { kYoloFace, kScrfd, kRetinaFace, kYuNet };

// "yolo_face" | "scrfd" | "retinaface" | "yunet".
std::string_view onnx_detector_family_name(OnnxDetectorFamily family);
Result<OnnxDetectorFamily> parse_onnx_detector_family(std::string_view name);
// FaceFusion's detector sizes per family ("WxH"), default (640x640) last.
std::vector<std::string_view> onnx_detector_sizes(OnnxDetectorFamily family);

// The non-maximum suppression IoU threshold FaceFusion uses for this many angles.
float onnx_detector_nms_threshold(size_t angle_count);

// FaceFusion's rotation of a frame of `size` by `angle` degrees counter-clockwise into a canvas
// that holds it whole: the 2×3 matrix (frame → rotated pixels) and the canvas size.
struct FrameRotation {
  cv::Matx23d matrix;
  cv::Size size;
};
FrameRotation frame_rotation(int angle, cv::Size size);

// A point under a 2×3 affine matrix, and the axis-aligned extent of a box's four corners under it
// (FaceFusion's transform_points / transform_bounding_box).
cv::Point2f transform_point(const cv::Matx23d& m, cv::Point2f p);
cv::Rect2f transform_box(const cv::Matx23d& m, const cv::Rect2f& box);

// Indices of `boxes` kept by greedy non-maximum suppression, best `scores` first: a box is dropped
// when its IoU with a kept box exceeds `iou_threshold` (OpenCV's NMSBoxes rule).
std::vector<size_t> non_max_suppression(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores,
                                        float iou_threshold);

class OnnxFaceDetector final : public FaceDetector {
 public:
  struct Options {
    OnnxDetectorFamily family = OnnxDetectorFamily::kYoloFace;
    cv::Size size{640, 640};  // model input (W, H); must be one of onnx_detector_sizes(family)
    float score_threshold = 0.5f;
    std::vector<int> angles{0};  // each 0, 90, 180 or 270, no repeats
    inference::SessionOptions session;
  };

  // Opens the model and checks its contract (input `input` [1,3,H,W] matching `size` where the
  // model's dimensions are fixed; output count and trailing dimensions of the family).
  static Result<std::unique_ptr<OnnxFaceDetector>> open(const std::filesystem::path& model_path, const Options& options);

  std::string_view name() const override { return onnx_detector_family_name(options_.family); }
  Result<std::vector<Detection>> detect(const cv::Mat& bgr) const override;
  const Options& options() const { return options_; }

 private:
  struct Candidate;
  OnnxFaceDetector(std::shared_ptr<inference::OnnxSession> session, const Options& options);
  // Candidates above the score threshold in `bgr` (one angle), in its pixels.
  Status detect_upright(const cv::Mat& bgr, std::vector<Candidate>& out) const;
  void decode_yolo(const std::vector<inference::Tensor>& outputs, std::vector<Candidate>& out) const;
  Status decode_anchor_grid(const std::vector<inference::Tensor>& outputs, std::vector<Candidate>& out) const;

  std::shared_ptr<inference::OnnxSession> session_;
  Options options_;
};

}  // namespace facefuse::face
