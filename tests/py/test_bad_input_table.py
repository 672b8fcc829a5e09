"""Bad input as a table (issue 17): each row builds hostile input files, runs one command on them and
expects an exit code and a message naming the problem, with the inputs unchanged (sha256), nothing
left in the input or output folders, no crash or internal error, and no raw control byte on stderr.

Rows cover hangs and crashes (a graph input of batch 0, no graph outputs, extra node outputs),
unbounded sizes (--max-tensor-bytes), corrupt data (CRC, bzip2 members), schema validation of
attributes and input/output counts, declared output types, eval's samples and labels, and
control bytes in names. docs/reliability.md lists which guarantee each group holds.
"""
from __future__ import annotations

import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_scalec
from test_cli_errors import BAD_INPUT, OK, expect, save_unchecked

BIG = 2**40
F = TensorProto.FLOAT


# ----------------------------------------------------------------------------------------------
# Builders: each writes its files into `folder` and returns {"model": path, "data": path, ...}
# ----------------------------------------------------------------------------------------------

def write_model(folder: Path, nodes, inputs, outputs, inits=(), opset=13) -> Path:
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return save_unchecked(m, folder / "m.onnx")


def write_npz(folder: Path, name="d.npz", **arrays) -> Path:
    path = folder / name
    np.savez(path, **arrays)
    return path


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def mlp_files(folder: Path, batch=None, out_shape=None, out_type=F, node_name="fc", samples=8, labels=None,
              trans_b=None, **data):
    """Y = Gemm(X[N,4], W[3,4]^T) + B: quantizable, trainable, with labels."""
    attrs = {"transB": 1 if trans_b is None else trans_b}
    nodes = [helper.make_node("Gemm", ["X", "W", "B"], ["Y"], name=node_name, **attrs)]
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    if trans_b == 0:
        w = np.ascontiguousarray(w.T)
    model = write_model(folder, nodes, [vi("X", [batch if batch is not None else "N", 4])],
                        [vi("Y", out_shape, out_type)], [init("W", w), init("B", np.zeros(3, np.float32))])
    rng = np.random.default_rng(0)
    arrays = {"X": rng.standard_normal((samples, 4)).astype(np.float32),
              "labels": (np.arange(samples) % 3).astype(np.int64) if labels is None else labels}
    arrays.update(data)
    return {"model": model, "data": write_npz(folder, **arrays)}


def one_node_files(folder: Path, op, inputs=("X",), outputs=("Y",), inits=(), x_shape=(2, 4), opset=13,
                   extra_outputs=(), node_name="n", **attrs):
    """One `op` node reading X (float, x_shape) and the given initializers; data for X."""
    node = helper.make_node(op, list(inputs), list(outputs), name=node_name, **attrs)
    outs = [vi(o, None) for o in outputs if o] + [vi(o, None) for o in extra_outputs]
    nodes = [node]
    if "X" not in inputs:  # keep X an input the data feeds
        nodes.append(helper.make_node("Identity", ["X"], ["X_copy"], name="copy"))
        outs.append(vi("X_copy", None))
    model = write_model(folder, nodes, [vi("X", list(x_shape))], outs, inits, opset)
    x = np.random.default_rng(1).standard_normal(x_shape).astype(np.float32)
    return {"model": model, "data": write_npz(folder, X=x)}


def int64s(name, values):
    return init(name, np.array(values, np.int64))


def scalar(name, value, dtype=np.int64):
    return init(name, np.array(value, dtype))


# ----- Hangs and crashes ----------------------------------------------------------------------

def batch0(folder):
    return mlp_files(folder, batch=0)


def no_outputs(folder):
    files = mlp_files(folder)
    m = onnx.load(str(files["model"]))
    del m.graph.output[:]
    save_unchecked(m, files["model"])
    return files


def conv_extra_output(folder):
    w = init("W", np.ones((1, 1, 1, 1), np.float32))
    return one_node_files(folder, "Conv", ("X", "W"), ("Y", "Z"), [w], x_shape=(1, 1, 4, 4))


# ----- Unbounded sizes ------------------------------------------------------------------------

def pad_huge(mode):
    def build(folder):
        return one_node_files(folder, "Pad", ("X", "pads"), inits=[int64s("pads", [0, BIG, 0, 0])], mode=mode)
    return build


def tile_huge(folder):
    return one_node_files(folder, "Tile", ("X", "repeats"), inits=[int64s("repeats", [2**20, 2**20])])


def range_huge(folder):
    inits = [scalar("start", 0.0, np.float32), scalar("limit", float(BIG), np.float32), scalar("delta", 1.0, np.float32)]
    return one_node_files(folder, "Range", ("start", "limit", "delta"), inits=inits)


def constant_of_shape(dims):
    def build(folder):
        return one_node_files(folder, "ConstantOfShape", ("shape",), inits=[int64s("shape", dims)])
    return build


def onehot_huge(folder):
    inits = [int64s("idx", [0, 1]), scalar("depth", BIG), init("vals", np.array([0, 1], np.float32))]
    return one_node_files(folder, "OneHot", ("idx", "depth", "vals"), inits=inits)


def expand_huge(folder):
    return one_node_files(folder, "Expand", ("X", "shape"), inits=[int64s("shape", [BIG, 1, 1])])


def conv_pads_huge(folder):
    w = init("W", np.ones((1, 1, 1, 1), np.float32))
    return one_node_files(folder, "Conv", ("X", "W"), inits=[w], x_shape=(1, 1, 4, 4), pads=[2**31] * 4)


def mlp_plain(folder):
    return mlp_files(folder)


# ----- Corrupt data ---------------------------------------------------------------------------

def flip_in_member(path: Path, member: str, at_end: bool):
    """Flips one byte of a stored member's data (its last byte, or the first byte after its header)."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    pos = start + info.file_size - 1 if at_end else start + 128
    raw[pos] ^= 0x40
    path.write_bytes(bytes(raw))


def crc_corrupt(at_end=False):
    def build(folder):
        files = mlp_files(folder, samples=64)
        flip_in_member(files["data"], "X.npy", at_end)
        return files
    return build


def compressed_member(method):
    def build(folder):
        files = mlp_files(folder)
        x = np.random.default_rng(2).standard_normal((8, 4)).astype(np.float32)
        data = folder / "d.npz"
        with zipfile.ZipFile(data, "w", compression=method) as z:
            for name, arr in (("X", x), ("labels", (np.arange(8) % 3).astype(np.int64))):
                with z.open(f"{name}.npy", "w") as f:
                    np.lib.format.write_array(f, arr)
        return files
    return build


# ----- Lax validation -------------------------------------------------------------------------

def gemm_trans_b(value):
    def build(folder):
        return mlp_files(folder, trans_b=value)
    return build


def gemm_float_trans_a(folder):
    files = mlp_files(folder)
    m = onnx.load(str(files["model"]))
    m.graph.node[0].attribute.append(helper.make_attribute("transA", 1.0))
    save_unchecked(m, files["model"])
    return files


def pool(op, **attrs):
    def build(folder):
        return one_node_files(folder, op, x_shape=(1, 1, 4, 4), **attrs)
    return build


def conv(**attrs):
    def build(folder):
        w = init("W", np.ones((1, 1, 1, 1), np.float32))
        return one_node_files(folder, "Conv", ("X", "W"), inits=[w], x_shape=(1, 1, 4, 4), **attrs)
    return build


def simple(op, inputs=("X",), outputs=("Y",), inits=(), x_shape=(2, 4), opset=13, **attrs):
    def build(folder):
        return one_node_files(folder, op, inputs, outputs, list(inits), x_shape=x_shape, opset=opset, **attrs)
    return build


def input_elem_type_0(folder):
    nodes = [helper.make_node("Relu", ["X"], ["Y"], name="relu")]
    model = write_model(folder, nodes, [vi("X", [2, 4], 0)], [vi("Y", [2, 4])])
    return {"model": model, "data": write_npz(folder, X=np.ones((2, 4), np.float32))}


def declared_output(shape, elem=F):
    def build(folder):
        nodes = [helper.make_node("Relu", ["X"], ["Y"], name="relu")]
        model = write_model(folder, nodes, [vi("X", ["N", 4])], [vi("Y", shape, elem)])
        return {"model": model, "data": write_npz(folder, X=np.ones((2, 4), np.float32))}
    return build


# ----- eval: samples and labels ---------------------------------------------------------------

def zero_samples(folder):
    return mlp_files(folder, samples=0)


def label(value, dtype=np.int64):
    def build(folder):
        labels = np.zeros(8, dtype)
        labels[5] = value
        return mlp_files(folder, labels=labels)
    return build


# ----- Control bytes in names -----------------------------------------------------------------

EVIL = "evil\x1b[2J\x07name"


def evil_node(folder):
    return mlp_files(folder, trans_b=5, node_name=EVIL)


def evil_input(folder):
    nodes = [helper.make_node("Relu", [EVIL], ["Y"], name="relu")]
    model = write_model(folder, nodes, [vi(EVIL, ["N", 4])], [vi("Y", None)])
    return {"model": model, "data": write_npz(folder, X=np.ones((2, 4), np.float32))}


# ----------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------

INFER = ["infer", "{model}", "--data", "{data}", "-o", "{out}/o.npz"]
EVAL = ["eval", "{model}", "--data", "{data}"]
FINETUNE = ["finetune", "{model}", "--data", "{data}", "-o", "{out}/f.onnx", "--epochs", "1"]
QUANTIZE = ["quantize", "{model}", "--calib", "{data}", "-o", "{out}/q.onnx"]
INSPECT = ["inspect", "{model}"]
CONVERT_INFER = ["convert", "{model}", "-o", "{out}/c.onnx", "--infer-shapes"]
TOO_BIG = r"max-tensor-bytes|overflow"


@dataclass
class Row:
    id: str
    build: Callable[[Path], dict]
    args: list
    rc: int
    needles: list = field(default_factory=list)


ROWS = [
    # 4. Hangs and crashes
    Row("batch0-infer", batch0, INFER, BAD_INPUT, ["'X'", "0 samples on axis 0"]),
    Row("batch0-eval", batch0, EVAL, BAD_INPUT, ["'X'", "0 samples on axis 0"]),
    Row("batch0-finetune", batch0, FINETUNE, BAD_INPUT, ["'X'", "0 samples on axis 0"]),
    Row("batch0-quantize", batch0, QUANTIZE, BAD_INPUT, ["'X'", "0 samples on axis 0"]),
    Row("no-outputs-eval", no_outputs, EVAL, BAD_INPUT, ["no outputs"]),
    Row("no-outputs-infer", no_outputs, INFER, BAD_INPUT, ["no outputs"]),
    Row("no-outputs-quantize", no_outputs, QUANTIZE, BAD_INPUT, ["no outputs"]),
    Row("conv-extra-output-infer", conv_extra_output, INFER, BAD_INPUT, ["Conv node 'n'", "2 outputs", "gives 1"]),
    Row("conv-extra-output-eval", conv_extra_output, EVAL, BAD_INPUT, ["Conv node 'n'", "2 outputs"]),
    Row("conv-extra-output-inspect", conv_extra_output, INSPECT, BAD_INPUT, ["Conv node 'n'", "2 outputs"]),
    # 5. Unbounded sizes: refused before the kernel allocates
    Row("pad-edge-2^40", pad_huge("edge"), INFER, BAD_INPUT, ["Pad node 'n'", "output 'Y'", TOO_BIG]),
    Row("pad-reflect-2^40", pad_huge("reflect"), INFER, BAD_INPUT, ["Pad node 'n'", TOO_BIG]),
    Row("pad-constant-2^40", pad_huge("constant"), INFER, BAD_INPUT, ["Pad node 'n'", TOO_BIG]),
    Row("pad-edge-2^40-eval", pad_huge("edge"), EVAL, BAD_INPUT, ["Pad node 'n'", TOO_BIG]),
    Row("tile-2^20x2^20", tile_huge, INFER, BAD_INPUT, ["Tile node 'n'", TOO_BIG, r"TB"]),
    Row("range-2^40", range_huge, INFER, BAD_INPUT, ["Range node 'n'", TOO_BIG]),
    Row("constant-of-shape-2^20x2^20", constant_of_shape([2**20, 2**20]), INFER, BAD_INPUT,
        ["ConstantOfShape node 'n'", "max-tensor-bytes"]),
    Row("constant-of-shape-overflow", constant_of_shape([2**40, 2**40]), INFER, BAD_INPUT,
        ["ConstantOfShape node 'n'", "overflow"]),
    Row("constant-of-shape-negative", constant_of_shape([-3, 2]), INFER, BAD_INPUT, ["ConstantOfShape", "negative"]),
    Row("onehot-depth-2^40", onehot_huge, INFER, BAD_INPUT, ["OneHot node 'n'", TOO_BIG]),
    Row("expand-2^40", expand_huge, INFER, BAD_INPUT, ["Expand node 'n'", TOO_BIG]),
    Row("conv-pads-2^31", conv_pads_huge, INFER, BAD_INPUT, ["Conv node 'n'", TOO_BIG]),
    Row("conv-pads-2^31-quantize", conv_pads_huge, QUANTIZE, BAD_INPUT, ["Conv node 'n'", TOO_BIG]),
    Row("max-tensor-bytes-16-infer", mlp_plain, INFER + ["--max-tensor-bytes", "16"], BAD_INPUT,
        ["Gemm node 'fc'", "96 bytes", "max-tensor-bytes"]),
    Row("max-tensor-bytes-16-eval", mlp_plain, EVAL + ["--max-tensor-bytes", "16"], BAD_INPUT,
        ["Gemm node 'fc'", "max-tensor-bytes"]),
    Row("max-tensor-bytes-16-quantize", mlp_plain, QUANTIZE + ["--max-tensor-bytes", "16"], BAD_INPUT,
        ["Gemm node 'fc'", "max-tensor-bytes"]),
    Row("max-tensor-bytes-16-finetune", mlp_plain, FINETUNE + ["--max-tensor-bytes", "16"], BAD_INPUT,
        ["Gemm node 'fc'", "max-tensor-bytes"]),
    Row("max-tensor-bytes-0", mlp_plain, INFER + ["--max-tensor-bytes", "0"], 1, ["max-tensor-bytes"]),
    # 6. Corrupt data: every reader checks the CRC; bzip2 and other methods refused alike
    Row("crc-quantize", crc_corrupt(), QUANTIZE, BAD_INPUT, ["X.npy", "CRC"]),
    Row("crc-quantize-last-byte", crc_corrupt(at_end=True), QUANTIZE, BAD_INPUT, ["X.npy", "CRC"]),
    Row("crc-quantize-unread-rows", crc_corrupt(at_end=True), QUANTIZE + ["--calib-samples", "2"], BAD_INPUT,
        ["X.npy", "CRC"]),
    Row("crc-quantize-gptq", crc_corrupt(), QUANTIZE + ["--gptq"], BAD_INPUT, ["X.npy", "CRC"]),
    Row("crc-infer", crc_corrupt(), INFER, BAD_INPUT, ["X.npy", "CRC|corrupt"]),
    Row("crc-eval", crc_corrupt(), EVAL, BAD_INPUT, ["X.npy", "CRC|corrupt"]),
    Row("crc-finetune", crc_corrupt(), FINETUNE, BAD_INPUT, ["X.npy", "CRC|corrupt"]),
    Row("bzip2-infer", compressed_member(zipfile.ZIP_BZIP2), INFER, BAD_INPUT, ["X.npy", "method 12", "bzip2"]),
    Row("bzip2-eval", compressed_member(zipfile.ZIP_BZIP2), EVAL, BAD_INPUT, ["method 12", "bzip2"]),
    Row("bzip2-quantize", compressed_member(zipfile.ZIP_BZIP2), QUANTIZE, BAD_INPUT, ["X.npy", "method 12", "bzip2"]),
    Row("lzma-quantize", compressed_member(zipfile.ZIP_LZMA), QUANTIZE, BAD_INPUT, ["method 14", "lzma"]),
    Row("lzma-infer", compressed_member(zipfile.ZIP_LZMA), INFER, BAD_INPUT, ["method 14", "lzma"]),
    # 7. Attributes and counts against the op schema
    Row("gemm-transB-5-infer", gemm_trans_b(5), INFER, BAD_INPUT, ["Gemm node 'fc'", "'transB' is 5", "0 or 1"]),
    Row("gemm-transB-5-eval", gemm_trans_b(5), EVAL, BAD_INPUT, ["'transB' is 5"]),
    Row("gemm-transB-5-quantize", gemm_trans_b(5), QUANTIZE, BAD_INPUT, ["'transB' is 5"]),
    Row("gemm-transB-5-inspect", gemm_trans_b(5), INSPECT, BAD_INPUT, ["'transB' is 5"]),
    Row("gemm-transB--1-convert", gemm_trans_b(-1), CONVERT_INFER, BAD_INPUT, ["'transB' is -1"]),
    Row("gemm-transA-float", gemm_float_trans_a, INFER, BAD_INPUT, ["'transA'", "must be an int"]),
    Row("maxpool-ceil-mode-7", pool("MaxPool", kernel_shape=[2, 2], ceil_mode=7), INFER, BAD_INPUT,
        ["MaxPool node 'n'", "'ceil_mode' is 7"]),
    Row("maxpool-kernel-0", pool("MaxPool", kernel_shape=[0, 2]), INFER, BAD_INPUT, ["'kernel_shape'", ">= 1"]),
    Row("avgpool-count-include-pad-2", pool("AveragePool", kernel_shape=[2, 2], count_include_pad=2), INFER,
        BAD_INPUT, ["'count_include_pad' is 2"]),
    Row("maxpool-auto-pad-bogus", pool("MaxPool", kernel_shape=[2, 2], auto_pad="BOGUS"), INFER, BAD_INPUT,
        ["'auto_pad' is 'BOGUS'", "SAME_UPPER"]),
    Row("conv-strides-0", conv(strides=[0, 1]), INFER, BAD_INPUT, ["Conv node 'n'", "'strides'", ">= 1"]),
    Row("conv-group-0", conv(group=0), INFER, BAD_INPUT, ["'group' is 0"]),
    Row("conv-dilations-0", conv(dilations=[1, 0]), INFER, BAD_INPUT, ["'dilations'"]),
    Row("conv-pads-negative", conv(pads=[-1, 0, 0, 0]), INFER, BAD_INPUT, ["'pads'", ">= 0"]),
    Row("transpose-perm-minus1", simple("Transpose", perm=[-1, 0]), INFER, BAD_INPUT,
        ["Transpose node 'n'", r"\[-1, 0\]", "not a permutation"]),
    Row("transpose-perm-repeat", simple("Transpose", perm=[0, 0]), INFER, BAD_INPUT, ["not a permutation"]),
    Row("relu-two-inputs", simple("Relu", ("X", "X")), INFER, BAD_INPUT, ["Relu node 'n'", "2 inputs", "takes 1"]),
    Row("relu-two-inputs-inspect", simple("Relu", ("X", "X")), INSPECT, BAD_INPUT, ["2 inputs"]),
    Row("add-three-inputs", simple("Add", ("X", "X", "X")), INFER, BAD_INPUT, ["3 inputs", "takes 2"]),
    Row("softmax-two-outputs", simple("Softmax", outputs=("Y", "Z")), INFER, BAD_INPUT, ["2 outputs", "gives 1"]),
    Row("pad-mode-mirror", simple("Pad", ("X", "pads"), inits=[int64s("pads", [0, 1, 0, 1])], mode="mirror"),
        INFER, BAD_INPUT, ["'mode' is 'mirror'"]),
    Row("depth-to-space-mode", simple("DepthToSpace", x_shape=(1, 4, 2, 2), blocksize=2, mode="XYZ"), INFER,
        BAD_INPUT, ["'mode' is 'XYZ'", "DCR"]),
    Row("topk-largest-2", simple("TopK", ("X", "k"), ("Y", "I"), [int64s("k", [1])], largest=2), INFER,
        BAD_INPUT, ["'largest' is 2"]),
    Row("reducesum-keepdims-3", simple("ReduceSum", keepdims=3), INFER, BAD_INPUT, ["'keepdims' is 3"]),
    Row("gelu-approximate-fast", simple("Gelu", opset=20, approximate="fast"), INFER, BAD_INPUT,
        ["'approximate' is 'fast'"]),
    Row("input-elem-type-0-infer", input_elem_type_0, INFER, BAD_INPUT, ["'X'", "element type 0"]),
    Row("input-elem-type-0-inspect", input_elem_type_0, INSPECT, BAD_INPUT, ["'X'", "element type 0"]),
    Row("declared-output-shape", declared_output([2, 7]), INFER, BAD_INPUT,
        ["output 'Y'", r"declared float\[2, 7\]", r"\[2, ?4\]", "--lenient"]),
    Row("declared-output-dtype", declared_output(["N", 4], TensorProto.INT64), INFER, BAD_INPUT,
        ["output 'Y'", "int64", "float"]),
    Row("declared-output-rank-eval", declared_output([2]), EVAL, BAD_INPUT, ["output 'Y'"]),
    # 7. eval: samples and labels
    Row("eval-zero-samples", zero_samples, EVAL, BAD_INPUT, ["no samples"]),
    Row("eval-label-int64-max", label(2**63 - 1), EVAL, BAD_INPUT, ["label 9223372036854775807 of sample 5"]),
    Row("eval-label-uint64-max", label(2**64 - 1, np.uint64), EVAL, BAD_INPUT, ["label 18446744073709551615"]),
    Row("eval-label-2^53+1", label(2**53 + 1), EVAL, BAD_INPUT, ["label 9007199254740993 "]),
    Row("eval-label-negative", label(-1, np.int32), EVAL, BAD_INPUT, ["label -1 of sample 5"]),
    # 7. Control bytes in model-supplied names are escaped
    Row("control-bytes-node-name", evil_node, INFER, BAD_INPUT, [re.escape(r"evil\x1b[2J\x07name")]),
    Row("control-bytes-node-name-inspect", evil_node, INSPECT, BAD_INPUT, [re.escape(r"evil\x1b[2J\x07name")]),
    Row("control-bytes-input-name", evil_input, INFER, BAD_INPUT, [re.escape(r"evil\x1b[2J\x07name")]),
]


def fill(arg, files, out_dir):
    text = str(arg)
    for key, path in files.items():
        text = text.replace("{" + key + "}", str(path))
    return text.replace("{out}", str(out_dir))


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(tmp_path, row):
    folder, out_dir = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out_dir.mkdir()
    files = row.build(folder)
    args = [fill(a, files, out_dir) for a in row.args]
    rc, out, err = expect(args, row.rc, row.needles, list(files.values()), [folder, out_dir])
    raw = [c for c in err if ord(c) < 0x20 and c not in "\n\t"]
    assert not raw, f"stderr carries raw control bytes {raw!r}:\n{err!r}"


def test_table_size():
    assert len(ROWS) >= 60 and len({r.id for r in ROWS}) == len(ROWS)


# ----------------------------------------------------------------------------------------------
# The same inputs where they are fine: the checks do not refuse what is valid
# ----------------------------------------------------------------------------------------------

def test_lenient_keeps_the_computed_output(tmp_path):
    files = declared_output([2, 7])(tmp_path)
    rc, _, err = run_scalec("infer", files["model"], "--data", files["data"], "-o", tmp_path / "o.npz", "--lenient")
    assert rc == OK, err
    assert np.load(tmp_path / "o.npz")["Y"].shape == (2, 4)


@pytest.mark.parametrize("limit", ["96", "1k", "1G"])
def test_max_tensor_bytes_at_or_above_the_need_runs(tmp_path, limit):
    files = mlp_files(tmp_path)  # Y is [8, 3] float: 96 bytes
    rc, _, err = run_scalec("infer", files["model"], "--data", files["data"], "-o", tmp_path / "o.npz",
                            "--max-tensor-bytes", limit)
    assert rc == OK, err


def test_uncorrupted_stream_quantizes(tmp_path):
    """The CRC check passes on the same file before the flip, also when only some rows are read."""
    files = mlp_files(tmp_path, samples=64)
    for extra in ([], ["--calib-samples", "2"]):
        rc, _, err = run_scalec("quantize", files["model"], "--calib", files["data"], "-o", tmp_path / "q.onnx", *extra)
        assert rc == OK, err


def test_valid_attributes_run(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    valid = [mlp_files(tmp_path / "a", trans_b=0), pool("MaxPool", kernel_shape=[2, 2], ceil_mode=1)(tmp_path / "b")]
    for f in valid:
        rc, _, err = run_scalec("infer", f["model"], "--data", f["data"], "-o", tmp_path / "o.npz")
        assert rc == OK, err


def test_eval_exact_labels_in_range(tmp_path):
    """Labels of every integer type are read exactly: accuracy counts them as the model scores."""
    for dtype in (np.int64, np.uint64, np.int32, np.uint8):
        files = mlp_files(tmp_path, labels=(np.arange(8) % 3).astype(dtype))
        rc, out, err = run_scalec("eval", files["model"], "--data", files["data"])
        assert rc == OK, err
        assert "of 8)" in out
