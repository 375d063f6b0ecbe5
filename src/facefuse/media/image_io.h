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

// What an image file's header says, read without decoding pixels.
struct ImageHeader {
  cv::Size size;
  bool alpha = false;      // PNG colour type 4/6 or a tRNS chunk; WebP with an alpha channel
  bool grayscale = false;  // one-component JPEG; PNG colour type 0/4
  bool animated = false;   // WebP with the animation flag (several frames)
};

// kInvalidArgument when the header is not a well-formed JPEG/PNG/WebP header.
Result<ImageHeader> read_image_header(std::span<const uint8_t> bytes, ImageFormat format);

// Width and height from the header, both positive; kInvalidArgument for a malformed header,
// kInvalidMedia for a header of an image without pixels (0×0, 0×N), kUnsupported for an
// animated WebP (facefuse decodes still images only; the message says to convert it to a video).
Result<cv::Size> read_image_size(std::span<const uint8_t> bytes, ImageFormat format);

// What a decoded image was besides its BGR pixels, so that an output can be written like it: a
// grayscale photo stays grayscale (a swapped face must not bring colour into it) and transparency
// is kept where the output format has it (PNG, WebP).
struct ImageTraits {
  cv::Mat alpha;           // CV_8UC1, the image's size; empty when the image is opaque
  bool grayscale = false;  // a grey-only file, or colour channels equal in every pixel
};

// Reads and decodes an image file: content-sniffed, the pixel limit checked from the header
// before decoding, truncated files rejected (a missing JPEG EOI / PNG IEND / short WebP RIFF),
// EXIF orientation applied. Errors: kNotFound (missing), kInvalidArgument (not an image,
// truncated, corrupt), kLimitExceeded (over max_pixels).
// With `traits`, also fills in what the image was (alpha plane, grayscale).
Result<cv::Mat> read_image(const std::filesystem::path& path, const ImageReadOptions& options = {},
                           ImageTraits* traits = nullptr);
Result<cv::Mat> decode_image(std::span<const uint8_t> bytes, const std::string& name,
                             const ImageReadOptions& options = {}, ImageTraits* traits = nullptr);

// Output format from the file extension (.jpg/.jpeg, .png, .webp); kInvalidArgument otherwise.
Result<ImageFormat> image_format_for_path(const std::filesystem::path& path);

// Checks that a file can be created at `path`: its directory exists and takes new files, `path`
// is not a directory, and its name fits the directory's file-name limit (NAME_MAX: 255 bytes on
// Linux file systems). kInvalidArgument saying what to fix. Call before long work so bad output
// paths fail fast, not after the whole video was processed.
Status check_output_directory(const std::filesystem::path& path);

// The temporary file an output is written to before its atomic rename: beside `path` (same
// directory, so the rename is atomic), "<name>.<8 hex digits>.part" — with the name cut short
// when needed so that the temporary name never exceeds NAME_MAX even when `path`'s own name
// uses all 255 bytes. Unique per call (random), so concurrent writers never share a file.
std::filesystem::path temp_path_beside(const std::filesystem::path& path);

// The libavformat URL of a local file: "file:" + path, so that a name with a colon
// ("swap-12:30.mp4") is never taken for a protocol ("swap-12").
std::string file_url(const std::filesystem::path& path);

// check_output_directory plus a known image extension.
Status check_image_output_path(const std::filesystem::path& path);

struct ImageWriteOptions {
  int quality = 95;  // JPEG/WebP quality 0–100 (ignored for PNG)
  // Written like the input: grayscale stays grayscale; the alpha plane (the image's size) is
  // kept for PNG and WebP outputs (JPEG has none).
  const ImageTraits* traits = nullptr;
  // An XMP packet to embed (synthetic_label.h): JPEG APP1, PNG iTXt "XML:com.adobe.xmp", WebP
  // "XMP " chunk (with the VP8X header that announces it). Empty: none.
  std::string xmp;
};

// Encodes and writes atomically: a temporary file beside the target, renamed on success, removed
// on failure.
Status write_image(const std::filesystem::path& path, const cv::Mat& bgr, const ImageWriteOptions& options);
inline Status write_image(const std::filesystem::path& path, const cv::Mat& bgr, int quality = 95) {
  return write_image(path, bgr, ImageWriteOptions{quality, nullptr, {}});
}

}  // namespace facefuse::media
