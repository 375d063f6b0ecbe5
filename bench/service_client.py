#!/usr/bin/python3
"""Client half of bench/service_bench.sh: talks to a running `facefuse serve`.

  service_client.py URL prepare            uploads the bench photos, runs one image job to the end and
                                           prints its job id (for wrk on GET /api/v1/jobs/{id})
  service_client.py URL latency --jobs N   N times, on an idle node: submit a job, open its progress
                                           WebSocket, time the first event and the first event showing
                                           the job processing; prints one JSON object with the medians
                                           and, as the baseline, the median GET /healthz round trip of
                                           the same client

Photos: --source and --target (real test photos). FACEFUSE_BENCH_KEY, when set, is sent as
"Authorization: Bearer <key>". Uses Debian's python3-requests and python3-websockets.
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import time

import requests
import websockets

TERMINAL = {"completed", "failed", "cancelled"}


def headers():
    key = os.environ.get("FACEFUSE_BENCH_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def check(response):
    if response.status_code >= 400:
        sys.exit(f"service_client: {response.request.method} {response.url} -> HTTP {response.status_code}: "
                 f"{response.text[:300]}")
    return response.json()


def upload(base, path):
    with open(path, "rb") as f:
        body = check(requests.post(f"{base}/api/v1/upload", headers=headers(),
                                   files={"file": (os.path.basename(path), f)}, timeout=60))
    return body["id"]


def job_body(source_id, target_id, blend_ratio):
    # A different blend ratio per job keeps the result cache from answering instead of a worker.
    return {"source": {"upload_id": source_id}, "target": {"upload_id": target_id},
            "options": {"processors": ["face_swapper"], "blend_ratio": blend_ratio}}


def event_state(event):
    return event.get("status") or event.get("state")


async def follow(base, job_id, submitted_at):
    """Seconds from submission to the first event and to the first 'processing' event; waits for the end."""
    ws_url = base.replace("http://", "ws://", 1) + f"/ws/job/{job_id}/progress"
    first = processing = None
    async with websockets.connect(ws_url, extra_headers=headers(), open_timeout=30) as ws:
        while True:
            message = await asyncio.wait_for(ws.recv(), timeout=300)
            now = time.perf_counter()
            event = json.loads(message)
            if first is None:
                first = now - submitted_at
            state = event_state(event)
            if processing is None and (state == "processing" or state in TERMINAL):
                processing = now - submitted_at
            if state in TERMINAL:
                return first, processing, state


def submit(base, body):
    started = time.perf_counter()
    job = check(requests.post(f"{base}/api/v1/jobs", headers=headers(), json=body, timeout=60))
    return job["job_id"], started


def prepare(base, args):
    source, target = upload(base, args.source), upload(base, args.target)
    job_id, started = submit(base, job_body(source, target, 0.5))
    _, _, state = asyncio.run(follow(base, job_id, started))
    if state != "completed":
        sys.exit(f"service_client: the preparation job {job_id} ended {state}")
    print(job_id)


def latency(base, args):
    source, target = upload(base, args.source), upload(base, args.target)
    firsts, processings = [], []
    for i in range(args.jobs):
        job_id, started = submit(base, job_body(source, target, round(0.6 + 0.01 * i, 2)))
        first, processing, state = asyncio.run(follow(base, job_id, started))
        if state != "completed":
            sys.exit(f"service_client: job {job_id} ended {state}")
        firsts.append(first * 1000)
        processings.append(processing * 1000)
    round_trips = []
    for _ in range(50):
        started = time.perf_counter()
        requests.get(f"{base}/healthz", timeout=10).raise_for_status()
        round_trips.append((time.perf_counter() - started) * 1000)
    print(json.dumps({
        "jobs": args.jobs,
        "first_event_ms_median": statistics.median(firsts),
        "first_event_ms_max": max(firsts),
        "processing_event_ms_median": statistics.median(processings),
        "healthz_round_trip_ms_median": statistics.median(round_trips),
    }))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("command", choices=["prepare", "latency"])
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--jobs", type=int, default=5)
    args = parser.parse_args()
    base = args.url.rstrip("/")
    (prepare if args.command == "prepare" else latency)(base, args)


if __name__ == "__main__":
    main()
