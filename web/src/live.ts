// Live mode of the studio: camera frames (getUserMedia) drawn on a canvas, sent as JPEG over the
// /api/v1/live WebSocket, and shown swapped as they come back (docs/service.md, "Live mode").
//
// Rate: the next frame is captured and sent when the previous one has come back, so the camera
// runs at the rate the server keeps up with and every frame sent is fresh (a second frame in
// flight would only wait on the server behind the first, adding its processing time to the
// latency); the server still drops what piles up (its `dropped` count). The camera fps choice
// (FaceFusion's webcam fps) caps the rate: a frame is captured at least 1/maxFps s after the
// previous one. Latency is measured per frame from canvas capture to the swapped frame's arrival.
// fps is the rate of the swapped video shown: frames shown over the last two seconds (at least
// kFpsFrames of them) divided by the span of their capture times. Arrival times would read bursts
// after a slow frame (the late capture is followed by one half an interval later) as a rate over the
// cap; capture times keep the cap's schedule, so a window of k intervals spans at least k - 1/2 of
// them (k >= 7: at most 1.08x the cap).
import { openSocket } from './api';

// Frames sent and not yet answered or dropped.
const kInFlight = 1;
const kJpegQuality = 0.8;
// The fps window holds at least this many shown frames (a low cap shows only 4 in two seconds).
const kFpsFrames = 8;

// Size of the frames sent, pixels (the page's camera resolution choice); a camera that gives
// less is sent as it is, never scaled up. maxFps: frames sent per second at most.
export interface LiveSize { width: number; height: number; maxFps: number }

export interface LiveStats {
  fps: number;          // swapped frames shown per second (last 2 s, at least kFpsFrames frames)
  latencyMs: number;    // capture → swapped frame shown, median of the last 30 frames
  serverMs: number;     // the server's decode + swap + encode, median of the last 30 frames
  shown: number;        // swapped frames shown so far
  sent: number;
  dropped: number;      // by the server (a newer frame replaced one waiting)
  faces: number;        // faces in the last frame
  swapped: number;      // faces swapped in the last frame
}

export interface LiveCallbacks {
  // warnings: what limits the result from the source photo (the server's sentences; may be empty).
  onReady(sourceFaces: number | null, warnings: string[]): void;
  onFrame(url: string, stats: LiveStats): void;  // the caller revokes the previous URL
  onEnd(error: { error: string; message: string } | null): void;
}

interface FrameStats {
  type: 'frame'; frame: number; server_ms: number; queue_ms: number; faces: number; swapped: number;
  received: number; processed: number; dropped: number;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export class LiveSession {
  private socket: WebSocket | null = null;
  private stream: MediaStream | null = null;
  private readonly canvas = document.createElement('canvas');
  private sentAt = new Map<number, number>();
  private sent = 0;
  private answered = 0;     // processed + dropped, as the server last reported
  private ready = false;
  private encoding = false;
  private stopped = false;
  private pendingStats: FrameStats | null = null;
  // The fps window's frames: when each came and when it was captured (performance.now(), ms).
  private fpsWindow: {shownAt: number; capturedAt: number}[] = [];
  private latencies: number[] = [];
  private serverTimes: number[] = [];
  private shown = 0;
  private timer = 0;
  private nextCaptureAt = 0;  // performance.now(), ms, before which no frame is captured (the fps cap)

  constructor(private readonly video: HTMLVideoElement, private readonly config: unknown,
              private readonly size: LiveSize, private readonly callbacks: LiveCallbacks) {}

  // Opens the camera, then the socket. Rejects with a readable message when the camera is refused.
  async start(): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error('this browser gives no camera access here (a secure https:// or localhost page is needed)');
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: this.size.width, height: this.size.height },
                                                              audio: false });
    } catch (e) {
      const name = (e as Error).name;
      throw new Error(name === 'NotAllowedError' ? 'the camera was not allowed: allow it in the browser and try again'
        : name === 'NotFoundError' ? 'no camera was found' : `the camera could not be opened (${name})`);
    }
    if (this.stopped) { this.releaseCamera(); return; }
    this.video.srcObject = this.stream;
    this.video.muted = true;
    await this.video.play().catch(() => undefined);
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.clearInterval(this.timer);
    this.socket?.close(1000);
    this.socket = null;
    this.releaseCamera();
  }

  private releaseCamera(): void {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.video.srcObject = null;
  }

  private open(): void {
    const socket = openSocket('/api/v1/live');
    socket.binaryType = 'blob';
    this.socket = socket;
    let error: { error: string; message: string } | null = null;
    socket.onopen = () => socket.send(JSON.stringify(this.config));
    socket.onmessage = (m) => {
      if (typeof m.data === 'string') {
        let message: { type?: string } & Record<string, unknown>;
        try { message = JSON.parse(m.data); } catch { return; }
        if (message.type === 'ready') {
          this.ready = true;
          const warnings = Array.isArray(message.warnings) ? message.warnings.map(String) : [];
          this.callbacks.onReady(typeof message.source_faces === 'number' ? message.source_faces : null, warnings);
          this.timer = window.setInterval(() => this.pump(), 10);
        } else if (message.type === 'frame') {
          const s = message as unknown as FrameStats;
          this.pendingStats = s;
          this.answered = s.processed + s.dropped;
        } else if (message.type === 'error') {
          error = { error: String(message.error), message: String(message.message) };
        }
        return;
      }
      this.show(m.data as Blob);
      this.pump();
    };
    socket.onclose = (e) => {
      window.clearInterval(this.timer);
      if (this.socket !== socket) return;
      this.socket = null;
      if (!error && e.code >= 4000 && e.reason) {
        try { error = JSON.parse(e.reason); } catch { error = { error: 'closed', message: e.reason }; }
      }
      if (!error && !this.stopped && e.code !== 1000) {
        error = { error: 'closed', message: `the server closed the live connection (code ${e.code})` };
      }
      this.releaseCamera();
      this.callbacks.onEnd(error);
    };
  }

  private show(blob: Blob): void {
    const s = this.pendingStats;
    this.pendingStats = null;
    const now = performance.now();
    const at = s ? this.sentAt.get(s.frame) : undefined;
    if (s) {
      if (at !== undefined) this.latencies.push(now - at);
      for (const k of [...this.sentAt.keys()]) if (k <= s.frame) this.sentAt.delete(k);
      this.serverTimes.push(s.server_ms);
      if (this.latencies.length > 30) this.latencies.shift();
      if (this.serverTimes.length > 30) this.serverTimes.shift();
    }
    this.shown += 1;
    const recent = this.fpsWindow;
    recent.push({shownAt: now, capturedAt: at ?? now});
    while (recent.length > kFpsFrames && now - recent[0].shownAt > 2000) recent.shift();
    const n = recent.length;
    const span = n > 1 ? (recent[n - 1].capturedAt - recent[0].capturedAt) / 1000 : 0;
    this.callbacks.onFrame(URL.createObjectURL(blob), {
      fps: span > 0 ? (n - 1) / span : 0,
      latencyMs: median(this.latencies), serverMs: median(this.serverTimes), shown: this.shown, sent: this.sent,
      dropped: s?.dropped ?? 0, faces: s?.faces ?? 0, swapped: s?.swapped ?? 0,
    });
  }

  // Sends the camera's current picture when the server has room for it.
  private pump(): void {
    const socket = this.socket;
    if (!socket || !this.ready || this.encoding || socket.readyState !== WebSocket.OPEN) return;
    if (this.sent - this.answered >= kInFlight) return;
    if (this.video.readyState < 2 || this.video.videoWidth === 0) return;
    // The cap: captures are due every 1/maxFps s. A capture made late (the 10 ms timer, a slow
    // server) keeps the schedule, so the average is the cap, but is never followed by one sooner
    // than half an interval (no bursts to catch up).
    const now = performance.now();
    if (now < this.nextCaptureAt) return;
    const interval = 1000 / this.size.maxFps;
    this.nextCaptureAt = Math.max(this.nextCaptureAt + interval, now + interval / 2);
    const w = Math.min(this.size.width, this.video.videoWidth);
    const h = Math.round((this.video.videoHeight * w) / this.video.videoWidth);
    this.canvas.width = w;
    this.canvas.height = h;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.drawImage(this.video, 0, 0, w, h);
    const capturedAt = performance.now();
    this.encoding = true;
    this.canvas.toBlob((blob) => {
      this.encoding = false;
      if (!blob || this.socket !== socket || socket.readyState !== WebSocket.OPEN) return;
      this.sent += 1;
      this.sentAt.set(this.sent, capturedAt);
      socket.send(blob);
    }, 'image/jpeg', kJpegQuality);
  }
}
