"""API hardening (issue 10, "Weaknesses to close"), against a real `facefuse serve`:

keys only in headers (no ?api_key=, `bearer` in any case, WebSocket subprotocol
`facefuse.bearer.<key>`), signed short-lived media links, key listing and revocation with tenant
limits, /api/v1/status per tenant, upload deletion, webhooks to internal addresses refused at
submit, submit-time validation naming request fields (quality 1e300, frames beyond the video),
0×0 images refused, upload names always valid UTF-8, job errors without server paths, and the
free-space reserve (507, /readyz 503, deletes still working) on a small tmpfs data directory.
"""
import asyncio
import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

import requests
import websockets

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402


def png_of_size(width, height):
    """A PNG whose header declares width × height (no pixel data needed: uploads read the header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk +
            struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF) + b"\x00" * 64)


def multipart_upload(client, filename_bytes, content):
    """POST /api/v1/upload with the file name sent byte for byte (clients would encode it)."""
    boundary = b"facefuseboundary7d3"
    body = (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename_bytes +
            b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--" + boundary + b"--\r\n")
    return client.post("/api/v1/upload", data=body,
                       headers={"Content-Type": "multipart/form-data; boundary=" + boundary.decode()})


def ws_collect(server, job_id, subprotocols=None, query="since=0", headers=None):
    """(chosen subprotocol, events) of a progress WebSocket; raises when the upgrade is refused."""
    url = f"ws://127.0.0.1:{server.port}/ws/job/{job_id}/progress?{query}"

    async def collect():
        events = []
        async with websockets.connect(url, subprotocols=subprotocols, extra_headers=headers or {},
                                      open_timeout=10) as ws:
            async for message in ws:
                events.append(json.loads(message))
            return ws.subprotocol, events

    return asyncio.run(asyncio.wait_for(collect(), timeout=120))


class Hardening(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.job = cls.api.wait(cls.api.submit(cls.api.swap_body(cls.source["id"], cls.target["id"]))["job_id"])
        assert cls.job["status"] == "completed", cls.job

    def new_key(self, tenant, scopes="submit,read", admin=None):
        r = (admin or self.api).post("/api/v1/keys", json={"tenant": tenant, "scopes": scopes})
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    # ------------------------------------------------------------ keys in headers only
    def test_bearer_scheme_is_case_insensitive(self):
        for scheme in ("bearer", "BEARER", "bEaReR"):
            r = requests.get(self.server.url + "/api/v1/status",
                             headers={"Authorization": f"{scheme} {self.server.admin_key}"}, timeout=10)
            self.assertEqual(r.status_code, 200, f"{scheme}: {r.text}")

    def test_api_key_in_the_url_is_refused_everywhere(self):
        key = self.server.admin_key
        bare = self.job["output_url"].split("?")[0]
        for path in ("/api/v1/status", f"/api/v1/jobs/{self.job['job_id']}", bare):
            r = requests.get(f"{self.server.url}{path}?api_key={key}", timeout=10)
            self.assert_error(r, 401, "unauthenticated", ["Authorization"])
        # A refused upgrade gets a 401 answer (test_attacks checks its body); the client raises.
        with self.assertRaises(Exception):
            ws_collect(self.server, self.job["job_id"], query=f"since=0&api_key={key}")

    def test_websocket_key_as_subprotocol(self):
        chosen, events = ws_collect(self.server, self.job["job_id"],
                                    subprotocols=["facefuse.v1", f"facefuse.bearer.{self.server.admin_key}"])
        self.assertEqual(chosen, "facefuse.v1", "the server picks the plain protocol, never echoing the key")
        self.assertEqual(events[-1]["status"], "completed")
        self.assertIn("sig=", events[-1]["output_url"], "events carry signed links too")
        with self.assertRaises(Exception):
            ws_collect(self.server, self.job["job_id"], subprotocols=["facefuse.v1"])
        with self.assertRaises(Exception):
            ws_collect(self.server, self.job["job_id"], subprotocols=["facefuse.v1", "facefuse.bearer.ff_" + "a" * 52])

    # ------------------------------------------------------------ signed media links
    def test_output_url_is_a_signed_link_that_needs_no_key(self):
        job = self.api.job(self.job["job_id"])
        url = job["output_url"]
        path, _, query = url.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&"))
        self.assertTrue(path.startswith("/media/default/"), url)
        self.assertTrue(path.endswith(f"/outputs/{self.job['job_id']}/output.jpg"), url)
        ttl = int(params["expires"]) - time.time()
        self.assertTrue(3500 < ttl <= 3601, f"default TTL 1 h, got {ttl:.0f} s")
        with_key = self.api.get(path)
        self.assertEqual(with_key.status_code, 200, with_key.text)
        anonymous = requests.get(self.server.url + url, timeout=10)
        self.assertEqual(anonymous.status_code, 200, anonymous.text)
        self.assertEqual(hashlib.sha256(anonymous.content).hexdigest(), hashlib.sha256(with_key.content).hexdigest())
        part = requests.get(self.server.url + url, headers={"Range": "bytes=0-99"}, timeout=10)
        self.assertEqual(part.status_code, 206)
        self.assertEqual(part.content, with_key.content[:100])
        # Forged, moved, expired: 403 (and no key needed to learn it, none given).
        forged = url[:-1] + ("0" if url[-1] != "0" else "1")
        self.assert_error(requests.get(self.server.url + forged, timeout=10), 403, "forbidden")
        later = url.replace(f"expires={params['expires']}", f"expires={int(params['expires']) + 86400}")
        self.assert_error(requests.get(self.server.url + later, timeout=10), 403, "forbidden")
        other_job = self.api.submit(self.api.swap_body(self.source["id"], self.target["id"]))  # cached copy
        moved = other_job["output_url"].split("?")[0] + "?" + query
        self.assert_error(requests.get(self.server.url + moved, timeout=10), 403, "forbidden")
        # An expired link, signed with the data directory's real secret: refused as expired.
        with open(os.path.join(self.server.data_dir, "media_link.key")) as f:
            secret = f.read().strip().encode()
        self.assertEqual(os.stat(os.path.join(self.server.data_dir, "media_link.key")).st_mode & 0o777, 0o600)
        expires = int(time.time()) - 5
        sig = hmac.new(secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
        message = self.assert_error(requests.get(f"{self.server.url}{path}?expires={expires}&sig={sig}", timeout=10),
                                    403, "forbidden")
        self.assertIn("expired", message)
        # Without a signature the media route still needs a key of the job's tenant.
        self.assert_error(requests.get(self.server.url + path, timeout=10), 401)
        stranger = self.server.client(self.new_key("stranger")["key"])
        self.assert_error(stranger.get(path), 404)

    # ------------------------------------------------------------ keys: list, revoke, tenants
    def test_keys_are_listed_and_revoked_within_limits(self):
        acme_admin = self.server.client(self.new_key("acme", "admin")["key"])
        minted = acme_admin.post("/api/v1/keys", json={"tenant": "acme", "scopes": "read"})
        self.assertEqual(minted.status_code, 201, minted.text)
        reader = self.server.client(minted.json()["key"])
        self.assertEqual(reader.get("/api/v1/status").status_code, 200)
        # A tenant's admin key stays in its tenant.
        self.assert_error(acme_admin.post("/api/v1/keys", json={"tenant": "globex", "scopes": "submit,read"}), 403,
                          "forbidden", ["acme"])
        self.assert_error(acme_admin.get("/api/v1/keys?tenant=default"), 403, "forbidden")
        listed = acme_admin.get("/api/v1/keys")
        self.assertEqual(listed.status_code, 200, listed.text)
        rows = listed.json()["keys"]
        self.assertEqual({k["tenant"] for k in rows}, {"acme"})
        self.assertIn(minted.json()["id"], {k["id"] for k in rows})
        for k in rows:
            self.assertEqual(set(k), {"id", "tenant", "scopes", "created_at"}, "never a hash or a key")
        self.assertNotIn(minted.json()["key"], listed.text)
        # The operator tenant's admin (the bootstrap key) sees and manages any tenant.
        self.assertEqual({k["tenant"] for k in self.api.get("/api/v1/keys").json()["keys"]}, {"default"})
        self.assertEqual(len(self.api.get("/api/v1/keys?tenant=acme").json()["keys"]), len(rows))
        self.assert_error(reader.get("/api/v1/keys"), 403, "forbidden", ["admin"])
        # Revoked: 401 from the next request on.
        r = acme_admin.delete(f"/api/v1/keys/{minted.json()['id']}")
        self.assertEqual(r.status_code, 200, r.text)
        self.assert_error(reader.get("/api/v1/status"), 401, "unauthenticated")
        self.assert_error(acme_admin.delete(f"/api/v1/keys/{minted.json()['id']}"), 404, "not_found")
        default_ids = [k["id"] for k in self.api.get("/api/v1/keys").json()["keys"]]
        self.assert_error(acme_admin.delete(f"/api/v1/keys/{default_ids[0]}"), 404, "not_found")
        # The last admin key of the operator tenant cannot be revoked (nobody could manage keys).
        self.assert_error(self.api.delete(f"/api/v1/keys/{default_ids[0]}"), 409, "failed_precondition", ["last admin"])

    def test_status_counts_only_the_callers_tenant(self):
        visitor = self.server.client(self.new_key("visitor", "read")["key"])
        mine = self.api.get("/api/v1/status").json()["jobs"]
        self.assertGreaterEqual(mine["completed"], 1)
        theirs = visitor.get("/api/v1/status").json()["jobs"]
        self.assertEqual(set(theirs), {"pending", "processing", "completed", "failed", "cancelled"})
        self.assertEqual(sum(theirs.values()), 0, theirs)

    # ------------------------------------------------------------ uploads
    def test_upload_is_deleted_unless_an_unfinished_job_uses_it(self):
        video = self.api.upload(h.TARGET_VIDEO)
        job = self.api.submit(self.api.swap_body(self.source["id"], video["id"]))
        self.assert_error(self.api.delete(f"/api/v1/uploads/{video['id']}"), 409, "failed_precondition",
                          [job["job_id"]])
        stranger = self.server.client(self.new_key("uploader")["key"])
        self.assert_error(stranger.delete(f"/api/v1/uploads/{video['id']}"), 404, "not_found")
        self.api.post(f"/api/v1/jobs/{job['job_id']}/cancel")
        self.api.wait(job["job_id"])
        stored = h.stored_path(self.server.data_dir, "uploads", video["id"])
        self.assertTrue(os.path.isdir(stored))
        r = self.api.delete(f"/api/v1/uploads/{video['id']}")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"upload_id": video["id"], "deleted": True})
        self.assertEqual(h.leftovers([os.path.join(stored, "input.video")]), [], "the file is gone too")
        self.assert_error(self.api.post("/api/v1/jobs", json=self.api.swap_body(self.source["id"], video["id"])), 404)
        self.assert_error(self.api.delete(f"/api/v1/uploads/{video['id']}"), 404)

    def test_upload_names_are_valid_utf8_cut_at_a_character(self):
        with open(h.TARGET_PHOTO, "rb") as f:
            photo = f.read()
        r = multipart_upload(self.api, b"bad\xff\xfename.jpg", photo)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["filename"], "bad\ufffd\ufffdname.jpg")
        long_name = b"x" + "\u00e9".encode() * 120 + b".jpg"  # the 200-byte cut falls inside an é
        r = multipart_upload(self.api, long_name, photo)
        self.assertEqual(r.status_code, 201, r.text)
        name = r.json()["filename"]
        self.assertLessEqual(len(name.encode()), 200)
        self.assertEqual(name, "x" + "\u00e9" * 99)

    def test_images_without_pixels_are_refused_at_upload(self):
        for w, hgt in ((0, 0), (1, 0), (0, 7)):
            r = multipart_upload(self.api, b"empty.png", png_of_size(w, hgt))
            self.assert_error(r, 422, "invalid_media", [f"{w}x{hgt}"])
        self.assertEqual(os.listdir(os.path.join(self.server.data_dir, "tmp", "uploads")), [], "nothing left behind")

    # ------------------------------------------------------------ submit-time validation
    def test_webhooks_to_internal_addresses_are_refused_at_submit(self):
        for url in ("http://127.0.0.1:9/hook", "http://localhost:8080/x", "http://10.1.2.3/h", "http://[::1]/h",
                    "http://169.254.169.254/latest/meta-data"):
            body = self.api.swap_body(self.source["id"], self.target["id"], webhook={"url": url})
            message = self.assert_error(self.api.post("/api/v1/jobs", json=body), 400, "invalid_argument",
                                        ["webhook.url"])
            self.assertNotIn("--", message, "no server flag in a client's error")

    def test_quality_and_frames_are_checked_naming_the_field(self):
        base = json.dumps(self.api.swap_body(self.source["id"], self.target["id"]))[:-1]
        for quality in ("1e300", "-1e300", "1e19", "18446744073709551615", "101", "50.5"):
            r = self.api.post("/api/v1/jobs", data=base + ', "output": {"quality": ' + quality + "}}",
                              headers={"Content-Type": "application/json"})
            self.assert_error(r, 400, "invalid_argument", ["output.quality"])
        video = self.api.upload(h.TARGET_VIDEO)  # 68 frames
        for target, output in (({"frame_number": 68}, {"format": "png"}),
                               ({"frame_number": 10**12}, {"format": "jpg"}),
                               ({"frame_range": [10, 500]}, {}),
                               ({"frame_range": [70, 80]}, {})):
            body = self.api.swap_body(self.source["id"], video["id"], output=output)
            body["target"].update(target)
            field = "target." + next(iter(target))
            message = self.assert_error(self.api.post("/api/v1/jobs", json=body), 400, "invalid_argument", [field])
            self.assertNotIn("--", message)
            self.assertNotIn(self.server.data_dir, message)

    def test_job_errors_name_the_input_not_a_server_path(self):
        with open(h.SOURCE_FACE, "rb") as f:
            broken = f.read()[:4000]  # a PNG header (accepted at upload) with the picture cut off
        r = multipart_upload(self.api, b"holiday.png", broken)
        self.assertEqual(r.status_code, 201, r.text)
        done = self.api.wait(self.api.submit(self.api.swap_body(self.source["id"], r.json()["id"]))["job_id"])
        self.assertEqual(done["status"], "failed", done)
        message = done["error"]["message"]
        for leak in (self.server.data_dir, "/tmp", "/storage/", "inputs/target", "/root", "--"):
            self.assertNotIn(leak, message)
        self.assertIn("holiday.png", message)


def can_mount_tmpfs():
    if os.geteuid() != 0:
        return False
    probe = tempfile.mkdtemp(prefix="facefuse-tmpfs-probe-")
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", probe], check=True)
        return ok
    finally:
        os.rmdir(probe)


@unittest.skipUnless(can_mount_tmpfs(), "needs root to mount a small tmpfs as the data directory")
class FullDisk(unittest.TestCase):
    """A 64 MiB tmpfs data directory with a 24 MiB reserve, filled by another file."""

    @classmethod
    def setUpClass(cls):
        cls.mount = tempfile.mkdtemp(prefix="facefuse-fulldisk-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", cls.mount], check=True)
        cls.addClassCleanup(lambda: (subprocess.run(["umount", "-l", cls.mount]), os.rmdir(cls.mount)))
        os.mkdir(os.path.join(cls.mount, "data"))
        cls.server = h.Server("--workers", "1", "--min-free-mb", "24", data_dir=os.path.join(cls.mount, "data"))
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.api = cls.server.client()

    def fill(self, leave_bytes):
        """Grows a filler file (not the server's) until about `leave_bytes` are free."""
        filler = os.path.join(self.mount, "filler")
        st = os.statvfs(self.mount)
        free = st.f_bavail * st.f_frsize
        with open(filler, "ab", buffering=0) as f:
            remaining = max(0, free - leave_bytes)
            try:
                while remaining > 0:
                    remaining -= f.write(b"\0" * min(remaining, 1 << 20))
                while leave_bytes == 0:
                    f.write(b"\0" * 4096)  # to the last page
            except OSError:
                pass  # ENOSPC: as full as it gets
        return filler

    def test_reserve_refuses_writes_and_deletes_still_work(self):
        source = self.api.upload(h.SOURCE_FACE)
        target = self.api.upload(h.TARGET_PHOTO)
        jobs = [self.api.wait(self.api.submit(self.api.swap_body(source["id"], target["id"]))["job_id"])]
        jobs.append(self.api.submit(self.api.swap_body(source["id"], target["id"])))  # cached copy: no worker
        self.assertEqual(jobs[0]["status"], "completed", jobs[0])
        spare = self.api.upload(h.TARGET_PHOTO)
        self.assertEqual(requests.get(self.server.url + "/readyz", timeout=10).status_code, 200)

        filler = self.fill(8 << 20)  # below the 24 MiB reserve
        ready = requests.get(self.server.url + "/readyz", timeout=10)
        self.assertEqual(ready.status_code, 503, ready.text)
        self.assertIn("full", ready.json()["checks"]["storage"])
        with open(h.TARGET_PHOTO, "rb") as f:
            r = self.api.post("/api/v1/upload", files={"file": ("more.jpg", f)})
        self.assertEqual(r.status_code, 507, r.text)
        self.assertEqual(h.error_of(r)[0], "insufficient_storage")
        r = self.api.post("/api/v1/jobs", json=self.api.swap_body(source["id"], target["id"]))
        self.assertEqual(r.status_code, 507, r.text)
        self.assertEqual(h.error_of(r)[0], "insufficient_storage")
        self.assertEqual(self.api.delete(f"/api/v1/jobs/{jobs[0]['job_id']}").status_code, 200)
        self.assertEqual(self.api.delete(f"/api/v1/uploads/{spare['id']}").status_code, 200)

        self.fill(0)  # completely full: deleting is still how space comes back
        self.assertEqual(self.api.get("/healthz").status_code, 200)
        r = self.api.delete(f"/api/v1/jobs/{jobs[1]['job_id']}")
        self.assertEqual(r.status_code, 200, r.text)
        r = self.api.delete(f"/api/v1/uploads/{target['id']}")
        self.assertEqual(r.status_code, 200, r.text)

        os.remove(filler)
        self.assertEqual(requests.get(self.server.url + "/readyz", timeout=10).status_code, 200)
        self.api.upload(h.TARGET_PHOTO)


if __name__ == "__main__":
    h.main()
