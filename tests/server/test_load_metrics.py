"""20 jobs queued on 2 workers all complete, never more than 2 at once; the live /metrics scrape
passes `promtool check metrics` and counts what happened.
"""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(__file__))
import service_harness as h  # noqa: E402

JOBS = 20


class LoadAndMetricsSlow(h.unittest.TestCase):
    def test_twenty_jobs_on_two_workers_then_promtool_on_a_live_scrape(self):
        with h.Server("--workers", "2") as server:
            api = server.client()
            source = api.upload(h.SOURCE_FACE)
            targets = [api.upload(os.path.join(h.PHOTOS, name)) for name in ("jesper.jpg", "anne_helene.jpg")]
            ids = []
            for i in range(JOBS):
                # Distinct options: 20 real jobs, none answered from the cache.
                body = api.swap_body(source["id"], targets[i % 2]["id"], options={"face_swapper_blend": 0.5 + i / 100})
                ids.append(api.submit(body)["job_id"])

            busy_seen, stop = [], threading.Event()

            def sample_busy():
                while not stop.is_set():
                    busy_seen.append(api.get("/api/v1/status").json()["workers_busy"])
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample_busy)
            sampler.start()
            try:
                finished = [api.wait(job_id, timeout=600) for job_id in ids]
            finally:
                stop.set()
                sampler.join()
            self.assertEqual([j["status"] for j in finished], ["completed"] * JOBS)
            self.assertTrue(all(not j["cached"] for j in finished))
            self.assertLessEqual(max(busy_seen), 2)
            self.assertEqual(max(busy_seen), 2, "both workers worked at once")
            self.assertEqual(len(set(ids)), JOBS)

            scrape = requests.get(server.url + "/metrics")
            self.assertEqual(scrape.status_code, 200)
            self.assertTrue(scrape.headers["Content-Type"].startswith("text/plain"))
            promtool = shutil.which("promtool")
            self.assertIsNotNone(promtool, "promtool is installed by scripts/setup (Debian package prometheus)")
            check = subprocess.run([promtool, "check", "metrics"], input=scrape.text, capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            text = scrape.text
            self.assertRegex(text, r'jobs\{state="completed"\} 20(\.0+)?\n')
            self.assertRegex(text, r"workers 2(\.0+)?\n")
            count = re.search(r"job_processing_seconds_count (\d+)", text)
            self.assertIsNotNone(count, text[:2000])
            self.assertEqual(int(count.group(1)), JOBS)
            self.assertRegex(text, r'http_requests_total\{[^}]*route="/api/v1/jobs"[^}]*\} \d+')


if __name__ == "__main__":
    h.main()
