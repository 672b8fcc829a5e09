"""`scalec prune`: unstructured, 2:4 and channel pruning, with and without recovery training; every
output runs in ONNX Runtime and agrees with the accuracy scalec reports; bad input is refused clearly."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from conftest import CRASH_MARKERS, TEST_MODELS_DIR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
RESNET = TEST_MODELS_DIR / "resnet_bn.onnx"
TRAIN = TEST_MODELS_DIR / "digits_train.npz"
VAL = TEST_MODELS_DIR / "digits_val.npz"


def ort_accuracy(model) -> float:
    val = np.load(VAL)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    pred = sess.run(None, {sess.get_inputs()[0].name: val["input"]})[0].argmax(axis=1)
    return float((pred == val["labels"]).mean())


def weights(model) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(model)).graph.initializer}


def prune(scalec, tmp_path, *args, name="out.onnx", timeout=600):
    out, report = tmp_path / name, tmp_path / (name + ".json")
    rc, stdout, err = scalec("prune", *args, "-o", out, "--report", report, "--threads", 2, timeout=timeout)
    assert rc == 0, err
    return out, json.loads(report.read_text()), stdout


def test_unstructured_one_shot_reports_layers_and_shrinks_the_compressed_file(scalec, tmp_path):
    out, r, stdout = prune(scalec, tmp_path, LENET, "--sparsity", 0.8, "--val", VAL)
    assert r["schema_version"] == 2 and r["method"] == "unstructured"
    layers = r["layers"]
    assert len(layers) == 4
    assert layers[0]["note"] == "first layer kept dense" and layers[-1]["note"] == "last layer kept dense"
    for layer in layers[1:-1]:
        assert abs(layer["sparsity_after"] - 0.8) < 1e-3
    w = weights(out)
    for layer in layers:
        assert abs(float((w[layer["weight"]] == 0).mean()) - layer["sparsity_after"]) < 1e-9
    b, a = r["before"], r["after"]
    assert a["parameters"] == b["parameters"] and a["nonzero_parameters"] < 0.6 * b["nonzero_parameters"]
    assert a["gzip_bytes"] < 0.8 * b["gzip_bytes"]
    assert abs(ort_accuracy(out) - r["accuracy_after"]) < 1e-9
    assert abs(r["accuracy_before"] - 0.9861) < 1e-3
    assert "val top-1" in stdout and "gzip bytes" in stdout
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["scalec.passes"].startswith("prune-magnitude<sparsity=0.8;global=false;")


def test_gradual_80_percent_with_recovery_stays_within_a_point(scalec, tmp_path):
    out, r, stdout = prune(scalec, tmp_path, LENET, "--sparsity", 0.8, "--data", TRAIN, "--val", VAL, "--epochs", 12,
                           "--lr", 0.01, "--momentum", 0.9, "--schedule", "cosine", "--seed", 0, "--distill")
    for layer in r["layers"][1:-1]:
        assert layer["sparsity_after"] >= 0.8 - 1e-3
    assert r["accuracy_after"] >= r["accuracy_before"] - 0.01, stdout
    assert abs(ort_accuracy(out) - r["accuracy_after"]) < 1e-9
    assert len(r["epochs"]) == 12 and r["distill"] is True


def test_two_four_keeps_two_of_every_four_input_weights(scalec, tmp_path):
    out, r, _ = prune(scalec, tmp_path, RESNET, "--method", "2:4", "--prune-first", "--prune-last")
    w = weights(out)
    model = onnx.load(str(out))
    pruned = 0
    for n in model.graph.node:
        if n.op_type != "Conv" or n.input[1] not in w:
            continue
        k = w[n.input[1]]                       # [O, I, kh, kw]: groups of 4 along I
        if k.shape[1] % 4:
            continue
        groups = np.moveaxis(k, 1, -1).reshape(-1, 4)
        assert ((groups != 0).sum(axis=1) <= 2).all()
        pruned += 1
    assert pruned >= 2
    notes = [layer["note"] for layer in r["layers"]]
    assert any("not a multiple of 4" in n for n in notes)  # the 3-channel input conv
    x = np.load(TEST_MODELS_DIR / "golden" / "resnet_bn.in.npz")["input"]
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert np.isfinite(sess.run(None, {"input": x})[0]).all()


def test_channel_pruning_with_recovery_really_shrinks_the_model(scalec, tmp_path):
    out, r, _ = prune(scalec, tmp_path, LENET, "--method", "channel", "--sparsity", 0.5, "--data", TRAIN, "--val", VAL,
                      "--epochs", 10, "--lr", 0.01, "--momentum", 0.9, "--schedule", "cosine", "--seed", 0, "--distill")
    b, a = r["before"], r["after"]
    assert a["parameters"] < 0.5 * b["parameters"] and a["macs_per_sample"] < 0.6 * b["macs_per_sample"]
    assert a["file_bytes"] < 0.6 * b["file_bytes"]
    assert r["groups_pruned"] >= 2
    assert r["accuracy_after"] >= r["accuracy_before"] - 0.02
    assert abs(ort_accuracy(out) - r["accuracy_after"]) < 1e-9
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)


def test_bad_input_is_refused_clearly(scalec, tmp_path):
    out = tmp_path / "o.onnx"
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(LENET.read_bytes()[:200])
    cases = [
        ([LENET, "--sparsity", 1.5], 1, "--sparsity"),
        ([LENET, "--method", "4:2"], 2, "0 < N < M"),
        ([LENET, "--method", "lots"], 2, "not an N:M pattern"),
        ([LENET, "--epochs", 2], 1, "--epochs needs --data"),
        ([LENET, "--layer-sparsity", "x"], 1, "expected NAME=S"),
        ([LENET, "--layer-sparsity", "nope=0.5"], 2, "no prunable layer"),
        ([LENET, "--skip", "zzz*"], 2, "matches no prunable layer"),
        ([LENET, "--method", "channel", "--global"], 1, "apply to unstructured"),
        ([LENET, "--method", "channel", "--round-to", "0"], 1, "--round-to takes a positive integer or auto"),
        ([LENET, "--method", "channel", "--round-to", "8x"], 1, "got '8x'"),
        ([corrupt], 2, "corrupt.onnx"),
        ([LENET, "--data", VAL, "--epochs", 1, "--labels", "nope"], 2, "('nope')"),
    ]
    for args, code, text in cases:
        rc, _, err = scalec("prune", *args, "-o", out)
        assert rc == code, (args, err)
        assert text in err, (args, err)
        assert not any(m in err for m in CRASH_MARKERS), err
        assert not out.exists()
    rc, _, err = scalec("prune", LENET, "-o", tmp_path / "missing" / "o.onnx")
    assert rc == 4, err
    # A CI gate: more accuracy lost than allowed is exit code 3.
    rc, _, err = scalec("prune", LENET, "--sparsity", 0.95, "--prune-first", "--prune-last", "--val", VAL,
                        "--max-accuracy-drop", 0.5, "-o", out)
    assert rc == 3 and "gate missed: max-accuracy-drop" in err, err


def test_every_test_model_prunes_verifies_and_runs_in_onnx_runtime(scalec, tmp_path):
    from conftest import TEST_MODEL_NAMES
    for name in TEST_MODEL_NAMES:
        src = TEST_MODELS_DIR / f"{name}.onnx"
        golden = dict(np.load(TEST_MODELS_DIR / "golden" / f"{name}.in.npz"))
        for method in ("unstructured", "2:4", "channel"):
            out = tmp_path / f"{name}_{method.replace(':', '')}.onnx"
            rc, stdout, err = scalec("prune", src, "--method", method, "--sparsity", 0.5, "-o", out)
            assert rc == 0, (name, method, err)
            if (name, method) == ("transformer_block", "channel"):
                # The MLP's 64 hidden units halve (first MatMul's columns and bias, second's rows); the
                # attention projections stay whole, named with why (their head Reshape).
                g = onnx.load(str(out)).graph
                init = {t.name: list(t.dims) for t in g.initializer}
                w2 = next(n.input[1] for n in g.node if n.name == "/mlp/mlp.2/MatMul")
                assert init["mlp.0.bias"] == [32] and init[w2] == [32, 32], init
                assert "pruned 1 of 9 layers" in stdout and "3 Reshape mixes the channels" in stdout, stdout
            onnx.checker.check_model(onnx.load(str(out)), full_check=True)
            sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            y = sess.run(None, golden)[0]
            assert y.shape == (4, 10) and np.isfinite(y).all(), (name, method)
            # scalec's own runtime computes what ONNX Runtime computes on the pruned model.
            rc, _, err = scalec("infer", out, "--data", TEST_MODELS_DIR / "golden" / f"{name}.in.npz", "-o", tmp_path / "y.npz")
            assert rc == 0, err
            np.testing.assert_allclose(np.load(tmp_path / "y.npz")["logits"], y, rtol=1e-4, atol=1e-4)


def test_recovery_resumes_after_a_kill_to_the_same_weights_and_masks(scalec, tmp_path):
    import os  # noqa: PLC0415

    from conftest import scalec_bin_path, stop_once_written  # noqa: PLC0415

    def args(out, ckpt, sparsity=0.75):
        return ["prune", LENET, "--sparsity", sparsity, "--data", TRAIN, "--epochs", 6, "--batch", 64, "--lr", 0.02,
                "--seed", 2, "--prune-frequency", 5, "--checkpoint", ckpt, "-o", out, "--report", str(out) + ".json"]

    rc, _, err = scalec(*args(tmp_path / "straight.onnx", tmp_path / "a.npz"))
    assert rc == 0, err
    ckpt, resumed = tmp_path / "b.npz", tmp_path / "resumed.onnx"
    stop_once_written([scalec_bin_path(), *args(resumed, ckpt)], ckpt)
    assert ckpt.exists() and not resumed.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".") or f.endswith(".tmp")]
    # Another target sparsity is another run: refused, naming the setting.
    rc, _, err = scalec(*args(tmp_path / "other.onnx", ckpt, sparsity=0.5), "--resume")
    assert rc == 2 and "sparsity" in err
    rc, _, err = scalec(*args(resumed, ckpt), "--resume")
    assert rc == 0, err
    assert "resumed from" in err
    a, b = weights(tmp_path / "straight.onnx"), weights(resumed)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    ra = json.loads((tmp_path / "straight.onnx.json").read_text())
    rb = json.loads((tmp_path / "resumed.onnx.json").read_text())
    assert ra["layers"] == rb["layers"]
