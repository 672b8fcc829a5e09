"""`scalec compare A B --data D`: agreement, accuracy, SQNR per output and per shared value, mIoU of
dense outputs, size and speed ratios, the --fail-below-sqnr gate, and the errors a user can cause."""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import pytest

from conftest import CRASH_MARKERS, TEST_MODELS_DIR, sha256_of

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"


def no_crash(err: str):
    assert not any(m in err for m in CRASH_MARKERS), err


@pytest.fixture(scope="module")
def lenet_int8(tmp_path_factory):
    from conftest import run_scalec
    out = tmp_path_factory.mktemp("q") / "lenet.int8.onnx"
    rc, _, err = run_scalec("quantize", LENET, "--calib", DIGITS_TRAIN, "-o", out)
    assert rc == 0, err
    return out


def compare(scalec, tmp_path, a, b, *extra, data=DIGITS_VAL, expect=0):
    report = tmp_path / "compare.json"
    rc, out, err = scalec("compare", a, b, "--data", data, "--runs", "1", "--report", report, *extra)
    assert rc == expect, err
    no_crash(err)
    return json.loads(report.read_text()), out, err


def test_a_model_against_itself_agrees_fully_with_infinite_sqnr(scalec, tmp_path):
    j, out, _ = compare(scalec, tmp_path, LENET, LENET)
    assert j["schema_version"] == 2 and j["samples"] == 360
    assert j["agreement"] == 1.0 and j["accuracy_a"] == j["accuracy_b"]
    assert j["outputs"] == [{"name": "logits", "sqnr_db": None, "identical": True}]
    assert len(j["values"]) >= 8 and all(v["sqnr_db"] is None for v in j["values"])
    assert j["size_ratio"] == 1.0 and j["speed_ratio"] > 0
    assert "agreement    100.00%" in out and "SQNR inf" in out


def test_int8_copy_strays_a_measured_amount_and_accuracy_matches_eval(scalec, tmp_path, lenet_int8):
    j, out, _ = compare(scalec, tmp_path, LENET, lenet_int8, "--labels", "labels")
    sqnr = j["outputs"][0]["sqnr_db"]
    assert 15 < sqnr < 60, sqnr  # 42.5 dB measured
    assert 0.95 < j["agreement"] <= 1.0
    assert j["size_ratio"] < 0.6  # int8 weights: 25.9 KB of 57.4 KB
    # The values are listed worst first, each finite (every layer is quantized).
    sq = [v["sqnr_db"] for v in j["values"]]
    assert len(sq) >= 8 and all(s is not None for s in sq) and sq == sorted(sq)
    for model, key in ((LENET, "accuracy_a"), (lenet_int8, "accuracy_b")):
        r = tmp_path / "eval.json"
        rc, _, err = scalec("eval", model, "--data", DIGITS_VAL, "--report", r)
        assert rc == 0, err
        assert j[key] == json.loads(r.read_text())["top1"]
    assert f"SQNR {sqnr:.2f} dB" in out


def test_fail_below_sqnr_exits_3_and_still_writes_the_report(scalec, tmp_path, lenet_int8):
    j, out, err = compare(scalec, tmp_path, LENET, lenet_int8, "--fail-below-sqnr", "200", expect=3)
    assert j["fail_below_sqnr"] == 200 and len(j["failed"]) == 1 and "'logits'" in j["failed"][0]
    assert "agreement" in out and "--fail-below-sqnr" in err and "'logits'" in err
    j, _, _ = compare(scalec, tmp_path, LENET, lenet_int8, "--fail-below-sqnr", "15")
    assert j["failed"] == []


def segmentation_model(path, seed: int, output="seg"):
    """x [N, 3, 8, 8] -> Conv 1x1 (4 classes) -> Relu -> Conv 1x1 -> [N, 4, 8, 8]."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((4, 3, 1, 1)).astype(np.float32)
    w2 = rng.standard_normal((4, 4, 1, 1)).astype(np.float32)
    if seed:  # the perturbed copy: the same weights plus noise
        base = np.random.default_rng(0)
        w1 = base.standard_normal((4, 3, 1, 1)).astype(np.float32) + 0.3 * w1
        w2 = base.standard_normal((4, 4, 1, 1)).astype(np.float32) + 0.3 * w2
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w1"], ["h"], name="c1"), helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("Conv", ["r", "w2"], [output], name="c2")],
        "seg", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 4, 8, 8])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return path


def test_dense_outputs_get_mean_iou(scalec, tmp_path):
    a = segmentation_model(tmp_path / "a.onnx", 0)
    b = segmentation_model(tmp_path / "b.onnx", 1, output="mask")  # another output name: B's first is used
    data = tmp_path / "x.npz"
    np.savez(data, x=np.random.default_rng(2).standard_normal((6, 3, 8, 8)).astype(np.float32))
    j, _, _ = compare(scalec, tmp_path, a, a, data=data)
    assert j["agreement"] is None and j["outputs"][0]["miou"] == 1.0
    j, out, err = compare(scalec, tmp_path, a, b, data=data)
    o = j["outputs"][0]
    assert o["name"] == "seg" and o["name_b"] == "mask" and "'mask'" in err
    assert 0.2 < o["miou"] < 1.0 and o["sqnr_db"] is not None
    assert [v["name"] for v in j["values"]] == ["h", "r"] or [v["name"] for v in j["values"]] == ["r", "h"]
    assert "mIoU" in out


@pytest.mark.parametrize("case, expect, fragment", [
    ("missing_b", 2, "nope.onnx"),
    ("data_fits_a_only", 2, "model B"),
    ("no_such_output", 1, "--output 'nosuch' is not an output of model A"),
    ("no_such_labels", 2, "nor the labels ('y')"),
])
def test_bad_input(scalec, tmp_path, case, expect, fragment):
    seg = segmentation_model(tmp_path / "seg.onnx", 0)
    args = {
        "missing_b": [LENET, tmp_path / "nope.onnx"],
        "data_fits_a_only": [LENET, seg],
        "no_such_output": [LENET, LENET, "--output", "nosuch"],
        "no_such_labels": [LENET, LENET, "--labels", "y"],
    }[case]
    before = sha256_of(DIGITS_VAL), sha256_of(LENET)
    report = tmp_path / "r.json"
    rc, out, err = scalec("compare", *args, "--data", DIGITS_VAL, "--report", report)
    assert rc == expect, err
    assert fragment in err and out == "" and not report.exists()
    no_crash(err)
    assert (sha256_of(DIGITS_VAL), sha256_of(LENET)) == before
