"""The S3-compatible test server for Python tests: tests/s3server/serve.js (@20minutes/s3rver) on a
free 127.0.0.1 port with a temporary data directory and the given buckets; stopped and removed by
stop() / the context manager. Credentials: S3RVER / S3RVER (s3rver's built-in account).
"""
import os
import shutil
import signal
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SERVE_JS = os.path.join(HERE, "..", "s3server", "serve.js")
ACCESS_KEY = "S3RVER"
SECRET_KEY = "S3RVER"


class S3Server:
    def __init__(self, buckets=("facefuse-test",)):
        self.buckets = list(buckets)
        self.directory = tempfile.mkdtemp(prefix="facefuse-s3rver-")
        self.process = None
        self.port = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def env(self):
        """Environment for facefuse and awscli: the server's credentials, no profile files."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"}

    def start(self):
        # --openssl-legacy-provider: s3rver's continuation tokens use DES (OpenSSL 3's legacy provider).
        command = ["node", "--openssl-legacy-provider", SERVE_JS, "--directory", self.directory, "--port", str(self.port or 0)]
        for bucket in self.buckets:
            command += ["--bucket", bucket]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()  # node needs a few seconds to load s3rver
        if not line.startswith("PORT "):
            raise RuntimeError(f"the S3 test server did not start (exit {self.process.wait()}): run scripts/setup")
        self.port = int(line.split()[1])
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        if self.process:
            self.process.stdout.close()
        self.process = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
