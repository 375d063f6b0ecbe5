// compat_test.mjs must refuse what it is there to refuse: run on copies of docs/openapi.yaml with a
// response field removed and with a route removed (same major version → exit 1 naming the item),
// then with the field removed under a new major version whose CHANGELOG section names it (exit 0),
// and without that name (exit 1).
//
// Run by CTest (api.compat_selftest): node tests/contract/compat_selftest.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const spec = readFileSync(join(here, '..', '..', 'docs', 'openapi.yaml'), 'utf8');
const version = /^  version: (\S+)$/m.exec(spec)[1];
const work = mkdtempSync(join(tmpdir(), 'facefuse-compat-'));

function run(specText, changelog) {
  writeFileSync(join(work, 'openapi.yaml'), specText);
  writeFileSync(join(work, 'CHANGELOG.md'), changelog);
  try {
    const out = execFileSync(process.execPath, [join(here, 'compat_test.mjs'), '--spec', join(work, 'openapi.yaml'),
                                                '--changelog', join(work, 'CHANGELOG.md')], { encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, out };
  } catch (e) {
    return { code: e.status, out: `${e.stdout}${e.stderr}` };
  }
}

try {
  const notes = `# Changelog\n\n## API ${version}\n\nsame\n`;
  assert.equal(run(spec, notes).code, 0, 'the spec as it is passes');

  // Job.warnings removed, same version: refused, naming the field.
  const noWarnings = spec.replace(/^        warnings:\n(?:          .*\n)+/m, '');
  assert.notEqual(noWarnings, spec, 'the fixture found Job.warnings');
  const refused = run(noWarnings, notes);
  assert.equal(refused.code, 1, refused.out);
  assert.match(refused.out, /schema Job warnings/);

  // A route removed: refused.
  const noCancel = spec.replace(/^  \/api\/v1\/jobs\/\{job_id\}\/cancel:\n(?:    .*\n|      .*\n)+/m, '');
  assert.notEqual(noCancel, spec, 'the fixture found the cancel route');
  const routeGone = run(noCancel, notes);
  assert.equal(routeGone.code, 1, routeGone.out);
  assert.match(routeGone.out, /operation POST \/api\/v1\/jobs\/\{job_id\}\/cancel/);

  // A new major version that names the removal passes; one that does not, fails.
  const next = `${Number(version.split('.')[0]) + 1}.0.0`;
  const bumped = noWarnings.replace(/^  version: \S+$/m, `  version: ${next}`);
  assert.equal(run(bumped, `# Changelog\n\n## API ${next}\n\n- Removed: Job.warnings.\n`).code, 0);
  const silent = run(bumped, `# Changelog\n\n## API ${next}\n\n- Nothing to see.\n`);
  assert.equal(silent.code, 1, silent.out);
  assert.match(silent.out, /does not name/);
  // A version without a CHANGELOG section: refused.
  assert.equal(run(spec, '# Changelog\n').code, 1);
  console.log('compat_test refuses removals without a version note, and accepts them with one');
} finally {
  rmSync(work, { recursive: true, force: true });
}
