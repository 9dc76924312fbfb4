#!/usr/bin/python3
"""Writes the MatMul-only models bench/models.sh times next to the real ones.

Usage: /usr/bin/python3 bench/make-matmul.py OUTDIR

Each is a chain of MatMuls of a [1, 128, K] activation by constant [K, N]
weights at BERT-mini's shapes (hidden 256, FFN 1024, sequence 128): eight
256 x 256 (its Q, K, V and output projections), and four FFN pairs 256 ->
1024 -> 256. Nothing but the GEMM runs (a chain, so that copying the input
in and the output out is small next to it), so each runtime's GFLOP/s on
them is its GEMM's speed, and their ratio the ceiling of the ratio on
models whose time is mostly such products. Weights are fixed-seed uniform
values (nothing is downloaded).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# name: the K x N weights of a chain of MatMuls, each taking the last one's output
CHAINS = {"matmul_chain_256": [(256, 256)] * 8, "matmul_chain_ffn": [(256, 1024), (1024, 256)] * 4}


def chain_model(name, weights, rng):
    nodes, inits, x = [], [], "x"
    for i, (k, n) in enumerate(weights):
        w = "w%d" % i
        inits.append(numpy_helper.from_array(rng.uniform(-0.1, 0.1, (k, n)).astype(np.float32), w))
        y = "y" if i == len(weights) - 1 else "h%d" % i
        nodes.append(helper.make_node("MatMul", [x, w], [y]))
        x = y
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 128, weights[0][0]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128, weights[-1][1]])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return m


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    for name, weights in CHAINS.items():
        path = os.path.join(out, name + ".onnx")
        with open(path + ".tmp", "wb") as f:
            f.write(chain_model(name, weights, rng).SerializeToString())
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
