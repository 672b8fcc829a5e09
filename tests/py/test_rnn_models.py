"""PyTorch-exported recurrent classifiers through the command line: nn.LSTM and a bidirectional
nn.GRU reading digits as 8 rows of 8 features (tests/reference/make_rnn_reference.py made them).

`scalec infer` equals ONNX Runtime (1e-4), `scalec eval` agrees with ONNX Runtime's predictions,
`scalec finetune` replays PyTorch's first 20 SGD steps (loss and weights within 1e-4) and trains
both models from random weights, and `prune` counts the recurrent weights as one layer of the model.
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
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"


def ort_logits(model, x):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def weights(path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_infer_matches_onnx_runtime(scalec, name, tmp_path):
    out = tmp_path / "out.npz"
    # Default batch 32: 360 rows in 12 runs, the last one short (the exported initial states follow N).
    rc, _, err = scalec("infer", MODELS[name], "--data", DIGITS_VAL, "-o", out)
    assert rc == 0, err
    x = np.load(DIGITS_VAL)["input"]
    got = np.load(out)["logits"]
    assert got.shape == (len(x), 10)
    np.testing.assert_allclose(got, ort_logits(MODELS[name], x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_finetune_trains_from_random_weights_and_eval_agrees_with_onnx_runtime(scalec, name, tmp_path):
    out, report = tmp_path / f"{name}.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("finetune", MODELS[name], "--data", DIGITS_TRAIN, "--val", DIGITS_VAL, "--epochs", 5,
                             "--lr", 0.1, "--momentum", 0.9, "--seed", 1, "-o", out, "--report", report)
    assert rc == 0, err
    assert "trained 5 of 5 weight tensors" in stdout, stdout
    epochs = json.loads(report.read_text())["epochs"]
    assert epochs[0]["val_accuracy"] < 0.6 and epochs[-1]["val_accuracy"] >= 0.85, epochs
    # The written model: the LSTM/GRU node kept, its weights changed, and ONNX Runtime predicts as scalec measured.
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count(name.upper()) == 1
    before, after = weights(MODELS[name]), weights(out)
    rnn_weights = [k for k in before if k.startswith(f"onnx::{name.upper()}")]
    assert len(rnn_weights) == 3 and all(not np.allclose(before[k], after[k]) for k in rnn_weights)
    rc, _, err = scalec("eval", out, "--data", DIGITS_VAL, "--report", tmp_path / "e.json")
    assert rc == 0, err
    top1 = json.loads((tmp_path / "e.json").read_text())["top1"]
    val = np.load(DIGITS_VAL)
    ort_top1 = float((ort_logits(out, val["input"]).argmax(axis=1) == val["labels"]).mean())
    assert abs(top1 - epochs[-1]["val_accuracy"]) < 1e-9 and abs(top1 - ort_top1) < 1e-9


def test_finetune_replays_pytorch_sgd_steps_on_the_lstm(scalec, tmp_path):
    """20 epochs of one 16-row batch = 20 SGD steps (lr 0.1, momentum 0.9, weight decay 1e-4), as PyTorch took them."""
    data = np.load(DIGITS_TRAIN)
    batch = tmp_path / "batch.npz"
    np.savez(batch, input=data["input"][:16], labels=data["labels"][:16])
    out, report = tmp_path / "lstm.onnx", tmp_path / "r.json"
    rc, _, err = scalec("finetune", MODELS["lstm"], "--data", batch, "--epochs", 20, "--batch", 16, "--lr", 0.1,
                        "--momentum", 0.9, "--weight-decay", 1e-4, "--threads", 1, "-o", out, "--report", report)
    assert rc == 0, err
    ref = np.load(REFERENCE / "lstm_digits_sgd20_one_batch.npz")
    losses = [e["loss"] for e in json.loads(report.read_text())["epochs"]]
    np.testing.assert_allclose(losses, ref["loss"], rtol=1e-4, atol=1e-5)
    assert ref["loss"][-1] < ref["loss"][0] - 0.5  # the steps move the model
    after = weights(out)
    names = [k for k in ref.files if k != "loss"]
    assert len(names) == 5
    for k in names:
        np.testing.assert_allclose(after[k], ref[k], rtol=1e-4, atol=2e-5, err_msg=k)


def test_prune_counts_the_recurrent_weights(scalec, tmp_path):
    """The LSTM's W and R (1,536 of 1,834 weights) are one layer: pruned at 50% with the Linear, 92.5% of the
    weights are in pruned layers; by default the LSTM (first) and the Linear (last) stay dense and nothing is pruned."""
    rc, stdout, err = scalec("prune", MODELS["lstm"], "--sparsity", 0.5, "--prune-first", "--prune-last",
                             "-o", tmp_path / "p.onnx", "--report", tmp_path / "p.json")
    assert rc == 0, err
    c = json.loads((tmp_path / "p.json").read_text())["coverage"]
    assert (c["layers_changed"], c["layers_total"], c["params_changed"], c["params_total"]) == (2, 2, 1696, 1834), c
    assert "pruned 2 of 2 layers, 92.5% of weights; 46.2% of all weights now zero" in stdout, stdout
    rc, _, err = scalec("prune", MODELS["lstm"], "--sparsity", 0.5, "-o", tmp_path / "q.onnx")
    assert rc == 2 and "first layer kept dense (--prune-first prunes it): /rnn/LSTM" in err, err
