"""deploy/bluegreen/bluegreen.sh with Debian's nginx on loopback (issue 14). Blue and green are two
`facefuse serve` processes of this build.

BlueGreen: each colour on its own data directory (no shared jobs). A fixed-rate GET load runs through
nginx across a switch to green, a rollback to blue, and a deploy whose smoke job fails: zero failed
requests, the answering upstream changes exactly as the script says, the failed deploy leaves blue
active and stops the new node. A control switch to a dead upstream must make the load checker see
failures (the zero above is not vacuous).

BlueGreenSharedStore: both colours on one PostgreSQL (postgres_server.py) + one S3 bucket (s3rver).
Fixed-rate GETs and job submits (each with an Idempotency-Key, retried once on a reset connection)
run through nginx across two switches and one rollback: zero failed requests, every submitted job
completes, each exactly once (one job per key, one commit per task, recorded by a trigger), and
the tasks were committed by more than one colour (jobs running on the drained colour finished).

Environment (tests/CMakeLists.txt): FACEFUSE_BINARY, FACEFUSE_SOURCE_DIR, FACEFUSE_TESTDATA.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from postgres_server import PostgresServer, lease_owner_pid  # noqa: E402
from s3_server import S3Server  # noqa: E402
from service_harness import BINARY, SOURCE_FACE, TARGET_PHOTO, free_port, new_api_key  # noqa: E402

SOURCE_DIR = os.environ["FACEFUSE_SOURCE_DIR"]
SCRIPT = os.path.join(SOURCE_DIR, "deploy", "bluegreen", "bluegreen.sh")
GET_RATE = 40  # requests per second through nginx


class Load(threading.Thread):
    """GET /healthz through nginx at a fixed rate; counts failures and which upstream answered."""

    def __init__(self, url, timeout=5):
        super().__init__(daemon=True)
        self.url = url
        self.timeout = timeout  # s; a slower answer counts as a failure
        self.stop_event = threading.Event()
        self.ok = 0
        self.retried = 0  # connection-level retries (see get)
        self.failures = []
        self.upstreams = []  # (time, upstream) whenever it changes

    def get(self, session):
        """One GET as a browser does it: keep-alive, and one immediate retry of an idempotent request
        whose reused connection the server closed (RFC 9112 9.3.1). An nginx reload closes idle
        keep-alive connections of its old workers; a request sent at that instant meets a reset.
        Status codes (a 502 from a dead upstream) are never retried."""
        try:
            return session.get(self.url + "/healthz", timeout=self.timeout)
        except requests.ConnectionError:
            self.retried += 1
            return session.get(self.url + "/healthz", timeout=self.timeout)

    def run(self):
        session = requests.Session()
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            try:
                r = self.get(session)
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code} from {r.headers.get('X-Facefuse-Upstream')}")
                else:
                    self.ok += 1
                    upstream = r.headers.get("X-Facefuse-Upstream")
                    if not self.upstreams or self.upstreams[-1][1] != upstream:
                        self.upstreams.append((time.monotonic(), upstream))
            except requests.RequestException as error:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {error!r}")
            next_at += 1.0 / GET_RATE
            time.sleep(max(0.0, next_at - time.monotonic()))
        session.close()

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)


class BlueGreenHarness(unittest.TestCase):
    """nginx from bluegreen.sh init on a free port; script() runs bluegreen.sh on its state."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="facefuse-bluegreen-test-")
        self.state = os.path.join(self.tmp, "state")
        self.listen = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.listen}"
        self.env = dict(os.environ, FACEFUSE_SMOKE_SOURCE=SOURCE_FACE, FACEFUSE_SMOKE_TARGET=TARGET_PHOTO,
                        FACEFUSE_SMOKE_KEY="", READY_TIMEOUT="60", SMOKE_TIMEOUT="120", DRAIN_TIMEOUT="60")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.addCleanup(self.script, "stop")
        self.assertEqual(self.script("init", "--listen", self.listen).returncode, 0)

    def script(self, *args, env=None):
        r = subprocess.run([SCRIPT, "--state", self.state, *args], env=env or self.env, capture_output=True,
                           text=True, timeout=600)
        print(r.stderr, file=sys.stderr)
        return r

    def node(self, name):
        """The `facefuse serve` command of one colour (own data directory: no shared store)."""
        return ["--", BINARY, "serve", "--data", os.path.join(self.tmp, name), "--workers", "1", "--no-auth",
                "--grace-seconds", "20", "--rate-limit", "1000", "--rate-burst", "1000",
                "--ip-rate-limit", "1000", "--ip-rate-burst", "1000"]

    def upstream_now(self):
        return requests.get(self.url + "/healthz", timeout=5).headers["X-Facefuse-Upstream"]


class BlueGreen(BlueGreenHarness):
    def test_switch_rollback_and_failed_smoke_without_failed_requests(self):
        blue_port, green_port, bad_port = free_port(), free_port(), free_port()
        self.assertEqual(self.script("deploy", "--port", str(blue_port), *self.node("blue")).returncode, 0)
        self.assertEqual(self.upstream_now(), f"127.0.0.1:{blue_port}")

        load = Load(self.url)
        load.start()
        try:
            time.sleep(1)
            # Switch to green, keeping blue idle for an instant rollback.
            r = self.script("deploy", "--port", str(green_port), "--keep-old", *self.node("green"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.upstream_now(), f"127.0.0.1:{green_port}")
            time.sleep(1)
            r = self.script("rollback")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.upstream_now(), f"127.0.0.1:{blue_port}")
            self.assertIn("green: stopped", self.script("status").stdout)  # green drained and gone
            time.sleep(1)
            # A release whose smoke job fails (a source photo without a face): rolled back.
            blank = os.path.join(self.tmp, "blank.png")
            subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "color=gray:s=320x240",
                            "-frames:v", "1", blank], check=True)
            r = self.script("deploy", "--port", str(bad_port), *self.node("bad"),
                            env=dict(self.env, FACEFUSE_SMOKE_SOURCE=blank))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("rolled back", r.stderr)
            self.assertEqual(self.upstream_now(), f"127.0.0.1:{blue_port}")
            with self.assertRaises(requests.RequestException):
                requests.get(f"http://127.0.0.1:{bad_port}/healthz", timeout=2)  # the failed node is stopped
            time.sleep(1)
        finally:
            load.stop()
        self.assertEqual(load.failures, [], f"{len(load.failures)} failed GETs of {load.ok + len(load.failures)}")
        self.assertGreater(load.ok, GET_RATE * 3)
        answered = [u for _, u in load.upstreams]
        self.assertEqual(answered, [f"127.0.0.1:{blue_port}", f"127.0.0.1:{green_port}", f"127.0.0.1:{blue_port}"])
        print(f"{load.ok} GETs through nginx across switch, rollback and a failed deploy: 0 failed "
              f"({load.retried} retried once on a closed keep-alive connection)", file=sys.stderr)
        self.assertLessEqual(load.retried, 3 * 4)  # at most a few per reload (3 reloads), never a pattern

    def test_control_a_switch_to_a_dead_upstream_is_seen(self):
        blue_port = free_port()
        self.assertEqual(self.script("deploy", "--port", str(blue_port), *self.node("blue")).returncode, 0)
        load = Load(self.url)
        load.start()
        try:
            time.sleep(0.5)
            # What a broken switch would do: point nginx at a port nothing listens on.
            with open(os.path.join(self.state, "active.conf"), "w") as f:
                f.write(f"server 127.0.0.1:{free_port()};\n")
            subprocess.run(["nginx", "-s", "reload", "-c", os.path.join(self.state, "nginx.conf")], check=True)
            time.sleep(1.5)
        finally:
            load.stop()
        self.assertTrue(load.failures, "the load checker saw no failure behind a dead upstream")


class Submits(threading.Thread):
    """POST /api/v1/jobs through nginx at a fixed rate, each with its own Idempotency-Key: a submit
    whose connection was reset is sent again once with the same key (it cannot create a second job).
    Every answer must be 201 (or 200: the replay of a job the first attempt created)."""

    def __init__(self, url, body_for, rate, key):
        super().__init__(daemon=True)
        self.url, self.body_for, self.rate, self.key = url, body_for, rate, key
        self.stop_event = threading.Event()
        self.jobs = {}  # idempotency key -> job id
        self.retried = 0
        self.failures = []

    def submit(self, session, n):
        key = f"bg-{n}"
        for attempt in (0, 1):
            try:
                r = session.post(self.url + "/api/v1/jobs", json=self.body_for(n), headers={"Idempotency-Key": key},
                                 timeout=30)
                break
            except requests.ConnectionError:
                if attempt:
                    raise
                self.retried += 1
        if r.status_code not in (200, 201):
            self.failures.append(f"{r.status_code} {r.text[:200]} from {r.headers.get('X-Facefuse-Upstream')}")
        else:
            self.jobs[key] = r.json()["job_id"]

    def run(self):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.key}"
        next_at, n = time.monotonic(), 0
        while not self.stop_event.is_set():
            try:
                self.submit(session, n)
            except requests.RequestException as error:
                self.failures.append(f"{time.strftime('%H:%M:%S')} {error!r}")
            n += 1
            next_at += 1.0 / self.rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        session.close()

    def stop(self):
        self.stop_event.set()
        self.join(timeout=30)


class BlueGreenSharedStore(BlueGreenHarness):
    SUBMIT_RATE = 1.5  # jobs per second through nginx

    def setUp(self):
        self.pg = PostgresServer()
        self.addCleanup(self.pg.cleanup)
        self.pg.start()
        self.store = self.pg.create_database("bluegreen")
        self.s3 = S3Server(["facefuse-bluegreen"])
        self.addCleanup(self.s3.cleanup)
        self.s3.start()
        super().setUp()
        # Behind a proxy the nodes need keys (--no-auth accepts writes only for its own Host): every
        # colour registers the same admin key from the environment, the smoke job uses it too.
        self.key = new_api_key()
        self.env.update(self.s3.env(), FACEFUSE_ADMIN_KEY=self.key, FACEFUSE_SMOKE_KEY=self.key)

    def node(self, name):
        """One colour on the shared store and bucket (its own data directory: temp space only)."""
        return [a for a in super().node(name) if a != "--no-auth"] + [
            "--store", self.store, "--storage", "s3://facefuse-bluegreen/bg", "--s3-endpoint", self.s3.endpoint,
            "--s3-addressing", "path"]

    def get(self, path):
        return requests.get(self.url + path, headers={"Authorization": f"Bearer {self.key}"}, timeout=10)

    def pid_of(self, colour):
        with open(os.path.join(self.state, f"{colour}.pid")) as f:
            return f.read().strip()

    def test_jobs_submitted_across_two_switches_and_a_rollback_complete_exactly_once(self):
        ports = [free_port() for _ in range(3)]
        self.assertEqual(self.script("deploy", "--port", str(ports[0]), *self.node("blue")).returncode, 0)
        self.pg.audit_task_commits("bluegreen")
        pids = {self.pid_of("blue")}
        uploads = []
        for path in (SOURCE_FACE, TARGET_PHOTO):
            with open(path, "rb") as f:
                r = requests.post(self.url + "/api/v1/upload", files={"file": (os.path.basename(path), f)},
                                  headers={"Authorization": f"Bearer {self.key}"}, timeout=30)
            self.assertEqual(r.status_code, 201, r.text)
            uploads.append(r.json()["id"])

        def body(n):  # distinct options: no job is a cache hit of another
            return {"source": {"upload_id": uploads[0]}, "target": {"upload_id": uploads[1]},
                    "options": {"face_swapper_blend": round(0.3 + (n % 500) / 1000, 3)}}

        # This test is about errors across the switches, not latency: on the loaded 2-core CI machine,
        # with image jobs running on both colours, a /healthz once took more than 5 s to answer.
        gets, submits = Load(self.url, timeout=15), Submits(self.url, body, self.SUBMIT_RATE, self.key)
        gets.start()
        submits.start()
        try:
            time.sleep(2)
            # Switch 1: green; blue drains (SIGTERM: running tasks finish, queued ones stay for green).
            r = self.script("deploy", "--port", str(ports[1]), *self.node("green"))
            self.assertEqual(r.returncode, 0, r.stderr)
            pids.add(self.pid_of("green"))
            time.sleep(2)
            # Switch 2: blue again (the next release), green kept for an instant rollback.
            r = self.script("deploy", "--port", str(ports[2]), "--keep-old", *self.node("blue"))
            self.assertEqual(r.returncode, 0, r.stderr)
            pids.add(self.pid_of("blue"))
            time.sleep(2)
            # Rollback: green again; the second blue drains.
            r = self.script("rollback")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.upstream_now(), f"127.0.0.1:{ports[1]}")
            time.sleep(1)
        finally:
            submits.stop()
            gets.stop()
        self.assertEqual(gets.failures, [], f"{len(gets.failures)} failed GETs of {gets.ok + len(gets.failures)}")
        self.assertEqual(submits.failures, [], f"{len(submits.failures)} failed submits of {len(submits.jobs)}")
        self.assertGreater(len(submits.jobs), 8)

        # Every job completes (green, the survivor, runs what is left), each exactly once.
        deadline = time.time() + 300
        pending = set(submits.jobs.values())
        while pending and time.time() < deadline:
            for job_id in list(pending):
                status = self.get(f"/api/v1/jobs/{job_id}").json()["status"]
                self.assertNotIn(status, ("failed", "cancelled"), job_id)
                if status == "completed":
                    pending.discard(job_id)
            time.sleep(0.5)
        self.assertEqual(pending, set(), "jobs that never completed")
        ids = list(submits.jobs.values())
        self.assertEqual(len(ids), len(set(ids)), "one job per Idempotency-Key")
        quoted = ",".join(f"'{j}'" for j in ids)
        tasks = self.pg.query("bluegreen", f"SELECT id, state FROM tasks WHERE job_id IN ({quoted})")
        self.assertEqual(len(tasks), len(ids))
        self.assertTrue(all(state == "done" for _, state in tasks), tasks)
        commits = self.pg.query("bluegreen", "SELECT task_id, owner FROM task_commits WHERE task_id IN "
                                             f"({','.join(t for t, _ in tasks)})")
        self.assertEqual(sorted(t for t, _ in commits), sorted(t for t, _ in tasks), "each task committed once")
        committed_by = {lease_owner_pid(owner) for _, owner in commits}
        self.assertTrue(committed_by <= pids, (committed_by, pids))
        self.assertGreater(len(committed_by), 1, "jobs ran on more than one colour")
        print(f"{len(ids)} jobs submitted through nginx across two switches and a rollback: all completed once, "
              f"committed by {len(committed_by)} nodes; {gets.ok} GETs, 0 failed ({gets.retried} GET and "
              f"{submits.retried} submit retries on a closed keep-alive connection)", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
