#!/usr/bin/python3
"""Live mode (GET /api/v1/live, issue 15) at 640×480: fps and added latency of the swap, against a
baseline measured in the same invocation on the same socket protocol: 640×480 frames without a
face (a kphotoalbum landscape), which cost the JPEG decode, the face detection and the transport —
everything but the face work.

  live_bench.py FACEFUSE TESTDATA [--frames N] [--seconds S] [--runs R] [--compare OLD_FACEFUSE]

Starts `facefuse serve --no-auth` on a free loopback port with a temporary data directory; the
face frames are the real kphotoalbum talking head (talking_head_640x480.mp4) cut into JPEGs by
FFmpeg. For each kind of frame, one socket:
  closed loop: N frames one at a time (send, wait for the swapped frame): latency per frame =
               what live mode adds between the camera and the screen;
  camera:      for S seconds a 30 fps camera with the page's policy (the next frame is sent when
               the previous one came back; frames in between are skipped): delivered fps and
               latency from capture to arrival.
With --compare, R runs alternate OLD_FACEFUSE and FACEFUSE (old, new, old, new, ...: both see the
same mix of load from other work) and the medians over the runs are compared; the server's stage
figures (decode / analyse / process / encode, ms) are printed when the binary sends them.
Prints medians / p90, the face/baseline ratios, the machine and its load average (other work on
the machine slows everything: read the ratios). Goal (issue 15): ≥ 10 fps, < 150 ms.
"""
import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import requests
import websockets

from bench_support import cpu_model, free_port

STAGES = ("decode_ms", "analyse_ms", "process_ms", "encode_ms")


def p90(values):
    s = sorted(values)
    return s[min(len(s) - 1, int(0.9 * len(s)))]


async def ready(ws, upload_id):
    await ws.send(json.dumps({"source": {"upload_id": upload_id}, "options": {"face_selector_mode": "many"}}))
    m = json.loads(await asyncio.wait_for(ws.recv(), 180))
    if m.get("type") != "ready":
        raise SystemExit(f"live socket refused: {m}")


async def closed_loop(url, upload_id, frames):
    async with websockets.connect(url, max_size=8 << 20) as ws:
        await ready(ws, upload_id)
        for f in frames[:5]:  # warm-up: first inferences, caches
            await ws.send(f)
            await ws.recv()
            await ws.recv()
        latencies, server, swapped = [], [], 0
        stages = {k: [] for k in STAGES}
        for f in frames:
            t0 = time.perf_counter()
            await ws.send(f)
            stats = json.loads(await ws.recv())
            await ws.recv()
            latencies.append((time.perf_counter() - t0) * 1000)
            server.append(stats["server_ms"])
            swapped += stats["swapped"]
            for k in STAGES:
                if k in stats:
                    stages[k].append(stats[k])
        return latencies, server, swapped, stages


async def camera(url, upload_id, frames, seconds, fps=30.0):
    """A camera offering a frame every 1/fps s; one is sent when the previous one came back."""
    async with websockets.connect(url, max_size=8 << 20) as ws:
        await ready(ws, upload_id)
        latencies, arrivals = [], []
        start = time.perf_counter()
        tick = 0
        while time.perf_counter() - start < seconds:
            tick += 1
            await asyncio.sleep(max(0.0, start + tick / fps - time.perf_counter()))
            captured = time.perf_counter()
            await ws.send(frames[tick % len(frames)])
            await ws.recv()
            await ws.recv()
            now = time.perf_counter()
            latencies.append((now - captured) * 1000)
            arrivals.append(now)
            # The camera's next frame comes at the next 1/fps tick after the answer.
            tick = int((now - start) * fps)
        span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0
        return (len(arrivals) - 1) / span if span > 0 else 0.0, latencies


def one_run(facefuse, testdata, data, faces, empty, seconds):
    """One server of `facefuse`, both kinds of frames; {kind: (latencies, server_ms, fps, camera latencies,
    swapped, stages)}."""
    port = free_port()
    srv = os.path.join(data, f"srv-{port}")
    log = open(os.path.join(data, "server.log"), "a")
    server = subprocess.Popen([facefuse, "serve", "--no-auth", "--workers", "1", "--listen", f"127.0.0.1:{port}",
                               "--data", srv], stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        for line in server.stdout:
            if "serving on" in line:
                break
        with open(os.path.join(testdata, "photos", "astronaut.png"), "rb") as f:
            r = requests.post(f"http://127.0.0.1:{port}/api/v1/upload", files={"file": ("astronaut.png", f)},
                              timeout=60)
        r.raise_for_status()
        upload_id = r.json()["id"]
        url = f"ws://127.0.0.1:{port}/api/v1/live"
        results = {}
        for name, frames in (("baseline: no face", empty), ("talking head (swap)", faces)):
            lat, srv_ms, swapped, stages = asyncio.run(closed_loop(url, upload_id, frames))
            fps, cam_lat = asyncio.run(camera(url, upload_id, frames, seconds))
            results[name] = (lat, srv_ms, fps, cam_lat, swapped, stages)
        return results
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(srv, ignore_errors=True)


def summary(run):
    """Per kind: closed-loop latency median, p90, server median, camera fps, camera latency median, swapped,
    stage medians."""
    out = {}
    for name, (lat, srv, fps, cam_lat, swapped, stages) in run.items():
        out[name] = (statistics.median(lat), p90(lat), statistics.median(srv), fps, statistics.median(cam_lat),
                     swapped, {k: statistics.median(v) for k, v in stages.items() if v})
    return out


def print_table(title, rows):
    print(title)
    print(f"  {'frames':<22} {'latency med':>11} {'p90':>8} {'server med':>10} {'swapped':>7} {'camera fps':>10} "
          f"{'camera latency':>14}  stages (decode/analyse/process/encode ms)")
    for name, (lat, lat90, srv, fps, cam, swapped, stages) in rows.items():
        st = "/".join(f"{stages[k]:.1f}" for k in STAGES) if stages else "-"
        print(f"  {name:<22} {lat:>9.1f}ms {lat90:>6.1f}ms {srv:>8.1f}ms {swapped:>7} {fps:>10.1f} {cam:>12.1f}ms  {st}")


def median_rows(runs):
    """Medians over runs of each figure of summary()."""
    rows = {}
    for name in runs[0]:
        cols = list(zip(*[r[name][:6] for r in runs]))
        stages = {}
        for k in STAGES:
            values = [r[name][6][k] for r in runs if k in r[name][6]]
            if values:
                stages[k] = statistics.median(values)
        rows[name] = tuple(statistics.median(c) for c in cols[:5]) + (int(statistics.median(cols[5])), stages)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("facefuse")
    ap.add_argument("testdata")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--runs", type=int, default=1, help="runs per binary (medians over them)")
    ap.add_argument("--compare", metavar="OLD_FACEFUSE", help="alternate runs with this binary as the baseline")
    args = ap.parse_args()
    video = os.path.join(args.testdata, "videos", "talking_head_640x480.mp4")
    landscape = os.path.join(args.testdata, "photos", "grand_canyon_1.jpg")
    data = tempfile.mkdtemp(prefix="facefuse-live-bench-")
    try:
        subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-vf", "loop=loop=-1:size=68", "-frames:v",
                        str(args.frames), "-q:v", "3", os.path.join(data, "f%03d.jpg")], check=True)
        subprocess.run(["ffmpeg", "-v", "error", "-i", landscape, "-vf", "scale=640:480", "-q:v", "3",
                        os.path.join(data, "empty.jpg")], check=True)
        faces = [open(os.path.join(data, f"f{i:03d}.jpg"), "rb").read() for i in range(1, args.frames + 1)]
        empty = [open(os.path.join(data, "empty.jpg"), "rb").read()] * args.frames
        binaries = [("old", args.compare), ("new", args.facefuse)] if args.compare else [("new", args.facefuse)]
        runs = {label: [] for label, _ in binaries}
        loads = []
        for i in range(args.runs):
            for label, binary in binaries:
                load = os.getloadavg()[0]
                runs[label].append(summary(one_run(binary, args.testdata, data, faces, empty, args.seconds)))
                loads.append(load)
                s = runs[label][-1]["talking head (swap)"]
                print(f"run {i + 1} {label}: load {load:.2f}; swap {s[0]:.0f} ms closed loop, {s[3]:.1f} fps camera",
                      file=sys.stderr)
        print(f"live mode, 640x480 JPEG frames, {args.frames} closed-loop frames and {args.seconds:.0f} s of a 30 fps "
              f"camera per kind, {args.runs} run(s) per binary" + (", alternating old/new" if args.compare else ""))
        print(f"machine: {cpu_model()}, {os.cpu_count()} cores; 1-min load average at the runs' starts: median "
              f"{statistics.median(loads):.2f}, min {min(loads):.2f}, max {max(loads):.2f}")
        medians = {}
        for label, binary in binaries:
            medians[label] = median_rows(runs[label])
            print_table(f"{label}: {binary} (medians over {args.runs} runs)", medians[label])
        new = medians["new"]
        b, s = new["baseline: no face"], new["talking head (swap)"]
        print(f"new, swap / baseline: closed-loop latency x{s[0] / b[0]:.2f}, camera fps x{s[3] / b[3] if b[3] else 0:.2f}; "
              f"the face work adds {s[2] - b[2]:.1f} ms of server time per frame")
        if args.compare:
            o = medians["old"]["talking head (swap)"]
            print(f"new / old (swap): closed-loop latency x{s[0] / o[0]:.2f}, server time x{s[2] / o[2]:.2f}, "
                  f"camera fps x{s[3] / o[3] if o[3] else 0:.2f}")
        print(f"goal: >= 10 fps and < 150 ms added latency: {s[3]:.1f} fps, {s[4]:.0f} ms (camera), "
              f"{s[0]:.0f} ms (closed loop)")
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
