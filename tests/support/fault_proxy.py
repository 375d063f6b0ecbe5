#!/usr/bin/python3
"""A loopback HTTP proxy for fault tests of the S3 client: forwards every request to --upstream
unchanged (Host header included, so SigV4 signatures stay valid) and fails every --every'th one:

  --mode 503   answer 503 SlowDown-style S3 XML (after reading the request body)
  --mode drop  read half of the request body, then close the connection without an answer

Prints "PORT <n>" once listening on 127.0.0.1; stops on SIGTERM. Counts go to stderr at exit.
"""
import argparse
import http.client
import http.server
import signal
import sys
import threading

parser = argparse.ArgumentParser()
parser.add_argument("--upstream", required=True, help="HOST:PORT")
parser.add_argument("--every", type=int, default=3)
parser.add_argument("--mode", choices=["503", "drop"], default="503")
args = parser.parse_args()
up_host, up_port = args.upstream.rsplit(":", 1)
lock = threading.Lock()
counter = {"requests": 0, "failed": 0}
PIECE = 1 << 16


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body_pieces(self, length):
        """The request body, `length` bytes, in pieces of at most PIECE bytes (fewer if the client stops)."""
        left = length
        while left > 0:
            got = self.rfile.read(min(PIECE, left))
            if not got:
                break
            left -= len(got)
            yield got

    def _forward(self):
        with lock:
            counter["requests"] += 1
            fail = counter["requests"] % args.every == 0
            if fail:
                counter["failed"] += 1
        length = int(self.headers.get("Content-Length") or 0)
        if fail and args.mode == "drop":
            self.rfile.read(length // 2)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fail:
            for _ in self._body_pieces(length):
                pass
            body = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>injected by fault_proxy</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        conn = http.client.HTTPConnection(up_host, int(up_port), timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        for piece in self._body_pieces(length):
            conn.send(piece)
        resp = conn.getresponse()
        self.send_response(resp.status)
        for name, value in resp.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                self.send_header(name, value)
        body_length = resp.getheader("Content-Length")
        if body_length is None and self.command != "HEAD":
            data = resp.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.end_headers()
            while self.command != "HEAD":
                data = resp.read(PIECE)
                if not data:
                    break
                self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
server.daemon_threads = True


def stop(*_):
    print(f"fault_proxy: {counter['requests']} requests, {counter['failed']} failed", file=sys.stderr)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
