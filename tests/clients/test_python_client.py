"""clients/python/facefuse_client.py against a real `facefuse serve` (tests/server/service_harness.py):
upload with progress, submit, wait following the job's events, download; its errors; its CLI.
The client is imported as a user would (the file on sys.path), with /usr/bin/python3's standard
library only."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(REPO, "tests", "server"))
sys.path.insert(0, os.path.join(REPO, "clients", "python"))

import service_harness as h  # noqa: E402
import facefuse_client  # noqa: E402


class PythonClientTest(h.ServerTestCase):
    def setUp(self):
        self.client = facefuse_client.Client(self.server.url, self.server.admin_key)
        self.tmp = tempfile.mkdtemp(prefix="facefuse-client-test-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.tmp], check=True))

    def test_status_names_the_api_version_the_client_was_written_for(self):
        self.assertEqual(self.client.status()["api_version"], facefuse_client.API_VERSION)

    def test_upload_submit_wait_download_an_image(self):
        sent = []
        source = self.client.upload(h.SOURCE_FACE, progress=lambda done, total: sent.append((done, total)))
        self.assertEqual(source["size"], os.path.getsize(h.SOURCE_FACE))
        self.assertEqual(sent[-1][0], sent[-1][1], "progress ends at the total")
        self.assertEqual([d for d, _ in sent], sorted(d for d, _ in sent), "progress only grows")
        target = self.client.upload(h.TARGET_PHOTO)
        job = self.client.submit({"source": {"upload_id": source["id"]}, "target": {"upload_id": target["id"]},
                                  "output": {"format": "png"}}, idempotency_key="python-client-1")
        again = self.client.submit({"source": {"upload_id": source["id"]}, "target": {"upload_id": target["id"]}},
                                   idempotency_key="python-client-1")
        self.assertEqual(again["job_id"], job["job_id"])
        events = []
        done = self.client.wait(job["job_id"], progress=events.append)
        self.assertEqual(done["status"], "completed", done["error"])
        self.assertEqual([e["seq"] for e in events], sorted({e["seq"] for e in events}), "each event once, in order")
        self.assertEqual(events[-1]["status"], "completed")
        out = os.path.join(self.tmp, "swap.png")
        got = []
        self.assertEqual(self.client.download(done, out, progress=lambda r, t: got.append((r, t))), out)
        with open(out, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(got[-1], (len(data), len(data)))
        # The same bytes as the service serves to another client.
        self.assertEqual(data, self.api.get(done["output_url"]).content)
        self.assertEqual(os.listdir(self.tmp), ["swap.png"], "no temporary file left")

    def test_wait_reports_the_progress_of_a_video_job(self):
        source = self.client.upload(h.SOURCE_FACE)
        video = self.client.upload(h.TARGET_VIDEO)
        self.assertEqual(video["media"], "video")
        job = self.client.submit({"source": {"upload_id": source["id"]}, "target": {"upload_id": video["id"]},
                                  "output": {"chunk_frames": 30}})
        events = []
        done = self.client.wait(job["job_id"], progress=events.append)
        self.assertEqual(done["status"], "completed", done["error"])
        fractions = [e["progress"] for e in events if e["type"] == "progress"]
        self.assertGreaterEqual(len(fractions), 2, events)
        self.assertEqual(fractions, sorted(fractions))
        out = self.client.download(done["job_id"], os.path.join(self.tmp, "swap.mp4"))
        self.assertEqual(h.frame_count(out), 68)

    def test_errors_are_api_errors_and_leave_no_file(self):
        with self.assertRaises(facefuse_client.ApiError) as e:
            self.client.submit({"source": {"upload_id": "up_0000000000000000"}, "target": {"upload_id": "x"}})
        self.assertEqual((e.exception.status, e.exception.code), (404, "not_found"))
        with self.assertRaises(facefuse_client.ApiError) as e:
            facefuse_client.Client(self.server.url, "ff_wrong").status()
        self.assertEqual(e.exception.status, 401)
        with self.assertRaises(facefuse_client.ApiError) as e:
            self.client.download({"job_id": "job_x", "status": "failed", "output_url": None}, os.path.join(self.tmp, "x"))
        self.assertEqual(e.exception.code, "failed_precondition")
        # A forged link: 403, and nothing written.
        forged = {"job_id": "job_x", "output_url": "/media/outputs/job_x/output.jpg?expires=1&sig=00"}
        with self.assertRaises(facefuse_client.ApiError) as e:
            self.client.download(forged, os.path.join(self.tmp, "y.jpg"))
        self.assertEqual(e.exception.status, 403)
        self.assertEqual(os.listdir(self.tmp), [])
        with self.assertRaises(ValueError):
            facefuse_client.Client("127.0.0.1:8080")

    def test_command_line_swap(self):
        client = os.path.join(REPO, "clients", "python", "facefuse_client.py")
        out = os.path.join(self.tmp, "cli.jpg")
        env = dict(os.environ, FACEFUSE_API_KEY=self.server.admin_key)
        run = subprocess.run([sys.executable, client, "swap", h.SOURCE_FACE, h.TARGET_PHOTO, out, "--url", self.server.url],
                             capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.strip(), out)
        with open(out, "rb") as f:
            self.assertEqual(f.read(2), b"\xff\xd8")
        missing = subprocess.run([sys.executable, client, "swap", "/nonexistent.jpg", h.TARGET_PHOTO, out],
                                 capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(missing.returncode, 2)
        self.assertIn("/nonexistent.jpg", missing.stderr)


if __name__ == "__main__":
    h.main()
