// FaceTracker: links the faces of consecutive video frames into tracks and smooths their
// landmarks, so a swapped face neither jitters nor flashes back to the original face when the
// detector misses it for a few frames (DESIGN.md §4.1 "Tracking").
//
// Where it sits in the streaming video pipeline: decode → analysis (parallel, any order) →
// FaceTracker::update (one thread, frames in order) → swapping (parallel) → encode (in order).
//
// Per frame, update() does:
//   1. Predict every live track to the frame's time (damped constant velocity of its head pose).
//   2. Match detections to tracks greedily by descending box IoU (predicted track box vs detected
//      box): a pair is allowed when IoU >= min_iou and, when the track, the detection and the
//      tracker all have identity information (track embedding, detection embedding, recognizer),
//      recognizer.distance < recognizer.same_person_threshold. Greedy instead of Hungarian: faces
//      of one frame rarely overlap, so each track usually has one candidate above min_iou and
//      both give the same assignment; they can differ only when two faces overlap enough to
//      compete for one detection, where box IoU is unreliable anyway and the identity rule is
//      what keeps the tracks apart.
//   3. Matched tracks: One-Euro-filter the detection (below). Unmatched tracks: bridged — their
//      pose is extrapolated with a velocity that decays with time constant
//      bridge_velocity_time_constant_sec, their expression (face-relative shape) is held — until
//      more than max_missed_frames consecutive frames were missed, then the track ends.
//      Unmatched detections: a new track whose first output is the detection itself (no lag).
//   4. Output every track, except a bridged track whose predicted box overlaps (IoU >= min_iou)
//      a face detected in this frame: that face hides it (one person passing in front of
//      another) or is the same person put on a new track by the identity rule, and swapping the
//      bridged face too would paste a second face over the visible one. Such a track stays
//      alive (and can be matched again) until it ends as above.
//
// Smoothing in the face frame (default). Each face's landmarks are split into a head pose — a
// similarity transform: centre c (px), scale s (px per inter-ocular distance, IOD), roll θ (rad),
// fitted by least squares (2-D Procrustes) from the rigid points (nose 27–35 and eyes 36–47 of the
// 68; eyes and nose tip of the 5) to a fixed reference, the generic frontal face (head_pose.h), not
// the track's first shape, so a track started later (a video chunk's warm-up) splits faces as one
// started earlier does — and a shape: every landmark in that pose's frame, in IOD units. Pose and
// shape are filtered separately and recombined. Why: the pose averages 21 points, so it is much
// less noisy than one landmark and can follow head motion with a very light filter (little lag),
// while the shape carries most of the per-landmark detector noise but changes only with expression,
// so it stays filtered however fast the head moves. Filtering landmark pixels directly
// (smooth_in_face_frame = false) can be tuned to the same still-face jitter and translation lag,
// but then every landmark's filter opens whenever the head moves and their noise passes through:
// measured non-rigid landmark jitter (the frame-to-frame motion left after removing the mean
// motion) on the clip moving at 8 px/frame: raw detections 0.013, pixel-space One-Euro 0.012, face
// frame 0.007 IOD/frame.
//
// One-Euro filter (Casiez, Roussel, Vogel, CHI 2012), per value x with time step dt (s):
//   dx̂ = lowpass(ẋ, d_cutoff_hz); cutoff = min_cutoff_hz + beta·|dx̂|; x̂ = lowpass(x, cutoff),
//   lowpass(v, fc) = x̂_prev + α(v − x̂_prev), α = 1 / (1 + 1/(2π·fc·dt)).
// Speeds are in IOD per second (pose centre: px/s ÷ s; shape: already IOD; log-scale and roll:
// 1/s and rad/s, i.e. IOD/s at one IOD from the centre), so the parameters mean the same at any
// resolution and face size. For a 2-D point |dx̂| is the speed of the point, so x and y share one
// cutoff. At steady speed v (IOD/s) the lag is v / (2π·(min_cutoff + beta·v)) IOD, which never
// exceeds 1 / (2π·beta) IOD however fast the head moves.
//
// Cost: a few µs per face per update (68 landmarks), negligible next to analysis.
// Threading: NOT thread-safe. Call update() from one thread, frames in presentation order.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::face {

struct FaceTrackerOptions {
  float min_iou = 0.3f;       // box IoU (predicted track box vs detection) to continue a track
  int max_missed_frames = 6;  // a track missed for up to this many consecutive frames is bridged;
                              // one more miss ends it
  // One-Euro parameters of the shape: each landmark (and the box) in the face frame, or in pixels
  // when smooth_in_face_frame is false. Chosen on the real talking-head clip
  // (tests/face/face_tracker_test.cpp, IOD ≈ 89 px): a 1 Hz floor cuts the frame-to-frame
  // jitter of a still face to ~0.3× (0.0086 → 0.0027 IOD/frame); beta 10 opens the filter to
  // ≥ 11 Hz while the lips move at ≥ 1 IOD/s, so the mouth opening trails the detections by
  // ~0.5 frame at 15 fps (33 ms, under the ~45 ms at which audio lead becomes noticeable). Beta 3
  // trails by 0.6 frame, beta 0.3 by 1.4 frames; beta 30 by 0.3 frame but keeps 40 % of the
  // still-face jitter. A 0.5 Hz floor keeps 25 % of the jitter but flattens the lip motion more
  // (RMS error of the mouth opening vs the detections 0.018 instead of 0.016 IOD); 2 Hz keeps 40 %.
  float min_cutoff_hz = 1.0f;
  float beta = 10.0f;        // Hz per IOD/s of speed
  // Cutoff of the speed estimate. 2 Hz and 4 Hz were tried so that a 3-frame blink opens the filter
  // before it is over (swapped talking head's eye-open correlation with the target 0.74 → 0.81 /
  // 0.84) and not kept: at 2 Hz the chunked and single-pass outputs of a video already differ by
  // more than the 40 dB bar (39.3 dB, VideoJobTest.ChunkedOutputMatchesSinglePassFrameForFrame).
  float d_cutoff_hz = 1.0f;
  // One-Euro parameters of the head pose (face-frame mode only). The pose averages 21 points, so
  // it is far less noisy than one landmark (its points on a still face move 0.0015 IOD/frame
  // after smoothing) and can take a large beta: a head translating at 0.7–2.7 IOD/s (4–16 px/frame
  // at 15 fps) trails by 0.006–0.0075 IOD (< 1 px), bounded by 1/(2π·20) = 0.008 IOD at any
  // speed; pose_beta 5 would trail by 0.018–0.026 IOD.
  float pose_min_cutoff_hz = 1.0f;
  float pose_beta = 20.0f;
  // false: filter landmark pixels directly (the comparison baseline; see the header comment).
  bool smooth_in_face_frame = true;
  // Bridged tracks: the pose velocity decays as exp(−t/τ) with this τ (s), so a face missed while
  // moving coasts at most v·τ further and then holds. 0.2 s: at 8 px/frame the bridged landmarks
  // are 0.03 / 0.06 / 0.11 IOD from the withheld detections after 1 / 2 / 3 missed frames
  // (holding: 0.08 / 0.21 / 0.30); on the nearly still clip ≤ 0.05 IOD.
  float bridge_velocity_time_constant_sec = 0.2f;
};

struct TrackedFace {
  // Smoothed box, landmarks68 (when the detections had them) and landmarks5 (from the smoothed 68,
  // else the smoothed 5); score of the last matched detection; embedding = the track's identity
  // embedding (track_embedding()), not this frame's.
  Face face;
  int track_id = -1;         // ≥ 0, unique for the tracker's life (reset() restarts at 0)
  bool bridged = false;      // true: not detected in this frame, predicted from the track
  int detection_index = -1;  // index into update()'s detections; −1 when bridged
  int missed_frames = 0;     // consecutive frames without a detection (0 unless bridged)
};

class FaceTracker {
 public:
  // `recognizer` (may be null, not owned, must outlive the tracker) supplies the identity rule;
  // without it embeddings are carried but never used for matching.
  explicit FaceTracker(FaceTrackerOptions options = {}, const FaceRecognizer* recognizer = nullptr);
  ~FaceTracker();
  FaceTracker(FaceTracker&&) noexcept;
  FaceTracker& operator=(FaceTracker&&) noexcept;

  // Faces detected in the frame shown at `timestamp_sec` (seconds, increasing; a repeated or
  // earlier timestamp is treated as one frame period after the previous call). Detections should
  // carry 68 landmarks (else their 5 points are smoothed); embeddings are optional. Returns the
  // live tracks for this frame — matched and bridged, minus bridged ones hidden behind a detected
  // face (step 4 above) — ordered by track_id. An empty `detections` is a frame without faces.
  std::vector<TrackedFace> update(std::vector<Face> detections, double timestamp_sec);

  // The identity embedding a track keeps for the whole clip: that of its best-scored detection
  // that had one (the first one on ties); TrackedFace::face.embedding carries a copy. Empty when
  // none of its detections had an embedding or the id is unknown (tracks are forgotten when they
  // end). The reference is valid until the next update() or reset().
  const std::vector<float>& track_embedding(int track_id) const;

  // Forgets every track (e.g. after a seek); ids restart at 0.
  void reset();

  const FaceTrackerOptions& options() const { return options_; }

 private:
  struct Track;  // filter state of one face (face_tracker.cpp)
  FaceTrackerOptions options_;
  const FaceRecognizer* recognizer_;
  std::vector<Track> tracks_;
  int next_id_ = 0;
  double last_timestamp_ = 0.0;
  double frame_period_ = 1.0 / 30.0;  // last positive time step, for non-increasing timestamps
  bool has_timestamp_ = false;
};

}  // namespace facefuse::face
