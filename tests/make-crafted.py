#!/usr/bin/python3
"""Writes small hand-made ONNX models that exercise import edge cases.

Usage: /usr/bin/python3 tests/make-crafted.py OUTDIR

Each model is built with the onnx package's helpers (Debian python3-onnx)
and saved without onnx's checker, since several are deliberately invalid.
check_import.c holds the table of what ferry must say about each one.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]


def save(name, model, raw_files=None):
    path = os.path.join(OUT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model.SerializeToString())
    os.replace(tmp, path)
    for rel, data in (raw_files or {}).items():
        p = os.path.join(os.path.dirname(path), rel)
        with open(p, "wb") as f:
            f.write(data)


def model(nodes, inputs, outputs, inits=(), opset=13, functions=(), ir=8, value_info=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits), value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], functions=list(functions))
    m.ir_version = ir
    return m


def vi(name, dims, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, dims)


X = vi("x", ["batch", 4])
Y = vi("y", ["batch", 4])

# --- vmath_sweep, gelu_sweep: the vector math on 65536 values -------------
# Exp, Tanh, Erf, Sigmoid, Softmax (vmath_sweep) and both GELU forms, which
# convert's passes fuse into Gelu and FastGelu (gelu_sweep), of x * s: x a
# constant sweep over [-100, 88] and [-6, 6] in rows of 128, s a graph input
# (1.0 in test_data_set_0) so that nothing folds at conversion. check_wasm
# runs them natively and in both wasm builds and compares the two tightly:
# the kernels' wasm forms (f32x4.nearest, pmin/pmax, relaxed multiply-adds)
# against the native ones that check_kernels_elementwise sweeps against libm.
# The GELUs get their own model for their own tolerance: for x << 0, 1 + erf
# cancels and leaves erf's absolute error.
def sweep_model(name, nodes, outs, inits=()):
    x = np.concatenate([np.linspace(-100, 88, 32768), np.linspace(-6, 6, 32768)]).astype(np.float32).reshape(512, 128)
    nodes = [helper.make_node("Mul", ["x", "s"], ["xs"])] + nodes
    inits = [numpy_helper.from_array(x, "x")] + list(inits)
    save(name + "/model.onnx", model(nodes, [vi("s", [1])], [vi(o, [512, 128]) for o in outs], inits=inits))
    save(name + "/test_data_set_0/input_0.pb", numpy_helper.from_array(np.ones(1, np.float32), "s"))


def gelu_nodes():
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.float32), name)
    n = helper.make_node
    nodes = [  # gelu: x/2 (1 + erf(x / sqrt 2))
        n("Div", ["xs", "sqrt2"], ["g0"]), n("Erf", ["g0"], ["g1"]), n("Add", ["g1", "one"], ["g2"]),
        n("Mul", ["xs", "g2"], ["g3"]), n("Mul", ["g3", "half"], ["gelu"]),
        # fastgelu: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        n("Pow", ["xs", "three"], ["f0"]), n("Mul", ["f0", "k1"], ["f1"]), n("Add", ["xs", "f1"], ["f2"]),
        n("Mul", ["f2", "k2"], ["f3"]), n("Tanh", ["f3"], ["f4"]), n("Add", ["f4", "one"], ["f5"]),
        n("Mul", ["xs", "f5"], ["f6"]), n("Mul", ["f6", "half"], ["fastgelu"])]
    inits = [c("sqrt2", 2 ** 0.5), c("one", 1), c("half", 0.5), c("three", 3), c("k1", 0.044715),
             c("k2", (2 / np.pi) ** 0.5)]
    return nodes, inits


sweep_model("vmath_sweep", [helper.make_node(op, ["xs"], [op.lower()]) for op in ("Exp", "Tanh", "Erf", "Sigmoid")] +
            [helper.make_node("Softmax", ["xs"], ["softmax"], axis=-1)],
            ["exp", "tanh", "erf", "sigmoid", "softmax"])
sweep_model("gelu_sweep", gelu_nodes()[0], ["gelu", "fastgelu"], gelu_nodes()[1])

# --- dw_sweep: 3x3 convolutions over every row width from 4 to 40 and 56 ----
# Depthwise (6 channels) at strides 1 and 2, pads 0 and 1, and first-layer
# style (3 -> 10 channels, pad 1), each through Clip(0, 6), x times a graph
# input s (1.0) so that nothing folds. check_wasm runs it natively and in both
# wasm builds: the wasm forms of the depthwise rows (their own group sizes,
# the kernel-row loop kept a loop) and of the first layers (the GEMM, where
# natively the direct path runs) against the native kernels that
# check_kernels_perf holds to the reference.
def dw_sweep():
    rng = np.random.default_rng(7)
    c = lambda name, v: numpy_helper.from_array(np.asarray(v, np.float32), name)
    n = helper.make_node
    nodes, inits, outs = [], [c("lo", 0), c("hi", 6)], []
    for W in list(range(4, 41)) + [56]:
        inits.append(c(f"x{W}", rng.uniform(-1, 1, (1, 6, 7, W))))
        nodes.append(n("Mul", [f"x{W}", "s"], [f"xs{W}"]))
        convs = [(6, 6, S, P) for S in (1, 2) for P in (0, 1) if W + 2 * P >= 3] + [(3, 10, S, 1) for S in (1, 2)]
        for C, M, S, P in convs:
            name = f"{'dw' if C == M else 'full'}{W}_s{S}p{P}"
            inits += [c(name + "_w", rng.uniform(-1, 1, (M, 1 if C == M else C, 3, 3))),
                      c(name + "_b", rng.uniform(-1, 1, M))]
            x = f"xs{W}" if C == 6 else f"xs{W}_3"
            if C == 3 and not any(nd.output[0] == x for nd in nodes):
                nodes.append(n("Slice", [f"xs{W}", "s0", "s3", "s1"], [x]))
            nodes += [n("Conv", [x, name + "_w", name + "_b"], [name + "_c"], group=C if C == M else 1,
                        strides=[S, S], pads=[P] * 4, kernel_shape=[3, 3]),
                      n("Clip", [name + "_c", "lo", "hi"], [name])]
            outs.append((name, [1, M, (7 + 2 * P - 3) // S + 1, (W + 2 * P - 3) // S + 1]))
    inits += [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in (("s0", [0]), ("s3", [3]), ("s1", [1]))]
    save("dw_sweep/model.onnx", model(nodes, [vi("s", [1])], [vi(o, d) for o, d in outs], inits=inits))
    save("dw_sweep/test_data_set_0/input_0.pb", numpy_helper.from_array(np.ones(1, np.float32), "s"))


dw_sweep()

# --- gpt_ids_40: token ids [1, 40] for gpt_tiny_op13 (scripts/make-models.py) --
# check_wasm runs the decoder converted with fuse-attention (the default) on them,
# natively and in both wasm builds: 40 rows make several blocks of the causal
# mask's span path.
save("gpt_ids_40/test_data_set_0/input_0.pb",
     numpy_helper.from_array((np.arange(40, dtype=np.int64) * 37 + 11).reshape(1, 40) % 200, "input_ids"))

# --- valid models ---------------------------------------------------------

def attr_ref(name, ref, typ):
    a = onnx.AttributeProto()
    a.name, a.ref_attr_name, a.type = name, ref, typ
    return a


leaky = helper.make_node("LeakyRelu", ["u"], ["b"])
leaky.attribute.append(attr_ref("alpha", "alpha", onnx.AttributeProto.FLOAT))
# A local function (Gelu-like) called twice, with an attribute reference
# and a default from attribute_proto.
fn = helper.make_function(
    "custom", "ScaledTanh", ["a"], ["b"],
    [helper.make_node("Constant", [], ["k"], value_float=2.0),
     helper.make_node("Mul", ["a", "k"], ["t"]),
     helper.make_node("Tanh", ["t"], ["u"]),
     leaky],
    [helper.make_opsetid("", 13)], attributes=["alpha"])
m = model([helper.make_node("ScaledTanh", ["x"], ["h"], domain="custom", alpha=0.3),
           helper.make_node("ScaledTanh", ["h"], ["y"], domain="custom")], [X], [Y], functions=[fn])
m.opset_import.append(helper.make_opsetid("custom", 1))
save("function.onnx", m)

# Nodes out of order: ferry sorts them.
save("unsorted.onnx", model(
    [helper.make_node("Relu", ["h"], ["y"]), helper.make_node("Neg", ["x"], ["h"])], [X], [Y]))

# A subgraph reading a value of its parent, and an unused opset import.
then_g = helper.make_graph([helper.make_node("Add", ["h", "h"], ["t"])], "then", [], [vi("t", ["batch", 4])])
else_g = helper.make_graph([helper.make_node("Sub", ["h", "h"], ["e"])], "else", [], [vi("e", ["batch", 4])])
m = model([helper.make_node("Neg", ["x"], ["h"]),
           helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
          [X, vi("c", [], TensorProto.BOOL)], [Y])
m.opset_import.append(helper.make_opsetid("com.unused.domain", 3))
save("subgraph.onnx", m)

# External data: weights in a side file, two tensors in one file.
w = np.arange(16, dtype=np.float32).reshape(4, 4)
b = np.arange(4, dtype=np.float32)
def ext_model(loc_w, off_w="0", len_w=None, loc_b="weights.bin", off_b=str(w.nbytes)):
    tw = numpy_helper.from_array(w, "w")
    tb = numpy_helper.from_array(b, "b")
    for t, loc, off, ln in ((tw, loc_w, off_w, len_w), (tb, loc_b, off_b, None)):
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        for k, v in (("location", loc), ("offset", off), ("length", ln)):
            if v is not None:
                t.external_data.add(key=k, value=v)
    return model([helper.make_node("Gemm", ["x", "w", "b"], ["y"])], [X], [Y], inits=[tw, tb])
blob = w.tobytes() + b.tobytes()
save("external/model.onnx", ext_model("weights.bin"), {"weights.bin": blob})
save("external_missing/model.onnx", ext_model("nothere.bin", loc_b="nothere.bin"))
save("external_short/model.onnx", ext_model("weights.bin"), {"weights.bin": blob[:40]})
save("external_escape/model.onnx", ext_model("../external/weights.bin"))
save("external_absolute/model.onnx", ext_model("/etc/passwd"))
save("external_badlen/model.onnx", ext_model("weights.bin", len_w="12"), {"weights.bin": blob})
save("external_badoffset/model.onnx", ext_model("weights.bin", off_w="-5"), {"weights.bin": blob})
save("external_symlink/model.onnx", ext_model("link.bin"))
link = os.path.join(OUT, "external_symlink", "link.bin")
if os.path.lexists(link):
    os.remove(link)
os.symlink("../external/weights.bin", link)

# Old IR: initializer also listed as an input (IR 3), typed-field data.
t = helper.make_tensor("w", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
save("ir3_init_input.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])],
                                  [X, vi("w", [4])], [Y], inits=[t], ir=3, opset=7))

# Concats the planner may or may not write in place (runtime/concat.c;
# check_runtime's concat_parts_in_place). x [1, 16, 4] and z [1, 3, 5]
# floats; node names are their outputs.
def cc(op, ins, out, **kw):
    return helper.make_node(op, ins, [out], name=out, **kw)


i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)
nodes = [
    cc("Relu", ["x"], "a"), cc("Neg", ["x"], "b"), cc("Concat", ["a", "b"], "c1", axis=1),  # in place
    cc("Sigmoid", ["x"], "e"), cc("Tanh", ["x"], "f"), cc("Concat", ["e", "f"], "c2", axis=-2),  # in place
    cc("Concat", ["c1", "c2"], "c3", axis=1),  # parts that are in-place wholes: copied
    cc("Abs", ["x"], "g"), cc("Concat", ["g", "g"], "c4", axis=1),  # one value twice
    cc("Exp", ["x"], "h"), cc("Floor", ["x"], "k"), cc("Concat", ["h", "k"], "c5", axis=1),  # h: a graph output
    cc("Ceil", ["x"], "m"), cc("Concat", ["m", "x"], "c6", axis=1),  # x: a graph input
    cc("Sin", ["x"], "n"), cc("Cos", ["x"], "n2"), cc("Concat", ["n", "n2"], "c7", axis=2),  # dim 1 of 16 before the axis
    cc("Softsign", ["x"], "q"), cc("Round", ["x"], "r"), cc("Concat", ["q", "r"], "c8", axis=1),
    cc("Mul", ["q", "q"], "s"),  # q read after the Concat
    cc("Relu", ["z"], "t"), cc("Neg", ["z"], "u"), cc("Concat", ["t", "u"], "c9", axis=1),  # 60 bytes: unaligned
    cc("Elu", ["x"], "w1"), cc("Selu", ["x"], "w2"), cc("Slice", ["x", "s0", "s3", "s1"], "w3"),
    cc("Concat", ["w1", "w2", "w3"], "c10", axis=1),  # in place: only the last part is unaligned
]
outs = ["c3", "c4", "h", "c5", "c6", "c7", "c8", "s", "c9", "c10"]
save("concat_parts.onnx", model(nodes, [vi("x", [1, 16, 4]), vi("z", [1, 3, 5])],
                                [helper.make_value_info(o, onnx.TypeProto()) for o in outs],
                                inits=[i64("s0", [0]), i64("s3", [3]), i64("s1", [1])]))

# --- invalid models -------------------------------------------------------

save("cycle.onnx", model([helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                          helper.make_node("Neg", ["a"], ["y"])], [X], [Y]))
save("undefined_input.onnx", model([helper.make_node("Add", ["x", "ghost"], ["y"])], [X], [Y]))
save("missing_output.onnx", model([helper.make_node("Relu", ["x"], ["h"])], [X], [Y]))
save("defined_twice.onnx", model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])], [X], [Y]))
bad = numpy_helper.from_array(np.zeros(4, np.float32), "w")
bad.data_type = 99
save("unknown_dtype.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])], [X], [Y], inits=[bad]))
huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 30, 1 << 30, 1 << 30])
save("absurd_dims.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])], [X], [Y], inits=[huge]))
short = numpy_helper.from_array(np.zeros(4, np.float32), "w")
short.raw_data = short.raw_data[:10]
save("short_raw.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])], [X], [Y], inits=[short]))
# ConstantOfShape whose value holds no element (found by fuzzing: the shape rule read one).
empty_value = TensorProto(name="value", data_type=TensorProto.INT32, dims=[1, 0])
shape_in = vi("x", [1], TensorProto.INT64)
save("empty_fill_value.onnx", model([helper.make_node("ConstantOfShape", ["x"], ["y"], value=empty_value)],
                                    [shape_in], [vi("y", None, TensorProto.INT32)]))
neg = vi("x", [-3, 4])
save("negative_dim.onnx", model([helper.make_node("Relu", ["x"], ["y"])], [neg], [Y]))
save("no_opset.onnx", (lambda m: (m.ClearField("opset_import"), m)[1])(
    model([helper.make_node("Relu", ["x"], ["y"])], [X], [Y])))
rec = helper.make_function("custom", "Loopy", ["a"], ["b"], [helper.make_node("Loopy", ["a"], ["b"], domain="custom")],
                           [helper.make_opsetid("custom", 1)])
m = model([helper.make_node("Loopy", ["x"], ["y"], domain="custom")], [X], [Y], functions=[rec])
m.opset_import.append(helper.make_opsetid("custom", 1))
save("recursive_function.onnx", m)
# Subgraphs nested 200 deep.
leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["o"])], "g", [], [vi("o", ["batch", 4])])
inner = leaf
for i in range(200):
    inner = helper.make_graph([helper.make_node("If", ["c"], ["o"], then_branch=inner, else_branch=leaf)], "g", [],
                              [vi("o", ["batch", 4])])
save("deep_nesting.onnx", model([helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=leaf)],
                                [X, vi("c", [], TensorProto.BOOL)], [Y]))
with open(os.path.join(OUT, "not_onnx.onnx"), "wb") as f:
    f.write(b"this is a text file, not a model\n")
open(os.path.join(OUT, "empty.onnx"), "wb").close()
