// The router's table against the spec, both ways: every route src/facefuse/server/api_server.cpp
// registers (its add(...) calls, the twins added in loops, and the WebSocket paths) is an operation
// of docs/openapi.yaml, and every operation of the spec is a route of the server (HEAD comes with
// every GET). Ids in patterns ([A-Za-z0-9_]+ or (.*)) and {names} in the spec compare as one.
//
// Run by CTest (api.routes): node tests/contract/routes_test.mjs
import SwaggerParser from '@apidevtools/swagger-parser';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const source = readFileSync(join(repo, 'src', 'facefuse', 'server', 'api_server.cpp'), 'utf8');
const api = await SwaggerParser.validate(join(repo, 'docs', 'openapi.yaml'));

const shape = (path) => path.replace(/\(\[A-Za-z0-9_\]\+\)|\(\.\*\)|\{[^}]+\}/g, '{}');
const server = new Set();
// add("GET", "/api/v1/jobs/([A-Za-z0-9_]+)", "/api/v1/jobs/{job_id}", ...)
for (const m of source.matchAll(/\badd\("([A-Z]+)", "([^"]+)",/g)) server.add(`${m[1]} ${shape(m[2])}`);
// for (const char* p : {"/health", "/healthz"}) add("GET", p, ...)
for (const m of source.matchAll(/for \(const char\* p : \{([^}]*)\}\)\s*\{?\s*add\("([A-Z]+)", p,/g)) {
  for (const p of m[1].matchAll(/"([^"]+)"/g)) server.add(`${m[2]} ${shape(p[1])}`);
}
// The WebSocket upgrades: ws_routes (GET with Upgrade).
const ws = /for \(const char\* p : \{([^}]*)\}\)\s*\{\s*ws_routes/.exec(source);
if (!ws) throw new Error('api_server.cpp: the ws_routes loop was not found (update tests/contract/routes_test.mjs)');
for (const p of ws[1].matchAll(/"([^"]+)"/g)) server.add(`GET ${shape(p[1])}`);

const spec = new Set();
for (const [path, item] of Object.entries(api.paths)) {
  for (const method of ['get', 'post', 'put', 'patch', 'delete']) if (item[method]) spec.add(`${method.toUpperCase()} ${shape(path)}`);
}
const undocumented = [...server].filter((r) => !spec.has(r));
const missing = [...spec].filter((r) => !server.has(r));
if (server.size < 25 || undocumented.length || missing.length) {
  console.error(`routes of api_server.cpp (${server.size}) against docs/openapi.yaml (${spec.size}):\n` +
                `  not in the spec: ${undocumented.join(', ') || 'none'}\n  not on the server: ${missing.join(', ') || 'none'}`);
  process.exit(1);
}
console.log(`${server.size} routes of api_server.cpp = the ${spec.size} operations of docs/openapi.yaml`);
