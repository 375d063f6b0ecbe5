#include "facefuse/face/face_tracker.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <tuple>

#include "facefuse/face/head_pose.h"

namespace facefuse::face {
namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;
// Below this inter-ocular distance (px) the landmarks carry no pose: use the box instead.
constexpr double kMinIod = 1e-3;
// IOD of a face without usable landmarks, as a fraction of its box width (blazeface boxes and
// dlib 68 landmarks on the talking-head test clip: 0.38).
constexpr double kIodPerBoxWidth = 0.4;

// Rigid points of each layout: they follow the head, not the expression.
// 68: nose 27–35 and eyes 36–47 (eye centres barely move when blinking); 5: eyes and nose tip.
std::vector<int> rigid_indices(size_t point_count) {
  std::vector<int> idx;
  if (point_count == static_cast<size_t>(kLandmarkCount68)) {
    for (int i = 27; i <= 47; ++i) idx.push_back(i);
  } else {
    idx = {0, 1, 2};
  }
  return idx;
}

cv::Point2d eye_vector(const std::vector<cv::Point2d>& p) {
  if (p.size() == static_cast<size_t>(kLandmarkCount68)) {
    cv::Point2d left(0, 0), right(0, 0);
    for (int i = 36; i < 42; ++i) left += p[i];
    for (int i = 42; i < 48; ++i) right += p[i];
    return (right - left) / 6.0;
  }
  return p[1] - p[0];
}

cv::Point2d rotate(const cv::Point2d& v, double angle) {
  const double c = std::cos(angle), s = std::sin(angle);
  return {c * v.x - s * v.y, s * v.x + c * v.y};
}

// A head pose: image point = centre + scale · R(roll) · face-frame point.
struct Pose {
  cv::Point2d centre;  // px
  double scale = 1.0;  // px per face-frame unit (= per IOD of the reference)
  double roll = 0.0;   // rad
  cv::Point2d to_image(const cv::Point2d& q) const { return centre + scale * rotate(q, roll); }
  cv::Point2d to_face(const cv::Point2d& p) const { return rotate(p - centre, -roll) / scale; }
};

Pose pose_from_box(const cv::Rect2f& box) {
  return {cv::Point2d(box.x + box.width / 2.0, box.y + box.height / 2.0),
          std::max(1.0, static_cast<double>(box.width) * kIodPerBoxWidth), 0.0};
}

// One-Euro filter over `dims` consecutive values sharing one speed (a 2-D point, or a scalar).
// `unit` converts the values to IOD for the speed (IOD per value unit).
void one_euro(double* x_hat, double* dx_hat, const double* x, int dims, double dt, double min_cutoff, double beta,
              double d_cutoff, double unit) {
  auto alpha = [dt](double cutoff) { return 1.0 / (1.0 + 1.0 / (kTwoPi * cutoff * dt)); };
  const double a_d = alpha(d_cutoff);
  double speed2 = 0.0;
  for (int k = 0; k < dims; ++k) {
    const double dx = (x[k] - x_hat[k]) / dt;
    dx_hat[k] += a_d * (dx - dx_hat[k]);
    speed2 += dx_hat[k] * dx_hat[k];
  }
  const double a = alpha(min_cutoff + beta * std::sqrt(speed2) * unit);
  for (int k = 0; k < dims; ++k) x_hat[k] += a * (x[k] - x_hat[k]);
}

}  // namespace

// Filter state layout:
//   pose  = [cx, cy, log(scale), roll]            (face-frame mode; fixed in pixel mode)
//   shape = [x0, y0, …, x(n−1), y(n−1), box cx, box cy, box w, box h]
// Shape values are face-frame coordinates (IOD units of the reference) in face-frame
// mode, and pixels / pixel_unit in pixel mode (so speeds are in IOD/s there too).
struct FaceTracker::Track {
  int id = 0;
  size_t point_count = 0;              // 68 or 5
  bool posed = false;                  // its landmarks carry a pose (has_pose): fitted to
                                       // canonical_reference, else the pose comes from the box
  double pixel_unit = 1.0;             // pixel mode: px per shape unit (first shape's IOD)
  std::vector<double> pose, pose_velocity;
  std::vector<double> shape, shape_velocity;
  double last_time = 0.0;
  int missed = 0;
  float score = 0.0f;
  std::vector<float> embedding;
  float embedding_score = -1.0f;

  Pose current_pose() const { return {cv::Point2d(pose[0], pose[1]), std::exp(pose[2]), pose[3]}; }
};

namespace {

std::vector<cv::Point2d> points_of(const Face& face) {
  std::vector<cv::Point2d> p;
  if (face.has_landmarks68()) {
    for (const auto& q : face.landmarks68) p.emplace_back(q.x, q.y);
  } else {
    for (const auto& q : face.landmarks5) p.emplace_back(q.x, q.y);
  }
  return p;
}

// Whether the landmarks `p` carry a pose (their eyes are apart).
bool has_pose(const std::vector<cv::Point2d>& p) {
  const cv::Point2d eye = eye_vector(p);
  return std::hypot(eye.x, eye.y) > kMinIod;
}

// Reference for pose fitting: rigid points centred on their mean, rotated so the eye line is
// horizontal, scaled to IOD 1. Empty when the landmarks are degenerate.
std::vector<cv::Point2d> make_reference(const std::vector<cv::Point2d>& p) {
  if (!has_pose(p)) return {};
  const cv::Point2d eye = eye_vector(p);
  const double iod = std::hypot(eye.x, eye.y);
  const auto idx = rigid_indices(p.size());
  cv::Point2d mean(0, 0);
  for (int i : idx) mean += p[i];
  mean /= static_cast<double>(idx.size());
  const double angle = std::atan2(eye.y, eye.x);
  std::vector<cv::Point2d> ref;
  for (int i : idx) ref.push_back(rotate(p[i] - mean, -angle) / iod);
  return ref;
}

// The reference every track's pose is fitted to: the generic face seen from the front
// (generic_face_shape68, x right, y down), in the layout of `point_count` landmarks. A fixed
// reference instead of the track's first shape, so a track started a few frames later (a video
// chunk's warm-up) splits its faces into the same poses and shapes as one started at frame 0.
const std::vector<cv::Point2d>& canonical_reference(size_t point_count) {
  static const std::vector<cv::Point2d> ref68 = [] {
    std::vector<cv::Point2d> p;
    for (const auto& q : generic_face_shape68()) p.emplace_back(q.x, q.y);
    return make_reference(p);
  }();
  static const std::vector<cv::Point2d> ref5 = [] {
    Landmarks68 frontal;
    for (const auto& q : generic_face_shape68()) frontal.emplace_back(q.x, q.y);
    std::vector<cv::Point2d> p;
    for (const auto& q : landmarks5_from_68(frontal)) p.emplace_back(q.x, q.y);
    return make_reference(p);
  }();
  return point_count == static_cast<size_t>(kLandmarkCount68) ? ref68 : ref5;
}

// What a track's poses are fitted to: canonical_reference, or none (fit_pose takes the box) while
// its landmarks carry no pose.
const std::vector<cv::Point2d>& pose_reference(bool posed, size_t point_count) {
  static const std::vector<cv::Point2d> none;
  return posed ? canonical_reference(point_count) : none;
}

// Least-squares similarity (2-D Procrustes) taking the reference onto the rigid points of `p`.
// `roll_near` unwraps the roll to within π of the previous value.
Pose fit_pose(const std::vector<cv::Point2d>& p, const std::vector<cv::Point2d>& reference, const cv::Rect2f& box,
              double roll_near) {
  if (reference.empty()) return pose_from_box(box);
  const auto idx = rigid_indices(p.size());
  cv::Point2d mean(0, 0);
  for (int i : idx) mean += p[i];
  mean /= static_cast<double>(idx.size());
  double a = 0, b = 0, qq = 0;
  for (size_t k = 0; k < idx.size(); ++k) {
    const cv::Point2d d = p[idx[k]] - mean;
    const cv::Point2d& q = reference[k];
    a += q.x * d.x + q.y * d.y;
    b += q.x * d.y - q.y * d.x;
    qq += q.x * q.x + q.y * q.y;
  }
  const double norm = std::hypot(a, b);
  if (!(norm / qq > kMinIod)) return pose_from_box(box);
  double roll = std::atan2(b, a);
  roll += kTwoPi * std::round((roll_near - roll) / kTwoPi);
  return {mean, norm / qq, roll};
}

float box_iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

}  // namespace

FaceTracker::FaceTracker(FaceTrackerOptions options, const FaceRecognizer* recognizer)
    : options_(options), recognizer_(recognizer) {}
FaceTracker::~FaceTracker() = default;
FaceTracker::FaceTracker(FaceTracker&&) noexcept = default;
FaceTracker& FaceTracker::operator=(FaceTracker&&) noexcept = default;

void FaceTracker::reset() {
  tracks_.clear();
  next_id_ = 0;
  has_timestamp_ = false;
  frame_period_ = 1.0 / 30.0;
}

const std::vector<float>& FaceTracker::track_embedding(int track_id) const {
  static const std::vector<float> kNone;
  for (const auto& t : tracks_) {
    if (t.id == track_id) return t.embedding;
  }
  return kNone;
}

namespace {

// Measured state vectors of a detection for a track (see the layout above).
struct Measurement {
  std::vector<double> pose, shape;
};

Measurement measure(const Face& face, const std::vector<cv::Point2d>& p, const Pose& pose, bool face_frame,
                    double pixel_unit) {
  Measurement m;
  m.pose = {pose.centre.x, pose.centre.y, std::log(pose.scale), pose.roll};
  m.shape.reserve(2 * p.size() + 4);
  const cv::Point2d box_centre(face.box.x + face.box.width / 2.0, face.box.y + face.box.height / 2.0);
  if (face_frame) {
    // pose.to_face with the rotation computed once (this loop is most of update()'s cost).
    const double c = std::cos(pose.roll) / pose.scale, s = std::sin(pose.roll) / pose.scale;
    for (const auto& q : p) {
      const cv::Point2d d = q - pose.centre;
      m.shape.push_back(c * d.x + s * d.y);
      m.shape.push_back(-s * d.x + c * d.y);
    }
    const cv::Point2d bc = pose.to_face(box_centre);
    m.shape.insert(m.shape.end(), {bc.x, bc.y, face.box.width / pose.scale, face.box.height / pose.scale});
  } else {
    for (const auto& q : p) {
      m.shape.push_back(q.x / pixel_unit);
      m.shape.push_back(q.y / pixel_unit);
    }
    m.shape.insert(m.shape.end(), {box_centre.x / pixel_unit, box_centre.y / pixel_unit, face.box.width / pixel_unit,
                                   face.box.height / pixel_unit});
  }
  return m;
}

// Image-space box of a track state (pose + shape).
cv::Rect2f box_of(const std::vector<double>& shape, const Pose& pose, bool face_frame, double pixel_unit) {
  const size_t b = shape.size() - 4;
  cv::Point2d centre;
  double w, h;
  if (face_frame) {
    centre = pose.to_image({shape[b], shape[b + 1]});
    w = shape[b + 2] * pose.scale;
    h = shape[b + 3] * pose.scale;
  } else {
    centre = cv::Point2d(shape[b], shape[b + 1]) * pixel_unit;
    w = shape[b + 2] * pixel_unit;
    h = shape[b + 3] * pixel_unit;
  }
  return cv::Rect2f(static_cast<float>(centre.x - w / 2), static_cast<float>(centre.y - h / 2), static_cast<float>(w),
                    static_cast<float>(h));
}

// Fraction of the velocity's constant-speed displacement covered in `dt` when it decays with
// time constant tau: ∫0^dt e^(−t/τ) dt / dt.
double coast_factor(double dt, double tau) { return tau > 0 ? tau * (1.0 - std::exp(-dt / tau)) : 0.0; }

}  // namespace

std::vector<TrackedFace> FaceTracker::update(std::vector<Face> detections, double timestamp_sec) {
  const bool face_frame = options_.smooth_in_face_frame;
  // Non-increasing timestamps (duplicated or reordered frames) advance by one frame period.
  double now = timestamp_sec;
  if (has_timestamp_) {
    if (now > last_timestamp_) {
      frame_period_ = now - last_timestamp_;
    } else {
      now = last_timestamp_ + frame_period_;
    }
  }
  last_timestamp_ = now;
  has_timestamp_ = true;
  const double tau = options_.bridge_velocity_time_constant_sec;

  // 1. Predicted boxes at `now`: pose (face frame) or box (pixels) moved by its damped velocity.
  std::vector<cv::Rect2f> predicted(tracks_.size());
  for (size_t t = 0; t < tracks_.size(); ++t) {
    const Track& track = tracks_[t];
    const double k = coast_factor(now - track.last_time, tau);
    std::vector<double> pose = track.pose, shape = track.shape;
    if (face_frame) {
      for (size_t i = 0; i < pose.size(); ++i) pose[i] += k * track.pose_velocity[i];
    } else {
      for (size_t i = shape.size() - 4; i < shape.size(); ++i) shape[i] += k * track.shape_velocity[i];
    }
    Pose p{cv::Point2d(pose[0], pose[1]), std::exp(pose[2]), pose[3]};
    predicted[t] = box_of(shape, p, face_frame, track.pixel_unit);
  }

  // 2. Greedy matching by descending IoU, identity permitting.
  struct Candidate {
    float iou;
    size_t track, detection;
  };
  std::vector<Candidate> candidates;
  for (size_t t = 0; t < tracks_.size(); ++t) {
    for (size_t d = 0; d < detections.size(); ++d) {
      const float iou = box_iou(predicted[t], detections[d].box);
      if (iou < options_.min_iou) continue;
      if (recognizer_ != nullptr && !tracks_[t].embedding.empty() && !detections[d].embedding.empty() &&
          !(recognizer_->distance(tracks_[t].embedding, detections[d].embedding) <
            recognizer_->same_person_threshold())) {
        continue;
      }
      candidates.push_back({iou, t, d});
    }
  }
  // Ties broken by track age then detection order, so results do not depend on sort internals.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(b.iou, a.track, a.detection) < std::tie(a.iou, b.track, b.detection);
  });
  std::vector<int> track_match(tracks_.size(), -1), detection_match(detections.size(), -1);
  for (const auto& c : candidates) {
    if (track_match[c.track] >= 0 || detection_match[c.detection] >= 0) continue;
    track_match[c.track] = static_cast<int>(c.detection);
    detection_match[c.detection] = static_cast<int>(c.track);
  }

  auto start_filters = [&](Track& track, const Face& face) {
    const auto p = points_of(face);
    track.point_count = p.size();
    track.posed = has_pose(p);
    const Pose pose = fit_pose(p, pose_reference(track.posed, track.point_count), face.box, 0.0);
    track.pixel_unit = pose.scale;
    const Measurement m = measure(face, p, pose, face_frame, track.pixel_unit);
    track.pose = m.pose;
    track.shape = m.shape;
    track.pose_velocity.assign(track.pose.size(), 0.0);
    track.shape_velocity.assign(track.shape.size(), 0.0);
  };
  auto keep_embedding = [](Track& track, const Face& face) {
    if (!face.embedding.empty() && face.score > track.embedding_score) {
      track.embedding = face.embedding;
      track.embedding_score = face.score;
    }
  };

  // 3. Update matched tracks, bridge or end unmatched ones.
  std::vector<Track> live;
  std::vector<int> live_detection;
  live.reserve(tracks_.size() + detections.size());
  for (size_t t = 0; t < tracks_.size(); ++t) {
    Track& track = tracks_[t];
    const double dt = std::max(now - track.last_time, 1e-6);
    if (track_match[t] >= 0) {
      const Face& face = detections[track_match[t]];
      const auto p = points_of(face);
      if (p.size() != track.point_count || (!track.posed && has_pose(p))) {
        // Landmark layout changed, or the first landmarks were unusable: restart smoothing, keep
        // the identity.
        start_filters(track, face);
      } else {
        const Pose pose = fit_pose(p, pose_reference(track.posed, track.point_count), face.box, track.pose[3]);
        const Measurement m = measure(face, p, pose, face_frame, track.pixel_unit);
        if (face_frame) {
          const double to_iod = 1.0 / std::exp(track.pose[2]);  // px → IOD for the centre's speed
          one_euro(&track.pose[0], &track.pose_velocity[0], &m.pose[0], 2, dt, options_.pose_min_cutoff_hz,
                   options_.pose_beta, options_.d_cutoff_hz, to_iod);
          for (size_t i = 2; i < 4; ++i) {
            one_euro(&track.pose[i], &track.pose_velocity[i], &m.pose[i], 1, dt, options_.pose_min_cutoff_hz,
                     options_.pose_beta, options_.d_cutoff_hz, 1.0);
          }
        }
        for (size_t i = 0; i < track.shape.size(); i += 2) {
          one_euro(&track.shape[i], &track.shape_velocity[i], &m.shape[i], 2, dt, options_.min_cutoff_hz, options_.beta,
                   options_.d_cutoff_hz, 1.0);
        }
      }
      track.missed = 0;
      track.score = face.score;
      keep_embedding(track, face);
    } else {
      if (++track.missed > options_.max_missed_frames) continue;  // the track ends
      const double k = coast_factor(dt, tau);
      const double decay = tau > 0 ? std::exp(-dt / tau) : 0.0;
      if (face_frame) {
        // Pose coasts; the expression (shape) holds.
        for (size_t i = 0; i < track.pose.size(); ++i) {
          track.pose[i] += k * track.pose_velocity[i];
          track.pose_velocity[i] *= decay;
        }
      } else {
        for (size_t i = 0; i < track.shape.size(); ++i) {
          track.shape[i] += k * track.shape_velocity[i];
          track.shape_velocity[i] *= decay;
        }
      }
    }
    track.last_time = now;
    live_detection.push_back(track_match[t]);
    live.push_back(std::move(track));
  }
  for (size_t d = 0; d < detections.size(); ++d) {
    if (detection_match[d] >= 0) continue;
    Track track;
    track.id = next_id_++;
    start_filters(track, detections[d]);
    track.last_time = now;
    track.score = detections[d].score;
    keep_embedding(track, detections[d]);
    live_detection.push_back(static_cast<int>(d));
    live.push_back(std::move(track));
  }
  tracks_ = std::move(live);

  // 4. Outputs, ordered by track id (tracks_ is: surviving tracks in id order, then new ones).
  std::vector<TrackedFace> out;
  out.reserve(tracks_.size());
  for (size_t t = 0; t < tracks_.size(); ++t) {
    const Track& track = tracks_[t];
    TrackedFace tf;
    tf.track_id = track.id;
    tf.bridged = track.missed > 0;
    tf.detection_index = live_detection[t];
    tf.missed_frames = track.missed;
    const Pose pose = track.current_pose();
    const double c = std::cos(pose.roll), s = std::sin(pose.roll);  // pose.to_image, inlined
    std::vector<cv::Point2f> points(track.point_count);
    for (size_t i = 0; i < track.point_count; ++i) {
      const double qx = track.shape[2 * i], qy = track.shape[2 * i + 1];
      const cv::Point2d p = face_frame ? pose.centre + pose.scale * cv::Point2d(c * qx - s * qy, s * qx + c * qy)
                                       : cv::Point2d(qx, qy) * track.pixel_unit;
      points[i] = cv::Point2f(static_cast<float>(p.x), static_cast<float>(p.y));
    }
    tf.face.box = box_of(track.shape, pose, face_frame, track.pixel_unit);
    tf.face.score = track.score;
    if (track.point_count == static_cast<size_t>(kLandmarkCount68)) {
      tf.face.landmarks68 = std::move(points);
      tf.face.landmarks5 = landmarks5_from_68(tf.face.landmarks68);
    } else {
      std::copy_n(points.begin(), std::min<size_t>(points.size(), 5), tf.face.landmarks5.begin());
    }
    tf.face.embedding = track.embedding;
    out.push_back(std::move(tf));
  }
  // A bridged track predicted where a face is detected in this frame is kept alive but not
  // returned: either that face hides it (one person passing in front of another) or it is the
  // same face that the identity rule put on a new track; processing it would swap a second face
  // over the visible one.
  std::vector<cv::Rect2f> detected;
  for (const auto& tf : out) {
    if (!tf.bridged) detected.push_back(tf.face.box);
  }
  std::erase_if(out, [&](const TrackedFace& tf) {
    return tf.bridged && std::any_of(detected.begin(), detected.end(), [&](const cv::Rect2f& box) {
             return box_iou(tf.face.box, box) >= options_.min_iou;
           });
  });
  return out;
}

}  // namespace facefuse::face
