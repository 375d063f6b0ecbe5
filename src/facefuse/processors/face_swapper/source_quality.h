// What limits a classical swap's result that the user can fix by choosing another source photo
// (issue 17: "never a silent bad result"): a small or blurred source face, a strongly turned or
// tilted source head, a source whose eyes are covered (sunglasses), a source whose pose differs
// strongly from a target's. The face_swapper reports these as job warnings (`warnings` of the
// job, "facefuse: warning:" on the CLI).
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"
#include "facefuse/processors/processor_warning.h"

namespace facefuse::processors {

// Thresholds, from the test photos' faces (`facefuse_bench_quality TESTDATA --survey`, 2026-12-06)
// and the quality bench (docs/decisions/0006):
// A source face under this size (face::face_size, px) gives a visibly soft face on the usual
// 150–300 px target faces: the bench's 42–52 px sources give 0.07–0.3× the target's sharpness.
inline constexpr float kSmallSourceFace = 80.0f;
// Sharpness of the source face (source_face_sharpness) under this: the face is blurred. Every face
// of ≥ 60 px in the test photos measures 0.16–0.63; Tom_Cruise_avp_2014_4.jpg (0.35) blurred with
// a Gaussian of 2.5 % of its face size measures 0.10.
inline constexpr float kBlurredSourceSharpness = 0.12f;
// Head turned beyond this (|yaw| of face/head_pose.h, degrees): the far side of the face is
// foreshortened or hidden. The fitted yaw of the test photos' most turned faces is 30–38°
// (estimate_yaw 0.5–0.8); the bench's worst pose error (0.09 IOD) is such a source, re-posed.
inline constexpr float kTurnedSourceYaw = 30.0f;
// Tilted sideways beyond this (|roll|, degrees): dlib's 68 points get unreliable on the jaw.
inline constexpr float kTiltedSourceRoll = 30.0f;
// A target whose yaw differs from the (mirrored when that is closer) source's by more than this,
// degrees: the re-posed source shows parts of the face its photo does not have (the bench's
// frontal source onto a target turned 38°, a 41° difference, is visibly stretched on the far cheek).
inline constexpr float kPoseMismatchYaw = 30.0f;
// Up/down tilt (pitch) is not warned about: the fitted pitch of upright test faces spreads over
// −35…+15° (dlib's brows move with expression), too wide to tell a tilted head from a frown.

// Scale-free sharpness of a face: the face region resampled so the face is 128 px, its
// high-frequency energy (image minus a Gaussian blur of sigma 1 px) over its local contrast
// (minus a blur of sigma 4 px), inside the inner face (hull of points 17–67), as an RMS ratio.
// 0.16–0.63 for the test photos' faces, < 0.1 for a blurred one. `image` BGR uint8.
float source_face_sharpness(const cv::Mat& image, const face::Face& face);

// Warnings about the source face itself (small, blurred, turned, tilted, eyes covered), each a
// sentence that says what limits the result and what to use instead; kinds "source_small",
// "source_blurred", "source_turned" (or "source_profile" for a face seen from the side,
// face::seen_from_the_side), "source_eyes_covered", "source_tilted" (no figures: every run of a
// job finds the same). `name` names the source in the messages.
std::vector<ProcessorWarning> source_quality_warnings(const cv::Mat& image, const face::Face& face,
                                                      const std::string& name);

// How many of the face's eyes (0–2) are covered (face::covered_eyes: sunglasses, hair or a hand
// over them). `image` BGR uint8.
int covered_eyes(const cv::Mat& image, const face::Face& face);

// Yaw difference (degrees) between the source as the swap uses it (mirrored when the two look
// opposite ways, classical_swapper.h) and the target.
float pose_yaw_difference(const face::Landmarks68& source, const face::Landmarks68& target);

}  // namespace facefuse::processors
