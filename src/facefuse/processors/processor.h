// The frame-processor contract shared by every processor (face_swapper, face_debugger, ...).
// A processor is opened once per job (resolve models, analyse sources, validate options — fail
// early with a clear message), then called once per frame, possibly from several threads at once
// for different frames, then closed.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "facefuse/core/status.h"
#include "facefuse/face/face.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/inference/onnx_session.h"
#include "facefuse/processors/processor_warning.h"

namespace facefuse::processors {

// One option of a processor, as shown by --help, validated by the API and listed by /models.
struct OptionSpec {
  std::string name;           // snake_case key in the job's options, e.g. "face_swapper_blend"
  // "number" | "string" | "boolean" | "number_list" (JSON array of numbers) | "string_list" (JSON
  // array of distinct `choices`: a multi-choice; the text form "box occlusion" / "box,occlusion" is
  // accepted too) | "padding" (4 integers in [min, max]: top, right, bottom, left; 1 to 4 values
  // as a number, an array or text "10 20" are accepted as CSS shorthand). validate_options stores
  // string_list and padding values in their text form ("box area", "10 20"; registry.cpp says why).
  std::string type;
  nlohmann::json default_value;
  std::string help;
  std::vector<std::string> choices = {};  // allowed values of a string option or list item; empty = free
  double min = 0.0, max = 0.0;       // range of a number option (inclusive)
};

// What a processor gets at open(): the job's sources and options and the shared face analyser.
struct ProcessorContext {
  std::filesystem::path models_dir;
  const face::FaceAnalyser* analyser = nullptr;  // outlives the processor
  std::vector<cv::Mat> source_images;            // BGR uint8, in the order given
  std::vector<std::string> source_names;         // file names for messages
  nlohmann::json options = nlohmann::json::object();  // validated against options()
  inference::SessionOptions session;             // execution provider of the processors' own models
};

// One frame on its way through the processors.
struct FrameContext {
  cv::Mat frame;                         // BGR uint8, modified in place
  std::vector<face::Face> target_faces;  // faces selected for processing, with 68 landmarks
  int64_t frame_index = 0;
  // A still image (image job, image preview): every face is swapped at full resolution. Video and
  // live frames swap a large face on a reduced copy to keep up with the frame rate
  // (FaceSwapper::swap_reduced); the detail finer than that copy is the target's own.
  bool still_image = false;
};

class FrameProcessor {
 public:
  virtual ~FrameProcessor() = default;
  virtual std::string_view name() const = 0;
  virtual Status open(const ProcessorContext& context) = 0;
  // Thread-safe after open(): frames may be processed concurrently.
  virtual Status process(FrameContext& frame) const = 0;
  virtual void close() {}
  // Faces found in each source image at open(), one count per context.source_images entry; empty
  // for processors that do not analyse the sources. Reported to API clients (input_summary).
  virtual std::vector<int> source_face_counts() const { return {}; }
  // What limited the result of the frames processed since open() or the previous call, for the
  // job's `warnings` (e.g. a small or turned source face, targets whose pose is far from the
  // source's), each a sentence saying what to change; counters start again at 0. A video's chunk
  // takes its own figures this way, and the merge joins the chunks' (merge_warnings). Call when no
  // process() is running (it is const for the same reason process() is: the figures are counters).
  virtual std::vector<ProcessorWarning> take_warnings() const { return {}; }
};

// Reads a validated option with its default.
template <typename T>
T option_or(const nlohmann::json& options, const std::string& name, T fallback) {
  auto it = options.find(name);
  return it == options.end() || it->is_null() ? fallback : it->get<T>();
}

}  // namespace facefuse::processors
