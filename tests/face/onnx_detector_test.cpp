// FaceFusion's ONNX detectors (yolo_face, scrfd, retinaface, yunet) and the 2dfan4 landmarker,
// run on generated models of the real signatures (tests/tools/make_detector_fixtures.py) whose
// outputs are constant boxes/points at known model-input pixels plus terms that read the model
// input at chosen pixels. Every expectation below is computed here from CONTRACTS.md's rules, not
// by calling the code under test.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "face/detector_fixtures.h"
#include "face/dlib_ground_truth.h"
#include "facefuse/face/box_convention.h"
#include "facefuse/face/detector_factory.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/face/fan_landmarker.h"
#include "facefuse/face/onnx_face_detector.h"
#include "facefuse/inference/model_catalog.h"
#include "support/test_support.h"

namespace facefuse::face {
namespace {

using facefuse::testing::detector_fixture_layout;
using facefuse::testing::detector_fixtures_dir;

// A frame of one colour: every model-input pixel inside the letterbox has exactly these bytes
// whatever the interpolation, so normalisation can be checked to float precision.
const cv::Scalar kColour(30, 200, 220);  // B, G, R
cv::Mat uniform(cv::Size size, cv::Scalar colour = kColour) { return cv::Mat(size, CV_8UC3, colour); }

std::shared_ptr<FaceDetector> open_detector(const std::string& name, DetectorOptions options = {}) {
  auto detector = create_face_detector(name, detector_fixtures_dir(), options);
  EXPECT_TRUE(detector.is_ok()) << detector.status().message();
  return detector.is_ok() ? *detector : nullptr;
}

// Model box (x1, y1, x2, y2 in model pixels) scaled to the frame.
cv::Rect2f scaled(float x1, float y1, float x2, float y2, float rx, float ry) {
  return {x1 * rx, y1 * ry, (x2 - x1) * rx, (y2 - y1) * ry};
}

void expect_box_near(const cv::Rect2f& got, const cv::Rect2f& want, float tol = 1e-3f) {
  EXPECT_NEAR(got.x, want.x, tol);
  EXPECT_NEAR(got.y, want.y, tol);
  EXPECT_NEAR(got.width, want.width, tol);
  EXPECT_NEAR(got.height, want.height, tol);
}

// The letterbox ratio per axis of a frame: FaceFusion's restrict_frame keeps
// int(side · min(640/w, 640/h)) pixels.
cv::Point2f letterbox_ratio(cv::Size frame, int model = 640) {
  const double scale = std::min(1.0, std::min(static_cast<double>(model) / frame.width,
                                              static_cast<double>(model) / frame.height));
  return {static_cast<float>(frame.width) / static_cast<float>(static_cast<int>(frame.width * scale)),
          static_cast<float>(frame.height) / static_cast<float>(static_cast<int>(frame.height * scale))};
}

// yolo fixture face in frame pixels at letterbox ratio r.
cv::Rect2f yolo_box(const nlohmann::json& face, cv::Point2f r) {
  const auto b = face["box"].get<std::vector<float>>();
  return scaled(b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2, r.x, r.y);
}

TEST(OnnxFaceDetector, YoloFaceDecodesColumnsAtTheLetterboxScaleAndNormalisesBytesOver255) {
  const auto faces = detector_fixture_layout()["yoloface_8n.onnx"]["faces"];
  auto detector = open_detector("yolo_face");
  ASSERT_NE(detector, nullptr);
  // 1280 x 720 shrinks by exactly 2; 1000 x 700 by 1.5625 (640 x 448).
  for (const cv::Size size : {cv::Size(1280, 720), cv::Size(1000, 700)}) {
    SCOPED_TRACE(size);
    const cv::Point2f r = letterbox_ratio(size);
    auto detections = detector->detect(uniform(size));
    ASSERT_TRUE(detections.is_ok()) << detections.status().message();
    // Face 0 (score 0.1 + R/255 = 0.963) beats its overlapping twin face 1 (0.7, IoU 0.85 > 0.4);
    // face 2 reads a canvas pixel, zero after x/255, so keeps its constant 0.6; face 3 (0.45) is
    // below the default threshold 0.5.
    ASSERT_EQ(detections->size(), 2u);
    const Detection& a = (*detections)[0];
    const Detection& c = (*detections)[1];
    EXPECT_NEAR(a.score, 0.1f + 220.0f / 255.0f, 1e-5f);
    EXPECT_NEAR(c.score, 0.6f, 1e-6f);
    expect_box_near(a.detector_box, yolo_box(faces[0], r));
    expect_box_near(c.detector_box, yolo_box(faces[2], r));
    for (int k = 0; k < 5; ++k) {
      EXPECT_NEAR(a.landmarks5[k].x, faces[0]["points"][k][0].get<float>() * r.x, 1e-3f);
      EXPECT_NEAR(a.landmarks5[k].y, faces[0]["points"][k][1].get<float>() * r.y, 1e-3f);
    }
  }
}

TEST(OnnxFaceDetector, ScoreThresholdIsTheOption) {
  DetectorOptions options;
  options.score_threshold = 0.4f;
  auto detector = open_detector("yolo_face", options);
  ASSERT_NE(detector, nullptr);
  auto detections = detector->detect(uniform({1280, 720}));
  ASSERT_TRUE(detections.is_ok());
  ASSERT_EQ(detections->size(), 3u);  // face 3 (0.45) now passes
  EXPECT_NEAR(detections->back().score, 0.45f, 1e-6f);
}

// scrfd and retinaface share one layout: 9 outputs, 2 anchors per cell at the cell's corner.
void check_scrfd_like(const std::string& name, const std::string& file, const std::string& model_size = "640x640") {
  SCOPED_TRACE(name + " " + model_size);
  const auto layout = detector_fixture_layout()[file];
  const int side = layout["size"].get<int>();
  DetectorOptions options;
  options.size = model_size;
  auto opened = create_face_detector(name, detector_fixtures_dir() / std::filesystem::path(file).parent_path(), options);
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  auto detector = *opened;
  const cv::Size size(1280, 720);
  const cv::Point2f r = letterbox_ratio(size, side);
  auto detections = detector->detect(uniform(size));
  ASSERT_TRUE(detections.is_ok()) << detections.status().message();
  // Face 0: 0.3 + 0.5·(G − 127.5)/128 = 0.583; face 1 reads the canvas: 1.5 + (0 − 127.5)/128 =
  // 0.504 (a canvas left un-normalised would give 1.5); face 2 (0.2) is below 0.5.
  ASSERT_EQ(detections->size(), 2u);
  const std::vector<float> scores{0.3f + 0.5f * (200.0f - 127.5f) / 128.0f, 1.5f + (0.0f - 127.5f) / 128.0f};
  for (size_t i = 0; i < 2; ++i) {
    const auto& face = layout["faces"][i];
    const float s = face["stride"].get<float>();
    const cv::Point2f anchor(face["col"].get<float>() * s, face["row"].get<float>() * s);
    const auto d = face["box"].get<std::vector<float>>();
    const Detection& det = (*detections)[i];
    EXPECT_NEAR(det.score, scores[i], 1e-5f);
    expect_box_near(det.detector_box,
                    scaled(anchor.x - d[0] * s, anchor.y - d[1] * s, anchor.x + d[2] * s, anchor.y + d[3] * s, r.x, r.y));
    for (int k = 0; k < 5; ++k) {
      const auto off = layout["kps_offsets"][k].get<std::vector<float>>();
      EXPECT_NEAR(det.landmarks5[k].x, (anchor.x + off[0] * s) * r.x, 1e-3f);
      EXPECT_NEAR(det.landmarks5[k].y, (anchor.y + off[1] * s) * r.y, 1e-3f);
    }
  }
}

TEST(OnnxFaceDetector, ScrfdDecodesAnchorDistancesPerStride) { check_scrfd_like("scrfd", "scrfd_2.5g.onnx"); }
TEST(OnnxFaceDetector, RetinaFaceDecodesAnchorDistancesPerStride) {
  check_scrfd_like("retinaface", "retinaface_10g.onnx");
}

TEST(OnnxFaceDetector, DetectorSizeSetsTheLetterboxAndTheAnchorGrid) {
  // A model with a dynamic input, as FaceFusion's scrfd file, run at 320 x 320: the frame shrinks
  // by 4 and the grids are 40/20/10 cells.
  check_scrfd_like("scrfd", "scrfd_320/scrfd_2.5g.onnx", "320x320");
  // The same file at 640 x 640 returns grids of the wrong size: a clear error, not garbage.
  auto detector = create_face_detector("scrfd", detector_fixtures_dir() / "scrfd_320");
  ASSERT_TRUE(detector.is_ok()) << detector.status().message();
  auto detections = (*detector)->detect(uniform({1280, 720}));
  ASSERT_FALSE(detections.is_ok());
  EXPECT_NE(detections.status().message().find("expected 12800 for a 640x640 input"), std::string::npos)
      << detections.status().message();
}

TEST(OnnxFaceDetector, YuNetMultipliesClassAndObjectnessAndDecodesExpSizes) {
  const auto layout = detector_fixture_layout()["yunet_2023_mar.onnx"];
  auto detector = open_detector("yunet");
  ASSERT_NE(detector, nullptr);
  const cv::Size size(1280, 720);
  const cv::Point2f r = letterbox_ratio(size);
  auto detections = detector->detect(uniform(size));
  ASSERT_TRUE(detections.is_ok()) << detections.status().message();
  // cls 0.9 · obj (0.6 + 0.001·G raw) = 0.72; the canvas face: 0.9 · 0.6 = 0.54; the third 0.3.
  ASSERT_EQ(detections->size(), 2u);
  const std::vector<float> scores{0.9f * (0.6f + 0.001f * 200.0f), 0.9f * 0.6f};
  for (size_t i = 0; i < 2; ++i) {
    const auto& face = layout["faces"][i];
    const float s = face["stride"].get<float>();
    const cv::Point2f anchor(face["col"].get<float>() * s, face["row"].get<float>() * s);
    const auto o = face["box"].get<std::vector<float>>();
    const cv::Point2f centre = anchor + cv::Point2f(o[0], o[1]) * s;
    const float w = std::exp(o[2]) * s, h = std::exp(o[3]) * s;
    const Detection& det = (*detections)[i];
    EXPECT_NEAR(det.score, scores[i], 1e-5f);
    expect_box_near(det.detector_box, scaled(centre.x - w / 2, centre.y - h / 2, centre.x + w / 2, centre.y + h / 2, r.x, r.y));
    const auto off = layout["kps_offsets"][2].get<std::vector<float>>();
    EXPECT_NEAR(det.landmarks5[2].x, (anchor.x + off[0] * s) * r.x, 1e-3f);
    EXPECT_NEAR(det.landmarks5[2].y, (anchor.y + off[1] * s) * r.y, 1e-3f);
  }
}

TEST(OnnxFaceDetector, AnglesSearchTheTurnedFrameAndMapResultsBack) {
  const auto faces = detector_fixture_layout()["yoloface_8n.onnx"]["faces"];
  DetectorOptions options;
  options.angles = {0, 90};
  auto detector = open_detector("yolo_face", options);
  ASSERT_NE(detector, nullptr);
  const cv::Size size(1280, 720);
  auto detections = detector->detect(uniform(size));
  ASSERT_TRUE(detections.is_ok()) << detections.status().message();
  // Each angle finds faces 0 and 2; nothing overlaps across angles (NMS 0.3 for two angles).
  ASSERT_EQ(detections->size(), 4u);
  // Turned 90° counter-clockwise the frame is 720 x 1280 (x' = y, y' = 1280 − x), shrunk by 2.
  // Back: x = 1280 − y', y = x'.
  const cv::Point2f r = letterbox_ratio({720, 1280});
  auto back = [&](const cv::Rect2f& b) { return cv::Rect2f(1280.0f - (b.y + b.height), b.x, b.height, b.width); };
  const std::vector<cv::Rect2f> want{yolo_box(faces[0], letterbox_ratio(size)), back(yolo_box(faces[0], r)),
                                     yolo_box(faces[2], letterbox_ratio(size)), back(yolo_box(faces[2], r))};
  for (const auto& w : want) {
    const bool found = std::any_of(detections->begin(), detections->end(), [&](const Detection& d) {
      return std::abs(d.detector_box.x - w.x) < 1e-2f && std::abs(d.detector_box.y - w.y) < 1e-2f &&
             std::abs(d.detector_box.width - w.width) < 1e-2f && std::abs(d.detector_box.height - w.height) < 1e-2f;
    });
    EXPECT_TRUE(found) << "no detection at " << w;
  }
  // The turned face's eyes: model point p' → (1280 − p'.y·r, p'.x·r), so its eye line points down.
  const auto turned = std::find_if(detections->begin(), detections->end(), [](const Detection& d) {
    return d.detector_box.x > 800 && d.detector_box.y < 720;
  });
  ASSERT_NE(turned, detections->end());
  for (int k = 0; k < 5; ++k) {
    const cv::Point2f p(faces[0]["points"][k][0].get<float>() * r.x, faces[0]["points"][k][1].get<float>() * r.y);
    EXPECT_NEAR(turned->landmarks5[k].x, 1280.0f - p.y, 1e-2f);
    EXPECT_NEAR(turned->landmarks5[k].y, p.x, 1e-2f);
  }
  // Its dlib-convention box was fitted upright in the turned frame, then turned back: a square.
  EXPECT_NEAR(turned->box.width, turned->box.height, 1e-2f);
}

TEST(OnnxFaceDetector, FrameRotationIsFaceFusions) {
  // cv2.getRotationMatrix2D about the centre, shifted so the turned frame fits whole.
  const FrameRotation r90 = frame_rotation(90, {1280, 720});
  EXPECT_EQ(r90.size, cv::Size(720, 1280));
  const cv::Matx23d want90(0, 1, 0, -1, 0, 1280);
  const FrameRotation r180 = frame_rotation(180, {1280, 720});
  EXPECT_EQ(r180.size, cv::Size(1280, 720));
  const cv::Matx23d want180(-1, 0, 1280, 0, -1, 720);
  const FrameRotation r270 = frame_rotation(270, {1280, 720});
  EXPECT_EQ(r270.size, cv::Size(720, 1280));
  const cv::Matx23d want270(0, -1, 720, 1, 0, 0);
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(r90.matrix.val[i], want90.val[i], 1e-9);
    EXPECT_NEAR(r180.matrix.val[i], want180.val[i], 1e-9);
    EXPECT_NEAR(r270.matrix.val[i], want270.val[i], 1e-9);
  }
}

TEST(OnnxFaceDetector, NonMaxSuppressionKeepsTheBestOfOverlapsAboveTheThreshold) {
  // Best first: b (0.9). IoU(a, b) = 90·90 / (20000 − 8100) = 0.68; IoU(c, b) = 60·90 / (20000 −
  // 5400) = 0.37; d overlaps nothing.
  const std::vector<cv::Rect2f> boxes{{0, 0, 100, 100}, {10, 10, 100, 100}, {50, 0, 100, 100}, {500, 500, 10, 10}};
  const std::vector<float> scores{0.8f, 0.9f, 0.7f, 0.6f};
  EXPECT_EQ(non_max_suppression(boxes, scores, 0.4f), (std::vector<size_t>{1, 2, 3}));
  EXPECT_EQ(non_max_suppression(boxes, scores, 0.3f), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(non_max_suppression(boxes, scores, 0.7f), (std::vector<size_t>{1, 0, 2, 3}));
  EXPECT_FLOAT_EQ(onnx_detector_nms_threshold(1), 0.4f);
  EXPECT_FLOAT_EQ(onnx_detector_nms_threshold(2), 0.3f);
  EXPECT_FLOAT_EQ(onnx_detector_nms_threshold(3), 0.2f);
  EXPECT_FLOAT_EQ(onnx_detector_nms_threshold(4), 0.1f);
}

TEST(OnnxFaceDetector, RefusesSizesAnglesAndModelsThatDoNotFit) {
  DetectorOptions options;
  options.size = "320x320";
  auto yolo = create_face_detector("yolo_face", detector_fixtures_dir(), options);
  ASSERT_FALSE(yolo.is_ok());
  EXPECT_NE(yolo.status().message().find("640x640"), std::string::npos) << yolo.status().message();
  // scrfd takes 320x320, but this model file's input is fixed at 640.
  auto scrfd = create_face_detector("scrfd", detector_fixtures_dir(), options);
  ASSERT_FALSE(scrfd.is_ok());
  EXPECT_NE(scrfd.status().message().find("fixed 640x640"), std::string::npos) << scrfd.status().message();

  DetectorOptions angles;
  angles.angles = {0, 45};
  EXPECT_EQ(create_face_detector("yolo_face", detector_fixtures_dir(), angles).status().code(),
            StatusCode::kInvalidArgument);
  angles.angles = {90};
  EXPECT_EQ(create_face_detector("blazeface", facefuse::testing::models_dir(), angles).status().code(),
            StatusCode::kInvalidArgument);

  // A model file of another family: yolo_face's file (one output) under scrfd's name (nine).
  facefuse::testing::TempDir dir;
  std::filesystem::copy_file(detector_fixtures_dir() / "yoloface_8n.onnx", dir / "scrfd_2.5g.onnx");
  auto wrong = create_face_detector("scrfd", dir.path());
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_NE(wrong.status().message().find("is not a scrfd model"), std::string::npos) << wrong.status().message();
}

TEST(OnnxFaceDetector, MissingModelSaysHowToInstallIt) {
  facefuse::testing::TempDir empty;
  for (const std::string name : {"yolo_face", "scrfd", "retinaface", "yunet"}) {
    auto detector = create_face_detector(name, empty.path());
    ASSERT_FALSE(detector.is_ok());
    EXPECT_EQ(detector.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(detector.status().message().find("facefuse models download " + name), std::string::npos)
        << detector.status().message();
    EXPECT_NE(detector.status().message().find("docs/models.md"), std::string::npos);
  }
  auto landmarker = create_face_landmarker("2dfan4", empty.path());
  ASSERT_FALSE(landmarker.is_ok());
  EXPECT_EQ(landmarker.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(landmarker.status().message().find("2dfan4.onnx"), std::string::npos);
}

// 2dfan4: expected points = (fixture point · 4 − translation) / scale, with scale = 195 / max(w, h)
// and translation = (256 − (x1 + x2, y1 + y2)·scale) / 2; point 0's x also carries 10 · (crop byte
// B at the centre, after FaceFusion's Lab round trip) / 255 in heatmap units.
float lab_round_trip_blue(cv::Scalar colour, bool clahe) {
  cv::Mat crop(256, 256, CV_8UC3, colour), lab;
  cv::cvtColor(crop, lab, cv::COLOR_RGB2Lab);
  if (clahe) {
    std::vector<cv::Mat> ch;
    cv::split(lab, ch);
    cv::createCLAHE(2.0)->apply(ch[0], ch[0]);
    cv::merge(ch, lab);
  }
  cv::cvtColor(lab, crop, cv::COLOR_Lab2RGB);
  return crop.at<cv::Vec3b>(128, 128)[0];
}

Landmarks68 fan_expected(const nlohmann::json& layout, const cv::Rect2f& box, float blue) {
  const double scale = 195.0 / std::max(box.width, box.height);
  const double tx = (256.0 - (2.0 * box.x + box.width) * scale) / 2.0;
  const double ty = (256.0 - (2.0 * box.y + box.height) * scale) / 2.0;
  Landmarks68 points;
  for (int i = 0; i < 68; ++i) {
    double hx = layout["points"][i][0].get<double>(), hy = layout["points"][i][1].get<double>();
    if (i == 0) hx += layout["probe_gain"].get<double>() * blue / 255.0;
    points.emplace_back(static_cast<float>((hx * 4 - tx) / scale), static_cast<float>((hy * 4 - ty) / scale));
  }
  return points;
}

std::shared_ptr<FaceLandmarker> open_fan() {
  auto landmarker = create_face_landmarker("2dfan4", detector_fixtures_dir());
  EXPECT_TRUE(landmarker.is_ok()) << landmarker.status().message();
  return landmarker.is_ok() ? *landmarker : nullptr;
}

TEST(FanLandmarker, MapsHeatmapPointsBackThroughTheCropAndScoresHeatmapMaxima) {
  const auto layout = detector_fixture_layout()["2dfan4.onnx"];
  auto opened = FanLandmarker::open(detector_fixtures_dir() / "2dfan4.onnx", {});
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  const cv::Rect2f box(300, 200, 160, 200);
  auto result = (*opened)->detect(uniform({1280, 720}), box);
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  const Landmarks68 want = fan_expected(layout, box, lab_round_trip_blue(kColour, false));
  ASSERT_EQ(result->points.size(), 68u);
  for (int i = 0; i < 68; ++i) {
    EXPECT_NEAR(result->points[i].x, want[i].x, 1e-3f) << i;
    EXPECT_NEAR(result->points[i].y, want[i].y, 1e-3f) << i;
  }
  // Mean of the per-point maxima 0.45 → 0.45 / 0.9.
  EXPECT_NEAR(result->score, 0.5f, 1e-5f);
}

TEST(FanLandmarker, EqualisesDarkCropsWithClahe) {
  const auto layout = detector_fixture_layout()["2dfan4.onnx"];
  auto fan = open_fan();
  ASSERT_NE(fan, nullptr);
  const cv::Scalar dark(10, 12, 14);
  const cv::Rect2f box(300, 200, 160, 200);
  auto points = fan->landmarks(uniform({1280, 720}, dark), box);
  ASSERT_TRUE(points.is_ok());
  const float equalised = lab_round_trip_blue(dark, true);
  const float plain = lab_round_trip_blue(dark, false);
  ASSERT_GE(std::abs(equalised - plain), 3.0f) << "the dark colour must be one CLAHE changes";
  EXPECT_NEAR((*points)[0].x, fan_expected(layout, box, equalised)[0].x, 1e-3f);
}

TEST(FanLandmarker, BoxFromLandmarksIsTheirExtentAndTakesTheDetectorBox) {
  auto fan = open_fan();
  ASSERT_NE(fan, nullptr);
  Landmarks68 points(68, cv::Point2f(50, 60));
  points[3] = {10, 70};
  points[40] = {90, 20};
  expect_box_near(fan->box_from_landmarks(points), cv::Rect2f(10, 20, 80, 50));
  Detection d;
  d.box = {1, 2, 3, 3};
  d.detector_box = {5, 6, 7, 8};
  expect_box_near(fan->input_box(d), d.detector_box);
}

TEST(FaceAnalyserOnnx, YoloFaceWith2dfan4LandmarksUprightAndTurnedFaces) {
  const auto layout = detector_fixture_layout();
  FaceAnalyserOptions options;
  options.models_dir = detector_fixtures_dir();
  options.detector = "yolo_face";
  options.detector_angles = {0, 90};
  options.landmarker = "2dfan4";
  auto analyser = FaceAnalyser::open(options);
  ASSERT_TRUE(analyser.is_ok()) << analyser.status().message();
  const cv::Size size(1280, 720);
  auto faces = (*analyser)->analyse(uniform(size));
  ASSERT_TRUE(faces.is_ok()) << faces.status().message();
  ASSERT_EQ(faces->size(), 4u);
  const float blue = lab_round_trip_blue(kColour, false);
  const auto& yolo_faces = layout["yoloface_8n.onnx"]["faces"];

  // Upright face 0: Face::box is 2dfan4's input, the detector's own box; points through the crop.
  const cv::Rect2f upright_box = yolo_box(yolo_faces[0], letterbox_ratio(size));
  const auto upright = std::find_if(faces->begin(), faces->end(), [&](const Face& f) {
    return std::abs(f.box.x - upright_box.x) < 1e-2f && std::abs(f.box.y - upright_box.y) < 1e-2f;
  });
  ASSERT_NE(upright, faces->end());
  const Landmarks68 want_upright = fan_expected(layout["2dfan4.onnx"], upright_box, blue);
  for (int i = 0; i < 68; ++i) EXPECT_NEAR(upright->landmarks68[i].x, want_upright[i].x, 1e-2f);

  // Face 0 found on the turned frame: its landmarks are taken on the frame turned upright again
  // (90°: x' = y, y' = 1280 − x) where its box is the model box × 2, then turned back.
  const cv::Rect2f turned_box = yolo_box(yolo_faces[0], letterbox_ratio({720, 1280}));
  const auto turned =
      std::find_if(faces->begin(), faces->end(), [](const Face& f) { return f.box.x > 800 && f.box.y < 720; });
  ASSERT_NE(turned, faces->end());
  const Landmarks68 in_turned_frame = fan_expected(layout["2dfan4.onnx"], turned_box, blue);
  for (int i = 0; i < 68; ++i) {
    EXPECT_NEAR(turned->landmarks68[i].x, 1280.0f - in_turned_frame[i].y, 1e-2f) << i;
    EXPECT_NEAR(turned->landmarks68[i].y, in_turned_frame[i].x, 1e-2f) << i;
  }
}

TEST(BoxConvention, FiveDetectorPointsGiveTheDlibBoxOfLabelledFaces) {
  // A face whose points sit exactly on the template is fitted exactly.
  const cv::Rect2f box(100, 50, 200, 200);
  Landmarks5 on_template;
  for (int k = 0; k < 5; ++k) {
    const cv::Point2f t = landmarks5_in_dlib_box()[k];
    on_template[k] = {box.x + t.x * box.width, box.y + t.y * box.height};
  }
  expect_box_near(dlib_box_from_landmarks5(on_template), box);

  // dlib's 43 labelled faces: 5 points from their 68 landmarks → box vs the labelled dlib box.
  double iou_sum = 0;
  int count = 0;
  float worst = 1.0f;
  for (const char* xml : {"dlib_faces/training_with_face_landmarks.xml", "dlib_faces/testing_with_face_landmarks.xml"}) {
    for (const auto& image : facefuse::testing::load_dlib_ground_truth(facefuse::testing::testdata(xml))) {
      for (const auto& face : image.faces) {
        if (face.landmarks68.size() != 68) continue;
        const float iou = facefuse::testing::iou(dlib_box_from_landmarks5(landmarks5_from_68(face.landmarks68)), face.box);
        iou_sum += iou;
        worst = std::min(worst, iou);
        ++count;
      }
    }
  }
  ASSERT_GE(count, 40);
  const double mean = iou_sum / count;
  RecordProperty("mean_iou", std::to_string(mean));
  std::printf("dlib box from 5 points: mean IoU %.3f, worst %.3f over %d labelled faces\n", mean, worst, count);
  EXPECT_GT(mean, 0.8);
  EXPECT_GT(worst, 0.6f);
}

TEST(OnnxFaceDetector, CatalogueNamesFaceFusionsFilesAndContracts) {
  const std::vector<std::pair<std::string, std::string>> models{{"yolo_face", "yoloface_8n.onnx"},
                                                                {"scrfd", "scrfd_2.5g.onnx"},
                                                                {"retinaface", "retinaface_10g.onnx"},
                                                                {"yunet", "yunet_2023_mar.onnx"}};
  for (const auto& [id, file] : models) {
    auto entry = inference::find_model(id);
    ASSERT_TRUE(entry.is_ok()) << id;
    EXPECT_EQ((*entry)->file, file);
    EXPECT_EQ((*entry)->kind, "face_detector");
    EXPECT_FALSE((*entry)->is_default);
    EXPECT_EQ((*entry)->contract.value("family", ""), id);
    EXPECT_EQ((*entry)->contract.value("size", 0), 640);
  }
  auto fan = inference::find_model("2dfan4");
  ASSERT_TRUE(fan.is_ok());
  EXPECT_EQ((*fan)->file, "2dfan4.onnx");
  EXPECT_EQ((*fan)->kind, "face_landmarker");
  EXPECT_EQ((*fan)->contract.value("family", ""), "2dfan4");
  EXPECT_EQ((*fan)->contract.value("size", 0), 256);
}

}  // namespace
}  // namespace facefuse::face
