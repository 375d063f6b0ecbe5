"""Retention end to end on file storage and SQLite (serve --retain-* and the janitor, jobs/janitor.h):
tiny TTLs and a short --janitor-interval instead of a test clock. Checks on disk and in the store's
rows (read with Python's sqlite3, read-only) that expired uploads, outputs and jobs are gone, that
unexpired ones and those a pending job reads are kept, that orphans older than --orphan-grace go
(younger ones and objects outside the key layout stay), that a completed job whose output object
vanished is marked expired (410), and that facefuse_storage_* match a walk of the storage directory.
"""
import os
import re
import shutil
import sqlite3
import tempfile
import time
import unittest

from service_harness import (SOURCE_FACE, TARGET_PHOTO, Server, error_of, main, serve_exit, stored_path,
                             wait_for)

INTERVAL = "300ms"  # --janitor-interval
KINDS = ("uploads", "outputs", "segments", "staging", "other")
LAYOUT = re.compile(r"^(?:[^/]+/\d{4}/\d{2}/\d{2}/(uploads|outputs|work)/[A-Za-z0-9_]{1,64}/.+|"
                    r"(uploads|outputs|jobs)/[A-Za-z0-9_]{1,64}/.+)$")


def kind_of(key):
    """The janitor's kind of a storage key (jobs/janitor.h storage_kind_of)."""
    if key.startswith("_incoming/"):
        return "staging"
    m = LAYOUT.match(key)
    if not m:
        return "other"
    kind = m.group(1) or m.group(2)
    return {"uploads": "uploads", "outputs": "outputs"}.get(kind, "segments")


def disk_usage(storage):
    """{kind: (objects, bytes)} of the files under the storage root (temporary '.' files left out)."""
    usage = {k: [0, 0] for k in KINDS}
    for root, _dirs, files in os.walk(storage):
        for name in files:
            path = os.path.join(root, name)
            key = os.path.relpath(path, storage)
            if any(part.startswith(".") for part in key.split("/")):
                continue
            usage[kind_of(key)][0] += 1
            usage[kind_of(key)][1] += os.path.getsize(path)
    return {k: tuple(v) for k, v in usage.items()}


def metric_values(text, name):
    """{label value: number} of a one-label series in Prometheus text."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf'^{name}\{{\w+="([^"]+)"\}} (\S+)$', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def put_file(path, data=b"x" * 100, age_seconds=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if age_seconds:
        t = time.time() - age_seconds
        os.utime(path, (t, t))
    return path


class RetentionFileStorageTest(unittest.TestCase):
    def setUp(self):
        self.server = None
        self.api = None
        self.data = tempfile.mkdtemp(prefix="facefuse-retention-")
        self.addCleanup(shutil.rmtree, self.data, True)

    def tearDown(self):
        if self.server:
            self.server.cleanup()

    def start(self, *args):
        """(Re)starts serve on the test's data directory with the janitor flags plus `args`."""
        if self.server:
            self.server.stop()
        self.server = Server("--janitor-interval", INTERVAL, "--orphan-grace", "3s", *args, data_dir=self.data)
        self.server.start()
        key = self.api.key if self.api else self.server.admin_key
        self.api = self.server.client(key)
        return self.server

    def rows(self, sql, *params):
        db = sqlite3.connect(f"file:{os.path.join(self.data, 'jobs.db')}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def passes(self):
        return metric_values(self.api.get("/metrics").text, "facefuse_janitor_passes_total").get("ran", 0)

    def after_passes(self, n=2):
        """Waits until `n` more janitor passes ran (a pass that had started counts once it ends)."""
        start = self.passes()
        wait_for(lambda: self.passes() >= start + n, timeout=60, interval=0.1)

    def swap(self, source, target, quality):
        # A different quality per job: no result-cache hit shares another job's output.
        job = self.api.submit(self.api.swap_body(source["id"], target["id"], output={"quality": quality}))
        return job

    def output_path(self, job):
        return os.path.join(self.data, "storage", job["output_url"].split("/media/", 1)[1].split("?")[0])

    def test_retention_deletes_what_it_should_and_nothing_else(self):
        # ---- Phase 1: uploads expire after 4 s, outputs are kept for an hour.
        self.start("--workers", "1", "--retain-uploads", "4s", "--retain-outputs", "1h")
        storage = os.path.join(self.data, "storage")
        source, target = self.api.upload(SOURCE_FACE), self.api.upload(TARGET_PHOTO)
        # Both submitted at once: a pending or processing job holds its uploads past their TTL.
        first, second = self.swap(source, target, 90), self.swap(source, target, 91)
        kept, vanished = self.api.wait(first["job_id"]), self.api.wait(second["job_id"])
        self.assertEqual((kept["status"], vanished["status"]), ("completed", "completed"))
        kept_output, vanished_output = self.output_path(kept), self.output_path(vanished)
        self.assertTrue(os.path.exists(kept_output))
        # A row whose object is missing: the vanished job's output goes behind the server's back.
        os.remove(vanished_output)
        # Orphans of the layout (no row), old enough; one too young; objects outside the layout.
        old_upload_orphan = put_file(os.path.join(storage, "default/2020/01/01/uploads/up_0123456789abcdef/input.jpg"),
                                     age_seconds=7200)
        old_output_orphan = put_file(os.path.join(storage, "default/2020/01/01/outputs/job_0123456789abcdef/output.jpg"),
                                     age_seconds=7200)
        old_work_orphan = put_file(os.path.join(storage, "jobs/job_fedcba9876543210/segments/chunk-00000.mp4"),
                                   age_seconds=7200)
        not_layout = put_file(os.path.join(storage, "default/inbox/face.jpg"), age_seconds=7200)
        young_orphan = put_file(os.path.join(storage, "default/2020/01/01/uploads/up_aaaaaaaaaaaaaaaa/input.jpg"))
        self.after_passes(2)
        for path in (old_upload_orphan, old_output_orphan, old_work_orphan):
            self.assertFalse(os.path.exists(path), f"orphan {path} must go")
        self.assertTrue(os.path.exists(young_orphan), "an object younger than --orphan-grace is never an orphan")
        self.assertTrue(os.path.exists(not_layout), "objects outside the key layout are not the janitor's")
        self.assertFalse(os.path.exists(os.path.dirname(old_upload_orphan)), "emptied directories go too")

        # The vanished output: job kept, marked expired, /media says 410 Gone.
        gone = wait_for(lambda: self.api.job(vanished["job_id"]).get("output_expired_at"), timeout=30)
        self.assertTrue(gone)
        job = self.api.job(vanished["job_id"])
        self.assertEqual(job["status"], "completed")
        self.assertIsNone(job["output_url"])
        media = self.api.get("/media/" + os.path.relpath(vanished_output, storage))
        self.assertEqual(media.status_code, 410, media.text)
        self.assertEqual(error_of(media)[0], "output_expired")

        # Uploads expire (rows and files); the kept job's output is unexpired and stays.
        source_file = stored_path(self.data, "uploads", source["id"])
        wait_for(lambda: not self.rows("SELECT id FROM uploads"), timeout=30)
        self.assertFalse(os.path.exists(source_file))
        self.assertTrue(os.path.exists(kept_output), "an output younger than --retain-outputs stays")
        self.assertIsNone(self.api.job(kept["job_id"]).get("output_expired_at"))
        fresh = self.api.upload(SOURCE_FACE)
        self.after_passes(1)  # one pass after it, well within its 4 s
        self.assertEqual(self.rows("SELECT id FROM uploads"), [(fresh["id"],)], "an upload younger than its TTL stays")
        self.assertTrue(os.path.exists(stored_path(self.data, "uploads", fresh["id"])))

        # Metrics match the directory once nothing changes (the young orphan has gone by now too).
        wait_for(lambda: not os.path.exists(young_orphan), timeout=30)
        self.after_passes(2)
        text = self.api.get("/metrics").text
        objects, size = metric_values(text, "facefuse_storage_objects"), metric_values(text, "facefuse_storage_bytes")
        on_disk = disk_usage(storage)
        for kind in KINDS:
            self.assertEqual((objects.get(kind), size.get(kind)), (float(on_disk[kind][0]), float(on_disk[kind][1])),
                             f"kind {kind}: metrics {objects} {size}, disk {on_disk}")
        deleted = metric_values(text, "facefuse_janitor_deleted_objects_total")
        self.assertEqual(deleted["orphan"], 4.0, deleted)  # three old orphans, then the young one once old enough
        self.assertGreaterEqual(deleted["expired_upload"], 2.0, deleted)

        # ---- Phase 2: an API node (no workers) with outputs expiring after 2 s; jobs are kept.
        self.start("--workers", "0", "--retain-uploads", "5s", "--retain-outputs", "2s")
        s2, t2 = self.api.upload(SOURCE_FACE), self.api.upload(TARGET_PHOTO)
        pending = self.swap(s2, t2, 92)
        wait_for(lambda: self.api.job(kept["job_id"]).get("output_expired_at"), timeout=30)
        self.assertFalse(os.path.exists(kept_output))
        job = self.api.job(kept["job_id"])
        self.assertEqual(job["status"], "completed", "the job stays when only its output expires")
        self.assertIsNone(job["output_url"])
        media = self.api.get("/media/" + os.path.relpath(kept_output, storage))
        self.assertEqual(media.status_code, 410, media.text)
        # The pending job and the uploads it reads stay, long past the uploads' TTL.
        time.sleep(6)
        self.after_passes(2)
        self.assertEqual(self.api.job(pending["job_id"])["status"], "pending")
        self.assertEqual(sorted(r[0] for r in self.rows("SELECT id FROM uploads WHERE id IN (?, ?)", s2["id"], t2["id"])),
                         sorted([s2["id"], t2["id"]]))
        self.assertTrue(os.path.exists(stored_path(self.data, "uploads", s2["id"])))
        self.assertTrue(os.path.exists(not_layout))
        # Once the job has ended, its uploads go.
        self.assertIn(self.api.post(f"/api/v1/jobs/{pending['job_id']}/cancel").status_code, (200, 202))
        wait_for(lambda: not os.path.exists(stored_path(self.data, "uploads", s2["id"])), timeout=30)
        self.assertEqual(self.rows("SELECT COUNT(*) FROM uploads WHERE id IN (?, ?)", s2["id"], t2["id"]), [(0,)])

        # ---- Phase 3: terminal jobs expire after 2 s: rows, events and remaining objects.
        self.assertGreater(self.rows("SELECT COUNT(*) FROM job_events")[0][0], 0)
        self.start("--workers", "0", "--retain-jobs", "2s")
        wait_for(lambda: self.rows("SELECT COUNT(*) FROM jobs") == [(0,)], timeout=30)
        for job in (kept, vanished, pending):
            self.assertEqual(self.api.get(f"/api/v1/jobs/{job['job_id']}").status_code, 404)
        self.assertEqual(self.rows("SELECT COUNT(*) FROM job_events"), [(0,)])
        self.assertEqual(self.rows("SELECT COUNT(*) FROM tasks"), [(0,)])
        self.assertTrue(os.path.exists(not_layout))
        self.assertTrue(os.path.exists(stored_path(self.data, "uploads", fresh["id"])) or
                        not self.rows("SELECT id FROM uploads WHERE id = ?", fresh["id"]),
                        "an upload's row and object go together")

    def test_bad_durations_exit_2_naming_the_flag(self):
        for flag, value in (("--retain-uploads", "7 days"), ("--retain-outputs", "1w"), ("--retain-jobs", "12x"),
                            ("--janitor-interval", "0"), ("--orphan-grace", "h")):
            code, err = serve_exit(flag, value)
            self.assertEqual(code, 2, err)
            self.assertIn(flag, err)


if __name__ == "__main__":
    main()
