#!/usr/bin/python3
"""make-data.py OUT MODELS: data for tests/check_validate.c (Debian's python3-onnx, numpy, PIL).

Writes into OUT:
  sq_perturbed/          squeezenet1_1's test_data_set_0 with output element [0, 7] moved by +0.5
  sq_stored.npz          squeezenet's input and recorded output, np.savez (zip, stored)
  sq_deflated.npz        the same, np.savez_compressed (zip, deflated)
  chain.onnx             a small graph: x -> MatMul(w) -> Add(b) -> Relu -> Mul(c) -> Tanh -> y
  chain_const.onnx       the same with node 'scale''s constant c changed (0.5 -> 0.6)
  chain_op.onnx          the same with node 'act' made a Sigmoid instead of a Relu
  chain_renamed.onnx     the same with the output named z instead of y
  identity.onnx          image [1, 3, 4, 4] -> Identity -> out, for images through the CLI
  img.png                a 7x5 (HxW) RGB image of random pixels
  img_expected.npy       img.png preprocessed (resize shorter side to 6, center crop 4, scale
                         1/255, mean/std, NCHW) as validate/data.c documents, computed here
  solid.jpg              a 16x16 JPEG of one colour (200, 100, 50)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image


def perturbed_set(models, out):
    src = os.path.join(models, "squeezenet1_1", "test_data_set_0")
    dst = os.path.join(out, "sq_perturbed")
    os.makedirs(dst, exist_ok=True)
    inp = onnx.load_tensor(os.path.join(src, "input_0.pb"))
    res = onnx.load_tensor(os.path.join(src, "output_0.pb"))
    onnx.save_tensor(inp, os.path.join(dst, "input_0.pb"))
    y = numpy_helper.to_array(res).copy()
    y[0, 7] += 0.5
    onnx.save_tensor(numpy_helper.from_array(y, res.name), os.path.join(dst, "output_0.pb"))
    x = numpy_helper.to_array(inp)
    want = numpy_helper.to_array(res)
    np.savez(os.path.join(out, "sq_stored.npz"), input=x, output=want)
    np.savez_compressed(os.path.join(out, "sq_deflated.npz"), input=x, output=want)


def chain(path, c_value, act="Relu", out="y"):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    c = np.full(6, c_value, np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h1"], name="mm"),
        helper.make_node("Add", ["h1", "b"], ["h2"], name="add_bias"),
        helper.make_node(act, ["h2"], ["h3"], name="act"),
        helper.make_node("Mul", ["h3", "c"], ["h4"], name="scale"),
        helper.make_node("Tanh", ["h4"], [out], name="squash"),
    ]
    g = helper.make_graph(
        nodes, "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [2, 6])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"), numpy_helper.from_array(c, "c")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=7), path)


def identity(path):
    g = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"], name="id")], "identity",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 4, 4])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=7), path)


def bilinear(px, rh, rw):
    """Half-pixel-centre bilinear resize of HxWxC (float64), no antialiasing."""
    h, w, _ = px.shape
    out = np.zeros((rh, rw, px.shape[2]))
    for y in range(rh):
        sy = max((y + 0.5) * h / rh - 0.5, 0.0)
        y0 = min(int(sy), h - 1)
        y1 = min(y0 + 1, h - 1)
        fy = sy - y0
        for x in range(rw):
            sx = max((x + 0.5) * w / rw - 0.5, 0.0)
            x0 = min(int(sx), w - 1)
            x1 = min(x0 + 1, w - 1)
            fx = sx - x0
            top = px[y0, x0] * (1 - fx) + px[y0, x1] * fx
            bot = px[y1, x0] * (1 - fx) + px[y1, x1] * fx
            out[y, x] = top * (1 - fy) + bot * fy
    return out


def images(out):
    rng = np.random.default_rng(3)
    px = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    Image.fromarray(px, "RGB").save(os.path.join(out, "img.png"))
    # resize: shorter side (w=5) to 6 -> h = int(6 * 7 / 5) = 8; crop 4x4 at round((8-4)/2), round((6-4)/2)
    r = bilinear(px.astype(np.float64), 8, 6)
    top, left = round((8 - 4) / 2), round((6 - 4) / 2)
    r = r[top:top + 4, left:left + 4] / 255.0
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    r = (r - mean) / std
    np.save(os.path.join(out, "img_expected.npy"), r.transpose(2, 0, 1)[None].astype(np.float32))
    solid = np.zeros((16, 16, 3), np.uint8)
    solid[:] = (200, 100, 50)
    Image.fromarray(solid, "RGB").save(os.path.join(out, "solid.jpg"), quality=95)


def main():
    out, models = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    perturbed_set(models, out)
    chain(os.path.join(out, "chain.onnx"), 0.5)
    chain(os.path.join(out, "chain_const.onnx"), 0.6)
    chain(os.path.join(out, "chain_op.onnx"), 0.5, act="Sigmoid")
    chain(os.path.join(out, "chain_renamed.onnx"), 0.5, out="z")
    identity(os.path.join(out, "identity.onnx"))
    images(out)


if __name__ == "__main__":
    main()
