// The web studio in a real browser: Debian's /usr/bin/chromium (headless, driven by
// playwright-core from web/package-lock.json) against a real `facefuse serve` on a free loopback
// port with a temporary data directory and --no-auth, on real photos and a real face video from
// the test data. Screenshots of every step go to $FACEFUSE_SCREENSHOTS (the build tree).
//
// Run by CTest (label `browser`): node --test tests/browser/studio_test.mjs
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServeProcess } from '../support/serve_process.mjs';
import { SHOTS, TESTDATA, collectErrors, launchChromium } from './browser_support.mjs';

const SOURCE = join(TESTDATA, 'photos', 'astronaut.png');          // one face (public domain)
const TARGET = join(TESTDATA, 'photos', 'jesper.jpg');             // one face (kphotoalbum demo)
const NO_FACE = join(TESTDATA, 'photos', 'grand_canyon_1.jpg');    // a landscape, no face (kphotoalbum demo)
// dlib's example 2008_001322.jpg, labelled by eye: left to right a man, a woman, an older man.
const GROUP = join(TESTDATA, 'dlib_faces', '2008_001322.jpg');
// 640×480, 25 fps, 68 frames: the real kphotoalbum talking head (scripts/make_test_videos).
const VIDEO = join(TESTDATA, 'videos', 'talking_head_640x480.mp4');
// 1280×720, 100 frames, a synthetic zoom over a real photo.
const LONG_VIDEO = join(TESTDATA, 'videos', 'face_720p.mp4');
// 1280×720, 750 frames (30 s): a job that is surely still running when the test acts on it.
const LONGER_VIDEO = join(TESTDATA, 'videos', 'bench_720p_30s.mp4');

// One `facefuse serve` without API keys; kill() then start() is a server restart (same port and data).
class Server extends ServeProcess {
  constructor() { super(['--no-auth', '--workers', '1', '--lease-seconds', '3'], 'facefuse-browser-'); }
  stop() { return super.stop('SIGKILL'); }
  async api(path, init) {
    const r = await fetch(this.url + path, init);
    return r.json();
  }
}

const server = new Server();
let browser;
const consoleErrors = [];
let tolerateConnectionErrors = false;  // only while the server is down on purpose
let shot = 0;

// initScript: run in the page before its own scripts (context.addInitScript).
async function newPage(viewport = { width: 1280, height: 900 }, initScript = null) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  collectErrors(page, consoleErrors, (text) =>
    tolerateConnectionErrors && /WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(text));
  await page.goto(server.url + '/');
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function setRange(page, selector, value) {
  await page.locator(selector).evaluate((el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}

async function chooseInputs(page, source, target) {
  await page.setInputFiles('#source-file', source);
  await page.setInputFiles('#target-file', target);
  await page.waitForFunction(() => /^Uploaded/.test(document.getElementById('source-state').textContent) &&
                                   /^Uploaded/.test(document.getElementById('target-state').textContent), null,
                             { timeout: 60000 });
}

async function waitJob(page, statuses, timeout = 120000) {
  await page.waitForFunction((s) => s.includes(document.getElementById('job-state').dataset.status), statuses, { timeout });
  return page.locator('#job-state').getAttribute('data-status');
}

// The pixels of a loaded <img> as the page shows them, hashed (drawn on a canvas: the page's CSP
// lets it fetch nothing but its own origin, so blob: URLs are not fetched again).
async function imageHash(page, selector) {
  const pixels = await page.locator(selector).evaluate((img) => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data);
  });
  assert.ok(pixels.length > 0, `${selector} shows nothing`);
  return createHash('sha256').update(Buffer.from(pixels)).digest('hex');
}

before(async () => {
  await server.start();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server.stop();
});

describe('studio', () => {
  test('the page is served with its security headers, no key field under --no-auth, panels from /api/v1/processors', async () => {
    const r = await fetch(server.url + '/');
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    const html = await r.text();
    assert.doesNotMatch(html, /<script>(?!<\/script>)/, 'no inline script');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)[1];
    const js = await fetch(server.url + asset);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /javascript/);
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');

    const page = await newPage();
    assert.equal(await page.locator('#key-form').isVisible(), false, 'no key field when auth is off');
    const doc = await server.api('/api/v1/processors');
    const blend = doc.processors.find((p) => p.name === 'face_swapper').options.find((o) => o.name === 'face_swapper_blend');
    const slider = page.locator('[data-option="face_swapper_blend"] input[type=range]');
    assert.equal(Number(await slider.inputValue()), blend.default, 'slider starts at the API default');
    assert.equal(Number(await slider.getAttribute('min')), blend.min);
    assert.equal(Number(await slider.getAttribute('max')), blend.max);
    for (const p of doc.processors) assert.equal(await page.locator(`#proc-${p.name}`).count(), 1, p.name);
    // FaceFusion's face selector panel: the order and the reference distance beside the mode, not
    // in the analyser panel; the order's choices are the API's.
    const order = doc.face_options.find((o) => o.name === 'face_selector_order');
    const orderSelect = page.locator('section.faces [data-option="face_selector_order"] select');
    assert.deepEqual(await orderSelect.locator('option').evaluateAll((os) => os.map((o) => o.value)), order.choices);
    assert.equal(await orderSelect.inputValue(), order.default);
    assert.equal(await page.locator('section.faces [data-option="reference_face_distance"] input').count(), 1);
    assert.equal(await page.locator('#analyser-options [data-option^="face_selector"], ' +
                                    '#analyser-options [data-option^="reference_"]').count(), 0);
    await screenshot(page, 'start');
    await page.context().close();
  });

  test('gender and age filters in the faces panel; the gallery shows each face\'s gender and age', async () => {
    const page = await newPage();
    const doc = await server.api('/api/v1/processors');
    const gender = doc.face_options.find((o) => o.name === 'face_selector_gender');
    const genderSelect = page.locator('section.faces [data-option="face_selector_gender"] select');
    // "any" (no filter, the API's null default) first, then the API's choices.
    assert.deepEqual(await genderSelect.locator('option').evaluateAll((os) => os.map((o) => o.value)),
                     ['', ...gender.choices]);
    assert.equal(await genderSelect.inputValue(), '');
    const start = 'section.faces [data-option="face_selector_age_start"] input[type=range]';
    const end = 'section.faces [data-option="face_selector_age_end"] input[type=range]';
    for (const [selector, name] of [[start, 'face_selector_age_start'], [end, 'face_selector_age_end']]) {
      const o = doc.face_options.find((x) => x.name === name);
      assert.equal(Number(await page.locator(selector).inputValue()), o.default, name);
      assert.equal(Number(await page.locator(selector).getAttribute('max')), o.max, name);
    }
    // The two sliders never cross: end below start takes start along, and back.
    await setRange(page, end, 30);
    await setRange(page, start, 50);
    assert.equal(await page.locator(end).inputValue(), '50');
    await setRange(page, end, 100);
    await setRange(page, start, 0);

    await chooseInputs(page, SOURCE, GROUP);
    await page.waitForFunction(() => document.querySelectorAll('#target-faces button.face').length === 3, null,
                               { timeout: 60000 });
    await page.selectOption('section.faces [data-option="face_selector_order"] select', 'left-right');
    // The gallery lists faces in the detect order (large-small); read them back by position.
    const traits = await page.locator('#target-faces button.face .traits').allTextContents();
    assert.equal(traits.length, 3);
    for (const t of traits) assert.match(t, /^(female|male), \d+$/);
    assert.equal(traits.filter((t) => t.startsWith('female')).length, 1, traits.join(' / '));
    assert.match(await page.locator('#target-faces button.face').first().getAttribute('aria-label'), /(female|male), \d+/);

    // Every face, women only: one of the three is swapped.
    await page.locator('input[name=face_selector_mode][value=many]').check();
    await genderSelect.selectOption('female');
    await screenshot(page, 'gender-filter');
    await page.waitForFunction(() => !document.getElementById('swap-button').disabled);
    const submitted = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/jobs');
    await page.locator('#swap-button').click();
    const body = JSON.parse((await submitted).postData());
    assert.equal(body.options.face_selector_gender, 'female');
    assert.equal(body.options.face_selector_mode, 'many');
    assert.equal('face_selector_age_start' in body.options, false, 'unchanged defaults are not sent');
    assert.equal(await waitJob(page, ['completed', 'failed']), 'completed');
    await page.locator('#job-faces').filter({ hasText: '1 face swapped, 3 found in the target.' }).waitFor();
    await screenshot(page, 'gender-filter-completed');
    await page.context().close();
  });

  test('a wrong file is refused before upload with a message naming the file and the input', async () => {
    const page = await newPage();
    const notes = join(server.data, 'holiday notes.txt');
    writeFileSync(notes, 'not a photo');
    await page.setInputFiles('#source-file', notes);
    const error = page.locator('#source-error');
    await error.filter({ hasText: 'holiday notes.txt' }).waitFor();
    assert.match(await error.textContent(), /source photo/);
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(await page.locator('#target-error').textContent(), '');
    // A video is not a source face either, and the message says which input is wrong.
    await page.setInputFiles('#source-file', VIDEO);
    await error.filter({ hasText: 'talking_head_640x480.mp4' }).waitFor();
    assert.match(await error.textContent(), /source photo/);
    assert.equal(await page.locator('#swap-button').isDisabled(), true);
    await screenshot(page, 'wrong-source');
    await page.context().close();
  });

  test('an image job runs end to end: one job per click, progress, result, download name, job id in the URL', async () => {
    const page = await newPage();
    const before = (await server.api('/api/v1/jobs?limit=100')).jobs.length;
    await chooseInputs(page, SOURCE, TARGET);
    await screenshot(page, 'image-inputs');
    const swap = page.locator('#swap-button');
    await swap.waitFor({ state: 'visible' });
    await page.waitForFunction(() => !document.getElementById('swap-button').disabled);
    await swap.dblclick();  // a double click must not start two jobs
    assert.equal(await waitJob(page, ['completed', 'failed']), 'completed');
    const jobId = await page.locator('#job-id').textContent();
    assert.equal(new URL(page.url()).searchParams.get('job'), jobId);
    const after = (await server.api('/api/v1/jobs?limit=100')).jobs.length;
    assert.equal(after - before, 1, 'exactly one job');
    const result = page.locator('#result img');
    await page.waitForFunction(() => document.querySelector('#result img')?.naturalWidth > 0);
    const link = page.locator('#download-link');
    assert.equal(await link.getAttribute('download'), 'jesper-faceswap.jpg');
    // The result is the swapped photo, not the target unchanged.
    const job = await server.api(`/api/v1/jobs/${jobId}`);
    // The same output; the signed link's expires/sig differ when the two reads straddle a second.
    const path = (u) => u.split('?')[0];
    assert.equal(path(await result.getAttribute('src')), path(job.output_url));
    const output = Buffer.from(await (await fetch(server.url + job.output_url)).arrayBuffer());
    assert.notDeepEqual(output, readFileSync(TARGET));
    assert.equal(await page.locator('#job-warning').textContent(), '');
    await page.locator('#job-faces').filter({ hasText: '1 face swapped, 1 found in the target.' }).waitFor();
    await page.locator('#jobs-body tr', { hasText: 'astronaut.png → jesper.jpg' }).first().waitFor();
    await screenshot(page, 'image-completed');
    await page.context().close();
  });

  test('a target without a face: the finished job shows its own count of swapped faces and its warnings', async () => {
    const page = await newPage();
    await chooseInputs(page, SOURCE, NO_FACE);
    await page.locator('#preview-warning').filter({ hasText: 'grand_canyon_1.jpg' }).waitFor({ timeout: 60000 });
    await page.waitForFunction(() => !document.getElementById('swap-button').disabled);
    // The page used to guess the count from a preview of the first frame after the job ended.
    const previews = [];
    page.on('request', (r) => { if (r.url().endsWith('/api/v1/preview')) previews.push(r.url()); });
    await page.click('#swap-button');
    assert.equal(await waitJob(page, ['completed', 'failed']), 'completed');
    const warning = page.locator('#job-warning');
    await warning.filter({ hasText: 'No face was swapped' }).waitFor({ timeout: 30000 });
    assert.equal(await warning.getAttribute('role'), 'alert');
    assert.match(await warning.textContent(), /grand_canyon_1\.jpg/);
    const jobId = await page.locator('#job-id').textContent();
    const job = await server.api(`/api/v1/jobs/${jobId}`);
    assert.equal(job.faces_swapped, 0);
    assert.equal(job.input_summary.target_faces, 0);
    assert.ok(job.warnings.length > 0, 'the job warns about the target');
    assert.deepEqual(await page.locator('#job-warnings li').allTextContents(), job.warnings, 'the job\'s warnings are listed');
    assert.equal(await page.locator('#job-faces').textContent(), '0 faces swapped, 0 found in the target.');
    assert.deepEqual(previews, [], 'the figures come from the job, not from a preview');
    await screenshot(page, 'no-face-warning');
    await page.context().close();
  });

  test('without a working WebSocket the 4 s poll still brings the job to completed', async () => {
    // A proxy that never completes the WebSocket handshake: the job's event socket stays
    // "connecting" for ever, no event and no close reach the page (other sockets are real).
    const page = await newPage(undefined, () => {
      const Real = window.WebSocket;
      window.stalledSockets = 0;
      function Stalled(url, protocols) {
        if (!String(url).includes('/ws/job/')) return new Real(url, protocols);
        window.stalledSockets += 1;
        return { url: String(url), readyState: 0, protocol: '', binaryType: 'blob', send() {}, close() {} };
      }
      Object.assign(Stalled, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
      window.WebSocket = Stalled;
    });
    await chooseInputs(page, SOURCE, TARGET);
    // PNG output: not the earlier image job's settings, so the result cache cannot answer at submit
    // (a job completed at submit opens no event stream at all).
    await page.locator('#out-format').evaluate((el) => { el.value = 'png'; el.dispatchEvent(new Event('change', { bubbles: true })); });
    await page.waitForFunction(() => !document.getElementById('swap-button').disabled);
    const polls = [];
    page.on('request', (r) => { if (/\/api\/v1\/jobs\/[A-Za-z0-9_]+$/.test(r.url()) && r.method() === 'GET') polls.push(Date.now()); });
    const submitted = Date.now();
    await page.click('#swap-button');
    assert.equal(await waitJob(page, ['completed', 'failed'], 60000), 'completed');
    assert.ok(await page.evaluate(() => window.stalledSockets) >= 1, 'the page tried its event WebSocket');
    assert.ok(polls.some((t) => t - submitted >= 3500), 'the completion came from a poll after ~4 s without events');
    await page.waitForFunction(() => document.querySelector('#result img')?.naturalWidth > 0);
    await page.locator('#job-faces').filter({ hasText: '1 face swapped' }).waitFor();
    await screenshot(page, 'completed-by-poll');
    await page.context().close();
  });

  test('the preview changes when an option changes, with a before/after slider', async () => {
    const page = await newPage();
    await chooseInputs(page, SOURCE, TARGET);
    await page.waitForFunction(() => document.getElementById('preview-after').src.startsWith('blob:'), null, { timeout: 60000 });
    await page.waitForFunction(() => /processed/.test(document.getElementById('preview-info').textContent));
    const first = await page.locator('#preview-after').getAttribute('src');
    const firstHash = await imageHash(page, '#preview-after');
    const beforeHash = await imageHash(page, '#preview-before');
    assert.notEqual(firstHash, beforeHash, 'the preview differs from the original frame');
    assert.match(await page.locator('#preview-info').textContent(), /1 processed/);
    await setRange(page, '[data-option="face_swapper_blend"] input[type=range]', 0.2);
    await page.waitForFunction((old) => document.getElementById('preview-after').src !== old, first, { timeout: 60000 });
    await page.waitForFunction(() => !/Rendering/.test(document.getElementById('preview-info').textContent));
    assert.notEqual(await imageHash(page, '#preview-after'), firstHash, 'a new blend gives a new picture');
    await setRange(page, '#compare-slider', 80);
    const clip = await page.locator('#preview-after').evaluate((el) => el.style.clipPath);
    assert.match(clip, /80%/);
    await screenshot(page, 'preview-compare');
    await page.context().close();
  });

  test('mask settings and video encoding are controls generated from the schemas, and reach the job body', async () => {
    const page = await newPage();
    const doc = await server.api('/api/v1/processors');
    const swapper = Object.fromEntries(doc.processors.find((p) => p.name === 'face_swapper').options.map((o) => [o.name, o]));
    // Multi-choice options are checkbox groups listing the API's choices, the defaults ticked.
    for (const name of ['face_mask_types', 'face_mask_regions', 'face_mask_areas']) {
      const group = page.locator(`.processor[data-processor="face_swapper"] [data-option="${name}"] input[type=checkbox]`);
      assert.deepEqual(await group.evaluateAll((bs) => bs.map((b) => b.value)), swapper[name].choices, name);
      assert.deepEqual(await group.evaluateAll((bs) => bs.filter((b) => b.checked).map((b) => b.value)),
                       swapper[name].default, name);
    }
    // The box padding: four sliders, top right bottom left, in the API's range.
    const padding = page.locator('.processor[data-processor="face_swapper"] [data-option="face_mask_padding"] input[type=range]');
    assert.deepEqual(await padding.evaluateAll((rs) => rs.map((r) => r.dataset.side)), ['top', 'right', 'bottom', 'left']);
    assert.deepEqual(await padding.evaluateAll((rs) => rs.map((r) => [Number(r.min), Number(r.max)])),
                     Array(4).fill([swapper.face_mask_padding.min, swapper.face_mask_padding.max]));
    await chooseInputs(page, SOURCE, VIDEO);
    await page.waitForFunction(() => document.getElementById('preview-after').src.startsWith('blob:'), null, { timeout: 60000 });
    // The output panel: encoder, preset and audio volume from output_options, for video outputs.
    await page.locator('#output-panel').evaluate((d) => { d.open = true; });
    const encoders = doc.output_options.find((o) => o.name === 'video_encoder');
    const encoderSelect = page.locator('#output-encoding [data-option="video_encoder"] select');
    assert.deepEqual(await encoderSelect.locator('option').evaluateAll((os) => os.map((o) => o.value)), encoders.choices);
    assert.equal(await page.locator('#output-encoding').isVisible(), true);

    const scope = '.processor[data-processor="face_swapper"]';
    const previewBody = (check) => page.waitForRequest((r) => r.url().endsWith('/api/v1/preview') && check(r.postDataJSON()),
                                                       { timeout: 60000 });
    // Tick the area mask, untick a region and an area, pad the top: the preview body carries them.
    const waited = previewBody((b) => JSON.stringify(b.options.face_mask_types) === '["box","area"]' &&
                                      Array.isArray(b.options.face_mask_regions) && !b.options.face_mask_regions.includes('nose') &&
                                      JSON.stringify(b.options.face_mask_areas) === '["upper-face","lower-face"]' &&
                                      JSON.stringify(b.options.face_mask_padding) === '[10,0,0,0]' &&
                                      b.output?.video_encoder === encoders.choices.at(-1) &&
                                      b.output?.video_preset === 'ultrafast' && b.output?.audio_volume === 0);
    await page.locator(`${scope} [data-option="face_mask_types"] input[value="area"]`).check();
    await page.locator(`${scope} [data-option="face_mask_regions"] input[value="nose"]`).uncheck();
    await page.locator(`${scope} [data-option="face_mask_areas"] input[value="mouth"]`).uncheck();
    await setRange(page, `${scope} [data-option="face_mask_padding"] input[data-side="top"]`, 10);
    await encoderSelect.selectOption(encoders.choices.at(-1));
    await page.locator('#output-encoding [data-option="video_preset"] select').selectOption('ultrafast');
    await setRange(page, '#output-encoding [data-option="audio_volume"] input[type=range]', 0);
    const request = await waited;
    const response = await request.response();
    assert.equal(response.status(), 200, 'the server takes the body');
    await page.waitForFunction(() => !/Rendering/.test(document.getElementById('preview-info').textContent));
    await screenshot(page, 'mask-and-encoding-controls');
    // An image output has no video encoding: the controls go, and the body has none.
    const imageBody = previewBody((b) => b.output?.format === 'jpg');
    await page.selectOption('#out-format', 'jpg');
    assert.equal((await imageBody).postDataJSON().output.video_encoder, undefined);
    assert.equal(await page.locator('#output-encoding').isVisible(), false);
    assert.equal(await page.locator('#out-fps').isVisible(), false);
    await page.context().close();
  });

  test('a video job with trim and the reference face chosen in the gallery', async () => {
    const page = await newPage();
    await chooseInputs(page, SOURCE, VIDEO);
    assert.equal(await page.locator('#trim-panel').isVisible(), true);
    await setRange(page, '#preview-frame', 20);
    await page.waitForFunction(() => /at frame 20/.test(document.getElementById('faces-hint').textContent), null, { timeout: 60000 });
    const face = page.locator('#target-faces button.face').first();
    await face.click();
    assert.equal(await face.getAttribute('aria-selected'), 'true');
    assert.equal(await page.locator('#mode-reference').isChecked(), true);
    await setRange(page, '#trim-start', 10);
    await setRange(page, '#trim-end', 40);
    await screenshot(page, 'video-gallery-trim');
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/api/v1/jobs') && r.method() === 'POST'),
      page.waitForFunction(() => !document.getElementById('swap-button').disabled).then(() => page.click('#swap-button')),
    ]);
    const body = request.postDataJSON();
    assert.deepEqual(body.target.frame_range, [10, 40]);
    assert.equal(body.options.reference_frame_number, 20);
    assert.equal(await waitJob(page, ['completed', 'failed'], 180000), 'completed');
    const jobId = await page.locator('#job-id').textContent();
    const job = await server.api(`/api/v1/jobs/${jobId}`);
    assert.equal(job.frames_total, 30);
    await page.waitForFunction(() => document.querySelector('#result video')?.readyState >= 1, null, { timeout: 30000 });
    assert.equal(await page.locator('#download-link').getAttribute('download'), 'talking_head_640x480-faceswap.mp4');
    await screenshot(page, 'video-completed');
    await page.context().close();
  });

  test('reload mid-job returns to the job; back leaves it; cancel stops it', async () => {
    const page = await newPage();
    await chooseInputs(page, SOURCE, LONGER_VIDEO);
    await page.waitForFunction(() => !document.getElementById('swap-button').disabled);
    await page.click('#swap-button');
    await waitJob(page, ['processing', 'completed']);
    const jobId = await page.locator('#job-id').textContent();
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.locator('#job-id').textContent(), jobId);
    assert.equal(new URL(page.url()).searchParams.get('job'), jobId);
    await screenshot(page, 'reloaded-mid-job');
    assert.equal(await page.locator('#cancel-button').isVisible(), true);
    await page.click('#cancel-button');
    assert.equal(await waitJob(page, ['cancelled', 'completed']), 'cancelled');
    assert.equal((await server.api(`/api/v1/jobs/${jobId}`)).status, 'cancelled');
    await screenshot(page, 'cancelled');
    await page.goBack();
    await page.waitForFunction(() => document.getElementById('job-panel').hidden);
    await page.goForward();
    await page.waitForFunction((id) => !document.getElementById('job-panel').hidden &&
                                       document.getElementById('job-id').textContent === id, jobId);
    await page.context().close();
  });

  test('a server restart mid-job: the page reconnects by itself and shows the completion', async () => {
    const page = await newPage();
    await chooseInputs(page, SOURCE, LONG_VIDEO);
    await page.waitForFunction(() => !document.getElementById('swap-button').disabled);
    await page.click('#swap-button');
    await waitJob(page, ['processing']);
    tolerateConnectionErrors = true;
    await server.kill();
    await page.locator('#job-state').filter({ hasText: 'reconnecting' }).waitFor({ timeout: 20000 });
    await screenshot(page, 'server-down');
    await server.start();
    assert.equal(await waitJob(page, ['completed', 'failed'], 180000), 'completed');
    tolerateConnectionErrors = false;
    await page.waitForFunction(() => document.querySelector('#result video') !== null);
    await screenshot(page, 'completed-after-restart');
    await page.context().close();
  });

  test('at 390 px wide nothing scrolls sideways', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await chooseInputs(page, SOURCE, VIDEO);
    await page.waitForFunction(() => document.getElementById('preview-after').src.startsWith('blob:'), null, { timeout: 60000 });
    for (const details of await page.locator('details').all()) await details.evaluate((d) => { d.open = true; });
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: window.innerWidth }));
    assert.ok(widths.scroll <= widths.view, `page is ${widths.scroll} px wide in a ${widths.view} px viewport`);
    await screenshot(page, 'mobile-390');
    await page.context().close();
  });

  test('every control has a label, alerts and live regions are in place, the keyboard reaches the pickers', async () => {
    const page = await newPage();
    await chooseInputs(page, SOURCE, TARGET);
    await page.waitForSelector('#target-faces button.face');
    const problems = await page.evaluate(() => {
      const out = [];
      const named = (el) => (el.labels && el.labels.length > 0 && [...el.labels].some((l) => l.textContent.trim())) ||
        el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim());
      for (const el of document.querySelectorAll('input, select, textarea, button')) {
        if (el.closest('[hidden]')) continue;
        if (!named(el)) out.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id}`);
      }
      for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) out.push(`img without alt: ${img.id}`);
      for (const id of ['source-error', 'target-error', 'job-error', 'preview-warning', 'job-warning']) {
        if (document.getElementById(id).getAttribute('role') !== 'alert') out.push(`#${id} is not role=alert`);
      }
      if (document.getElementById('status').getAttribute('aria-live') !== 'polite') out.push('#status is not aria-live');
      if (!document.querySelector('meta[name=viewport]')) out.push('no viewport meta');
      if (document.documentElement.lang !== 'en') out.push('no lang');
      return out;
    });
    assert.deepEqual(problems, []);
    // Tab from the top: the skip link, the selected tab (one stop for the tab list), then the
    // source picker, then the target picker; arrow keys move between the tabs.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-studio');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-live');
    assert.equal(await page.locator('#live-panel').isVisible(), true);
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-studio');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'source-file');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement.closest('.drop')).outlineStyle);
    assert.equal(outline, 'solid', 'the focused picker shows a focus ring');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'target-file');
    await screenshot(page, 'focus');
    await page.context().close();
  });

  test('no console errors on any page', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
