// The studio's client of the facefuse API (docs/openapi.yaml): JSON calls with the key from this
// tab's session, uploads with progress (XMLHttpRequest: fetch has no upload progress), and a job
// event stream that reconnects by itself and resumes from the last sequence number it saw.

// The API's types come from docs/openapi.yaml (openapi-typescript → generated/openapi.ts, written by
// every build): a spec change that breaks this page breaks its build.
import type { components, paths } from '../generated/openapi';

type Schemas = components['schemas'];
type Json<P extends keyof paths, M extends keyof paths[P], S extends number> =
  paths[P][M] extends { responses: { [K in S]: { content: { 'application/json': infer T } } } } ? T : never;

export type ApiErrorBody = Schemas['Error'];

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

export type ServerStatus = Json<'/api/v1/status', 'get', 200>;
export type Limits = NonNullable<ServerStatus['limits']>;
export type Upload = Schemas['Upload'];
export type Job = Schemas['Job'];
export type JobEvent = Schemas['JobEvent'];
export type OptionSchema = Schemas['OptionSchema'];
export type ProcessorsDoc = Json<'/api/v1/processors', 'get', 200>;
export type ProcessorSchema = NonNullable<ProcessorsDoc['processors']>[number];
export type Detection = Json<'/api/v1/detect', 'post', 200>;
export type DetectedFace = NonNullable<Detection['faces']>[number];
export type JobRequest = Schemas['JobRequest'];

const KEY_STORAGE = 'facefuse.api_key';

export function apiKey(): string { return sessionStorage.getItem(KEY_STORAGE) ?? ''; }
export function setApiKey(key: string): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
}

function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as Partial<ApiErrorBody>;
    if (body.error) code = body.error;
    if (body.message) message = body.message;
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(response.status, code, message);
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: authHeaders(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'unreachable', 'the server does not answer: is facefuse serve running?');
  }
  if (!response.ok) throw await errorFrom(response);
  return (await response.json()) as T;
}

export interface PreviewImage { url: string; frame: number; targetFaces: number; processedFaces: number; ms: number; warm: boolean }

// POST /api/v1/preview → an object URL of the JPEG (the caller revokes it).
export async function preview(body: unknown, signal: AbortSignal): Promise<PreviewImage> {
  let response: Response;
  try {
    response = await fetch('/api/v1/preview', {
      method: 'POST', headers: authHeaders({ 'Content-Type': 'application/json' }), body: JSON.stringify(body), signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'the server does not answer: is facefuse serve running?');
  }
  if (!response.ok) throw await errorFrom(response);
  const blob = await response.blob();
  const header = (name: string) => Number(response.headers.get(name) ?? '0');
  return {
    url: URL.createObjectURL(blob), frame: header('X-Facefuse-Frame'), targetFaces: header('X-Facefuse-Target-Faces'),
    processedFaces: header('X-Facefuse-Processed-Faces'), ms: header('X-Facefuse-Preview-Ms'),
    warm: response.headers.get('X-Facefuse-Preview-Warm') === '1',
  };
}

// Multipart upload with progress (fraction 0–1 of the bytes sent).
export function upload(file: File, onProgress: (fraction: number) => void): { promise: Promise<Upload>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<Upload>((resolve, reject) => {
    xhr.open('POST', '/api/v1/upload');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body: unknown = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* keep null */ }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(body as Upload); return; }
      const e = (body ?? {}) as Partial<ApiErrorBody>;
      reject(new ApiError(xhr.status, e.error ?? 'http_error', e.message ?? `upload failed (${xhr.status})`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'unreachable', 'the upload was cut off: is the server running?'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'upload cancelled'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

export function isTerminal(status: string): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

// A WebSocket to `path` on this page's server (wss: under https:), the key (if any) offered as the
// subprotocol facefuse.bearer.<key>: browsers cannot set headers on a WebSocket.
export function openSocket(path: string): WebSocket {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${proto}//${location.host}${path}`;
  const key = apiKey();
  return key ? new WebSocket(url, [`facefuse.bearer.${key}`]) : new WebSocket(url);
}

// Follows a job's events over the WebSocket; on a dropped connection (network, server restart)
// reconnects with backoff and resumes after the last sequence number received, until the job's
// terminal event arrives or stop() is called. The key travels as the WebSocket subprotocol
// facefuse.bearer.<key> (browsers cannot set headers on a WebSocket).
export class JobWatcher {
  private socket: WebSocket | null = null;
  private lastSeq = 0;
  private stopped = false;
  private retries = 0;
  private timer: number | undefined;

  constructor(private readonly jobId: string, private readonly onEvent: (e: JobEvent) => void,
              private readonly onConnection: (connected: boolean, retryInMs: number) => void) {
    this.connect();
  }

  get sequence(): number { return this.lastSeq; }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.socket?.close(1000);
    this.socket = null;
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = openSocket(`/ws/job/${encodeURIComponent(this.jobId)}/progress?since=${this.lastSeq}`);
    this.socket = socket;
    let ended = false;
    socket.onopen = () => { this.retries = 0; this.onConnection(true, 0); };
    socket.onmessage = (message) => {
      let event: JobEvent;
      try { event = JSON.parse(String(message.data)) as JobEvent; } catch { return; }
      if (typeof event.seq === 'number') {
        if (event.seq <= this.lastSeq) return;  // already seen before a reconnect
        this.lastSeq = event.seq;
      }
      if (event.type === 'state' && isTerminal(event.status)) ended = true;
      this.onEvent(event);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped || ended) return;
      const delay = Math.min(5000, 250 * 2 ** Math.min(this.retries, 5));
      this.retries += 1;
      this.onConnection(false, delay);
      this.timer = window.setTimeout(() => this.connect(), delay);
    };
  }
}
