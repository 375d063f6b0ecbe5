"""Issue 13's direct uploads, inputs by reference and key layout, end to end on S3 storage (the S3
test server, @20minutes/s3rver, with Debian's awscli to look into the bucket):

- POST /api/v1/uploads {filename, size, content_type} hands out a presigned PUT that S3 accepts
  only with that size and type; /complete verifies the object (size, type by content, pixels)
  before it can be used, removes the staging object whatever the outcome, and an unfinished one
  expires; another tenant cannot complete it; file storage answers 409 naming the streamed route.
- A job names inputs by key (its tenant's prefix only), by the seed's image_url / video_url;
  output.resolution "240p"; progress_percent.
- New objects go under <tenant>/<yyyy>/<mm>/<dd>/<kind>/<id>/.
- A chunked video job on `serve --workers 0` + a `facefuse worker` process, both on S3.
"""
import datetime
import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from s3_server import S3Server  # noqa: E402
from service_harness import (PHOTOS, SOURCE_FACE, TARGET_PHOTO, TARGET_VIDEO, Server, error_of,  # noqa: E402
                             frame_count, main, wait_for)
from test_worker_processes import Worker  # noqa: E402

AWS = "/usr/bin/aws"  # Debian's awscli
BUCKET = "facefuse-test"
S3 = S3Server([BUCKET])  # one S3 test server for every test of this file


def setUpModule():
    unittest.addModuleCleanup(S3.cleanup)
    S3.start()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def s3_flags(prefix):
    return ["--storage", f"s3://{BUCKET}/{prefix}", "--s3-endpoint", S3.endpoint, "--s3-addressing", "path"]


def aws_s3(*args):
    """`aws s3 ARGS` (Debian's awscli) against the S3 test server with its credentials: the finished process."""
    return subprocess.run([AWS, "--endpoint-url", S3.endpoint, "s3", *args], capture_output=True, text=True,
                          env=dict(os.environ, **S3.env()))


def bucket_keys(prefix):
    """The keys under s3://facefuse-test/<prefix>/ (without it), as awscli lists them."""
    out = aws_s3("ls", "--recursive", f"s3://{BUCKET}/{prefix}/")
    if out.returncode == 1 and not out.stdout:
        return []  # nothing under the prefix
    assert out.returncode == 0, out.stderr
    return [line.split()[-1].split(prefix + "/", 1)[1] for line in out.stdout.splitlines() if line.strip()]


def stored_keys(prefix):
    """The keys under <prefix>/ read from the S3 test server's own files (s3rver keeps an object as
    <directory>/<bucket>/<key>._S3rver_object): cheap enough to poll every few ms, where an awscli
    listing takes a second."""
    root = os.path.join(S3.directory, BUCKET, prefix)
    out = []
    for directory, _, files in os.walk(root):
        for name in files:
            if name.endswith("._S3rver_object"):
                out.append(os.path.relpath(os.path.join(directory, name[:-len("._S3rver_object")]), root))
    return out


def today_prefix(tenant):
    return f"{tenant}/{datetime.datetime.now(datetime.timezone.utc):%Y/%m/%d}"


class DirectUploadTest(unittest.TestCase):
    PREFIX = "direct"

    @classmethod
    def setUpClass(cls):
        cls.server = Server("--workers", "1", *s3_flags(cls.PREFIX), "--presign-ttl", "300", "--allow-private-urls",
                            env=S3.env())
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.api = cls.server.client()  # tenant "default" (the bootstrap admin key)
        r = cls.api.post("/api/v1/keys", json={"tenant": "acme", "scopes": "submit,read"})
        assert r.status_code == 201, r.text
        cls.acme = cls.server.client(r.json()["key"])

    def begin(self, api, data, content_type, filename="file", size=None):
        r = api.post("/api/v1/uploads", json={"filename": filename, "size": len(data) if size is None else size,
                                              "content_type": content_type})
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def put(self, ticket, data, content_type=None):
        headers = {"Content-Type": content_type or ticket["headers"]["Content-Type"]}
        return requests.put(ticket["put_url"], data=data, headers=headers, timeout=30)

    def complete(self, api, ticket):
        return api.post(f"/api/v1/uploads/{ticket['upload_id']}/complete")

    def assert_error(self, r, status, code, *mentions):
        self.assertEqual(r.status_code, status, r.text)
        error, message = error_of(r)
        self.assertEqual(error, code, message)
        for word in mentions:
            self.assertIn(word, message)
        return message

    def test_direct_upload_is_verified_then_used_with_a_key_reference(self):
        face = read(SOURCE_FACE)
        ticket = self.begin(self.api, face, "image/png", "astronaut.png")
        self.assertEqual(set(ticket), {"upload_id", "put_url", "method", "headers", "expires_at"})
        self.assertEqual(ticket["headers"], {"Content-Type": "image/png", "Content-Length": str(len(face))})
        self.assertTrue(ticket["put_url"].startswith(f"{S3.endpoint}/{BUCKET}/{self.PREFIX}/_incoming/"), ticket)
        self.assertIn("X-Amz-Expires=300", ticket["put_url"])
        expires = datetime.datetime.fromisoformat(ticket["expires_at"].replace("Z", "+00:00"))
        self.assertAlmostEqual((expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds(), 300, delta=30)
        # Size and type are part of the signature: S3 refuses any other.
        self.assertEqual(self.put(ticket, face, "image/jpeg").status_code, 403)
        self.assertEqual(self.put(ticket, face + b"x").status_code, 403)
        self.assertEqual(self.complete(self.api, ticket).status_code, 409, "nothing was stored by the refused PUTs")
        self.assertEqual(self.put(ticket, face).status_code, 200)
        # Another tenant cannot complete (or learn about) it.
        self.assert_error(self.complete(self.acme, ticket), 404, "not_found", ticket["upload_id"])
        r = self.complete(self.api, ticket)
        self.assertEqual(r.status_code, 200, r.text)
        upload = r.json()
        self.assertEqual(upload["id"], ticket["upload_id"])
        self.assertEqual((upload["media"], upload["size"], upload["filename"]), ("image", len(face), "astronaut.png"))
        self.assertEqual(upload["sha256"], hashlib.sha256(face).hexdigest())
        self.assertEqual((upload["info"]["width"], upload["info"]["height"]), (512, 512))
        self.assertEqual(self.complete(self.api, ticket).json(), upload, "completing twice answers the same upload")
        keys = bucket_keys(self.PREFIX)
        self.assertFalse([k for k in keys if k.startswith("_incoming/")], keys)
        stored = f"{today_prefix('default')}/uploads/{upload['id']}/input.png"
        self.assertIn(stored, keys)
        # A PUT after completion changes nothing that was verified.
        self.assertEqual(self.put(ticket, face).status_code, 200)

        # The target by key: an object of the tenant's own prefix (here one put there with awscli).
        target_key = f"default/inbox/{os.path.basename(TARGET_PHOTO)}"
        cp = aws_s3("cp", TARGET_PHOTO, f"s3://{BUCKET}/{self.PREFIX}/{target_key}")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        r = self.api.post("/api/v1/jobs", json={"source": {"upload_id": upload["id"]}, "target": {"key": target_key}})
        self.assertEqual(r.status_code, 201, r.text)
        done = self.api.wait(r.json()["job_id"], timeout=300)
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["progress_percent"], 100.0)
        self.assertIn(f"/{self.PREFIX}/{today_prefix('default')}/outputs/{done['job_id']}/output.jpg",
                      done["output_url"])
        out = requests.get(done["output_url"], timeout=30)
        self.assertEqual(out.status_code, 200)
        self.assertTrue(out.content.startswith(b"\xff\xd8\xff"))
        # The orphan left by the late PUT goes with the next expiry sweep; the staged key is not
        # readable as anyone's object meanwhile (no tenant's prefix).
        self.assert_error(self.api.post("/api/v1/jobs", json={"source": {"key": f"_incoming/{upload['id']}/object"},
                                                              "target": {"upload_id": upload["id"]}}),
                          400, "invalid_argument", "source.key", "'default/'")

    def test_bytes_of_another_type_are_refused_and_removed(self):
        photo = read(TARGET_PHOTO)  # a JPEG declared as PNG
        ticket = self.begin(self.api, photo, "image/png")
        self.assertEqual(self.put(ticket, photo).status_code, 200)
        self.assert_error(self.complete(self.api, ticket), 415, "unsupported", "image/png")
        self.assertFalse([k for k in bucket_keys(self.PREFIX) if ticket["upload_id"] in k])
        self.assert_error(self.complete(self.api, ticket), 404, "not_found")
        r = self.api.post("/api/v1/jobs", json={"source": {"upload_id": ticket["upload_id"]},
                                                "target": {"upload_id": ticket["upload_id"]}})
        self.assertEqual(r.status_code, 404, r.text)

    def test_begin_checks_the_promise(self):
        limit = self.api.get("/api/v1/status").json()["limits"]["max_upload_bytes"]
        cases = [({"filename": "a.png", "size": 0, "content_type": "image/png"}, 400, "invalid_argument", "size"),
                 ({"filename": "a.png", "size": limit + 1, "content_type": "image/png"}, 413, "limit_exceeded", "size"),
                 ({"filename": "a.html", "size": 10, "content_type": "text/html"}, 415, "unsupported", "content_type"),
                 ({"filename": "a.png", "size": "10", "content_type": "image/png"}, 400, "invalid_argument", "size"),
                 ({"filename": "a.png", "size": 10}, 400, "invalid_argument", "content_type"),
                 ({"filename": "a.png", "size": 10, "content_type": "image/png", "md5": "x"}, 400, "invalid_argument",
                  "'md5'")]
        for body, status, code, word in cases:
            self.assert_error(self.api.post("/api/v1/uploads", json=body), status, code, word)
        self.assert_error(self.api.post("/api/v1/uploads/up_0000000000000000/complete"), 404, "not_found")
        # The streamed multipart upload still works on both routes.
        for route in ("/api/v1/upload", "/api/v1/uploads"):
            with open(SOURCE_FACE, "rb") as f:
                r = self.api.post(route, files={"file": ("face.png", f)})
            self.assertEqual(r.status_code, 201, r.text)
            self.assertIn(f"{today_prefix('default')}/uploads/{r.json()['id']}/input.png", bucket_keys(self.PREFIX))

    def test_key_references_stay_in_the_tenant_prefix(self):
        theirs = self.api.upload(SOURCE_FACE)
        theirs_key = f"{today_prefix('default')}/uploads/{theirs['id']}/input.png"
        self.assertIn(theirs_key, bucket_keys(self.PREFIX))
        mine = self.acme.upload(TARGET_PHOTO)
        for key, status, code, words in [
                (theirs_key, 400, "invalid_argument", ["source.key", "'acme/'"]),
                (f"uploads/{theirs['id']}/input.png", 400, "invalid_argument", ["source.key"]),
                ("acme/../default/x.png", 400, "invalid_argument", ["source.key"]),
                ("/acme/x.png", 400, "invalid_argument", ["source.key"]),
                ("acme/nothing-here.png", 404, "not_found", ["source.key", "acme/nothing-here.png"]),
                (42, 400, "invalid_argument", ["source.key"])]:
            r = self.acme.post("/api/v1/jobs", json={"source": {"key": key}, "target": {"upload_id": mine["id"]}})
            self.assert_error(r, status, code, *words)
        r = self.acme.post("/api/v1/jobs", json={"source": {"key": "acme/x.png", "upload_id": mine["id"]},
                                                 "target": {"upload_id": mine["id"]}})
        self.assert_error(r, 400, "invalid_argument", "source", "one of")

    def test_seed_url_aliases(self):
        # The photos directory over loopback HTTP (the server runs with --allow-private-urls).
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=PHOTOS)
        handler.log_message = lambda *a: None
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        base = f"http://127.0.0.1:{httpd.server_address[1]}/"
        face, photo = base + os.path.basename(SOURCE_FACE), base + os.path.basename(TARGET_PHOTO)
        both = {"source": {"image_url": face, "url": face}, "target": {"image_url": photo}}
        self.assert_error(self.api.post("/api/v1/jobs", json=both), 400, "invalid_argument", "source.image_url")
        wrong = {"source": {"video_url": face}, "target": {"image_url": photo}}
        self.assert_error(self.api.post("/api/v1/jobs", json=wrong), 400, "invalid_argument", "'video_url'")
        bad = {"source": {"image_url": 7}, "target": {"image_url": photo}}
        self.assert_error(self.api.post("/api/v1/jobs", json=bad), 400, "invalid_argument", "source.image_url")
        video = {"source": {"image_url": face}, "target": {"video_url": photo}, "output": {"resolution": "720p"}}
        self.assert_error(self.api.post("/api/v1/jobs", json=video), 400, "invalid_argument", "output.resolution")
        r = self.api.post("/api/v1/jobs", json={"source": {"image_url": face}, "target": {"image_url": photo}})
        self.assertEqual(r.status_code, 201, r.text)
        job = r.json()
        self.assertIn("progress_percent", job)
        self.api.post(f"/api/v1/jobs/{job['job_id']}/cancel")


class DirectUploadExpiryTest(unittest.TestCase):
    """Unfinished direct uploads expire with their URL (--presign-ttl): completing is refused and
    the staged objects are removed."""

    PREFIX = "expiry"

    def test_unfinished_uploads_expire(self):
        with Server("--workers", "0", *s3_flags(self.PREFIX), "--presign-ttl", "2", env=S3.env()) as server:
            api = server.client()
            face = read(SOURCE_FACE)
            tickets = []
            for _ in range(2):
                r = api.post("/api/v1/uploads", json={"filename": "f.png", "size": len(face), "content_type": "image/png"})
                self.assertEqual(r.status_code, 201, r.text)
                tickets.append(r.json())
                self.assertEqual(requests.put(r.json()["put_url"], data=face, headers={"Content-Type": "image/png"},
                                              timeout=30).status_code, 200)
            staged = [k for k in bucket_keys(self.PREFIX) if k.startswith("_incoming/")]
            self.assertEqual(len(staged), 4, staged)  # object + manifest each
            time.sleep(3)
            self.assertEqual(requests.put(tickets[0]["put_url"], data=face, headers={"Content-Type": "image/png"},
                                          timeout=30).status_code, 403, "the URL expired")
            r = api.post(f"/api/v1/uploads/{tickets[0]['upload_id']}/complete")
            self.assertEqual(r.status_code, 409, r.text)
            self.assertIn("expired", error_of(r)[1])
            # That call's sweep removed the other expired one too.
            self.assertEqual([k for k in bucket_keys(self.PREFIX) if k.startswith("_incoming/")], [])
            self.assertEqual(api.post(f"/api/v1/uploads/{tickets[1]['upload_id']}/complete").status_code, 404)


class DirectUploadFileStorageTest(unittest.TestCase):
    def test_file_storage_answers_409_naming_the_streamed_route(self):
        with Server("--workers", "0") as server:
            r = server.client().post("/api/v1/uploads", json={"filename": "f.png", "size": 10,
                                                              "content_type": "image/png"})
            self.assertEqual(r.status_code, 409, r.text)
            error, message = error_of(r)
            self.assertEqual(error, "failed_precondition")
            self.assertIn("s3://", message)
            self.assertIn("POST /api/v1/upload", message)


class ChunkedVideoOnS3Test(unittest.TestCase):
    """serve (no workers) and a `facefuse worker` process share SQLite and the bucket: a chunked
    video job's segments go through S3 between tasks; the output downloads from a presigned URL."""

    PREFIX = "video"
    FRAMES = 20

    def test_api_node_and_worker_process_on_s3(self):
        with Server("--workers", "0", *s3_flags(self.PREFIX), env=S3.env()) as server:
            api = server.client()
            worker = Worker(server.data_dir, "--workers", "1", *s3_flags(self.PREFIX), env=S3.env()).start()
            try:
                source = api.upload(SOURCE_FACE)
                target = api.upload(TARGET_VIDEO)
                # 0.4 s of 25 fps video = 10 frames per chunk: 2 chunks + the merge.
                job = api.submit({"source": {"upload_id": source["id"]},
                                  "target": {"upload_id": target["id"], "frame_range": [0, self.FRAMES]},
                                  "output": {"format": "mp4", "chunk_seconds": 0.4, "resolution": "240p"}})
                # Segments live in the bucket only between their chunk and the end of the job.
                seen_segments, stop = set(), threading.Event()

                def watch():
                    while not stop.is_set():
                        seen_segments.update(k for k in stored_keys(self.PREFIX) if "/segments/" in k)
                        time.sleep(0.01)

                watcher = threading.Thread(target=watch)
                watcher.start()
                try:
                    done = api.wait(job["job_id"], timeout=600)
                finally:
                    stop.set()
                    watcher.join()
                self.assertEqual(done["status"], "completed", done)
                self.assertEqual([t["kind"] for t in done["tasks"]], ["chunk", "chunk", "merge"])
                day = today_prefix("default")
                self.assertTrue(seen_segments, "the chunks' segments went through the bucket")
                self.assertTrue(all(k.startswith(f"{day}/work/{job['job_id']}/segments/") for k in seen_segments),
                                seen_segments)
                keys = wait_for(lambda: (lambda ks: ks if not [k for k in ks if "/work/" in k] else None)(
                    bucket_keys(self.PREFIX)), timeout=30)
                self.assertIn(f"{day}/outputs/{job['job_id']}/output.mp4", keys)
                out = requests.get(done["output_url"], timeout=60)
                self.assertEqual(out.status_code, 200)
                path = os.path.join(server.data_dir, "out.mp4")
                with open(path, "wb") as f:
                    f.write(out.content)
                self.assertEqual(frame_count(path), self.FRAMES)
                probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                        "stream=width,height", "-of", "csv=p=0", path], capture_output=True, text=True)
                self.assertEqual(probe.stdout.strip(), "320,240", "240p of a 640x480 target")
            finally:
                worker.stop()


if __name__ == "__main__":
    main()
