"""The compose deployment run for real (issue 14): deploy/compose/compose.yaml brought up by
podman-compose — 2 API nodes (`serve --workers 0`) behind nginx, 2 `facefuse worker`s, PostgreSQL as
the shared job store, an S3 server as the blob store, Prometheus scraping every node — and used
through nginx as a client would: an image job and a chunked video job complete on the workers, the
outputs are objects in the bucket, Prometheus sees every node up, and stopping the project drains
every facefuse container with exit 0.

What differs from a production host, and only that: no registry is reachable here, so the four
upstream images (postgres, minio, minio/mc, nginx, prom/prometheus) are replaced by one image made
locally from Debian's packages plus the S3 test server standing in for MinIO
(tests/deploy/compose/Containerfile.services), with the commands those images would run; s3rver has
one account (S3RVER), so the nodes sign as it; the published ports are free ones (the S3 port too,
with FACEFUSE_S3_PUBLIC_ENDPOINT pointing at it, so presigned URLs work from this host). The file is
rewritten into a temporary directory with those changes (podman-compose 1.0.3 appends an override
file's command lists to the base file's instead of replacing them, so an override file cannot do it).

Environment (tests/CMakeLists.txt): FACEFUSE_BUILD_DIR, FACEFUSE_SOURCE_DIR, FACEFUSE_TESTDATA.
"""
import os
import secrets
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import requests
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))
sys.path.insert(0, os.path.dirname(__file__))
from service_harness import SOURCE_FACE, TARGET_PHOTO, TARGET_VIDEO, free_port, new_api_key  # noqa: E402
from test_container import ENV, media_size, podman, psnr, upload, wait_for_job  # noqa: E402

SOURCE_DIR = os.environ["FACEFUSE_SOURCE_DIR"]
BUILD_DIR = os.environ["FACEFUSE_BUILD_DIR"]
COMPOSE_DIR = os.path.join(SOURCE_DIR, "deploy", "compose")
SERVICES_DIR = os.path.join(SOURCE_DIR, "tests", "deploy", "compose")
SERVICES_IMAGE = "localhost/facefuse-compose-services:bookworm"
FACEFUSE_SERVICES = ("api-1", "api-2", "worker-1", "worker-2")
# What each replaced service runs in the local image, in place of its upstream image's command.
LOCAL_COMMANDS = {
    "postgres": {"command": ["start-postgres"]},
    # s3rver makes the bucket itself (--bucket), as minio-init does for MinIO.
    "minio": {"command": ["node", "--openssl-legacy-provider", "/opt/s3server/serve.js", "--directory", "/data",
                          "--address", "0.0.0.0", "--port", "9000", "--bucket", "facefuse-media"]},
    "minio-init": {"entrypoint": ["true"]},
    "nginx": {"command": ["nginx", "-g", "daemon off;"]},
    "prometheus": {"command": ["prometheus", "--config.file=/etc/prometheus/prometheus.yml",
                               "--storage.tsdb.path=/tmp/prometheus"]},
}


def local_compose_file(directory):
    """deploy/compose/compose.yaml with the replaced images and commands, written into directory;
    relative bind mounts made absolute (they are relative to deploy/compose)."""
    with open(os.path.join(COMPOSE_DIR, "compose.yaml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    for name, changes in LOCAL_COMMANDS.items():
        service = services[name]
        service["image"] = SERVICES_IMAGE
        service.pop("command", None)
        service.pop("entrypoint", None)
        service.update(changes)
    for name in FACEFUSE_SERVICES:
        services[name]["environment"]["AWS_ACCESS_KEY_ID"] = "S3RVER"
    for service in services.values():
        service["volumes"] = [os.path.normpath(os.path.join(COMPOSE_DIR, v)) if v.startswith(".") else v
                              for v in service.get("volumes", [])]
    path = os.path.join(directory, "compose.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(compose, f, sort_keys=False)
    return path


def build_images():
    """The facefuse image from this build's installed tree and the services image (both cached in
    podman's layer store: a warm rebuild takes seconds)."""
    build = subprocess.run([os.path.join(SOURCE_DIR, "deploy", "container", "build_image.sh"), "--prebuilt",
                            BUILD_DIR], env=ENV, capture_output=True, text=True, timeout=1800)
    if build.returncode != 0:
        raise AssertionError(f"build_image.sh failed ({build.returncode}):\n{build.stderr[-4000:]}")
    podman("build", "--format", "docker", "--quiet", "--tag", SERVICES_IMAGE,
           "--build-context", f"s3server={os.path.join(SOURCE_DIR, 'tests', 's3server')}",
           "--file", os.path.join(SERVICES_DIR, "Containerfile.services"), SERVICES_DIR, timeout=1800)
    return build.stdout.strip().splitlines()[-1]


class ComposeDeployment(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        started = time.time()
        image = build_images()
        print(f"images built in {time.time() - started:.0f} s", file=sys.stderr)
        cls.work = tempfile.mkdtemp(prefix="facefuse-compose-test-")
        cls.project = f"facefuse-compose-test-{os.getpid()}"
        cls.http_port, cls.prometheus_port, cls.s3_port = free_port(), free_port(), free_port()
        admin_key = new_api_key()
        cls.env = dict(ENV, FACEFUSE_IMAGE=image, POSTGRES_PASSWORD=secrets.token_hex(8), MINIO_ROOT_PASSWORD="S3RVER",
                       FACEFUSE_ADMIN_KEY=admin_key, FACEFUSE_HTTP_PORT=str(cls.http_port),
                       PROMETHEUS_PORT=str(cls.prometheus_port), MINIO_PORT=str(cls.s3_port),
                       FACEFUSE_S3_PUBLIC_ENDPOINT=f"http://localhost:{cls.s3_port}")
        cls.compose_file = local_compose_file(cls.work)
        cls.addClassCleanup(cls.remove_project)
        started = time.time()
        cls.compose("up", "-d")
        cls.url = f"http://127.0.0.1:{cls.http_port}"
        cls.session = requests.Session()
        cls.session.headers["Authorization"] = f"Bearer {admin_key}"
        cls.wait_ready()
        print(f"compose up and ready through nginx in {time.time() - started:.0f} s", file=sys.stderr)

    @classmethod
    def compose(cls, *args, timeout=600):
        result = subprocess.run(["podman-compose", "-p", cls.project, "-f", cls.compose_file, *args], env=cls.env,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
        return result

    @classmethod
    def container(cls, service):
        return f"{cls.project}_{service}_1"

    @classmethod
    def logs(cls, service):
        result = podman("logs", "--tail", "30", cls.container(service), check=False)
        return result.stdout + result.stderr

    @classmethod
    def wait_ready(cls, timeout=240):
        """Both API nodes ready behind nginx (each answers /readyz 200: store, storage, migrations)."""
        deadline = time.time() + timeout
        pending = {"api-1", "api-2"}
        while time.time() < deadline and pending:
            for service in list(pending):
                ready = podman("exec", cls.container(service), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               "http://127.0.0.1:8080/readyz", check=False)
                if ready.stdout.strip() == "200":
                    pending.discard(service)
            time.sleep(1)
        if pending:
            raise AssertionError(f"{sorted(pending)} not ready within {timeout} s:\n" +
                                 "\n".join(f"--- {s}\n{cls.logs(s)}" for s in sorted(pending)))
        response = requests.get(cls.url + "/readyz", timeout=10)
        if response.status_code != 200:
            raise AssertionError(f"/readyz through nginx: {response.status_code} {response.text}")

    @classmethod
    def remove_project(cls):
        """The project's containers with their anonymous volumes (the image declares /var/lib/facefuse
        a VOLUME; podman-compose 1.0.3's `down -v` leaves those behind), its network and named volumes."""
        left = podman("ps", "-a", "-q", "--filter", f"label=io.podman.compose.project={cls.project}", check=False)
        for container in left.stdout.split():
            podman("rm", "--force", "--volumes", container, check=False)
        podman("network", "rm", "--force", f"{cls.project}_default", check=False)
        for volume in ("postgres", "minio"):
            podman("volume", "rm", "--force", f"{cls.project}_{volume}", check=False)

    def download_output(self, job, name):
        """The job's output from its presigned output_url (on the public S3 endpoint: this host
        reaches it without a key), saved as work/name; the same bytes as through the API's /media
        route, which streams the object from the bucket. The object key is the URL's path after the
        bucket (<tenant>/<yyyy>/<mm>/<dd>/outputs/<job>/output.<ext>, docs/storage.md)."""
        prefix = f"http://localhost:{self.s3_port}/facefuse-media/"
        self.assertTrue(job["output_url"].startswith(prefix), job["output_url"])
        key = urllib.parse.unquote(job["output_url"][len(prefix):].split("?")[0])
        self.assertIn(f"/outputs/{job['job_id']}/", key)
        self.assertTrue(self.bucket_has(key), key)
        presigned = requests.get(job["output_url"], timeout=120)
        self.assertEqual(presigned.status_code, 200, presigned.text[:300])
        media = self.session.get(f"{self.url}/media/{key}", timeout=120)
        self.assertEqual(media.status_code, 200, media.text[:300])
        self.assertEqual(presigned.content, media.content)
        path = os.path.join(self.work, name)
        with open(path, "wb") as f:
            f.write(presigned.content)
        return path

    def bucket_has(self, key):
        """Whether the S3 server holds the object (s3rver keeps its body in <bucket dir>/<key>._S3rver_object)."""
        return podman("exec", self.container("minio"), "test", "-f", f"/data/facefuse-media/{key}._S3rver_object",
                      check=False).returncode == 0

    # ------------------------------------------------------------------ tests (run in name order)
    def direct_upload(self, path, content_type):
        """Upload by the presigned PUT a node hands out (POST /api/v1/uploads), sent from this host to
        the public S3 endpoint, then completed through nginx; the upload's id."""
        with open(path, "rb") as f:
            data = f.read()
        begin = self.session.post(self.url + "/api/v1/uploads", json={
            "filename": os.path.basename(path), "size": len(data), "content_type": content_type}, timeout=60)
        self.assertEqual(begin.status_code, 201, begin.text)
        ticket = begin.json()
        self.assertTrue(ticket["put_url"].startswith(f"http://localhost:{self.s3_port}/"), ticket["put_url"])
        put = requests.put(ticket["put_url"], data=data, headers=ticket["headers"], timeout=60)
        self.assertEqual(put.status_code, 200, put.text[:300])
        done = self.session.post(f"{self.url}/api/v1/uploads/{ticket['upload_id']}/complete", timeout=60)
        self.assertEqual(done.status_code, 200, done.text)
        return done.json()["id"]

    def test_1_image_job_through_nginx(self):
        response = self.session.post(self.url + "/api/v1/jobs", json={
            "source": {"upload_id": self.direct_upload(SOURCE_FACE, "image/png")},
            "target": {"upload_id": upload(self.session, self.url, TARGET_PHOTO)}}, timeout=60)
        self.assertEqual(response.status_code, 201, response.text)
        job = wait_for_job(self.session, self.url, response.json()["job_id"], {"completed", "failed", "cancelled"},
                           timeout=300)
        self.assertEqual(job["status"], "completed", job)
        path = self.download_output(job, "output.jpg")
        self.assertEqual(media_size(path), media_size(TARGET_PHOTO))
        quality = psnr(path, TARGET_PHOTO)
        self.assertLess(quality, 45.0)  # a face changed...
        self.assertGreater(quality, 15.0)  # ...in the same picture

    def test_2_chunked_video_job_on_the_workers(self):
        response = self.session.post(self.url + "/api/v1/jobs", json={
            "source": {"upload_id": upload(self.session, self.url, SOURCE_FACE)},
            "target": {"upload_id": upload(self.session, self.url, TARGET_VIDEO)},
            "output": {"chunk_seconds": 1}}, timeout=60)
        self.assertEqual(response.status_code, 201, response.text)
        job_id = response.json()["job_id"]
        job = wait_for_job(self.session, self.url, job_id, {"completed", "failed", "cancelled"}, timeout=600)
        self.assertEqual(job["status"], "completed", job)
        path = self.download_output(job, "output.mp4")
        frames = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                 "stream=nb_read_frames", "-of", "csv=p=0", path], check=True, capture_output=True,
                                text=True).stdout.strip()
        self.assertEqual(int(frames), 68)  # talking_head_640x480.mp4: 68 frames in 3 chunks of 1 s
        # The API nodes run no tasks (--workers 0): the workers did the work.
        ran = "".join(self.logs(w) for w in ("worker-1", "worker-2"))
        self.assertIn(job_id, ran)

    def test_3_prometheus_scrapes_every_node(self):
        deadline = time.time() + 90  # scrape interval 15 s
        health = {}
        while time.time() < deadline:
            targets = requests.get(f"http://127.0.0.1:{self.prometheus_port}/api/v1/targets", timeout=10).json()
            health = {t["labels"]["instance"]: t["health"] for t in targets["data"]["activeTargets"]}
            if len(health) == 4 and set(health.values()) == {"up"}:
                break
            time.sleep(2)
        self.assertEqual(health, {f"{s}:9090": "up" for s in FACEFUSE_SERVICES})
        rules = requests.get(f"http://127.0.0.1:{self.prometheus_port}/api/v1/rules", timeout=10).json()
        self.assertTrue(rules["data"]["groups"], "the alert rules are loaded")

    def test_4_stop_drains_every_node(self):
        started = time.time()
        self.compose("stop")
        for service in FACEFUSE_SERVICES:
            code = podman("inspect", "--format", "{{.State.ExitCode}}", self.container(service)).stdout.strip()
            self.assertEqual(code, "0", f"{service}:\n{self.logs(service)}")
        print(f"podman-compose stop: every node exit 0 in {time.time() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
