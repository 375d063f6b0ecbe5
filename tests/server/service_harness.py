"""Starts a real `facefuse serve` for end-to-end tests: a free loopback port, a temporary data
directory, the admin key it prints on first run. Clients are real: requests and websockets.

Environment (set by tests/CMakeLists.txt): FACEFUSE_BINARY, FACEFUSE_TESTDATA, FACEFUSE_MODELS_DIR;
FACEFUSE_TEST_TIME_SCALE (the sanitizer test presets, CMakePresets.json) multiplies every client-side
deadline and request timeout here: an instrumented server is 2-5x slower (docs/testing.md). Limits
the server itself enforces are never scaled.
"""
import base64
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import requests

BINARY = os.environ.get("FACEFUSE_BINARY", "build/bin/facefuse")
TESTDATA = os.environ.get("FACEFUSE_TESTDATA", os.path.expanduser("~/.cache/facefuse/testdata"))
PHOTOS = os.path.join(TESTDATA, "photos")
VIDEOS = os.path.join(TESTDATA, "videos")
SOURCE_FACE = os.path.join(PHOTOS, "astronaut.png")
TARGET_PHOTO = os.path.join(PHOTOS, "jesper.jpg")
# 640×480, 25 fps, 68 frames, one real talking head, AAC audio (scripts/make_test_videos).
TARGET_VIDEO = os.path.join(VIDEOS, "talking_head_640x480.mp4")
TERMINAL = {"completed", "failed", "cancelled"}
TIME_SCALE = float(os.environ.get("FACEFUSE_TEST_TIME_SCALE", "1"))


def new_api_key():
    """A well-formed random facefuse key ("ff_" + 52 lowercase base32 characters, 256 bits), e.g. for
    FACEFUSE_ADMIN_KEY when several nodes must register the same one."""
    return "ff_" + base64.b32encode(os.urandom(32)).decode().rstrip("=").lower()


def free_port():
    """A port on 127.0.0.1 that is free now, for a server started next. It is drawn below the
    kernel's ephemeral range (ip_local_port_range, 32768 by default): outgoing connections take
    their local ports from that range, so one of them could take a port probed there (bind to
    port 0) before the server binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10000, max(10001, ephemeral_low))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One facefuse serve process. Use as a context manager or call start()/stop()."""

    def __init__(self, *args, data_dir=None, auth=True, env=None):
        self.args = list(args)
        self.auth = auth
        self.own_data = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="facefuse-serve-test-")
        self.env = dict(os.environ, **(env or {}))
        self.port = None
        self.process = None
        self.admin_key = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, port=None):
        # Without a given port the server binds port 0 and the port is read from its "serving on"
        # line: a port probed free here could be taken (a client's ephemeral port) before the
        # server binds it, which failed an ASan CI run with "Address already in use".
        self.port = port
        command = [BINARY, "serve", "--listen", f"127.0.0.1:{port or 0}", "--data", self.data_dir] + self.args
        # Tests poll; rate limits are only tested where a test sets them (test_bad_inputs.py).
        for flag, burst in (("--rate-limit", "--rate-burst"), ("--ip-rate-limit", "--ip-rate-burst")):
            if flag not in self.args:
                command += [flag, "1000", burst, "1000"]
        if not self.auth:
            command.append("--no-auth")
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, env=self.env, text=True)
        deadline = time.time() + 30 * TIME_SCALE
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"facefuse serve exited with {self.process.wait()}: see {self.log_path}")
            if "admin API key" in line:
                self.admin_key = line.split()[-1]
            if "serving on" in line:
                served = re.search(r"serving on http://127\.0\.0\.1:(\d+)/", line)
                if not served:
                    raise RuntimeError(f"facefuse serve printed no port: {line!r}")
                self.port = int(served.group(1))
                break
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout=20):
        deadline = time.time() + timeout * TIME_SCALE
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become healthy")

    def terminate(self, timeout=60):
        """SIGTERM and wait; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout * TIME_SCALE)
        self._close_pipes()
        return code

    def kill(self):
        self.process.kill()
        self.process.wait()
        self._close_pipes()

    def _close_pipes(self):
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()

    def stop(self):
        if self.process and self.process.poll() is None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self):
        self.stop()
        if self.own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # ------------------------------------------------------------ client helpers
    def client(self, key=None):
        return Client(self.url, key if key is not None else self.admin_key)


class Client:
    def __init__(self, url, key=None):
        self.url = url
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"
        self.key = key

    def get(self, path, **kw):
        return self.session.get(self.url + path, timeout=30 * TIME_SCALE, **kw)

    def post(self, path, **kw):
        return self.session.post(self.url + path, timeout=60 * TIME_SCALE, **kw)

    def delete(self, path, **kw):
        return self.session.delete(self.url + path, timeout=30 * TIME_SCALE, **kw)

    def upload(self, path, name=None):
        with open(path, "rb") as f:
            r = self.post("/api/v1/upload", files={"file": (name or os.path.basename(path), f)})
        assert r.status_code == 201, r.text
        return r.json()

    def submit(self, body, expect=201, headers=None):
        r = self.post("/api/v1/jobs", json=body, headers=headers or {})
        assert r.status_code == expect, f"{r.status_code} {r.text}"
        return r.json()

    def swap_body(self, source_id, target_id, **extra):
        body = {"source": {"upload_id": source_id}, "target": {"upload_id": target_id}}
        for k, v in extra.items():
            body[k] = v
        return body

    def job(self, job_id):
        r = self.get(f"/api/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, job_id, states=TERMINAL, timeout=180):
        timeout *= TIME_SCALE
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.job(job_id)
            if job["status"] in states:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not reach {states} in {timeout} s: {job}")


class ServerTestCase(unittest.TestCase):
    """One server per test class, started with SERVER_ARGS, with the source and target photos
    uploaded as cls.source and cls.target (upload records)."""

    SERVER_ARGS = ("--workers", "1")

    @classmethod
    def setUpClass(cls):
        cls.server = Server(*cls.SERVER_ARGS)
        cls.addClassCleanup(cls.server.cleanup)  # also when set-up fails half-way
        cls.server.start()
        cls.api = cls.server.client()
        cls.source = cls.api.upload(SOURCE_FACE)
        cls.target = cls.api.upload(TARGET_PHOTO)

    def assert_error(self, response, status, code=None, mentions=()):
        """The response is `status` with the {"error", "message"} body, error `code`, and a message
        naming each of `mentions`; returns the message."""
        self.assertEqual(response.status_code, status, response.text)
        error, message = error_of(response)
        if code:
            self.assertEqual(error, code, message)
        for word in mentions:
            self.assertIn(word, message)
        return message


def serve_exit(*args, env=None, timeout=120):
    """(exit code, stderr) of a `facefuse serve` with `args` on a fresh data directory that is
    expected to refuse to start; `env` is added to this process's environment."""
    data = tempfile.mkdtemp(prefix="facefuse-serve-exit-")
    try:
        r = subprocess.run([BINARY, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data", data, *args],
                           capture_output=True, text=True, timeout=timeout * TIME_SCALE,
                           env=dict(os.environ, **(env or {})))
        return r.returncode, r.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)


def stored_path(data_dir, kind, object_id, tenant="default"):
    """Where the file store keeps a tenant's object made today: <data>/storage/<tenant>/<yyyy>/<mm>/<dd>/<kind>/<id>
    (docs/storage.md "Key layout"; kind uploads, outputs or work). "default" is the bootstrap admin
    key's tenant."""
    day = datetime.datetime.now(datetime.timezone.utc)
    return os.path.join(data_dir, "storage", tenant, f"{day:%Y}", f"{day:%m}", f"{day:%d}", kind, object_id)


# 128×92, one face of ~52 px: the classical swapper warns that the source face is small.
SMALL_SOURCE_FACE = os.path.join(PHOTOS, "People-Jim.jpg")


def video_jobs_whole_and_chunked(api_whole, api_chunked, source_path, frames=30, chunk_frames=10):
    """(whole, chunked): the same swap of `source_path` into the first `frames` frames of
    TARGET_VIDEO, once whole (one chunk task and the merge: the default chunk_seconds covers the
    frames; submitted through api_whole) and once in chunks of `chunk_frames` (through
    api_chunked), each waited for until it ended."""
    def body(api, chunked):
        source = api.upload(source_path)
        video = api.upload(TARGET_VIDEO)
        output = {"format": "mp4", **({"chunk_frames": chunk_frames} if chunked else {})}
        return {"source": {"upload_id": source["id"]},
                "target": {"upload_id": video["id"], "frame_range": [0, frames]}, "output": output}
    whole = api_whole.submit(body(api_whole, False))
    chunked = api_chunked.submit(body(api_chunked, True))
    return api_whole.wait(whole["job_id"]), api_chunked.wait(chunked["job_id"])


def warning_kind(text):
    """What a job warning is about (the processors' and the merge's sentences), for comparing the
    warnings of two runs whose figures may differ: the first words up to a figure or a file name."""
    for kind, phrase in (("source_small", "is small ("), ("source_blurred", "is blurred ("),
                         ("source_turned", "is turned "), ("source_tilted", "is tilted "),
                         ("source_eyes_covered", " covered (sunglasses"),
                         ("pose_mismatch", "swapped target face(s) are turned up to"),
                         ("no_face", "no face found"), ("reference_frame", "reference frame")):
        if phrase in text:
            return kind
    return text


def error_of(response):
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["message"], body
    return body["error"], body["message"]


def wait_for(predicate, timeout=120, interval=0.1):
    """The first truthy value of predicate(), polled every `interval` s; AssertionError after `timeout` s."""
    timeout *= TIME_SCALE
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not reached in {timeout} s")


def leftovers(paths, timeout=10):
    """The paths that still exist after up to `timeout` s: workers clean up just after recording a
    job's end, so a client may see the state a moment before the files are gone."""
    deadline = time.time() + timeout * TIME_SCALE
    while any(os.path.exists(p) for p in paths) and time.time() < deadline:
        time.sleep(0.05)
    return [p for p in paths if os.path.exists(p)]


def frame_count(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames", "-of", "json", path], capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout)["streams"][0]["nb_read_frames"])


def frame_hashes(path):
    """The MD5 of each decoded video frame (FFmpeg's framemd5): equal lists, identical frames."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split(",")[-1].strip() for line in out.splitlines() if line and not line.startswith("#")]


def main():
    unittest.main(verbosity=2)
