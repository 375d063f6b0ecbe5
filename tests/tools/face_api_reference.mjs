// Reference face descriptors computed by face-api's own FaceRecognitionNet (tfjs CPU backend),
// independent of tools/convert_face_api_recognizer.py. Used by test_recognizer_converter.py.
//
// node face_api_reference.mjs --package DIR --input chips.f32 --output desc.f32
//                             [--manifest PATH] [--face-api-divisor]
//   DIR       extracted npm package @vladmandic/face-api@1.7.15 ("package/")
//   --input   raw little-endian float32, N x 150 x 150 x 3 (NHWC, RGB, 0..255)
//   --output  raw little-endian float32, N x 128
//   --manifest  defaults to DIR/model/face_recognition_model-weights_manifest.json
//
// face-api normalises with (x - mean) / 255, dlib (and the converted ONNX model) with / 256.
// By default each chip is remapped to mean + (x - mean) * 255 / 256 before it is handed to
// face-api, so that face-api's own arithmetic computes dlib's (x - mean) / 256.
// --face-api-divisor feeds the chips unchanged (face-api's native behaviour).
import fs from 'node:fs';
import path from 'node:path';

import { loadFaceApi, parseArgs } from './face_api_node.mjs';

const MEAN_RGB = [122.782, 117.001, 104.298];
const SIZE = 150;
const DIM = 128;
async function main() {
  const args = parseArgs(process.argv.slice(2), {
    valueArgs: ['--package', '--input', '--output', '--manifest'],
    required: ['package', 'input', 'output'],
    flags: ['--face-api-divisor'],
  });
  args.manifest ??= path.join(args.package, 'model', 'face_recognition_model-weights_manifest.json');
  const faceapi = await loadFaceApi(args.package);
  const { tf } = faceapi;

  // face-api's loader: tf.io.weightsLoaderFactory does the dequantisation (q * scale + min).
  const net = new faceapi.FaceRecognitionNet();
  await net.loadFromDisk(path.resolve(args.manifest));

  const raw = fs.readFileSync(args.input);
  const chipFloats = SIZE * SIZE * 3;
  if (raw.length === 0 || raw.length % (chipFloats * 4) !== 0) {
    throw new Error(`${args.input}: size ${raw.length} is not a multiple of 150*150*3 float32`);
  }
  const n = raw.length / (chipFloats * 4);
  const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  const out = new Float32Array(n * DIM);
  const k = args['face-api-divisor'] ? 1 : 255 / 256;
  for (let i = 0; i < n; i++) {
    const chip = all.slice(i * chipFloats, (i + 1) * chipFloats);
    for (let j = 0; j < chip.length; j++) {
      const m = MEAN_RGB[j % 3];
      chip[j] = m + (chip[j] - m) * k;
    }
    const input = tf.tensor3d(chip, [SIZE, SIZE, 3], 'float32');
    const desc = await net.computeFaceDescriptor(input);
    input.dispose();
    if (desc.length !== DIM) throw new Error(`descriptor length ${desc.length}`);
    out.set(desc, i * DIM);
  }
  fs.writeFileSync(args.output, Buffer.from(out.buffer));
  console.log(`face-api ${faceapi.version} tfjs ${tf.version.tfjs} (${tf.getBackend()}): ` +
              `${n} descriptor(s) -> ${args.output}`);
}

main().catch((e) => {
  console.error(`face_api_reference: ${e.stack || e}`);
  process.exit(1);
});
