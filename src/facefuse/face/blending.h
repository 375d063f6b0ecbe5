// Blending of a warped face into a frame: LAB colour transfer, local lighting match, multi-band
// (Laplacian pyramid) blending, Poisson blending (cv::seamlessClone) and the final masked
// composite.
//
// Every function works on images of one face region, not whole frames: callers pass views
// (cv::Mat(frame, region)) or region-sized buffers, so the cost is O(face), whatever the frame
// size. All inputs of one call have the same size. Colour images are BGR; masks are CV_32FC1 in
// [0, 1] (1 = foreground).
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"

namespace facefuse::face {

// L*a*b* colour transfer (Reinhard et al. 2001): per channel, the foreground's mean and standard
// deviation inside a mask are moved to the reference's, x' = x·gain + offset, in float L*a*b*
// units (L in [0, 100], a and b in about [−127, 127]). Each channel's gain (std ratio) is clamped
// to [1 / max_std_ratio, max_std_ratio] so a flat or tiny region cannot blow the contrast up.
struct LabTransfer {
  float gain[3] = {1, 1, 1};
  float offset[3] = {0, 0, 0};
};

// Fits the transfer from `foreground` to `reference` (both CV_8UC3, or both CV_32FC3 BGR in
// [0, 1]) using their pixels with mask > 0.5 (CV_32FC1). The statistics may come from reduced
// copies of the images (they are averages). Identity when fewer than 16 pixels are in the mask.
LabTransfer fit_lab_transfer(const cv::Mat& foreground, const cv::Mat& reference, const cv::Mat& mask,
                             float max_std_ratio = 2.0f);

// The same from float L*a*b* images (cv::cvtColor of CV_32FC3 BGR in [0, 1], COLOR_BGR2Lab).
LabTransfer fit_lab_transfer_lab(const cv::Mat& foreground_lab, const cv::Mat& reference_lab, const cv::Mat& mask,
                                 float max_std_ratio = 2.0f);
// Applies a transfer to a float L*a*b* image in place (L clamped to [0, 100]).
void apply_lab_transfer_lab(cv::Mat& lab, const LabTransfer& transfer);

// Applies a fitted transfer to every pixel of `image` (CV_8UC3 or CV_32FC3 BGR in [0, 1]), in
// place; results stay in range. The 8-bit path works on OpenCV's 8-bit L*a*b* through per-channel
// lookup tables (±1 level of rounding, several times faster than float L*a*b*).
void apply_lab_transfer(cv::Mat& image, const LabTransfer& transfer);

// fit_lab_transfer + apply_lab_transfer on the same images: `foreground` takes the reference's
// L*a*b* statistics inside the mask (all its pixels change, with the masked ones' statistics).
void transfer_color_lab(cv::Mat& foreground, const cv::Mat& reference, const cv::Mat& mask,
                        float max_std_ratio = 2.0f);

// Local lighting match: the per-pixel, per-channel gain (CV_32FC3) that gives `foreground` the
// smooth local mean colour of `reference` — the ratio of their normalised convolutions (Gaussian
// of `sigma_px` over the pixels weighted by `weight`, CV_32FC1 in [0, 1]). Multiplying the
// foreground by it transfers the reference's shading and coloured light (one side lit, a blue
// cast) while keeping the foreground's own detail. Pixels with weight 0 (eyes, brows, hair,
// mouths) do not contribute, so neither face's features imprint on the other. Gains are clamped
// to [0.5, 2]; where no weighted pixel is near, the gain is 1. Inputs CV_32FC3 BGR in [0, 1] or
// CV_8UC3. Callers usually run it on a reduced copy of the region and upsample the gain, which is
// smooth by construction.
cv::Mat lighting_gain(const cv::Mat& foreground, const cv::Mat& reference, const cv::Mat& weight, float sigma_px);

// Number of pyramid levels for a face of `face_size_px` pixels in a region of `region_size`:
// the coarsest level still shows the face about 12 pixels wide and the region at least 8 pixels;
// at least 1.
int multiband_levels(float face_size_px, cv::Size region_size);

// Burt–Adelson multi-band blend: Laplacian pyramids of `foreground` and `background` are mixed
// level by level with the Gaussian pyramid of `mask`, then collapsed. CV_32FC3 in, CV_32FC3 out
// (same value range as the inputs). `levels` = number of Laplacian levels (1 = plain alpha blend).
// Computed as background + collapse(G(mask) · L(foreground − background)), which is the same by
// linearity and needs one pyramid instead of two.
cv::Mat multiband_blend(const cv::Mat& foreground, const cv::Mat& background, const cv::Mat& mask, int levels);

// The detail term of multiband_blend: collapse(G(mask) · L(difference)), CV_32FC3 (difference
// CV_32FC3, mask CV_32FC1, same size). multiband_blend = background + this, with difference =
// foreground − background.
cv::Mat multiband_detail(const cv::Mat& difference, const cv::Mat& mask, int levels);

// Multi-band blend fused with the composite, for 8-bit images (the fast path of the classical
// swapper): frame_region = frame_region + (blend·mask)·(multiband_blend(foreground, frame_region,
// mask, levels) − frame_region), rounded, for pixels with mask > 0 only (the others keep their
// exact values). `frame_region` CV_8UC3 (the background, modified in place), `foreground`
// CV_8UC3, `mask` CV_32FC1 in [0, 1], blend in (0, 1]. The finest level is split with a 2×2 box
// filter and bilinear interpolation instead of the 5-tap pyramid (coarser levels are Burt–Adelson
// on the half-size grid), so no full-size float pyramid is built; where the mask is 1 at every
// level the result is the foreground exactly, as with multiband_blend.
void multiband_composite(cv::Mat& frame_region, const cv::Mat& foreground, const cv::Mat& mask, int levels,
                         float blend);

// Bilinear sampling of a small CV_32FC(n) image at the pixels of a larger grid: pixel x of the
// large grid (plus `offset`) reads the small image at (x + offset + 0.5)·scale − 0.5 (pixel-centre
// convention of cv::resize), with replicated borders. row(y) returns width × n floats. Cheap enough
// to be fused into per-pixel loops (no full-size buffer).
class BilinearUpsampler {
 public:
  BilinearUpsampler(const cv::Mat& small, float scale, cv::Point offset, int width)
      : BilinearUpsampler(small, cv::Point2f(scale, scale), offset, width) {}
  // Separate x and y scales (small size / large size per axis, as cv::resize to an exact size uses).
  BilinearUpsampler(const cv::Mat& small, cv::Point2f scale, cv::Point offset, int width);
  const float* row(int y);

 private:
  // Row `index` of the small image sampled at every output column into `dst` (width × channels).
  template <int kChannels>
  void interpolate_columns(int index, float* dst) const;
  void columns_of_row(int index, float* dst) const;

  cv::Mat small_;
  float scale_y_;
  cv::Point offset_;
  int channels_;
  std::vector<int> x0_, x1_;  // float offsets of the two source pixels of each output column
  std::vector<float> ax_;
  // The two small rows the current output row lies between, already sampled at the output
  // columns (rows_[0] = row cached_[0], rows_[1] = row cached_[1]): an upscale by k reuses them for
  // k output rows, so the column gathers run once per small row, not once per output row.
  std::vector<float> rows_[2], out_;
  int cached_[2] = {-1, -1};
};

// Poisson blend: cv::seamlessClone (NORMAL_CLONE) of `foreground` into `background` where
// mask > 0.5, with the foreground kept in place (no shift). CV_8UC3 in, CV_8UC3 out. The mask
// is cleared on a one-pixel border (seamlessClone needs a boundary); an empty mask returns a copy
// of the background. Pixels outside the mask are exactly the background's. kInternal if OpenCV
// fails.
Result<cv::Mat> poisson_blend(const cv::Mat& foreground, const cv::Mat& background, const cv::Mat& mask);

// frame_region = frame_region·(1 − w) + blended·w, rounded, for pixels with w > 0 only: pixels
// where w == 0 keep their exact values. `frame_region` CV_8UC3 (usually a view into the frame),
// `blended` CV_32FC3 in [0, 1], `weight` CV_32FC1 in [0, 1].
void composite(cv::Mat& frame_region, const cv::Mat& blended, const cv::Mat& weight);

}  // namespace facefuse::face
