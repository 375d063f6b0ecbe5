"""End-to-end: what a completed job says about its result (issue 11, item 2).

- faces_swapped and input_summary.target_faces once the job completes (null before);
- warnings: [] for a plain swap; a target without a face completes with faces_swapped 0 and a
  warning; a video whose first frames have no face (face_middle_third.mp4: a landscape for 50
  frames) is swapped from the first frame with a face in the default reference mode, chunked,
  with the warning naming that frame, and the job's figures are the chunks' sum.
"""
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


if __name__ == "__main__":
    h.main()
