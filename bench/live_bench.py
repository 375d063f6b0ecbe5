#!/usr/bin/python3
"""Live mode (GET /api/v1/live, issue 15) at 640×480: fps and added latency of the swap, against a
baseline measured in the same invocation on the same socket protocol: 640×480 frames without a
face (a kphotoalbum landscape), which cost the JPEG decode, the face detection, the JPEG encode and
the transport — everything but the face work.

  live_bench.py FACEFUSE TESTDATA [--frames N] [--seconds S]

Starts `facefuse serve --no-auth` on a free loopback port with a temporary data directory; the
face frames are the real kphotoalbum talking head (talking_head_640x480.mp4) cut into JPEGs by
FFmpeg. For each kind of frame, one socket:
  closed loop: N frames one at a time (send, wait for the swapped frame): latency per frame =
               what live mode adds between the camera and the screen;
  camera:      for S seconds a 30 fps camera with the page's policy (the next frame is sent when
               the previous one came back; frames in between are skipped): delivered fps and
               latency from capture to arrival.
Prints medians / p90, the face/baseline ratios, the machine and its load average (other work on
the machine slows everything: read the ratios). Goal (issue 15): ≥ 10 fps, < 150 ms.
"""
import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests
import websockets


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


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
        for f in frames:
            t0 = time.perf_counter()
            await ws.send(f)
            stats = json.loads(await ws.recv())
            await ws.recv()
            latencies.append((time.perf_counter() - t0) * 1000)
            server.append(stats["server_ms"])
            swapped += stats["swapped"]
        return latencies, server, swapped


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("facefuse")
    ap.add_argument("testdata")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=15)
    args = ap.parse_args()
    video = os.path.join(args.testdata, "videos", "talking_head_640x480.mp4")
    landscape = os.path.join(args.testdata, "photos", "grand_canyon_1.jpg")
    source = os.path.join(args.testdata, "photos", "astronaut.png")
    data = tempfile.mkdtemp(prefix="facefuse-live-bench-")
    port = free_port()
    server = None
    try:
        subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-vf", "loop=loop=-1:size=68", "-frames:v",
                        str(args.frames), "-q:v", "3", os.path.join(data, "f%03d.jpg")], check=True)
        subprocess.run(["ffmpeg", "-v", "error", "-i", landscape, "-vf", "scale=640:480", "-q:v", "3",
                        os.path.join(data, "empty.jpg")], check=True)
        faces = [open(os.path.join(data, f"f{i:03d}.jpg"), "rb").read() for i in range(1, args.frames + 1)]
        empty = [open(os.path.join(data, "empty.jpg"), "rb").read()] * args.frames
        log = open(os.path.join(data, "server.log"), "w")
        server = subprocess.Popen([args.facefuse, "serve", "--no-auth", "--workers", "1", "--listen",
                                   f"127.0.0.1:{port}", "--data", os.path.join(data, "srv")],
                                  stdout=subprocess.PIPE, stderr=log, text=True)
        for line in server.stdout:
            if "serving on" in line:
                break
        with open(source, "rb") as f:
            r = requests.post(f"http://127.0.0.1:{port}/api/v1/upload", files={"file": ("astronaut.png", f)}, timeout=60)
        r.raise_for_status()
        upload_id = r.json()["id"]
        url = f"ws://127.0.0.1:{port}/api/v1/live"
        load_before = os.getloadavg()
        results = {}
        for name, frames in (("baseline: no face", empty), ("talking head (swap)", faces)):
            lat, srv, swapped = asyncio.run(closed_loop(url, upload_id, frames))
            fps, cam_lat = asyncio.run(camera(url, upload_id, frames, args.seconds))
            results[name] = (lat, srv, fps, cam_lat, swapped)
        load_after = os.getloadavg()
        print(f"live mode, 640x480 JPEG frames, {args.frames} closed-loop frames and {args.seconds:.0f} s of a 30 fps "
              f"camera per kind")
        print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average before {load_before[0]:.2f}, "
              f"after {load_after[0]:.2f} (1 min)")
        print(f"{'frames':<22} {'latency med':>11} {'p90':>8} {'server med':>10} {'faces swapped':>13} "
              f"{'camera fps':>10} {'camera latency':>14}")
        for name, (lat, srv, fps, cam_lat, swapped) in results.items():
            print(f"{name:<22} {statistics.median(lat):>9.1f}ms {p90(lat):>6.1f}ms {statistics.median(srv):>8.1f}ms "
                  f"{swapped:>13} {fps:>10.1f} {statistics.median(cam_lat):>12.1f}ms")
        b, s = results["baseline: no face"], results["talking head (swap)"]
        print(f"swap / baseline: closed-loop latency x{statistics.median(s[0]) / statistics.median(b[0]):.2f}, "
              f"camera fps x{s[2] / b[2] if b[2] else 0:.2f}; the face work adds "
              f"{statistics.median(s[1]) - statistics.median(b[1]):.1f} ms of server time per frame")
        print(f"goal: >= 10 fps and < 150 ms added latency: {s[2]:.1f} fps, {statistics.median(s[3]):.0f} ms "
              f"(camera), {statistics.median(s[0]):.0f} ms (closed loop)")
    finally:
        if server:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
