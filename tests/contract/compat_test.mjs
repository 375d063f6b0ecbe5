// API compatibility: the surface of docs/openapi.yaml (operations, parameters, statuses, request and
// response fields, component schema fields) compared with the committed snapshot of the last
// released API version (openapi-snapshot.json). Anything the snapshot has that the spec lost fails,
// unless info.version has a higher major version than the snapshot's and CHANGELOG.md's section
// "## API <info.version>" names each removed item (its route or field name). CHANGELOG.md must
// have a section for the current info.version in any case. Additions are listed, not refused.
//
// Run by CTest (api.compat): node tests/contract/compat_test.mjs [--spec FILE] [--changelog FILE]
// At a release: node tests/contract/compat_test.mjs --write-snapshot (commit the file it writes).
import SwaggerParser from '@apidevtools/swagger-parser';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const SNAPSHOT = join(here, 'openapi-snapshot.json');
const option = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const SPEC = option('--spec', join(repo, 'docs', 'openapi.yaml'));
const CHANGELOG = option('--changelog', join(repo, 'CHANGELOG.md'));
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head'];

// Field paths of a (dereferenced) schema: "a", "a.b", "list[].c".
function fields(schema, prefix, out, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 12) return;
  // allOf members are merged; a oneOf/anyOf contributes the fields of every alternative.
  for (const part of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) fields(part, prefix, out, depth + 1);
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    out.add(path);
    fields(sub, path, out, depth + 1);
  }
  if (schema.items) fields(schema.items, `${prefix}[]`, out, depth + 1);
}

export function surface(api) {
  const out = new Set();
  for (const [path, item] of Object.entries(api.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const name = `${method.toUpperCase()} ${path}`;
      out.add(`operation ${name}`);
      for (const p of [...(item.parameters ?? []), ...(op.parameters ?? [])]) out.add(`parameter ${name} ${p.in}:${p.name}`);
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        const f = new Set();
        fields(media.schema, '', f);
        for (const field of f) out.add(`request ${name} ${type} ${field}`);
      }
      for (const [status, response] of Object.entries(op.responses)) {
        out.add(`status ${name} ${status}`);
        for (const header of Object.keys(response.headers ?? {})) out.add(`header ${name} ${status} ${header}`);
        for (const [type, media] of Object.entries(response.content ?? {})) {
          out.add(`content ${name} ${status} ${type}`);
          const f = new Set();
          fields(media.schema, '', f);
          for (const field of f) out.add(`response ${name} ${status} ${field}`);
        }
      }
    }
  }
  for (const [schemaName, schema] of Object.entries(api.components?.schemas ?? {})) {
    const f = new Set();
    fields(schema, '', f);
    for (const field of f) out.add(`schema ${schemaName} ${field}`);
  }
  return [...out].sort();
}

function changelogSection(version) {
  const text = readFileSync(CHANGELOG, 'utf8');
  const heading = new RegExp(`^## API ${version.replace(/\./g, '\\.')}\\b.*$`, 'm');
  const match = heading.exec(text);
  if (!match) return null;
  const rest = text.slice(match.index + match[0].length);
  const next = rest.search(/^## /m);
  return next < 0 ? rest : rest.slice(0, next);
}

const major = (v) => Number(v.split('.')[0]);

const api = await SwaggerParser.validate(SPEC);
const current = surface(api);
const version = api.info.version;

if (process.argv.includes('--write-snapshot')) {
  writeFileSync(SNAPSHOT, JSON.stringify({ version, surface: current }, null, 1) + '\n');
  console.log(`wrote ${SNAPSHOT}: API ${version}, ${current.length} items`);
  process.exit(0);
}

const snapshot = JSON.parse(readFileSync(SNAPSHOT, 'utf8'));
const problems = [];
const section = changelogSection(version);
if (section === null) problems.push(`CHANGELOG.md has no "## API ${version}" section for docs/openapi.yaml info.version`);
const now = new Set(current);
const removed = snapshot.surface.filter((item) => !now.has(item));
const added = current.filter((item) => !snapshot.surface.includes(item));
if (removed.length) {
  if (major(version) <= major(snapshot.version)) {
    problems.push(`${removed.length} item(s) of API ${snapshot.version} are gone but info.version ${version} keeps ` +
                  `major version ${major(snapshot.version)}: removing or renaming needs a new major version ` +
                  `and a note in CHANGELOG.md:\n  ${removed.join('\n  ')}`);
  } else if (section !== null) {
    // Each removed item's last word (a field, parameter, status or route) must be named in the notes.
    const unexplained = removed.filter((item) => !section.includes(item.split(' ').pop().replace(/^.*[.:]/, '')));
    if (unexplained.length) {
      problems.push(`CHANGELOG.md "## API ${version}" does not name these removed items:\n  ${unexplained.join('\n  ')}`);
    }
  }
}
if (problems.length) {
  console.error(`docs/openapi.yaml against ${SNAPSHOT} (API ${snapshot.version}):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`API ${version} keeps all ${snapshot.surface.length} items of API ${snapshot.version}` +
            (added.length ? `; ${added.length} added:\n  ${added.join('\n  ')}` : '; nothing added'));
