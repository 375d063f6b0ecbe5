"""URL inputs are fetched over http(s) with internal addresses refused unless --allow-private-urls;
finished jobs POST a webhook signed with HMAC-SHA256 (tests/support/http_fixture.py receives and
verifies it).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "support", "http_fixture.py")
SECRET = "webhook-test-secret"


class PhotoAndWebhookServer:
    """http_fixture.py for the webhook receiver plus a plain file server for the photos."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="facefuse-url-test-")
        self.log = os.path.join(self.dir, "webhooks.jsonl")
        self.fixture = subprocess.Popen(["/usr/bin/python3", FIXTURE, "--webhook-secret", SECRET, "--log", self.log],
                                        stdout=subprocess.PIPE, text=True)
        self.fixture_port = int(self.fixture.stdout.readline().split()[1])
        shutil.copy(h.SOURCE_FACE, os.path.join(self.dir, "face.png"))
        shutil.copy(h.TARGET_PHOTO, os.path.join(self.dir, "photo.jpg"))
        self.files_port = h.free_port()
        self.files = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", str(self.files_port), "--bind",
                                       "127.0.0.1", "--directory", self.dir],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def url(self, name):
        return f"http://127.0.0.1:{self.files_port}/{name}"

    def webhook_url(self):
        return f"http://127.0.0.1:{self.fixture_port}/webhook"

    def webhooks(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def close(self):
        for p in (self.fixture, self.files):
            p.terminate()
            p.wait()
        self.fixture.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class UrlInputsAndWebhooks(h.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.remote = PhotoAndWebhookServer()
        cls.addClassCleanup(cls.remote.close)

    def test_loopback_urls_are_refused_by_default(self):
        with h.Server() as server:
            api = server.client()
            r = api.post("/api/v1/jobs", json={"source": {"url": self.remote.url("face.png")},
                                               "target": {"url": self.remote.url("photo.jpg")}})
            self.assertEqual(r.status_code, 400, r.text)
            self.assertIn("source.url", h.error_of(r)[1])
            r = api.post("/api/v1/jobs", json={"source": {"url": "file:///etc/passwd"},
                                               "target": {"url": self.remote.url("photo.jpg")}})
            self.assertEqual(r.status_code, 400, r.text)

    def test_url_inputs_and_signed_webhook(self):
        with h.Server("--allow-private-urls") as server:
            api = server.client()
            job = api.submit({"source": {"url": self.remote.url("face.png")},
                              "target": {"url": self.remote.url("photo.jpg")},
                              "webhook": {"url": self.remote.webhook_url(), "secret": SECRET}})
            done = api.wait(job["job_id"])
            self.assertEqual(done["status"], "completed", done)
            hooks = h.wait_for(self.remote.webhooks, timeout=30)
            self.assertEqual(len(hooks), 1, hooks)
            hook = hooks[0]
            self.assertTrue(hook["signature_ok"], hook)
            self.assertEqual(hook["status"], 200)
            body = json.loads(hook["body"])
            self.assertEqual(body["job_id"], job["job_id"])
            self.assertEqual(body["event"], "job.completed")
            # Both signed links (fresh signatures) to the same output.
            self.assertEqual(body["output_url"].split("?")[0], done["output_url"].split("?")[0])
            self.assertIn("sig=", body["output_url"])
            missing = api.post("/api/v1/jobs", json={"source": {"url": self.remote.url("missing.png")},
                                                     "target": {"url": self.remote.url("photo.jpg")}})
            self.assertEqual(missing.status_code, 404, missing.text)
            self.assertIn("404", h.error_of(missing)[1])


if __name__ == "__main__":
    h.main()
