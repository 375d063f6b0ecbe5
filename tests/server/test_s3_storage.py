"""`facefuse serve --storage s3://...` end to end against the S3 test server (@20minutes/s3rver):
uploads and outputs land in the bucket (read back with Debian's awscli), a finished job's output_url
is a presigned S3 GET that plain HTTP downloads without a key (fresh on every read, refused when
tampered with), /readyz reports the bucket check and its latency, deleting a job deletes its
objects, and a missing bucket / wrong secret / unreachable endpoint stop the start with a message
naming the fix.
"""
import os
import subprocess
import sys
import tempfile
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from s3_server import S3Server  # noqa: E402
from service_harness import SOURCE_FACE, TARGET_PHOTO, Server, main, serve_exit  # noqa: E402

AWS = "/usr/bin/aws"  # Debian's awscli
S3 = S3Server(["facefuse-test"])  # one S3 test server for every test of this file


def setUpModule():
    unittest.addModuleCleanup(S3.cleanup)
    S3.start()


class S3StorageTest(unittest.TestCase):
    s3 = S3

    @classmethod
    def setUpClass(cls):
        cls.server = Server("--workers", "1", "--storage", "s3://facefuse-test/svc", "--s3-endpoint", cls.s3.endpoint,
                            "--s3-addressing", "path", "--presign-ttl", "120", env=cls.s3.env())
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.api = cls.server.client()

    def aws_s3(self, *args):
        """Runs `aws s3 ARGS` (Debian's awscli) against the test server; returns its stdout."""
        out = subprocess.run([AWS, "--endpoint-url", self.s3.endpoint, "s3", *args], capture_output=True, text=True,
                             env=dict(os.environ, **self.s3.env()))
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def bucket_keys(self):
        """The keys under s3://facefuse-test/svc/, without that prefix."""
        listing = self.aws_s3("ls", "--recursive", "s3://facefuse-test/svc/")
        return [line.split()[-1].split("svc/", 1)[1] for line in listing.splitlines() if line.strip()]

    def test_image_job_output_downloads_through_a_presigned_url(self):
        source = self.api.upload(SOURCE_FACE)
        target = self.api.upload(TARGET_PHOTO)
        keys = self.bucket_keys()
        self.assertTrue(any(source["id"] in k for k in keys), keys)
        job = self.api.submit(self.api.swap_body(source["id"], target["id"]))
        done = self.api.wait(job["job_id"])
        self.assertEqual(done["status"], "completed", done)
        url = done["output_url"]
        self.assertTrue(url.startswith(self.s3.endpoint + "/facefuse-test/svc/"), url)
        self.assertIn("X-Amz-Expires=120", url)
        self.assertIn("X-Amz-Signature=", url)
        # Plain HTTP, no API key: the bytes come from the bucket.
        direct = requests.get(url, timeout=30)
        self.assertEqual(direct.status_code, 200, direct.text)
        self.assertEqual(direct.headers["Content-Type"], "image/jpeg")
        self.assertTrue(direct.content.startswith(b"\xff\xd8\xff"))
        # The same object as the API serves it, and as awscli reads it.
        output_key = url.split("/facefuse-test/svc/")[1].split("?")[0]
        via_api = self.api.get("/media/" + output_key)
        self.assertEqual(via_api.status_code, 200)
        self.assertEqual(via_api.content, direct.content)
        with tempfile.TemporaryDirectory() as tmp:
            self.aws_s3("cp", f"s3://facefuse-test/svc/{output_key}", os.path.join(tmp, "o"))
            with open(os.path.join(tmp, "o"), "rb") as f:
                self.assertEqual(f.read(), direct.content)
        # Every read of the job hands out a presigned URL; a tampered one is refused by S3.
        again = self.api.job(job["job_id"])["output_url"]
        self.assertTrue(again.startswith(self.s3.endpoint), again)
        tampered = url.replace("X-Amz-Expires=120", "X-Amz-Expires=600")
        self.assertEqual(requests.get(tampered, timeout=30).status_code, 403)
        # Deleting the job deletes its output objects.
        self.assertIn(output_key, self.bucket_keys())
        r = self.api.delete(f"/api/v1/jobs/{job['job_id']}")
        self.assertIn(r.status_code, (200, 204), r.text)
        self.assertNotIn(output_key, self.bucket_keys())

    def test_readyz_checks_the_bucket_and_reports_latency(self):
        r = requests.get(self.server.url + "/readyz", timeout=30)
        body = r.json()
        self.assertEqual(body["checks"]["storage"], "ok", body)
        self.assertIsInstance(body["checks"]["storage_latency_ms"], (int, float))
        self.assertGreaterEqual(body["checks"]["storage_latency_ms"], 0)


class S3MisconfigurationTest(unittest.TestCase):
    """serve refuses to start on storage it cannot use, and says what to fix (secret never printed)."""

    s3 = S3

    def start_fails(self, storage, endpoint, env):
        code, err = serve_exit("--storage", storage, "--s3-endpoint", endpoint, "--s3-addressing", "path", env=env)
        self.assertNotEqual(code, 0, err)
        return err

    def test_missing_bucket(self):
        err = self.start_fails("s3://no-such-bucket/x", self.s3.endpoint, self.s3.env())
        self.assertIn("'no-such-bucket' does not exist", err)

    def test_wrong_secret(self):
        env = dict(self.s3.env(), AWS_SECRET_ACCESS_KEY="wrong-secret-value")
        err = self.start_fails("s3://facefuse-test/x", self.s3.endpoint, env)
        self.assertIn("AWS_SECRET_ACCESS_KEY", err)
        self.assertNotIn("wrong-secret-value", err)

    def test_unreachable_endpoint(self):
        err = self.start_fails("s3://facefuse-test/x", "http://127.0.0.1:1", self.s3.env())
        self.assertIn("--s3-endpoint", err)

    def test_no_credentials(self):
        env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
               "AWS_PROFILE": ""}
        err = self.start_fails("s3://facefuse-test/x", self.s3.endpoint, env)
        self.assertIn("AWS_ACCESS_KEY_ID", err)


if __name__ == "__main__":
    main()
