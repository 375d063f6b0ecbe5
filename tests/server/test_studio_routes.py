"""End-to-end: the routes of the web studio on a real `facefuse serve` (with API keys on).

- GET /api/v1/processors: every registered processor and the shared face options with the
  schemas the API validates against (a value outside a published range is refused by submit);
- POST /api/v1/preview: a job body → one JPEG frame at reduced size with the counts of faces
  found and processed, no job created; a second identical preview reuses the opened engine;
  errors name the user's file and input, never a server path;
- GET / and /assets/*: the embedded page with its security headers; /api/v1/status carries the
  upload limits the page checks files against.
"""
import os
import re
import sys

import requests

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402

# dlib's example photo of dogs: no human face (ASSETS.md).
NO_FACE = os.path.join(h.TESTDATA, "dlib_faces", "dogs.jpg")


class StudioRoutes(h.ServerTestCase):
    SERVER_ARGS = ("--workers", "1", "--max-upload-mb", "300")

    def test_processors_lists_the_registry_schemas(self):
        r = self.api.get("/api/v1/processors")
        self.assertEqual(r.status_code, 200, r.text)
        doc = r.json()
        names = [p["name"] for p in doc["processors"]]
        self.assertEqual(names, ["face_swapper", "face_enhancer", "face_debugger"])
        models = {p["name"] for p in self.api.get("/api/v1/models").json()["processors"]}
        self.assertEqual(set(names), models)
        face = {o["name"]: o for o in doc["face_options"]}
        self.assertEqual(face["face_selector_mode"]["choices"], ["many", "one", "reference"])
        self.assertEqual(face["face_selector_mode"]["default"], "reference")
        swapper = {o["name"]: o for o in doc["processors"][0]["options"]}
        blend = swapper["face_swapper_blend"]
        self.assertEqual(blend["type"], "number")
        self.assertTrue(blend["min"] <= blend["default"] <= blend["max"], blend)
        for o in doc["face_options"] + [o for p in doc["processors"] for o in p["options"]]:
            self.assertTrue(o["help"], o)
        # Mask settings (issue 15): multi-choices with their choices, the padding as four numbers.
        types = swapper["face_mask_types"]
        self.assertEqual((types["type"], types["choices"], types["default"]),
                         ("string_list", ["box", "occlusion", "region", "area"], ["box"]))
        self.assertIn("nose", swapper["face_mask_regions"]["choices"])
        self.assertEqual(swapper["face_mask_regions"]["type"], "string_list")
        self.assertEqual(swapper["face_mask_regions"]["default"], swapper["face_mask_regions"]["choices"])
        self.assertEqual(swapper["face_mask_areas"]["choices"], ["upper-face", "lower-face", "mouth"])
        padding = swapper["face_mask_padding"]
        self.assertEqual((padding["type"], padding["default"], padding["min"], padding["max"]),
                         ("padding", [0, 0, 0, 0], 0, 100))
        # Submit takes the lists and the old text spellings, and refuses a choice not listed.
        for options in ({"face_mask_types": ["box", "area"], "face_mask_padding": [10, 0, 0, 0]},
                        {"face_mask_types": "box area", "face_mask_padding": "10 20"}):
            ok = self.api.post("/api/v1/preview", json=self.api.swap_body(self.source["id"], self.target["id"],
                                                                         options=options))
            self.assertEqual(ok.status_code, 200, ok.text)
        bad = self.api.post("/api/v1/jobs", json=self.api.swap_body(
            self.source["id"], self.target["id"], options={"face_mask_regions": ["nose", "ear"]}))
        self.assert_error(bad, 400, "invalid_argument", mentions=("face_mask_regions", "ear"))
        # The published range is the one submit enforces.
        over = self.api.post("/api/v1/jobs", json=self.api.swap_body(
            self.source["id"], self.target["id"], options={"face_swapper_blend": blend["max"] + 1}))
        self.assertEqual(over.status_code, 400, over.text)
        self.assertIn("face_swapper_blend", over.json()["message"])
        # A model choice that is not installed is marked as such.
        enhancer = {o["name"]: o for o in doc["processors"][1]["options"]}["face_enhancer_model"]
        states = {m["id"]: m["state"] for m in self.api.get("/api/v1/models").json()["models"]}
        for choice in enhancer["choices"]:
            if states.get(choice) == "missing":
                self.assertIn(choice, enhancer["missing_models"])
        # Keys are on: no key, no schemas.
        self.assertEqual(requests.get(self.server.url + "/api/v1/processors").status_code, 401)

    def test_preview_answers_a_reduced_jpeg_without_creating_a_job(self):
        jobs_before = len(self.api.get("/api/v1/jobs?limit=100").json()["jobs"])
        body = self.api.swap_body(self.source["id"], self.target["id"])
        r = self.api.post("/api/v1/preview", json=body)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["Content-Type"], "image/jpeg")
        self.assertEqual(r.content[:3], b"\xff\xd8\xff")
        w, h_ = (int(v) for v in r.headers["X-Facefuse-Size"].split("x"))
        self.assertEqual(max(w, h_), 640)
        self.assertEqual(r.headers["X-Facefuse-Target-Faces"], "1")
        self.assertEqual(r.headers["X-Facefuse-Processed-Faces"], "1")
        again = self.api.post("/api/v1/preview", json=body)
        self.assertEqual(again.headers["X-Facefuse-Preview-Warm"], "1", "the engine is reused")
        self.assertEqual(again.content, r.content)
        original = self.api.post("/api/v1/preview", json=dict(body, preview={"original": True}))
        self.assertEqual(original.headers["X-Facefuse-Processed-Faces"], "0")
        self.assertNotEqual(original.content, r.content)
        self.assertEqual(len(self.api.get("/api/v1/jobs?limit=100").json()["jobs"]), jobs_before, "no job")

    def test_preview_of_a_video_frame_and_its_range(self):
        video = self.api.upload(h.TARGET_VIDEO)
        body = self.api.swap_body(self.source["id"], video["id"], target={"upload_id": video["id"], "frame_range": [20, 40]})
        r = self.api.post("/api/v1/preview", json=body)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["X-Facefuse-Frame"], "20", "the first frame of the range")
        r = self.api.post("/api/v1/preview", json=dict(body, preview={"frame_number": 33}))
        self.assertEqual(r.headers["X-Facefuse-Frame"], "33")
        past = self.api.post("/api/v1/preview", json=dict(body, preview={"frame_number": 68}))
        self.assertEqual(past.status_code, 400, past.text)
        code, message = h.error_of(past)
        self.assertIn("talking_head_640x480.mp4", message)
        bad = self.api.post("/api/v1/preview", json=dict(body, preview={"frame": 3}))
        self.assertEqual(bad.status_code, 400)
        self.assertIn("preview.frame", h.error_of(bad)[1])

    def test_preview_errors_name_the_users_file_never_a_server_path(self):
        no_face = self.api.upload(NO_FACE, name="my holiday.jpg")
        r = self.api.post("/api/v1/preview", json=self.api.swap_body(no_face["id"], self.target["id"]))
        self.assertEqual(r.status_code, 422, r.text)
        code, message = h.error_of(r)
        self.assertEqual(code, "no_face")
        self.assertIn("my holiday.jpg", message)
        self.assertIn("source", message)
        self.assertNotIn(self.server.data_dir, message)
        self.assertIsNone(re.search(r"/tmp/|/preview/|part_", message), message)
        missing = self.api.post("/api/v1/preview", json=self.api.swap_body("up_0000000000000000", self.target["id"]))
        self.assertEqual(missing.status_code, 404, missing.text)
        self.assertEqual(self.api.post("/api/v1/preview", json={}).status_code, 400)

    def test_page_and_assets_carry_the_security_headers_and_status_the_limits(self):
        for path in ["/"] + re.findall(r'(?:src|href)="(/assets/[^"]+)"', requests.get(self.server.url + "/").text):
            r = requests.get(self.server.url + path)
            self.assertEqual(r.status_code, 200, path)
            csp = r.headers["Content-Security-Policy"]
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(requests.get(self.server.url + "/assets/nothing.js").status_code, 404)
        limits = self.api.get("/api/v1/status").json()["limits"]
        self.assertEqual(limits["max_upload_bytes"], 300 * 1024 * 1024)
        self.assertEqual(limits["max_pixels"], 40_000_000)
        self.assertEqual(limits["max_video_seconds"], 600)


if __name__ == "__main__":
    h.main()
