#include "facefuse/processors/face_swapper/face_swapper.h"

#include "facefuse/face/blending.h"
#include "facefuse/face/face_geometry.h"
#include "facefuse/face/face_mask.h"
#include "facefuse/face/inner_face_sharpness.h"
#include "facefuse/processors/face_swapper/source_quality.h"
#include "facefuse/processors/model_files.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <fmt/ranges.h>

namespace facefuse::processors {

namespace {

// In video and live frames, target faces are swapped at full size up to this size (pixels,
// face::face_size); still images always at full size (FrameContext::still_image). A larger face
// is swapped on a copy reduced to that size (swap_reduced), whose finer band stays the target's
// own: so the copy needs only the source's own detail up to that size, whatever the source's.
// 256 until session 14 (when the finer band was lost); 192 looks the same at 100 % on the zoom
// and talking-head clips and costs (192/256)² = 0.56× the reduced swap's per-pixel work. Until
// session 15 a source face larger than this raised the limit to its own size: a sharp 650 px source
// (jesper.jpg) swapped the talking head's 470 px face at full size, at 0.47 of ffmpeg's speed
// (bound 0.5); swapped on the 192 px copy it is as fast as a small source, and at 100 % only the
// finest skin texture is the clip's own instead of the photo's, which suits a soft clip better
// (on the zoom clip's 600–730 px faces the eyelid and iris edges come out a little softer).
constexpr float kVideoFullSizeFace = 192.0f;

// A video source sharper than its target's track (face::inner_face_energy at the common face size)
// by more than kVideoSoftenAbove× is blurred down to kVideoSoftenGoal× it, as still images are
// softened (match_target_sharpness in classical_swapper.cpp: over 1.3×, to 1.1×). Video frames are
// not matched one by one (a blur solved on every frame's swap cost a third of the speed, decision
// 0006): the source's energy is measured once for a few blurs at open(), and each frame blurs the
// prepared source by the sigma its track's recent detections call for, read off those (a smooth
// function of the track's energy, so a track near a threshold does not flip between two blurs).
// The talking-head clip (a soft 720p face) with the sharp astronaut.png source came out at 1.7× the
// clip's inner-face Laplacian energy, with the photo's skin grain and smile lines standing out.
constexpr double kVideoSoftenAbove = 1.3;
constexpr double kVideoSoftenGoal = 1.1;
// Blurs measured at open(): Gaussian sigma in px of the face at the common size (192 px).
constexpr std::array<double, 8> kVideoSofteningSigmas = {0.0, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0};
// The blur a frame gets is rounded to this (px at 192 px: a step no one sees), so a track whose
// measured energy wavers a little between detections keeps the same blurred source (the cache
// of FaceSwapper::softened_video_source).
constexpr double kVideoSofteningStep = 0.05;

// face_swapper_pixel_boost: "auto" = the model's own size.
const std::vector<std::string> kPixelBoostChoices = {"auto",     "128x128",  "256x256",   "384x384",
                                                     "512x512",  "768x768",  "1024x1024", "2048x2048"};

std::vector<std::string> swapper_model_choices() {
  std::vector<std::string> choices = {"classical"};
  for (auto& id : catalog_model_ids("face_swapper")) choices.push_back(std::move(id));
  return choices;
}

OnnxSwapOptions onnx_swap_options(const nlohmann::json& o, CropMaskOptions masks) {
  OnnxSwapOptions out;
  const auto boost = option_or<std::string>(o, "face_swapper_pixel_boost", "auto");
  out.pixel_boost = boost == "auto" ? 0 : std::stoi(boost);  // "NxN": choices are validated
  out.weight = option_or(o, "face_swapper_weight", out.weight);
  out.masks = std::move(masks);
  return out;
}

}  // namespace

std::vector<OptionSpec> face_swapper_options() {
  ClassicalSwapOptions defaults;
  std::vector<OptionSpec> specs = {
      {"face_swapper_model", "string", "classical",
       "swap backend: classical (no model) or a FaceFusion swapper model id (docs/models.md)", swapper_model_choices()},
      {"face_swapper_pixel_boost", "string", "auto",
       "ONNX swappers: crop size, a multiple of the model's size (auto = the model's size); larger = sharper, "
       "slower", kPixelBoostChoices},
      {"face_swapper_weight", "number", 0.5,
       "ONNX embedding swappers: identity weight, 0 = more source, 1 = more target (0.5 = the source as is)", {}, 0, 1},
      {"face_swapper_blend", "number", defaults.blend, "how much of the swapped face to show (0 = target kept)", {}, 0, 1},
      {"face_swapper_morph", "number", defaults.morph,
       "how far the source's face shape is bent to the target's (0 = source proportions kept, best identity; "
       "1 = target's landmarks exactly)", {}, 0, 1},
      {"face_swapper_blend_mode", "string", "multiband", "how the face is merged", {"multiband", "poisson"}},
      {"face_swapper_mouth_mask", "boolean", false, "keep the target's inner mouth (teeth, tongue)"},
  };
  for (auto& spec : crop_mask_option_specs(true)) specs.push_back(std::move(spec));
  return specs;
}

Status FaceSwapper::open(const ProcessorContext& context) {
  const auto& o = context.options;
  options_.blend = option_or(o, "face_swapper_blend", options_.blend);
  options_.morph = option_or(o, "face_swapper_morph", options_.morph);
  options_.face_mask_blur = option_or(o, "face_mask_blur", options_.face_mask_blur);
  options_.mouth_mask = option_or(o, "face_swapper_mouth_mask", options_.mouth_mask);
  options_.blend_mode = option_or<std::string>(o, "face_swapper_blend_mode", "multiband") == "poisson"
                            ? ClassicalBlendMode::kPoisson
                            : ClassicalBlendMode::kMultiBand;
  const auto model = option_or<std::string>(o, "face_swapper_model", "classical");
  if (model != "classical") {
    FF_ASSIGN_OR_RETURN(auto masks, parse_crop_mask_options(o, true));
    FF_ASSIGN_OR_RETURN(onnx_, OnnxSwapper::open(model, onnx_swap_options(o, std::move(masks)), context));
    return Status::ok();
  }
  if (context.analyser == nullptr) return internal_error("face_swapper opened without a face analyser");
  if (context.source_images.empty()) return invalid_argument("face_swapper needs at least one source image (-s)");

  // A multi-face source never prompts: its largest face is the one meant, unless that one is seen
  // in profile (face::seen_from_the_side: its 68 points, and so a swap from it, would be torn) and
  // the photo has a face that is not; then the largest of those, and a warning says so.
  std::vector<std::string> without_face;
  float best_area = 0.0f;
  bool passed_over_profile = false;
  source_face_counts_.clear();
  for (size_t i = 0; i < context.source_images.size(); ++i) {
    FF_ASSIGN_OR_RETURN(auto faces, context.analyser->analyse(context.source_images[i]));
    source_face_counts_.push_back(static_cast<int>(faces.size()));
    const face::Face* largest = face::largest_face(faces);
    if (largest == nullptr) {
      without_face.push_back(i < context.source_names.size() ? context.source_names[i] : fmt::format("#{}", i));
      continue;
    }
    const face::Face* chosen =
        face::largest_face(faces, [](const face::Face& f) { return !face::seen_from_the_side(f); });
    if (chosen == nullptr) chosen = largest;
    if (chosen->box.area() > best_area) {
      best_area = chosen->box.area();
      passed_over_profile = chosen != largest;
      source_ = {context.source_images[i], *chosen};
      source_name_ = i < context.source_names.size() ? std::filesystem::path(context.source_names[i]).filename().string()
                                                     : fmt::format("source #{}", i);
    }
  }
  if (best_area > 0.0f) {
    for (bool mirrored : {false, true}) {
      video_sources_[mirrored ? 1 : 0] = prepared_source(source_, kVideoFullSizeFace, mirrored);
    }
    const SwapSourceFace& prepared = video_sources_[0];
    video_source_energies_.clear();
    {
      std::lock_guard lock(softened_mutex_);
      softened_.clear();
    }
    for (double sigma : kVideoSofteningSigmas) {
      video_source_energies_.push_back(
          face::inner_face_energy(soften(prepared, sigma).image, prepared.face.landmarks68));
    }
    source_warnings_ = source_quality_warnings(source_.image, source_.face, source_name_);
    if (passed_over_profile) {
      const cv::Rect2f& b = source_.face.box;
      source_warnings_.push_back(
          {"source_profile_passed_over",
           fmt::format("the largest face in {} is seen from the side (profile), which the swap cannot use; the "
                       "largest face seen from the front was used instead (box centre {:.0f}, {:.0f}): crop the "
                       "source photo to the face you mean",
                       source_name_, b.x + b.width / 2, b.y + b.height / 2)});
    }
  }
  if (best_area == 0.0f) {
    return no_face(fmt::format("no face found in the source image(s) {}: use a photo where the face is clearly "
                               "visible, frontal and at least ~40 pixels wide",
                               fmt::join(without_face, ", ")));
  }
  return Status::ok();
}

// A swapped still face with less than this × the target's inner-face Laplacian energy
// (face/inner_face_sharpness.h) is reported as soft. The sharpness match brings every bench pair it
// can to 0.85–0.9×; what stays under 0.5× is a source without the detail: the two motion-blurred
// sample4.jpg sources (0.32×, 0.38×: a smeared, ghostly face at 100 %, and no source warning, their
// scale-free sharpness being 0.18–0.21). It also fires on `make examples`' sample2.jpg →
// astronaut.png: its source face (the largest frontal one since faces in profile are passed over;
// the profile face gave a torn one) looks down with hair across it, and the swapped face is ghostly
// and half-closed-eyed.
constexpr double kSoftResult = 0.5;

Status FaceSwapper::process(FrameContext& frame) const {
  if (onnx_) {
    for (const auto& target : frame.target_faces) FF_RETURN_IF_ERROR(onnx_->swap(frame.frame, target));
    return Status::ok();
  }
  ClassicalSwapOptions options = options_;
  options.match_target_sharpness = frame.still_image;
  // Still images: the frame as it was, to measure how sharp each swapped face came out against the
  // photo's own face (a copy of one image; video frames are not measured).
  const cv::Mat before = frame.still_image ? frame.frame.clone() : cv::Mat();
  for (const auto& target : frame.target_faces) {
    if (!target.has_landmarks68()) continue;
    // A target face in profile: dlib's points lie across its cheek and hair, and a face warped onto
    // them is torn (the quality bench's old "bar55 → sample2" pair). Left as it is, and reported.
    // Video frames: decided per track at its detections and faded over the frames between two
    // that disagree (Face::profile_fade, set by the pipeline), so a head turning into profile fades
    // out instead of being torn for a few frames and then dropped at once.
    if (target.profile_fade >= 1.0f || (frame.still_image && face::seen_from_the_side(target))) {
      profile_targets_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    ClassicalSwapOptions face_options = options;
    face_options.blend *= 1.0f - std::clamp(target.profile_fade, 0.0f, 1.0f);
    const float yaw_difference = pose_yaw_difference(source_.face.landmarks68, target.landmarks68);
    swapped_faces_.fetch_add(1, std::memory_order_relaxed);
    if (yaw_difference > kPoseMismatchYaw) {
      pose_mismatches_.fetch_add(1, std::memory_order_relaxed);
      const int whole = static_cast<int>(yaw_difference);
      int seen = worst_yaw_difference_.load(std::memory_order_relaxed);
      while (whole > seen && !worst_yaw_difference_.compare_exchange_weak(seen, whole, std::memory_order_relaxed)) {
      }
    }
    if (!frame.still_image) {
      // The source prepared for video (open()), already mirrored when this target needs it.
      const bool mirrored = should_mirror_source(source_.face.landmarks68, target);
      // Softened when it is sharper than the target's track.
      const double softening = video_softening(target);
      const auto softened = softening > 0.0 ? softened_video_source(mirrored, softening) : nullptr;
      const SwapSourceFace& source = softened ? *softened : video_sources_[mirrored ? 1 : 0];
      const float target_size = face::face_size(target.landmarks68);
      if (target_size > kVideoFullSizeFace) {
        FF_RETURN_IF_ERROR(swap_reduced(frame.frame, target, source, kVideoFullSizeFace / target_size, face_options));
      } else {
        FF_RETURN_IF_ERROR(classical_swap(frame.frame, target, source, face_options));
      }
    } else {
      FF_RETURN_IF_ERROR(classical_swap(frame.frame, target, source_, face_options));
      measured_faces_.fetch_add(1, std::memory_order_relaxed);
      if (face::inner_face_sharpness_ratio(before, frame.frame, target.landmarks68) < kSoftResult) {
        soft_results_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  return Status::ok();
}

SwapSourceFace FaceSwapper::soften(const SwapSourceFace& prepared, double sigma) {
  if (sigma <= 0.0) return prepared;
  SwapSourceFace out{cv::Mat(), prepared.face, prepared.strands_removed};
  const double px = sigma * face::face_size(prepared.face.landmarks68) / face::kCommonFaceSize;
  cv::GaussianBlur(prepared.image, out.image, cv::Size(0, 0), px, px, cv::BORDER_REPLICATE);
  return out;
}

std::shared_ptr<const SwapSourceFace> FaceSwapper::softened_video_source(bool mirrored, double sigma) const {
  {
    std::lock_guard lock(softened_mutex_);
    for (auto it = softened_.begin(); it != softened_.end(); ++it) {
      if (it->mirrored != mirrored || it->sigma != sigma) continue;
      std::rotate(it, it + 1, softened_.end());
      return softened_.back().source;
    }
  }
  auto source = std::make_shared<const SwapSourceFace>(soften(video_sources_[mirrored ? 1 : 0], sigma));
  std::lock_guard lock(softened_mutex_);
  if (softened_.size() == kSoftenedCacheSize) softened_.erase(softened_.begin());
  softened_.push_back({mirrored, sigma, source});
  return source;
}

double FaceSwapper::video_softening(const face::Face& target) const {
  const auto& e = video_source_energies_;
  const double target_energy = target.track_detail_energy.value_or(0.0f);
  if (e.empty() || target_energy <= 0.0 || e.front() <= kVideoSoftenAbove * target_energy) return 0.0;
  // The energy aimed at: kVideoSoftenGoal× the target's, reached continuously from the source's own
  // at kVideoSoftenAbove× (no jump where the softening starts).
  const double goal = std::max(kVideoSoftenGoal * target_energy, 2.0 * kVideoSoftenAbove * target_energy - e.front());
  // The energy falls with the sigma: interpolated between the measured blurs, in log energy.
  for (size_t i = 1; i < e.size(); ++i) {
    if (e[i] > goal) continue;
    const double t = e[i - 1] > e[i] ? std::log(e[i - 1] / goal) / std::log(e[i - 1] / e[i]) : 1.0;
    const double sigma = kVideoSofteningSigmas[i - 1] +
                         std::clamp(t, 0.0, 1.0) * (kVideoSofteningSigmas[i] - kVideoSofteningSigmas[i - 1]);
    return std::round(sigma / kVideoSofteningStep) * kVideoSofteningStep;
  }
  return kVideoSofteningSigmas.back();
}

std::vector<ProcessorWarning> FaceSwapper::take_warnings() const {
  if (onnx_) return {};
  std::vector<ProcessorWarning> out = source_warnings_;
  const int64_t mismatches = pose_mismatches_.exchange(0), swapped = swapped_faces_.exchange(0);
  const int worst = worst_yaw_difference_.exchange(0);
  const int64_t measured = measured_faces_.exchange(0), soft = soft_results_.exchange(0);
  if (const int64_t profile = profile_targets_.exchange(0); profile > 0) {
    out.push_back({"target_profile",
                   "{profile} target face(s) seen from the side (profile) were left as they are: the swap places "
                   "the source on the target's landmarks, which cannot be found on a face in profile",
                   {{"profile", profile}},
                   {},
                   "profile"});
  }
  if (measured > 0) {
    out.push_back({"soft_result",
                   fmt::format("{{soft}} of {{measured}} swapped face(s) came out softer than the photo around them "
                               "(under {:.0f} % of the target face's fine detail, even after sharpening): the source "
                               "face in {} is blurred, shaken, small or seen from too far to the side; a sharp, "
                               "frontal source photo works better",
                               100.0 * kSoftResult, source_name_),
                   {{"soft", soft}, {"measured", measured}},
                   {},
                   "soft"});
  }
  if (swapped > 0) {
    // The figures are placeholders: a chunked job's merge sums them over its chunks, those without
    // a mismatch too (their faces count in "of {swapped}"); shown only when some target mismatched.
    out.push_back(
        {"pose_mismatch",
         fmt::format("{{mismatches}} of {{swapped}} swapped target face(s) are turned up to {{worst_yaw}}° away "
                     "from the source face in {} (more than {:.0f}°): the swap re-poses the source and "
                     "invents the side its photo does not show; a source photo turned like the target works "
                     "better",
                     source_name_, kPoseMismatchYaw),
         {{"mismatches", mismatches}, {"swapped", swapped}},
         {{"worst_yaw", worst}},
         "mismatches"});
  }
  return out;
}

Status FaceSwapper::swap_reduced(cv::Mat& frame, const face::Face& target, const SwapSourceFace& source, float scale,
                                 const ClassicalSwapOptions& options) const {
  // The region holds the mask and the blend's reach around it (half a face on every side).
  constexpr float kBrowRaise = 0.3f, kMargin = 0.5f;
  cv::Rect region = face::face_region(target.landmarks68, kBrowRaise, kMargin, frame.size());
  // INTER_AREA has a fast path for whole-number factors only (a fractional factor costs several
  // times more per frame pixel: 5 % of a 720p talking-head job's CPU): the whole part of the
  // reduction is done on its own first, on a region trimmed to a multiple of it (a few pixels of
  // margin), the rest (under 2×) bilinearly on that copy (each output pixel interpolates the 2×2
  // pixels around its centre: at under 2× little aliases).
  const int whole_factor = std::max(1, static_cast<int>(1.0f / scale));
  region.width -= region.width % whole_factor;
  region.height -= region.height % whole_factor;
  if (region.empty()) return Status::ok();
  const cv::Size small_size(std::max(1, cvRound(region.width * scale)), std::max(1, cvRound(region.height * scale)));
  cv::Mat small;
  if (whole_factor > 1) {
    const double whole_scale = 1.0 / whole_factor;
    cv::resize(frame(region), small, cv::Size(), whole_scale, whole_scale, cv::INTER_AREA);
    if (small.size() != small_size) cv::resize(small, small, small_size, 0, 0, cv::INTER_LINEAR);
  } else {
    cv::resize(frame(region), small, small_size, 0, 0, cv::INTER_LINEAR);
  }
  const float sx = static_cast<float>(small.cols) / static_cast<float>(region.width);
  const float sy = static_cast<float>(small.rows) / static_cast<float>(region.height);
  // Pixel centres as cv::resize maps them: x_small + 0.5 = (x − region.x + 0.5)·sx.
  auto to_small = [&](cv::Point2f p) {
    return cv::Point2f((p.x - region.x + 0.5f) * sx - 0.5f, (p.y - region.y + 0.5f) * sy - 0.5f);
  };
  face::Face reduced = target;
  for (auto& p : reduced.landmarks68) p = to_small(p);
  for (auto& p : reduced.landmarks5) p = to_small(p);
  reduced.box = cv::Rect2f(to_small(target.box.tl()), to_small(target.box.br()));
  const cv::Mat small_before = small.clone();
  cv::Mat mask_small;
  FF_RETURN_IF_ERROR(classical_swap(small, reduced, source, options, &mask_small));
  // Only the part of the region the mask reaches is sampled back and composited (the region's
  // margin holds the blend's reach in the reduced copy, but the mask is 0 there). What is sampled
  // back is the swap's change to the reduced copy, not the swapped copy itself, weighted by the
  // mask once more: out = frame + up(change·m), upsampled bilinearly with cv::resize's pixel
  // centres inside the loop that composites it. The change already carries m (classical_swap
  // composited with it), so a video face's edge and the target's glasses frame inside it fade by
  // m², as they have since session 14 (out = frame + up(change)·up(m) then; weighting before the
  // upsample, one 3-channel image instead of change and mask as four, gives the same frames to
  // 58 dB PSNR on the talking head and a branch-free loop). Where m = 0 the change is exactly 0, so
  // every pixel outside the mask stays bit-identical.
  // So the detail finer than the reduced copy, which the swap never saw, stays the target's own:
  // skin grain, stubble, the thin parts of a glasses frame. Compositing the upsampled swapped copy
  // instead (frame·(1 − m) + swapped·m) replaced that band with nothing: on the zoom clip's
  // 600–730 px faces (a third of their size in the copy) the inner face had 0.26–0.35× the
  // target's Laplacian energy, 0.91–1.03× with it (a 256 px copy then; 1.01–1.03× with 192 px).
  // The band sits far above the 150 px chip dlib's descriptor reads a face at, so it carries no
  // identity to it.
  const cv::Rect changed_small = cv::boundingRect(mask_small > 0.0f);
  if (changed_small.empty()) return Status::ok();
  const cv::Point2f small_per_full(sx, sy);
  // Region pixels whose bilinear sample can see a small pixel of changed_small: sample position
  // (x + 0.5)·scale − 0.5 strictly within one small pixel of it.
  auto first_reached = [](int small_first, float s) { return std::max(0, cvFloor((small_first - 0.5f) / s - 0.5f)); };
  auto end_reached = [](int small_end, float s, int size) { return std::min(size, cvCeil((small_end + 0.5f) / s - 0.5f) + 1); };
  const int x0 = first_reached(changed_small.x, small_per_full.x), y0 = first_reached(changed_small.y, small_per_full.y);
  const cv::Rect changed(x0, y0, end_reached(changed_small.br().x, small_per_full.x, region.width) - x0,
                         end_reached(changed_small.br().y, small_per_full.y, region.height) - y0);
  cv::Mat change_small;
  cv::subtract(small, small_before, change_small, cv::noArray(), CV_32FC3);
  for (int y = 0; y < change_small.rows; ++y) {
    auto* change = change_small.ptr<cv::Vec3f>(y);
    const float* m = mask_small.ptr<float>(y);
    for (int x = 0; x < change_small.cols; ++x) change[x] *= std::min(1.0f, m[x]);
  }
  face::BilinearUpsampler up(change_small, small_per_full, changed.tl(), changed.width);
  cv::Mat roi = frame(region)(changed);
  const int row_values = roi.cols * 3;
  for (int y = 0; y < roi.rows; ++y) {
    uchar* out = roi.ptr<uchar>(y);
    const float* in = up.row(y);
    for (int i = 0; i < row_values; ++i) {
      // Rounded half up; a change of exactly 0 leaves the value as it was.
      out[i] = static_cast<uchar>(std::clamp(static_cast<float>(out[i]) + in[i] + 0.5f, 0.0f, 255.0f));
    }
  }
  return Status::ok();
}

}  // namespace facefuse::processors
