// The facefuse studio: pick a source face and a target, choose faces and options, preview one
// frame, run the job and follow it live, manage past jobs. Everything goes through the public API
// (docs/openapi.yaml); option panels come from GET /api/v1/processors.
import './style.css';
import {
  ApiError, apiKey, call, isTerminal, JobWatcher, preview, setApiKey, upload,
  type DetectedFace, type Detection, type Job, type JobEvent, type OptionSchema, type ProcessorsDoc, type ServerStatus, type Upload,
} from './api';
import { LiveSession, type LiveStats } from './live';
import { createControl, humanName, type OptionControl } from './options';

type Role = 'source' | 'target';

interface Chosen {
  role: Role;
  file: File;
  objectUrl: string;
  upload: Upload | null;
  abort: (() => void) | null;
}

// What the page remembers of the jobs it submitted (localStorage; no secrets): the file names for
// messages and download names, and the body for re-runs.
interface JobMeta { source: string; target: string; body: unknown }

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

const state = {
  status: null as ServerStatus | null,
  schema: null as ProcessorsDoc | null,
  source: null as Chosen | null,
  target: null as Chosen | null,
  processors: new Map<string, { box: HTMLInputElement; controls: OptionControl[] }>(),
  outputControls: [] as OptionControl[],  // video encoder, preset, audio volume (output_options)
  faceControls: [] as OptionControl[],
  selectorDefault: 'reference',
  referencePosition: 0,
  referenceFrame: 0,
  jobId: null as string | null,
  job: null as Job | null,
  watcher: null as JobWatcher | null,
  poller: 0,          // interval id of the fallback poll while a job runs
  lastEventAt: 0,     // Date.now() of the last event or poll answer
  submitting: false,
  previewAbort: null as AbortController | null,
  previewTimer: 0,
  beforeUrl: '',   // object URL of the unprocessed frame shown (and cut into face crops)
  afterUrl: '',    // object URL of the last preview
  originalKey: '',
};

// ------------------------------------------------------------------ small helpers
function announce(text: string): void { $('status').textContent = text; }

function clear(el: HTMLElement): void { while (el.firstChild) el.removeChild(el.firstChild); }

function megabytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

function roleWords(role: Role, file?: File | { name: string; type?: string }): string {
  if (role === 'source') return `the source photo “${file?.name ?? ''}”`;
  const kind = file?.type?.startsWith('video/') ? 'video' : 'file';
  return `the target ${kind} “${file?.name ?? ''}”`;
}

function capitalise(text: string): string { return text.charAt(0).toUpperCase() + text.slice(1); }

function metaOf(jobId: string): JobMeta | null {
  try { return JSON.parse(localStorage.getItem(`facefuse.job.${jobId}`) ?? 'null') as JobMeta | null; } catch { return null; }
}
function saveMeta(jobId: string, meta: JobMeta): void {
  try { localStorage.setItem(`facefuse.job.${jobId}`, JSON.stringify(meta)); } catch { /* storage full: names only */ }
}

// Server messages may still carry paths of the server's temp files: name the user's files instead.
function plainMessage(message: string, meta: JobMeta | null): string {
  const source = meta ? `the source photo “${meta.source}”` : 'the source photo';
  const target = meta ? `the target “${meta.target}”` : 'the target';
  return message
    .replace(/\S*\/inputs\/source\S*/g, source)
    .replace(/\S*\/inputs\/target\S*/g, target)
    .replace(/\S*\/uploads\/part_\S*/g, 'the uploaded file')
    .replace(/(?:\/[\w.+-]+){2,}\/?/g, 'a server file');
}

function outputExtension(url: string): string {
  const path = url.split('?')[0];
  const m = /\.([a-z0-9]+)$/i.exec(path);
  return m ? m[1].toLowerCase() : 'bin';
}

function downloadName(job: Job): string {
  const meta = metaOf(job.job_id);
  const ext = outputExtension(job.output_url ?? '');
  const base = meta ? meta.target.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_').slice(0, 60) : '';
  return base ? `${base}-faceswap.${ext}` : `facefuse-${job.job_id}.${ext}`;
}

function isVideoUrl(url: string): boolean { return ['mp4', 'mkv', 'mov', 'webm'].includes(outputExtension(url)); }

// ------------------------------------------------------------------ inputs
function setInputError(role: Role, text: string): void {
  const el = $(`${role}-error`);
  el.textContent = text;
  $(`${role}-picker`).classList.toggle('has-error', text !== '');
}

function mediaSize(file: File, url: string): Promise<{ width: number; height: number; seconds?: number }> {
  return new Promise((resolve, reject) => {
    if (file.type.startsWith('video/')) {
      const v = document.createElement('video');
      v.preload = 'metadata';
      v.muted = true;
      v.onloadedmetadata = () => resolve({ width: v.videoWidth, height: v.videoHeight, seconds: v.duration });
      v.onerror = () => reject(new Error('unreadable'));
      v.src = url;
    } else {
      const img = new Image();
      img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
      img.onerror = () => reject(new Error('unreadable'));
      img.src = url;
    }
  });
}

// Checks the server would make, done before a byte is sent (limits from /api/v1/status).
async function checkFile(role: Role, file: File, url: string): Promise<string> {
  const who = capitalise(roleWords(role, file));
  const imageTypes = ['image/jpeg', 'image/png', 'image/webp'];
  const isImage = imageTypes.includes(file.type);
  const isVideo = file.type.startsWith('video/');
  if (role === 'source' && !isImage) {
    return `${who} is not a JPEG, PNG or WebP photo. Choose a photo of the face to put in.`;
  }
  if (role === 'target' && !isImage && !isVideo) {
    return `${who} is neither a photo (JPEG, PNG, WebP) nor a video. Choose the photo or video whose face is replaced.`;
  }
  const limits = state.status?.limits;
  if (limits && file.size > limits.max_upload_bytes) {
    return `${who} is ${megabytes(file.size)}; this server takes files up to ${megabytes(limits.max_upload_bytes)}.`;
  }
  if (file.size === 0) return `${who} is empty.`;
  let size: { width: number; height: number; seconds?: number };
  try {
    size = await mediaSize(file, url);
  } catch {
    // Browsers play fewer video containers than the server reads: let the server judge videos.
    if (isVideo) return '';
    return `${who} cannot be read as an image: it may be damaged or not really a ${file.type.split('/')[1]} file.`;
  }
  if (limits && size.width * size.height > limits.max_pixels) {
    return `${who} is ${size.width}×${size.height} pixels (${(size.width * size.height / 1e6).toFixed(1)} MP); this server takes at most ${(limits.max_pixels / 1e6).toFixed(1)} MP per picture.`;
  }
  if (limits && size.seconds !== undefined && Number.isFinite(size.seconds) && size.seconds > limits.max_video_seconds) {
    return `${who} lasts ${Math.round(size.seconds)} s; this server takes videos up to ${Math.round(limits.max_video_seconds)} s.`;
  }
  return '';
}

function showMedia(role: Role, chosen: Chosen): void {
  const box = $(`${role}-media`);
  clear(box);
  if (chosen.file.type.startsWith('video/')) {
    const v = document.createElement('video');
    v.controls = true;
    v.muted = true;
    v.playsInline = true;
    v.preload = 'metadata';
    v.src = chosen.objectUrl;
    v.setAttribute('aria-label', `Target video ${chosen.file.name}`);
    box.append(v);
  } else {
    const img = document.createElement('img');
    img.src = chosen.objectUrl;
    img.alt = role === 'source' ? `Source photo ${chosen.file.name}` : `Target photo ${chosen.file.name}`;
    box.append(img);
  }
}

async function chooseFile(role: Role, file: File): Promise<void> {
  const previous = state[role];
  previous?.abort?.();
  if (previous) URL.revokeObjectURL(previous.objectUrl);
  const chosen: Chosen = { role, file, objectUrl: URL.createObjectURL(file), upload: null, abort: null };
  state[role] = chosen;
  setInputError(role, '');
  $(`${role}-state`).textContent = '';
  clear($(`${role}-media`));
  updateButtons();
  const problem = await checkFile(role, file, chosen.objectUrl);
  if (state[role] !== chosen) return;
  if (problem) {
    setInputError(role, problem);
    state[role] = null;
    URL.revokeObjectURL(chosen.objectUrl);
    announce(problem);
    updateButtons();
    return;
  }
  showMedia(role, chosen);
  const bar = $<HTMLProgressElement>(`${role}-progress`);
  bar.hidden = false;
  bar.value = 0;
  $(`${role}-state`).textContent = `Uploading ${file.name} (${megabytes(file.size)})…`;
  const sending = upload(file, (f) => { bar.value = f; });
  chosen.abort = sending.abort;
  try {
    chosen.upload = await sending.promise;
  } catch (e) {
    if (state[role] !== chosen) return;
    const err = e as ApiError;
    if (err.status === 401) { askForKey(); }
    const text = `${capitalise(roleWords(role, file))} was not accepted: ${plainMessage(err.message, null)}`;
    setInputError(role, text);
    $(`${role}-state`).textContent = '';
    bar.hidden = true;
    state[role] = null;
    announce(text);
    updateButtons();
    return;
  }
  if (state[role] !== chosen) return;
  chosen.abort = null;
  bar.hidden = true;
  const u = chosen.upload;
  const dims = u.info.width ? ` · ${u.info.width}×${u.info.height}` : '';
  const frames = u.media === 'video' && u.info.frame_count ? ` · ${u.info.frame_count} frames at ${Number(u.info.fps ?? 0).toFixed(2)} fps` : '';
  $(`${role}-state`).textContent = `Uploaded ${file.name}${dims}${frames}`;
  announce(`${role === 'source' ? 'Source' : 'Target'} ${file.name} uploaded.`);
  if (role === 'target') targetChanged();
  // A video's face crops come from the server's decoded frame, which needs both inputs.
  if (role === 'target' || isVideoTarget()) queueDetect('target');
  if (role === 'source') queueDetect('source');
  updateButtons();
  schedulePreview(0);
}

function wirePicker(role: Role): void {
  const input = $<HTMLInputElement>(`${role}-file`);
  input.addEventListener('change', () => { if (input.files?.[0]) void chooseFile(role, input.files[0]); });
  const zone = input.closest('.drop') as HTMLElement;
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('dragging'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    const file = e.dataTransfer?.files?.[0];
    if (file) void chooseFile(role, file);
  });
}

// ------------------------------------------------------------------ target-dependent controls
function frameCount(): number { return state.target?.upload?.info.frame_count ?? 0; }
function isVideoTarget(): boolean { return state.target?.upload?.media === 'video'; }

function targetChanged(): void {
  const video = isVideoTarget();
  const frames = frameCount();
  $('trim-panel').hidden = !video;
  $('frame-control').hidden = !video;
  for (const el of document.querySelectorAll<HTMLElement>('.video-only')) el.hidden = !video;
  const start = $<HTMLInputElement>('trim-start');
  const end = $<HTMLInputElement>('trim-end');
  const frame = $<HTMLInputElement>('preview-frame');
  start.max = String(Math.max(0, frames - 1));
  start.value = '0';
  end.max = String(Math.max(1, frames));
  end.value = String(Math.max(1, frames));
  frame.max = String(Math.max(0, frames - 1));
  frame.value = '0';
  state.referencePosition = 0;
  state.referenceFrame = 0;
  updateTrimLabels();
  $('preview-frame-out').textContent = '0';
  // Output formats that fit the target.
  const format = $<HTMLSelectElement>('out-format');
  clear(format);
  const choices = video ? ['mp4', 'mkv', 'mov', 'webm', 'jpg', 'png'] : ['jpg', 'png', 'webp'];
  const same = document.createElement('option');
  same.value = '';
  same.textContent = video ? 'Same as the target (mp4)' : `Same as the target (${state.target?.upload?.info.format ?? 'jpg'})`;
  format.append(same);
  for (const c of choices) {
    const o = document.createElement('option');
    o.value = c;
    o.textContent = video && ['jpg', 'png'].includes(c) ? `${c} (one frame: the preview frame)` : c;
    format.append(o);
  }
  const scale = $<HTMLSelectElement>('out-scale');
  clear(scale);
  const info = state.target?.upload?.info;
  for (const pct of [100, 75, 50, 25]) {
    const o = document.createElement('option');
    if (info?.width && info.height) {
      const w = Math.round((info.width * pct) / 200) * 2;
      const h = Math.round((info.height * (w / info.width)) / 2) * 2;
      o.value = pct === 100 ? '' : `${w}x${h}`;
      o.textContent = `${pct} % (${pct === 100 ? `${info.width}×${info.height}` : `${w}×${h}`})`;
    } else {
      o.value = '';
      o.textContent = `${pct} %`;
      if (pct !== 100) continue;
    }
    scale.append(o);
  }
  outputFormatChanged();
}

// Resolution, frame rate and video encoding apply to video outputs only: hidden for a video
// target written as one frame (jpg, png).
function outputFormatChanged(): void {
  const format = $<HTMLSelectElement>('out-format').value;
  const imageOut = format === 'jpg' || format === 'png' || format === 'webp';
  for (const el of document.querySelectorAll<HTMLElement>('.video-output')) el.hidden = !isVideoTarget() || imageOut;
}

function updateTrimLabels(): void {
  const fps = state.target?.upload?.info.fps ?? 0;
  const describe = (n: number) => (fps > 0 ? `${n} (${(n / fps).toFixed(2)} s)` : String(n));
  $('trim-start-out').textContent = describe(Number($<HTMLInputElement>('trim-start').value));
  $('trim-end-out').textContent = describe(Number($<HTMLInputElement>('trim-end').value));
}

function wireTrim(): void {
  const start = $<HTMLInputElement>('trim-start');
  const end = $<HTMLInputElement>('trim-end');
  const frame = $<HTMLInputElement>('preview-frame');
  start.addEventListener('input', () => {
    if (Number(start.value) >= Number(end.value)) end.value = String(Number(start.value) + 1);
    updateTrimLabels();
  });
  end.addEventListener('input', () => {
    if (Number(end.value) <= Number(start.value)) start.value = String(Number(end.value) - 1);
    updateTrimLabels();
  });
  start.addEventListener('change', () => { frame.value = start.value; frameChanged(); });
  frame.addEventListener('input', () => { $('preview-frame-out').textContent = frame.value; });
  frame.addEventListener('change', frameChanged);
}

function frameChanged(): void {
  $('preview-frame-out').textContent = $<HTMLInputElement>('preview-frame').value;
  if (isVideoTarget()) queueDetect('target');
  schedulePreview(0);
}

// ------------------------------------------------------------------ options
const kSelectorOptions = new Set(['face_selector_order', 'reference_face_distance', 'face_selector_gender',
  'face_selector_age_start', 'face_selector_age_end']);

function buildOptions(doc: ProcessorsDoc): void {
  const host = $('processors');
  clear(host);
  const changed = () => schedulePreview();
  for (const p of doc.processors) {
    const panel = document.createElement('details');
    panel.className = 'panel processor';
    panel.dataset.processor = p.name;
    const summary = document.createElement('summary');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.id = `proc-${p.name}`;
    box.checked = p.name === 'face_swapper';
    box.addEventListener('change', () => { updateButtons(); schedulePreview(); });
    box.addEventListener('click', (e) => e.stopPropagation());
    const l = document.createElement('label');
    l.htmlFor = box.id;
    l.textContent = ` ${humanName(p.name)}`;
    l.addEventListener('click', (e) => e.stopPropagation());
    const desc = document.createElement('small');
    desc.textContent = ` — ${p.description}`;
    summary.append(box, l, desc);
    const grid = document.createElement('div');
    grid.className = 'option-grid';
    const controls = p.options.map((o) => createControl(o, changed));
    for (const c of controls) grid.append(c.element);
    panel.append(summary, grid);
    panel.open = p.name === 'face_swapper';
    host.append(panel);
    state.processors.set(p.name, { box, controls });
  }
  // Video encoding of the output panel (encoders: those of the server's FFmpeg).
  const encoding = $('output-encoding');
  clear(encoding);
  state.outputControls = (doc.output_options ?? []).map((o) => createControl(o, changed));
  for (const c of state.outputControls) encoding.append(c.element);
  // The shared face options; the selector mode and the reference face have their own controls above.
  // The selector's order and the reference distance sit beside the mode, where FaceFusion's users
  // look for them (its face selector panel), not in the analyser panel.
  const analyser = $('analyser-options');
  const selector = $('selector-options');
  clear(analyser);
  clear(selector);
  state.faceControls = [];
  for (const o of doc.face_options) {
    if (o.name === 'face_selector_mode') { buildSelector(o); continue; }
    if (o.name === 'reference_face_position' || o.name === 'reference_frame_number') continue;
    const c = createControl(o, changed);
    state.faceControls.push(c);
    (kSelectorOptions.has(o.name) ? selector : analyser).append(c.element);
  }
  linkAgeRange(selector);
}

// The age range's two sliders never cross (the server refuses a start above the end): moving one
// past the other takes the other along.
function linkAgeRange(host: HTMLElement): void {
  const start = host.querySelector<HTMLInputElement>('[data-option=face_selector_age_start] input[type=range]');
  const end = host.querySelector<HTMLInputElement>('[data-option=face_selector_age_end] input[type=range]');
  if (!start || !end) return;
  const follow = (moved: HTMLInputElement, other: HTMLInputElement, push: (a: number, b: number) => boolean) => {
    moved.addEventListener('input', () => {
      if (!push(Number(moved.value), Number(other.value))) return;
      other.value = moved.value;
      const out = other.closest('.opt')?.querySelector('output');
      if (out) out.textContent = other.value;
    });
  };
  follow(start, end, (s, e) => s > e);
  follow(end, start, (e, s) => e < s);
}

// "female, 34" for a detected face, when the server classified it.
function faceTraits(face: DetectedFace): string {
  if (face.gender === undefined || face.age === undefined) return '';
  return `${face.gender}, ${Math.floor(face.age)}`;
}

function buildSelector(o: OptionSchema): void {
  const host = $('selector-modes');
  clear(host);
  state.selectorDefault = String(o.default);
  const words: Record<string, string> = {
    many: 'Every face', one: 'One face (the first in order)', reference: 'The person chosen below (reference face)',
  };
  for (const choice of o.choices ?? []) {
    const id = `mode-${choice}`;
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = 'face_selector_mode';
    input.id = id;
    input.value = choice;
    input.checked = choice === state.selectorDefault;
    input.addEventListener('change', () => schedulePreview());
    const l = document.createElement('label');
    l.htmlFor = id;
    l.className = 'inline';
    l.append(input, ` ${words[choice] ?? choice}`);
    host.append(l);
  }
}

function selectorMode(): string {
  return document.querySelector<HTMLInputElement>('input[name=face_selector_mode]:checked')?.value ?? state.selectorDefault;
}

function setSelectorMode(mode: string): void {
  const input = document.querySelector<HTMLInputElement>(`input[name=face_selector_mode][value=${mode}]`);
  if (input) input.checked = true;
}

// The job body for the current choices (POST /api/v1/jobs and /api/v1/preview take the same).
function jobBody(): Record<string, unknown> | null {
  const s = state.source?.upload;
  const t = state.target?.upload;
  if (!s || !t) return null;
  const options = currentOptions();
  const mode = selectorMode();
  if (mode === 'reference') {
    if (state.referencePosition !== 0) options.reference_face_position = state.referencePosition;
    if (state.referenceFrame !== 0) options.reference_frame_number = state.referenceFrame;
  }
  return withTarget(s, t, options);
}

// The processors and options chosen (face selector mode only when not the default).
function currentOptions(): Record<string, unknown> {
  const processors = [...state.processors.entries()].filter(([, p]) => p.box.checked).map(([name]) => name);
  const options: Record<string, unknown> = { processors };
  for (const c of state.faceControls) {
    const v = c.value();
    if (v !== undefined) options[c.schema.name] = v;
  }
  for (const [name, p] of state.processors) {
    if (!p.box.checked) continue;
    for (const c of p.controls) {
      const v = c.value();
      if (v !== undefined) options[c.schema.name] = v;
    }
    void name;
  }
  const mode = selectorMode();
  if (mode !== state.selectorDefault) options.face_selector_mode = mode;
  return options;
}

function withTarget(s: Upload, t: Upload, options: Record<string, unknown>): Record<string, unknown> {
  const target: Record<string, unknown> = { upload_id: t.id };
  const output: Record<string, unknown> = {};
  const format = $<HTMLSelectElement>('out-format').value;
  if (format) output.format = format;
  const quality = $<HTMLInputElement>('out-quality').value.trim();
  if (quality !== '') output.quality = Number(quality);
  if (t.media === 'video') {
    const frames = frameCount();
    const start = Number($<HTMLInputElement>('trim-start').value);
    const end = Number($<HTMLInputElement>('trim-end').value);
    const imageOut = format === 'jpg' || format === 'png' || format === 'webp';
    if (imageOut) target.frame_number = Number($<HTMLInputElement>('preview-frame').value);
    else if (start > 0 || (frames > 0 && end < frames)) target.frame_range = [start, end];
    if (!imageOut) {
      const resolution = $<HTMLSelectElement>('out-scale').value;
      if (resolution) output.resolution = resolution;
      const fps = Number($<HTMLInputElement>('out-fps').value);
      if (fps > 0) output.fps = fps;
      for (const c of state.outputControls) {
        const v = c.value();
        if (v !== undefined) output[c.schema.name] = v;
      }
    }
  }
  const body: Record<string, unknown> = { source: { upload_id: s.id }, target, options };
  if (Object.keys(output).length > 0) body.output = output;
  return body;
}

// ------------------------------------------------------------------ faces
// Face detection opens the server's analyser for every call (seconds on a small machine): the
// page asks for one at a time, the target first, so they do not compete with each other.
let detectQueue: Promise<void> = Promise.resolve();
function queueDetect(role: Role): void {
  detectQueue = detectQueue.then(() => detectFaces(role)).catch(() => undefined);
}

function loadImage(url: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('image'));
    img.src = url;
  });
}

async function originalFrame(frame: number): Promise<string | null> {
  const body = jobBody();
  if (!body) return null;
  const key = `${state.target?.upload?.id}:${frame}`;
  if (state.originalKey === key && state.beforeUrl) return state.beforeUrl;
  const shot = await preview({ ...body, preview: { frame_number: frame, original: true } }, new AbortController().signal);
  if (state.beforeUrl) URL.revokeObjectURL(state.beforeUrl);
  state.beforeUrl = shot.url;
  state.originalKey = key;
  $<HTMLImageElement>('preview-before').src = shot.url;
  return shot.url;
}

async function detectFaces(role: Role): Promise<void> {
  const chosen = state[role];
  if (!chosen?.upload) return;
  const gallery = $(`${role}-faces`);
  const frame = role === 'target' && isVideoTarget() ? Number($<HTMLInputElement>('preview-frame').value) : 0;
  let found: Detection;
  try {
    found = await call<Detection>('POST', '/api/v1/detect', { upload_id: chosen.upload.id, frame_number: frame });
  } catch (e) {
    if (role === 'target') $('faces-hint').textContent = `Faces could not be found: ${plainMessage((e as Error).message, null)}`;
    return;
  }
  if (state[role] !== chosen) return;
  // Crops are cut client-side from the picture the server analysed (a video frame: the server's
  // own decoded frame, so boxes and pixels agree).
  let picture: HTMLImageElement;
  let scale = 1;
  try {
    if (chosen.upload.media === 'video') {
      const url = await originalFrame(frame);
      if (!url) return;
      picture = await loadImage(url);
      scale = picture.naturalWidth / found.width;
    } else {
      picture = await loadImage(chosen.objectUrl);
      scale = picture.naturalWidth / found.width;
    }
  } catch {
    return;
  }
  clear(gallery);
  if (role === 'target') {
    $('faces-hint').textContent = found.faces.length === 0
      ? `No face found in the target${isVideoTarget() ? ` at frame ${frame}` : ''}: nothing would be swapped there.`
      : `${found.faces.length} face${found.faces.length === 1 ? '' : 's'} in the target${isVideoTarget() ? ` at frame ${frame}` : ''}. Choose the person to replace.`;
  }
  for (const face of found.faces) {
    const [x, y, w, h] = face.box.map((v) => v * scale);
    const pad = 0.25 * Math.max(w, h);
    const canvas = document.createElement('canvas');
    canvas.width = 96;
    canvas.height = 96;
    const ctx = canvas.getContext('2d');
    const side = Math.max(w, h) + 2 * pad;
    ctx?.drawImage(picture, x + w / 2 - side / 2, y + h / 2 - side / 2, side, side, 0, 0, 96, 96);
    const item = document.createElement(role === 'target' ? 'button' : 'figure');
    item.className = 'face';
    const caption = document.createElement('span');
    caption.textContent = `Face ${face.index + 1}`;
    item.append(canvas, caption);
    const traits = faceTraits(face);
    if (traits) {
      // Apparent gender and age (what the selector's gender/age filters go by).
      const small = document.createElement('small');
      small.className = 'traits';
      small.textContent = traits;
      item.append(small);
    }
    if (role === 'target') {
      const button = item as HTMLButtonElement;
      button.type = 'button';
      button.setAttribute('role', 'option');
      button.dataset.index = String(face.index);
      button.setAttribute('aria-label', `Face ${face.index + 1}${traits ? `, ${traits}` : ''}, score ${face.score.toFixed(2)}`);
      const selected = selectorMode() === 'reference' && state.referencePosition === face.index && state.referenceFrame === frame;
      button.setAttribute('aria-selected', String(selected));
      button.addEventListener('click', () => {
        state.referencePosition = face.index;
        state.referenceFrame = frame;
        setSelectorMode('reference');
        for (const b of gallery.querySelectorAll('button')) b.setAttribute('aria-selected', String(b === button));
        announce(`Face ${face.index + 1} chosen as the reference face.`);
        schedulePreview(0);
      });
    }
    gallery.append(item);
  }
}

// ------------------------------------------------------------------ preview
function schedulePreview(delay = 350): void {
  updateButtons();
  if (!$<HTMLInputElement>('preview-auto').checked && delay !== 0) return;
  window.clearTimeout(state.previewTimer);
  if (!jobBody()) return;
  state.previewTimer = window.setTimeout(() => void runPreview(), delay);
}

async function runPreview(): Promise<void> {
  const body = jobBody();
  if (!body) return;
  if ([...state.processors.values()].every((p) => !p.box.checked)) {
    $('preview-warning').textContent = 'Choose at least one processor.';
    return;
  }
  state.previewAbort?.abort();
  const abort = new AbortController();
  state.previewAbort = abort;
  const frame = isVideoTarget() ? Number($<HTMLInputElement>('preview-frame').value) : 0;
  $('preview-info').textContent = 'Rendering the preview…';
  $('preview-warning').textContent = '';
  try {
    await originalFrame(frame);
    const shot = await preview({ ...body, preview: { frame_number: frame } }, abort.signal);
    if (abort.signal.aborted) { URL.revokeObjectURL(shot.url); return; }
    if (state.afterUrl) URL.revokeObjectURL(state.afterUrl);
    state.afterUrl = shot.url;
    const after = $<HTMLImageElement>('preview-after');
    after.src = shot.url;
    after.dataset.processedFaces = String(shot.processedFaces);
    $('compare').hidden = false;
    $('compare-control').hidden = false;
    applyCompare();
    $('preview-info').textContent =
      `${isVideoTarget() ? `Frame ${shot.frame} · ` : ''}${shot.targetFaces} face${shot.targetFaces === 1 ? '' : 's'} found, ${shot.processedFaces} processed · ${Math.round(shot.ms)} ms${shot.warm ? '' : ' (first preview: models loaded)'}`;
    if (shot.processedFaces === 0) {
      $('preview-warning').textContent = shot.targetFaces === 0
        ? `No face found in ${roleWords('target', state.target?.file)}${isVideoTarget() ? ` at frame ${shot.frame}` : ''}: the result would be unchanged there.`
        : 'No face of the target matches the current face selection: nothing would be swapped. Choose a face in the gallery or select every face.';
    }
  } catch (e) {
    if ((e as Error).name === 'AbortError') return;
    const err = e as ApiError;
    $('preview-info').textContent = '';
    $('preview-warning').textContent = `No preview: ${plainMessage(err.message, currentMeta())}`;
  }
}

function applyCompare(): void {
  const pct = Number($<HTMLInputElement>('compare-slider').value);
  // The "after" image covers the right part from the slider on.
  $('preview-after').style.clipPath = `inset(0 0 0 ${pct}%)`;
  $('compare-line').style.left = `${pct}%`;
}

function currentMeta(): JobMeta | null {
  if (!state.source || !state.target) return null;
  return { source: state.source.file.name, target: state.target.file.name, body: null };
}

// ------------------------------------------------------------------ jobs
function updateButtons(): void {
  const running = state.job !== null && !isTerminal(state.job.status);
  const ready = jobBody() !== null && [...state.processors.values()].some((p) => p.box.checked);
  $<HTMLButtonElement>('swap-button').disabled = !ready || state.submitting || running;
  $<HTMLButtonElement>('preview-button').disabled = !ready;
  $<HTMLButtonElement>('cancel-button').hidden = !running;
  updateLiveButtons();
}

async function submit(body: unknown, meta: JobMeta): Promise<void> {
  if (state.submitting) return;
  state.submitting = true;
  updateButtons();
  $('job-error').textContent = '';
  announce('Submitting the job…');
  try {
    const job = await call<Job>('POST', '/api/v1/jobs', body);
    saveMeta(job.job_id, { ...meta, body });
    await openJob(job.job_id, true, job);
    void refreshJobs();
  } catch (e) {
    const err = e as ApiError;
    if (err.status === 401) askForKey();
    const text = `The job was not started: ${plainMessage(err.message, meta)}`;
    $('job-error').textContent = text;
    announce(text);
  } finally {
    state.submitting = false;
    updateButtons();
  }
}

async function openJob(jobId: string, push: boolean, known?: Job): Promise<void> {
  stopWatching();
  state.jobId = jobId;
  const url = new URL(location.href);
  url.searchParams.set('job', jobId);
  if (push) history.pushState({ job: jobId }, '', url);
  $('job-panel').hidden = false;
  $('job-id').textContent = jobId;
  clear($('result'));
  $('job-warning').textContent = '';
  $('job-faces').textContent = '';
  $('job-error').textContent = '';
  let job = known;
  if (!job) {
    try {
      job = await call<Job>('GET', `/api/v1/jobs/${encodeURIComponent(jobId)}`);
    } catch (e) {
      $('job-error').textContent = `Job ${jobId} cannot be shown: ${(e as Error).message}`;
      state.job = null;
      updateButtons();
      return;
    }
  }
  if (state.jobId !== jobId) return;
  renderJob(job);
  if (!isTerminal(job.status)) watch(jobId);
}

// The WebSocket carries progress; a poll of the job every few seconds without an event covers a
// stream that cannot be opened (a proxy without WebSockets, a handshake that stalls).
const kPollAfterMs = 4000;

function stopWatching(): void {
  state.watcher?.stop();
  state.watcher = null;
  window.clearInterval(state.poller);
  state.poller = 0;
}

function watch(jobId: string): void {
  state.lastEventAt = Date.now();
  state.poller = window.setInterval(() => {
    if (state.jobId !== jobId || Date.now() - state.lastEventAt < kPollAfterMs) return;
    state.lastEventAt = Date.now();
    call<Job>('GET', `/api/v1/jobs/${encodeURIComponent(jobId)}`).then((job) => {
      if (state.jobId !== jobId) return;
      if (isTerminal(job.status)) stopWatching();
      renderJob(job);
    }).catch(() => undefined);  // the server is away: the stream's reconnection reports it
  }, 1000);
  state.watcher = new JobWatcher(jobId, (event: JobEvent) => {
    if (state.jobId !== jobId) return;
    state.lastEventAt = Date.now();
    if (event.type === 'state' && isTerminal(event.status)) window.clearInterval(state.poller);
    renderJob(event);
  }, (connected, retryIn) => {
    if (state.jobId !== jobId) return;
    $('job-state').dataset.connection = connected ? 'live' : 'lost';
    if (!connected) {
      $('job-state').textContent = `Connection to the server lost: reconnecting in ${(retryIn / 1000).toFixed(1)} s…`;
    }
  });
}

function describeProgress(job: Job): string {
  const pct = `${Math.round(100 * (job.progress ?? 0))} %`;
  const parts = [`${capitalise(job.status)}${job.step ? ` — ${job.step}` : ''}`, pct];
  if (job.frames_total) parts.push(`frame ${job.frames_done ?? 0} of ${job.frames_total}`);
  if (job.fps) parts.push(`${job.fps.toFixed(1)} fps`);
  if (job.eta_seconds != null && !isTerminal(job.status)) parts.push(`about ${Math.max(0, Math.round(job.eta_seconds))} s left`);
  return parts.join(' · ');
}

function renderJob(job: Job): void {
  const before = state.job;
  state.job = job;
  $<HTMLProgressElement>('job-progress').value = job.status === 'completed' ? 1 : job.progress ?? 0;
  $('job-state').textContent = describeProgress(job);
  $('job-state').dataset.status = job.status;
  $('job-cached').hidden = !job.cached;
  if (!before || before.job_id !== job.job_id || before.status !== job.status) {
    announce(`Job ${job.job_id}: ${job.status}${job.cached ? ' (cached result)' : ''}.`);
    if (isTerminal(job.status)) void refreshJobs();  // the list shows the new state too
  }
  const meta = metaOf(job.job_id);
  if (job.status === 'failed' && job.error) {
    $('job-error').textContent = job.error.error === 'no_face'
      ? `No face was found in ${meta ? `the source photo “${meta.source}”` : 'the source photo'}: choose a photo where one face is clearly visible. (${plainMessage(job.error.message, meta)})`
      : `The job failed: ${plainMessage(job.error.message, meta)}`;
  }
  if (job.status === 'cancelled') $('job-warning').textContent = 'The job was cancelled; nothing was kept.';
  if (job.status === 'completed' && job.output_url && (!before || before.status !== 'completed' || $('result').childElementCount === 0)) {
    showResult(job);
    void showOutcome(job);
  }
  updateButtons();
}

function showResult(job: Job): void {
  const box = $('result');
  clear(box);
  const url = job.output_url as string;  // as the API gives it (a short-lived link when auth is on)
  if (isVideoUrl(url)) {
    const v = document.createElement('video');
    v.controls = true;
    v.playsInline = true;
    v.src = url;
    v.setAttribute('aria-label', 'Swapped video');
    box.append(v);
  } else {
    const img = document.createElement('img');
    img.src = url;
    img.alt = 'Result of the face swap';
    box.append(img);
  }
  const link = document.createElement('a');
  link.href = url;
  link.download = downloadName(job);
  link.className = 'button';
  link.id = 'download-link';
  link.textContent = `Download ${link.download}`;
  box.append(link);
}

// What the finished job reports (GET /api/v1/jobs/{id}: faces_swapped, input_summary.target_faces,
// warnings): a count of faces swapped, a role=alert warning when none was, and the server's warnings
// listed. Events may carry the figures already; otherwise the job is read once.
async function showOutcome(event: Job): Promise<void> {
  let job = event;
  if (job.faces_swapped === undefined || job.faces_swapped === null || job.warnings === undefined) {
    try {
      job = await call<Job>('GET', `/api/v1/jobs/${encodeURIComponent(event.job_id)}`);
    } catch { return; /* the server is away: the figures appear when the job is opened again */ }
  }
  if (state.jobId !== job.job_id) return;
  const meta = metaOf(job.job_id);
  const swapped = job.faces_swapped;
  const found = job.input_summary?.target_faces;
  const perFrame = job.kind === 'video' ? ' (counted in every frame)' : '';
  const faces = $('job-faces');
  if (typeof swapped === 'number') {
    faces.textContent = `${swapped} face${swapped === 1 ? '' : 's'} swapped${typeof found === 'number' ? `, ${found} found in the target` : ''}${perFrame}.`;
  } else {
    faces.textContent = '';
  }
  const lines: string[] = [];
  if (swapped === 0) {
    lines.push(`No face was swapped: the result is ${meta ? `the target “${meta.target}”` : 'the target'} unchanged.`);
  }
  const sourceFaces = job.input_summary?.source_faces;
  if (typeof sourceFaces === 'number' && sourceFaces > 1) {
    lines.push(`The source photo has ${sourceFaces} faces: the largest one was used.`);
  }
  const warnings = (job.warnings ?? []).map((w) => plainMessage(w, meta));
  const box = $('job-warning');
  clear(box);
  if (lines.length === 0 && warnings.length === 0) return;
  for (const line of lines) {
    const p = document.createElement('p');
    p.textContent = line;
    box.append(p);
  }
  if (warnings.length > 0) {
    const list = document.createElement('ul');
    list.id = 'job-warnings';
    for (const w of warnings) {
      const li = document.createElement('li');
      li.textContent = w;
      list.append(li);
    }
    box.append(list);
  }
  announce(`Job ${job.job_id} completed${swapped === 0 ? ': no face was swapped' : ''}.`);
}

async function cancelJob(jobId: string): Promise<void> {
  try {
    const job = await call<Job>('POST', `/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
    if (state.jobId === jobId) renderJob(job);
    announce(`Cancelling job ${jobId}…`);
  } catch (e) {
    $('job-error').textContent = `The job could not be cancelled: ${(e as Error).message}`;
  }
  void refreshJobs();
}

async function deleteJob(jobId: string): Promise<void> {
  try {
    await call('DELETE', `/api/v1/jobs/${encodeURIComponent(jobId)}`);
    localStorage.removeItem(`facefuse.job.${jobId}`);
    announce(`Job ${jobId} deleted.`);
    if (state.jobId === jobId) closeJob(true);
  } catch (e) {
    announce(`Job ${jobId} could not be deleted: ${(e as Error).message}`);
  }
  void refreshJobs();
}

function closeJob(push: boolean): void {
  stopWatching();
  state.jobId = null;
  state.job = null;
  $('job-panel').hidden = true;
  if (push) {
    const url = new URL(location.href);
    url.searchParams.delete('job');
    history.pushState({}, '', url);
  }
  updateButtons();
}

function seconds(job: Job): string {
  if (!job.started_at || !job.finished_at) return '';
  const s = (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
  return Number.isFinite(s) ? `${s.toFixed(1)} s` : '';
}

function actionButton(text: string, label: string, run: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', run);
  return b;
}

async function refreshJobs(): Promise<void> {
  let page: { jobs: Job[] };
  try {
    page = await call<{ jobs: Job[] }>('GET', '/api/v1/jobs?limit=20');
  } catch {
    return;
  }
  const body = $('jobs-body');
  clear(body);
  for (const job of page.jobs) {
    const meta = metaOf(job.job_id);
    const tr = document.createElement('tr');
    tr.dataset.job = job.job_id;
    const name = document.createElement('td');
    const open = document.createElement('a');
    open.href = `?job=${encodeURIComponent(job.job_id)}`;
    open.textContent = meta ? `${meta.source} → ${meta.target}` : job.job_id;
    open.title = job.job_id;
    open.addEventListener('click', (e) => { e.preventDefault(); void openJob(job.job_id, true); });
    name.append(open);
    const status = document.createElement('td');
    status.textContent = job.status + (job.cached ? ' (cached)' : '');
    status.className = `st-${job.status}`;
    const created = document.createElement('td');
    created.textContent = job.created_at ? new Date(job.created_at).toLocaleString() : '';
    const took = document.createElement('td');
    took.textContent = seconds(job);
    const actions = document.createElement('td');
    actions.className = 'actions';
    const label = meta ? `${meta.source} → ${meta.target}` : job.job_id;
    if (!isTerminal(job.status)) actions.append(actionButton('Cancel', `Cancel job ${label}`, () => void cancelJob(job.job_id)));
    if (job.status === 'completed' && job.output_url) {
      const a = document.createElement('a');
      a.href = job.output_url;
      a.download = downloadName(job);
      a.textContent = 'Download';
      a.setAttribute('aria-label', `Download the result of ${label}`);
      actions.append(a);
    }
    if (meta?.body) actions.append(actionButton('Re-run', `Run ${label} again`, () => void submit(meta.body, meta)));
    if (isTerminal(job.status)) actions.append(actionButton('Delete', `Delete job ${label}`, () => void deleteJob(job.job_id)));
    tr.append(name, status, created, took, actions);
    body.append(tr);
  }
}

// ------------------------------------------------------------------ tabs and live camera
function selectTab(which: 'studio' | 'live', focus = false): void {
  for (const name of ['studio', 'live'] as const) {
    const tab = $(`tab-${name}`);
    const on = name === which;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`${name}-panel`).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (which === 'studio') stopLive();
  updateLiveButtons();
}

function wireTabs(): void {
  $('tab-studio').addEventListener('click', () => selectTab('studio'));
  $('tab-live').addEventListener('click', () => selectTab('live'));
  // Arrow keys move between tabs (WAI-ARIA tabs pattern); Tab leaves the tab list.
  $('tab-studio').parentElement?.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const live = $('tab-live').getAttribute('aria-selected') === 'true';
    selectTab(e.key === 'Home' ? 'studio' : e.key === 'End' ? 'live' : live ? 'studio' : 'live', true);
  });
}

let live: LiveSession | null = null;
let liveUrl = '';

function updateLiveButtons(): void {
  const hasSource = Boolean(state.source?.upload);
  $<HTMLButtonElement>('live-start').disabled = !hasSource || live !== null;
  $('live-start').hidden = live !== null;
  $('live-stop').hidden = live === null;
  $<HTMLSelectElement>('live-size').disabled = live !== null;
  $<HTMLSelectElement>('live-fps').disabled = live !== null;
  $('live-hint').dataset.source = hasSource ? 'yes' : 'no';
}

// Live mode swaps every face the camera shows (or the largest with "one"): a reference face
// chosen in a target's gallery has no meaning for the camera.
function liveConfig(): Record<string, unknown> | null {
  const s = state.source?.upload;
  if (!s) return null;
  const options = currentOptions();
  options.face_selector_mode = selectorMode() === 'one' ? 'one' : 'many';
  return { source: { upload_id: s.id }, options };
}

function showLiveStats(stats: LiveStats): void {
  const el = $('live-stats');
  el.dataset.fps = stats.fps.toFixed(2);
  el.dataset.latency = String(Math.round(stats.latencyMs));
  el.dataset.shown = String(stats.shown);
  el.dataset.sent = String(stats.sent);
  el.textContent = `${stats.fps.toFixed(1)} fps · latency ${Math.round(stats.latencyMs)} ms (server ${Math.round(stats.serverMs)} ms per frame)`
    + ` · ${stats.swapped} of ${stats.faces} face${stats.faces === 1 ? '' : 's'} swapped · ${stats.dropped} dropped by the server`;
}

async function startLive(): Promise<void> {
  const config = liveConfig();
  if (!config || live) return;
  $('live-error').textContent = '';
  $('live-warning').textContent = '';
  $('live-stats').textContent = 'Opening the camera…';
  // The figures are this session's: a previous session's must not show (or be read) as current.
  for (const key of ['fps', 'latency', 'shown', 'sent']) delete $('live-stats').dataset[key];
  const [width, height] = $<HTMLSelectElement>('live-size').value.split('x').map(Number);
  const maxFps = Number($<HTMLSelectElement>('live-fps').value);
  const session = new LiveSession($<HTMLVideoElement>('live-camera'), config, { width, height, maxFps }, {
    onReady: (sourceFaces, warnings) => {
      $('live-stats').textContent = 'Connected: waiting for the first swapped frame…';
      $('live-warning').textContent = warnings.map((w) => capitalise(plainMessage(w, null))).join(' ');
      announce(`Live camera on${sourceFaces && sourceFaces > 1 ? `: the source photo has ${sourceFaces} faces, the largest is used` : ''}.`);
    },
    onFrame: (url, stats) => {
      if (live !== session) { URL.revokeObjectURL(url); return; }
      const img = $<HTMLImageElement>('live-output');
      if (liveUrl) URL.revokeObjectURL(liveUrl);
      liveUrl = url;
      img.src = url;
      showLiveStats(stats);
    },
    onEnd: (error) => {
      if (live !== session) return;
      live = null;
      updateLiveButtons();
      $('live-stats').textContent = '';
      if (error) {
        const text = `Live mode stopped: ${plainMessage(error.message, state.source ? { source: state.source.file.name, target: '', body: null } : null)}`;
        $('live-error').textContent = text;
        announce(text);
      } else {
        announce('Live camera off.');
      }
    },
  });
  live = session;
  updateLiveButtons();
  try {
    await session.start();
  } catch (e) {
    if (live !== session) return;
    live = null;
    updateLiveButtons();
    const text = `Live mode cannot start: ${(e as Error).message}.`;
    $('live-error').textContent = text;
    $('live-stats').textContent = '';
    announce(text);
  }
}

function stopLive(): void {
  if (!live) return;
  const session = live;
  live = null;
  session.stop();
  updateLiveButtons();
  announce('Live camera off.');
}

// ------------------------------------------------------------------ key and start-up
function askForKey(): void {
  const form = $('key-form');
  form.hidden = false;
  announce('This server needs an API key: enter it above.');
  $<HTMLInputElement>('api-key').focus();
}

async function start(): Promise<void> {
  try {
    state.status = await call<ServerStatus>('GET', '/api/v1/status');
  } catch (e) {
    const err = e as ApiError;
    if (err.status === 401 || err.status === 403) { askForKey(); return; }
    announce(`The server cannot be reached: ${err.message}`);
    return;
  }
  // No key field when the server runs without keys.
  $('key-form').hidden = !state.status.auth;
  if (state.status.auth && apiKey()) $<HTMLInputElement>('api-key').value = '••••••••';
  try {
    state.schema = await call<ProcessorsDoc>('GET', '/api/v1/processors');
    buildOptions(state.schema);
  } catch (e) {
    announce(`The processors could not be listed: ${(e as Error).message}`);
    return;
  }
  announce(`Ready: facefuse ${state.status.version}, ${state.status.workers} worker${state.status.workers === 1 ? '' : 's'}.`);
  document.body.dataset.ready = 'true';
  void refreshJobs();
  const jobId = new URL(location.href).searchParams.get('job');
  if (jobId) await openJob(jobId, false);
  updateButtons();
}

function wire(): void {
  wireTabs();
  $('live-start').addEventListener('click', () => void startLive());
  $('live-stop').addEventListener('click', stopLive);
  wirePicker('source');
  wirePicker('target');
  wireTrim();
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $<HTMLInputElement>('api-key').value.trim();
    if (value && !value.startsWith('•')) setApiKey(value);
    void start();
  });
  $('preview-button').addEventListener('click', () => void runPreview());
  $('compare-slider').addEventListener('input', applyCompare);
  $('out-format').addEventListener('change', outputFormatChanged);
  for (const id of ['out-format', 'out-quality', 'out-scale', 'out-fps', 'trim-start', 'trim-end']) {
    $(id).addEventListener('change', () => schedulePreview());
  }
  $('swap-button').addEventListener('click', () => {
    const body = jobBody();
    const meta = currentMeta();
    if (body && meta) void submit(body, meta);
  });
  $('cancel-button').addEventListener('click', () => { if (state.jobId) void cancelJob(state.jobId); });
  $('jobs-refresh').addEventListener('click', () => void refreshJobs());
  window.addEventListener('popstate', () => {
    const jobId = new URL(location.href).searchParams.get('job');
    if (jobId) void openJob(jobId, false); else closeJob(false);
  });
}

wire();
void start();
