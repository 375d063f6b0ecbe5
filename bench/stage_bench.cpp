// Per-stage timings of the image workflow on a 720p and a 1080p frame made from a real photo:
// decode (the baseline), detect, landmarks, recognise, age/gender (the face selector's filters),
// warp, mask + colour (and, alone, the glasses check inside it), blend and encode.
// Prints the machine, the inputs, the median of N runs per stage and each stage as a ratio of
// the JPEG decode of the same frame, so runs on different machines can be compared.
//
//   facefuse_bench_stages TESTDATA_DIR [--runs N]
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/core/paths.h"
#include "facefuse/face/age_gender_classifier.h"
#include "facefuse/face/detector_factory.h"
#include "facefuse/face/dlib_recognizer.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/glasses.h"
#include "facefuse/media/image_io.h"
#include "facefuse/processors/face_swapper/classical_swapper.h"
#include "bench_support.h"

using namespace facefuse;

namespace {

double median_ms(int runs, const std::function<void()>& fn) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The photo cropped to 16:9 and resized to `height` lines.
cv::Mat frame_of_height(const cv::Mat& photo, int height) {
  int crop_h = std::min(photo.rows, photo.cols * 9 / 16);
  cv::Mat crop = photo(cv::Rect(0, (photo.rows - crop_h) / 2, crop_h * 16 / 9, crop_h));
  cv::Mat out;
  cv::resize(crop, out, cv::Size(height * 16 / 9, height), 0, 0, cv::INTER_AREA);
  return out;
}

int fail(const Status& s) {
  std::fprintf(stderr, "bench: %s\n", s.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (int code = bench::usage_exit(argc, argv, "usage: %s TESTDATA_DIR [--runs N]\n"); code >= 0) {
    return code;
  }
  std::filesystem::path testdata = argv[1];
  int runs = 7;
  if (argc >= 4 && std::string(argv[2]) == "--runs") runs = std::max(1, std::atoi(argv[3]));
  auto models = default_models_dir();

  auto detector = face::create_face_detector("blazeface", models);
  if (!detector) return fail(detector.status());
  auto landmarker = face::create_face_landmarker("dlib_68", models);
  if (!landmarker) return fail(landmarker.status());
  auto recognizer = face::DlibRecognizer::open(models, {});
  if (!recognizer) return fail(recognizer.status());
  auto classifier = face::AgeGenderClassifier::open(models, {});
  if (!classifier) return fail(classifier.status());

  // Source: one face; target: a real group photo of several people (1920×1280).
  auto source_image = media::read_image(testdata / "photos/astronaut.png");
  auto target_photo = media::read_image(testdata / "photos/sample1.jpg");
  if (!source_image || !target_photo) return fail(source_image ? target_photo.status() : source_image.status());
  auto source_det = (*detector)->detect(*source_image);
  if (!source_det || source_det->empty()) return fail(internal_error("no face in the source photo"));
  processors::SwapSourceFace source{*source_image, {}};
  source.face.box = source_det->front().box;
  source.face.landmarks68 = *(*landmarker)->landmarks(*source_image, source.face.box);
  source.face.landmarks5 = face::landmarks5_from_68(source.face.landmarks68);

  utsname uts{};
  uname(&uts);
  std::printf("facefuse stage benchmark\nmachine: %s, %u hardware threads, %s %s\n", bench::cpu_model().c_str(),
              std::thread::hardware_concurrency(), uts.sysname, uts.release);
  std::printf("source: photos/astronaut.png; target: photos/sample1.jpg cropped to 16:9; median of %d runs\n\n", runs);
  std::printf("%-6s %-6s %-11s %10s %10s\n", "frame", "faces", "stage", "ms", "x decode");

  for (int height : {720, 1080}) {
    cv::Mat frame = frame_of_height(*target_photo, height);
    std::vector<uchar> jpeg;
    cv::imencode(".jpg", frame, jpeg, {cv::IMWRITE_JPEG_QUALITY, 95});
    double decode = median_ms(runs, [&] { (void)media::decode_image(jpeg, "frame"); });

    std::vector<face::Detection> detections;
    double detect = median_ms(runs, [&] { detections = *(*detector)->detect(frame); });
    std::vector<face::Face> faces(detections.size());
    double landmarks = median_ms(runs, [&] {
      for (size_t i = 0; i < detections.size(); ++i) {
        faces[i].box = detections[i].box;
        faces[i].landmarks68 = *(*landmarker)->landmarks(frame, detections[i].box);
        faces[i].landmarks5 = face::landmarks5_from_68(faces[i].landmarks68);
      }
    });
    double recognise = median_ms(runs, [&] {
      for (auto& f : faces) f.embedding = *(*recognizer)->embed(frame, f);
    });
    double age_gender = median_ms(runs, [&] {
      for (auto& f : faces) f.attributes = *(*classifier)->classify(frame, f);
    });
    processors::ClassicalSwapOptions options;
    std::vector<processors::ClassicalSwapTimings> parts;
    (void)median_ms(runs, [&] {
      cv::Mat work = frame.clone();
      processors::ClassicalSwapTimings t;
      for (const auto& f : faces) (void)processors::classical_swap(work, f, source, options, nullptr, &t);
      parts.push_back(t);
    });
    auto median_part = [&](double processors::ClassicalSwapTimings::*field) {
      std::vector<double> v;
      for (const auto& p : parts) v.push_back(p.*field);
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    // The glasses check inside mask+color (face/glasses.h), alone: what keeping the target's glasses
    // costs per swap, on the same faces' regions as the swap reads.
    double glasses = median_ms(runs, [&] {
      for (const auto& f : faces) {
        const cv::Rect region = face::face_region(f.landmarks68, 0.15f, 0.25f, frame.size());
        face::Landmarks68 local(f.landmarks68.size());
        for (size_t i = 0; i < local.size(); ++i) local[i] = f.landmarks68[i] - cv::Point2f(region.tl());
        (void)face::glasses_frame_mask(frame(region), local);
      }
    });
    double encode = median_ms(runs, [&] {
      std::vector<uchar> out;
      cv::imencode(".jpg", frame, out, {cv::IMWRITE_JPEG_QUALITY, 95});
    });
    std::string label = std::to_string(height) + "p";
    auto row = [&](const char* stage, double ms) {
      std::printf("%-6s %-6zu %-11s %10.2f %10.2f\n", label.c_str(), faces.size(), stage, ms, ms / decode);
    };
    row("decode", decode);
    row("detect", detect);
    row("landmarks", landmarks);
    row("recognise", recognise);
    row("age/gender", age_gender);
    row("warp", median_part(&processors::ClassicalSwapTimings::warp_ms));
    row("mask+color", median_part(&processors::ClassicalSwapTimings::mask_ms));
    row("  glasses", glasses);
    row("blend", median_part(&processors::ClassicalSwapTimings::blend_ms));
    row("encode", encode);
    std::printf("\n");
  }
  return 0;
}
