"""Pruning recurrent layers: `scalec prune` zeroes LSTM/GRU/RNN W and R, unstructured at the requested
sparsity in every gate block of every direction, or N:M along the input axis; the node counts as one
layer with W + R in the coverage, and the pruned models still run in ONNX Runtime as in scalec.
"""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from conftest import REPO_ROOT, TEST_MODELS_DIR

REFERENCE = REPO_ROOT / "tests" / "reference"
MODELS = {"lstm": REFERENCE / "lstm_digits_init.onnx", "gru": REFERENCE / "gru_digits_init.onnx"}
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent_weights(path):
    """(op, W, R) of the model's recurrent node."""
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    node = next(n for n in m.graph.node if n.op_type in GATES)
    return node.op_type, inits[node.input[1]], inits[node.input[2]]


def gate_blocks(op, w):
    """Every [H, C] block of W or R: one gate of one direction."""
    h = w.shape[1] // GATES[op]
    return [w[d, g * h:(g + 1) * h] for d in range(w.shape[0]) for g in range(GATES[op])]


def runs_alike(scalec, model, tmp_path):
    x = np.load(DIGITS_VAL)["input"]
    out = tmp_path / "out.npz"
    rc, _, err = scalec("infer", model, "--data", DIGITS_VAL, "-o", out)
    assert rc == 0, err
    got = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(np.load(out)["logits"], got, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("sparsity", [0.3, 0.75])
def test_unstructured_meets_the_sparsity_in_every_gate_block(scalec, name, sparsity, tmp_path):
    out, report = tmp_path / "p.onnx", tmp_path / "p.json"
    rc, stdout, err = scalec("prune", MODELS[name], "--sparsity", sparsity, "--prune-first", "-o", out,
                             "--report", report)
    assert rc == 0, err
    op, w, r = recurrent_weights(out)
    for t in (w, r):
        for block in gate_blocks(op, t):
            assert abs((block == 0).mean() - sparsity) <= 0.5 / block.size + 1e-12, (op, (block == 0).mean())
    _, w0, r0 = recurrent_weights(MODELS[name])
    kept = (w != 0)
    np.testing.assert_array_equal(w[kept], w0[kept])  # survivors unchanged
    c = json.loads(report.read_text())["coverage"]
    # The recurrent node is one layer (W + R); the Linear is the last layer, kept dense.
    assert (c["layers_changed"], c["layers_total"], c["params_changed"]) == (1, 2, w.size + r.size), c
    assert c["left"][0]["names"] == ["/fc/Gemm"], c
    share = 100 * (w.size + r.size) / c["params_total"]
    assert f"pruned 1 of 2 layers, {share:.1f}% of weights" in stdout, stdout
    runs_alike(scalec, out, tmp_path)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_two_of_four_along_the_input_axis(scalec, name, tmp_path):
    out = tmp_path / "p.onnx"
    rc, stdout, err = scalec("prune", MODELS[name], "--method", "2:4", "--prune-first", "--prune-last", "-o", out)
    assert rc == 0, err
    assert "pruned 2 of 2 layers" in stdout, stdout
    op, w, r = recurrent_weights(out)
    for t in (w, r):
        groups = t.reshape(t.shape[0], t.shape[1], -1, 4)
        assert np.all((groups == 0).sum(axis=-1) >= 2), op
        assert (t == 0).mean() == 0.5
    runs_alike(scalec, out, tmp_path)


def test_global_threshold_pools_recurrent_weights(scalec, tmp_path):
    """One threshold over W, R and the Linear: 60% of their 1,696 weights zeroed in all."""
    out, report = tmp_path / "p.onnx", tmp_path / "p.json"
    rc, _, err = scalec("prune", MODELS["lstm"], "--sparsity", 0.6, "--global", "--prune-first", "--prune-last",
                        "-o", out, "--report", report)
    assert rc == 0, err
    _, w, r = recurrent_weights(out)
    fc = next(numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer if t.name == "fc.weight")
    zeros = sum(int((t == 0).sum()) for t in (w, r, fc))
    assert zeros == round(0.6 * (w.size + r.size + fc.size))
    runs_alike(scalec, out, tmp_path)


def test_recovery_training_keeps_the_gate_masks_and_the_accuracy(scalec, tmp_path):
    """The LSTM trained 15 epochs (95.56%), pruned to 50% with 3 epochs of recovery: every gate block at
    50% and top-1 within a point of the dense model's (measured: 95.56% again)."""
    trained, out, report = tmp_path / "t.onnx", tmp_path / "p.onnx", tmp_path / "p.json"
    rc, _, err = scalec("finetune", MODELS["lstm"], "--data", DIGITS_TRAIN, "--epochs", 15, "--lr", 0.1,
                        "--momentum", 0.9, "--seed", 1, "-o", trained)
    assert rc == 0, err
    rc, _, err = scalec("prune", trained, "--sparsity", 0.5, "--prune-first", "--prune-last", "--data", DIGITS_TRAIN,
                        "--val", DIGITS_VAL, "--epochs", 3, "--lr", 0.05, "--momentum", 0.9, "-o", out, "--report", report)
    assert rc == 0, err
    op, w, r = recurrent_weights(out)
    _, w0, _ = recurrent_weights(trained)
    assert not np.array_equal(w[w != 0], w0[w != 0])  # the survivors trained
    for t in (w, r):
        assert all((block == 0).mean() == 0.5 for block in gate_blocks(op, t))
    val = np.load(DIGITS_VAL)
    top1 = {}
    for tag, model in (("dense", trained), ("pruned", out)):
        y = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"input": val["input"]})[0]
        top1[tag] = float((y.argmax(axis=1) == val["labels"]).mean())
    assert top1["pruned"] >= top1["dense"] - 0.01, top1
