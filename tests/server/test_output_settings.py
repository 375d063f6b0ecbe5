"""End-to-end: the video encoding fields of a job's `output` (FaceFusion's --output-video-encoder,
--output-video-preset, --output-audio-volume; issue 15), on a real `facefuse serve`.

- GET /api/v1/processors publishes them as output_options, the encoder's choices being those of
  this server's FFmpeg (what `ffmpeg -encoders` of the same libavcodec lists);
- a chunked video job with output.video_encoder libx265 and a preset writes HEVC (ffprobe), every
  chunk and the merge with the same codec, and keeps the audio at audio_volume 50;
- audio_volume 0 writes no audio track; a webm output defaults to libvpx-vp9 (before, a webm job
  was encoded with libx264, which webm cannot hold, and failed);
- bad values answer 400 invalid_argument naming the field, and an image output refuses them.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402


def probe_streams(data):
    """[(codec_type, codec_name), ...] of a media file's streams (ffprobe)."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "json",
                              f.name], capture_output=True, text=True, check=True)
    return [(s["codec_type"], s["codec_name"]) for s in json.loads(out.stdout)["streams"]]


class OutputSettings(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.video = cls.api.upload(h.TARGET_VIDEO)

    def video_job(self, output, frames=20):
        body = {"source": {"upload_id": self.source["id"]},
                "target": {"upload_id": self.video["id"], "frame_range": [0, frames]}, "output": output}
        done = self.api.wait(self.api.submit(body)["job_id"])
        self.assertEqual(done["status"], "completed", done)
        r = self.api.get(done["output_url"])
        self.assertEqual(r.status_code, 200)
        return done, r.content

    def test_processors_publish_the_output_options(self):
        doc = self.api.get("/api/v1/processors").json()
        options = {o["name"]: o for o in doc["output_options"]}
        self.assertEqual(set(options), {"video_encoder", "video_preset", "audio_volume"})
        self.assertEqual(options["video_encoder"]["default"], "libx264")
        listed = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
        expected = [e for e in ("libx264", "libx265", "libvpx-vp9") if f" {e} " in listed]
        self.assertEqual(options["video_encoder"]["choices"], expected)
        self.assertEqual(options["video_preset"]["choices"][0], "ultrafast")
        self.assertEqual(options["video_preset"]["choices"][-1], "veryslow")
        self.assertEqual(options["video_preset"]["default"], "veryfast")
        volume = options["audio_volume"]
        self.assertEqual((volume["type"], volume["min"], volume["max"], volume["default"]), ("number", 0, 100, 100))

    def test_a_chunked_x265_job_writes_hevc_with_its_audio(self):
        done, data = self.video_job({"format": "mp4", "video_encoder": "libx265", "video_preset": "ultrafast",
                                     "audio_volume": 50, "chunk_frames": 10})
        streams = probe_streams(data)
        self.assertIn(("video", "hevc"), streams)
        self.assertEqual([t for t, _ in streams].count("audio"), 1, streams)
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            f.write(data)
            f.flush()
            self.assertEqual(h.frame_count(f.name), 20, "the two chunks joined")

    def test_audio_volume_0_drops_the_audio_and_webm_defaults_to_vp9(self):
        _, data = self.video_job({"format": "webm", "audio_volume": 0, "video_preset": "ultrafast"}, frames=10)
        self.assertEqual(probe_streams(data), [("video", "vp9")])

    def test_bad_values_are_refused_naming_the_field(self):
        def submit(output, target=None):
            body = {"source": {"upload_id": self.source["id"]},
                    "target": target or {"upload_id": self.video["id"]}, "output": output}
            return self.api.post("/api/v1/jobs", json=body)
        for output, field in (({"video_encoder": "h264"}, "output.video_encoder"),
                              ({"video_encoder": 5}, "output.video_encoder"),
                              ({"video_preset": "placebo"}, "output.video_preset"),
                              ({"audio_volume": 101}, "output.audio_volume"),
                              ({"audio_volume": -1}, "output.audio_volume"),
                              ({"audio_volume": "loud"}, "output.audio_volume"),
                              ({"format": "webm", "video_encoder": "libx264"}, "output.video_encoder"),
                              ({"format": "jpg", "video_preset": "fast"}, "output.video_preset")):
            with self.subTest(output=output):
                self.assert_error(submit(output), 400, "invalid_argument", mentions=(field,))
        self.assert_error(submit({"audio_volume": 0}, target={"upload_id": self.target["id"]}), 400,
                          "invalid_argument", mentions=("output.audio_volume", "video outputs only"))


if __name__ == "__main__":
    h.main()
