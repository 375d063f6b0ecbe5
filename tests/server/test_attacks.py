"""Attack regression suite (issue 10): every crash and starvation item, and the HTTP weaknesses of
the transport, sent the way the attacker sent them (raw sockets where a client library would
normalise the request) to a real `facefuse serve`. Each test checks the answer (status and the
{"error", "message"} body) and that /healthz still answers quickly during and after the attack.
Short timeouts (--header-timeout 2) keep the slow attacks fast; the large numbers (10 000 idle
connections, 1 000-socket slowloris) are in bench/ (make bench-service).
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import requests
import websockets

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402

HEADER_TIMEOUT = 2  # --header-timeout below
# Latency bounds and job deadlines are for the release build; the sanitizer test presets
# (CMakePresets.json) set FACEFUSE_TEST_TIME_SCALE for their 2-5x slower server (the limits the
# server enforces, like the header timeout, are not scaled).
TIME_SCALE = float(os.environ.get("FACEFUSE_TEST_TIME_SCALE", "1"))


def raw(port, data, timeout=5.0):
    """Sends `data` as is and returns every byte until the server closes or `timeout` s pass."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def status_and_json(response):
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), json.loads(body) if body.startswith(b"{") else body


def get(path, host="x"):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1")


def closed_within(sock, seconds):
    """True when the server closes `sock` within `seconds` (anything it sends first is read)."""
    sock.settimeout(seconds)
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            if not sock.recv(65536):
                return True
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True
    return False


class Attacks(h.ServerTestCase):
    METRICS_PORT = h.free_port()
    SERVER_ARGS = ("--workers", "1", "--max-upload-mb", "1", "--header-timeout", str(HEADER_TIMEOUT),
                   "--max-streams-per-key", "64", "--metrics-listen", f"127.0.0.1:{METRICS_PORT}")

    def assert_healthy(self, within=1.0):
        within *= TIME_SCALE
        t0 = time.time()
        r = requests.get(self.server.url + "/healthz", timeout=within + 2)
        elapsed = time.time() - t0
        self.assertEqual(r.status_code, 200)
        self.assertLess(elapsed, within, f"/healthz took {elapsed:.2f} s")
        self.assertIsNone(self.server.process.poll(), "the server exited")

    def assert_error(self, response, statuses):
        status, head, body = status_and_json(response)
        self.assertIn(status, statuses, response[:300])
        self.assertIsInstance(body, dict, response[:300])
        self.assertEqual(set(body), {"error", "message"}, body)
        return status, head, body

    def key_header(self):
        return f"Authorization: Bearer {self.api.key}\r\n"

    # ------------------------------------------------------------------ item 1
    def test_item1_invalid_utf8_in_paths_and_queries_is_4xx(self):
        auth = self.key_header()
        for path in ("/nonexistent%ff", "/healthz%ff", "/api/v1/jobs?status=%ff", "/api/v1/jobs?cursor=%ff",
                     "/media/%c0%ae%c0%ae/jobs.db", "/api/v1/jobs/%ff%fe", "/%ff%00%01"):
            req = f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n".encode()
            status, _, body = self.assert_error(raw(self.server.port, req), range(400, 500))
            body["message"].encode("utf-8")  # valid UTF-8 (json.loads would have replaced nothing)
            # The metrics listener echoes paths too.
            self.assert_error(raw(self.METRICS_PORT, get(path)), range(400, 500))
        self.assert_healthy()
        self.assertEqual(requests.get(f"http://127.0.0.1:{self.METRICS_PORT}/healthz", timeout=5).status_code, 200)

    # ------------------------------------------------------------------ item 2
    def test_item2_long_paths_and_ids_are_refused_without_crashing(self):
        auth = self.key_header()
        for path, statuses in (("/media/" + "a" * 250, (400, 404)), ("/api/v1/jobs/" + "j" * 400, (404,)),
                               ("/media/" + "a" * 3000, (400, 404)), ("/x" * 3000, (404, 414)),
                               ("/" + "a" * 20000, (414, 431))):
            req = f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n".encode()
            self.assert_error(raw(self.server.port, req), statuses)
        upgrade = ("GET /ws/job/" + "w" * 3000 + "/progress HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n" + auth + "\r\n").encode()
        self.assert_error(raw(self.server.port, upgrade), (404,))
        self.assert_healthy()

    # ------------------------------------------------------------------ item 3
    def test_item3_deeply_nested_json_is_400(self):
        body = "[" * 5000 + "]" * 5000
        r = self.api.post("/api/v1/jobs", data=body, headers={"Content-Type": "application/json"})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(h.error_of(r)[0], "invalid_json")
        r = self.api.post("/api/v1/jobs", data='{"a":' * 5000 + "1" + "}" * 5000)
        self.assertEqual(r.status_code, 400, r.text)
        self.assert_healthy()

    # ------------------------------------------------------------------ item 4
    def test_item4_idle_and_slowloris_connections_do_not_starve_routes(self):
        idle = [socket.create_connection(("127.0.0.1", self.server.port)) for _ in range(100)]
        slow = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", self.server.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            slow.append(s)
        try:
            for _ in range(3):
                self.assert_healthy(within=1.0)
                r = self.api.get("/api/v1/jobs")
                self.assertEqual(r.status_code, 200, r.text)
            # One more header line per second keeps a slowloris going on civetweb; here the whole
            # header has HEADER_TIMEOUT seconds from its first byte.
            for s in slow[:5]:
                s.sendall(b"X-a: b\r\n")
            self.assertTrue(closed_within(slow[0], HEADER_TIMEOUT + 3), "slowloris connection still open")
            self.assertTrue(all(closed_within(s, 2) for s in slow[1:20]))
            # Idle connections (no byte sent) stay until the keep-alive timeout: still open.
            idle[0].settimeout(0.2)
            with self.assertRaises((socket.timeout, TimeoutError)):
                idle[0].recv(1)
        finally:
            for s in idle + slow:
                s.close()
        self.assert_healthy()

    def test_item4_huge_declared_length_gets_413_and_the_connection_closes(self):
        for content_type in ("application/json", "multipart/form-data; boundary=x"):
            with socket.create_connection(("127.0.0.1", self.server.port)) as s:
                path = "/api/v1/upload" if content_type.startswith("multipart") else "/api/v1/jobs"
                s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\n{self.key_header()}Content-Type: {content_type}\r\n"
                           f"Content-Length: 99999999999\r\n\r\n").encode() + b"{" * 1000)
                t0 = time.time()
                s.settimeout(5)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.assertLess(time.time() - t0, 4, "the connection stayed open after 413")
                self.assert_error(data, (413,))
        self.assert_healthy()

    # ------------------------------------------------------------------ item 5
    def test_item5_many_websockets_hold_no_thread_and_finished_jobs_close(self):
        video = self.api.upload(h.TARGET_VIDEO)
        job = self.api.submit({"source": {"upload_id": self.source["id"]},
                               "target": {"upload_id": video["id"], "frame_range": [0, 40]},
                               "output": {"format": "mp4", "chunk_frames": 10}})
        url = f"ws://127.0.0.1:{self.server.port}/ws/job/{job['job_id']}/progress"
        headers = {"Authorization": f"Bearer {self.api.key}"}
        healthz_ms = []

        async def attack():
            # The sockets are read one after another: with the client's default 32-message queue, one
            # left unread while a slow (instrumented) job sends more stops reading frames at all — its
            # pongs (the client's own 1011 "keepalive ping timeout") and the server's close frame
            # ("no close frame sent"). An unbounded queue keeps every socket reading; no keepalive.
            sockets = [await websockets.connect(url, extra_headers=headers, open_timeout=10, ping_interval=None,
                                                max_queue=None) for _ in range(64)]
            # The 65th socket of this key: a real HTTP 429, not a silent refusal.
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as refused:
                await websockets.connect(url, extra_headers=headers, open_timeout=10)
            self.assertEqual(refused.exception.status_code, 429)
            for _ in range(5):
                t0 = time.time()
                r = await asyncio.to_thread(requests.get, self.server.url + "/healthz", timeout=5 * TIME_SCALE)
                healthz_ms.append((time.time() - t0) * 1000)
                self.assertEqual(r.status_code, 200)
            r = await asyncio.to_thread(self.api.get, "/api/v1/jobs")
            self.assertEqual(r.status_code, 200)
            # Every socket gets the terminal event and a normal close.
            last = []
            for ws in sockets:
                events = [json.loads(m) async for m in ws]
                self.assertEqual(ws.close_code, 1000)
                last.append(events[-1])
            return last

        last = asyncio.run(asyncio.wait_for(attack(), timeout=240 * TIME_SCALE))
        self.assertTrue(all(e["status"] == "completed" for e in last), last[:2])
        self.assertLess(max(healthz_ms), 1000 * TIME_SCALE, healthz_ms)
        final_seq = len(self.api.get(f"/api/v1/jobs/{job['job_id']}/events").json()["events"])

        async def resume():
            t0 = time.time()
            async with websockets.connect(f"{url}?since={final_seq}", extra_headers=headers, open_timeout=10) as ws:
                received = [m async for m in ws]
                return received, ws.close_code, time.time() - t0

        received, code, seconds = asyncio.run(asyncio.wait_for(resume(), timeout=10))
        self.assertEqual(received, [])
        self.assertEqual(code, 1000)
        self.assertLess(seconds, 2)
        self.assert_healthy()

    def test_refused_websocket_upgrades_get_http_answers(self):
        def upgrade(path, key=None):
            auth = f"Authorization: Bearer {key}\r\n" if key else ""
            return raw(self.server.port, timeout=1.5, data=(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                          f"Sec-WebSocket-Version: 13\r\n{auth}\r\n").encode())

        job = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"]))["job_id"]
        for path in (f"/ws/job/{job}/progress", f"/api/v1/jobs/{job}/events"):
            self.assertEqual(self.assert_error(upgrade(path), (401,))[0], 401)
            self.assertEqual(self.assert_error(upgrade(path.replace(job, "job_missing"), self.api.key), (404,))[0], 404)
            accepted = upgrade(path, self.api.key)
            self.assertTrue(accepted.startswith(b"HTTP/1.1 101"), accepted[:200])

    # ------------------------------------------------------------------ item 6
    def test_item6_chunked_upload_over_the_limit_is_413_and_nothing_is_stored(self):
        def chunks():
            with open(h.TARGET_PHOTO, "rb") as f:
                yield f.read()
            for _ in range(40):  # 2.5 MiB past a 1 MiB limit
                yield os.urandom(64 * 1024)

        boundary = "attackBoundary"

        def body():
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n"
                   "Content-Type: image/jpeg\r\n\r\n").encode()
            yield from chunks()
            yield f"\r\n--{boundary}--\r\n".encode()

        uploads = os.path.dirname(h.stored_path(self.server.data_dir, "uploads", "x"))
        before = set(os.listdir(uploads)) if os.path.isdir(uploads) else set()
        try:
            r = self.api.post("/api/v1/upload", data=body(),
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            self.assertEqual(r.status_code, 413, r.text)
            self.assertEqual(h.error_of(r)[0], "limit_exceeded")
        except requests.ConnectionError:
            pass  # the server closed the connection while the client was still sending: also refused
        after = set(os.listdir(uploads)) if os.path.isdir(uploads) else set()
        self.assertEqual(after, before, "nothing stored")
        self.assertEqual(h.leftovers([os.path.join(self.server.data_dir, "tmp", "uploads", p) for p in
                                      os.listdir(os.path.join(self.server.data_dir, "tmp", "uploads"))]), [])
        self.assert_healthy()

    # ------------------------------------------------------------------ item 7
    def test_item7_invalid_utf8_and_cut_filenames_are_stored_with_a_valid_name(self):
        with open(h.TARGET_PHOTO, "rb") as f:
            photo = f.read()
        for name in (b"\xff\xfeface.jpg", ("\u20ac" * 70).encode() + b".jpg", b"a" * 199 + "\u20ac".encode()):
            boundary = b"nameBoundary"
            body = (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + name +
                    b"\"\r\nContent-Type: image/jpeg\r\n\r\n" + photo + b"\r\n--" + boundary + b"--\r\n")
            r = self.api.post("/api/v1/upload", data=body,
                              headers={"Content-Type": "multipart/form-data; boundary=nameBoundary"})
            self.assertEqual(r.status_code, 201, r.text)
            stored = r.json()["filename"]
            self.assertLessEqual(len(stored.encode("utf-8")), 200)
            self.assertNotIn("\ufffd\ufffd\ufffd\ufffd", stored)
            listed = self.api.get(f"/api/v1/jobs").status_code
            self.assertEqual(listed, 200)

    # ------------------------------------------------------------------ HTTP weaknesses
    def test_request_smuggling_framing_is_400_and_closes(self):
        auth = self.key_header()
        for framing in ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                        "Content-Length: 5\r\nContent-Length: 5\r\n",
                        "Content-Length: 5\r\nContent-Length: 6\r\n",
                        "Transfer-Encoding: gzip\r\n"):
            smuggled = b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n"
            req = (f"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\n{auth}{framing}\r\n").encode() + b"0\r\n\r\n" + smuggled
            response = raw(self.server.port, req)
            self.assert_error(response, (400,))
            self.assertEqual(response.count(b"HTTP/1.1 "), 1, f"{framing!r}: answered as two requests")

    def test_header_limits_are_431(self):
        big = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 20000 + "\r\n\r\n"
        self.assert_error(raw(self.server.port, big.encode()), (431,))
        many = "GET /healthz HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-{i}: v\r\n" for i in range(150)) + "\r\n"
        self.assert_error(raw(self.server.port, many.encode()), (431,))
        self.assert_healthy()

    def test_head_on_media_and_allow_on_405(self):
        job = self.api.wait(self.api.submit(self.api.swap_body(self.source["id"], self.target["id"]))["job_id"])
        url = job["output_url"]
        full = self.api.get(url)
        head = self.api.session.head(self.server.url + url, timeout=10)
        self.assertEqual(head.status_code, 200)
        self.assertEqual(head.content, b"")
        self.assertEqual(int(head.headers["Content-Length"]), len(full.content))
        self.assertEqual(head.headers["Content-Type"], full.headers["Content-Type"])
        r = self.api.session.put(self.server.url + "/api/v1/jobs", timeout=10)
        self.assertEqual(r.status_code, 405)
        self.assertEqual(sorted(m.strip() for m in r.headers["Allow"].split(",")), ["GET", "HEAD", "POST"])

    def test_no_cors_headers(self):
        r = requests.options(self.server.url + "/api/v1/jobs", timeout=10,
                             headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        self.assertNotIn("Access-Control-Allow-Origin", r.headers)
        r = self.api.get("/api/v1/jobs", headers={"Origin": "https://evil.example"})
        self.assertNotIn("Access-Control-Allow-Origin", r.headers)


class NoAuthLoopback(h.ServerTestCase):
    """--no-auth: only the server's own origin may change state; 404s cost rate-limit tokens;
    connections per address are capped."""
    SERVER_ARGS = ("--workers", "1", "--ip-rate-limit", "5", "--ip-rate-burst", "100",
                   "--max-connections-per-address", "150")

    @classmethod
    def setUpClass(cls):
        cls.server = h.Server(*cls.SERVER_ARGS, auth=False)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.api = cls.server.client()

    def post_raw(self, host, origin=None, content_type="application/json", body=b"{}"):
        extra = f"Origin: {origin}\r\n" if origin else ""
        req = (f"POST /api/v1/jobs HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: {content_type}\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        return status_and_json(raw(self.server.port, req))

    def test_cross_site_posts_are_403(self):
        own = f"127.0.0.1:{self.server.port}"
        self.assertEqual(self.post_raw("evil.example")[0], 403)
        self.assertEqual(self.post_raw(f"evil.example:{self.server.port}")[0], 403)
        self.assertEqual(self.post_raw(own, origin="http://evil.example", content_type="text/plain")[0], 403)
        self.assertEqual(self.post_raw(own, origin="null")[0], 403)
        # The server's own page and plain clients pass (to validation: an empty body is 400).
        self.assertEqual(self.post_raw(own, origin=f"http://{own}")[0], 400)
        self.assertEqual(self.post_raw(f"localhost:{self.server.port}")[0], 400)
        # Reading stays open to any client on loopback.
        self.assertEqual(status_and_json(raw(self.server.port, get("/api/v1/jobs", host="evil.example")))[0], 200)
        self.assert_error_free_after()

    def test_item1_on_no_auth_too(self):
        for path in ("/nonexistent%ff", "/healthz%ff", "/api/v1/jobs?status=%ff", "/api/v1/jobs?cursor=%ff",
                     "/media/%c0%ae%c0%ae/x"):
            status, _, body = status_and_json(raw(self.server.port, get(path)))
            self.assertTrue(400 <= status < 500, (path, status))
            self.assertEqual(set(body), {"error", "message"})
        self.assert_error_free_after()

    def test_rate_limits_404s_and_caps_connections_per_address(self):
        statuses = [status_and_json(raw(self.server.port, get(f"/no/such/route/{i}")))[0] for i in range(150)]
        self.assertIn(429, statuses)
        self.assertEqual(statuses[0], 404)
        held = []
        try:
            for _ in range(150):
                held.append(socket.create_connection(("127.0.0.1", self.server.port)))
            status, head, body = status_and_json(raw(self.server.port, get("/healthz")))
            self.assertEqual(status, 429, head)
            self.assertIn("too many connections", body["message"])
        finally:
            for s in held:
                s.close()
        time.sleep(0.2)
        h.wait_for(lambda: requests.get(self.server.url + "/healthz", timeout=5).status_code == 200, timeout=10)

    def test_listen_with_a_port_alone_is_loopback(self):
        port = h.free_port()
        with tempfile.TemporaryDirectory(prefix="facefuse-listen-") as data:
            server = subprocess.Popen([h.BINARY, "serve", "--listen", str(port), "--data", data, "--no-auth"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                line = ""
                while "serving on" not in line:
                    line = server.stdout.readline()
                    self.assertTrue(line, "serve exited before serving")
                self.assertIn(f"serving on http://127.0.0.1:{port}/", line)
                self.assertEqual(requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code, 200)
            finally:
                server.terminate()
                server.wait(timeout=30)
                server.stdout.close()

    def assert_error_free_after(self):
        self.assertIsNone(self.server.process.poll())
        self.assertEqual(requests.get(self.server.url + "/healthz", timeout=5).status_code, 200)


if __name__ == "__main__":
    h.main()
