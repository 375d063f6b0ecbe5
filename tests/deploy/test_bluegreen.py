"""deploy/bluegreen/bluegreen.sh with Debian's nginx on loopback (issue 14, the parts that do not
need a shared store): blue and green are two `facefuse serve` processes of this build, each on its
own data directory, so they share no jobs (a job accepted by blue and finished by green over
--store postgresql:// --storage s3:// is not covered here). A fixed-rate GET load
runs through nginx across a switch to green, a rollback to blue, and a deploy whose smoke job
fails: zero failed requests, the answering upstream changes exactly as the script says, the
failed deploy leaves blue active and stops the new node. A control switch to a dead upstream
must make the load checker see failures (the zero above is not vacuous).

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
from service_harness import BINARY, SOURCE_FACE, TARGET_PHOTO, free_port  # noqa: E402

SOURCE_DIR = os.environ["FACEFUSE_SOURCE_DIR"]
SCRIPT = os.path.join(SOURCE_DIR, "deploy", "bluegreen", "bluegreen.sh")
GET_RATE = 40  # requests per second through nginx


class Load(threading.Thread):
    """GET /healthz through nginx at a fixed rate; counts failures and which upstream answered."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
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
            return session.get(self.url + "/healthz", timeout=5)
        except requests.ConnectionError:
            self.retried += 1
            return session.get(self.url + "/healthz", timeout=5)

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
                self.failures.append(repr(error))
            next_at += 1.0 / GET_RATE
            time.sleep(max(0.0, next_at - time.monotonic()))
        session.close()

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)


class BlueGreen(unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
