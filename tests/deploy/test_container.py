"""The container image, built and run for real (issue 14): deploy/container/build_image.sh packages
the tree this build installs (no second compile), podman runs it with --network host on a free
loopback port, a real face swap goes through the API, and the image's promises are checked: the
service runs as a non-root user, the HEALTHCHECK passes, the image carries its labels, and
`podman stop` (SIGTERM) drains a running video job and exits 0 well before podman would SIGKILL.

Environment (tests/CMakeLists.txt): FACEFUSE_BUILD_DIR, FACEFUSE_SOURCE_DIR, FACEFUSE_TESTDATA.
FACEFUSE_CONTAINER_IMAGE (by hand, not in CI): run the same checks on that image instead of packaging
the build tree, e.g. one made by `build_image.sh --from-source` (docs/deploy.md).
Needs root podman (scripts/setup installs it). The image stays in podman's store, so the next
run reuses its layers (docs/deploy.md: cold and warm build times).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))
from service_harness import SOURCE_FACE, TARGET_PHOTO, TARGET_VIDEO, free_port  # noqa: E402

BUILD_DIR = os.environ["FACEFUSE_BUILD_DIR"]
SOURCE_DIR = os.environ["FACEFUSE_SOURCE_DIR"]
CONTAINER_DIR = os.path.join(SOURCE_DIR, "deploy", "container")
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(CONTAINER_DIR, "containers.conf"))
NON_ROOT_UID = 10001  # the image's `facefuse` user (deploy/container/Containerfile)
# podman stop's timeout before SIGKILL: the drain must end well inside it (exit 0, not 137).
STOP_TIMEOUT = 60


def podman(*args, check=True, timeout=120):
    result = subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def media_size(path):
    """(width, height) of an image as ffprobe (FFmpeg, independent of facefuse) reads it."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                          "-of", "csv=p=0", path], check=True, capture_output=True, text=True).stdout
    w, h = out.strip().split(",")[:2]
    return int(w), int(h)


def psnr(a, b):
    """PSNR in dB of image a against image b (FFmpeg's psnr filter); inf when identical."""
    err = subprocess.run(["ffmpeg", "-v", "info", "-nostdin", "-i", a, "-i", b, "-lavfi", "psnr", "-f", "null", "-"],
                         check=True, capture_output=True, text=True).stderr
    value = re.search(r"average:(\S+)", err).group(1)
    return float("inf") if value == "inf" else float(value)


def api_session(container):
    """A requests session with the admin key a `serve` container prints at its first start, once it
    serves (60 s at most)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        logs = podman("logs", container, check=False)
        key = re.search(r"admin API key.*?(ff_\S+)", logs.stdout)
        if key and "serving on" in logs.stdout:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {key.group(1)}"
            return session
        state = podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
        if state not in ("running", "created", "configured"):
            raise AssertionError(f"container {state}:\n{logs.stdout}\n{logs.stderr[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"no admin key / 'serving on' in {container}'s output within 60 s")


def upload(session, url, path):
    with open(path, "rb") as f:
        r = session.post(url + "/api/v1/upload", files={"file": (os.path.basename(path), f)}, timeout=60)
    if r.status_code != 201:
        raise AssertionError(f"upload of {path}: {r.status_code} {r.text}")
    return r.json()["upload_id"]


def wait_for_job(session, url, job_id, states, timeout=180):
    deadline = time.time() + timeout
    job = None
    while time.time() < deadline:
        job = session.get(f"{url}/api/v1/jobs/{job_id}", timeout=10).json()
        if job["status"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not in {states} after {timeout} s: {job}")


class ContainerImage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="facefuse-container-test-")
        cls.image = os.environ.get("FACEFUSE_CONTAINER_IMAGE")
        if not cls.image:
            started = time.time()
            build = subprocess.run([os.path.join(CONTAINER_DIR, "build_image.sh"), "--prebuilt", BUILD_DIR], env=ENV,
                                   capture_output=True, text=True, timeout=1800)
            if build.returncode != 0:
                raise AssertionError(f"build_image.sh failed ({build.returncode}):\n{build.stderr[-4000:]}")
            cls.image = build.stdout.strip().splitlines()[-1]
            print(f"image {cls.image[:12]} built in {time.time() - started:.0f} s", file=sys.stderr)
        cls.inspect = json.loads(podman("image", "inspect", cls.image).stdout)[0]

        cls.port = free_port()
        cls.name = f"facefuse-test-{os.getpid()}"
        cls.addClassCleanup(lambda: podman("rm", "--force", "--volumes", cls.name, check=False))
        podman("run", "--detach", "--name", cls.name, "--network", "host",
               "--env", f"FACEFUSE_LISTEN=127.0.0.1:{cls.port}",
               cls.image, "serve", "--workers", "1", "--grace-seconds", "20",
               "--rate-limit", "1000", "--rate-burst", "1000", "--ip-rate-limit", "1000", "--ip-rate-burst", "1000")
        cls.url = f"http://127.0.0.1:{cls.port}"
        cls.session = api_session(cls.name)

    # ------------------------------------------------------------------ helpers
    def upload(self, path):
        return upload(self.session, self.url, path)

    def wait(self, job_id, states, timeout=180):
        return wait_for_job(self.session, self.url, job_id, states, timeout)

    # ------------------------------------------------------------------ tests (run in name order)
    def test_1_image_metadata(self):
        config = self.inspect["Config"]
        self.assertEqual(config["User"], f"{NON_ROOT_UID}:{NON_ROOT_UID}")
        self.assertEqual(config["Entrypoint"], ["/opt/facefuse/bin/facefuse"])
        self.assertEqual(config["StopSignal"], "SIGTERM")
        self.assertIn("8080/tcp", config["ExposedPorts"])
        # podman reports a docker-format HEALTHCHECK beside Config (an OCI image would have none).
        self.assertIn("facefuse-healthcheck", " ".join(self.inspect["Healthcheck"]["Test"]))
        labels = config["Labels"]
        for label in ("version", "revision", "licenses", "created"):
            self.assertTrue(labels.get(f"org.opencontainers.image.{label}"), label)
        self.assertEqual(labels["org.opencontainers.image.version"], "0.1.0")
        size_mb = self.inspect["Size"] / 1e6
        print(f"image size {size_mb:.0f} MB", file=sys.stderr)

    def test_2_runs_as_non_root(self):
        status = podman("exec", self.name, "cat", "/proc/1/status").stdout
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        self.assertEqual(set(uids), {str(NON_ROOT_UID)}, status)  # real, effective, saved, fs
        self.assertIn("facefuse", podman("exec", self.name, "cat", "/proc/1/cmdline").stdout)

    def test_3_healthcheck_and_readiness(self):
        self.assertEqual(podman("healthcheck", "run", self.name, check=False).returncode, 0)
        ready = requests.get(self.url + "/readyz", timeout=10)
        self.assertEqual(ready.status_code, 200, ready.text)  # store, storage and the image's default models

    def test_4_real_image_job(self):
        job = self.session.post(self.url + "/api/v1/jobs", json={
            "source": {"upload_id": self.upload(SOURCE_FACE)},
            "target": {"upload_id": self.upload(TARGET_PHOTO)}}, timeout=60)
        self.assertEqual(job.status_code, 201, job.text)
        done = self.wait(job.json()["job_id"], {"completed", "failed", "cancelled"})
        self.assertEqual(done["status"], "completed", done)
        output = self.session.get(self.url + done["output_url"], timeout=60)
        self.assertEqual(output.status_code, 200)
        self.assertEqual(output.headers["Content-Type"], "image/jpeg")
        path = os.path.join(self.work, "output.jpg")
        with open(path, "wb") as f:
            f.write(output.content)
        # The target photo with a face changed: same size, visibly different, yet the same picture
        # (a swap touches the face region only; an unrelated or blank image is far below 15 dB).
        self.assertEqual(media_size(path), media_size(TARGET_PHOTO))
        quality = psnr(path, TARGET_PHOTO)
        self.assertLess(quality, 45.0)
        self.assertGreater(quality, 15.0)

    def test_5_stop_drains_and_exits_zero(self):
        job = self.session.post(self.url + "/api/v1/jobs", json={
            "source": {"upload_id": self.upload(SOURCE_FACE)},
            "target": {"upload_id": self.upload(TARGET_VIDEO)}}, timeout=60)
        self.assertEqual(job.status_code, 201, job.text)
        job_id = job.json()["job_id"]
        self.wait(job_id, {"processing"}, timeout=60)
        started = time.time()
        podman("stop", "--time", str(STOP_TIMEOUT), self.name, timeout=STOP_TIMEOUT + 30)
        stopped_in = time.time() - started
        code = podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip()
        self.assertEqual(code, "0", podman("logs", self.name, check=False).stderr[-3000:])
        self.assertLess(stopped_in, STOP_TIMEOUT - 5)  # drained by itself, not killed
        logs = podman("logs", self.name, check=False).stderr
        self.assertIn("\"msg\":\"draining\"", logs)
        print(f"podman stop: exit 0 after {stopped_in:.1f} s", file=sys.stderr)


class KubePlay(unittest.TestCase):
    """The rendered API Deployment (cpu overlay) run by `podman kube play` on the image built above:
    non-root, read-only root file system with its emptyDir volumes, ready on /readyz. Adapted only
    where this machine differs from a cluster: host network on free loopback ports (no
    containerPorts then), one replica, the local image, a ConfigMap without S3 settings and no
    Secret references (no PostgreSQL/S3 server in this test), in-process workers (the Deployment's
    `--workers 0` needs worker pods: WorkerRole runs that split)."""

    def test_api_deployment_runs_as_a_pod(self):
        import yaml
        rendered = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "deploy", "k8s", "render.py"),
                                   os.path.join(SOURCE_DIR, "deploy", "k8s", "overlays", "cpu"), "--json"],
                                  check=True, capture_output=True, text=True).stdout
        deployment = next(o for o in json.loads(rendered)
                          if o["kind"] == "Deployment" and o["metadata"]["name"] == "facefuse-api")
        port, metrics_port = free_port(), free_port()
        deployment["spec"]["replicas"] = 1
        pod = deployment["spec"]["template"]["spec"]
        pod["hostNetwork"] = True
        container = pod["containers"][0]
        container["image"] = "localhost/facefuse:latest"
        args = container["args"]
        args[args.index("--workers") + 1] = "1"
        args[args.index("--listen") + 1] = f"127.0.0.1:{port}"
        args[args.index("--metrics-listen") + 1] = f"127.0.0.1:{metrics_port}"
        container["env"] = [e for e in container["env"] if "valueFrom" not in e]
        container.pop("ports")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            container[probe]["httpGet"]["port"] = port
        config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "facefuse-config"},
                  "data": {"FACEFUSE_LOG_LEVEL": "info"}}
        work = tempfile.mkdtemp(prefix="facefuse-kube-play-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        path = os.path.join(work, "api.yaml")
        with open(path, "w") as f:
            yaml.safe_dump_all([config, deployment], f)
        self.addCleanup(lambda: podman("kube", "down", path, check=False))
        podman("kube", "play", path, timeout=300)
        deadline = time.time() + 60
        ready = None
        while time.time() < deadline:
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.assertIsNotNone(ready, "the pod never answered")
        self.assertEqual(ready.status_code, 200, ready.text)
        name = "facefuse-api-pod-0-api"
        self.assertEqual(podman("exec", name, "id", "-u").stdout.strip(), str(NON_ROOT_UID))
        self.assertNotEqual(podman("exec", name, "touch", "/opt/facefuse/x", check=False).returncode, 0)  # read-only
        metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        self.assertIn("queue_depth", metrics)  # what the KEDA ScaledObject queries


class WorkerRole(unittest.TestCase):
    """One image in both roles on one data volume (the SQLite store and file storage shared by
    processes of one host, docs/service.md "Workers"): an API node that claims nothing
    (`serve --workers 0`) and a `worker` container. The job submitted to the API can only complete
    because the worker container took it; `podman stop` ends the worker with exit 0."""

    def test_worker_container_runs_the_api_nodes_job(self):
        tag = os.getpid()
        volume, api, worker = f"facefuse-test-data-{tag}", f"facefuse-test-api-{tag}", f"facefuse-test-worker-{tag}"
        self.addCleanup(lambda: podman("volume", "rm", "--force", volume, check=False))
        self.addCleanup(lambda: podman("rm", "--force", api, worker, check=False))
        port = free_port()
        mount = ["--network", "host", "--volume", f"{volume}:/var/lib/facefuse"]
        podman("run", "--detach", "--name", api, *mount, "--env", f"FACEFUSE_LISTEN=127.0.0.1:{port}",
               "localhost/facefuse:latest", "serve", "--workers", "0",
               "--rate-limit", "1000", "--rate-burst", "1000", "--ip-rate-limit", "1000", "--ip-rate-burst", "1000")
        url = f"http://127.0.0.1:{port}"
        session = api_session(api)
        podman("run", "--detach", "--name", worker, *mount, "localhost/facefuse:latest", "worker", "--workers", "1")
        job = session.post(url + "/api/v1/jobs", json={
            "source": {"upload_id": upload(session, url, SOURCE_FACE)},
            "target": {"upload_id": upload(session, url, TARGET_PHOTO)}}, timeout=60)
        self.assertEqual(job.status_code, 201, job.text)
        done = wait_for_job(session, url, job.json()["job_id"], {"completed", "failed", "cancelled"})
        self.assertEqual(done["status"], "completed", done)
        output = session.get(url + done["output_url"], timeout=60)
        self.assertEqual(output.status_code, 200)
        self.assertEqual(output.headers["Content-Type"], "image/jpeg")
        logs = podman("logs", worker, check=False).stderr
        self.assertIn("\"msg\":\"worker started\"", logs)
        self.assertIn(done["job_id"], logs, "the worker container ran the job")
        podman("stop", "--time", str(STOP_TIMEOUT), worker, timeout=STOP_TIMEOUT + 30)
        self.assertEqual(podman("inspect", "--format", "{{.State.ExitCode}}", worker).stdout.strip(), "0", logs[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
