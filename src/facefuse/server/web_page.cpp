#include "facefuse/server/web_page.h"

namespace facefuse::server {

const std::string& web_page_html() {
  static const std::string kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>facefuse</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  fieldset { border: 1px solid #ccc; padding: 1rem; margin-bottom: 1rem; }
  label { display: block; margin: .5rem 0; }
  progress { width: 100%; height: 1.2rem; }
  #result img, #result video { max-width: 100%; margin-top: 1rem; }
  #log { font-family: monospace; font-size: .85rem; white-space: pre-wrap; background: #f6f6f6; padding: .5rem; max-height: 12rem; overflow: auto; }
</style>
</head>
<body>
<h1>facefuse</h1>
<p>Swap the face of a source photo into a target photo or video. The API is documented in
<code>docs/openapi.yaml</code>; this page uses it: <code>POST /api/v1/upload</code>,
<code>POST /api/v1/jobs</code>, <code>WS /ws/job/{id}/progress</code>.</p>
<form id="form">
  <fieldset>
    <label>Source face (image) <input type="file" id="source" accept="image/*" required></label>
    <label>Target (image or video) <input type="file" id="target" accept="image/*,video/*" required></label>
    <label>API key (not needed when the server runs with --no-auth) <input type="password" id="key" size="60"></label>
    <button type="submit">Swap</button>
  </fieldset>
</form>
<progress id="bar" max="1" value="0"></progress>
<p id="state">idle</p>
<div id="result"></div>
<div id="log"></div>
<script>
const $ = (id) => document.getElementById(id);
const log = (line) => { $('log').textContent += line + '\n'; };
function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = $('key').value.trim();
  if (key) h['Authorization'] = 'Bearer ' + key;
  return h;
}
async function call(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}
async function upload(file) {
  const form = new FormData();
  form.append('file', file);
  return call('/api/v1/upload', { method: 'POST', body: form, headers: headers() });
}
function showResult(job) {
  const key = $('key').value.trim();
  const url = job.output_url + (key ? '?api_key=' + encodeURIComponent(key) : '');
  const isVideo = /\.(mp4|mkv|mov|webm)$/.test(job.output_url);
  $('result').innerHTML = isVideo ? `<video controls src="${url}"></video>` : `<img src="${url}" alt="result">`;
  $('result').insertAdjacentHTML('beforeend', `<p><a href="${url}" download>download</a></p>`);
}
function watch(jobId) {
  const key = $('key').value.trim();
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/ws/job/${jobId}/progress?since=0` + (key ? '&api_key=' + encodeURIComponent(key) : ''));
  ws.onmessage = (message) => {
    const e = JSON.parse(message.data);
    $('bar').value = e.progress || 0;
    const eta = e.eta_seconds != null ? `, ETA ${e.eta_seconds.toFixed(0)} s` : '';
    $('state').textContent = `${e.status} — ${e.step} ${(100 * (e.progress || 0)).toFixed(0)} %${eta}`;
    log(`#${e.seq} ${e.type} ${e.status} ${e.step} ${(100 * (e.progress || 0)).toFixed(1)} %`);
    if (e.status === 'completed') showResult(e);
    if (e.status === 'failed') $('state').textContent = 'failed: ' + (e.error ? e.error.message : '');
  };
  ws.onerror = () => log('websocket error');
}
$('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('result').innerHTML = '';
  $('log').textContent = '';
  try {
    $('state').textContent = 'uploading…';
    const source = await upload($('source').files[0]);
    const target = await upload($('target').files[0]);
    const job = await call('/api/v1/jobs', {
      method: 'POST', headers: headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({ source: { upload_id: source.id }, target: { upload_id: target.id } }),
    });
    log(`job ${job.job_id} ${job.status}${job.cached ? ' (cached)' : ''}`);
    if (job.status === 'completed') { $('bar').value = 1; $('state').textContent = 'completed'; showResult(job); }
    else watch(job.job_id);
  } catch (error) {
    $('state').textContent = 'error: ' + error.message;
  }
});
</script>
</body>
</html>
)html";
  return kPage;
}

}  // namespace facefuse::server
