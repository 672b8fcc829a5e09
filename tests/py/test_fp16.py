"""quantize --format fp16 (issue 22 item 6): float16 weights and compute, float32 inputs and outputs,
normalizations and Resize kept in float32; checked in ONNX Runtime against the float32 model."""
from __future__ import annotations

import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from conftest import REPO_ROOT, run_scalec

MODELS = REPO_ROOT / "test_models"


def run(path, feeds):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_lenet_in_float16_agrees_with_float32(tmp_path):
    shutil.copy(MODELS / "lenet_digits.onnx", tmp_path / "lenet.onnx")
    rc, out, err = run_scalec("quantize", tmp_path / "lenet.onnx", "--format", "fp16", "--max-size", "40000")
    assert rc == 0, err
    path = tmp_path / "lenet.fp16.onnx"  # default name for the format
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert {i.type.tensor_type.elem_type for i in list(m.graph.input) + list(m.graph.output)} == {TensorProto.FLOAT}
    assert {t.data_type for t in m.graph.initializer} == {TensorProto.FLOAT16}
    assert path.stat().st_size < 0.55 * (MODELS / "lenet_digits.onnx").stat().st_size
    d = np.load(MODELS / "digits_val.npz")
    ref, half = run(MODELS / "lenet_digits.onnx", {"input": d["input"]})[0], run(path, {"input": d["input"]})[0]
    assert half.dtype == np.float32
    assert np.abs(half - ref).max() < 0.05 * np.abs(ref).max()
    assert (half.argmax(1) == ref.argmax(1)).mean() >= 0.99
    assert "gate max-size" in out and "convert-float: 8 weights" in out


def test_normalization_and_resize_run_in_float32_between_casts(tmp_path):
    """A model someone else might write: Conv -> LayerNormalization -> Resize with float32 scales."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 16, 16])
    rng = np.random.default_rng(0)
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], rng.normal(size=108).astype(np.float32)),
             helper.make_tensor("g", TensorProto.FLOAT, [8], np.ones(8, np.float32)),
             helper.make_tensor("b", TensorProto.FLOAT, [8], np.zeros(8, np.float32)),
             helper.make_tensor("scales", TensorProto.FLOAT, [4], np.array([1, 1, 2, 2], np.float32))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("LayerNormalization", ["c", "g", "b"], ["n"], axis=-1),
             helper.make_node("Resize", ["n", "", "scales"], ["y"], mode="nearest")]
    src = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)]), str(src))
    rc, out, err = run_scalec("quantize", src, "--format", "fp16", "-o", tmp_path / "h.onnx")
    assert rc == 0, err
    assert "kept in float32: LayerNormalization x1, Resize x1" in out
    m = onnx.load(str(tmp_path / "h.onnx"))
    onnx.checker.check_model(m, full_check=True)
    types = {t.name: t.data_type for t in m.graph.initializer}
    assert types["w"] == TensorProto.FLOAT16 and types["scales"] == TensorProto.FLOAT  # only Resize reads scales
    feeds = {"x": rng.normal(size=(2, 3, 8, 8)).astype(np.float32)}
    ref, half = run(src, feeds)[0], run(tmp_path / "h.onnx", feeds)[0]
    assert np.abs(half - ref).max() < 0.02


def test_gates_that_need_scalecs_runtime_are_refused_for_fp16(tmp_path):
    rc, out, err = run_scalec("quantize", MODELS / "lenet_digits.onnx", "--format", "fp16", "--val", MODELS / "digits_val.npz",
                              "--max-accuracy-drop", "1", "-o", tmp_path / "h.onnx")
    assert rc == 1 and "float16" in err
    assert not (tmp_path / "h.onnx").exists()
    rc, out, err = run_scalec("quantize", MODELS / "lenet_digits.onnx", "--format", "fp16", "--gptq", "--calib",
                              MODELS / "digits_val.npz", "-o", tmp_path / "h.onnx")
    assert rc == 1 and "--format fp16" in err
    rc, out, err = run_scalec("quantize", MODELS / "lenet_digits.onnx", "--calib", MODELS / "digits_val.npz", "-o", tmp_path / "q.onnx")
    assert rc == 0, err
    rc, out, err = run_scalec("quantize", tmp_path / "q.onnx", "--format", "fp16", "-o", tmp_path / "h.onnx")
    assert rc == 2 and "already quantized" in err


def test_a_model_without_float32_is_refused_not_passed_through(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.INT64, ["N"])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, ["N"])
    g = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "i.onnx"))
    rc, out, err = run_scalec("quantize", tmp_path / "i.onnx", "--format", "fp16", "-o", tmp_path / "h.onnx")
    assert rc == 2 and "nothing to convert" in err
    assert not (tmp_path / "h.onnx").exists()


@pytest.mark.parametrize("model", ["transformer_block.onnx", "mobilenet_block.onnx", "resnet_bn.onnx"])
def test_bundled_models_convert_and_run_in_onnxruntime(tmp_path, model):
    rc, out, err = run_scalec("quantize", MODELS / model, "--format", "fp16", "-o", tmp_path / "h.onnx")
    assert rc == 0, err
    m = onnx.load(str(tmp_path / "h.onnx"))
    onnx.checker.check_model(m, full_check=True)
    rng = np.random.default_rng(1)
    s = ort.InferenceSession(str(MODELS / model), providers=["CPUExecutionProvider"])
    feeds = {}
    for i in s.get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in i.shape]
        feeds[i.name] = (rng.integers(0, 8, size=shape) if i.type == "tensor(int64)"
                         else rng.normal(size=shape).astype(np.float32))
    ref, half = s.run(None, feeds)[0], run(tmp_path / "h.onnx", feeds)[0]
    assert np.abs(half - ref).max() <= 0.02 * max(1.0, np.abs(ref).max()), np.abs(half - ref).max()
