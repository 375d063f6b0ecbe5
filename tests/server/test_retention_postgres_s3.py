"""Retention end to end on S3 (@20minutes/s3rver) with two API nodes on one PostgreSQL store: while
another session holds the janitor's advisory lock both nodes skip their passes and nothing expires;
once it is released, expired uploads and outputs leave the bucket (checked with Debian's awscli) and
the store, the job stays with output_expired_at and a 410 for its output, an orphan of the key layout
goes once older than --orphan-grace while an object outside the layout stays, and both nodes'
facefuse_storage_* gauges match the bucket listing.
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from postgres_server import USER, PostgresServer  # noqa: E402
from s3_server import S3Server  # noqa: E402
from service_harness import SOURCE_FACE, TARGET_PHOTO, Server, error_of, main, wait_for  # noqa: E402
from test_retention import KINDS, kind_of, metric_values  # noqa: E402

AWS = "/usr/bin/aws"
BUCKET = "facefuse-retention"
PREFIX = "ret"


class RetentionPostgresS3Test(unittest.TestCase):
    def setUp(self):
        self.pg = PostgresServer()
        self.addCleanup(self.pg.cleanup)
        self.pg.start()
        uri = self.pg.create_database("retention")
        self.s3 = S3Server([BUCKET])
        self.addCleanup(self.s3.cleanup)
        self.s3.start()
        shared = ["--store", uri, "--storage", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint", self.s3.endpoint,
                  "--s3-addressing", "path", "--janitor-interval", "500ms", "--orphan-grace", "3s",
                  "--retain-uploads", "3s", "--retain-outputs", "3s"]
        self.nodes = []
        for workers in ("1", "0"):
            node = Server("--workers", workers, *shared, env=self.s3.env())
            self.addCleanup(node.cleanup)
            node.start()
            self.nodes.append(node)
        key = self.nodes[0].admin_key
        self.apis = [n.client(key) for n in self.nodes]
        self.holder = None
        self.addCleanup(self.release_lock)

    # ------------------------------------------------------------ helpers
    def aws_s3(self, *args):
        out = subprocess.run([AWS, "--endpoint-url", self.s3.endpoint, "s3", *args], capture_output=True, text=True,
                             env=dict(os.environ, **self.s3.env()))
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def bucket(self):
        """{key under the prefix: size} of the bucket."""
        listing = self.aws_s3("ls", "--recursive", f"s3://{BUCKET}/{PREFIX}/")
        out = {}
        for line in listing.splitlines():
            parts = line.split()
            if len(parts) >= 4:
                out[parts[3].split(f"{PREFIX}/", 1)[1]] = int(parts[2])
        return out

    def put_object(self, key, data=b"y" * 123):
        path = os.path.join(self.pg.dir, "object.bin")
        with open(path, "wb") as f:
            f.write(data)
        self.aws_s3("cp", path, f"s3://{BUCKET}/{PREFIX}/{key}")

    def sql(self, query):
        return self.pg.query("retention", query)

    def passes(self, node, result="ran"):
        return metric_values(node.client().get("/metrics").text, "facefuse_janitor_passes_total").get(result, 0)

    def hold_lock(self):
        """Holds the janitor's lock from a psql session of the test's own (as another node would)."""
        self.holder = subprocess.Popen(
            self.pg._as_server_user(["/usr/bin/psql", "-X", "-q", "-A", "-t", "-h", self.pg.dir, "-p",
                                     str(self.pg.port), "-U", USER, "-d", "retention"]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.holder.stdin.write("SELECT pg_advisory_lock(hashtextextended('facefuse lock janitor', 0));\n"
                                "\\echo LOCKED\n")
        self.holder.stdin.flush()
        while self.holder.stdout.readline().strip() != "LOCKED":
            pass

    def release_lock(self):
        if self.holder:
            self.holder.stdin.close()
            self.holder.wait(timeout=30)
            self.holder.stdout.close()
            self.holder = None

    # ------------------------------------------------------------ the test
    def test_two_nodes_one_lock_expiry_orphans_and_metrics(self):
        a, b = self.apis
        self.hold_lock()
        source, target = a.upload(SOURCE_FACE), a.upload(TARGET_PHOTO)
        job = b.submit(b.swap_body(source["id"], target["id"]))
        done = a.wait(job["job_id"])
        self.assertEqual(done["status"], "completed", done)
        keys = self.bucket()
        output_key = next(k for k in keys if "/outputs/" in k)
        upload_keys = [k for k in keys if "/uploads/" in k]
        self.assertEqual(len(upload_keys), 2, keys)
        self.put_object("default/2020/01/01/outputs/job_0123456789abcdef/output.jpg")  # an orphan
        self.put_object("default/inbox/face.jpg")  # not the janitor's

        # Held elsewhere: both nodes skip; nothing expires although every TTL has passed.
        ran = [self.passes(n) for n in self.nodes]
        skipped = [self.passes(n, "skipped") for n in self.nodes]
        time.sleep(4)
        self.assertEqual([self.passes(n) for n in self.nodes], ran, "no pass may run while the lock is held")
        for node, before in zip(self.nodes, skipped):
            self.assertGreater(self.passes(node, "skipped"), before)
        self.assertTrue(set(upload_keys + [output_key]) <= set(self.bucket()))

        # Released: the next pass (either node) deletes what expired, and the orphan.
        self.release_lock()
        wait_for(lambda: not set(upload_keys + [output_key]) & set(self.bucket()), timeout=60)
        wait_for(lambda: "default/2020/01/01/outputs/job_0123456789abcdef/output.jpg" not in self.bucket(),
                 timeout=60)
        self.assertIn("default/inbox/face.jpg", self.bucket())
        self.assertEqual(self.sql(f"SELECT id FROM uploads WHERE id IN ('{source['id']}', '{target['id']}')"), [])
        expired = b.job(job["job_id"])
        self.assertEqual(expired["status"], "completed")
        self.assertIsNotNone(expired.get("output_expired_at"), expired)
        self.assertIsNone(expired["output_url"])
        media = b.get("/media/" + output_key)
        self.assertEqual(media.status_code, 410, media.text)
        self.assertEqual(error_of(media)[0], "output_expired")

        # Both nodes take turns (the lock is per pass), and their gauges agree with the bucket once
        # nothing changes.
        ran = [self.passes(n) for n in self.nodes]
        wait_for(lambda: all(self.passes(n) >= r + 2 for n, r in zip(self.nodes, ran)), timeout=60)
        listing = self.bucket()
        expected = {k: [0, 0] for k in KINDS}
        for key, size in listing.items():
            expected[kind_of(key)][0] += 1
            expected[kind_of(key)][1] += size
        for node in self.nodes:
            text = node.client().get("/metrics").text
            objects = metric_values(text, "facefuse_storage_objects")
            size = metric_values(text, "facefuse_storage_bytes")
            for kind in KINDS:
                self.assertEqual((objects.get(kind), size.get(kind)),
                                 (float(expected[kind][0]), float(expected[kind][1])), f"{kind}: {listing}")
        deleted = [metric_values(n.client().get("/metrics").text, "facefuse_janitor_deleted_objects_total")
                   for n in self.nodes]
        self.assertEqual(sum(d.get("expired_upload", 0) for d in deleted), 2.0, deleted)
        self.assertEqual(sum(d.get("expired_output", 0) for d in deleted), 1.0, deleted)
        self.assertEqual(sum(d.get("orphan", 0) for d in deleted), 1.0, deleted)


if __name__ == "__main__":
    main()
