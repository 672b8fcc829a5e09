"""`scalec quantize --target-drop P`: mixed precision on the bundled LeNet (int2/int3 -> int8 -> float
until the top-1 drop on --val is within P), every drop checked again in ONNX Runtime on the written
model against the float model; the unreachable budget (exit 3, outputs written); the agreement
measure without labels, also for the --max-accuracy-drop gate; and the refusals."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from conftest import CRASH_MARKERS, TEST_MODELS_DIR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
VAL = TEST_MODELS_DIR / "digits_val.npz"
LAYERS = sorted(n.name for n in onnx.load(LENET).graph.node if n.op_type in ("Conv", "Gemm"))


def top1(model, x):
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0].argmax(axis=1)


def ort_drop(model, labels=True):
    """Points lost in ONNX Runtime against the float LeNet: accuracy with labels, else agreement."""
    d = np.load(VAL)
    ref, got = top1(LENET, d["input"]), top1(model, d["input"])
    if labels:
        return 100.0 * ((ref == d["labels"]).mean() - (got == d["labels"]).mean())
    return 100.0 * (1.0 - (ref == got).mean())


def quantize(scalec, tmp_path, *args, name="out", rc_expected=0, val=VAL):
    out, report = tmp_path / f"{name}.onnx", tmp_path / f"{name}.json"
    rc, stdout, err = scalec("quantize", LENET, "--calib", VAL, "--val", val, "-o", out, "--report", report, *args)
    assert not any(m in err for m in CRASH_MARKERS), err
    assert rc == rc_expected, err
    return out, json.loads(report.read_text()), stdout, err


def weight_bits(model):
    """Per layer: the bits its weight DequantizeLinear holds (the widest integer used), or "float"."""
    g = onnx.load(model).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    dq = {n.output[0]: n for n in g.node if n.op_type == "DequantizeLinear"}
    bits = {}
    for n in g.node:
        if n.op_type not in ("Conv", "Gemm"):
            continue
        w = dq.get(n.input[1])
        if w is None:
            bits[n.name] = "float"
            continue
        q = inits[w.input[0]].astype(np.int64)
        bits[n.name] = int(max(q.max(), -q.min() - 1)).bit_length() + 1  # signed bits the values need
    return bits


def test_generous_target_is_plain_quantize(scalec, tmp_path):
    out, j, stdout, _ = quantize(scalec, tmp_path, "--bits", "3", "--target-drop", "100")
    plain = tmp_path / "plain.onnx"
    rc, _, err = scalec("quantize", LENET, "--calib", VAL, "--bits", "3", "-o", plain)
    assert rc == 0, err
    assert out.read_bytes() == plain.read_bytes()
    mp = j["mixed_precision"]
    assert mp["evaluations"] == 1 and mp["promotions"] == 0 and mp["reached"] and mp["measure"] == "accuracy"
    assert sorted(l["node"] for l in mp["layers"]) == LAYERS and {l["bits"] for l in mp["layers"]} == {3}
    assert "layer-bits" not in j["pipeline"]
    assert abs(mp["measured_drop"] - ort_drop(out)) < 0.6  # one sample is 0.28 points


def test_tight_target_promotes_the_most_sensitive_layers(scalec, tmp_path):
    out, j, stdout, _ = quantize(scalec, tmp_path, "--bits", "2", "--target-drop", "1")
    mp = j["mixed_precision"]
    assert mp["trace"][0]["promotions"] == 0 and mp["trace"][0]["drop"] > 20  # all at 2 bits: 45.6 points measured
    assert mp["reached"] and mp["promotions"] > 0 and mp["measured_drop"] <= 1
    assert 1 < mp["evaluations"] <= 6  # 1, 2, 4, then bisection: not one run per prefix
    chosen = {l["node"]: l["bits"] for l in mp["layers"]}
    assert sorted(chosen) == LAYERS and 8 in chosen.values()
    assert ort_drop(out) <= 1.0
    # The written weights hold what the report says: 2-bit integers, 7-bit (int8 with --reduce-range), float.
    want = {node: {2: 2, 8: 7}.get(b, b) for node, b in chosen.items()}
    assert weight_bits(out) == want
    for node, b in chosen.items():
        assert any(line.split() == [node, "float" if b == "float" else f"int{b}"] for line in stdout.splitlines())
    # The pass text names the bits per layer and reproduces the model exactly.
    assert "layer-bits=" in j["pipeline"]
    again = tmp_path / "again.onnx"
    rc, _, err = scalec("run", LENET, "--passes", j["pipeline"], "--calib", VAL, "-o", again)
    assert rc == 0, err
    assert again.read_bytes() == out.read_bytes()


def test_qoperator_target(scalec, tmp_path):
    out, j, _, _ = quantize(scalec, tmp_path, "--bits", "2", "--format", "qoperator", "--target-drop", "1", name="qop")
    mp = j["mixed_precision"]
    assert mp["reached"] and mp["promotions"] > 0 and j["format"] == "qoperator"
    assert any(n.op_type == "QLinearConv" for n in onnx.load(out).graph.node)
    assert ort_drop(out) <= 1.0 + 0.6  # ORT's integer kernels may round one sample differently


def test_unreachable_target_exits_3_with_the_best_assignment_written(scalec, tmp_path):
    before = hashlib.sha256(LENET.read_bytes()).hexdigest()
    out, j, _, err = quantize(scalec, tmp_path, "--bits", "2", "--target-drop=-5", rc_expected=3)
    mp = j["mixed_precision"]
    assert not mp["reached"] and "--target-drop -5.00" in err
    assert mp["measured_drop"] == min(t["drop"] for t in mp["trace"])
    bits = [l["bits"] for l in mp["layers"]]
    assert "float" in bits and any(b != "float" for b in bits)  # never an all-float model
    assert abs(ort_drop(out) - mp["measured_drop"]) < 0.6
    assert hashlib.sha256(LENET.read_bytes()).hexdigest() == before


def test_without_labels_the_drop_is_agreement_lost(scalec, tmp_path):
    val = tmp_path / "x.npz"
    np.savez(val, input=np.load(VAL)["input"])
    out, j, stdout, _ = quantize(scalec, tmp_path, "--bits", "2", "--target-drop", "2", val=val)
    mp = j["mixed_precision"]
    assert mp["measure"] == "agreement" and mp["reached"] and mp["trace"][0]["drop"] > 2
    assert ort_drop(out, labels=False) <= 2.0
    assert "agreement lost" in stdout


@pytest.mark.parametrize("labels", [True, False])
def test_accuracy_gate_falls_back_to_agreement_without_labels(scalec, tmp_path, labels):
    val = VAL
    if not labels:
        val = tmp_path / "x.npz"
        np.savez(val, input=np.load(VAL)["input"])
    out, j, stdout, _ = quantize(scalec, tmp_path, "--bits", "3", "--max-accuracy-drop", "100", val=val)
    gate = j["gates"][0]
    assert gate["gate"] == "max-accuracy-drop" and gate["passed"]
    assert gate["measure"] == ("accuracy" if labels else "agreement")
    assert abs(gate["measured"] - ort_drop(out, labels)) < 0.6
    if not labels:
        assert gate["measured"] > 0 and "agreement lost" in stdout


@pytest.mark.parametrize("args, message", [
    (["--format", "dynamic"], "qdq and qoperator"),
    (["--format", "weight-only"], "qdq and qoperator"),
    (["--gptq"], "--gptq"),
])
def test_target_drop_refuses_other_formats(scalec, tmp_path, args, message):
    out = tmp_path / "o.onnx"
    rc, _, err = scalec("quantize", LENET, "--calib", VAL, "--val", VAL, "--target-drop", "1", "-o", out, *args)
    assert rc == 1 and message in err and not out.exists()


def test_target_drop_needs_val_and_calib(scalec, tmp_path):
    out = tmp_path / "o.onnx"
    rc, _, err = scalec("quantize", LENET, "--calib", VAL, "--target-drop", "1", "-o", out)
    assert rc == 1 and "--val" in err and not out.exists()
    rc, _, err = scalec("quantize", LENET, "--val", VAL, "--target-drop", "1", "-o", out)
    assert rc == 1 and "qdq and qoperator" in err and not out.exists()


def test_a_pipeline_stage_missing_its_target_exits_3_after_writing(scalec, tmp_path):
    out, report = tmp_path / "run.onnx", tmp_path / "run.json"
    rc, _, err = scalec("run", LENET, "--passes", "quantize<bits=2;target-drop=-5>", "--calib", VAL, "--val", VAL,
                        "-o", out, "--report", report)
    assert rc == 3 and "stage 1 (quantize): --target-drop -5.00" in err, err
    stage = json.loads(report.read_text())["stages"][0]
    assert not stage["mixed_precision"]["reached"] and "exclude-nodes=" in stage["pipeline"]
    assert abs(ort_drop(out) - stage["mixed_precision"]["measured_drop"]) < 0.6
