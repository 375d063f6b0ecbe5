#!/usr/bin/python3
"""A local HTTP server that serves model files the way FaceFusion's release assets are laid out,
with failure modes for testing `facefuse models download`.

URL layout: /<mode>/<release>/<file>, served from <root>/<release>/<file>, so a client given
--models-url http://127.0.0.1:PORT/<mode> fetches exactly what it would from the real base.

Modes (.hash files are served normally in every mode except 404):
  complete   the file, honouring `Range: bytes=N-` with 206 + Content-Range
  truncated  a request without Range gets the full Content-Length but only the first half of the
             bytes before the connection closes; Range requests are served completely
  norange    Range is ignored (always 200 + the whole file) and the first request for a path is
             cut in half like truncated: the client must restart instead of resuming
  corrupt    the full file with some bytes flipped (the .hash stays correct)
  404        everything is 404
  slow       trickles TRICKLE_BYTES every TRICKLE_SECONDS for every request (stays below any sane
             low-speed limit)
  stall      a request without Range gets the first half at full speed, then trickles; Range
             requests are served completely (resume after a low-speed timeout)
  flaky      the first request for each path answers 503, later ones as complete

GET /_log returns the requests seen so far as JSON: [{"path", "range", "status"}].
Usage: model_server.py --root DIR --port-file FILE   (binds 127.0.0.1 on a free port and writes it)
"""
import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRICKLE_BYTES = 64
TRICKLE_SECONDS = 0.25
MODES = {"complete", "truncated", "norange", "corrupt", "404", "slow", "stall", "flaky"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def record(self, status):
        with self.server.lock:
            self.server.requests.append({"path": self.path, "range": self.headers.get("Range"), "status": status})

    def send_bytes(self, status, body, headers=None):
        self.record(status)
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_log":
            with self.server.lock:
                body = json.dumps(self.server.requests).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] not in MODES or ".." in parts:
            self.send_bytes(404, b"not found\n")
            return
        mode, release, name = parts
        path = os.path.join(self.server.root, release, name)
        if mode == "404" or not os.path.isfile(path):
            self.send_bytes(404, b"not found\n")
            return
        with open(path, "rb") as f:
            data = f.read()
        if name.endswith(".hash"):
            self.send_bytes(200, data)
            return
        with self.server.lock:
            first = self.path not in self.server.seen
            self.server.seen.add(self.path)
        if mode == "flaky" and first:
            self.send_bytes(503, b"try again\n")
            return
        if mode == "corrupt":
            flipped = bytearray(data)
            for i in range(0, len(flipped), max(len(flipped) // 7, 1)):
                flipped[i] ^= 0xFF
            data = bytes(flipped)
        start = 0
        range_header = self.headers.get("Range")
        if range_header and mode != "norange" and range_header.startswith("bytes=") and range_header.endswith("-"):
            start = int(range_header[len("bytes="):-1])
            if start >= len(data):
                self.send_bytes(416, b"", {"Content-Range": "bytes */%d" % len(data)})
                return
        self.record(206 if start else 200)
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        ranged = start > 0 and mode != "norange"
        if (mode == "truncated" and not ranged) or (mode == "norange" and first):
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        if mode == "stall" and not ranged:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.trickle(body[len(body) // 2:])
            return
        if mode == "slow":
            self.trickle(body)
            return
        self.wfile.write(body)

    def trickle(self, body):
        try:
            for i in range(0, len(body), TRICKLE_BYTES):
                self.wfile.write(body[i:i + TRICKLE_BYTES])
                self.wfile.flush()
                time.sleep(TRICKLE_SECONDS)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: expected in the slow modes
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True


def exit_with_parent():
    """Stops the server when the test that started it dies without stopping it (crash, SIGPIPE)."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.root = args.root
    server.lock = threading.Lock()
    server.requests = []
    server.seen = set()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
