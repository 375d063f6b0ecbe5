// What both face-api reference scripts (face_api_reference.mjs, face_api_age_gender_reference.mjs)
// need: their command line and face-api itself, loaded from the extracted npm package with tfjs on
// its CPU backend.
import fs from 'node:fs';
import path from 'node:path';

// `--name value` pairs for the names in `valueArgs`, `--flag` for those in `flags` (true when
// given); throws on anything else and when a name of `required` is missing. Keys drop the "--".
export function parseArgs(argv, { valueArgs, required, flags = [] }) {
  const out = {};
  for (const f of flags) out[f.slice(2)] = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (flags.includes(a)) out[a.slice(2)] = true;
    else if (valueArgs.includes(a) && i + 1 < argv.length) out[a.slice(2)] = argv[++i];
    else throw new Error(`unknown or incomplete argument: ${a}`);
  }
  for (const k of required) {
    if (!out[k]) throw new Error(`--${k} is required`);
  }
  return out;
}

// face-api's ESM bundle from `packageDir` (the npm package's "package/"), tfjs ready on the CPU.
export async function loadFaceApi(packageDir) {
  // The ESM bundle (tfjs 4.22 + face-api) sees Node and then expects require('util') for its
  // TextEncoder, which an ESM bundle cannot provide. Declaring a worker scope makes tfjs pick its
  // browser platform instead (fetch/TextEncoder/performance exist as Node globals). face-api's
  // own environment still detects Node; it only lacks fs (no require in ESM), patched below.
  globalThis.WorkerGlobalScope ??= class {};
  const faceapi = await import(path.resolve(packageDir, 'dist', 'face-api.esm.js'));
  if (!(await faceapi.tf.setBackend('cpu'))) throw new Error('tfjs cpu backend unavailable');
  await faceapi.tf.ready();
  faceapi.env.monkeyPatch({ readFile: (p) => fs.promises.readFile(p) });
  return faceapi;
}
