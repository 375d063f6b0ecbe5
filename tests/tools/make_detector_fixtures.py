#!/usr/bin/python3
"""Writes small ONNX stand-ins for FaceFusion's detectors and 2dfan4 landmarker.

Real weights cannot be fetched on the build machines, so the tests run facefuse's pre- and
post-processing on models with exactly the real ones' input name, output names/count and shapes
(shared/CONTRACTS.md) whose outputs are known functions of their input:

    output = constant + sum_k mask_k * input[0, c_k, y_k, x_k]

i.e. constant decoded boxes and points at known model-input pixels, plus scores (or, for 2dfan4,
one landmark coordinate) that depend on the model input's value at chosen pixels. A test then
checks normalisation (the probed value), letterbox scale, anchor/stride decoding, NMS and rotation
mapping against expectations it computes itself. The layout of every fixture is written to
fixtures.json beside the models, so the tests read the numbers from one place.

Usage: make_detector_fixtures.py OUTPUT_DIR   (needs Debian's python3-onnx and python3-numpy)
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8  # readable by every ONNX Runtime since 1.10
STRIDES = (8, 16, 32)


def probe_graph(name, input_shape, outputs, probes):
    # input_shape may hold strings: dynamic dimensions (scrfd and retinaface take several sizes).
    """outputs: list of (name, constant ndarray); probes: list of (output index, mask ndarray,
    (channel, y, x)). Builds output_i = constant_i + sum of mask * input[0, c, y, x]."""
    nodes, inits = [], []
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "scalar_shape"))
    probe_values = {}
    for _, _, (c, y, x) in probes:
        key = (c, y, x)
        if key in probe_values:
            continue
        tag = f"p{c}_{y}_{x}"
        inits.append(numpy_helper.from_array(np.array([0, c, y, x], dtype=np.int64), f"{tag}_start"))
        inits.append(numpy_helper.from_array(np.array([1, c + 1, y + 1, x + 1], dtype=np.int64), f"{tag}_end"))
        nodes.append(helper.make_node("Slice", ["input", f"{tag}_start", f"{tag}_end"], [f"{tag}_4d"]))
        nodes.append(helper.make_node("Reshape", [f"{tag}_4d", "scalar_shape"], [tag]))
        probe_values[key] = tag
    graph_outputs = []
    for i, (out_name, constant) in enumerate(outputs):
        inits.append(numpy_helper.from_array(constant.astype(np.float32), f"{out_name}_const"))
        acc = f"{out_name}_const"
        for j, (oi, mask, pix) in enumerate(probes):
            if oi != i:
                continue
            inits.append(numpy_helper.from_array(mask.astype(np.float32), f"{out_name}_mask{j}"))
            nodes.append(helper.make_node("Mul", [probe_values[pix], f"{out_name}_mask{j}"], [f"{out_name}_term{j}"]))
            nxt = f"{out_name}_acc{j}"
            nodes.append(helper.make_node("Add", [acc, f"{out_name}_term{j}"], [nxt]))
            acc = nxt
        nodes.append(helper.make_node("Identity", [acc], [out_name]))
        graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, list(constant.shape)))
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
                              graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facefuse-fixtures")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def yolo_face(size=640):
    """[1,20,8400]: column = cx, cy, w, h, score, 5 x (x, y, visibility)."""
    n = sum((size // s) ** 2 for s in STRIDES)
    const = np.zeros((1, 20, n), dtype=np.float32)
    faces = [
        # column, box (cx, cy, w, h), constant score, probe (channel, y, x) added to the score (x 1)
        {"column": 100, "box": [200, 150, 80, 100], "score": 0.1, "probe": [2, 10, 10]},
        {"column": 200, "box": [205, 152, 80, 100], "score": 0.7, "probe": None},   # NMS loser vs column 100
        {"column": 5000, "box": [450, 400, 60, 60], "score": 0.6, "probe": [0, size - 1, size - 1]},
        {"column": 7000, "box": [520, 100, 50, 70], "score": 0.45, "probe": None},  # below 0.5
    ]
    probes = []
    for f in faces:
        j = f["column"]
        cx, cy, w, h = f["box"]
        const[0, 0:4, j] = [cx, cy, w, h]
        const[0, 4, j] = f["score"]
        # 5 points inside the box: eyes, nose, mouth corners (fractions of the box)
        pts = [(0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75)]
        f["points"] = [[cx - w / 2 + u * w, cy - h / 2 + v * h] for u, v in pts]
        for k, (px, py) in enumerate(f["points"]):
            const[0, 5 + 3 * k, j] = px
            const[0, 6 + 3 * k, j] = py
            const[0, 7 + 3 * k, j] = 0.9
        if f["probe"] is not None:
            mask = np.zeros_like(const)
            mask[0, 4, j] = 1.0
            probes.append((0, mask, tuple(f["probe"])))
    model = probe_graph("yolo_face_fixture", [1, 3, size, size], [("output0", const)], probes)
    return model, {"size": size, "faces": faces}


def anchor_grid(family, size=640, dynamic=False):
    """scrfd/retinaface: 9 outputs [K,1]/[K,4]/[K,10]; yunet: 12 outputs [1,K,1]/[1,K,1]/[1,K,4]/[1,K,10]."""
    yunet = family == "yunet"
    per_cell = 1 if yunet else 2
    counts = [(size // s) ** 2 * per_cell for s in STRIDES]
    # face: stride, cell (col, row), anchor index within the cell, raw box values, constant score
    # (scrfd: score; yunet: cls, with obj constant 0.6 + probe term), probe on the score (or obj)
    faces = [
        {"stride": 16, "col": 12, "row": 10, "anchor": per_cell - 1, "box": [2.0, 3.0, 2.5, 3.5],
         "score": 0.3, "probe": [1, 20, 20], "probe_gain": 0.5},
        {"stride": 8, "col": size * 60 // 640, "row": size * 70 // 640, "anchor": 0, "box": [1.5, 1.5, 1.5, 1.5],
         "score": 1.5, "probe": [0, size - 1, size - 1], "probe_gain": 1.0},
        {"stride": 32, "col": 3, "row": 4, "anchor": 0, "box": [0.5, 0.5, 0.5, 0.5],
         "score": 0.2, "probe": None, "probe_gain": 0.0},  # below 0.5
    ]
    if yunet:
        # yunet boxes: centre offset (x, y) and log size (w, h) in stride units; score = cls * obj
        faces[0].update(box=[0.25, -0.5, 1.2, 1.5], score=0.9, probe_gain=0.001)
        faces[1].update(box=[0.5, 0.5, 0.8, 0.8], score=0.9, probe_gain=0.001)
        faces[2].update(box=[0.0, 0.0, 0.5, 0.5], score=0.3)
    kps_offsets = [[-0.5, -0.4], [0.5, -0.4], [0.0, 0.1], [-0.4, 0.5], [0.4, 0.5]]
    groups = ["cls", "obj", "bbox", "kps"] if yunet else ["score", "bbox", "kps"]
    widths = {"cls": 1, "obj": 1, "score": 1, "bbox": 4, "kps": 10}
    outs = {}
    for g in groups:
        for s, k in zip(STRIDES, counts):
            shape = (1, k, widths[g]) if yunet else (k, widths[g])
            outs[(g, s)] = np.zeros(shape, dtype=np.float32)
            if g == "obj":
                outs[(g, s)][...] = 0.0
    names = [(g, s) for g in groups for s in STRIDES]
    probes = []
    for f in faces:
        s = f["stride"]
        cols = size // s
        index = (f["row"] * cols + f["col"]) * per_cell + f["anchor"]
        f["index"] = index
        row = (lambda a: a[0, index] if yunet else a[index])
        row(outs[("bbox", s)])[:] = f["box"]
        row(outs[("kps", s)])[:] = np.array(kps_offsets).ravel()
        score_group = "cls" if yunet else "score"
        row(outs[(score_group, s)])[0] = f["score"]
        if yunet:
            row(outs[("obj", s)])[0] = 0.6 if f["probe"] is not None else 1.0
        if f["probe"] is not None:
            gi = names.index(("obj" if yunet else "score", s))
            mask = np.zeros(outs[names[gi]].shape, dtype=np.float32)
            row(mask)[0] = f["probe_gain"]
            probes.append((gi, mask, tuple(f["probe"])))
    outputs = [(f"{g}_{s}", outs[(g, s)]) for g, s in names]
    input_shape = [1, 3, "height", "width"] if dynamic else [1, 3, size, size]
    model = probe_graph(f"{family}_fixture", input_shape, outputs, probes)
    return model, {"size": size, "faces": faces, "kps_offsets": kps_offsets}


def fan_2dfan4():
    """landmarks [1,68,3] in 64-px heatmap space, heatmaps [1,68,64,64]."""
    rng = np.random.default_rng(4)
    points = np.zeros((1, 68, 3), dtype=np.float32)
    points[0, :, 0] = 16 + 32 * rng.random(68)
    points[0, :, 1] = 16 + 32 * rng.random(68)
    points[0, :, 2] = 1.0
    heat = np.zeros((1, 68, 64, 64), dtype=np.float32)
    maxima = np.full(68, 0.45, dtype=np.float32)
    maxima[:34] = 0.35
    maxima[34:] = 0.55  # mean 0.45 -> score 0.5
    for i in range(68):
        heat[0, i, i % 64, (3 * i) % 64] = maxima[i]
        heat[0, i, 5, 5] = maxima[i] / 2
    probe = [0, 128, 128]  # B channel at the crop centre, added x 10 to point 0's x
    mask = np.zeros_like(points)
    mask[0, 0, 0] = 10.0
    model = probe_graph("2dfan4_fixture", [1, 3, 256, 256], [("landmarks_xyscore", points), ("heatmaps", heat)],
                        [(0, mask, tuple(probe))])
    return model, {"points": points[0, :, :2].tolist(), "heat_maxima": maxima.tolist(), "probe": probe,
                   "probe_gain": 10.0}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    layout = {}
    # The 320 scrfd has a dynamic input like the real file, but outputs sized for 320 x 320 only.
    os.makedirs(os.path.join(out, "scrfd_320"), exist_ok=True)
    for file, (model, info) in {
        "yoloface_8n.onnx": yolo_face(),
        "scrfd_2.5g.onnx": anchor_grid("scrfd"),
        "retinaface_10g.onnx": anchor_grid("retinaface"),
        "yunet_2023_mar.onnx": anchor_grid("yunet"),
        "2dfan4.onnx": fan_2dfan4(),
        "scrfd_320/scrfd_2.5g.onnx": anchor_grid("scrfd", size=320, dynamic=True),
    }.items():
        tmp = os.path.join(out, file + ".tmp")
        onnx.save(model, tmp)
        os.replace(tmp, os.path.join(out, file))
        layout[file] = info
    tmp = os.path.join(out, "fixtures.json.tmp")
    with open(tmp, "w") as f:
        json.dump(layout, f, indent=1)
    os.replace(tmp, os.path.join(out, "fixtures.json"))


if __name__ == "__main__":
    main()
