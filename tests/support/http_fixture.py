#!/usr/bin/python3
"""Local HTTP server for tests of facefuse's HTTP clients (tests/support/http_fixture.h).

Listens on 127.0.0.1 on a free port and prints "PORT <n>" on its first stdout line. Routes:
  GET  /bytes/<n>          n bytes with Content-Length
  GET  /stream/<n>         n bytes without Content-Length (body ends when the connection closes)
  GET  /status/<code>      that status with a short body
  GET  /redirect?to=<url>  302 to <url>
  GET  /loop               302 to /loop
  POST /webhook            webhook receiver: answers 500 to the first --webhook-failures requests,
                           then 200 if X-Facefuse-Signature is sha256=<hex HMAC-SHA256 of
                           "<X-Facefuse-Timestamp>.<body>" under --webhook-secret>, else 401.
                           Every request is appended to --log as one JSON line.
  POST /status/<code>      that status
"""
import argparse
import hashlib
import hmac
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()
webhook_requests = 0


def payload(n):
    return bytes((i * 7) & 0xFF for i in range(n))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *unused):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if parts[0] == "bytes":
            self.reply(200, payload(int(parts[1])), [("Content-Type", "application/octet-stream")])
        elif parts[0] == "stream":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(payload(int(parts[1])))
        elif parts[0] == "status":
            self.reply(int(parts[1]), b"status body")
        elif parts[0] == "redirect":
            self.reply(302, headers=[("Location", urllib.parse.parse_qs(url.query)["to"][0])])
        elif parts[0] == "loop":
            self.reply(302, headers=[("Location", "/loop")])
        else:
            self.reply(404, b"unknown route")

    def do_POST(self):
        global webhook_requests
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = self.path.strip("/").split("/")
        if parts[0] == "status":
            self.reply(int(parts[1]))
            return
        timestamp = self.headers.get("X-Facefuse-Timestamp", "")
        expected = "sha256=" + hmac.new(args.webhook_secret.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        signature_ok = hmac.compare_digest(expected, self.headers.get("X-Facefuse-Signature", ""))
        with lock:
            webhook_requests += 1
            attempt = webhook_requests
        status = 500 if attempt <= args.webhook_failures else (200 if signature_ok else 401)
        if args.log:
            with lock, open(args.log, "a") as log:
                log.write(json.dumps({"attempt": attempt, "status": status, "signature_ok": signature_ok,
                                      "timestamp": timestamp, "content_type": self.headers.get("Content-Type"),
                                      "body": body.decode()}) + "\n")
        self.reply(status)


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhook-secret", default="")
    parser.add_argument("--webhook-failures", type=int, default=0)
    parser.add_argument("--log", default="")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("PORT", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
