// Fuzzes upload media detection for images (media/image_io.h), as JobService::register_upload
// does it: the format sniffed from the first bytes, the size read from the header (the pixel limit
// is checked on it before anything is decoded), then the full decode with a 1 MP limit so one input
// stays fast.
//
// Properties: no crash or UB; a header size that is accepted is positive in both dimensions; a
// decoded image is 8-bit BGR, within the limit, and has the size its header announced (rotated
// by EXIF or not), so the limit checked on the header is the one that applies.
// fuzz-link: facefuse::media
#include <cstddef>
#include <cstdint>
#include <span>

#include "facefuse/media/image_io.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace facefuse::media;
  const std::span<const uint8_t> bytes(data, size);
  const ImageFormat format = sniff_image_format(bytes);
  (void)image_format_name(format);
  if (format == ImageFormat::kUnknown) return 0;

  auto header = read_image_size(bytes, format);
  if (header) FF_FUZZ_CHECK(header->width > 0 && header->height > 0, "a header size is positive");

  ImageReadOptions options;
  options.max_pixels = 1'000'000;
  auto image = decode_image(bytes, "fuzz input", options);
  if (!image) return 0;
  FF_FUZZ_CHECK(header.is_ok(), "a decoded image had a readable header");
  FF_FUZZ_CHECK(image->type() == CV_8UC3 && !image->empty(), "decoded images are 8-bit BGR");
  FF_FUZZ_CHECK(int64_t{image->cols} * image->rows <= options.max_pixels, "a decoded image is within the limit");
  const bool same = image->cols == header->width && image->rows == header->height;
  const bool rotated = image->cols == header->height && image->rows == header->width;
  FF_FUZZ_CHECK(same || rotated, "a decoded image has its header's size");
  return 0;
}
