"""End-to-end: what a completed job says about its result (issue 11, item 2).

- faces_swapped and input_summary.target_faces once the job completes (null before);
- warnings: [] for a plain swap; a target without a face completes with faces_swapped 0 and a
  warning; a video whose first frames have no face (face_middle_third.mp4: a landscape for 50
  frames) is swapped from the first frame with a face in the default reference mode, chunked,
  with the warning naming that frame, and the job's figures are the chunks' sum;
- a video job warns about what limited the swap, and a chunked one as the same job in one chunk: a
  small source face and the chunks' counts (each chunk runs its own swapper) reach the job, one
  entry per kind, counts summed (before, a service video job lost its swapper's warnings).
"""
import re
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402

NO_FACE = os.path.join(h.PHOTOS, "grand_canyon_1.jpg")
FADE_IN = os.path.join(h.TESTDATA, "videos", "face_middle_third.mp4")


class JobResults(h.ServerTestCase):
    def test_image_jobs_report_faces_swapped_and_warnings(self):
        job = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"]))
        self.assertIsNone(job["faces_swapped"], "not known before the job completed")
        self.assertEqual(job["warnings"], [])
        done = self.api.wait(job["job_id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["faces_swapped"], 1, done)
        self.assertEqual(done["input_summary"]["target_faces"], 1, done)
        self.assertEqual(done["warnings"], [])
        self.assertNotIn("faces_swapped", done["input_summary"], "shown at the top level only")

        landscape = self.api.upload(NO_FACE)
        empty = self.api.wait(self.api.submit(self.api.swap_body(self.source["id"], landscape["id"]))["job_id"])
        self.assertEqual(empty["status"], "completed", empty)
        self.assertEqual(empty["faces_swapped"], 0)
        self.assertEqual(len(empty["warnings"]), 1, empty)
        self.assertIn("no face found", empty["warnings"][0])
        self.assertNotIn("/", empty["warnings"][0], "no server path in the message")

    def test_video_reference_face_comes_from_the_first_frame_with_a_face(self):
        video = self.api.upload(FADE_IN)
        job = self.api.submit({"source": {"upload_id": self.source["id"]},
                               "target": {"upload_id": video["id"], "frame_range": [40, 70]},
                               "output": {"format": "mp4", "chunk_frames": 10}})
        done = self.api.wait(job["job_id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertGreaterEqual(done["faces_swapped"], 18, done)  # frames 50-69 show the face
        self.assertTrue(any("the reference face was taken from frame 50" in w for w in done["warnings"]), done)

    def test_a_chunked_video_job_warns_as_the_whole_job_does(self):
        whole, chunked = h.video_jobs_whole_and_chunked(self.api, self.api, h.SMALL_SOURCE_FACE)
        assert_chunked_warns_as_whole(self, whole, chunked)


def assert_chunked_warns_as_whole(test, whole, chunked):
    """The chunked job's warnings are the whole job's: the same kinds, once each, the source's
    sentence word for word, and counted warnings ("N of M swapped target face(s)") summed over
    every chunk: M is the job's faces_swapped."""
    for job in (whole, chunked):
        test.assertEqual(job["status"], "completed", job)
    kinds = [h.warning_kind(w) for w in whole["warnings"]]
    test.assertIn("source_small", kinds, whole["warnings"])
    test.assertEqual([h.warning_kind(w) for w in chunked["warnings"]], kinds,
                     f"whole: {whole['warnings']}\nchunked: {chunked['warnings']}")
    test.assertEqual(len(set(kinds)), len(kinds), "one entry per kind")
    small = [w for w in whole["warnings"] if h.warning_kind(w) == "source_small"]
    test.assertIn(small[0], chunked["warnings"], "the same source, the same sentence")
    for job in (whole, chunked):
        for w in job["warnings"]:
            counted = re.match(r"(\d+) of (\d+) swapped target face\(s\)", w)
            if counted:
                test.assertEqual(int(counted.group(2)), job["faces_swapped"], f"counts of every chunk: {w}")


if __name__ == "__main__":
    h.main()
