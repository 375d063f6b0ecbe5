#include "facefuse/face/dlib_landmarker.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <dlib/image_processing/shape_predictor.h>
#include <fmt/format.h>

#include "facefuse/face/dlib_shape_model.h"

namespace facefuse::face {

// The parsed model (face/dlib_shape_model.h), and its mean shape as the dlib matrix that
// dlib::impl::find_tform_between_shapes takes.
struct DlibLandmarker::Model {
  DlibShapeModel trees;
  dlib::matrix<float, 0, 1> initial_shape;  // mean shape, box-normalised (0..1), x0 y0 x1 y1 ...
  // Least-squares solution for box_from_landmarks: x-coordinates x_i = left + u_i·span_x.
  double mean_u = 0, mean_v = 0, var_u = 0, var_v = 0;
};

namespace {

// dlib's box ↔ unit-square mapping: rectangle corners (left, top) → (0, 0) and (right, bottom) →
// (1, 1), with dlib's inclusive right = left + width - 1. Our boxes use the same width.
struct BoxFrame {
  float left, top, span_x, span_y;
  explicit BoxFrame(const cv::Rect2f& box)
      : left(box.x), top(box.y), span_x(box.width - 1.0f), span_y(box.height - 1.0f) {}
  cv::Point2f to_image(float u, float v) const { return {left + u * span_x, top + v * span_y}; }
};

}  // namespace

DlibLandmarker::DlibLandmarker(std::unique_ptr<Model> model, const Options& options)
    : model_(std::move(model)), options_(options) {}
DlibLandmarker::~DlibLandmarker() = default;

Result<std::unique_ptr<DlibLandmarker>> DlibLandmarker::open(const std::filesystem::path& model_path,
                                                             const Options& options) {
  if (options.refine_passes < 0 || options.refine_passes > 5) {
    return invalid_argument(fmt::format("dlib_68 refine passes must be 0..5, got {}", options.refine_passes));
  }
  // Mapped, not read: the ~100 MB file is parsed straight from the page cache (reading it into a
  // buffer first cost as much as the parse, in copies and fresh pages). The pages already parsed
  // are dropped from the mapping as the parse goes (they stay in the page cache), so the peak
  // memory is the parsed model plus a few MB, not the model plus the whole file.
  const int fd = ::open(model_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found(fmt::format("landmark model {} cannot be opened", model_path.string()));
  struct stat info {};
  const bool sized = ::fstat(fd, &info) == 0 && info.st_size > 0;
  const size_t size = sized ? static_cast<size_t>(info.st_size) : 0;
  void* mapped = sized ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  ::close(fd);
  if (mapped == MAP_FAILED) {
    return invalid_argument(fmt::format("landmark model {} is empty or cannot be read", model_path.string()));
  }
  auto* base = static_cast<uint8_t*>(mapped);
  ::madvise(base, size, MADV_SEQUENTIAL);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t dropped = 0;
  auto drop_parsed = [&](size_t consumed) {
    const size_t until = consumed / page * page;
    if (until > dropped) ::madvise(base + dropped, until - dropped, MADV_DONTNEED);
    dropped = std::max(dropped, until);
  };
  auto parsed = parse_dlib_shape_model({base, size}, drop_parsed);
  ::munmap(mapped, size);
  if (!parsed) return invalid_argument(fmt::format("{}: {}", model_path.string(), parsed.status().message()));
  auto model = std::make_unique<Model>();
  model->trees = std::move(*parsed);
  const auto& initial = model->trees.initial_shape;
  const long parts = static_cast<long>(initial.size() / 2);
  if (parts != kLandmarkCount68) {
    return invalid_argument(fmt::format("{} is a {}-point shape predictor; dlib_68 needs the 68-point model",
                                        model_path.string(), parts));
  }
  model->initial_shape.set_size(static_cast<long>(initial.size()));
  for (size_t i = 0; i < initial.size(); ++i) model->initial_shape(static_cast<long>(i)) = initial[i];
  for (long i = 0; i < parts; ++i) {
    model->mean_u += model->initial_shape(2 * i);
    model->mean_v += model->initial_shape(2 * i + 1);
  }
  model->mean_u /= parts;
  model->mean_v /= parts;
  for (long i = 0; i < parts; ++i) {
    model->var_u += std::pow(model->initial_shape(2 * i) - model->mean_u, 2);
    model->var_v += std::pow(model->initial_shape(2 * i + 1) - model->mean_v, 2);
  }
  return std::unique_ptr<DlibLandmarker>(new DlibLandmarker(std::move(model), options));
}

Landmarks68 DlibLandmarker::predict(const cv::Mat& bgr, const cv::Rect2f& box) const {
  const Model& m = *model_;
  const BoxFrame frame(box);
  dlib::matrix<float, 0, 1> shape = m.initial_shape;
  std::vector<float> features;
  const size_t shape_values = m.trees.initial_shape.size();
  const float* leaves = m.trees.leaves.data();
  for (const DlibShapeModel::Cascade& cascade : m.trees.cascades) {
    // As dlib::impl::extract_feature_pixel_values: reference pixels move with the similarity
    // transform between the mean shape and the current estimate; intensity = (R+G+B)/3.
    const dlib::matrix<float, 2, 2> tform =
        dlib::matrix_cast<float>(dlib::impl::find_tform_between_shapes(m.initial_shape, shape).get_m());
    features.resize(cascade.anchor_idx.size());
    for (size_t i = 0; i < features.size(); ++i) {
      const dlib::vector<float, 2> delta(cascade.deltas[2 * i], cascade.deltas[2 * i + 1]);
      const dlib::vector<float, 2> q = tform * delta + dlib::impl::location(shape, cascade.anchor_idx[i]);
      const cv::Point2f p = frame.to_image(q.x(), q.y());
      const long x = static_cast<long>(std::floor(p.x + 0.5f));
      const long y = static_cast<long>(std::floor(p.y + 0.5f));
      if (x >= 0 && y >= 0 && x < bgr.cols && y < bgr.rows) {
        const uint8_t* px = bgr.ptr<uint8_t>(static_cast<int>(y)) + 3 * x;
        features[i] = static_cast<float>((static_cast<unsigned>(px[0]) + px[1] + px[2]) / 3);
      } else {
        features[i] = 0.0f;
      }
    }
    // As dlib::impl::regression_tree::operator(): walk the complete tree (children of node i are
    // 2i + 1 and 2i + 2) to a leaf, and add that leaf's shape increment.
    float* s = &shape(0);
    for (size_t t = 0; t < cascade.trees(); ++t) {
      const uint32_t begin = cascade.split_begin[t], splits = cascade.split_begin[t + 1] - begin;
      const DlibShapeModel::Split* split = cascade.splits.data() + begin;
      uint32_t node = 0;
      while (node < splits) {
        const auto& sp = split[node];
        node = features[sp.idx1] - features[sp.idx2] > sp.thresh ? 2 * node + 1 : 2 * node + 2;
      }
      const float* leaf =
          leaves + cascade.leaf_begin + (static_cast<size_t>(begin) + t + (node - splits)) * shape_values;
      for (size_t k = 0; k < shape_values; ++k) s[k] += leaf[k];
    }
  }
  Landmarks68 points(kLandmarkCount68);
  for (int i = 0; i < kLandmarkCount68; ++i) points[i] = frame.to_image(shape(2 * i), shape(2 * i + 1));
  return points;
}

cv::Rect2f DlibLandmarker::box_from_landmarks(const Landmarks68& points) const {
  // Per axis, x_i ≈ left + u_i·span (u_i = mean shape): ordinary least squares for left, span.
  const Model& m = *model_;
  double mean_x = 0, mean_y = 0;
  for (const auto& p : points) mean_x += p.x, mean_y += p.y;
  mean_x /= points.size();
  mean_y /= points.size();
  double cov_x = 0, cov_y = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    cov_x += (m.initial_shape(2 * i) - m.mean_u) * (points[i].x - mean_x);
    cov_y += (m.initial_shape(2 * i + 1) - m.mean_v) * (points[i].y - mean_y);
  }
  const double span_x = cov_x / m.var_u, span_y = cov_y / m.var_v;
  const double left = mean_x - span_x * m.mean_u, top = mean_y - span_y * m.mean_v;
  return {static_cast<float>(left), static_cast<float>(top), static_cast<float>(span_x + 1),
          static_cast<float>(span_y + 1)};
}

Result<Landmarks68> DlibLandmarker::landmarks(const cv::Mat& bgr, const cv::Rect2f& box) const {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    return invalid_argument("landmark detection needs a non-empty 8-bit BGR image (CV_8UC3)");
  }
  if (!(box.width >= 2 && box.height >= 2) || !std::isfinite(box.x) || !std::isfinite(box.y)) {
    return invalid_argument(fmt::format("face box {}x{} at ({}, {}) is too small or invalid for landmarks",
                                        box.width, box.height, box.x, box.y));
  }
  Landmarks68 points = predict(bgr, box);
  for (int pass = 0; pass < options_.refine_passes; ++pass) {
    const cv::Rect2f refit = box_from_landmarks(points);
    if (!(refit.width >= 2 && refit.height >= 2)) break;
    points = predict(bgr, refit);
  }
  return points;
}

}  // namespace facefuse::face
