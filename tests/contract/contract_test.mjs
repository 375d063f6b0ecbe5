// The API contract against a real server: starts `facefuse serve` (free loopback port, temporary
// data directory, real photos and a real face video) and drives every operation of
// docs/openapi.yaml — happy path and each documented error — checking every answer with
// openapi_contract.mjs: an undocumented status, content type, field or missing required header
// fails. WebSocket frames and Server-Sent Events are validated against components.schemas.JobEvent.
// At the end every documented "METHOD path status" must have been seen, or be listed in
// NOT_DRIVEN with the reason this test cannot cause it.
//
// Run by CTest (api.contract): node --experimental-websocket --test tests/contract/contract_test.mjs
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Contract } from './openapi_contract.mjs';
import { ServeProcess, TIME_SCALE } from '../support/serve_process.mjs';

const TESTDATA = process.env.FACEFUSE_TESTDATA ?? join(process.env.HOME, '.cache', 'facefuse', 'testdata');
const SOURCE = join(TESTDATA, 'photos', 'astronaut.png');   // one face (public domain)
const TARGET = join(TESTDATA, 'photos', 'jesper.jpg');      // one face (kphotoalbum demo)
// 640×480, 25 fps, 68 frames: the real kphotoalbum talking head (scripts/make_test_videos).
const VIDEO = join(TESTDATA, 'videos', 'talking_head_640x480.mp4');

// Documented statuses this test does not cause, and why. Everything else must be seen.
const NOT_DRIVEN = {
  'POST /api/v1/jobs 503': 'draining: only between SIGTERM and exit, while jobs still run (tests/server/test_resilience.py)',
  'POST /api/v1/process/swap 503': 'as POST /api/v1/jobs 503',
  'POST /api/v1/process/enhance 503': 'as POST /api/v1/jobs 503',
  'GET /api/v1/jobs/{job_id}/events 503': 'over --max-streams (the total): the per-key 429 is driven instead',
  'GET /ws/job/{job_id}/progress 503': 'as the events 503',
  'GET /api/v1/live 503': 'over the live sessions in total (8 sockets, each swapping frames): the per-key 429 is driven in tests/server/test_live_mode.py',
  'POST /api/v1/process/enhance 201': 'needs the face enhancer model, which scripts/setup does not install (409 is driven)',
  'POST /api/v1/process/enhance 200': 'as POST /api/v1/process/enhance 201',
  // Direct uploads need S3 storage (this test's servers use files; there begin is 409, driven):
  // tests/server/test_s3_direct_uploads.py drives completion's 200, 409, 415 on s3rver.
  'POST /api/v1/uploads/{upload_id}/complete 200': 'needs S3 storage (test_s3_direct_uploads.py)',
  'POST /api/v1/uploads/{upload_id}/complete 409': 'needs S3 storage (test_s3_direct_uploads.py)',
  'POST /api/v1/uploads/{upload_id}/complete 415': 'needs S3 storage (test_s3_direct_uploads.py)',
  'POST /api/v1/uploads/{upload_id}/complete 400': 'a stored size other than the begun one: S3 refuses such a PUT (the size is signed)',
  'POST /api/v1/uploads/{upload_id}/complete 413': 'needs S3 storage and an image over --max-pixels',
  'POST /api/v1/uploads/{upload_id}/complete 422': 'needs S3 storage and an image without pixels',
  'POST /api/v1/uploads/{upload_id}/complete 507': 'needs S3 storage and a data directory at its reserve',
};

// Every server of this test must print its admin key (they start with authentication on).
class Server extends ServeProcess {
  constructor(args) { super(args, 'facefuse-contract-'); }
  async start() {
    await super.start();
    assert.ok(this.adminKey, 'the server printed its admin key');
  }
}

// One HTTP exchange with node:http (full control of headers, bodies that are never sent).
// opts: key, headers, json, body (Buffer), declaredLength (send headers only, claiming this length).
function exchange(server, method, path, opts = {}) {
  return new Promise((resolve, reject) => {
    const headers = { ...(opts.headers ?? {}) };
    if (opts.key) headers.Authorization = `Bearer ${opts.key}`;
    let body = opts.body;
    if (opts.json !== undefined) {
      body = Buffer.from(typeof opts.json === 'string' ? opts.json : JSON.stringify(opts.json));
      headers['Content-Type'] ??= 'application/json';
    }
    if (body) headers['Content-Length'] = body.length;
    if (opts.declaredLength) headers['Content-Length'] = opts.declaredLength;
    const req = httpRequest(server.url + path, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, raw, text: raw.toString('utf8') });
        if (opts.declaredLength) req.destroy();
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(120000 * TIME_SCALE, () => req.destroy(new Error(`${method} ${path}: no answer in ${120 * TIME_SCALE} s`)));
    if (opts.declaredLength) req.flushHeaders();
    else req.end(body);
  });
}

function multipart(fields) {
  const boundary = `----facefuse${Date.now()}`;
  const parts = [];
  for (const { name, filename, data } of fields) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"` +
                           (filename ? `; filename="${filename}"\r\nContent-Type: application/octet-stream` : '') + '\r\n\r\n'));
    parts.push(data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

// A PNG that is only a header saying 0×0 pixels (the CRC is right, so only the size is wrong).
function emptyPng() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const ihdr = Buffer.concat([Buffer.from('IHDR'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0])]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(ihdr));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(13);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), length, ihdr, crc]);
}

// Server-Sent Events of one stream until the server ends it: the parsed `data:` payloads.
async function sse(server, path, key) {
  const res = await exchange(server, 'GET', path, { key, headers: { Accept: 'text/event-stream' } });
  const events = [];
  for (const block of res.text.split('\n\n')) {
    const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
    if (data) events.push(JSON.parse(data));
  }
  return { res, events };
}

// Text frames of a WebSocket until the server closes it: { messages, code }.
function websocketMessages(server, path, key) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url.replace('http', 'ws') + path, ['facefuse.v1', `facefuse.bearer.${key}`]);
    const messages = [];
    const timer = setTimeout(() => { ws.close(); reject(new Error(`${path}: no close in ${180 * TIME_SCALE} s`)); }, 180000 * TIME_SCALE);
    ws.onmessage = (m) => messages.push(JSON.parse(m.data));
    ws.onerror = () => {};
    ws.onclose = (e) => { clearTimeout(timer); resolve({ messages, code: e.code, protocol: ws.protocol }); };
  });
}

const contract = await Contract.load();
const main = new Server(['--workers', '1', '--max-upload-mb', '4', '--max-active-jobs', '3', '--max-streams-per-key', '2']);
// Every disk is "at the reserve"; /metrics is on a second listener, so the API listener answers 404.
const full = new Server(['--workers', '1', '--min-free-mb', '1000000000', '--metrics-listen', '127.0.0.1:0']);
// One request per key and then none for 1000 s: every later request of the key is 429.
const limited = new Server(['--workers', '1', '--rate-limit', '0.001', '--rate-burst', '1']);
// Outputs expire 1 s after their job finished (the retention janitor, every 200 ms): GET /media 410.
const retaining = new Server(['--workers', '1', '--retain-outputs', '1s', '--janitor-interval', '200ms']);
const UPGRADE = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
                  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };
let key;         // main's admin key
let source, target, video;

// One exchange, checked against the contract; returns { res, body }.
async function call(server, method, template, path, opts = {}) {
  const res = await exchange(server, method, path, { key: opts.anonymous ? undefined : opts.key ?? key, ...opts });
  const body = contract.check(method, template, res);
  if (opts.expect !== undefined) assert.equal(res.status, opts.expect, `${method} ${path}: ${res.text.slice(0, 300)}`);
  return { res, body };
}

async function upload(file, name, route = '/api/v1/upload') {
  const form = multipart([{ name: 'file', filename: name, data: readFileSync(file) }]);
  return (await call(main, 'POST', route, route, { body: form.body, headers: { 'Content-Type': form.type }, expect: 201 })).body;
}

async function waitJob(jobId, states = ['completed', 'failed', 'cancelled'], timeout = 180000 * TIME_SCALE) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const { body } = await call(main, 'GET', '/api/v1/jobs/{job_id}', `/api/v1/jobs/${jobId}`, { expect: 200 });
    if (states.includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} not in ${states} after ${timeout} ms: ${body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const swapBody = (extra = {}) => ({ source: { upload_id: source.id }, target: { upload_id: target.id }, ...extra });

describe('API contract (docs/openapi.yaml) against facefuse serve', () => {
  before(async () => {
    await Promise.all([main.start(), full.start(), limited.start(), retaining.start()]);
    key = main.adminKey;
  });
  after(async () => { await Promise.all([main.stop(), full.stop(), limited.stop(), retaining.stop()]); });

  test('the page, its assets, health, readiness and metrics', async () => {
    const page = await call(main, 'GET', '/', '/', { anonymous: true, expect: 200 });
    const script = /src="\/assets\/([^"]+\.js)"/.exec(page.res.text);
    assert.ok(script, 'the page loads a script asset');
    await call(main, 'GET', '/assets/{file}', `/assets/${script[1]}`, { anonymous: true, expect: 200 });
    await call(main, 'GET', '/assets/{file}', '/assets/no-such-file.js', { anonymous: true, expect: 404 });
    for (const p of ['/healthz', '/health', '/readyz', '/ready', '/metrics']) {
      await call(main, 'GET', p, p, { anonymous: true, expect: 200 });
    }
    for (const p of ['/readyz', '/ready']) await call(full, 'GET', p, p, { anonymous: true, expect: 503 });
    await call(full, 'GET', '/metrics', '/metrics', { anonymous: true, expect: 404 });
  });

  test('status carries the API version of the spec; models and processors', async () => {
    const { body } = await call(main, 'GET', '/api/v1/status', '/api/v1/status', { expect: 200 });
    assert.equal(body.api_version, contract.api.info.version, 'GET /api/v1/status api_version = the spec info.version');
    await call(main, 'GET', '/api/v1/status', '/api/v1/status', { anonymous: true, expect: 401 });
    await call(main, 'GET', '/api/v1/status', '/api/v1/status?api_key=' + key, { anonymous: true, expect: 401 });
    await call(main, 'GET', '/api/v1/models', '/api/v1/models', { expect: 200 });
    await call(main, 'GET', '/api/v1/models', '/api/v1/models', { key: 'ff_not_a_key', expect: 401 });
    await call(main, 'GET', '/api/v1/processors', '/api/v1/processors', { expect: 200 });
    await call(main, 'GET', '/api/v1/processors', '/api/v1/processors', { anonymous: true, expect: 401 });
  });

  test('every operation with a scope: 401 without a key, 403 with a key lacking it, 429 over the key rate', async () => {
    const mint = async (scopes) => (await call(main, 'POST', '/api/v1/keys', '/api/v1/keys', { json: { tenant: 'default', scopes }, expect: 201 })).body.key;
    const lacking = { read: await mint('submit'), submit: await mint('read'), admin: await mint('submit,read') };
    // The limited server's admin key spends its one token here.
    await call(limited, 'GET', '/api/v1/status', '/api/v1/status', { key: limited.adminKey, expect: 200 });
    let operations = 0;
    for (const [template, item] of Object.entries(contract.api.paths)) {
      for (const method of ['get', 'post', 'delete']) {
        const op = item[method];
        if (!op || !op['x-facefuse-scope']) continue;
        const path = template.replace('{job_id}', 'job_0000000000000000').replace('{upload_id}', 'up_0000000000000000')
          .replace('{key_id}', 'key_0000000000000000');
        const headers = template.startsWith('/ws/') ? UPGRADE : {};
        const M = method.toUpperCase();
        const json = method === 'post' ? {} : undefined;
        await call(main, M, template, path, { anonymous: true, headers, json, expect: 401 });
        await call(main, M, template, path, { key: 'ff_0000000000000000', headers, json, expect: 401 });
        await call(main, M, template, path, { key: lacking[op['x-facefuse-scope']], headers, json, expect: 403 });
        const limitedAnswer = await call(limited, M, template, path, { key: limited.adminKey, headers, json, expect: 429 });
        assert.ok(limitedAnswer.res.headers['retry-after'], `${M} ${template} 429 carries Retry-After`);
        operations++;
      }
    }
    assert.ok(operations >= 20, `${operations} operations with a scope`);
  });

  test('uploads: both routes, and every refusal', async () => {
    source = await upload(SOURCE, 'astronaut.png');
    target = await upload(TARGET, 'jesper.jpg', '/api/v1/uploads');
    video = await upload(VIDEO, 'talking_head.mp4');
    assert.equal(video.media, 'video');
    await call(main, 'POST', '/api/v1/upload', '/api/v1/upload', { json: {}, expect: 415 });
    // /api/v1/uploads with JSON begins a direct upload: checked (400), then refused on file storage (409).
    await call(main, 'POST', '/api/v1/uploads', '/api/v1/uploads', { json: {}, expect: 400 });
    await call(main, 'POST', '/api/v1/uploads', '/api/v1/uploads',
               { json: { filename: 'a.png', size: 10, content_type: 'image/png' }, expect: 409 });
    await call(main, 'POST', '/api/v1/uploads', '/api/v1/uploads',
               { body: Buffer.from('x'), headers: { 'Content-Type': 'text/plain' }, expect: 415 });
    await call(main, 'POST', '/api/v1/uploads/{upload_id}/complete', '/api/v1/uploads/up_0000000000000000/complete',
               { expect: 404 });
    for (const route of ['/api/v1/upload', '/api/v1/uploads']) {
      const noFile = multipart([{ name: 'other', data: Buffer.from('x') }]);
      await call(main, 'POST', route, route, { body: noFile.body, headers: { 'Content-Type': noFile.type }, expect: 400 });
      const empty = multipart([{ name: 'file', filename: 'empty.png', data: emptyPng() }]);
      await call(main, 'POST', route, route, { body: empty.body, headers: { 'Content-Type': empty.type }, expect: 422 });
      await call(main, 'POST', route, route, { declaredLength: 5 * 1024 * 1024,
                                               headers: { 'Content-Type': 'multipart/form-data; boundary=x' }, expect: 413 });
      const form = multipart([{ name: 'file', filename: 'a.jpg', data: readFileSync(TARGET) }]);
      await call(full, 'POST', route, route, { key: full.adminKey, body: form.body, headers: { 'Content-Type': form.type }, expect: 507 });
      await call(main, 'POST', route, route, { anonymous: true, body: form.body, headers: { 'Content-Type': form.type }, expect: 401 });
    }
  });

  test('keys: issue, list, revoke, and the refusals', async () => {
    const issued = (await call(main, 'POST', '/api/v1/keys', '/api/v1/keys', { json: { tenant: 'contract', scopes: 'read' }, expect: 201 })).body;
    await call(main, 'POST', '/api/v1/keys', '/api/v1/keys', { json: { tenant: 'bad tenant!' }, expect: 400 });
    await call(main, 'POST', '/api/v1/keys', '/api/v1/keys', { key: issued.key, json: { tenant: 'contract' }, expect: 403 });
    await call(main, 'POST', '/api/v1/keys', '/api/v1/keys', { anonymous: true, json: { tenant: 'contract' }, expect: 401 });
    const list = (await call(main, 'GET', '/api/v1/keys', '/api/v1/keys', { expect: 200 })).body;
    await call(main, 'GET', '/api/v1/keys', '/api/v1/keys?tenant=contract', { expect: 200 });
    await call(main, 'GET', '/api/v1/keys', '/api/v1/keys', { key: issued.key, expect: 403 });
    await call(main, 'GET', '/api/v1/keys', '/api/v1/keys?tenant=bad%20tenant', { expect: 400 });
    await call(main, 'GET', '/api/v1/keys', '/api/v1/keys', { anonymous: true, expect: 401 });
    // A read-only key may read but not submit.
    await call(main, 'GET', '/api/v1/status', '/api/v1/status', { key: issued.key, expect: 200 });
    await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { key: issued.key, json: swapBody(), expect: 403 });
    const admin = list.keys.find((k) => k.scopes.includes('admin'));
    await call(main, 'DELETE', '/api/v1/keys/{key_id}', `/api/v1/keys/${admin.id}`, { expect: 409 });
    await call(main, 'DELETE', '/api/v1/keys/{key_id}', '/api/v1/keys/key_0000000000000000', { expect: 404 });
    await call(main, 'DELETE', '/api/v1/keys/{key_id}', `/api/v1/keys/${issued.id}?tenant=bad%20tenant`, { expect: 400 });
    await call(main, 'DELETE', '/api/v1/keys/{key_id}', `/api/v1/keys/${issued.id}`, { key: issued.key, expect: 403 });
    await call(main, 'DELETE', '/api/v1/keys/{key_id}', `/api/v1/keys/${issued.id}`, { anonymous: true, expect: 401 });
    await call(main, 'DELETE', '/api/v1/keys/{key_id}', `/api/v1/keys/${issued.id}?tenant=contract`, { expect: 200 });
    await call(main, 'GET', '/api/v1/status', '/api/v1/status', { key: issued.key, expect: 401 });
  });

  test('detect', async () => {
    const { body } = await call(main, 'POST', '/api/v1/detect', '/api/v1/detect', { json: { upload_id: target.id, landmarks_68: true }, expect: 200 });
    assert.ok(body.faces.length >= 1, 'a face in the target photo');
    await call(main, 'POST', '/api/v1/detect', '/api/v1/detect', { json: { upload_id: video.id, frame_number: 3 }, expect: 200 });
    await call(main, 'POST', '/api/v1/detect', '/api/v1/detect', { json: { frame_number: 0 }, expect: 400 });
    await call(main, 'POST', '/api/v1/detect', '/api/v1/detect', { json: '{"upload_id":', expect: 400 });
    await call(main, 'POST', '/api/v1/detect', '/api/v1/detect', { json: { upload_id: 'up_0000000000000000' }, expect: 404 });
    await call(main, 'POST', '/api/v1/detect', '/api/v1/detect', { anonymous: true, json: { upload_id: target.id }, expect: 401 });
  });

  test('preview', async () => {
    const { res } = await call(main, 'POST', '/api/v1/preview', '/api/v1/preview', { json: swapBody({ preview: { original: true } }), expect: 200 });
    assert.equal(res.raw.subarray(0, 2).toString('hex'), 'ffd8', 'a JPEG');
    await call(main, 'POST', '/api/v1/preview', '/api/v1/preview', { json: swapBody(), expect: 200 });
    await call(main, 'POST', '/api/v1/preview', '/api/v1/preview', { json: { source: {} }, expect: 400 });
    await call(main, 'POST', '/api/v1/preview', '/api/v1/preview', { json: { source: { upload_id: 'up_0000000000000000' }, target: { upload_id: target.id } }, expect: 404 });
    await call(main, 'POST', '/api/v1/preview', '/api/v1/preview', { json: swapBody({ options: { processors: ['face_enhancer'] } }), expect: 409 });
    await call(main, 'POST', '/api/v1/preview', '/api/v1/preview', { anonymous: true, json: swapBody(), expect: 401 });
  });

  let done;  // a completed image job
  test('jobs: submit, replay, list, read, events (JSON, SSE, WebSocket)', async () => {
    const created = await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: swapBody(), headers: { 'Idempotency-Key': 'contract-1' }, expect: 201 });
    assert.equal(created.res.headers.location, `/api/v1/jobs/${created.body.job_id}`);
    const replay = await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: swapBody({ output: { format: 'png' } }), headers: { 'Idempotency-Key': 'contract-1' }, expect: 200 });
    assert.equal(replay.body.job_id, created.body.job_id);
    done = await waitJob(created.body.job_id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const cached = await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: swapBody(), expect: 201 });
    assert.equal(cached.body.cached, true);

    await call(main, 'GET', '/api/v1/jobs', '/api/v1/jobs', { expect: 200 });
    const page = (await call(main, 'GET', '/api/v1/jobs', '/api/v1/jobs?status=completed&limit=1', { expect: 200 })).body;
    assert.ok(page.next_cursor, 'two completed jobs, one per page');
    await call(main, 'GET', '/api/v1/jobs', `/api/v1/jobs?limit=1&cursor=${encodeURIComponent(page.next_cursor)}`, { expect: 200 });
    await call(main, 'GET', '/api/v1/jobs', '/api/v1/jobs?limit=0', { expect: 400 });
    await call(main, 'GET', '/api/v1/jobs', '/api/v1/jobs?status=finished', { expect: 400 });
    await call(main, 'GET', '/api/v1/jobs', '/api/v1/jobs', { anonymous: true, expect: 401 });
    await call(main, 'GET', '/api/v1/jobs/{job_id}', '/api/v1/jobs/job_0000000000000000', { expect: 404 });
    await call(main, 'GET', '/api/v1/jobs/{job_id}', `/api/v1/jobs/${done.job_id}`, { anonymous: true, expect: 401 });

    const events = '/api/v1/jobs/{job_id}/events';
    const page1 = (await call(main, 'GET', events, `/api/v1/jobs/${done.job_id}/events`, { expect: 200 })).body;
    assert.ok(page1.events.length >= 2, 'state and progress events');
    await call(main, 'GET', events, `/api/v1/jobs/${done.job_id}/events?since=1`, { expect: 200 });
    await call(main, 'GET', events, `/api/v1/jobs/${done.job_id}/events?since=-1`, { expect: 400 });
    await call(main, 'GET', events, '/api/v1/jobs/job_0000000000000000/events', { expect: 404 });
    await call(main, 'GET', events, `/api/v1/jobs/${done.job_id}/events`, { anonymous: true, expect: 401 });

    const stream = await sse(main, `/api/v1/jobs/${done.job_id}/events`, key);
    contract.check('GET', events, { ...stream.res, text: '' });  // status and content type; events below
    assert.equal(stream.events.length, page1.events.length, 'SSE replays the backlog then ends');
    for (const e of stream.events) contract.validateSchema('JobEvent', e, 'an SSE event');

    for (const path of [`/ws/job/${done.job_id}/progress`, `/api/v1/jobs/${done.job_id}/events`]) {
      const ws = await websocketMessages(main, path, key);
      assert.equal(ws.code, 1000, `${path} closes normally`);
      assert.equal(ws.protocol, 'facefuse.v1');
      assert.equal(ws.messages.length, page1.events.length, `${path} replays every event`);
      for (const e of ws.messages) contract.validateSchema('JobEvent', e, `a WebSocket frame of ${path}`);
      contract.covered.add(`GET ${path.startsWith('/ws/') ? '/ws/job/{job_id}/progress' : events} 101`);
    }
    // A refused upgrade is an HTTP answer with the JSON error.
    const ws = '/ws/job/{job_id}/progress';
    await call(main, 'GET', ws, `/ws/job/${done.job_id}/progress?since=x`, { headers: UPGRADE, expect: 400 });
    await call(main, 'GET', ws, '/ws/job/job_0000000000000000/progress', { headers: UPGRADE, expect: 404 });

    // Live mode: a plain GET is 400; upgraded, the config is answered with "ready"
    // (the frames, limits and errors: tests/server/test_live_mode.py).
    await call(main, 'GET', '/api/v1/live', '/api/v1/live', { expect: 400 });
    const ready = await new Promise((resolve, reject) => {
      const live = new WebSocket(main.url.replace('http', 'ws') + '/api/v1/live', [`facefuse.bearer.${key}`]);
      const timer = setTimeout(() => { live.close(); reject(new Error('/api/v1/live: no answer in 120 s')); }, 120000);
      live.onopen = () => live.send(JSON.stringify({ source: { upload_id: source.id } }));
      live.onmessage = (m) => { clearTimeout(timer); live.close(1000); resolve(JSON.parse(m.data)); };
      live.onerror = () => {};
    });
    assert.equal(ready.type, 'ready', JSON.stringify(ready));
    contract.covered.add('GET /api/v1/live 101');
  });

  test('jobs: validation, missing uploads and models, quota, streams, cancel and delete', async () => {
    await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: swapBody({ output: { quality: 50.5 } }), expect: 400 });
    await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: '[1,', expect: 400 });
    await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: { source: { upload_id: 'up_0000000000000000' }, target: { upload_id: target.id } }, expect: 404 });
    await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: swapBody({ options: { processors: ['face_enhancer'] } }), expect: 409 });
    for (const route of ['/api/v1/jobs', '/api/v1/process/swap', '/api/v1/process/enhance', '/api/v1/preview']) {
      await call(main, 'POST', route, route, { declaredLength: 2 * 1024 * 1024, headers: { 'Content-Type': 'application/json' }, expect: 413 });
    }
    await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { anonymous: true, json: swapBody(), expect: 401 });
    await call(full, 'POST', '/api/v1/jobs', '/api/v1/jobs', { key: full.adminKey, json: swapBody(), expect: 507 });
    for (const [route, processors] of [['/api/v1/process/swap', ['face_swapper']], ['/api/v1/process/enhance', ['face_enhancer']]]) {
      await call(main, 'POST', route, route, { json: { source: {} }, expect: 400 });
      await call(main, 'POST', route, route, { json: { source: { upload_id: 'up_0000000000000000' }, target: { upload_id: target.id } }, expect: 404 });
      await call(main, 'POST', route, route, { anonymous: true, json: swapBody(), expect: 401 });
      await call(full, 'POST', route, route, { key: full.adminKey, json: swapBody(), expect: 507 });
      assert.ok(processors.length === 1);
    }
    await call(main, 'POST', '/api/v1/process/enhance', '/api/v1/process/enhance', { json: swapBody(), expect: 409 });
    const models = (await call(main, 'GET', '/api/v1/models', '/api/v1/models', { expect: 200 })).body.models;
    const missingSwapper = models.find((m) => m.kind === 'face_swapper' && m.state !== 'installed');
    assert.ok(missingSwapper, `a face swapper model that is not installed: ${JSON.stringify(models.map((m) => [m.id, m.kind, m.state]))}`);
    await call(main, 'POST', '/api/v1/process/swap', '/api/v1/process/swap', { json: swapBody({ options: { face_swapper_model: missingSwapper.id } }), expect: 409 });
    const swap = (await call(main, 'POST', '/api/v1/process/swap', '/api/v1/process/swap', { json: swapBody({ output: { format: 'png' } }), headers: { 'Idempotency-Key': 'contract-swap' }, expect: 201 })).body;
    await call(main, 'POST', '/api/v1/process/swap', '/api/v1/process/swap', { json: swapBody(), headers: { 'Idempotency-Key': 'contract-swap' }, expect: 200 });
    await waitJob(swap.job_id);

    // Three video jobs fill the tenant's --max-active-jobs 3: the fourth is 429 with Retry-After.
    const videoBody = { source: { upload_id: source.id }, target: { upload_id: video.id } };
    const running = [];
    for (let i = 0; i < 3; i++) {
      running.push((await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: { ...videoBody, output: { quality: 60 + i } }, expect: 201 })).body);
    }
    const quota = await call(main, 'POST', '/api/v1/jobs', '/api/v1/jobs', { json: { ...videoBody, output: { quality: 70 } }, expect: 429 });
    assert.ok(quota.res.headers['retry-after'], '429 carries Retry-After');
    for (const route of ['/api/v1/process/swap', '/api/v1/process/enhance']) {
      await call(main, 'POST', route, route, { json: { ...videoBody, output: { quality: 71 } }, expect: route.endsWith('swap') ? 429 : 409 });
    }
    // An upload used by a pending job cannot be deleted; a job that runs cannot be deleted.
    await call(main, 'DELETE', '/api/v1/uploads/{upload_id}', `/api/v1/uploads/${video.id}`, { expect: 409 });
    await call(main, 'DELETE', '/api/v1/jobs/{job_id}', `/api/v1/jobs/${running[0].job_id}`, { expect: 409 });
    // --max-streams-per-key 2: a third live stream of one key is 429 with Retry-After.
    const live = running[0].job_id;
    const streams = [sse(main, `/api/v1/jobs/${live}/events`, key), sse(main, `/api/v1/jobs/${live}/events`, key)];
    await new Promise((r) => setTimeout(r, 500));
    const third = await call(main, 'GET', '/api/v1/jobs/{job_id}/events', `/api/v1/jobs/${live}/events`, { headers: { Accept: 'text/event-stream' }, expect: 429 });
    assert.ok(third.res.headers['retry-after']);
    await call(main, 'GET', '/ws/job/{job_id}/progress', `/ws/job/${live}/progress`, { headers: UPGRADE, expect: 429 });

    for (const job of running) {
      const cancelled = (await call(main, 'POST', '/api/v1/jobs/{job_id}/cancel', `/api/v1/jobs/${job.job_id}/cancel`, { expect: 200 })).body;
      assert.ok(cancelled.status === 'cancelled' || cancelled.cancel_requested, JSON.stringify(cancelled));
    }
    for (const s of await Promise.all(streams)) {
      assert.equal(s.res.status, 200);
      assert.ok(s.events.length >= 1);
      for (const e of s.events) contract.validateSchema('JobEvent', e, 'a live SSE event');
    }
    for (const job of running) await waitJob(job.job_id, ['cancelled', 'completed', 'failed']);
    await call(main, 'POST', '/api/v1/jobs/{job_id}/cancel', `/api/v1/jobs/${done.job_id}/cancel`, { expect: 409 });
    await call(main, 'POST', '/api/v1/jobs/{job_id}/cancel', '/api/v1/jobs/job_0000000000000000/cancel', { expect: 404 });
    await call(main, 'POST', '/api/v1/jobs/{job_id}/cancel', `/api/v1/jobs/${done.job_id}/cancel`, { anonymous: true, expect: 401 });
    await call(main, 'DELETE', '/api/v1/jobs/{job_id}', `/api/v1/jobs/${running[0].job_id}`, { expect: 200 });
    await call(main, 'DELETE', '/api/v1/jobs/{job_id}', '/api/v1/jobs/job_0000000000000000', { expect: 404 });
    await call(main, 'DELETE', '/api/v1/jobs/{job_id}', `/api/v1/jobs/${running[1].job_id}`, { anonymous: true, expect: 401 });
  });

  test("the spec's request examples are accepted by the server", async () => {
    // The examples' upload ids stand for real uploads; the webhook's host would have to resolve to a
    // public address (no network here), so the webhook is left out.
    const ids = { up_0123456789abcdef: source.id, up_fedcba9876543210: target.id, up_00000000video001: video.id };
    const expected = { '/api/v1/process/enhance': 409, '/api/v1/keys': 201, '/api/v1/detect': 200, '/api/v1/preview': 200,
                       '/api/v1/uploads': 409 /* a direct upload: file storage */ };
    let tried = 0;
    for (const [template, item] of Object.entries(contract.api.paths)) {
      const media = item.post?.requestBody?.content?.['application/json'];
      if (!media) continue;
      const examples = media.example !== undefined ? [media.example] : Object.values(media.examples ?? {}).map((e) => e.value);
      for (const example of examples) {
        const body = JSON.parse(JSON.stringify(example).replace(/up_[0-9a-z]+/g, (id) => ids[id] ?? id));
        delete body.webhook;
        const want = expected[template] ?? [200, 201];
        const { res, body: answer } = await call(main, 'POST', template, template, { json: body });
        assert.ok([want].flat().includes(res.status), `${template} example ${JSON.stringify(body)}: ${res.status} ${res.text.slice(0, 300)}`);
        if (answer?.job_id && answer.status !== 'completed') {
          await call(main, 'POST', '/api/v1/jobs/{job_id}/cancel', `/api/v1/jobs/${answer.job_id}/cancel`, { expect: 200 });
        }
        tried++;
      }
    }
    assert.ok(tried >= 7, `${tried} examples`);
  });

  test('media: signed link, key, ranges and refusals', async () => {
    const job = (await call(main, 'GET', '/api/v1/jobs/{job_id}', `/api/v1/jobs/${done.job_id}`, { expect: 200 })).body;
    const media = '/media/{key}';
    const link = job.output_url;
    const path = link.split('?')[0];
    const whole = await call(main, 'GET', media, link, { anonymous: true, expect: 200 });
    await call(main, 'GET', media, path, { expect: 200 });
    const part = await call(main, 'GET', media, link, { anonymous: true, headers: { Range: 'bytes=0-99' }, expect: 206 });
    assert.deepEqual(part.res.raw, whole.res.raw.subarray(0, 100));
    await call(main, 'HEAD', media, link, { anonymous: true, expect: 200 });
    await call(main, 'HEAD', media, link, { anonymous: true, headers: { Range: 'bytes=-10' }, expect: 206 });
    await call(main, 'HEAD', media, `${path}x`, { expect: 404 });
    await call(main, 'GET', media, link, { anonymous: true, headers: { Range: `bytes=${whole.res.raw.length}-` }, expect: 416 });
    await call(main, 'GET', media, path, { anonymous: true, expect: 401 });
    await call(main, 'GET', media, link.replace(/sig=[0-9a-f]/, 'sig=z'), { anonymous: true, expect: 403 });
    await call(main, 'GET', media, '/media/outputs/..%2F..%2Fkeys', { expect: 400 });
    await call(main, 'GET', media, '/media/outputs/job_0000000000000000/output.jpg', { expect: 404 });
  });

  test('media: an output the retention deleted answers 410; the job stays with output_expired_at', async () => {
    const rkey = retaining.adminKey;
    const up = async (file, name) => {
      const form = multipart([{ name: 'file', filename: name, data: readFileSync(file) }]);
      return (await call(retaining, 'POST', '/api/v1/upload', '/api/v1/upload',
                         { key: rkey, body: form.body, headers: { 'Content-Type': form.type }, expect: 201 })).body;
    };
    const [s, t] = [await up(SOURCE, 'face.png'), await up(TARGET, 'target.jpg')];
    const created = (await call(retaining, 'POST', '/api/v1/jobs', '/api/v1/jobs',
                                { key: rkey, json: { source: { upload_id: s.id }, target: { upload_id: t.id } }, expect: 201 })).body;
    let job;
    const deadline = Date.now() + 180000 * TIME_SCALE;
    for (;;) {
      job = (await call(retaining, 'GET', '/api/v1/jobs/{job_id}', `/api/v1/jobs/${created.job_id}`, { key: rkey, expect: 200 })).body;
      if (job.output_expired_at || ['failed', 'cancelled'].includes(job.status)) break;
      if (Date.now() > deadline) throw new Error(`output of ${created.job_id} did not expire: ${job.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(job.status, 'completed');
    assert.equal(job.output_url, null);
    const events = (await call(retaining, 'GET', '/api/v1/jobs/{job_id}/events', `/api/v1/jobs/${created.job_id}/events`,
                               { key: rkey, expect: 200 })).body;
    const recorded = events.events.map((e) => e.output_url).find((u) => u);
    assert.ok(recorded, 'the completed event recorded the output');
    await call(retaining, 'GET', '/media/{key}', recorded.split('?')[0], { key: rkey, expect: 410 });
  });

  test('uploads: delete', async () => {
    const spare = await upload(TARGET, 'spare.jpg');
    await call(main, 'DELETE', '/api/v1/uploads/{upload_id}', `/api/v1/uploads/${spare.id}`, { expect: 200 });
    await call(main, 'DELETE', '/api/v1/uploads/{upload_id}', `/api/v1/uploads/${spare.id}`, { expect: 404 });
    await call(main, 'DELETE', '/api/v1/uploads/{upload_id}', `/api/v1/uploads/${target.id}`, { anonymous: true, expect: 401 });
  });

  test('every documented status was seen (or is listed as not driven, with the reason)', () => {
    const missing = contract.documented().filter((k) => !contract.covered.has(k) && !(k in NOT_DRIVEN));
    assert.deepEqual(missing, [], 'documented answers this test never saw: drive them or list them in NOT_DRIVEN');
    const stale = Object.keys(NOT_DRIVEN).filter((k) => !contract.documented().includes(k) || contract.covered.has(k));
    assert.deepEqual(stale, [], 'NOT_DRIVEN entries that are no longer documented or are now driven');
    console.log(`contract: ${contract.checked} answers checked, ${contract.covered.size} of ` +
                `${contract.documented().length} documented answers seen, ${Object.keys(NOT_DRIVEN).length} not driven`);
  });
});
