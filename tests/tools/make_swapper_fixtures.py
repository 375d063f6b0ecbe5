#!/usr/bin/python3
"""Writes small ONNX models with FaceFusion's swapper/enhancer/mask/recognizer signatures
(CONTRACTS.md) whose outputs are simple known functions of their inputs, for facefuse's tests.
Real weights cannot be fetched on the build machines; these models check the plumbing around
them numerically (alignment, normalisation, EMAP projection, de-normalisation, masks, paste-back).

  make_swapper_fixtures.py --out DIR [--link-models MODELS_DIR]

Every swapper outputs  target + K * d  (NCHW, in the model's own normalised space), where d is a
per-channel [1,3,1,1] vector taken from the source:
  embedding sources: d = source[0, 0:3]          image sources: d = mean over H, W of the source image
simswap_256 de-normalises inside the model (target*std + mean + K*d), as the real model outputs
[0, 1]. Converters (crossface_*): output = input + CONVERTER_OFFSET. Enhancers: output = input +
ENHANCER_OFFSET (codeformer: + CODEFORMER_WEIGHT_GAIN * weight). arcface_w600k_r50: embedding =
mean over H, W of the input (RGB) @ ARCFACE_W + ARCFACE_B. xseg_1: 1 for crop columns x < 128 of
256, else 0. bisenet_resnet_34: class 1 (skin) for rows y < 256 of 512, class 0 elsewhere.
The values the tests need are written to DIR/fixtures.json and DIR/inswapper_emap.f32
(inswapper's real 512x512 last initializer, float32 little-endian, row-major).
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
K = 0.05
CONVERTER_OFFSET = 0.1
ENHANCER_OFFSET = 0.2
CODEFORMER_WEIGHT_GAIN = 0.4


def save(model_graph, path):
    model = helper.make_model(model_graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    tmp = f"{path}.{os.getpid()}.tmp"  # test binaries may generate into the same directory at once
    onnx.save(model, tmp)
    os.replace(tmp, path)


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def swapper(path, size, source_shape, source_is_image, internal_denorm=None, extra_last_initializer=None):
    """target [1,3,S,S], source -> output = target (+ optional in-model de-normalisation) + K * d."""
    nodes = []
    inits = [const("k", np.array(K, np.float32))]
    if source_is_image:
        nodes.append(helper.make_node("ReduceMean", ["source"], ["d"], axes=[2, 3], keepdims=1))
    else:
        inits += [const("starts", np.array([0], np.int64)), const("ends", np.array([3], np.int64)),
                  const("axes", np.array([1], np.int64)), const("shape", np.array([1, 3, 1, 1], np.int64))]
        nodes.append(helper.make_node("Slice", ["source", "starts", "ends", "axes"], ["d3"]))
        nodes.append(helper.make_node("Reshape", ["d3", "shape"], ["d"]))
    nodes.append(helper.make_node("Mul", ["d", "k"], ["kd"]))
    base = "target"
    if internal_denorm is not None:
        mean, std = internal_denorm
        inits += [const("m_std", np.array(std, np.float32).reshape(1, 3, 1, 1)),
                  const("m_mean", np.array(mean, np.float32).reshape(1, 3, 1, 1))]
        nodes.append(helper.make_node("Mul", ["target", "m_std"], ["t_std"]))
        nodes.append(helper.make_node("Add", ["t_std", "m_mean"], ["t01"]))
        base = "t01"
    nodes.append(helper.make_node("Add", [base, "kd"], ["output"]))
    if extra_last_initializer is not None:
        inits.append(extra_last_initializer)  # inswapper: EMAP must be the graph's LAST initializer
    graph = helper.make_graph(
        nodes, os.path.basename(path),
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, source_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])], inits)
    save(graph, path)


def converter(path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["input", "offset"], ["output"])], "crossface",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 512])],
        [const("offset", np.full((1, 512), CONVERTER_OFFSET, np.float32))])
    save(graph, path)


def enhancer(path, size, with_weight):
    nodes = [helper.make_node("Add", ["input", "offset"], ["output" if not with_weight else "brightened"])]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])]
    inits = [const("offset", np.array(ENHANCER_OFFSET, np.float32))]
    if with_weight:
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
        inits.append(const("gain", np.array([CODEFORMER_WEIGHT_GAIN], np.float32)))
        nodes += [helper.make_node("Cast", ["weight"], ["weight_f"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["weight_f", "gain"], ["shift"]),
                  helper.make_node("Add", ["brightened", "shift"], ["output"])]
    graph = helper.make_graph(nodes, "enhancer", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])], inits)
    save(graph, path)


def arcface(path, w, b):
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["pooled"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["pooled", "w"], ["projected"]),
         helper.make_node("Add", ["projected", "b"], ["embedding"])], "arcface",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 512])],
        [const("w", w), const("b", b)])
    save(graph, path)


def xseg(path):
    columns = np.zeros((1, 1, 256, 1), np.float32)
    columns[0, 0, :128, 0] = 1.0  # NHWC: [1, 1(H), 256(W), 1]: visible for x < 128
    graph = helper.make_graph(
        [helper.make_node("Slice", ["input", "s0", "s1", "sa"], ["first"]),
         helper.make_node("Mul", ["first", "zero"], ["zeros"]),
         helper.make_node("Add", ["zeros", "columns"], ["mask"])], "xseg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 256, 256, 3])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 256, 256, 1])],
        [const("s0", np.array([0], np.int64)), const("s1", np.array([1], np.int64)),
         const("sa", np.array([3], np.int64)), const("zero", np.array(0.0, np.float32)), const("columns", columns)])
    save(graph, path)


def bisenet(path):
    rows = np.zeros((1, 1, 512, 1), np.float32)
    rows[0, 0, :256, 0] = 1.0
    skin = np.zeros((1, 19, 1, 1), np.float32)
    skin[0, 1] = 1.0      # class 1 (skin) scores 1 on the top rows, 0 below
    background = np.zeros((1, 19, 1, 1), np.float32)
    background[0, 0] = 0.5  # class 0 scores 0.5 everywhere
    graph = helper.make_graph(
        [helper.make_node("Slice", ["input", "s0", "s1", "sa"], ["first"]),
         helper.make_node("Mul", ["first", "zero"], ["zeros"]),
         helper.make_node("Mul", ["skin", "rows"], ["skin_rows"]),
         helper.make_node("Add", ["skin_rows", "background"], ["scores"]),
         helper.make_node("Add", ["zeros", "scores"], ["output"])], "bisenet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 512, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 19, 512, 512])],
        [const("s0", np.array([0], np.int64)), const("s1", np.array([1], np.int64)),
         const("sa", np.array([1], np.int64)), const("zero", np.array(0.0, np.float32)),
         const("skin", skin), const("rows", rows), const("background", background)])
    save(graph, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--link-models", help="also symlink every file of this models directory into --out")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20240611)

    emap = rng.standard_normal((512, 512)).astype(np.float32)
    emap_init = numpy_helper.from_array(emap, "emap")
    swapper(os.path.join(args.out, "inswapper_128.onnx"), 128, [1, 512], False, extra_last_initializer=emap_init)
    emap_fp16 = numpy_helper.from_array(emap.astype(np.float16), "emap")
    swapper(os.path.join(args.out, "inswapper_128_fp16.onnx"), 128, [1, 512], False, extra_last_initializer=emap_fp16)
    emap_tmp = os.path.join(args.out, f"inswapper_emap.f32.{os.getpid()}.tmp")
    emap.tofile(emap_tmp)
    os.replace(emap_tmp, os.path.join(args.out, "inswapper_emap.f32"))
    swapper(os.path.join(args.out, "hyperswap_1a_256.onnx"), 256, [1, 512], False)
    swapper(os.path.join(args.out, "simswap_256.onnx"), 256, [1, 512], False,
            internal_denorm=([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
    swapper(os.path.join(args.out, "simswap_unofficial_512.onnx"), 512, [1, 512], False)
    swapper(os.path.join(args.out, "ghost_1_256.onnx"), 256, [1, 512], False)
    swapper(os.path.join(args.out, "blendswap_256.onnx"), 256, [1, 3, 112, 112], True)
    swapper(os.path.join(args.out, "uniface_256.onnx"), 256, [1, 3, 256, 256], True)
    converter(os.path.join(args.out, "crossface_simswap.onnx"))
    converter(os.path.join(args.out, "crossface_ghost.onnx"))
    enhancer(os.path.join(args.out, "gfpgan_1.4.onnx"), 512, False)
    enhancer(os.path.join(args.out, "codeformer.onnx"), 512, True)
    enhancer(os.path.join(args.out, "gpen_bfr_256.onnx"), 256, False)
    w = (rng.standard_normal((3, 512)) * 2.0).astype(np.float32)
    b = (rng.standard_normal(512) * 0.1).astype(np.float32)
    arcface(os.path.join(args.out, "arcface_w600k_r50.onnx"), w, b)
    xseg(os.path.join(args.out, "xseg_1.onnx"))
    bisenet(os.path.join(args.out, "bisenet_resnet_34.onnx"))

    data = {"k": K, "converter_offset": CONVERTER_OFFSET, "enhancer_offset": ENHANCER_OFFSET,
            "codeformer_weight_gain": CODEFORMER_WEIGHT_GAIN, "arcface_w": w.tolist(), "arcface_b": b.tolist()}
    data_tmp = os.path.join(args.out, f"fixtures.json.{os.getpid()}.tmp")
    with open(data_tmp, "w") as f:
        json.dump(data, f)
    os.replace(data_tmp, os.path.join(args.out, "fixtures.json"))

    if args.link_models:
        for name in os.listdir(args.link_models):
            link = os.path.join(args.out, name)
            try:
                os.symlink(os.path.join(os.path.abspath(args.link_models), name), link)
            except FileExistsError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
