"""`scalec finetune`: trains on the ONNX graph, writes a clean inference model that ONNX Runtime runs,
resumes a killed run to the same weights, and refuses bad input clearly."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from conftest import CRASH_MARKERS, REPO_ROOT, TEST_MODELS_DIR, run_scalec, scalec_bin_path, stop_once_written

REFERENCE = REPO_ROOT / "tests" / "reference"
CNN_INIT = REFERENCE / "cnn_digits_init.onnx"
LENET_INIT = REFERENCE / "lenet_fashion_init.onnx"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def weights(path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def ort_predictions(model, x):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0].argmax(axis=1)


def test_cnn_from_random_weights_reaches_97_percent_on_digits(scalec, tmp_path):
    out, report = tmp_path / "cnn.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("finetune", CNN_INIT, "--data", DIGITS_TRAIN, "--val", DIGITS_VAL, "--epochs", 15,
                             "--batch", 32, "--lr", 0.05, "--momentum", 0.9, "--weight-decay", 1e-4,
                             "--schedule", "cosine", "--seed", 1, "-o", out, "--report", report, timeout=600)
    assert rc == 0, err
    j = json.loads(report.read_text())
    assert j["schema_version"] == 2 and len(j["epochs"]) == 15
    assert j["epochs"][-1]["loss"] < j["epochs"][0]["loss"]
    val_acc = j["epochs"][-1]["val_accuracy"]
    assert val_acc >= 0.97, stdout
    assert "epoch  15/15" in stdout

    # The exported model: scalec eval and ONNX Runtime agree with what training measured.
    rc, _, err = scalec("eval", out, "--data", DIGITS_VAL, "--report", tmp_path / "e.json")
    assert rc == 0, err
    assert abs(json.loads((tmp_path / "e.json").read_text())["top1"] - val_acc) < 1e-9
    val = np.load(DIGITS_VAL)
    ort_acc = float((ort_predictions(out, val["input"]) == val["labels"]).mean())
    assert abs(ort_acc - val_acc) < 1e-9

    # A clean inference graph: BatchNormalization with new statistics, the batch dimension still symbolic.
    m = onnx.load(str(out))
    assert [n.op_type for n in m.graph.node].count("BatchNormalization") == 2
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    before, after = weights(CNN_INIT), weights(out)
    assert not np.allclose(before["features.1.running_mean"], after["features.1.running_mean"])
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["scalec.passes"].startswith("train<epochs=15;lr=")


def test_dropout_is_applied_in_training_and_gone_from_the_output(scalec, tmp_path):
    data = tmp_path / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(data, input=rng.random((64, 1, 28, 28), dtype=np.float32), labels=rng.integers(0, 10, 64))
    out = tmp_path / "lenet.onnx"
    rc, _, err = scalec("finetune", LENET_INIT, "--data", data, "--epochs", 1, "--batch", 32, "-o", out)
    assert rc == 0, err
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert "Dropout" not in ops and ops.count("Gemm") == 3


def _train_args(out, ckpt, epochs=3):
    return ["finetune", CNN_INIT, "--data", DIGITS_TRAIN, "--epochs", epochs, "--batch", 16, "--lr", 0.02,
            "--optimizer", "adamw", "--weight-decay", 0.01, "--seed", 3, "--threads", 2, "-o", out,
            "--checkpoint", ckpt]


def test_resume_after_kill_reaches_the_same_weights(scalec, tmp_path):
    straight = tmp_path / "straight.onnx"
    rc, _, err = scalec(*_train_args(straight, tmp_path / "a.npz"))
    assert rc == 0, err

    # Kill a second run as soon as its first checkpoint exists, then resume it.
    ckpt, resumed = tmp_path / "b.npz", tmp_path / "resumed.onnx"
    stop_once_written([scalec_bin_path(), *_train_args(resumed, ckpt)], ckpt)
    assert ckpt.exists() and not resumed.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".") or f.endswith(".tmp")]
    rc, out, err = scalec(*_train_args(resumed, ckpt), "--resume")
    assert rc == 0, err
    assert "resumed from" in err
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_bad_input_is_refused_clearly(scalec, tmp_path):
    out = tmp_path / "o.onnx"
    no_labels = tmp_path / "nolabels.npz"
    np.savez(no_labels, input=np.zeros((4, 1, 8, 8), np.float32))
    cases = [
        (["--data", no_labels, "--epochs", 1], 2, "has no 'labels' array"),
        (["--data", DIGITS_TRAIN, "--labels", "input", "--epochs", 1], 2, "label"),
        (["--data", DIGITS_TRAIN, "--resume"], 1, "--resume needs --checkpoint"),
        (["--data", DIGITS_TRAIN, "--output", "nope"], 2, "no output named 'nope'"),
        (["--data", DIGITS_TRAIN, "--freeze", "*"], 2, "nothing to train"),
        (["--data", DIGITS_TRAIN, "--optimizer", "adam"], 1, "adam"),
    ]
    for args, code, text in cases:
        rc, _, err = scalec("finetune", CNN_INIT, *args, "-o", out)
        assert rc == code, (args, err)
        assert text in err, (args, err)
        assert not any(m in err for m in CRASH_MARKERS), err
        assert not out.exists()

    # A checkpoint from another run's settings is not silently mixed in.
    ckpt = tmp_path / "c.npz"
    rc, _, err = scalec(*_train_args(out, ckpt, epochs=1))
    assert rc == 0, err
    args = _train_args(tmp_path / "o2.onnx", ckpt, epochs=1)
    args[args.index("--seed") + 1] = 4
    rc, _, err = scalec(*args, "--resume")
    assert rc == 2 and "was written with seed = 3" in err, err


def _fashion(split: str, limit: int | None = None):
    with gzip.open(FASHION / f"{split}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(FASHION / f"{split}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return (x[:limit].astype(np.float32) / 255.0), y[:limit]


def test_lenet_two_epochs_on_fashion_mnist_reaches_85_percent(scalec, tmp_path):
    assert FASHION.is_dir(), "apt-get install dataset-fashion-mnist (scripts/install-deps does)"
    x, y = _fashion("train")
    xt, yt = _fashion("t10k")
    np.savez(tmp_path / "train.npz", input=x, labels=y)
    np.savez(tmp_path / "test.npz", input=xt, labels=yt)
    out, report = tmp_path / "lenet.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("finetune", LENET_INIT, "--data", tmp_path / "train.npz", "--val", tmp_path / "test.npz",
                             "--epochs", 2, "--batch", 64, "--lr", 0.05, "--momentum", 0.9, "--schedule", "cosine", "--seed", 0,
                             "-o", out, "--report", report, timeout=1200)
    assert rc == 0, err
    acc = json.loads(report.read_text())["epochs"][-1]["val_accuracy"]
    assert acc >= 0.85, stdout
    ort_acc = float((ort_predictions(out, xt) == yt).mean())
    assert abs(ort_acc - acc) < 2e-4  # float summation order may flip a near-tie or two


def test_training_data_is_streamed_memory_flat_in_the_data_size(tmp_path):
    """finetune reads each step's rows from the .npz (np.savez), so 4x the data is not 4x the memory."""
    from onnx import TensorProto, helper  # noqa: PLC0415

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((4096, 10)) * 0.01).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["input", "w"], ["logits"])], "wide",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4096])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [w])
    model = tmp_path / "wide.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(model))
    peaks = {}
    for n in (2000, 8000):  # 32 MB and 128 MB of float32 inputs
        data = tmp_path / f"d{n}.npz"
        np.savez(data, input=rng.standard_normal((n, 4096)).astype(np.float32), labels=rng.integers(0, 10, n))
        rc, _, err = run_scalec("finetune", model, "--data", data, "--batch", 250, "--lr", 0.01, "-q",
                                "-o", tmp_path / f"o{n}.onnx", "--report", tmp_path / f"r{n}.json")
        assert rc == 0, err
        peaks[n] = json.loads((tmp_path / f"r{n}.json").read_text())["peak_rss_bytes"]
    assert peaks[8000] - peaks[2000] < 40 * 2**20, peaks  # whole files would add 96 MB
