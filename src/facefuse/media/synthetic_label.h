// The machine-readable mark that an output was altered by face swapping (issue 10, "Synthetic-media
// label"): the IPTC Digital Source Type "compositeWithTrainedAlgorithmicMedia" — a composite that
// includes content made by a trained model — which C2PA readers, news agencies and platforms
// look for.
//
//   images (JPEG, PNG, WebP): an XMP packet with Iptc4xmpExt:DigitalSourceType, in the place each
//     format defines for XMP: JPEG APP1 "http://ns.adobe.com/xap/1.0/", PNG iTXt with the keyword
//     "XML:com.adobe.xmp", WebP an "XMP " chunk with the XMP flag set in its VP8X header;
//   videos: container metadata — MP4/MOV `comment` (©cmt), Matroska/WebM `COMMENT` plus a
//     `DIGITAL_SOURCE_TYPE` tag; MPEG-TS has no place for it (not labelled).
//
// On by default; `--no-synthetic-label` (CLI) turns it off, e.g. for an intermediate file that
// will be edited further and labelled at the end, or for a pipeline whose own tooling writes the
// provenance (C2PA manifest). Stripping metadata is trivial, so the label is a courtesy to honest
// readers, not a watermark.
//
// Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "facefuse/core/status.h"
#include "facefuse/media/image_io.h"

namespace facefuse::media {

inline constexpr std::string_view kDigitalSourceTypeComposite =
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia";

// The XMP packet (UTF-8, with the <?xpacket?> wrapper) that says so.
std::string synthetic_media_xmp();

// Inserts `xmp` into an encoded image file of `format` (see the top of this file). An XMP packet
// already there is not looked for (OpenCV's encoders write none). kInvalidArgument when the bytes
// are not a well-formed file of that format.
Status embed_xmp(std::vector<uint8_t>& file, ImageFormat format, std::string_view xmp);

// Container metadata tags that label a video written with the libavformat muxer `muxer_name`
// ("mp4", "mov", "matroska", "webm", "mpegts"); empty for a container with no place for them.
std::map<std::string, std::string> synthetic_media_video_tags(std::string_view muxer_name);

}  // namespace facefuse::media
