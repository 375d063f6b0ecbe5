// What a job opens once and shares between all its frames and threads: validated options, the
// face analyser, the processor chain (sources analysed), the face-selector settings and the
// reference face. Image jobs, video jobs and each chunk of a chunked job open one.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "facefuse/face/age_gender_classifier.h"
#include "facefuse/face/face_analyser.h"
#include "facefuse/face/face_selector.h"
#include "facefuse/pipeline/job_spec.h"
#include "facefuse/processors/processor.h"

namespace facefuse::pipeline {

class JobEngine {
 public:
  // Validates options (before anything heavy), reads the source images, opens the analyser and
  // the processors. Thread-safe to use after open: process() may run on several frames at once.
  static Result<std::unique_ptr<JobEngine>> open(const JobSpec& spec);

  const nlohmann::json& options() const { return options_; }
  // The analyser of the target's frames (JobSpec::frame_min_face_size); the sources were read by
  // source_analyser() at open. The same object unless frame_min_face_size set another size.
  const face::FaceAnalyser& analyser() const { return frame_analyser_ ? *frame_analyser_ : *analyser_; }
  const face::FaceAnalyser& source_analyser() const { return *analyser_; }
  const face::FaceSelectorOptions& selector() const { return selector_; }
  bool needs_reference() const { return selector_.mode == face::FaceSelectorMode::kReference; }

  // Reference mode: the face at reference_face_position (selector order, after the gender/age
  // filters) of `frame` becomes the reference. A frame without faces, or none passing the filters,
  // leaves no reference (nothing will be selected).
  Status set_reference_frame(const cv::Mat& frame);
  // The same with the frame's faces already analysed (an image job's target): no second detection.
  Status set_reference_faces(const cv::Mat& frame, std::vector<face::Face> faces);
  const std::optional<std::vector<float>>& reference_embedding() const { return reference_; }

  // Faces of `frame` selected by the job's options (image jobs; videos select per track).
  Result<std::vector<face::Face>> select(const cv::Mat& frame, std::vector<face::Face> faces) const;

  // Faces found in each source image by the first processor that analysed the sources (the face
  // swapper); empty when none did (e.g. an enhancer-only chain).
  std::vector<int> source_face_counts() const;

  // Fills Face::attributes (gender/age) of `faces` when a gender/age filter is set; a no-op
  // otherwise, so jobs without filters never run the classifier. Thread-safe.
  Status classify(const cv::Mat& frame, std::vector<face::Face>& faces) const;

  // Runs the processors in order on one frame.
  Status process(processors::FrameContext& frame) const;
  // What limited the result of the frames processed since open or the previous call, from every
  // processor (FrameProcessor::take_warnings): call when no process() is running, before close().
  std::vector<processors::ProcessorWarning> take_processor_warnings();
  void close();

 private:
  JobEngine() = default;
  nlohmann::json options_;
  face::FaceSelectorOptions selector_;
  std::unique_ptr<face::FaceAnalyser> analyser_;        // sources (and frames unless frame_analyser_)
  std::unique_ptr<face::FaceAnalyser> frame_analyser_;  // frames, when their smallest face differs
  std::vector<std::unique_ptr<processors::FrameProcessor>> chain_;
  std::optional<std::vector<float>> reference_;
  std::shared_ptr<face::AgeGenderClassifier> classifier_;  // only with a gender/age filter
};

// Adds the warnings a finished job's figures call for to `report`, from report.target_faces,
// processed_faces, frames and reference_frame: no face in the target at all; faces found but none
// processed, with the likely reason for the face-selector mode; for videos in reference mode, a
// reference face taken from a later frame than reference_frame_number, or from none. `options` are
// the job's validated options (JobEngine::options()); `target_name` names the target.
void add_result_warnings(const JobSpec& spec, const nlohmann::json& options, const std::string& target_name,
                         JobReport& report);

}  // namespace facefuse::pipeline
