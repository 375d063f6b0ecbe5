#!/usr/bin/python3
"""Check the ONNX age/gender classifier made by tools/convert_face_api_age_gender.py against
face-api's own AgeGenderNet, preprocessing included.

/usr/bin/python3 tests/tools/test_age_gender_converter.py --package DIR --model PATH.onnx

DIR is the extracted npm package @vladmandic/face-api@1.7.15. The ONNX model is evaluated by
the numpy interpreter of test_recognizer_converter.py (extended here with grouped convolutions,
padded max-pooling and softmax); the reference is face-api's tfjs code run by
face_api_age_gender_reference.mjs. Neither shares code with the converter.

Inputs: every annotated face of dlib's example photos, cropped as face-api crops a face with 68
landmarks (the landmarks' bounding box grown by 10 % of its size on each side, clipped to the
image, floored; non-square), plus one uniform-noise crop. face-api gets the raw crops and does
its own pad-to-square + resizeBilinear; this script re-implements that preprocessing in numpy
(face_api_input below; src/facefuse/face/age_gender_classifier.cpp does the same in C++) and
feeds the ONNX model, so the check covers the preprocessing recipe too.
Asserts: the model contract, |age diff| < AGE_TOL years and |P(male) diff| < PROB_TOL per face.
Exits 0 on pass.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import numpy as np
import onnx

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_recognizer_converter as rc  # noqa: E402  (numpy ONNX interpreter, image decoding)

DLIB_FACES = "/usr/share/doc/libdlib19.1/examples/faces"
SIZE = 112
# Measured: ~1e-5 years and ~1e-6 in probability (float64 numpy vs tfjs float32). A wrong
# divisor (256 instead of 255) moves ages by ~0.05 years, a wrong 'same' padding by years.
AGE_TOL = 1e-3
PROB_TOL = 1e-4


# ---------------------------------------------------------------- extra ops for the interpreter
def _conv_grouped(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), group=1, **attrs):
    if group == 1:
        return rc._conv(x, w, b, strides=strides, pads=pads, **attrs)
    assert group == x.shape[1] == w.shape[0] and w.shape[1] == 1, "only depthwise groups"
    win = rc._windows(x, w.shape[2:], strides, pads)  # [N, C, OH, OW, kh, kw]
    y = np.einsum("nchwij,cij->nchw", win, w[:, 0])
    return y + b.reshape(1, -1, 1, 1) if b is not None else y


def _max_pool(x, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=0, **_):
    assert not ceil_mode
    return np.max(rc._windows(x, kernel_shape, strides, pads, pad_value=-np.inf), axis=(4, 5))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


rc.OPS.update({"Conv": _conv_grouped, "MaxPool": _max_pool, "Softmax": _softmax,
               "Flatten": lambda x, axis=1: x.reshape(int(np.prod(x.shape[:axis])), -1),
               "Identity": lambda x: x})


# ---------------------------------------------------------------- face-api's preprocessing
def face_api_box(landmarks, width, height):
    """alignedRect of face-api (FaceLandmarks.alignMinBbox(0.2)) as extractFaceTensors slices it:
    min/max of the 68 points, grown by 0.2 x size (half on each side), clipAtImageBorders, floor.
    Returns (x, y, w, h) in integer pixels."""
    xs, ys = landmarks[:, 0], landmarks[:, 1]
    x0, y0 = xs.min(), ys.min()
    bw, bh = xs.max() - x0, ys.max() - y0
    x, y, w, h = x0 - 0.1 * bw, y0 - 0.1 * bh, bw * 1.2, bh * 1.2
    cx, cy = max(x, 0.0), max(y, 0.0)
    cw, ch = min(x + w - cx, width - cx), min(y + h - cy, height - cy)
    return tuple(int(np.floor(v)) for v in (cx, cy, cw, ch))


def face_api_input(crop):
    """padToSquare(centred) + tf.image.resizeBilinear(112, alignCorners=false,
    halfPixelCenters=false) of an H x W x 3 float crop, as NetInput.toBatchTensor does it.
    padToSquare appends round(diff / 2) zero rows/columns after the image and the rest before."""
    h, w = crop.shape[:2]
    if h != w:
        diff = abs(h - w)
        after = int(np.floor(diff * 0.5 + 0.5))  # JS Math.round
        before = diff - after
        pad = ((before, after), (0, 0)) if w > h else ((0, 0), (before, after))
        crop = np.pad(crop, pad + ((0, 0),))
    n = crop.shape[0]
    if n == SIZE:
        return crop.astype(np.float64)
    src = np.arange(SIZE) * (n / SIZE)  # legacy TF: no half-pixel offsets
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    f = src - i0
    c = crop.astype(np.float64)
    rows = c[i0] * (1 - f)[:, None, None] + c[i1] * f[:, None, None]
    return rows[:, i0] * (1 - f)[None, :, None] + rows[:, i1] * f[None, :, None]


def build_crops():
    crops, labels = [], []
    for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        path = os.path.join(DLIB_FACES, xml)
        if not os.path.exists(path):
            continue
        for image in ET.parse(path).getroot().iter("image"):
            img = rc.read_image(os.path.join(DLIB_FACES, image.get("file")))
            for i, box in enumerate(image.iter("box")):
                pts = np.array([[float(p.get("x")), float(p.get("y"))] for p in box.iter("part")])
                if len(pts) != 68:
                    continue
                x, y, w, h = face_api_box(pts, img.shape[1], img.shape[0])
                crops.append(img[y:y + h, x:x + w].astype(np.float32))
                labels.append(f"{image.get('file')}#{i} {w}x{h}")
    if len(crops) < 20:
        sys.exit(f"FAIL: only {len(crops)} annotated faces found (need libdlib19.1 doc examples)")
    rng = np.random.default_rng(1234)
    crops.append(rng.integers(0, 256, (97, 64, 3)).astype(np.float32))
    labels.append("uniform-noise 64x97")
    return crops, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", required=True, help="extracted @vladmandic/face-api package")
    ap.add_argument("--model", required=True, help="ONNX model to check")
    args = ap.parse_args()
    start = time.monotonic()

    model = onnx.load(args.model)
    rc.check_contract(model, SIZE, (("age", [1, 1]), ("gender", [1, 2])))
    crops, labels = build_crops()

    t0 = time.monotonic()
    ours = []
    for c in crops:
        out = rc.run_onnx(model, {"image": face_api_input(c)[None]})
        ours.append([out["age"][0, 0], out["gender"][0, 0], out["gender"][0, 1]])
    ours = np.array(ours)
    t_onnx = time.monotonic() - t0

    with tempfile.TemporaryDirectory() as tmp:
        crops_path, sizes_path = os.path.join(tmp, "crops.f32"), os.path.join(tmp, "sizes.json")
        ref_path = os.path.join(tmp, "ref.f32")
        with open(crops_path, "wb") as f:
            for c in crops:
                f.write(c.astype("<f4").tobytes())
        with open(sizes_path, "w") as f:
            json.dump([list(c.shape[:2]) for c in crops], f)
        t_ref = rc.run_reference("face_api_age_gender_reference.mjs", "--package", args.package, "--input",
                                 crops_path, "--sizes", sizes_path, "--output", ref_path)
        ref = np.fromfile(ref_path, "<f4").reshape(-1, 3).astype(np.float64)

    assert ref.shape == ours.shape, f"reference gave {ref.shape}, model {ours.shape}"
    assert np.all(np.isfinite(ours)), "non-finite output"
    age_diff, prob_diff = np.abs(ours[:, 0] - ref[:, 0]), np.abs(ours[:, 1] - ref[:, 1])
    for label, o, a, p in zip(labels, ours, age_diff, prob_diff):
        print(f"  {label:28s} age {o[0]:5.1f}  P(male) {o[1]:.3f}  |diff| age {a:.1e} p {p:.1e}")
    failures = []
    if age_diff.max() >= AGE_TOL:
        failures.append(f"max|age diff| {age_diff.max():.3e} >= {AGE_TOL}")
    if prob_diff.max() >= PROB_TOL:
        failures.append(f"max|P(male) diff| {prob_diff.max():.3e} >= {PROB_TOL}")
    total = time.monotonic() - start
    print(f"{'FAIL' if failures else 'PASS'}: {len(crops)} faces, max|age diff| "
          f"{age_diff.max():.1e} y (tol {AGE_TOL}), max|P(male) diff| {prob_diff.max():.1e} "
          f"(tol {PROB_TOL}), numpy-onnx {t_onnx:.1f}s, face-api {t_ref:.1f}s, total {total:.1f}s"
          + "".join(f"; {f}" for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
