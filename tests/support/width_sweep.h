// The width-sweep clips of scripts/make_test_videos (videos/widths/): frame widths that leave a
// remainder of 8..15 modulo 16 (libswscale's SIMD writes whole 16-pixel blocks past such rows),
// portrait, square, odd sides in 4:4:4 and 4:2:0, and a rotated phone clip. 8 frames each at
// 25 fps, a keyframe every 4 frames; jesper.jpg fitted over black bars (one face, centred).
#pragma once

#include <string>
#include <vector>

namespace facefuse::testing {

struct WidthSweepClip {
  std::string name;   // under videos/
  int width, height;  // displayed (after rotation)
  bool pass_through;  // 8-bit limited-range yuv420p, even sides, not rotated: YUV pass-through
};

inline constexpr int kWidthSweepFrames = 8;

inline const std::vector<WidthSweepClip>& width_sweep_clips() {
  static const std::vector<WidthSweepClip> kClips = {
      {"widths/1080x1920.mp4", 1080, 1920, true},  // portrait phone video (with audio)
      {"widths/1080x1080.mp4", 1080, 1080, true},  // square
      {"widths/1080x720.mp4", 1080, 720, true},
      {"widths/360x640.mp4", 360, 640, true},
      {"widths/1000x562.mp4", 1000, 562, true},
      {"widths/1288x724.mp4", 1288, 724, true},
      {"widths/1928x1080.mp4", 1928, 1080, true},
      {"widths/650x366.mp4", 650, 366, true},         // ≡ 10 mod 16
      {"widths/1279x719_yuv444p.mp4", 1279, 719, false},  // odd, 4:4:4
      {"widths/1081x607_mpeg4.mkv", 1081, 607, false},    // odd, 4:2:0
      {"widths/1080x720_rotated.mp4", 720, 1080, false},  // stored 1080x720, turned upright
  };
  return kClips;
}

}  // namespace facefuse::testing
