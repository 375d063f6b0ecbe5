"""End-to-end: what a submit checks and reports beyond validation, and the separate metrics port.

- input_summary.source_faces: the faces the face swapper found in the source image, visible once
  the first task is done (image and video jobs), null for chains without face_swapper;
- a job naming a model that is not installed is refused at submit: 409 model_not_installed with
  the `facefuse models download <id>` command, and no job is created;
- --metrics-listen: /metrics (and /healthz) on a second port only, /metrics on the API port 404.
"""
import os
import re
import shutil
import subprocess
import sys

import requests

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402

# kphotoalbum's demo picture with three people (ASSETS.md).
THREE_FACES = os.path.join(h.PHOTOS, "qt-logo.jpg")


class SubmitChecks(h.ServerTestCase):
    def test_source_faces_of_an_image_job(self):
        job = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"],
                                                 options={"face_swapper_blend": 0.66}))
        self.assertIsNone(job["input_summary"]["source_faces"], "not known before a worker opened the swapper")
        done = self.api.wait(job["job_id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["input_summary"]["source_faces"], 1, "astronaut.png shows one face")
        # The count is real: a source photo with three people reports three (the largest is used).
        group = self.api.upload(THREE_FACES)
        crowd = self.api.wait(self.api.submit(self.api.swap_body(group["id"], self.target["id"]))["job_id"])
        self.assertEqual(crowd["status"], "completed", crowd)
        self.assertEqual(crowd["input_summary"]["source_faces"], 3)
        # A cached job reports the count of the job it copies.
        again = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"],
                                                   options={"face_swapper_blend": 0.66}))
        self.assertTrue(again["cached"])
        self.assertEqual(again["input_summary"]["source_faces"], 1)

    def test_source_faces_of_a_video_job_arrive_with_the_first_chunk(self):
        video = self.api.upload(h.TARGET_VIDEO)
        job = self.api.submit({"source": {"upload_id": self.source["id"]},
                               "target": {"upload_id": video["id"], "frame_range": [0, 30]},
                               "output": {"format": "mp4", "chunk_frames": 10}})
        done = self.api.wait(job["job_id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["input_summary"]["source_faces"], 1)
        # Events snapshot the job in the transaction of each change: the count must appear while
        # the job is still processing (after a chunk), not only with the completion.
        events = self.api.get(f"/api/v1/jobs/{job['job_id']}/events").json()["events"]
        known = [e for e in events if e["input_summary"]["source_faces"] is not None]
        self.assertTrue(known, events)
        self.assertEqual(known[0]["status"], "processing", known[0])
        self.assertEqual(known[0]["input_summary"]["source_faces"], 1)
        self.assertTrue(all(e["input_summary"]["source_faces"] == 1 for e in known), "never cleared again")

    def test_source_faces_stay_null_without_face_swapper(self):
        job = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"],
                                                 options={"processors": ["face_debugger"]}))
        done = self.api.wait(job["job_id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertIsNone(done["input_summary"]["source_faces"])

    def test_job_naming_a_missing_model_is_refused_at_submit(self):
        models = {m["id"]: m for m in self.api.get("/api/v1/models").json()["models"]}
        missing = [i for i, m in models.items() if m["kind"] == "face_swapper" and m["state"] == "missing"]
        self.assertIn("inswapper_128", missing, "the test machine has no FaceFusion swapper installed (ASSETS.md); "
                                                "this test needs one that is not")
        before = len(self.api.get("/api/v1/jobs", params={"limit": 100}).json()["jobs"])
        r = self.api.post("/api/v1/jobs", json=self.api.swap_body(self.source["id"], self.target["id"],
                                                                  options={"face_swapper_model": "inswapper_128"}))
        self.assertEqual(r.status_code, 409, r.text)
        error, message = h.error_of(r)
        self.assertEqual(error, "model_not_installed")
        self.assertIn("inswapper_128", message)
        self.assertIn("`facefuse models download inswapper_128`", message)
        self.assertNotIn(self.server.data_dir, message)
        after = len(self.api.get("/api/v1/jobs", params={"limit": 100}).json()["jobs"])
        self.assertEqual(after, before, "a refused submit creates no job")
        # The classical default swapper needs no model file: the same body without the model runs.
        ok = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"],
                                                options={"face_swapper_model": "classical",
                                                         "face_swapper_blend": 0.61}))
        self.assertEqual(self.api.wait(ok["job_id"])["status"], "completed")


class MetricsPort(h.unittest.TestCase):
    def test_metrics_only_on_the_metrics_listener(self):
        metrics_port, api_port = h.free_port(), h.free_port()
        while api_port == metrics_port:  # two probes may return the same free port
            api_port = h.free_port()
        server = h.Server("--metrics-listen", f"127.0.0.1:{metrics_port}")
        self.addCleanup(server.cleanup)
        server.start(api_port)
        metrics_url = f"http://127.0.0.1:{metrics_port}"
        api = server.client()
        self.assertEqual(api.get("/api/v1/status").status_code, 200)  # counted in the metrics below

        # A request is counted just after its answer is sent, so the scrape may come first:
        # scrape again until the API request shows (both listeners feed one registry).
        counted = re.compile(r'http_requests_total\{[^}]*route="/api/v1/status"[^}]*\} \d+')
        def scrape_counting_the_request():
            scrape = requests.get(metrics_url + "/metrics", timeout=10)
            self.assertEqual(scrape.status_code, 200, scrape.text)
            return scrape if counted.search(scrape.text) else None

        scrape = h.wait_for(scrape_counting_the_request, timeout=10, interval=0.05)
        self.assertTrue(scrape.headers["Content-Type"].startswith("text/plain"))
        self.assertRegex(scrape.text, counted)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool is installed by scripts/setup (Debian package prometheus)")
        check = subprocess.run([promtool, "check", "metrics"], input=scrape.text, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(requests.get(metrics_url + "/healthz", timeout=10).json()["status"], "ok")

        # The metrics port serves nothing else, and the API port no longer serves /metrics.
        for path in ("/api/v1/status", "/api/v1/jobs", "/", "/readyz"):
            r = requests.get(metrics_url + path, headers={"Authorization": f"Bearer {api.key}"}, timeout=10)
            self.assertEqual(r.status_code, 404, f"{path} on the metrics port: {r.text}")
            self.assertEqual(h.error_of(r)[0], "not_found")
        hidden = requests.get(server.url + "/metrics", timeout=10)
        self.assertEqual(hidden.status_code, 404, hidden.text)
        self.assertEqual(requests.get(server.url + "/healthz", timeout=10).status_code, 200)

    def test_metrics_listen_address_in_use_is_refused(self):
        with h.Server() as busy:
            taken = subprocess.run([h.BINARY, "serve", "--listen", f"127.0.0.1:{h.free_port()}", "--data",
                                    os.path.join(busy.data_dir, "second"), "--metrics-listen", f"127.0.0.1:{busy.port}"],
                                   capture_output=True, text=True, timeout=30)
            self.assertNotEqual(taken.returncode, 0)
            self.assertIn("--metrics-listen", taken.stderr)


if __name__ == "__main__":
    h.main()
