// Reference age and gender predictions computed by face-api's own AgeGenderNet (tfjs CPU
// backend), independent of tools/convert_face_api_age_gender.py. Used by
// test_age_gender_converter.py.
//
// node face_api_age_gender_reference.mjs --package DIR --input crops.f32 --sizes crops.json
//                                        --output pred.f32
//   DIR      extracted npm package @vladmandic/face-api@1.7.15 ("package/")
//   --input  raw little-endian float32 face crops back to back, each H x W x 3 (HWC, RGB, 0..255)
//   --sizes  JSON list of [H, W], one per crop
//   --output raw little-endian float32, N x 3: age (years), P(male), P(female)
// Each crop goes through face-api's own predictAgeAndGender(tensor3d): padToSquare (centred,
// zeros), tf.image.resizeBilinear to 112 x 112 (unless already 112 x 112), TinyXception, heads.
import fs from 'node:fs';
import path from 'node:path';

import { loadFaceApi, parseArgs } from './face_api_node.mjs';

async function main() {
  const args = parseArgs(process.argv.slice(2), {
    valueArgs: ['--package', '--input', '--sizes', '--output'],
    required: ['package', 'input', 'sizes', 'output'],
  });
  const faceapi = await loadFaceApi(args.package);
  const { tf } = faceapi;

  const net = new faceapi.AgeGenderNet();
  await net.loadFromDisk(path.resolve(args.package, 'model', 'age_gender_model-weights_manifest.json'));

  const sizes = JSON.parse(fs.readFileSync(args.sizes, 'utf8'));
  const raw = fs.readFileSync(args.input);
  const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  const out = new Float32Array(sizes.length * 3);
  let offset = 0;
  for (let i = 0; i < sizes.length; i++) {
    const [h, w] = sizes[i];
    const n = h * w * 3;
    if (offset + n > all.length) throw new Error(`${args.input}: too short for crop ${i}`);
    const input = tf.tensor3d(all.subarray(offset, offset + n), [h, w, 3], 'float32');
    offset += n;
    const p = await net.predictAgeAndGender(input);
    input.dispose();
    const pMale = p.gender === 'male' ? p.genderProbability : 1 - p.genderProbability;
    out.set([p.age, pMale, 1 - pMale], i * 3);
  }
  if (offset !== all.length) throw new Error(`${args.input}: ${all.length - offset} floats left over`);
  fs.writeFileSync(args.output, Buffer.from(out.buffer));
  console.log(`face-api ${faceapi.version} tfjs ${tf.version.tfjs} (${tf.getBackend()}): ` +
              `${sizes.length} prediction(s) -> ${args.output}`);
}

main().catch((e) => {
  console.error(`face_api_age_gender_reference: ${e.stack || e}`);
  process.exit(1);
});
