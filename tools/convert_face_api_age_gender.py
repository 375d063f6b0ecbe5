#!/usr/bin/python3
"""Convert face-api's age and gender classifier (npm @vladmandic/face-api) to ONNX.

Source: @vladmandic/face-api@1.7.15 (MIT), model/age_gender_model-weights_manifest.json plus
model/age_gender_model.bin: 51 tensors, 421,731 parameters; filters uint8-quantised per tensor
(value = q * scale + min, the same decoding as tools/convert_face_api_recognizer.py, whose
loader this script reuses), biases raw float32.

The graph follows face-api's src/xception/TinyXception.ts (with 2 main blocks) and
src/ageGenderNet/AgeGenderNet.ts layer for layer:
  conv_in 3x3/2 'same' + ReLU                                    112 -> 56,  32 ch
  reduction_block_0 (input not activated), reduction_block_1     56 -> 28 -> 14, 64, 128 ch
  main_block_0, main_block_1 (3 separable convs each, residual)  14,         128 ch
  exit reduction_block, separable_conv + ReLU                    14 -> 7,    256 -> 512 ch
  average pool 7x7/2 'valid' -> 512 features; fc/age 512x1; fc/gender 512x2 + softmax.
A reduction block: [ReLU] -> sepconv0 -> ReLU -> sepconv1 -> max-pool 3x3/2 'same', plus a
1x1/2 'same' expansion conv of the block input. A separable conv is depthwise 3x3 then
pointwise 1x1 + bias (tf.separableConv2d, 'same'). TensorFlow's 'same' padding puts the odd
extra pixel at the bottom/right, so the stride-2 layers pad (0, 0, 1, 1) explicitly.

Contract of the produced model (the C++ side, src/facefuse/face/age_gender_classifier.*, relies
on it exactly):
  input  "image"   float32 [1,112,112,3]  NHWC, RGB, raw pixel values 0..255: face-api's face
                                          crop, padded to a square and resized to 112
  output "age"     float32 [1,1]          years (a regression, not clamped)
  output "gender"  float32 [1,2]          softmax probabilities [male, female]
The model itself does (x - mean_rgb) / 255 (face-api's own normalisation) and NHWC -> NCHW.

Usage: /usr/bin/python3 tools/convert_face_api_age_gender.py --manifest M.json --output out.onnx
Needs only numpy and onnx (Debian python3-numpy, python3-onnx).
"""

import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_face_api_recognizer import (  # noqa: E402  (the shared tfjs weight loader and checks)
    ConversionError, Graph, check_tensors, finish_model, run_conversion)

EXPECTED_PARAMS = 421_731
INPUT_SIZE = 112
# TinyXception.forwardInput: normalize(batch, meanRgb).div(255).
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_DIVISOR = 255.0
NUM_MAIN_BLOCKS = 2  # AgeGenderNet's default: new TinyXception(2)

# Block names, in and out channels, in forward order.
REDUCTIONS = {"entry_flow/reduction_block_0": (32, 64), "entry_flow/reduction_block_1": (64, 128),
              "exit_flow/reduction_block": (128, 256)}


def expected_shapes():
    """Tensor name -> shape (tfjs layouts: conv filters HWIO, depthwise HWC1, fc [in, out])."""
    shapes = {}

    def sep(prefix, cin, cout):
        shapes[f"{prefix}/depthwise_filter"] = [3, 3, cin, 1]
        shapes[f"{prefix}/pointwise_filter"] = [1, 1, cin, cout]
        shapes[f"{prefix}/bias"] = [cout]

    shapes["entry_flow/conv_in/filters"] = [3, 3, 3, 32]
    shapes["entry_flow/conv_in/bias"] = [32]
    for name, (cin, cout) in REDUCTIONS.items():
        sep(f"{name}/separable_conv0", cin, cout)
        sep(f"{name}/separable_conv1", cout, cout)
        shapes[f"{name}/expansion_conv/filters"] = [1, 1, cin, cout]
        shapes[f"{name}/expansion_conv/bias"] = [cout]
    for i in range(NUM_MAIN_BLOCKS):
        for j in range(3):
            sep(f"middle_flow/main_block_{i}/separable_conv{j}", 128, 128)
    sep("exit_flow/separable_conv", 256, 512)
    shapes["fc/age/weights"] = [512, 1]
    shapes["fc/age/bias"] = [1]
    shapes["fc/gender/weights"] = [512, 2]
    shapes["fc/gender/bias"] = [2]
    return shapes


def validate(tensors):
    check_tensors(tensors, expected_shapes(), EXPECTED_PARAMS)


def same_pads(size, k, stride):
    """TensorFlow 'same' padding as ONNX pads [top, left, bottom, right] for a square input:
    total = max((ceil(size / stride) - 1) * stride + k - size, 0), the smaller half first."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return [total // 2, total // 2, total - total // 2, total - total // 2], out


class XceptionGraph(Graph):
    def conv(self, x, prefix, size, stride):
        """face-api TinyXception conv(): tf.conv2d 'same' + bias. Filters HWIO -> OIHW."""
        filt = self.w[f"{prefix}/filters"]
        k = filt.shape[0]
        pads, out_size = same_pads(size, k, stride)
        out = self.op("Conv", [x, self.const(f"{prefix}/W", filt.transpose(3, 2, 0, 1)),
                               self.const(f"{prefix}/B", self.w[f"{prefix}/bias"])],
                      f"{prefix}/conv", kernel_shape=[k, k], strides=[stride, stride], pads=pads)
        return out, out_size

    def separable(self, x, prefix, size):
        """tf.separableConv2d(x, depthwise, pointwise, [1,1], 'same') + bias: a depthwise 3x3
        (ONNX Conv with group = channels, weights [C,1,3,3]) then a pointwise 1x1 with the bias."""
        dw = self.w[f"{prefix}/depthwise_filter"]  # [3,3,C,1]
        pw = self.w[f"{prefix}/pointwise_filter"]  # [1,1,C,Cout]
        channels = dw.shape[2]
        pads, _ = same_pads(size, 3, 1)
        out = self.op("Conv", [x, self.const(f"{prefix}/DW", dw.transpose(2, 3, 0, 1))],
                      f"{prefix}/depthwise", kernel_shape=[3, 3], strides=[1, 1], pads=pads,
                      group=channels)
        return self.op("Conv", [out, self.const(f"{prefix}/PW", pw.transpose(3, 2, 0, 1)),
                                self.const(f"{prefix}/B", self.w[f"{prefix}/bias"])],
                       f"{prefix}/pointwise", kernel_shape=[1, 1], strides=[1, 1],
                       pads=[0, 0, 0, 0])

    def relu(self, x, name):
        return self.op("Relu", [x], name)

    def reduction_block(self, x, name, size, activate_input):
        out = self.relu(x, f"{name}/relu_in") if activate_input else x
        out = self.separable(out, f"{name}/separable_conv0", size)
        out = self.separable(self.relu(out, f"{name}/relu0"), f"{name}/separable_conv1", size)
        # ONNX MaxPool ignores its pads (as -inf), like TensorFlow's 'same' max-pool.
        pads, out_size = same_pads(size, 3, 2)
        out = self.op("MaxPool", [out], f"{name}/maxpool", kernel_shape=[3, 3], strides=[2, 2],
                      pads=pads)
        expansion, exp_size = self.conv(x, f"{name}/expansion_conv", size, 2)
        if exp_size != out_size:
            raise ConversionError(f"{name}: pooled {out_size} vs expansion {exp_size}")
        return self.op("Add", [out, expansion], f"{name}/add"), out_size

    def main_block(self, x, name, size):
        out = x
        for j in range(3):
            out = self.separable(self.relu(out, f"{name}/relu{j}"), f"{name}/separable_conv{j}",
                                 size)
        return self.op("Add", [out, x], f"{name}/add")

    def fully_connected(self, x, prefix):
        out = self.op("MatMul", [x, self.const(f"{prefix}/W", self.w[f"{prefix}/weights"])],
                      f"{prefix}/matmul")
        return self.op("Add", [out, self.const(f"{prefix}/B", self.w[f"{prefix}/bias"])], prefix)


def build_model(w, bin_sha256, pkg):
    g = XceptionGraph(w)
    mean = g.const("mean_rgb", np.array(MEAN_RGB, np.float32).reshape(1, 1, 1, 3))
    div = g.const("input_divisor", np.array(INPUT_DIVISOR, np.float32))
    x = g.op("Sub", ["image", mean], "sub_mean")
    x = g.op("Div", [x, div], "normalize")
    x = g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])

    x, size = g.conv(x, "entry_flow/conv_in", INPUT_SIZE, 2)
    x = g.relu(x, "entry_flow/conv_in/relu")
    x, size = g.reduction_block(x, "entry_flow/reduction_block_0", size, False)
    x, size = g.reduction_block(x, "entry_flow/reduction_block_1", size, True)
    for i in range(NUM_MAIN_BLOCKS):
        x = g.main_block(x, f"middle_flow/main_block_{i}", size)
    x, size = g.reduction_block(x, "exit_flow/reduction_block", size, True)
    x = g.relu(g.separable(x, "exit_flow/separable_conv", size), "exit_flow/relu")
    if size != 7:
        raise ConversionError(f"internal error: bottleneck is {size}x{size}, expected 7x7")

    # AgeGenderNet.runNet: avgPool 7x7 stride 2 'valid' on 7x7 -> 1x1, as2D -> [1,512].
    x = g.op("AveragePool", [x], "avgpool", kernel_shape=[7, 7], strides=[2, 2],
             pads=[0, 0, 0, 0])
    x = g.op("Flatten", [x], "features", axis=1)
    age = g.fully_connected(x, "fc/age")
    g.op("Identity", [age], "age")
    logits = g.fully_connected(x, "fc/gender")
    g.op("Softmax", [logits], "gender", axis=1)

    return finish_model(
        g, "face_api_age_gender", INPUT_SIZE, [("age", [1, 1]), ("gender", [1, 2])],
        "facefuse/convert_face_api_age_gender.py",
        f"face-api AgeGenderNet (TinyXception, 2 main blocks), converted from the npm package "
        f"{pkg['name']}@{pkg['version']} (licence: {pkg['license']}), files "
        f"model/age_gender_model-weights_manifest.json + age_gender_model.bin (sha256 "
        f"{bin_sha256}). Input 'image' float32 [1,112,112,3] NHWC RGB 0..255 (face crop padded "
        f"to a square, resized); the model subtracts mean {MEAN_RGB} and divides by 255. "
        f"Outputs 'age' float32 [1,1] in years and 'gender' float32 [1,2] softmax [male, female].",
        pkg, bin_sha256, {"gender_order": "male,female"})


def main(argv=None):
    return run_conversion(argv, __doc__.split("\n")[0], "age_gender_model-weights_manifest.json", validate,
                          build_model, [[1, 1], [1, 2]], EXPECTED_PARAMS)


if __name__ == "__main__":
    sys.exit(main())
