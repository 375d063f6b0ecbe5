#!/usr/bin/python3
"""Model loading paid once per worker (issue 12): a 720p image job on a `facefuse worker` that
has already run one task (warm: its SessionCache holds the detector, landmarker and recognizer)
against the first task of a fresh worker (cold: opens every model), both in this invocation.

  model_load_bench.py FACEFUSE TESTDATA [--runs N]

Starts `facefuse serve --workers 0` on a free loopback port and a temporary data directory, a
720p target made from a test photo with ffmpeg, then
  cold: N times a new `facefuse worker --max-tasks 1` runs one job (its first task);
  warm: one `facefuse worker` runs N + 1 jobs; the first is dropped, the other N are second-or-later tasks.
Each job's options differ (face_swapper_blend) so the result cache never answers. Prints the
medians of the job's processing time (started_at → finished_at, the worker's part) and of submit →
completed seen by the client (adds the worker's idle poll, ≤ 0.5 s), and the warm/cold ratio.
"""
import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import requests

from bench_support import free_port


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("facefuse")
    parser.add_argument("testdata")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="facefuse-bench-models-")
    os.chmod(data, 0o700)
    processes = []
    try:
        target = os.path.join(data, "target_720p.jpg")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", os.path.join(args.testdata, "photos", "jesper.jpg"),
                        "-vf", "scale=-2:720,pad=1280:720:(ow-iw)/2:0", target], check=True)
        port = free_port()
        log = open(os.path.join(data, "serve.log"), "w")
        serve = subprocess.Popen([args.facefuse, "serve", "--workers", "0", "--no-auth", "--data", data, "--listen",
                                  f"127.0.0.1:{port}", "--rate-limit", "1000", "--rate-burst", "1000"],
                                 stdout=subprocess.DEVNULL, stderr=log)
        processes.append(serve)
        url = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(300):
            try:
                requests.get(url.replace("/api/v1", "/healthz"), timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)

        def upload(path):
            with open(path, "rb") as f:
                r = requests.post(url + "/upload", files={"file": (os.path.basename(path), f)}, timeout=60)
            r.raise_for_status()
            return r.json()["id"]

        source = upload(os.path.join(args.testdata, "photos", "astronaut.png"))
        target_id = upload(target)
        blend = iter(range(1, 1000))

        def run_job():
            body = {"source": {"upload_id": source}, "target": {"upload_id": target_id},
                    "options": {"face_swapper_blend": 0.5 + next(blend) / 10000}}
            t0 = time.time()
            job = requests.post(url + "/jobs", json=body, timeout=60).json()
            job_id = job["job_id"]
            while job.get("status") not in ("completed", "failed", "cancelled"):
                # 20 ms between polls: an idle machine at 5 ms outran the node's rate limit (429s).
                time.sleep(0.02)
                job = requests.get(f"{url}/jobs/{job_id}", timeout=30).json()
            wall = time.time() - t0
            if job["status"] != "completed":
                sys.exit(f"bench job ended {job['status']}: {job.get('error')}")
            return ts(job["finished_at"]) - ts(job["started_at"]), wall

        def worker(*extra):
            w = subprocess.Popen([args.facefuse, "worker", "--data", data, "--log-level", "warn", *extra],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes.append(w)
            return w

        cold = []
        for _ in range(args.runs):
            w = worker("--max-tasks", "1")
            cold.append(run_job())
            w.wait(timeout=60)
        w = worker()
        warm = [run_job() for _ in range(args.runs + 1)][1:]
        w.terminate()
        w.wait(timeout=60)

        def med(rows, i):
            return statistics.median(r[i] for r in rows)

        print(f"model loading per worker: 720p image job ({os.cpu_count()} CPUs, {args.runs} runs each, medians)")
        print(f"  first task of a fresh worker (cold): processing {med(cold, 0):.3f} s, submit->completed {med(cold, 1):.3f} s")
        print(f"  second+ task of one worker (warm):   processing {med(warm, 0):.3f} s, submit->completed {med(warm, 1):.3f} s")
        print(f"  warm/cold processing ratio {med(warm, 0) / med(cold, 0):.2f}")
        print("  cold runs:", " ".join(f"{r[0]:.3f}" for r in cold))
        print("  warm runs:", " ".join(f"{r[0]:.3f}" for r in warm))
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
