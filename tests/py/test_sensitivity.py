"""`scalec sensitivity`: every layer ranked by what quantizing or pruning it alone costs, the figures
equal to those of a model quantized or pruned that way by `scalec quantize` / `scalec prune`, and the
errors a user can cause."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from conftest import CRASH_MARKERS, TEST_MODELS_DIR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"
LAYERS = [n.name for n in onnx.load(LENET).graph.node if n.op_type in ("Conv", "Gemm")]
NODES = [n.name for n in onnx.load(LENET).graph.node]


def sensitivity(scalec, tmp_path, *args, data=DIGITS_VAL):
    report = tmp_path / "s.json"
    rc, out, err = scalec("sensitivity", LENET, "--data", data, "--report", report, *args)
    assert rc == 0, err
    return json.loads(report.read_text()), out


def eval_top1(scalec, tmp_path, model):
    r = tmp_path / "e.json"
    rc, _, err = scalec("eval", model, "--data", DIGITS_VAL, "--report", r)
    assert rc == 0, err
    return json.loads(r.read_text())["top1"]


def test_two_bit_ranking_lists_every_layer_and_matches_quantize(scalec, tmp_path):
    j, out = sensitivity(scalec, tmp_path, "--bits", "2")
    layers = j["layers"]
    assert j["mode"] == "quantize" and j["weight_bits"] == 2 and j["not_ranked"] == []
    assert sorted(l["layer"] for l in layers) == sorted(LAYERS) and [l["rank"] for l in layers] == [1, 2, 3, 4]
    drops = [l["accuracy_drop"] for l in layers]
    assert drops == sorted(drops, reverse=True) and drops[0] > drops[-1] + 0.2  # 65.0 vs 9.7 points measured
    assert abs(j["accuracy"]["before"] - drops[0] - layers[0]["accuracy"]) < 1e-12
    assert all(l["sqnr_db"] < 20 and 0 < l["agreement"] < 1 for l in layers)
    # The worst layer alone, as `scalec quantize` writes it (the same calibration data: --data's
    # first 512 samples are all 360 here; sensitivity does no bias correction).
    worst = layers[0]["layer"]
    q = tmp_path / "one.onnx"
    rc, _, err = scalec("quantize", LENET, "--bits", "2", "--calib", DIGITS_VAL, "--no-bias-correction",
                        "--exclude-nodes", ",".join(n for n in NODES if n != worst), "-o", q)
    assert rc == 0, err
    assert eval_top1(scalec, tmp_path, q) == layers[0]["accuracy"]
    assert worst in out.splitlines()[3]


def test_without_labels_layers_rank_by_output_sqnr(scalec, tmp_path):
    data = tmp_path / "x.npz"
    np.savez(data, input=np.load(DIGITS_VAL)["input"][:100])
    j, out = sensitivity(scalec, tmp_path, "--bits", "4", data=data)
    sqnr = [l["sqnr_db"] for l in j["layers"]]
    assert len(sqnr) == 4 and sqnr == sorted(sqnr) and all(10 < s < 60 for s in sqnr)
    assert "accuracy" not in j and "accuracy_drop" not in j["layers"][0] and "top-1" not in out


def test_pruning_each_layer_matches_prune(scalec, tmp_path):
    j, _ = sensitivity(scalec, tmp_path, "--sparsity", "0.9")
    layers = j["layers"]
    assert j["mode"] == "prune" and sorted(l["layer"] for l in layers) == sorted(LAYERS)
    assert layers[0]["accuracy_drop"] > layers[-1]["accuracy_drop"] > 0
    worst = layers[0]["layer"]
    p = tmp_path / "pruned.onnx"
    skips = [a for n in LAYERS if n != worst for a in ("--skip", n)]
    rc, _, err = scalec("prune", LENET, "--sparsity", "0.9", "--prune-first", "--prune-last", *skips, "-o", p)
    assert rc == 0, err
    assert eval_top1(scalec, tmp_path, p) == layers[0]["accuracy"]


@pytest.mark.parametrize("args, expect, fragment", [
    (["--bits", "2", "--sparsity", "0.5"], 1, "excludes"),
    (["--output", "nosuch"], 1, "--output 'nosuch' is not an output"),
    (["--labels", "y"], 2, "nor the labels ('y')"),
    (["--bits", "9"], 1, "--bits"),
])
def test_bad_input(scalec, tmp_path, args, expect, fragment):
    report = tmp_path / "r.json"
    rc, out, err = scalec("sensitivity", LENET, "--data", DIGITS_VAL, "--report", report, *args)
    assert rc == expect, err
    assert fragment in err and out == "" and not report.exists()
    assert not any(m in err for m in CRASH_MARKERS), err
