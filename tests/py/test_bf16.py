"""quantize --format bf16 (issue 22 item 6): bfloat16 weight storage with float32 compute, which every
runtime runs; checked in ONNX Runtime and in scalec's own runtime against the float32 model."""
from __future__ import annotations

import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from conftest import REPO_ROOT, run_scalec

MODELS = REPO_ROOT / "test_models"


def run(path, feeds):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def bfloat16_round(a):
    """float32 -> bfloat16 -> float32, rounding to nearest even (what the stored weights hold)."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32)


def test_lenet_with_bfloat16_weights_halves_and_agrees_with_float32(tmp_path):
    shutil.copy(MODELS / "lenet_digits.onnx", tmp_path / "lenet.onnx")
    rc, out, err = run_scalec("quantize", tmp_path / "lenet.onnx", "--format", "bf16", "--val", MODELS / "digits_val.npz",
                              "--max-accuracy-drop", "0.5", "--max-size", "32000")
    assert rc == 0, err
    path = tmp_path / "lenet.bf16.onnx"  # default name for the format
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert path.stat().st_size < 0.55 * (MODELS / "lenet_digits.onnx").stat().st_size
    src = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(MODELS / "lenet_digits.onnx")).graph.initializer}
    stored = {t.name: t for t in m.graph.initializer}
    casts = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "Cast"}
    # every weight of 16 elements or more is bfloat16 behind a Cast writing its own name; the rest float32
    for name, w in src.items():
        if w.size >= 16:
            t = stored[casts[name]]
            assert t.data_type == TensorProto.BFLOAT16 and name not in stored
            held = (np.frombuffer(t.raw_data, np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(w.shape)
            assert np.array_equal(held, bfloat16_round(w)), name
        else:
            assert stored[name].data_type == TensorProto.FLOAT
    assert {o.type.tensor_type.elem_type for o in list(m.graph.input) + list(m.graph.output)} == {TensorProto.FLOAT}
    d = np.load(MODELS / "digits_val.npz")
    ref, bf = run(MODELS / "lenet_digits.onnx", {"input": d["input"]})[0], run(path, {"input": d["input"]})[0]
    assert np.abs(bf - ref).max() < 0.01 * np.abs(ref).max()
    assert (bf.argmax(1) == ref.argmax(1)).mean() >= 0.99
    assert "gate max-accuracy-drop" in out and "passed" in out and "7 of 8 float32 weight tensors stored in bfloat16" in out
    # scalec's runtime reads it back as the float32 model it computes
    rc, out, err = run_scalec("eval", path, "--data", MODELS / "digits_val.npz")
    assert rc == 0, err


def test_normalization_parameters_and_small_tensors_stay_float32(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])
    rng = np.random.default_rng(0)
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], rng.normal(size=108).astype(np.float32)),
             helper.make_tensor("g", TensorProto.FLOAT, [32], rng.normal(size=32).astype(np.float32)),
             helper.make_tensor("b", TensorProto.FLOAT, [32], rng.normal(size=32).astype(np.float32)),
             helper.make_tensor("lo", TensorProto.FLOAT, [], np.array([0.1], np.float32))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["c", "shape"], ["r"]),
             helper.make_node("LayerNormalization", ["r", "g", "b"], ["n"], axis=-1),
             helper.make_node("Reshape", ["n", "back"], ["m"]),
             helper.make_node("Clip", ["m", "lo"], ["y"])]
    inits += [helper.make_tensor("shape", TensorProto.INT64, [3], [0, 4, 64]), helper.make_tensor("back", TensorProto.INT64, [4], [0, 4, 8, 8])]
    nodes[2] = helper.make_node("LayerNormalization", ["r", "g2", "b2"], ["n"], axis=-1)
    inits += [helper.make_tensor("g2", TensorProto.FLOAT, [64], rng.normal(size=64).astype(np.float32)),
              helper.make_tensor("b2", TensorProto.FLOAT, [64], rng.normal(size=64).astype(np.float32))]
    src = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)]), str(src))
    rc, out, err = run_scalec("quantize", src, "--format", "bf16", "-o", tmp_path / "b.onnx")
    assert rc == 0, err
    m = onnx.load(str(tmp_path / "b.onnx"))
    onnx.checker.check_model(m, full_check=True)
    types = {t.name: t.data_type for t in m.graph.initializer}
    assert types["w_bfloat16"] == TensorProto.BFLOAT16 and "w" not in types
    assert types["g2"] == types["b2"] == types["lo"] == TensorProto.FLOAT  # LayerNormalization's, and a scalar
    feeds = {"x": rng.normal(size=(2, 3, 8, 8)).astype(np.float32)}
    ref, bf = run(src, feeds)[0], run(tmp_path / "b.onnx", feeds)[0]
    assert np.abs(bf - ref).max() < 0.05


def test_nothing_to_store_is_refused_and_quantized_models_too(tmp_path):
    rc, out, err = run_scalec("quantize", MODELS / "lenet_digits.onnx", "--calib", MODELS / "digits_val.npz", "-o", tmp_path / "q.onnx")
    assert rc == 0, err
    rc, out, err = run_scalec("quantize", tmp_path / "q.onnx", "--format", "bf16", "-o", tmp_path / "b.onnx")
    assert rc == 2 and "already quantized" in err
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    g = helper.make_graph([helper.make_node("Add", ["x", "c"], ["y"])], "g", [x], [y],
                          [helper.make_tensor("c", TensorProto.FLOAT, [4], np.ones(4, np.float32))])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "s.onnx"))
    rc, out, err = run_scalec("quantize", tmp_path / "s.onnx", "--format", "bf16", "-o", tmp_path / "b.onnx")
    assert rc == 2 and "none of the model's 1 float32 weight tensors" in err
    assert not (tmp_path / "b.onnx").exists()


def test_an_old_opset_model_is_upgraded_for_the_bfloat16_cast(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])
    w = np.random.default_rng(3).normal(size=(32, 8)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [onnx.numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)]), str(tmp_path / "o.onnx"))
    rc, out, err = run_scalec("quantize", tmp_path / "o.onnx", "--format", "bf16", "-o", tmp_path / "b.onnx")
    assert rc == 0, err
    m = onnx.load(str(tmp_path / "b.onnx"))
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [13]
    feeds = {"x": np.ones((2, 32), np.float32)}
    assert np.allclose(run(tmp_path / "b.onnx", feeds)[0], feeds["x"] @ bfloat16_round(w), atol=1e-4)
