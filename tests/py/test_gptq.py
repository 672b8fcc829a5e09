"""`scalec quantize --gptq` (weight-only int4; int8 QDQ, QOperator, dynamic): the model loads in ONNX Runtime, agrees
with scalec's executor, and its output error against fp32 is below round-to-nearest's; the report
lists per-layer errors; misuse gets exit code 1."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest

from conftest import TEST_MODELS_DIR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"


def ort_logits(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def test_gptq_int4_beats_round_to_nearest_in_onnxruntime(scalec, tmp_path):
    x = np.load(DIGITS_VAL)["input"]
    ref = ort_logits(LENET, x)
    errors = {}
    for name, extra in (("rtn", []), ("gptq", ["--gptq", "--calib", DIGITS_TRAIN]),
                        ("gptq_act_order", ["--gptq", "--act-order", "--calib", DIGITS_TRAIN])):
        out, report = tmp_path / f"{name}.onnx", tmp_path / f"{name}.json"
        rc, stdout, err = scalec("quantize", LENET, "--format", "weight-only", "--bits", "4", "--block", "32",
                                 "-o", out, "--report", report, *extra)
        assert rc == 0, err
        y = ort_logits(out, x)
        errors[name] = float(((y - ref) ** 2).sum() / (ref ** 2).sum())
        j = json.loads(report.read_text())
        if name != "rtn":
            assert "gptq:" in stdout
            layers = j["gptq"]["layers"]
            assert len(layers) == 4 and j["gptq"]["samples"] == 1437
            assert j["gptq"]["calibration_passes"] == 1  # all four Hessians fit the default 1,024 MB
            assert all(l["gptq_error"] <= l["rtn_error"] for l in layers)
            assert sum(l["gptq_error"] for l in layers) < 0.5 * sum(l["rtn_error"] for l in layers)
            rc, _, err = scalec("infer", out, "--data", DIGITS_VAL, "-o", tmp_path / "y.npz")
            assert rc == 0, err
            ours = np.load(tmp_path / "y.npz")["logits"]
            assert np.abs(ours - y).max() <= 1e-4 * np.abs(y).max()
    assert errors["gptq"] < 0.5 * errors["rtn"], errors
    assert errors["gptq_act_order"] < 0.5 * errors["rtn"], errors


@pytest.mark.parametrize("fmt", ["qdq", "qoperator", "dynamic"])
def test_gptq_int8_formats_beat_round_to_nearest_in_onnxruntime(scalec, tmp_path, fmt):
    # The integer formats' weights are 7-bit (--reduce-range default); GPTQ picks them.
    x = np.load(DIGITS_VAL)["input"]
    ref = ort_logits(LENET, x)
    errors, weights = {}, {}
    for name, extra in (("rtn", ["--no-bias-correction"]), ("gptq", ["--gptq", "--no-bias-correction"]),
                        ("gptq_bc", ["--gptq", "--bias-correction"])):
        out, report = tmp_path / f"{name}.onnx", tmp_path / f"{name}.json"
        rc, stdout, err = scalec("quantize", LENET, "--format", fmt, "--calib", DIGITS_TRAIN, "-o", out,
                                 "--report", report, *extra)
        assert rc == 0, err
        j = json.loads(report.read_text())
        assert j["format"] == fmt and j["weight_bits"] == 7
        y = ort_logits(out, x)
        errors[name] = float(((y - ref) ** 2).sum() / (ref ** 2).sum())
        # One batch of all 360, as ONNX Runtime ran it: dynamic scales depend on the batch.
        rc, _, err = scalec("infer", out, "--data", DIGITS_VAL, "-o", tmp_path / "y.npz", "--batch", "360")
        assert rc == 0, err
        ours = np.load(tmp_path / "y.npz")["logits"]
        # dynamic: the two runtimes' float arithmetic for DynamicQuantizeLinear's scale may round an
        # activation to the neighbouring level (one step of 255 over the batch's range).
        tol = 3e-3 if fmt == "dynamic" else 1e-4
        assert np.abs(ours - y).max() <= tol * np.abs(y).max()
        assert (ours.argmax(1) == y.argmax(1)).all()
        m = onnx.load(str(out))
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
        weights[name] = {k: v for k, v in inits.items() if v.dtype == np.int8 and v.ndim >= 2}
        assert weights[name] and all(np.abs(v).max() <= 63 for v in weights[name].values())
        if name != "rtn":
            assert "gptq:" in stdout and len(j["gptq"]["layers"]) == 4
            assert any(l["gptq_error"] < l["rtn_error"] for l in j["gptq"]["layers"])
    # GPTQ changed the stored integers (not only the report), and lowered the end-to-end error.
    assert any((weights["gptq"][k] != weights["rtn"][k]).any() for k in weights["rtn"])
    assert errors["gptq"] < errors["rtn"], errors
    assert errors["gptq_bc"] < errors["rtn"], errors


def test_gptq_misuse_is_a_usage_error(scalec, tmp_path):
    out = tmp_path / "o.onnx"
    rc, _, err = scalec("quantize", LENET, "--format", "weight-only", "--gptq", "-o", out)
    assert rc == 1 and "--calib" in err
    rc, _, err = scalec("quantize", LENET, "--format", "weight-only", "--act-order", "-o", out)
    assert rc == 1 and "--gptq" in err
    rc, _, err = scalec("quantize", LENET, "--gptq", "--gptq-memory", "0", "--calib", DIGITS_TRAIN, "-o", out)
    assert rc == 1 and "--gptq-memory" in err
