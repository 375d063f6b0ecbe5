"""The cluster test of issue 12: a private PostgreSQL 15 (postgres_server.py) + the S3 test server
(s3rver, support/s3_server.py) + 2 API nodes (`serve --workers 0`) + 3 `facefuse worker` processes,
all on loopback, each process with its own data directory (nothing shared but the database and the
bucket).

20 jobs (18 images and 2 chunked videos) are submitted alternately to the two nodes; each job's
progress is followed over a WebSocket on the *other* node. While they run: a worker is killed with
-9 while it holds a chunk with frames done, PostgreSQL is restarted (both nodes answer /ready 503
while it is down and 200 again by themselves), another worker is killed -9 mid-chunk, and another
is stopped with SIGTERM while it holds a task (it must exit 0). Every killed or stopped worker is
replaced, so 3 run throughout.

Then: every job completed; each video's frames are identical (per-frame MD5) to a single-node
`facefuse run` of the same job; no task was committed twice (a trigger the test installs in the
store records every transition of a task to `done`); each job's events, as the other node's
WebSocket delivered them, run 1, 2, 3, ... without gap or duplicate and end with `completed`.

Kept short for CI: 45- and 30-frame videos in 15-frame chunks (0.6 s), 2-second leases.
"""
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

import requests
import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import service_harness as h  # noqa: E402
from postgres_server import PostgresServer, lease_owner_pid  # noqa: E402
from s3_server import S3Server  # noqa: E402
from test_worker_processes import Worker, reference_video  # noqa: E402

BUCKET = "facefuse-cluster"
FPS = 25  # talking_head_640x480.mp4
CHUNK_SECONDS = 0.6  # 15 frames
VIDEO_FRAMES = (45, 30)  # 3 + 2 chunks
IMAGES = 18
LEASE_SECONDS = "2"  # a killed worker's chunk is claimable again 2 s later

class EventFollower:
    """Follows each job's WebSocket (/ws/job/{id}/progress) on a given node until its terminal event,
    on one asyncio loop in a thread. A closed socket is resumed with since=<last seq> (what a client
    does); the seqs received are kept as received, so a gap or a duplicate shows."""

    def __init__(self):
        self.events = {}  # job_id -> [event, ...]
        self.resumes = {}  # job_id -> how many times the socket was opened again
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.futures = []

    def follow(self, server, key, job_id):
        self.events[job_id] = []
        self.resumes[job_id] = 0
        self.futures.append(asyncio.run_coroutine_threadsafe(self._follow(server.port, key, job_id), self.loop))

    async def _follow(self, port, key, job_id):
        events = self.events[job_id]
        while True:
            since = events[-1]["seq"] if events else 0
            url = f"ws://127.0.0.1:{port}/ws/job/{job_id}/progress?since={since}"
            try:
                async with websockets.connect(url, extra_headers={"Authorization": f"Bearer {key}"},
                                              open_timeout=10) as ws:
                    async for message in ws:
                        events.append(json.loads(message))
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                pass
            if events and events[-1].get("type") == "state" and events[-1]["status"] in h.TERMINAL:
                return
            self.resumes[job_id] += 1
            await asyncio.sleep(0.2)

    def wait(self, timeout):
        deadline = time.time() + timeout
        for f in self.futures:
            f.result(timeout=max(1, deadline - time.time()))

    def close(self):
        for f in self.futures:
            f.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class ClusterSlow(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="facefuse-cluster-")
        self.addCleanup(shutil.rmtree, self.base, True)
        self.pg = PostgresServer()
        self.addCleanup(self.pg.cleanup)
        self.pg.start()
        self.uri = self.pg.create_database("cluster")
        self.s3 = S3Server([BUCKET])
        self.addCleanup(self.s3.cleanup)
        self.s3.start()
        self.shared_args = ["--store", self.uri, "--storage", f"s3://{BUCKET}/cluster", "--s3-endpoint",
                            self.s3.endpoint, "--s3-addressing", "path"]
        self.nodes = []
        for _ in range(2):
            node = h.Server("--workers", "0", *self.shared_args, env=self.s3.env())
            self.addCleanup(node.cleanup)
            node.start()
            self.nodes.append(node)
        self.key = self.nodes[0].admin_key
        self.apis = [n.client(self.key) for n in self.nodes]
        self.pg.audit_task_commits("cluster")
        self.workers = []
        self.addCleanup(self.stop_workers)

    def stop_workers(self):
        for w in self.workers:
            w.stop()

    def start_worker(self):
        data = tempfile.mkdtemp(prefix="worker-", dir=self.base)
        w = Worker(data, *self.shared_args, "--workers", "1", "--lease-seconds", LEASE_SECONDS, env=self.s3.env())
        self.workers.append(w)
        return w.start()

    def live_workers(self):
        return [w for w in self.workers if w.process.poll() is None]

    def sql(self, query):
        return self.pg.query("cluster", query)

    def holding(self, where):
        """(the live worker, the task id) of an unexpired lease on a task matching `where`, else None."""
        rows = self.sql(f"SELECT id, lease_owner FROM tasks WHERE state = 'leased' AND lease_expires_at > ff_now_ms() "
                        f"AND {where} ORDER BY id")
        by_pid = {str(w.process.pid): w for w in self.live_workers()}
        for task_id, owner in rows:
            pid = lease_owner_pid(owner)
            if pid in by_pid:
                return by_pid[pid], task_id
        return None

    def holder(self, where):
        """The live worker holding an unexpired lease on a task matching `where`, else None."""
        found = self.holding(where)
        return found[0] if found else None

    def kill_mid_task(self, kinds, spared=()):
        """kill -9 of a worker holding a task of `kinds` with frames done (a chunk mid-way; an image task
        has no frame count, any lease will do), the task not one of `spared` (ids); a new worker
        replaces it. Returns (pid, task id). A task whose lease runs out three times fails its job as
        `crashed_worker` (the crash-loop cap), so no task takes both kills."""
        spared_sql = ",".join(str(t) for t in spared) or "0"
        kinds_sql = ",".join(f"'{k}'" for k in kinds)
        doomed, task_id = h.wait_for(
            lambda: self.holding(f"kind IN ({kinds_sql}) AND (frames_done > 0 OR kind <> 'chunk') "
                                 f"AND id NOT IN ({spared_sql})"), timeout=120, interval=0.05)
        doomed.kill()
        self.start_worker()
        return doomed.process.pid, task_id

    def submit_all(self):
        """20 jobs alternately on node 0 and node 1: the two videos first, then 18 images (distinct
        blend values, so no job is a cache hit of another). Returns [(job_id, node index)]."""
        api = self.apis[0]
        source = api.upload(h.SOURCE_FACE)
        video = api.upload(h.TARGET_VIDEO)
        photo = self.apis[1].upload(h.TARGET_PHOTO)
        bodies = [{"source": {"upload_id": source["id"]},
                   "target": {"upload_id": video["id"], "frame_range": [0, frames]},
                   "output": {"format": "mp4", "chunk_seconds": CHUNK_SECONDS}} for frames in VIDEO_FRAMES]
        bodies += [api.swap_body(source["id"], photo["id"], options={"face_swapper_blend": 0.5 + n / 100})
                   for n in range(IMAGES)]
        jobs = []
        for n, body in enumerate(bodies):
            jobs.append((self.apis[n % 2].submit(body)["job_id"], n % 2))
        return jobs

    def test_two_api_nodes_three_workers_kills_drain_and_database_restart(self):
        started = time.time()
        for _ in range(3):
            self.start_worker()
        follower = EventFollower()
        self.addCleanup(follower.close)
        jobs = self.submit_all()
        for job_id, node in jobs:
            other = self.nodes[1 - node]
            follower.follow(other, self.key, job_id)

        # The faults, in an order that keeps work in flight for each of them (the videos' chunks are
        # claimed first, the 18 images after them): kill -9 mid-task twice (the first mid-chunk; two different
        # tasks, so none nears the crash-loop cap; leases lost to the restart do not count toward it), restart
        # PostgreSQL, SIGTERM a worker holding a task. Each stopped worker is replaced.
        first_pid, first_task = self.kill_mid_task(["chunk"])
        # The second: another chunk, or an image task if the other chunks' short mid-way windows have
        # passed (15-frame chunks last about a second on an idle machine).
        second_pid, second_task = self.kill_mid_task(["chunk", "image"], spared=[first_task])
        killed = [first_pid, second_pid]

        # PostgreSQL restarts once, while work is in flight.
        h.wait_for(lambda: self.holder("TRUE"), timeout=120, interval=0.05)
        self.pg.stop()
        for api in self.apis:
            r = api.get("/ready")
            self.assertEqual(r.status_code, 503, r.text)
            self.assertNotEqual(r.json()["checks"]["job_store"], "ok", r.text)
        time.sleep(1)
        self.pg.start()
        for api in self.apis:
            h.wait_for(lambda: api.get("/ready").status_code == 200, timeout=30)

        # SIGTERM another worker while it holds a task: it finishes (or releases) it and exits 0.
        drained = h.wait_for(lambda: self.holder("TRUE"), timeout=120, interval=0.05)
        self.assertNotIn(drained.process.pid, killed)
        drained.process.send_signal(signal.SIGTERM)
        self.assertEqual(drained.wait(timeout=90), 0, drained.read_log()[-2000:])
        self.start_worker()

        # Every job completes.
        done = {job_id: self.apis[node].wait(job_id, timeout=600) for job_id, node in jobs}
        for job_id, job in done.items():
            self.assertEqual(job["status"], "completed", job)
        follower.wait(timeout=60)
        elapsed = time.time() - started

        # Videos: frame-identical to a single-node `facefuse run` of the same job.
        for (job_id, _), frames in zip(jobs, VIDEO_FRAMES):
            job = done[job_id]
            self.assertEqual(job["input_summary"]["chunks"], -(-frames // 15), job)
            out = os.path.join(self.base, f"{job_id}.mp4")
            r = requests.get(job["output_url"], timeout=60)  # a presigned S3 GET
            self.assertEqual(r.status_code, 200, r.text[:300])
            with open(out, "wb") as f:
                f.write(r.content)
            self.assertEqual(h.frame_hashes(out), h.frame_hashes(reference_video(self.base, frames, 15)), job_id)

        # The store: one row per planned task, all done, each committed exactly once.
        tasks = self.sql("SELECT id, job_id, kind, chunk_index, state, attempts FROM tasks ORDER BY id")
        self.assertEqual(sum(1 for t in tasks if t[2] in ("chunk", "merge")), 3 + 1 + 2 + 1)
        self.assertEqual(sum(1 for t in tasks if t[2] == "image"), IMAGES)
        self.assertTrue(all(t[4] == "done" for t in tasks), [t for t in tasks if t[4] != "done"])
        keys = [(t[1], t[2], t[3]) for t in tasks]
        self.assertEqual(len(keys), len(set(keys)), "one task per chunk of a job")
        commits = self.sql("SELECT task_id, COUNT(*) FROM task_commits GROUP BY task_id")
        self.assertEqual(sorted(int(c[0]) for c in commits), sorted(int(t[0]) for t in tasks))
        self.assertEqual([c for c in commits if c[1] != "1"], [], "no task committed twice")
        # The kills cost re-runs: a killed task was claimed again once its lease expired (the
        # database restart expires other leases too, so the killed tasks are looked for by id; one
        # of the two may have finished between the query and the kill). Some task took more than one
        # attempt — unless its lease was last renewed before the database restarted: such a lease is
        # handed on without counting an attempt (jobs/postgres_job_store.cpp), and on a fast machine
        # both kills and the restart fall within one lease (LEASE_SECONDS), so every re-run can be one.
        logs = [line for w in self.workers for line in w.log_lines()]
        interrupted = [line for line in logs if line.get("msg") == "task interrupted"]
        self.assertTrue(any(line["reason"] == "lease_expired" for line in interrupted), interrupted)
        rerun = {int(line["task_id"]) for line in interrupted if line["reason"] == "lease_expired"}
        self.assertTrue(rerun & {int(first_task), int(second_task)}, (first_task, second_task, interrupted))
        uncounted = [line for line in logs if line.get("msg") == "lease lost to a database restart: attempt not counted"]
        self.assertTrue(any(int(t[5]) > 1 for t in tasks) or uncounted, tasks)

        # Events, as the other node's WebSocket delivered them: 1, 2, 3, ... and `completed` last.
        for job_id, _ in jobs:
            seqs = [e["seq"] for e in follower.events[job_id]]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), f"{job_id}: gap or duplicate")
            self.assertEqual(follower.events[job_id][-1]["status"], "completed")
            stored = self.sql(f"SELECT COUNT(*), MAX(seq) FROM job_events WHERE job_id = '{job_id}'")[0]
            self.assertEqual([int(stored[0]), int(stored[1])], [len(seqs), len(seqs)], job_id)
        print(f"\ncluster: 20 jobs in {elapsed:.1f} s, {len(self.workers)} worker processes, "
              f"{sum(follower.resumes.values())} WebSocket resumes, "
              f"{sum(int(t[5]) for t in tasks) - len(tasks)} extra attempts", file=sys.stderr)


if __name__ == "__main__":
    h.main()
