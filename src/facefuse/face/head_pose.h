// Head pose from the 68 landmarks, and re-posing a face's landmarks to another head pose (issue 17).
//
// A generic rigid 3D face (one 3D point per landmark of the 68-point scheme, generic_face_shape68.inc)
// is fitted to the 2D points under a scaled orthographic camera: image = scale · (first two rows of
// R) · model + shift. Faces in photos are far from the camera compared with their depth (a head is
// ~20 cm deep, photos are taken from ≥ 50 cm), so the weak-perspective error is a few percent of
// the face, below dlib's own landmark noise.
//
// Model coordinates: x toward the image's right, y down, z toward the camera (the nose tip has the
// largest z), origin at the mean of the model's 68 points, unit = the model's inter-ocular distance. The
// jaw (0–16) and the mouth (48–67) are left out of the fit: on a turned head dlib puts the jaw on
// the silhouette, which is no fixed point of the face, and the mouth moves with expression.
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <array>

#include <opencv2/core.hpp>

#include "facefuse/face/face.h"

namespace facefuse::face {

// The generic face: 68 points in model coordinates (see above).
const std::array<cv::Point3f, kLandmarkCount68>& generic_face_shape68();

struct HeadPose {
  cv::Matx33f rotation = cv::Matx33f::eye();  // model → camera
  float scale = 1.0f;                          // px per model unit (≈ the inter-ocular distance in px)
  cv::Point2f shift{0, 0};                     // px: image position of the model's origin
  // Degrees, R = Rz(roll)·Ry(yaw)·Rx(pitch): yaw > 0 turns the nose toward the image's right (the
  // sign of processors::estimate_yaw), pitch > 0 tips the nose up, roll > 0 is clockwise in the
  // image (y down).
  float yaw = 0, pitch = 0, roll = 0;
  float residual = 0;  // RMS distance of the fitted points, in model units (≈ fraction of the IOD)
};

// Fits the generic face to `points` (68 landmarks, image pixels). Returns the identity pose for a
// wrong number of points.
HeadPose fit_head_pose(const Landmarks68& points);

// The rotation with the given angles (degrees), R = Rz(roll)·Ry(yaw)·Rx(pitch).
cv::Matx33f rotation_from_angles(float yaw, float pitch, float roll);

// `points` (a face seen with pose `from`, image pixels) as the same face would look with the
// rotation of `to`: every point is lifted to 3D with the depth the generic face gives it under
// `from`, turned by to.rotation · from.rotationᵀ about the model's origin, and projected again at
// `from`'s scale and shift. Identical poses give the points back unchanged; the face's own 2D
// proportions (its identity) are kept, only the viewpoint changes.
Landmarks68 repose_landmarks(const Landmarks68& points, const HeadPose& from, const HeadPose& to);

}  // namespace facefuse::face
