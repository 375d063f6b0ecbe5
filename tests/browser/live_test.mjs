// Live mode of the web studio in a real browser: Debian's /usr/bin/chromium with its fake camera
// fed from a real face video (the kphotoalbum talking head, 640×480, converted to .y4m by FFmpeg
// here), against a real `facefuse serve --no-auth`. The page sends camera frames over
// /api/v1/live and shows them swapped; the test waits for swapped frames, checks the figures the
// page shows and prints the measured fps and latency. Screenshots go to $FACEFUSE_SCREENSHOTS.
//
// Run by CTest (label `browser`): node --test tests/browser/live_test.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServeProcess } from '../support/serve_process.mjs';
import { SHOTS, TESTDATA, collectErrors, launchChromium } from './browser_support.mjs';

const SOURCE = join(TESTDATA, 'photos', 'astronaut.png');        // one face (public domain)
const NO_FACE = join(TESTDATA, 'dlib_faces', 'dogs.jpg');        // dogs, no human face (dlib examples)
const SMALL_FACE = join(TESTDATA, 'photos', 'People-Jim.jpg');   // one face of ~52 px: the swap warns
// 640×480, 25 fps, 68 frames: the real kphotoalbum talking head (scripts/make_test_videos).
const VIDEO = join(TESTDATA, 'videos', 'talking_head_640x480.mp4');

const server = new ServeProcess(['--no-auth', '--workers', '1'], 'facefuse-live-browser-');
const scratch = mkdtempSync(join(tmpdir(), 'facefuse-live-camera-'));
const CLIP = join(scratch, 'talking_head.y4m');
let browser;
const consoleErrors = [];

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['camera'], { origin: server.url });
  const page = await context.newPage();
  collectErrors(page, consoleErrors);
  await page.goto(server.url + '/');
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

// [naturalWidth, naturalHeight] of the live picture once a frame `width` pixels wide has decoded. The
// page replaces the picture's src at every frame, and until the new one has decoded its natural size
// is 0: the size is read in the same poll that sees the width (a separate read could see 0 × 0).
async function decodedLiveSize(page, width) {
  const handle = await page.waitForFunction((w) => {
    const img = document.getElementById('live-output');
    return img.naturalWidth === w ? [img.naturalWidth, img.naturalHeight] : false;
  }, width, { timeout: 120000 });
  return handle.jsonValue();
}

async function chooseSource(page, file) {
  await page.setInputFiles('#source-file', file);
  await page.waitForFunction(() => /^Uploaded/.test(document.getElementById('source-state').textContent), null,
                             { timeout: 60000 });
}

before(async () => {
  // Chromium's fake camera plays a raw .y4m in a loop.
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', VIDEO, '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', CLIP]);
  await server.start();
  browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
                                   `--use-file-for-fake-video-capture=${CLIP}`]);
});

after(async () => {
  await browser?.close();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('live mode', () => {
  test('the fake camera streams through the server and comes back swapped, with fps and latency shown', async () => {
    const page = await newPage();
    await page.click('#tab-live');
    assert.equal(await page.locator('#live-panel').isVisible(), true);
    assert.equal(await page.locator('#studio-panel').isVisible(), false);
    assert.equal(await page.locator('#live-start').isDisabled(), true, 'no source photo yet');
    await page.click('#tab-studio');
    await chooseSource(page, SOURCE);
    await page.click('#tab-live');
    await page.waitForFunction(() => !document.getElementById('live-start').disabled);
    const [socket] = await Promise.all([page.waitForEvent('websocket'), page.click('#live-start')]);
    assert.match(socket.url(), /\/api\/v1\/live$/);
    // 40 swapped frames: past the engine's warm-up, enough for a steady fps figure.
    await page.waitForFunction(() => Number(document.getElementById('live-stats').dataset.shown ?? 0) >= 40, null,
                               { timeout: 120000 });
    const stats = await page.locator('#live-stats').evaluate((el) => ({ ...el.dataset, text: el.textContent }));
    const fps = Number(stats.fps);
    const latency = Number(stats.latency);
    console.log(`live mode in Chromium (fake camera 640x480, talking head): ${fps.toFixed(1)} fps, ` +
                `latency ${latency} ms — ${stats.text}`);
    assert.ok(fps > 0, stats.text);
    assert.ok(latency > 0, stats.text);
    assert.match(stats.text, /\b1 of 1 face swapped/, 'the camera face is found and swapped');
    assert.equal(await page.locator('#live-warning').textContent(), '', 'nothing limits this source');
    assert.deepEqual(await decodedLiveSize(page, 640), [640, 480]);
    await page.screenshot({ path: join(SHOTS, 'live-1-streaming.png'), fullPage: true });

    // Stop releases the camera and the socket.
    await page.click('#live-stop');
    await page.waitForFunction(() => !document.getElementById('live-start').hidden);
    assert.equal(await page.locator('#live-camera').evaluate((v) => v.srcObject), null);
    if (!socket.isClosed()) await socket.waitForEvent('close', { timeout: 5000 });
    // The camera resolution choice (FaceFusion's webcam resolution): 320×240 frames go and come back.
    assert.equal(await page.locator('#live-size').isDisabled(), false);
    await page.selectOption('#live-size', '320x240');
    await page.click('#live-start');
    assert.equal(await page.locator('#live-size').isDisabled(), true, 'fixed while the camera runs');
    assert.deepEqual(await decodedLiveSize(page, 320), [320, 240]);
    await page.screenshot({ path: join(SHOTS, 'live-1b-320x240.png'), fullPage: true });
    await page.click('#live-stop');
    await page.waitForFunction(() => !document.getElementById('live-start').hidden);
    // The camera fps cap (FaceFusion's webcam fps): at 2 fps the page sends and shows at most 2
    // frames a second although the server keeps up with more at 320×240 (the uncapped run above;
    // 640×480 ran at 4.8 fps on a machine at load 13, docs/benchmarks.md).
    const uncapped = Number(await page.locator('#live-stats').getAttribute('data-fps'));
    assert.equal(await page.locator('#live-fps').inputValue(), '30', 'default: 30');
    await page.selectOption('#live-fps', '2');
    await page.click('#live-start');
    assert.equal(await page.locator('#live-fps').isDisabled(), true, 'fixed while the camera runs');
    await page.waitForFunction(() => Number(document.getElementById('live-stats').dataset.shown ?? 0) >= 3, null,
                               { timeout: 120000 });
    const t0 = Date.now();
    const sent0 = Number(await page.locator('#live-stats').getAttribute('data-sent'));
    await page.waitForFunction(() => Number(document.getElementById('live-stats').dataset.shown ?? 0) >= 11, null,
                               { timeout: 120000 });
    const seconds = (Date.now() - t0) / 1000;
    const sentDelta = Number(await page.locator('#live-stats').getAttribute('data-sent')) - sent0;
    const sentRate = sentDelta / seconds;
    const capped = Number(await page.locator('#live-stats').getAttribute('data-fps'));
    console.log(`live mode capped at 2 fps: ${capped.toFixed(2)} fps shown, ${sentRate.toFixed(2)} frames/s sent ` +
                `(uncapped at 320x240: ${uncapped.toFixed(1)} fps)`);
    // The shown rate is timed by capture (live.ts): at least 7 intervals span at least 6.5 of the
    // cap's, whatever bursts a loaded server answers in (arrival times read 3.25 fps in one CI run).
    assert.ok(capped > 0 && capped <= 2 * 1.1, `shown ${capped} fps with a cap of 2`);
    // n captures span at least (n - 1.5) intervals (a late one is followed half an interval later,
    // then the schedule), so a window of T s holds at most 2T + 1.5 of them.
    assert.ok(sentDelta <= 2 * seconds + 1.5, `sent ${sentDelta} frames in ${seconds} s with a cap of 2`);
    await page.screenshot({ path: join(SHOTS, 'live-1c-2fps.png'), fullPage: true });
    await page.click('#live-stop');
    await page.waitForFunction(() => !document.getElementById('live-start').hidden);
    // Going back to the studio tab keeps the studio as it was.
    await page.click('#tab-studio');
    assert.match(await page.locator('#source-state').textContent(), /astronaut\.png/);
    await page.context().close();
  });

  test('a small source face: the camera runs and the page says why the result will be soft', async () => {
    const page = await newPage();
    await chooseSource(page, SMALL_FACE);
    await page.click('#tab-live');
    await page.waitForFunction(() => !document.getElementById('live-start').disabled);
    await page.click('#live-start');
    const warning = page.locator('#live-warning');
    await warning.filter({ hasText: 'People-Jim.jpg' }).waitFor({ timeout: 60000 });
    assert.equal(await warning.getAttribute('role'), 'alert');
    assert.match(await warning.textContent(), /is small \(52 px\)/);
    assert.doesNotMatch(await warning.textContent(), /live_|\/tmp\//, 'no server file name');
    await page.waitForFunction(() => Number(document.getElementById('live-stats').dataset.shown ?? 0) >= 3, null,
                               { timeout: 120000 });
    await page.screenshot({ path: join(SHOTS, 'live-3-small-source-warning.png'), fullPage: true });
    await page.click('#live-stop');
    await page.context().close();
  });

  test('a source without a face: live mode stops with a message naming the photo', async () => {
    const page = await newPage();
    await chooseSource(page, NO_FACE);
    await page.click('#tab-live');
    await page.waitForFunction(() => !document.getElementById('live-start').disabled);
    await page.click('#live-start');
    const error = page.locator('#live-error');
    await error.filter({ hasText: 'dogs.jpg' }).waitFor({ timeout: 60000 });
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.match(await error.textContent(), /face/);
    assert.doesNotMatch(await error.textContent(), /\/tmp\/|\/live\//, 'no server path');
    assert.equal(await page.locator('#live-start').isVisible(), true, 'the page can start again');
    await page.screenshot({ path: join(SHOTS, 'live-2-no-face-source.png'), fullPage: true });
    await page.context().close();
  });

  test('no console errors', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
