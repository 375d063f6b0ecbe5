// Still-image input and output (JPEG, PNG, WebP). Images in memory are BGR uint8 (CV_8UC3).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include <opencv2/core.hpp>

#include "facefuse/core/status.h"

namespace facefuse::media {

enum class ImageFormat { kJpeg, kPng, kWebp, kUnknown };

// Default pixel limit: 50 MP (an 8K frame is 33 MP). Decoding a larger image would need
// hundreds of MB per copy; callers raise it explicitly when they mean to.
inline constexpr int64_t kDefaultMaxPixels = 50'000'000;

struct ImageReadOptions {
  int64_t max_pixels = kDefaultMaxPixels;
};

// Format from the first bytes (magic numbers), never from the file name.
ImageFormat sniff_image_format(std::span<const uint8_t> head);
const char* image_format_name(ImageFormat format);

// Width and height read from the file header without decoding pixels; kInvalidArgument when the
// header is not a well-formed JPEG/PNG/WebP header.
Result<cv::Size> read_image_size(std::span<const uint8_t> bytes, ImageFormat format);

// Reads and decodes an image file: content-sniffed, the pixel limit checked from the header
// before decoding, truncated files rejected (a missing JPEG EOI / PNG IEND / short WebP RIFF),
// EXIF orientation applied. Errors: kNotFound (missing), kInvalidArgument (not an image,
// truncated, corrupt), kLimitExceeded (over max_pixels).
Result<cv::Mat> read_image(const std::filesystem::path& path, const ImageReadOptions& options = {});
Result<cv::Mat> decode_image(std::span<const uint8_t> bytes, const std::string& name,
                             const ImageReadOptions& options = {});

// Output format from the file extension (.jpg/.jpeg, .png, .webp); kInvalidArgument otherwise.
Result<ImageFormat> image_format_for_path(const std::filesystem::path& path);

// Checks that a file can be created at `path`: its directory exists and takes new files, and
// `path` is not a directory. Call before long work so bad output paths fail fast.
Status check_output_directory(const std::filesystem::path& path);

// check_output_directory plus a known image extension.
Status check_image_output_path(const std::filesystem::path& path);

// Encodes and writes atomically: a temporary file beside the target, renamed on success, removed
// on failure. quality 0–100 for JPEG/WebP (ignored for PNG).
Status write_image(const std::filesystem::path& path, const cv::Mat& bgr, int quality = 95);

}  // namespace facefuse::media
