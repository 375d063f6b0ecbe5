#include "facefuse/media/image_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <algorithm>
#include <fstream>
#include <random>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "facefuse/media/synthetic_label.h"

namespace facefuse::media {
namespace {

bool starts_with(std::span<const uint8_t> b, std::initializer_list<uint8_t> magic, size_t offset = 0) {
  if (b.size() < offset + magic.size()) return false;
  return std::equal(magic.begin(), magic.end(), b.begin() + static_cast<std::ptrdiff_t>(offset));
}

uint32_t be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }
uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }
uint32_t le24(const uint8_t* p) { return le16(p) | (uint32_t{p[2]} << 16); }
uint32_t le32(const uint8_t* p) { return le16(p) | (le16(p + 2) << 16); }

Result<ImageHeader> jpeg_header(std::span<const uint8_t> b) {
  // Walk the marker segments up to the first SOFn (baseline, progressive, ...) frame header:
  // length (2), precision (1), height (2), width (2), number of components (1).
  size_t i = 2;
  while (i + 9 < b.size()) {
    if (b[i] != 0xFF) return invalid_argument("corrupt JPEG header");
    uint8_t marker = b[i + 1];
    if (marker == 0xFF) { ++i; continue; }
    size_t length = be16(&b[i + 2]);
    bool is_sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (is_sof) {
      ImageHeader h;
      h.size = cv::Size(static_cast<int>(be16(&b[i + 7])), static_cast<int>(be16(&b[i + 5])));
      h.grayscale = b[i + 9] == 1;
      return h;
    }
    i += 2 + length;
  }
  return invalid_argument("JPEG has no frame header (truncated or corrupt)");
}

Result<ImageHeader> png_header(std::span<const uint8_t> b) {
  if (b.size() < 26 || !starts_with(b, {'I', 'H', 'D', 'R'}, 12)) return invalid_argument("corrupt PNG header");
  // PNG sizes are 1 .. 2^31 - 1; larger ones would turn negative as int.
  const uint32_t width = be32(&b[16]), height = be32(&b[20]);
  if (width > INT32_MAX || height > INT32_MAX) return invalid_argument("corrupt PNG header (size over 2^31 - 1)");
  ImageHeader h;
  h.size = cv::Size(static_cast<int>(width), static_cast<int>(height));
  const uint8_t colour_type = b[25];  // 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA
  h.grayscale = colour_type == 0 || colour_type == 4;
  h.alpha = colour_type == 4 || colour_type == 6;
  // A tRNS chunk (before the first IDAT) gives palette, grey or RGB images transparency.
  size_t i = 8;
  while (i + 8 <= b.size()) {
    const uint32_t length = be32(&b[i]);
    if (starts_with(b, {'I', 'D', 'A', 'T'}, i + 4)) break;
    if (starts_with(b, {'t', 'R', 'N', 'S'}, i + 4)) h.alpha = true;
    i += 12 + static_cast<size_t>(length);
  }
  return h;
}

Result<ImageHeader> webp_header(std::span<const uint8_t> b) {
  if (b.size() < 30) return invalid_argument("WebP header is truncated");
  const uint8_t* chunk = &b[12];
  ImageHeader h;
  if (starts_with(b, {'V', 'P', '8', ' '}, 12)) {
    h.size = cv::Size(static_cast<int>(le16(chunk + 14) & 0x3FFF), static_cast<int>(le16(chunk + 16) & 0x3FFF));
    return h;
  }
  if (starts_with(b, {'V', 'P', '8', 'L'}, 12)) {
    uint32_t bits = le32(chunk + 9);
    h.size = cv::Size(static_cast<int>((bits & 0x3FFF) + 1), static_cast<int>(((bits >> 14) & 0x3FFF) + 1));
    h.alpha = ((bits >> 28) & 1) != 0;  // alpha_is_used
    return h;
  }
  if (starts_with(b, {'V', 'P', '8', 'X'}, 12)) {
    h.size = cv::Size(static_cast<int>(le24(chunk + 12) + 1), static_cast<int>(le24(chunk + 15) + 1));
    const uint8_t flags = chunk[8];  // bits: 0x10 alpha, 0x08 EXIF, 0x04 XMP, 0x02 animation, 0x20 ICC
    h.alpha = (flags & 0x10) != 0;
    h.animated = (flags & 0x02) != 0;
    return h;
  }
  return invalid_argument("unknown WebP chunk layout");
}

// True when every pixel of a BGR image has equal channels: a grey photo stored in colour.
bool is_grey(const cv::Mat& bgr) {
  for (int y = 0; y < bgr.rows; ++y) {
    const uint8_t* p = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < bgr.cols; ++x, p += 3) {
      if (p[0] != p[1] || p[1] != p[2]) return false;
    }
  }
  return true;
}

// A complete file ends with its format's terminator; a download or copy cut short does not.
Status check_complete(std::span<const uint8_t> b, ImageFormat format, const std::string& name) {
  bool complete = true;
  if (format == ImageFormat::kJpeg) {
    // Inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so an EOI
    // (FF D9) near the end can only be the real end of image. Allow trailing padding.
    size_t from = b.size() > 4096 ? b.size() - 4096 : 0;
    complete = false;
    for (size_t i = b.size() - 1; i > from; --i) {
      if (b[i - 1] == 0xFF && b[i] == 0xD9) { complete = true; break; }
    }
  } else if (format == ImageFormat::kPng) {
    static constexpr uint8_t kIend[] = {'I', 'E', 'N', 'D'};
    size_t from = b.size() > 64 ? b.size() - 64 : 0;
    complete = std::search(b.begin() + static_cast<std::ptrdiff_t>(from), b.end(), std::begin(kIend),
                           std::end(kIend)) != b.end();
  } else if (format == ImageFormat::kWebp) {
    complete = b.size() >= 8 && le32(&b[4]) + 8 <= b.size();
  }
  if (!complete) {
    return invalid_argument(fmt::format("{} is truncated (the {} data ends early): re-export or re-download it",
                                        name, image_format_name(format)));
  }
  return Status::ok();
}

// Longest file name (bytes) the file system of `dir` takes; 255 when it does not say.
size_t name_limit(const std::filesystem::path& dir) {
  errno = 0;
  long limit = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  return limit > 0 ? static_cast<size_t>(limit) : 255;
}

}  // namespace

ImageFormat sniff_image_format(std::span<const uint8_t> head) {
  if (starts_with(head, {0xFF, 0xD8, 0xFF})) return ImageFormat::kJpeg;
  if (starts_with(head, {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A})) return ImageFormat::kPng;
  if (starts_with(head, {'R', 'I', 'F', 'F'}) && starts_with(head, {'W', 'E', 'B', 'P'}, 8)) return ImageFormat::kWebp;
  return ImageFormat::kUnknown;
}

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kWebp: return "WebP";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

Result<ImageHeader> read_image_header(std::span<const uint8_t> bytes, ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return jpeg_header(bytes);
    case ImageFormat::kPng: return png_header(bytes);
    case ImageFormat::kWebp: return webp_header(bytes);
    case ImageFormat::kUnknown: break;
  }
  return invalid_argument("not a JPEG, PNG or WebP image");
}

Result<cv::Size> read_image_size(std::span<const uint8_t> bytes, ImageFormat format) {
  FF_ASSIGN_OR_RETURN(ImageHeader header, read_image_header(bytes, format));
  // A 0×N frame (PNG 0×0, a JPEG of height 0, a VP8 size field of 0) has no pixels to swap: the
  // upload check and the pixel limit both rely on a positive size here.
  if (header.size.width <= 0 || header.size.height <= 0) {
    return invalid_media(fmt::format("the {} header declares an empty {}x{} image: an image needs at least one "
                                     "pixel in each direction", image_format_name(format), header.size.width,
                                     header.size.height));
  }
  if (header.animated) {
    return unsupported("animated WebP images are not supported (only their first frame could be read): convert "
                       "it to a video first, e.g. `ffmpeg -i in.webp out.mp4` with an FFmpeg that reads animated "
                       "WebP, or use a still image");
  }
  return header.size;
}

Result<cv::Mat> decode_image(std::span<const uint8_t> bytes, const std::string& name, const ImageReadOptions& options,
                             ImageTraits* traits) {
  ImageFormat format = sniff_image_format(bytes);
  if (format == ImageFormat::kUnknown) {
    return invalid_argument(fmt::format("{} is not an image facefuse can read (expected JPEG, PNG or WebP content)", name));
  }
  auto size = read_image_size(bytes, format);
  if (!size) return Status(size.status().code(), fmt::format("{}: {}", name, size.status().message()));
  int64_t pixels = int64_t{size->width} * size->height;
  if (size->width <= 0 || size->height <= 0) return invalid_argument(fmt::format("{} has an empty image size", name));
  if (pixels > options.max_pixels) {
    return limit_exceeded(fmt::format("{} is {}x{} = {} pixels, over the limit of {}: downscale it or raise the pixel limit",
                                      name, size->width, size->height, pixels, options.max_pixels));
  }
  FF_RETURN_IF_ERROR(check_complete(bytes, format, name));
  // cv::imdecode picks its decoder by signature, not by our sniffed format: "DICM" at byte 128 (a
  // DICOM preamble) hands the bytes to GDCM, which allocates whatever length fields say (1 GiB
  // from a 400-byte file, found by fuzz_image_sniff). No JPEG/PNG/WebP we accept needs it.
  static constexpr std::string_view kDicomMagic = "DICM";
  if (bytes.size() >= 132 && std::equal(kDicomMagic.begin(), kDicomMagic.end(), bytes.begin() + 128)) {
    return invalid_argument(fmt::format("{} carries a DICOM preamble: not a plain {} image", name,
                                        image_format_name(format)));
  }
  cv::Mat image;
  try {
    // IMREAD_COLOR applies the EXIF orientation and converts grey/alpha inputs to 3-channel BGR.
    cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data()));
    image = cv::imdecode(raw, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return invalid_argument(fmt::format("{} could not be decoded: {}", name, e.what()));
  }
  if (image.empty()) return invalid_argument(fmt::format("{} could not be decoded (corrupt {} data)", name, image_format_name(format)));
  if (traits != nullptr) {
    *traits = {};
    FF_ASSIGN_OR_RETURN(ImageHeader header, read_image_header(bytes, format));
    traits->grayscale = header.grayscale || is_grey(image);
    if (header.alpha) {
      // IMREAD_COLOR drops the alpha plane: decode once more, unchanged, for it. (Only PNG and
      // WebP have alpha, and OpenCV turns neither by EXIF, so the planes line up; a size that
      // does not match is not used.)
      try {
        cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data()));
        cv::Mat full = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
        if ((full.channels() == 4 || full.channels() == 2) && full.size() == image.size()) {
          cv::Mat alpha;
          cv::extractChannel(full, alpha, full.channels() - 1);
          if (alpha.depth() == CV_16U) alpha.convertTo(alpha, CV_8U, 1.0 / 257.0);
          double lowest = 255;
          cv::minMaxLoc(alpha, &lowest);
          if (lowest < 255) traits->alpha = alpha;  // an all-opaque plane is no transparency
        }
      } catch (const cv::Exception& e) {
        return invalid_argument(fmt::format("{}: its alpha plane could not be decoded: {}", name, e.what()));
      }
    }
  }
  return image;
}

Result<cv::Mat> read_image(const std::filesystem::path& path, const ImageReadOptions& options, ImageTraits* traits) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found(fmt::format("file {} does not exist", path.string()));
  if (std::filesystem::is_directory(path, ec)) return invalid_argument(fmt::format("{} is a directory, not an image", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument(fmt::format("cannot open {} for reading (check its permissions)", path.string()));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return invalid_argument(fmt::format("cannot read {}", path.string()));
  if (bytes.empty()) return invalid_argument(fmt::format("{} is empty", path.string()));
  return decode_image(bytes, path.string(), options, traits);
}

Result<ImageFormat> image_format_for_path(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".jpg" || ext == ".jpeg") return ImageFormat::kJpeg;
  if (ext == ".png") return ImageFormat::kPng;
  if (ext == ".webp") return ImageFormat::kWebp;
  return invalid_argument(fmt::format("cannot tell the image format of output {}: use a .jpg, .png or .webp name",
                                      path.string()));
}

Status check_image_output_path(const std::filesystem::path& path) {
  FF_RETURN_IF_ERROR(image_format_for_path(path).status());
  return check_output_directory(path);
}

std::filesystem::path temp_path_beside(const std::filesystem::path& path) {
  std::random_device rd;
  const std::string suffix = fmt::format(".{:08x}.part", rd());
  std::filesystem::path dir = path.parent_path();
  std::string name = path.filename().native();
  const size_t name_max = name_limit(dir.empty() ? std::filesystem::path(".") : dir);
  if (name.size() + suffix.size() > name_max) name.resize(name_max > suffix.size() ? name_max - suffix.size() : 0);
  return dir / (name + suffix);
}

std::string file_url(const std::filesystem::path& path) { return "file:" + path.string(); }

Status check_output_directory(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return invalid_argument(fmt::format("output directory {} does not exist: create it first", dir.string()));
  }
  if (std::filesystem::is_directory(path, ec)) {
    return invalid_argument(fmt::format("output {} is a directory: give a file name", path.string()));
  }
  const size_t name_bytes = path.filename().native().size();
  const size_t name_max = name_limit(dir);
  if (name_bytes > name_max) {
    return invalid_argument(fmt::format("output file name {} is {} bytes long; the file system of {} allows at most {}: "
                                        "choose a shorter name",
                                        path.filename().string(), name_bytes, dir.string(), name_max));
  }
  // Permission bits do not tell the truth for root or read-only mounts: create and remove a
  // probe file to learn whether the directory really takes new files.
  std::random_device rd;
  auto probe = dir / fmt::format(".facefuse-write-probe-{:08x}", rd());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return invalid_argument(fmt::format("output directory {} is not writable: {}", dir.string(), std::strerror(errno)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::ok();
}

Status write_image(const std::filesystem::path& path, const cv::Mat& bgr, const ImageWriteOptions& options) {
  FF_RETURN_IF_ERROR(check_image_output_path(path));
  FF_ASSIGN_OR_RETURN(ImageFormat format, image_format_for_path(path));
  const int quality = options.quality;
  std::vector<int> params;
  const char* ext = ".png";
  if (format == ImageFormat::kJpeg) {
    params = {cv::IMWRITE_JPEG_QUALITY, std::clamp(quality, 0, 100)};
    ext = ".jpg";
  } else if (format == ImageFormat::kWebp) {
    params = {cv::IMWRITE_WEBP_QUALITY, std::clamp(quality, 1, 100)};
    ext = ".webp";
  }
  std::vector<uint8_t> encoded;
  try {
    cv::Mat pixels = bgr;
    const ImageTraits* traits = options.traits;
    if (traits != nullptr && traits->grayscale) {
      // Grey in, grey out: a swapped-in face must not bring colour into a black-and-white photo.
      cv::cvtColor(bgr, pixels, cv::COLOR_BGR2GRAY);
      // WebP (and alpha, below) need colour channels: grey in all three.
      if (format == ImageFormat::kWebp || (traits->alpha.size() == bgr.size() && format != ImageFormat::kJpeg)) {
        cv::cvtColor(pixels, pixels, cv::COLOR_GRAY2BGR);
      }
    }
    if (traits != nullptr && !traits->alpha.empty() && traits->alpha.size() == bgr.size() &&
        format != ImageFormat::kJpeg) {
      cv::Mat bgra;
      cv::Mat planes[] = {pixels, traits->alpha};
      cv::merge(planes, 2, bgra);
      pixels = bgra;
    }
    if (!cv::imencode(ext, pixels, encoded, params)) return internal_error(fmt::format("encoding {} failed", path.string()));
  } catch (const cv::Exception& e) {
    return internal_error(fmt::format("encoding {} failed: {}", path.string(), e.what()));
  }
  if (!options.xmp.empty()) FF_RETURN_IF_ERROR(embed_xmp(encoded, format, options.xmp));
  // Same directory as the target so the rename is atomic; a unique name so concurrent writers of
  // the same output never share a temporary file.
  const auto tmp = temp_path_beside(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(encoded.data()), static_cast<std::streamsize>(encoded.size()));
    out.close();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return unavailable(fmt::format("writing {} failed (disk full or I/O error)", path.string()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return unavailable(fmt::format("cannot move the finished image to {}: {}", path.string(), ec.message()));
  }
  return Status::ok();
}

}  // namespace facefuse::media
