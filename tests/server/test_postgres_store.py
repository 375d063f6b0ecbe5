#!/usr/bin/python3
"""`facefuse serve --store postgresql://...` on a private PostgreSQL server (postgres_server.py):
a job goes from submit to completed through the API; two API nodes on the same database and shared
file storage see each other's jobs, and a WebSocket on one node follows a job submitted to the other;
`facefuse migrate`; a bad URI, an unreachable database and a wrong password stop serve with exit 2
and a message saying what to fix. Three API nodes started at once on an empty database print one
admin key between them, and a /media link signed by one opens on the others. With the database down
/ready is 503 with the reason and submits 503 + Retry-After; the node recovers by itself. A chunked
video job whose chunks run on both nodes warns as the same job run whole.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

import requests

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402
from test_api_e2e import ws_events  # noqa: E402
from test_job_results import assert_chunked_warns_as_whole  # noqa: E402


class PostgresStoreEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PostgresServer()
        cls.addClassCleanup(cls.pg.cleanup)
        cls.pg.start()
        cls.uri = cls.pg.create_database("e2e")
        cls.shared = tempfile.mkdtemp(prefix="facefuse-pg-e2e-storage-")
        cls.addClassCleanup(shutil.rmtree, cls.shared, True)
        storage = "file://" + cls.shared
        cls.node_a = h.Server("--workers", "1", "--store", cls.uri, "--storage", storage)
        cls.addClassCleanup(cls.node_a.cleanup)
        cls.node_a.start()
        # The second node finds the admin key in the database: it prints none of its own.
        cls.node_b = h.Server("--workers", "1", "--store", cls.uri, "--storage", storage)
        cls.addClassCleanup(cls.node_b.cleanup)
        cls.node_b.start()
        cls.api_a = cls.node_a.client()
        cls.api_b = cls.node_b.client(cls.node_a.admin_key)
        cls.source = cls.api_a.upload(h.SOURCE_FACE)
        cls.target = cls.api_a.upload(h.TARGET_PHOTO)

    def test_image_job_completes_and_the_other_node_streams_its_events(self):
        self.assertIsNone(self.node_b.admin_key, "one admin key per store, issued by the first node")
        job = self.api_a.submit(self.api_a.swap_body(self.source["id"], self.target["id"]))
        events = ws_events(self.node_b, job["job_id"], self.api_b.key)
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "no gap, no duplicate")
        self.assertEqual(events[-1]["status"], "completed", events[-1])
        done = self.api_b.job(job["job_id"])
        self.assertEqual(done["status"], "completed")
        out = self.api_b.get(done["output_url"])
        self.assertEqual(out.status_code, 200)
        self.assertEqual(out.content[:2], b"\xff\xd8", "a JPEG")
        listed = self.api_a.get("/api/v1/jobs").json()
        self.assertIn(job["job_id"], [j["job_id"] for j in listed["jobs"]])

    def test_a_chunked_video_job_warns_as_the_whole_job_does(self):
        # Two nodes, one worker each: the chunks run on both, the merge on either.
        whole, chunked = h.video_jobs_whole_and_chunked(self.api_a, self.api_b, h.SMALL_SOURCE_FACE)
        assert_chunked_warns_as_whole(self, whole, chunked)

    def test_ready_reports_the_database(self):
        self.assertEqual(self.api_a.get("/ready").status_code, 200)

    def test_migrate_command_finds_nothing_to_do(self):
        r = subprocess.run([h.BINARY, "migrate", "--store", self.uri], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nothing to do", r.stdout)
        self.assertNotIn("facefuse-test-password", r.stdout)


class ApiNodesStartingTogether(unittest.TestCase):
    def test_one_admin_key_between_them_and_media_links_work_on_every_node(self):
        with PostgresServer() as pg, tempfile.TemporaryDirectory(prefix="facefuse-pg-shared-") as shared:
            uri = pg.create_database("together")
            nodes = [h.Server("--workers", "1", "--store", uri, "--storage", "file://" + shared) for _ in range(3)]
            try:
                starts = [threading.Thread(target=n.start) for n in nodes]
                for t in starts:
                    t.start()
                for t in starts:
                    t.join(timeout=120)
                self.assertTrue(all(n.process and n.process.poll() is None for n in nodes), "every node serves")
                keys = [n.admin_key for n in nodes if n.admin_key]
                self.assertEqual(len(keys), 1, "exactly one node issued (and printed) the admin key")
                self.assertEqual(pg.query("together", "SELECT COUNT(*) FROM api_keys"), [("1",)])
                apis = [n.client(keys[0]) for n in nodes]
                for api in apis:
                    self.assertEqual(api.get("/api/v1/jobs").status_code, 200, "the key works on every node")

                # A /media link signed by node 0 opens on nodes 1 and 2 (one secret, from the store).
                source = apis[0].upload(h.SOURCE_FACE)
                target = apis[0].upload(h.TARGET_PHOTO)
                job = apis[0].submit(apis[0].swap_body(source["id"], target["id"]))
                done = apis[0].wait(job["job_id"], timeout=120)
                self.assertEqual(done["status"], "completed", done)
                link = done["output_url"]
                self.assertTrue(link.startswith("/media/") and "sig=" in link, link)
                bodies = []
                for node in nodes:
                    r = requests.get(node.url + link, timeout=30)  # no key: the signature alone
                    self.assertEqual(r.status_code, 200, f"{node.url}: {r.text}")
                    bodies.append(r.content)
                self.assertTrue(bodies[0][:2] == b"\xff\xd8" and bodies.count(bodies[0]) == 3)
                forged = requests.get(nodes[1].url + link[:-1] + ("0" if link[-1] != "0" else "1"), timeout=30)
                self.assertEqual(forged.status_code, 403, forged.text)
                self.assertFalse(any(os.path.exists(os.path.join(n.data_dir, "media_link.key")) for n in nodes),
                                 "no per-node secret with a shared store")
            finally:
                for n in nodes:
                    n.cleanup()


class DatabaseDown(unittest.TestCase):
    def test_ready_503_with_the_reason_submits_503_retry_after_and_recovery_by_itself(self):
        with PostgresServer() as pg:
            uri = pg.create_database("down")
            with h.Server("--workers", "1", "--store", uri) as node:
                api = node.client()
                source = api.upload(h.SOURCE_FACE)
                target = api.upload(h.TARGET_PHOTO)
                ready = api.get("/ready").json()
                self.assertEqual(ready["checks"]["job_store"], "ok", ready)
                self.assertGreater(ready["checks"]["job_store_latency_ms"], 0, ready)
                before = api.submit(api.swap_body(source["id"], target["id"]))

                pg.stop()
                r = api.get("/ready")
                self.assertEqual(r.status_code, 503, r.text)
                self.assertIn("cannot connect to PostgreSQL", r.json()["checks"]["job_store"])
                self.assertNotIn("facefuse-test-password", r.text)
                r = api.post("/api/v1/jobs", json=api.swap_body(source["id"], target["id"],
                                                                options={"face_swapper_blend": 0.4}))
                self.assertEqual(r.status_code, 503, r.text)
                self.assertEqual(h.error_of(r)[0], "unavailable")
                self.assertEqual(r.headers.get("Retry-After"), "2")

                pg.start()  # same port: the node reconnects on its next call, no restart
                h.wait_for(lambda: api.get("/ready").status_code == 200, timeout=20)
                after = api.submit(api.swap_body(source["id"], target["id"], options={"face_swapper_blend": 0.4}))
                for job in (before, after):
                    self.assertEqual(api.wait(job["job_id"], timeout=120)["status"], "completed")


class BadStoreAtStart(unittest.TestCase):
    def serve_exit(self, store):
        return h.serve_exit("--store", store)

    def test_unsupported_scheme(self):
        code, err = self.serve_exit("mysql://db/jobs")
        self.assertEqual(code, 2, err)
        self.assertIn("postgresql://", err)

    def test_unreachable_database(self):
        code, err = self.serve_exit(f"postgresql://facefuse:secret-pw@127.0.0.1:{h.free_port()}/db")
        self.assertEqual(code, 2, err)
        self.assertIn("cannot connect to PostgreSQL", err)
        self.assertNotIn("secret-pw", err)

    def test_wrong_password(self):
        with PostgresServer() as pg:
            pg.create_database("pw")
            code, err = self.serve_exit(pg.uri("pw", password="wrong-pw"))
        self.assertEqual(code, 2, err)
        self.assertIn("password", err)
        self.assertNotIn("wrong-pw", err)


if __name__ == "__main__":
    unittest.main()
