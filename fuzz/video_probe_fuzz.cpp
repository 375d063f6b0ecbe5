// Fuzzes upload media detection for videos (media/video_probe.h) as JobService::register_upload
// does it: the input is written to a file, sniffed with looks_like_video, then probed. Probing
// demuxes a whole Matroska/TS stream to count frames, so inputs are small (run_fuzzer's -max_len)
// and one taking over -timeout seconds is reported as a hang.
//
// Properties: no crash, UB or hang; a probed video has a positive size, frame count and frame rate,
// a rotation of 0/90/180/270 and a display size that is the coded size, turned for 90/270.
// fuzz-link: facefuse::media
#include <cstddef>
#include <cstdint>

#include "facefuse/media/video_probe.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static facefuse::fuzz::InputFile file(".video");
  const auto& path = file.write(data, size);
  if (!facefuse::media::looks_like_video(path)) return 0;
  auto info = facefuse::media::probe_video(path);
  if (!info) {
    FF_FUZZ_CHECK(!info.status().message().empty(), "a refused video says why");
    return 0;
  }
  FF_FUZZ_CHECK(info->coded_width > 0 && info->coded_height > 0, "a probed video has a positive frame size");
  FF_FUZZ_CHECK(info->frame_count > 0, "a probed video has frames");
  FF_FUZZ_CHECK(info->fps_num > 0 && info->fps_den > 0 && info->fps > 0, "a probed video has a frame rate");
  const int r = info->rotation_degrees;
  FF_FUZZ_CHECK(r == 0 || r == 90 || r == 180 || r == 270, "rotation is a quarter turn");
  const bool turned = r == 90 || r == 270;
  FF_FUZZ_CHECK(info->width == (turned ? info->coded_height : info->coded_width) &&
                    info->height == (turned ? info->coded_width : info->coded_height),
                "the display size is the coded size, turned");
  return 0;
}
