"""`scalec infer` and `scalec eval`: results, reports, and the errors a user can cause."""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper

from conftest import CRASH_MARKERS, TEST_MODELS_DIR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"


def no_crash(err: str):
    assert not any(m in err for m in CRASH_MARKERS), err


def test_eval_reports_the_recorded_accuracy(scalec, tmp_path):
    report = tmp_path / "r.json"
    rc, out, err = scalec("eval", LENET, "--data", DIGITS_VAL, "--report", report)
    assert rc == 0, err
    j = json.loads(report.read_text())
    manifest = json.loads((TEST_MODELS_DIR / "manifest.json").read_text())
    assert j["schema_version"] == 2
    assert j["samples"] == 360
    assert abs(j["top1"] - manifest["models"]["lenet_digits"]["accuracy"]) < 1e-6
    assert j["top5"] >= j["top1"]
    assert j["samples_per_second"] > 0 and j["peak_activation_bytes"] > 0 and j["peak_rss_bytes"] > 0
    assert "top-1        98.61%" in out


def test_eval_batch_size_does_not_change_accuracy(scalec, tmp_path):
    tops = []
    for batch in ("1", "7", "0"):
        rc, _, err = scalec("eval", LENET, "--data", DIGITS_VAL, "--batch", batch, "--report", tmp_path / f"{batch}.json")
        assert rc == 0, err
        tops.append(json.loads((tmp_path / f"{batch}.json").read_text())["top1"])
    assert tops[0] == tops[1] == tops[2]


def test_infer_writes_every_output_by_name(scalec, tmp_path):
    # BatchNormalization folded into the Convs (the default) or run as it is: both match PyTorch.
    for flags in ([], ["--no-fold-bn"]):
        out = tmp_path / "out.npz"
        rc, _, err = scalec("infer", TEST_MODELS_DIR / "resnet_bn.onnx", "--data",
                            TEST_MODELS_DIR / "golden" / "resnet_bn.in.npz", "-o", out, "--batch", "3", *flags)
        assert rc == 0, err
        with np.load(out) as got, np.load(TEST_MODELS_DIR / "golden" / "resnet_bn.out.npz") as ref:
            assert sorted(got.files) == sorted(ref.files)
            for k in ref.files:
                np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-5)


def test_data_that_does_not_fit_the_model(scalec, tmp_path):
    with np.load(DIGITS_VAL) as z:
        x, labels = z["input"], z["labels"]
    cases = {
        "float64": ({"input": x.astype(np.float64), "labels": labels}, "float64"),
        "missing": ({"image": x, "labels": labels}, "input"),
        "shape": ({"input": x.reshape(360, 1, 4, 16), "labels": labels}, "input"),
        "count": ({"input": x, "labels": labels[:10]}, "labels"),
    }
    for name, (arrays, needle) in cases.items():
        data = tmp_path / f"{name}.npz"
        np.savez(data, **arrays)
        rc, out, err = scalec("eval", LENET, "--data", data)
        assert rc == 2, (name, rc, err)
        assert needle in err and "scalec: error:" in err, (name, err)
        no_crash(err)
        assert out == ""


def test_infer_output_errors_leave_nothing(scalec, tmp_path):
    rc, _, err = scalec("infer", LENET, "--data", DIGITS_VAL, "-o", tmp_path / "missing" / "o.npz")
    assert rc == 4 and "does not exist" in err, err
    (tmp_path / "dir.npz").mkdir()
    rc, _, err = scalec("infer", LENET, "--data", DIGITS_VAL, "-o", tmp_path / "dir.npz")
    assert rc == 4, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.npz"]


def test_unknown_output_name_is_a_usage_error(scalec):
    rc, _, err = scalec("eval", LENET, "--data", DIGITS_VAL, "--output", "nosuch")
    assert rc == 1 and "nosuch" in err and "logits" in err, err


def test_unsupported_op_names_op_node_and_opset(scalec, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    node = helper.make_node("Shrink", ["x"], ["y"], name="shrinker")
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    data = tmp_path / "x.npy"
    np.save(data, np.ones(2, np.float32))
    rc, _, err = scalec("infer", path, "--data", data, "-o", tmp_path / "o.npz")
    assert rc == 2, err
    assert "Shrink" in err and "shrinker" in err and "opset 13" in err, err
    assert not (tmp_path / "o.npz").exists()
