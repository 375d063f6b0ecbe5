"""Multi-process mode on one host (issue 12): `facefuse serve --workers 0` (an API node that claims
nothing) plus `facefuse worker` processes on the same data directory (SQLite store in WAL mode,
file storage). Real processes, real signals: image and chunked video jobs complete on two workers
with the frames of a single-node `facefuse run`; a worker killed with -9 mid-chunk loses only
that chunk, which re-runs elsewhere; SIGTERM finishes or releases the running chunk within
--grace-seconds; --max-tasks and --idle-exit-seconds exit 0.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import requests

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402

FPS = 25  # talking_head_640x480.mp4
FRAMES = 60


class Worker:
    """One `facefuse worker` process on `data_dir`; its JSON log lines go to <data>/worker-N.log. `env` is
    added to this process's environment (e.g. the S3 test server's credentials)."""

    count = 0

    def __init__(self, data_dir, *args, env=None):
        Worker.count += 1
        self.data_dir = data_dir
        self.args = list(args)
        self.env = env or {}
        self.log_path = os.path.join(data_dir, f"worker-{Worker.count}.log")
        self.process = None

    def start(self):
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen([h.BINARY, "worker", "--data", self.data_dir] + self.args,
                                        stdout=subprocess.DEVNULL, stderr=self.log,
                                        env=dict(os.environ, **self.env))
        h.wait_for(lambda: self.process.poll() is not None or "worker started" in self.read_log(), timeout=30)
        assert self.process.poll() is None, f"worker exited with {self.process.returncode}: {self.read_log()}"
        return self

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def log_lines(self):
        return [json.loads(line) for line in self.read_log().splitlines() if line.startswith("{")]

    def wait(self, timeout=60):
        code = self.process.wait(timeout=timeout)
        self.log.close()
        return code

    def kill(self):
        self.process.kill()
        return self.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.wait()


def tasks_of(data_dir, job_id):
    with sqlite3.connect(os.path.join(data_dir, "jobs.db")) as db:
        return db.execute("SELECT kind, chunk_index, state, attempts FROM tasks WHERE job_id = ? ORDER BY id",
                          (job_id,)).fetchall()


def reference_video(directory, frames, chunk_frames):
    """The same job run by `facefuse run` in one process."""
    out = os.path.join(directory, f"reference-{frames}-{chunk_frames}.mp4")
    if not os.path.exists(out):
        subprocess.run([h.BINARY, "run", "-s", h.SOURCE_FACE, "-t", h.TARGET_VIDEO, "-o", out, "--trim-frame-start",
                        "0", "--trim-frame-end", str(frames), "--chunk-frames", str(chunk_frames)],
                       check=True, capture_output=True)
    return out


def video_body(source_id, target_id, chunk_seconds, frames=FRAMES):
    return {"source": {"upload_id": source_id}, "target": {"upload_id": target_id, "frame_range": [0, frames]},
            "output": {"format": "mp4", "chunk_seconds": chunk_seconds}}


class Cluster:
    """serve --workers 0 on a fresh data directory, plus workers started on demand."""

    def __init__(self, *serve_args):
        self.server = h.Server("--workers", "0", *serve_args)
        self.workers = []

    def __enter__(self):
        self.server.start()
        self.api = self.server.client()
        return self

    def worker(self, *args):
        w = Worker(self.server.data_dir, *args)
        self.workers.append(w)
        return w.start()

    def __exit__(self, *exc):
        for w in self.workers:
            w.stop()
        self.server.cleanup()

    def submit_video(self, chunk_seconds, frames=FRAMES):
        """Uploads the source face and the talking-head video and submits a video job on them."""
        source = self.api.upload(h.SOURCE_FACE)
        target = self.api.upload(h.TARGET_VIDEO)
        return self.api.submit(video_body(source["id"], target["id"], chunk_seconds, frames))

    def wait_frames(self, job):
        """Until a worker has processed frames of the job (it holds a chunk mid-way)."""
        h.wait_for(lambda: self.api.job(job["job_id"])["frames_done"] > 0)

    def download(self, job, name):
        path = os.path.join(self.server.data_dir, name)
        with open(path, "wb") as f:
            f.write(self.api.get(job["output_url"]).content)
        return path


class WorkerProcessesSlow(h.unittest.TestCase):
    def test_api_node_and_two_workers_complete_image_and_chunked_video(self):
        with Cluster() as c:
            health = c.api.get("/health").json()
            self.assertEqual((health["workers"], health["model_loaded"]), (0, False), health)
            source = c.api.upload(h.SOURCE_FACE)
            target = c.api.upload(h.TARGET_VIDEO)
            photo = c.api.upload(h.TARGET_PHOTO)
            # 0.8 s of 25 fps video = 20 frames per chunk: 3 chunks + the merge.
            video = c.api.submit(video_body(source["id"], target["id"], 0.8))
            image = c.api.submit(c.api.swap_body(source["id"], photo["id"]))
            time.sleep(1)
            self.assertEqual(c.api.job(image["job_id"])["status"], "pending", "the API node claims nothing")
            c.worker("--workers", "1")
            c.worker("--workers", "1")
            done_video = c.api.wait(video["job_id"], timeout=300)
            done_image = c.api.wait(image["job_id"], timeout=120)
            self.assertEqual(done_image["status"], "completed", done_image)
            self.assertEqual(done_video["status"], "completed", done_video)
            self.assertEqual(done_video["input_summary"]["chunks"], 3, "chunk length by time: 3 × 0.8 s")
            ran = [w for w in c.workers if any(line.get("msg") == "task done" for line in w.log_lines())]
            self.assertEqual(len(ran), 2, "both workers ran tasks")
            out = c.download(done_video, "video.mp4")
            self.assertEqual(h.frame_hashes(out), h.frame_hashes(reference_video(c.server.data_dir, FRAMES, 20)))
            # Scratch space of finished jobs is gone from every worker.
            scratch = [os.path.join(c.server.data_dir, "tmp", d) for d in os.listdir(os.path.join(c.server.data_dir, "tmp"))
                       if d.startswith("worker-")]
            h.wait_for(lambda: all(not os.listdir(d) for d in scratch), timeout=10)

    def test_kill_9_worker_mid_chunk_the_chunk_reruns_on_another_worker(self):
        with Cluster() as c:
            # 1.2 s = 30-frame chunks: 2 chunks.
            job = c.submit_video(1.2)
            doomed = c.worker("--lease-seconds", "2")
            c.wait_frames(job)
            doomed.kill()
            tasks = tasks_of(c.server.data_dir, job["job_id"])
            self.assertIn("leased", [t[2] for t in tasks], tasks)
            c.worker("--lease-seconds", "2")
            done = c.api.wait(job["job_id"], timeout=300)
            self.assertEqual(done["status"], "completed", done)
            tasks = tasks_of(c.server.data_dir, job["job_id"])
            chunks = [t for t in tasks if t[0] == "chunk"]
            self.assertEqual([t[1] for t in chunks], [0, 1], "one task per chunk, no duplicates")
            self.assertTrue(any(t[3] == 2 for t in chunks), f"the interrupted chunk ran once more: {tasks}")
            self.assertTrue(all(t[2] == "done" for t in tasks), tasks)
            out = c.download(done, "after-kill.mp4")
            self.assertEqual(h.frame_hashes(out), h.frame_hashes(reference_video(c.server.data_dir, FRAMES, 30)))

    def test_sigterm_releases_the_chunk_within_grace_or_finishes_it(self):
        with Cluster() as c:
            # Grace 0: the running chunk is given back at its next frame, the attempt not counted.
            job = c.submit_video(10, frames=68)
            w = c.worker("--grace-seconds", "0")
            c.wait_frames(job)
            started = time.time()
            w.process.send_signal(signal.SIGTERM)
            self.assertEqual(w.wait(timeout=30), 0)
            self.assertLess(time.time() - started, 10, "released at the next frame")
            self.assertEqual([(t[2], t[3]) for t in tasks_of(c.server.data_dir, job["job_id"]) if t[0] == "chunk"],
                             [("pending", 0)], "the lease was given back and the attempt not counted")
            # A worker has no /metrics: the interruption is in its log.
            stopped = [line for line in w.log_lines() if line.get("msg") == "stopped"][0]
            self.assertEqual(stopped["interruptions"], {"lease_expired": 0, "released": 1}, stopped)
            # Grace 120: the chunk finishes, is committed, then the worker exits 0.
            w = c.worker("--grace-seconds", "120")
            c.wait_frames(job)
            w.process.send_signal(signal.SIGTERM)
            self.assertEqual(w.wait(timeout=180), 0)
            chunk = [t for t in tasks_of(c.server.data_dir, job["job_id"]) if t[0] == "chunk"]
            self.assertEqual([(t[2], t[3]) for t in chunk], [("done", 1)], "finished within the grace period")
            # A fresh worker merges it.
            c.worker()
            self.assertEqual(c.api.wait(job["job_id"], timeout=120)["status"], "completed")


class WorkerStoreItemsSlow(h.unittest.TestCase):
    def test_priority_decides_the_claim_order(self):
        with Cluster() as c:
            source = c.api.upload(h.SOURCE_FACE)
            photo = c.api.upload(h.TARGET_PHOTO)
            jobs = {}
            for n, priority in enumerate((0, 9, 5)):
                body = c.api.swap_body(source["id"], photo["id"], priority=priority,
                                       options={"face_swapper_blend": 0.5 + n / 100})
                jobs[priority] = c.api.submit(body)["job_id"]
            self.assertEqual(c.api.job(jobs[9])["priority"], 9)
            r = c.api.post("/api/v1/jobs", json=c.api.swap_body(source["id"], photo["id"], priority=10))
            self.assertEqual(r.status_code, 400, r.text)
            self.assertIn("priority", h.error_of(r)[1])
            w = c.worker("--workers", "1", "--max-tasks", "3")
            self.assertEqual(w.wait(timeout=180), 0)
            done = {p: c.api.job(j) for p, j in jobs.items()}
            self.assertTrue(all(j["status"] == "completed" for j in done.values()), done)
            started = sorted(done, key=lambda p: done[p]["started_at"])
            self.assertEqual(started, [9, 5, 0], "higher priority first, whatever the submit order")
            self.assertEqual(done[0]["attempts"], 1)

    def test_a_task_without_frame_progress_fails_the_job_as_stalled(self):
        with Cluster() as c:
            job = c.submit_video(10, frames=68)
            hung = c.worker("--lease-seconds", "120")
            c.wait_frames(job)
            # Frozen mid-chunk: its lease stays current for 120 s, its frames stop.
            hung.process.send_signal(signal.SIGSTOP)
            try:
                started = time.time()
                c.worker("--task-stall-seconds", "3")
                failed = c.api.wait(job["job_id"], timeout=60)
                self.assertEqual(failed["status"], "failed", failed)
                self.assertEqual(failed["error"]["error"], "stalled", failed)
                self.assertIn("no frame progress", failed["error"]["message"])
                self.assertLess(time.time() - started, 30, "well before the lease would expire")
            finally:
                hung.process.send_signal(signal.SIGCONT)
            # The frozen worker learns at its next heartbeat that the job ended and drops its chunk.
            h.wait_for(lambda: any(line.get("msg") == "task ended" for line in hung.log_lines()), timeout=60)
            self.assertEqual(c.api.job(job["job_id"])["status"], "failed")
            tasks = tasks_of(c.server.data_dir, job["job_id"])
            self.assertEqual([t[2] for t in tasks], ["failed", "cancelled"], tasks)

    def test_interruptions_are_counted_on_metrics(self):
        with Cluster() as c:
            job = c.submit_video(10, frames=68)
            doomed = c.worker("--lease-seconds", "2")
            c.wait_frames(job)
            doomed.kill()
            key = c.server.admin_key
            c.server.stop()
            # The same data directory behind a serve with its own worker: it takes the dead lease over.
            node = h.Server("--workers", "1", "--lease-seconds", "2", data_dir=c.server.data_dir)
            try:
                node.start()
                api = node.client(key)
                done = api.wait(job["job_id"], timeout=300)
                self.assertEqual(done["status"], "completed", done)
                self.assertEqual(done["attempts"], 3, "chunk twice + merge once")
                metrics = requests.get(node.url + "/metrics", timeout=10).text
                self.assertIn('facefuse_task_interruptions_total{reason="lease_expired"} 1', metrics)
                self.assertIn('facefuse_task_interruptions_total{reason="released"} 0', metrics)
            finally:
                node.stop()


class WorkerExit(h.unittest.TestCase):
    def test_max_tasks_and_idle_exit_end_the_worker_with_code_0(self):
        with Cluster() as c:
            source = c.api.upload(h.SOURCE_FACE)
            photo = c.api.upload(h.TARGET_PHOTO)
            first = c.api.submit(c.api.swap_body(source["id"], photo["id"]))
            second = c.api.submit(c.api.swap_body(source["id"], photo["id"], options={"face_swapper_blend": 0.5}))
            w = c.worker("--max-tasks", "1", "--workers", "2")
            self.assertEqual(w.wait(timeout=120), 0)
            states = sorted(c.api.job(j["job_id"])["status"] for j in (first, second))
            self.assertEqual(states, ["completed", "pending"], "exactly one task run")
            idle = c.worker("--idle-exit-seconds", "1")
            self.assertEqual(idle.wait(timeout=120), 0, "the pending job ran, then the worker idled out")
            self.assertEqual(c.api.job(second["job_id"])["status"], "completed")
            stopped = [line for line in idle.log_lines() if line.get("msg") == "stopped"]
            self.assertEqual(stopped[0]["reason"], "idle", stopped)

    def test_metrics_listen_serves_metrics_health_and_readiness(self):
        with Cluster() as c:
            w = c.worker("--metrics-listen", "127.0.0.1:0")
            url = [line["url"] for line in w.log_lines() if line.get("msg") == "metrics listener"][0]
            base = url[:-len("/metrics")]
            health = requests.get(base + "/healthz", timeout=10).json()
            self.assertEqual((health["role"], health["workers"], health["model_loaded"]), ("worker", 1, False), health)
            ready = requests.get(base + "/readyz", timeout=10)
            self.assertEqual(ready.status_code, 200, ready.text)
            self.assertEqual(ready.json()["checks"]["job_store"], "ok")
            source = c.api.upload(h.SOURCE_FACE)
            photo = c.api.upload(h.TARGET_PHOTO)
            job = c.api.submit(c.api.swap_body(source["id"], photo["id"]))
            self.assertEqual(c.api.wait(job["job_id"], timeout=120)["status"], "completed")
            # The task's outcome is counted just after the job turns completed.
            h.wait_for(lambda: requests.get(base + "/healthz", timeout=10).json()["tasks_ended"] == 1, timeout=10)
            health = requests.get(base + "/healthz", timeout=10).json()
            self.assertTrue(health["model_loaded"], health)
            self.assertGreater(health["last_inference_ms"], 0, health)
            scrape = requests.get(url, timeout=10)
            self.assertEqual(scrape.status_code, 200)
            self.assertTrue(scrape.headers["Content-Type"].startswith("text/plain"))
            check = subprocess.run(["promtool", "check", "metrics"], input=scrape.text, capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            self.assertRegex(scrape.text, r"\nworkers 1(\.0+)?\n")
            self.assertRegex(scrape.text, r"\nqueue_depth 0(\.0+)?\n")
            self.assertRegex(scrape.text, r"\njob_processing_seconds_count 1\n")
            self.assertIn('facefuse_task_interruptions_total{reason="lease_expired"} 0', scrape.text)
            missing = requests.get(base + "/api/v1/jobs", timeout=10)
            self.assertEqual(missing.status_code, 404)
            self.assertEqual(h.error_of(missing)[0], "not_found")
            w.process.send_signal(signal.SIGTERM)
            self.assertEqual(w.wait(timeout=60), 0)
        with h.tempfile.TemporaryDirectory(prefix="facefuse-worker-test-") as data:
            r = subprocess.run([h.BINARY, "worker", "--data", data, "--metrics-listen", "nowhere:x"],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--metrics-listen", r.stderr)

    def test_bad_flags_exit_2_with_a_message(self):
        for args, mention in ((["--workers", "0"], "--workers"), (["--max-tasks", "-1"], "--max-tasks"),
                              (["--task-stall-seconds", "-1"], "--task-stall-seconds")):
            with self.subTest(args=args):
                data = h.tempfile.mkdtemp(prefix="facefuse-worker-test-")
                try:
                    r = subprocess.run([h.BINARY, "worker", "--data", data] + args, capture_output=True, text=True,
                                       timeout=30)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn(mention, r.stderr)
                finally:
                    h.shutil.rmtree(data, ignore_errors=True)
        r = subprocess.run([h.BINARY, "worker", "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        for flag in ("--data", "--storage", "--max-tasks", "--idle-exit-seconds", "--device-id", "--grace-seconds",
                     "--task-stall-seconds", "--workers"):
            self.assertIn(flag, r.stdout)


if __name__ == "__main__":
    h.main()
