"""A client of the facefuse job service (docs/openapi.yaml), Python standard library only.

    from facefuse_client import Client
    api = Client("http://127.0.0.1:8080", api_key="ff_...")
    source = api.upload("face.jpg")
    target = api.upload("clip.mp4", progress=lambda sent, total: print(f"{sent}/{total} bytes"))
    job = api.submit({"source": {"upload_id": source["id"]}, "target": {"upload_id": target["id"]}})
    job = api.wait(job["job_id"], progress=lambda e: print(f"{e['progress']:.0%} {e['step']}"))
    api.download(job, "swapped.mp4")

Or from a shell: python3 facefuse_client.py swap face.jpg clip.mp4 swapped.mp4 --url URL --key KEY
(the key may also come from FACEFUSE_API_KEY).

Errors of the API raise ApiError with the HTTP status and the API's {"error", "message"}. Uploads
and downloads stream (no file is held in memory); a download is written to a temporary file in the
destination's directory and renamed into place only when complete. wait() follows the job's
Server-Sent Events and resumes after the last event it saw when the stream breaks.

Threading: a Client holds no connection between calls; one Client may be used from several
threads, each call on its own connection.
"""
import http.client
import json
import os
import sys
import tempfile
import time
import urllib.parse
import uuid

__all__ = ["ApiError", "Client", "TERMINAL"]

API_VERSION = "1.4.0"  # the docs/openapi.yaml info.version this client was written against
TERMINAL = ("completed", "failed", "cancelled")
CHUNK = 256 * 1024  # bytes per read/write when streaming files


class ApiError(Exception):
    """An answer other than the one expected: status, the API's error code and message."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Client:
    def __init__(self, url, api_key=None, timeout=60.0):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"the service URL must be http://host:port or https://host:port, not {url!r}")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._parsed = parsed

    # ---------------------------------------------------------------- transport
    def _connection(self, timeout=None):
        cls = http.client.HTTPSConnection if self._parsed.scheme == "https" else http.client.HTTPConnection
        return cls(self._parsed.hostname, self._parsed.port, timeout=timeout or self.timeout)

    def _headers(self, extra=None):
        headers = {"Accept": "application/json", "User-Agent": f"facefuse-client-python/{API_VERSION}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(extra or {})
        return headers

    def _send(self, method, path, body=None, headers=None, timeout=None):
        """Starts a request; returns (connection, response) for the caller to read and close."""
        conn = self._connection(timeout)
        try:
            conn.request(method, path, body=body, headers=self._headers(headers))
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    @staticmethod
    def _error(response):
        raw = response.read()
        try:
            body = json.loads(raw)
            return ApiError(response.status, body.get("error", "http_error"), body.get("message", ""))
        except (ValueError, AttributeError):
            return ApiError(response.status, "http_error", raw[:200].decode("utf-8", "replace") or response.reason)

    def _json_answer(self, conn, response, expect):
        """The parsed JSON answer when its status is in `expect`, else ApiError; closes the connection."""
        try:
            if response.status not in expect:
                raise self._error(response)
            return json.loads(response.read())
        finally:
            conn.close()

    def request(self, method, path, json_body=None, headers=None, expect=(200, 201)):
        """One JSON call: the parsed answer, or ApiError."""
        body = None
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        conn, response = self._send(method, path, body, headers)
        return self._json_answer(conn, response, expect)

    # ---------------------------------------------------------------- API
    def status(self):
        return self.request("GET", "/api/v1/status")

    def upload(self, path, progress=None, filename=None):
        """Uploads an image or video file (streamed); returns the upload record ({"id", ...}).
        progress(sent_bytes, total_bytes) is called as the file is sent."""
        size = os.path.getsize(path)  # raises FileNotFoundError naming the path
        boundary = f"facefuse-{uuid.uuid4().hex}"
        name = (filename or os.path.basename(path)).replace('"', "_").replace("\r", "_").replace("\n", "_")
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        total = len(head) + size + len(tail)

        def chunks():
            sent = len(head)
            yield head
            with open(path, "rb") as f:
                while True:
                    data = f.read(CHUNK)
                    if not data:
                        break
                    sent += len(data)
                    if progress:
                        progress(sent, total)
                    yield data
            yield tail
            if progress:
                progress(total, total)

        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(total)}
        conn, response = self._send("POST", "/api/v1/upload", chunks(), headers, timeout=max(self.timeout, 600))
        return self._json_answer(conn, response, (201,))

    def submit(self, body, idempotency_key=None):
        """Creates a job from a JobRequest body; returns the job. A repeated idempotency_key returns
        the job created first."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request("POST", "/api/v1/jobs", body, headers)

    def job(self, job_id):
        return self.request("GET", f"/api/v1/jobs/{urllib.parse.quote(job_id, safe='')}")

    def cancel(self, job_id):
        return self.request("POST", f"/api/v1/jobs/{urllib.parse.quote(job_id, safe='')}/cancel")

    def delete_job(self, job_id):
        return self.request("DELETE", f"/api/v1/jobs/{urllib.parse.quote(job_id, safe='')}")

    def events(self, job_id, since=0):
        """The job's events as a live Server-Sent Events stream (a generator of JobEvent dicts),
        ending after the terminal state."""
        path = f"/api/v1/jobs/{urllib.parse.quote(job_id, safe='')}/events?since={int(since)}"
        conn, response = self._send("GET", path, headers={"Accept": "text/event-stream"}, timeout=max(self.timeout, 300))
        try:
            if response.status != 200:
                raise self._error(response)
            data = []
            while True:
                line = response.readline()
                if not line:
                    return
                line = line.decode("utf-8").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line == "" and data:
                    yield json.loads("\n".join(data))
                    data = []
        finally:
            conn.close()

    def wait(self, job_id, progress=None, timeout=3600.0):
        """Follows the job's events until it ends; progress(event) for each. Returns the final job
        (GET /api/v1/jobs/{id}). A broken stream is resumed after the last event seen."""
        deadline = time.monotonic() + timeout
        since = 0
        while time.monotonic() < deadline:
            try:
                for event in self.events(job_id, since):
                    since = event["seq"]
                    if progress:
                        progress(event)
                    if event["type"] == "state" and event["status"] in TERMINAL:
                        return self.job(job_id)
            except (OSError, http.client.HTTPException):
                time.sleep(1)  # the server restarts or the network broke: resume after `since`
                continue
            job = self.job(job_id)  # the stream ended: the job may have ended between two reads
            if job["status"] in TERMINAL:
                return job
        raise TimeoutError(f"job {job_id} did not end within {timeout} s")

    def download(self, job, destination, progress=None):
        """Writes the job's output (a job dict with output_url, or a job id) to `destination`;
        progress(received_bytes, total_bytes). Returns the destination path."""
        if isinstance(job, str):
            job = self.job(job)
        url = job.get("output_url")
        if not url:
            raise ApiError(409, "failed_precondition", f"job {job.get('job_id')} has no output (status {job.get('status')})")
        conn, response = self._send("GET", url, headers={"Accept": "*/*"}, timeout=max(self.timeout, 600))
        directory = os.path.dirname(os.path.abspath(destination))
        fd, temp = tempfile.mkstemp(prefix=".facefuse-download-", dir=directory)
        try:
            if response.status != 200:
                raise self._error(response)
            total = int(response.getheader("Content-Length", "0"))
            received = 0
            with os.fdopen(fd, "wb") as out:
                fd = None
                while True:
                    data = response.read(CHUNK)
                    if not data:
                        break
                    out.write(data)
                    received += len(data)
                    if progress:
                        progress(received, total)
            if total and received != total:
                raise ApiError(response.status, "unavailable", f"the download ended after {received} of {total} bytes")
            os.replace(temp, destination)
            temp = None
            return destination
        finally:
            if fd is not None:
                os.close(fd)
            if temp and os.path.exists(temp):
                os.remove(temp)
            conn.close()


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Swap a face with a facefuse service: upload, submit, wait, download.")
    sub = parser.add_subparsers(dest="command", required=True)
    swap = sub.add_parser("swap", help="put the face of SOURCE into TARGET, write OUTPUT")
    swap.add_argument("source")
    swap.add_argument("target")
    swap.add_argument("output")
    swap.add_argument("--url", default=os.environ.get("FACEFUSE_URL", "http://127.0.0.1:8080"))
    swap.add_argument("--key", default=os.environ.get("FACEFUSE_API_KEY"), help="API key (or FACEFUSE_API_KEY)")
    args = parser.parse_args(argv)
    for path in (args.source, args.target):
        if not os.path.isfile(path):
            print(f"facefuse_client: {path}: no such file (give an image or video file)", file=sys.stderr)
            return 2
    try:
        api = Client(args.url, args.key)
        source = api.upload(args.source)
        target = api.upload(args.target)
        job = api.submit({"source": {"upload_id": source["id"]}, "target": {"upload_id": target["id"]}})
        job = api.wait(job["job_id"], progress=lambda e: print(f"{e['progress']:6.1%} {e['step']}", file=sys.stderr))
        if job["status"] != "completed":
            print(f"facefuse_client: job {job['job_id']} {job['status']}: {job['error']}", file=sys.stderr)
            return 1
        api.download(job, args.output)
        print(args.output)
        return 0
    except ValueError as e:
        print(f"facefuse_client: {e}", file=sys.stderr)
        return 2
    except ApiError as e:
        print(f"facefuse_client: {e}", file=sys.stderr)
        return 2 if 400 <= e.status < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
