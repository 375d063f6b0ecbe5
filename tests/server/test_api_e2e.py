"""End-to-end: a real facefuse serve, real HTTP (requests) and WebSocket (websockets) clients.

upload → create → WebSocket events strictly increasing → completed → download with Range → delete;
image and video jobs; list pagination and status filter; cached resubmission; Idempotency-Key;
cancel while pending; detect, models, status, health, readiness, web page.
"""
import asyncio
import hashlib
import json
import os
import re
import sys

import requests
import websockets
import yaml

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402


def ws_events(server, job_id, key, since=0, path="/ws/job/{}/progress"):
    """All events the server pushes until it closes the socket after the terminal state."""
    url = f"ws://127.0.0.1:{server.port}{path.format(job_id)}?since={since}"

    async def collect():
        events = []
        async with websockets.connect(url, extra_headers={"Authorization": f"Bearer {key}"}, open_timeout=10) as ws:
            async for message in ws:
                events.append(json.loads(message))
        return events

    return asyncio.run(asyncio.wait_for(collect(), timeout=180))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class ServiceEndToEnd(h.ServerTestCase):
    @classmethod
    def tearDownClass(cls):
        code = cls.server.terminate()
        assert code == 0, f"graceful stop exit code {code}"

    def new_tenant(self, name, scopes="submit,read"):
        r = self.api.post("/api/v1/keys", json={"tenant": name, "scopes": scopes})
        self.assertEqual(r.status_code, 201, r.text)
        return self.server.client(r.json()["key"])

    def test_upload_reports_checksum_and_sniffed_media(self):
        with open(h.TARGET_PHOTO, "rb") as f:
            self.assertEqual(self.target["sha256"], sha256(f.read()))
        self.assertEqual(self.target["media"], "image")
        self.assertEqual(self.target["info"]["format"], "jpg")
        self.assertGreater(self.target["size"], 0)
        # A JPEG named .png is still a JPEG: content decides, not the name.
        renamed = self.api.upload(h.TARGET_PHOTO, name="photo.png")
        self.assertEqual(renamed["info"]["format"], "jpg")

    def test_image_job_from_upload_to_delete(self):
        job = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"],
                                                 options={"face_swapper_blend": 0.9}))
        self.assertIn(job["status"], {"pending", "processing"})
        events = ws_events(self.server, job["job_id"], self.api.key)
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, sorted(set(seqs)), "sequence numbers must strictly increase")
        self.assertEqual(seqs[0], 1, "since=0 replays from the first event")
        self.assertEqual(events[0]["status"], "pending")
        self.assertIn("processing", [e["status"] for e in events])
        self.assertEqual(events[-1]["status"], "completed")
        progress = [e["progress"] for e in events]
        self.assertEqual(progress, sorted(progress), "progress never goes backwards")

        done = self.api.job(job["job_id"])
        self.assertEqual(done["status"], "completed")
        self.assertEqual(done["progress"], 1.0)
        self.assertFalse(done["cached"])
        self.assertTrue(done["output_url"].split("?")[0].endswith("/output.jpg"))  # a signed link
        for field in ("created_at", "updated_at", "started_at", "finished_at", "input_summary", "step"):
            self.assertIsNotNone(done[field], field)

        full = self.api.get(done["output_url"])
        self.assertEqual(full.status_code, 200)
        self.assertEqual(full.headers["Content-Type"], "image/jpeg")
        self.assertEqual(full.content[:2], b"\xff\xd8", "a JPEG")
        with open(h.TARGET_PHOTO, "rb") as f:
            self.assertNotEqual(sha256(full.content), sha256(f.read()), "the face was swapped: not the target")
        part = self.api.get(done["output_url"], headers={"Range": "bytes=100-199"})
        self.assertEqual(part.status_code, 206)
        self.assertEqual(part.content, full.content[100:200])
        self.assertEqual(part.headers["Content-Range"], f"bytes 100-199/{len(full.content)}")
        tail = self.api.get(done["output_url"], headers={"Range": "bytes=-10"})
        self.assertEqual(tail.content, full.content[-10:])
        beyond = self.api.get(done["output_url"], headers={"Range": f"bytes={len(full.content)}-"})
        self.assertEqual(beyond.status_code, 416)
        self.assertEqual(beyond.headers["Content-Range"], f"bytes */{len(full.content)}")

        # Events over HTTP resume from a sequence number; the WebSocket twin path works too.
        page = self.api.get(f"/api/v1/jobs/{job['job_id']}/events", params={"since": 2}).json()
        self.assertEqual([e["seq"] for e in page["events"]], seqs[2:])
        twin = ws_events(self.server, job["job_id"], self.api.key, since=seqs[-2], path="/api/v1/jobs/{}/events")
        self.assertEqual([e["seq"] for e in twin], [seqs[-1]])

        r = self.api.delete(f"/api/v1/jobs/{job['job_id']}")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.api.get(f"/api/v1/jobs/{job['job_id']}").status_code, 404)
        self.assertEqual(self.api.get(done["output_url"]).status_code, 404)
        self.assertFalse(os.path.exists(h.stored_path(self.server.data_dir, "outputs", job["job_id"])))

    def test_video_job_in_chunks(self):
        video = self.api.upload(h.TARGET_VIDEO)
        self.assertEqual(video["media"], "video")
        self.assertEqual(video["info"]["frame_count"], 68)
        job = self.api.submit({"source": {"upload_id": self.source["id"]},
                               "target": {"upload_id": video["id"], "frame_range": [10, 40]},
                               "output": {"format": "mp4", "chunk_frames": 10}})
        self.assertEqual(job["kind"], "video")
        self.assertEqual(job["frames_total"], 30)
        self.assertEqual(job["input_summary"]["chunks"], 3)
        events = ws_events(self.server, job["job_id"], self.api.key)
        self.assertEqual(events[-1]["status"], "completed", events[-1])
        frames = [e["frames_done"] for e in events]
        self.assertEqual(frames, sorted(frames))
        self.assertTrue(any(0 < f < 30 for f in frames), f"progress in frames while processing: {frames}")
        self.assertIn("merging", [e["step"] for e in events])
        done = self.api.job(job["job_id"])
        self.assertEqual(done["frames_done"], 30)
        out = os.path.join(self.server.data_dir, "result.mp4")
        with open(out, "wb") as f:
            f.write(self.api.get(done["output_url"]).content)
        self.assertEqual(h.frame_count(out), 30)
        self.assertTrue(done["output_url"].startswith(
            "/media/" + os.path.relpath(h.stored_path(self.server.data_dir, "outputs", job["job_id"]),
                                        os.path.join(self.server.data_dir, "storage")) + "/output.mp4?"), done)
        self.assertEqual(h.leftovers([h.stored_path(self.server.data_dir, "work", job["job_id"]),
                                      os.path.join(self.server.data_dir, "tmp", job["job_id"])]), [],
                         "segments and temp files are removed")

    def test_identical_resubmission_is_cached(self):
        body = self.api.swap_body(self.source["id"], self.target["id"], options={"face_swapper_blend": 0.7})
        first = self.api.wait(self.api.submit(body)["job_id"])
        self.assertEqual(first["status"], "completed")
        again = self.api.submit(body)
        self.assertNotEqual(again["job_id"], first["job_id"])
        self.assertEqual(again["status"], "completed")
        self.assertTrue(again["cached"])
        a = self.api.get(first["output_url"]).content
        b = self.api.get(again["output_url"]).content
        self.assertEqual(a, b)
        # Same bytes uploaded again (a new upload id) hit the cache too: inputs are hashed.
        target_again = self.api.upload(h.TARGET_PHOTO)
        third = self.api.submit(self.api.swap_body(self.source["id"], target_again["id"],
                                                   options={"face_swapper_blend": 0.7}))
        self.assertTrue(third["cached"])
        # A different option is a different result.
        other = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"],
                                                   options={"face_swapper_blend": 0.71}))
        self.assertFalse(other["cached"])
        self.api.wait(other["job_id"])

    def test_same_idempotency_key_returns_the_same_job(self):
        body = self.api.swap_body(self.source["id"], self.target["id"], options={"face_swapper_blend": 0.55})
        first = self.api.submit(body, headers={"Idempotency-Key": "order-42"})
        replay = self.api.submit(body, expect=200, headers={"Idempotency-Key": "order-42"})
        self.assertEqual(replay["job_id"], first["job_id"])
        fresh = self.api.submit(body, headers={"Idempotency-Key": "order-43"})
        self.assertNotEqual(fresh["job_id"], first["job_id"])
        # Keys belong to a tenant: another tenant's identical key makes its own job.
        other = self.new_tenant("idem-tenant")
        src = other.upload(h.SOURCE_FACE)
        tgt = other.upload(h.TARGET_PHOTO)
        theirs = other.submit(other.swap_body(src["id"], tgt["id"]), headers={"Idempotency-Key": "order-42"})
        self.assertNotEqual(theirs["job_id"], first["job_id"])
        for api, job in ((self.api, first), (self.api, fresh), (other, theirs)):
            self.assertIn(api.wait(job["job_id"])["status"], {"completed"})

    def test_list_pages_and_filters_own_jobs_and_cancel_pending(self):
        api = self.new_tenant("lister")
        src = api.upload(h.SOURCE_FACE)
        tgt = api.upload(h.TARGET_PHOTO)
        ids = [api.submit(api.swap_body(src["id"], tgt["id"], options={"face_swapper_blend": 0.3 + i / 100}))["job_id"]
               for i in range(5)]
        # One worker: the last two are still queued; cancelling them is immediate.
        for job_id in ids[3:]:
            r = api.post(f"/api/v1/jobs/{job_id}/cancel")
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["status"], "cancelled")
        self.assertEqual(api.post(f"/api/v1/jobs/{ids[4]}/cancel").status_code, 409, "already cancelled")
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = api.get("/api/v1/jobs", params=params).json()
            pages += 1
            self.assertLessEqual(len(page["jobs"]), 2)
            seen += [j["job_id"] for j in page["jobs"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, list(reversed(ids)), "newest first, each job once, only this tenant's")
        self.assertEqual(pages, 3)
        cancelled = api.get("/api/v1/jobs", params={"status": "cancelled"}).json()["jobs"]
        self.assertEqual(sorted(j["job_id"] for j in cancelled), sorted(ids[3:]))
        r = api.get("/api/v1/jobs", params={"status": "sleeping"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("pending", h.error_of(r)[1])
        self.assertEqual(api.get("/api/v1/jobs", params={"limit": 0}).status_code, 400)
        for job_id in ids[:3]:
            self.assertEqual(api.wait(job_id)["status"], "completed")
        # Cancelled jobs left nothing in storage.
        for job_id in ids[3:]:
            self.assertFalse(os.path.exists(h.stored_path(self.server.data_dir, "outputs", job_id)))

    def test_server_sent_events_stream_until_terminal(self):
        job = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"],
                                                 options={"face_swapper_blend": 0.66}))
        r = self.api.get(f"/api/v1/jobs/{job['job_id']}/events", headers={"Accept": "text/event-stream"}, stream=True)
        self.assertEqual(r.status_code, 200)
        events = [json.loads(line[len("data: "):]) for line in r.iter_lines(decode_unicode=True)
                  if line.startswith("data: ")]
        self.assertEqual(events[-1]["status"], "completed")
        self.assertEqual([e["seq"] for e in events], list(range(1, len(events) + 1)))

    def test_detect_lists_faces_of_an_upload(self):
        r = self.api.post("/api/v1/detect", json={"upload_id": self.target["id"]})
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertGreaterEqual(len(body["faces"]), 1)
        self.assertEqual(body["faces"][0]["index"], 0)
        self.assertEqual(len(body["faces"][0]["box"]), 4)
        self.assertNotIn("image", body, "no server paths in responses")
        # Each face's apparent gender and age (API 1.4.0), unless asked not to.
        self.assertTrue(body["age_gender"])
        face = body["faces"][0]
        self.assertIn(face["gender"], ("female", "male"))
        self.assertTrue(0.5 <= face["gender_probability"] <= 1.0)
        self.assertTrue(0 < face["age"] < 120)
        bare = self.api.post("/api/v1/detect", json={"upload_id": self.target["id"], "age_gender": False}).json()
        self.assertFalse(bare["age_gender"])
        self.assertNotIn("gender", bare["faces"][0])
        self.assert_error(self.api.post("/api/v1/detect", json={"upload_id": self.target["id"], "age_gender": "yes"}),
                          400, "invalid_argument", ["age_gender"])

    def test_detect_tells_the_man_from_the_woman_in_a_group_photo(self):
        # dlib's 2008_001322.jpg, labelled by eye: a man, a woman, a man, left to right.
        group = self.api.upload(os.path.join(h.TESTDATA, "dlib_faces", "2008_001322.jpg"))
        r = self.api.post("/api/v1/detect", json={"upload_id": group["id"], "order": "left-right"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual([f["gender"] for f in r.json()["faces"]], ["male", "female", "male"])

    def test_models_status_health_ready_and_page(self):
        models = self.api.get("/api/v1/models").json()
        self.assertIn("face_swapper", [p["name"] for p in models["processors"]])
        self.assertTrue(all({"id", "state", "license"} <= set(m) for m in models["models"]))
        status = self.api.get("/api/v1/status").json()
        self.assertEqual(status["workers"], 1)
        self.assertIn("completed", status["jobs"])
        health = requests.get(self.server.url + "/healthz").json()
        for field in ("status", "timestamp", "uptime_seconds", "cpu_usage_percent", "memory_used_mb",
                      "memory_total_mb", "gpus", "model_loaded", "process_count", "task_queue_length"):
            self.assertIn(field, health)
        self.assertEqual(requests.get(self.server.url + "/health").status_code, 200)
        ready = requests.get(self.server.url + "/readyz")
        self.assertEqual(ready.status_code, 200, ready.text)
        self.assertEqual(ready.json()["checks"]["job_store"], "ok")
        page = requests.get(self.server.url + "/")
        self.assertEqual(page.status_code, 200)
        self.assertIn("text/html", page.headers["Content-Type"])
        # The studio (web/) is a built single-page app: its script is an embedded asset.
        script = re.search(r'src="(/assets/[^"]+\.js)"', page.text)
        self.assertIsNotNone(script, page.text[:500])
        self.assertIn("/api/v1/upload", requests.get(self.server.url + script.group(1)).text)

    def test_every_route_in_openapi_exists_on_the_server(self):
        spec_path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi.yaml")
        with open(spec_path) as f:
            spec = yaml.safe_load(f)
        job = self.api.wait(self.api.submit(self.api.swap_body(self.source["id"], self.target["id"]))["job_id"])
        checked = 0
        for path, item in spec["paths"].items():
            if path.startswith("/ws/"):
                continue  # WebSocket: covered by the event tests
            url = (path.replace("{job_id}", job["job_id"]).replace("{key}", job["output_url"][len("/media/"):])
                   .replace("{key_id}", "key_0000000000000000").replace("{upload_id}", "up_0000000000000000"))
            for method in ("get", "post", "delete"):
                if method not in item or (method == "delete" and "{job_id}" in path):
                    continue
                r = self.api.session.request(method.upper(), self.server.url + url, timeout=30,
                                             json={} if method == "post" else None)
                self.assertNotEqual(r.status_code, 405, f"{method} {path}")
                if r.status_code == 404:
                    self.assertNotIn("no route", r.text, f"{method} {path}")
                checked += 1
        self.assertGreaterEqual(checked, 18)


if __name__ == "__main__":
    h.main()
