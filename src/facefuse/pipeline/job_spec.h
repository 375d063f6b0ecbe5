// The job object that `facefuse run` builds from its flags and that the service builds from a
// request body: the same code executes both.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "facefuse/core/status.h"
#include "facefuse/inference/onnx_session.h"
#include "facefuse/media/image_io.h"

namespace facefuse::pipeline {

struct JobSpec {
  std::vector<std::filesystem::path> sources;
  std::filesystem::path target;
  std::filesystem::path output;
  std::vector<std::string> processors = {"face_swapper"};
  nlohmann::json options = nlohmann::json::object();  // snake_case keys, see processors::validate_options
  std::filesystem::path models_dir;
  inference::SessionOptions session;
  int64_t max_pixels = media::kDefaultMaxPixels;
  int output_quality = 95;  // JPEG/WebP quality 0–100
};

// Wall time of each stage of one job, in milliseconds.
struct StageTimings {
  double read_ms = 0, open_ms = 0, analyse_ms = 0, process_ms = 0, write_ms = 0;
};

struct JobReport {
  std::filesystem::path output;
  int target_faces = 0;     // faces found in the target
  int processed_faces = 0;  // faces the processors were applied to
  std::vector<std::string> warnings;
  StageTimings timings;
};

// Stage name ("reading", "analysing sources", "processing", "writing", ...) and fraction 0–1.
using ProgressCallback = std::function<void(const std::string& stage, double fraction)>;

}  // namespace facefuse::pipeline
