#include "facefuse/media/synthetic_label.h"

#include <array>

#include <fmt/format.h>

namespace facefuse::media {
namespace {

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void put_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_le24(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 3; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get_le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint32_t get_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// CRC-32 as PNG defines it (ISO 3309 / ITU-T V.42, reflected, polynomial 0xEDB88320).
uint32_t png_crc(const uint8_t* data, size_t size) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = kTable[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

Status embed_jpeg(std::vector<uint8_t>& file, std::string_view xmp) {
  if (file.size() < 4 || file[0] != 0xFF || file[1] != 0xD8) return invalid_argument("not a JPEG file");
  static constexpr std::string_view kNamespace("http://ns.adobe.com/xap/1.0/\0", 29);
  const size_t length = 2 + kNamespace.size() + xmp.size();
  if (length > 0xFFFF) return invalid_argument("the XMP packet is too large for one JPEG APP1 segment");
  // After SOI and a JFIF APP0 segment when there is one (JFIF wants APP0 first).
  size_t at = 2;
  if (file.size() > 6 && file[2] == 0xFF && file[3] == 0xE0) at = 4 + ((size_t{file[4]} << 8) | file[5]);
  if (at > file.size()) return invalid_argument("corrupt JPEG APP0 segment");
  std::vector<uint8_t> segment = {0xFF, 0xE1, static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length & 0xFF)};
  segment.insert(segment.end(), kNamespace.begin(), kNamespace.end());
  segment.insert(segment.end(), xmp.begin(), xmp.end());
  file.insert(file.begin() + static_cast<std::ptrdiff_t>(at), segment.begin(), segment.end());
  return Status::ok();
}

Status embed_png(std::vector<uint8_t>& file, std::string_view xmp) {
  // Signature (8) then IHDR: length 13, "IHDR", 13 bytes, CRC → the first chunk ends at 33.
  if (file.size() < 33 || get_be32(&file[8]) != 13 || std::string_view(reinterpret_cast<char*>(&file[12]), 4) != "IHDR") {
    return invalid_argument("not a PNG file");
  }
  // iTXt: keyword, NUL, compression flag 0, method 0, language "", NUL, translated keyword "", NUL, text.
  // Assembled as a string: GCC 12 at -O3 reports false overflows for the same steps on vectors.
  static constexpr std::string_view kKeyword = "XML:com.adobe.xmp";
  std::string body = "iTXt";
  body += kKeyword;
  body.append(5, '\0');  // the five NUL/flag bytes above
  body += xmp;
  const auto* body_bytes = reinterpret_cast<const uint8_t*>(body.data());
  std::vector<uint8_t> chunk;
  chunk.reserve(body.size() + 8);
  put_be32(chunk, static_cast<uint32_t>(body.size() - 4));
  chunk.insert(chunk.end(), body_bytes, body_bytes + body.size());
  put_be32(chunk, png_crc(body_bytes, body.size()));
  file.insert(file.begin() + 33, chunk.begin(), chunk.end());
  return Status::ok();
}

Status embed_webp(std::vector<uint8_t>& file, std::string_view xmp) {
  if (file.size() < 30 || std::string_view(reinterpret_cast<char*>(file.data()), 4) != "RIFF" ||
      std::string_view(reinterpret_cast<char*>(&file[8]), 4) != "WEBP") {
    return invalid_argument("not a WebP file");
  }
  const std::string_view first(reinterpret_cast<char*>(&file[12]), 4);
  if (first != "VP8X") {
    // A simple file (one VP8 or VP8L chunk): metadata needs the extended layout, whose VP8X
    // header carries the canvas size and the feature flags.
    uint32_t width = 0, height = 0;
    uint8_t flags = 0;
    const uint8_t* data = &file[20];
    if (first == "VP8 ") {
      width = (uint32_t{data[6]} | (uint32_t{data[7]} << 8)) & 0x3FFF;
      height = (uint32_t{data[8]} | (uint32_t{data[9]} << 8)) & 0x3FFF;
    } else if (first == "VP8L") {
      const uint32_t bits = get_le32(data + 1);
      width = (bits & 0x3FFF) + 1;
      height = ((bits >> 14) & 0x3FFF) + 1;
      if ((bits >> 28) & 1) flags |= 0x10;  // alpha
    } else {
      return invalid_argument("unknown WebP chunk layout");
    }
    std::vector<uint8_t> vp8x = {'V', 'P', '8', 'X', 10, 0, 0, 0, flags, 0, 0, 0};
    put_le24(vp8x, width - 1);
    put_le24(vp8x, height - 1);
    file.insert(file.begin() + 12, vp8x.begin(), vp8x.end());
  }
  file[20] |= 0x04;  // XMP present
  std::vector<uint8_t> chunk = {'X', 'M', 'P', ' ', 0, 0, 0, 0};
  put_le32(&chunk[4], static_cast<uint32_t>(xmp.size()));
  chunk.insert(chunk.end(), xmp.begin(), xmp.end());
  if (chunk.size() % 2 != 0) chunk.push_back(0);  // chunks are padded to an even size
  file.insert(file.end(), chunk.begin(), chunk.end());
  put_le32(&file[4], static_cast<uint32_t>(file.size() - 8));
  return Status::ok();
}

}  // namespace

std::string synthetic_media_xmp() {
  return fmt::format(
      "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
      "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
      " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
      "  <rdf:Description rdf:about=\"\"\n"
      "    xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n"
      "    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n"
      "    Iptc4xmpExt:DigitalSourceType=\"{}\"\n"
      "    xmp:CreatorTool=\"facefuse (face swap)\"/>\n"
      " </rdf:RDF>\n"
      "</x:xmpmeta>\n"
      "<?xpacket end=\"r\"?>",
      kDigitalSourceTypeComposite);
}

Status embed_xmp(std::vector<uint8_t>& file, ImageFormat format, std::string_view xmp) {
  switch (format) {
    case ImageFormat::kJpeg: return embed_jpeg(file, xmp);
    case ImageFormat::kPng: return embed_png(file, xmp);
    case ImageFormat::kWebp: return embed_webp(file, xmp);
    case ImageFormat::kUnknown: break;
  }
  return invalid_argument("XMP can be embedded in JPEG, PNG and WebP files only");
}

std::map<std::string, std::string> synthetic_media_video_tags(std::string_view muxer_name) {
  const std::string text =
      fmt::format("Altered by face swapping (facefuse). IPTC DigitalSourceType: {}", kDigitalSourceTypeComposite);
  if (muxer_name == "mp4" || muxer_name == "mov") return {{"comment", text}};
  if (muxer_name == "matroska" || muxer_name == "webm") {
    return {{"COMMENT", text}, {"DIGITAL_SOURCE_TYPE", std::string(kDigitalSourceTypeComposite)}};
  }
  return {};
}

}  // namespace facefuse::media
