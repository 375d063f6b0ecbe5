#!/usr/bin/python3
"""Convert dlib's ResNet face descriptor (as shipped by npm @vladmandic/face-api) to ONNX.

Source: @vladmandic/face-api@1.7.15 (MIT), model/face_recognition_model-weights_manifest.json
plus model/face_recognition_model.bin. These are dlib's dlib_face_recognition_resnet_model_v1
weights re-packed as tfjs files: 117 tensors, 5,614,592 parameters, mostly uint8-quantised per
tensor (value = q * scale + min, computed in double and rounded to float32 exactly like tfjs'
io.decodeWeights); the eight conv64_* filters are raw float32.

The graph follows face-api's src/faceRecognitionNet/*.ts layer for layer (that code, not dlib's
C++ templates, defines how these re-packed tensors are meant to be wired).

Contract of the produced model (the C++ side relies on it exactly):
  input  "image"      float32 [1,150,150,3]  NHWC, RGB, raw pixel values 0..255
                      (dlib's 150x150 face chip, padding 0.25)
  output "descriptor" float32 [1,128]        NOT L2-normalised; dlib: same person if
                                             euclidean distance < 0.6
The model itself does (x - mean_rgb) / 256 and NHWC -> NCHW.

Usage: /usr/bin/python3 tools/convert_face_api_recognizer.py --manifest M.json --output out.onnx
Needs only numpy and onnx (Debian python3-numpy, python3-onnx).
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EXPECTED_PACKAGE = "@vladmandic/face-api"
EXPECTED_VERSION = "1.7.15"
EXPECTED_LICENSE = "MIT"
EXPECTED_PARAMS = 5_614_592
OPSET = 13

INPUT_SIZE = 150
# dlib's input_rgb_image_sized<150>: (pixel - mean) / 256. face-api itself divides by 255
# (FaceRecognitionNet.ts, ".div(255)"); we keep dlib's 256 because the weights were trained with
# it. The two differ by 0.4 % in input scale.
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_DIVISOR = 256.0

# (name, in_channels, out_channels, downsampling) in face-api's forward order.
BLOCKS = [
    ("conv32_1", 32, 32, False), ("conv32_2", 32, 32, False), ("conv32_3", 32, 32, False),
    ("conv64_down", 32, 64, True), ("conv64_1", 64, 64, False), ("conv64_2", 64, 64, False),
    ("conv64_3", 64, 64, False),
    ("conv128_down", 64, 128, True), ("conv128_1", 128, 128, False),
    ("conv128_2", 128, 128, False),
    ("conv256_down", 128, 256, True), ("conv256_1", 256, 256, False),
    ("conv256_2", 256, 256, False),
    ("conv256_down_out", 256, 256, True),
]
DESCRIPTOR_SIZE = 128


class ConversionError(Exception):
    pass


def expected_shapes():
    """Tensor name -> shape (tfjs layouts: conv filters HWIO, fc [in, out])."""
    shapes = {}

    def conv_layer(prefix, k, cin, cout):
        shapes[f"{prefix}/conv/filters"] = [k, k, cin, cout]
        shapes[f"{prefix}/conv/bias"] = [cout]
        shapes[f"{prefix}/scale/weights"] = [cout]
        shapes[f"{prefix}/scale/biases"] = [cout]

    conv_layer("conv32_down", 7, 3, 32)
    for name, cin, cout, _ in BLOCKS:
        conv_layer(f"{name}/conv1", 3, cin, cout)
        conv_layer(f"{name}/conv2", 3, cout, cout)
    shapes["fc"] = [256, DESCRIPTOR_SIZE]
    return shapes


def load_weights(manifest_path):
    """Read a tfjs weights manifest and its shards.
    Returns ({name: float32 ndarray}, sha256 of the shards, count of unused shard bytes)."""
    try:
        with open(manifest_path, "r", encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise ConversionError(f"cannot read manifest {manifest_path}: {e}")
    if not isinstance(manifest, list):
        raise ConversionError("manifest must be a JSON list of weight groups")

    base = os.path.dirname(os.path.abspath(manifest_path))
    tensors, sha, unused = {}, hashlib.sha256(), 0
    for group in manifest:
        # tfjs concatenates all shards of a group into one buffer; tensors follow back to back.
        try:
            paths, specs = group["paths"], group["weights"]
        except (TypeError, KeyError):
            raise ConversionError("each manifest group needs 'paths' and 'weights'")
        chunks = []
        for p in paths:
            try:
                with open(os.path.join(base, p), "rb") as f:
                    chunks.append(f.read())
            except OSError as e:
                raise ConversionError(f"cannot read weight shard {p}: {e}")
        data = b"".join(chunks)
        sha.update(data)
        offset = 0
        for spec in specs:
            name, shape = spec.get("name"), spec.get("shape")
            if not isinstance(name, str) or not isinstance(shape, list):
                raise ConversionError(f"bad weight entry {spec!r}")
            count = int(np.prod(shape, dtype=np.int64))
            quant = spec.get("quantization")
            if quant:
                qdtype = {"uint8": "<u1", "uint16": "<u2"}.get(quant.get("dtype"))
                if qdtype is None or spec.get("dtype") != "float32":
                    raise ConversionError(f"{name}: unsupported quantisation {quant}")
                nbytes = count * np.dtype(qdtype).itemsize
                if offset + nbytes > len(data):
                    raise ConversionError(f"{name}: weight shards too short")
                q = np.frombuffer(data, qdtype, count, offset).astype(np.float64)
                values = (q * float(quant["scale"]) + float(quant["min"])).astype(np.float32)
            elif spec.get("dtype") == "float32":
                nbytes = count * 4
                if offset + nbytes > len(data):
                    raise ConversionError(f"{name}: weight shards too short")
                values = np.frombuffer(data, "<f4", count, offset).astype(np.float32)
            else:
                raise ConversionError(f"{name}: unsupported dtype {spec.get('dtype')}")
            if name in tensors:
                raise ConversionError(f"duplicate tensor {name}")
            tensors[name] = values.reshape(shape)
            offset += nbytes
        unused += len(data) - offset
    return tensors, sha.hexdigest(), unused


def validate(tensors):
    check_tensors(tensors, expected_shapes(), EXPECTED_PARAMS)


def check_tensors(tensors, shapes, expected_params):
    """The loaded tensors are exactly `shapes` (name -> shape), `expected_params` values in all, all
    finite; ConversionError saying what differs otherwise. Shared with the age/gender converter."""
    missing = sorted(set(shapes) - set(tensors))
    extra = sorted(set(tensors) - set(shapes))
    if missing:
        raise ConversionError(f"manifest lacks {len(missing)} tensor(s), e.g. {missing[:5]}")
    if extra:
        raise ConversionError(f"manifest has unexpected tensor(s): {extra[:5]}")
    for name, shape in shapes.items():
        if list(tensors[name].shape) != shape:
            raise ConversionError(f"{name}: shape {list(tensors[name].shape)}, expected {shape}")
    total = sum(t.size for t in tensors.values())
    if total != expected_params:
        raise ConversionError(f"{total} parameters, expected {expected_params}")
    for name, t in tensors.items():
        if not np.all(np.isfinite(t)):
            raise ConversionError(f"{name}: non-finite values")


def tfjs_valid_out(size, k, stride):
    """Output size of a tfjs 'valid' conv/pool: ceil((size - k + 1) / stride).
    ONNX with zero pads gives floor((size - k) / stride) + 1, which is the same number."""
    return -(-(size - k + 1) // stride)


class Graph:
    def __init__(self, weights):
        self.w = weights
        self.nodes, self.inits = [], []

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def conv_layer(self, x, prefix, k, stride, same, relu):
        """face-api convLayer: conv2d + bias, then scale layer (x * weights + biases), optional
        ReLU. The per-channel scale is folded into the conv (W * s, bias * s + b) in double
        precision; mathematically identical. Filters go HWIO (tfjs) -> OIHW (ONNX).
        'same' here is only ever k=3, stride 1: one zero pixel on every side. 'valid': no pad."""
        w = self.w
        filt = w[f"{prefix}/conv/filters"].astype(np.float64)
        s = w[f"{prefix}/scale/weights"].astype(np.float64)
        bias = w[f"{prefix}/conv/bias"] * s + w[f"{prefix}/scale/biases"]
        oihw = filt.transpose(3, 2, 0, 1) * s[:, None, None, None]
        assert not same or (k == 3 and stride == 1)
        p = (k - 1) // 2 if same else 0
        out = self.op("Conv", [x, self.const(f"{prefix}/W", oihw.astype(np.float32)),
                               self.const(f"{prefix}/B", bias.astype(np.float32))],
                      f"{prefix}/conv", kernel_shape=[k, k], strides=[stride, stride],
                      pads=[p, p, p, p])
        return self.op("Relu", [out], f"{prefix}/relu") if relu else out

    def residual(self, x, name):
        out = self.conv_layer(x, f"{name}/conv1", 3, 1, True, True)
        out = self.conv_layer(out, f"{name}/conv2", 3, 1, True, False)
        out = self.op("Add", [out, x], f"{name}/add")
        return self.op("Relu", [out], f"{name}/out")

    def residual_down(self, x, name, size, cin, cout):
        """face-api residualDown. Main path: 3x3 stride-2 'valid' conv (+scale, ReLU), then 3x3
        'same' conv (+scale). Shortcut: 2x2 stride-2 'valid' average pool of the input.
        If the spatial sizes differ (ceil((n-2)/2) vs ceil((n-1)/2), i.e. n even), face-api
        appends ONE zero row at the bottom and ONE zero column at the right of the main path
        (after the scale layer, so truly zero). If channels differ, the pooled shortcut is
        followed by zero channels (concat with zeros of its own shape, so cout == 2 * cin).
        Returns (tensor, new spatial size)."""
        out = self.conv_layer(x, f"{name}/conv1", 3, 2, False, True)
        out = self.conv_layer(out, f"{name}/conv2", 3, 1, True, False)
        conv_size, pool_size = tfjs_valid_out(size, 3, 2), tfjs_valid_out(size, 2, 2)
        # NCHW pads: [begin N, C, H, W, end N, C, H, W]
        if conv_size != pool_size:
            if pool_size - conv_size != 1:
                raise ConversionError(f"{name}: unsupported size mismatch {conv_size}/{pool_size}")
            pads = self.const(f"{name}/pad_hw/pads",
                              np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))
            out = self.op("Pad", [out, pads], f"{name}/pad_hw")
        pooled = self.op("AveragePool", [x], f"{name}/avgpool", kernel_shape=[2, 2],
                         strides=[2, 2], pads=[0, 0, 0, 0])
        if cin != cout:
            if cout != 2 * cin:
                raise ConversionError(f"{name}: cannot zero-pad {cin} to {cout} channels")
            pads = self.const(f"{name}/pad_c/pads",
                              np.array([0, 0, 0, 0, 0, cin, 0, 0], np.int64))
            pooled = self.op("Pad", [pooled, pads], f"{name}/pad_c")
        out = self.op("Add", [pooled, out], f"{name}/add")
        return self.op("Relu", [out], f"{name}/out"), pool_size


def build_model(w, bin_sha256, pkg):
    g = Graph(w)
    # Preprocessing on NHWC input, then NHWC -> NCHW for the ONNX Conv ops.
    mean = g.const("mean_rgb", np.array(MEAN_RGB, np.float32).reshape(1, 1, 1, 3))
    div = g.const("input_divisor", np.array(INPUT_DIVISOR, np.float32))
    x = g.op("Sub", ["image", mean], "sub_mean")
    x = g.op("Div", [x, div], "normalize")
    x = g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])

    # Stem: 7x7 stride-2 'valid' conv (150 -> 72), scale, ReLU;
    # 3x3 stride-2 'valid' max-pool (72 -> 35).
    x = g.conv_layer(x, "conv32_down", 7, 2, False, True)
    size = tfjs_valid_out(INPUT_SIZE, 7, 2)
    x = g.op("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0])
    size = tfjs_valid_out(size, 3, 2)

    # Spatial sizes for a 150 input: 35 (32 ch) -> 17 (64) -> 8 (128) -> 4 (256; main path
    # 3, zero-padded to 4) -> 2 (conv256_down_out; main path 1, zero-padded to 2).
    for name, cin, cout, down in BLOCKS:
        if down:
            x, size = g.residual_down(x, name, size, cin, cout)
        else:
            x = g.residual(x, name)

    # Global mean over H, W, then [1,256] x [256,128] (fc is stored [in, out]).
    x = g.op("ReduceMean", [x], "global_mean", axes=[2, 3], keepdims=0)
    g.op("MatMul", [x, g.const("fc", w["fc"])], "descriptor")

    return finish_model(
        g, "dlib_face_descriptor", INPUT_SIZE, [("descriptor", [1, DESCRIPTOR_SIZE])],
        "facefuse/convert_face_api_recognizer.py",
        f"dlib ResNet face descriptor (dlib_face_recognition_resnet_model_v1), converted from the "
        f"npm package {pkg['name']}@{pkg['version']} (licence: {pkg['license']}), files "
        f"model/face_recognition_model-weights_manifest.json + face_recognition_model.bin "
        f"(sha256 {bin_sha256}). Input 'image' float32 [1,150,150,3] NHWC RGB 0..255 (dlib face "
        f"chip); the model subtracts mean {MEAN_RGB} and divides by 256. Output 'descriptor' "
        f"float32 [1,128], not L2-normalised; same person if euclidean distance < 0.6.",
        pkg, bin_sha256, {"distance_threshold": "0.6"})


def finish_model(g, graph_name, input_size, outputs, producer, doc, pkg, bin_sha256, extra_meta):
    """The ONNX model of a face-api converter (this one and convert_face_api_age_gender.py): graph
    `g` with the float32 NHWC input 'image' [1, input_size, input_size, 3] and `outputs` (name,
    shape), at OPSET, with `doc` and the source package's name, version, licence and weights hash
    (+ `extra_meta`) as metadata."""
    graph = helper.make_graph(
        g.nodes, graph_name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, input_size, input_size, 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in outputs],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer)
    model.doc_string = doc
    meta = {"source_package": pkg["name"], "source_version": pkg["version"],
            "source_license": pkg["license"], "weights_sha256": bin_sha256,
            "input_layout": "NHWC RGB float32 0..255", **extra_meta}
    onnx.helper.set_model_props(model, meta)
    return model


def package_info(manifest_path):
    """name/version/license from the npm package.json one level above model/, if present."""
    path = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), "..", "package.json")
    info = {"name": EXPECTED_PACKAGE, "version": EXPECTED_VERSION, "license": EXPECTED_LICENSE}
    try:
        with open(path, "r", encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        print(f"warning: {path} not readable; assuming {EXPECTED_PACKAGE}@{EXPECTED_VERSION}",
              file=sys.stderr)
        return info
    if (found.get("name"), found.get("version")) != (EXPECTED_PACKAGE, EXPECTED_VERSION):
        print(f"warning: package is {found.get('name')}@{found.get('version')}, this converter "
              f"was verified against {EXPECTED_PACKAGE}@{EXPECTED_VERSION}", file=sys.stderr)
    return {k: str(found.get(k, info[k])) for k in info}


def run_conversion(argv, description, manifest_file, validate, build_model, output_dims, expected_params):
    """The command line of a face-api converter (this one and convert_face_api_age_gender.py):
    --manifest MANIFEST_FILE --output FILE; loads and checks the weights, builds the model, checks
    it (onnx.checker, inferred output shapes = `output_dims`, one list per output) and saves it.
    Returns the exit code: 0, or 1 with "error: ..." on stderr."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--manifest", required=True, help=f"{manifest_file} (shards next to it)")
    ap.add_argument("--output", required=True, help="ONNX file to write")
    args = ap.parse_args(argv)
    try:
        weights, sha, unused = load_weights(args.manifest)
        validate(weights)
        if unused:
            raise ConversionError(f"{unused} bytes of the weight shards are not in the manifest")
        model = build_model(weights, sha, package_info(args.manifest))
        onnx.checker.check_model(model)
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        dims = [[d.dim_value for d in o.type.tensor_type.shape.dim] for o in inferred.graph.output]
        if dims != output_dims:
            raise ConversionError(f"internal error: inferred output shapes {dims}")
        onnx.save(model, args.output)
    except (ConversionError, onnx.checker.ValidationError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {len(weights)} tensors, {expected_params} parameters, "
          f"weights sha256 {sha[:16]}...")
    return 0


def main(argv=None):
    return run_conversion(argv, __doc__.split("\n")[0], "face_recognition_model-weights_manifest.json", validate,
                          build_model, [[1, DESCRIPTOR_SIZE]], EXPECTED_PARAMS)


if __name__ == "__main__":
    sys.exit(main())
