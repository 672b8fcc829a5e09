"""Inputs that are not per-sample: `--batch 0`, `--whole NAME`, `--batch-axis NAME=K` (infer, eval,
quantize's calibration), and their refusal by training commands.

The model: x float[N, 4], h float[2, N, 3] (a state counting samples on axis 1), m float[1, 3] (a
mask shared by every sample), s float[] (a scalar);
    scores = x @ W + m          [N, 3]
    state  = (h + x @ W) * s    [2, N, 3]
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import sha256_of

RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 3)).astype(np.float32)
N = 5


def make_model(path, state_dims=(2, "N", 3)):
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]),
         helper.make_node("Add", ["xw", "m"], ["scores"]),
         helper.make_node("Add", ["h", "xw"], ["hx"]),
         helper.make_node("Mul", ["hx", "s"], ["state"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, [2, "N", 3]),
         helper.make_tensor_value_info("m", TensorProto.FLOAT, [1, 3]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, list(state_dims))],
        [numpy_helper.from_array(W, "W")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def make_data(path, n=N, labels=False):
    arrays = {"x": RNG.standard_normal((n, 4)).astype(np.float32),
              "h": RNG.standard_normal((2, n, 3)).astype(np.float32),
              "m": RNG.standard_normal((1, 3)).astype(np.float32),
              "s": np.array(1.5, dtype=np.float32)}
    if labels:
        arrays["labels"] = RNG.integers(0, 3, n).astype(np.int64)
    np.savez(path, **arrays)
    return arrays


def expected(a):
    xw = a["x"] @ W
    return {"scores": xw + a["m"], "state": (a["h"] + xw) * a["s"]}


SPLIT = ["--whole", "m", "--batch-axis", "h=1"]


@pytest.fixture
def files(tmp_path):
    return make_model(tmp_path / "m.onnx"), tmp_path / "d.npz", tmp_path


def infer(scalec, model, data, out, *flags):
    rc, _, err = scalec("infer", model, "--data", data, "-o", out, *flags)
    got = None
    if rc == 0:
        with np.load(out) as z:
            got = {k: z[k] for k in z.files}
    return rc, err, got


@pytest.mark.parametrize("batch", ["0", "1", "2", "5", "32"])
def test_infer_splits_as_told(scalec, files, batch):
    model, data, tmp = files
    a = make_data(data)
    flags = ["--batch", batch] + (SPLIT if batch != "0" else [])
    rc, err, got = infer(scalec, model, data, tmp / "o.npz", *flags)
    assert rc == 0, err
    for k, ref in expected(a).items():
        assert got[k].shape == ref.shape, (k, got[k].shape)
        np.testing.assert_allclose(got[k], ref, rtol=1e-5, atol=1e-6, err_msg=k)


def test_state_output_joined_on_its_symbolic_axis(scalec, tmp_path):
    # 4 samples in batches of 2: axes 0 and 1 of `state` [2, 2, 3] both look like samples; the model's
    # symbol N on axis 1 decides; without it, scalec asks for --batch-axis state=1.
    data = tmp_path / "d.npz"
    a = make_data(data, n=4)
    rc, err, got = infer(scalec, make_model(tmp_path / "sym.onnx"), data, tmp_path / "o.npz", "--batch", "2", *SPLIT)
    assert rc == 0, err
    np.testing.assert_allclose(got["state"], expected(a)["state"], rtol=1e-5, atol=1e-6)
    anon = make_model(tmp_path / "anon.onnx", state_dims=(2, None, 3))
    rc, err, _ = infer(scalec, anon, data, tmp_path / "o2.npz", "--batch", "2", *SPLIT)
    assert rc == 2 and "--batch-axis state=K" in err, err
    rc, err, got = infer(scalec, anon, data, tmp_path / "o3.npz", "--batch", "2", *SPLIT, "--batch-axis", "state=1")
    assert rc == 0, err
    np.testing.assert_allclose(got["state"], expected(a)["state"], rtol=1e-5, atol=1e-6)


def test_unsplit_arrays_are_refused_with_the_options_named(scalec, files):
    model, data, tmp = files
    make_data(data)
    for cmd in (["infer", model, "--data", data, "-o", tmp / "o.npz"], ["eval", model, "--data", data],
                ["quantize", model, "--calib", data, "-o", tmp / "q.onnx"]):
        rc, _, err = scalec(*cmd)
        assert rc == 2, (cmd[0], err)
        assert "disagree on the number of samples" in err, err
        for option in ("--whole NAME", "--batch-axis NAME=K", "--batch 0"):
            assert option in err, (cmd[0], err)
    assert not (tmp / "o.npz").exists() and not (tmp / "q.onnx").exists()


@pytest.mark.parametrize("flags, code, fragment", [
    (["--whole", "nope"], 1, "--whole 'nope' is not an input of the model (its inputs: 'x', 'h', 'm', 's')"),
    (["--batch-axis", "h"], 1, "--batch-axis 'h': expected NAME=K"),
    (["--batch-axis", "h=one"], 1, "--batch-axis 'h=one': expected NAME=K"),
    (["--batch-axis", "h=-1"], 1, "--batch-axis 'h=-1': expected NAME=K"),
    (["--batch-axis", "=1"], 1, "--batch-axis '=1': expected NAME=K"),
    (["--batch-axis", "h=3"], 1, "--batch-axis h=3: the model's input 'h' has rank 3, so K is 0 to 2"),
    (["--batch-axis", "s=0"], 1, "the model's input 's' is a scalar"),
    (["--batch-axis", "nope=1"], 1, "'nope' is not an input"),
    (["--whole", "h", "--batch-axis", "h=1"], 1, "--whole and --batch-axis both name 'h'"),
    (["--batch-axis", "h=1", "--batch-axis", "h=2"], 1, "--batch-axis names 'h' twice, with axes 1 and 2"),
    (["--whole", "m", "--batch-axis", "h=2"], 2, "disagree on the number of samples: 'x' has 5 (axis 0), 'h' has 3 (axis 2)"),
    (["--batch-axis", "h=1"], 2, "(axis 0): 'x' has 5, 'm' has 1; an array that holds no samples goes whole"),
])
def test_bad_split_options(scalec, files, flags, code, fragment):
    model, data, tmp = files
    make_data(data)
    before = sha256_of(data)
    for cmd in (["infer", model, "--data", data, "-o", tmp / "o.npz"], ["eval", model, "--data", data],
                ["quantize", model, "--calib", data, "-o", tmp / "q.onnx"]):
        rc, _, err = scalec(*cmd, *flags)
        assert rc == code and fragment in err, (cmd[0], rc, err)
    assert sha256_of(data) == before
    assert not (tmp / "o.npz").exists() and not (tmp / "q.onnx").exists()


def test_batch_axis_may_name_an_output_only_in_infer(scalec, files):
    model, data, tmp = files
    make_data(data)
    rc, _, err = scalec("eval", model, "--data", data, *SPLIT, "--batch-axis", "state=1")
    assert rc == 1 and "'state' is not an input of the model" in err, err
    rc, _, err = scalec("infer", model, "--data", data, "-o", tmp / "o.npz", *SPLIT, "--batch-axis", "state=3")
    assert rc == 1 and "the model's output 'state' has rank 3" in err, err


@pytest.mark.parametrize("batch", ["0", "2"])
def test_eval_accuracy_with_unsplit_inputs(scalec, files, batch):
    model, data, tmp = files
    a = make_data(data, labels=True)
    flags = ["--batch", batch] + (SPLIT if batch != "0" else [])
    rc, out, err = scalec("eval", model, "--data", data, "--report", "-", *flags)
    assert rc == 0, err
    import json
    report = json.loads(out)
    top1 = float(np.mean(np.argmax(expected(a)["scores"], axis=1) == a["labels"]))
    assert report["top1"] == pytest.approx(top1) and report["samples"] == N


@pytest.mark.parametrize("flags", [["--batch", "2", *SPLIT], ["--batch", "0"]])
def test_quantize_calibrates_on_unsplit_inputs(scalec, files, flags):
    model, data, tmp = files
    make_data(data)
    rc, _, err = scalec("quantize", model, "--calib", data, "-o", tmp / "q.onnx", *flags)
    assert rc == 0, err
    assert onnx.load(str(tmp / "q.onnx")).graph.node


def test_quantize_refuses_calib_samples_with_batch_0(scalec, files):
    model, data, tmp = files
    make_data(data)
    rc, _, err = scalec("quantize", model, "--calib", data, "-o", tmp / "q.onnx", "--batch", "0", "--calib-samples", "3")
    assert rc == 1 and "--calib-samples" in err and "--batch 0" in err, err


@pytest.mark.parametrize("cmd", ["finetune", "prune"])
@pytest.mark.parametrize("flags, fragment", [
    (["--batch", "0"], "0 (all arrays as given, in one run) is for infer, eval and quantize"),
    (["--whole", "m"], "--whole: is for infer, eval and quantize"),
    (["--batch-axis", "h=1"], "--batch-axis: is for infer, eval and quantize"),
])
def test_training_refuses_unsplit_options(scalec, files, cmd, flags, fragment):
    model, data, tmp = files
    make_data(data, labels=True)
    extra = ["--epochs", "1"] if cmd == "finetune" else ["--epochs", "1", "--sparsity", "0.5"]
    rc, _, err = scalec(cmd, model, "--data", data, "-o", tmp / "t.onnx", *extra, *flags)
    assert rc == 1 and fragment in err, err
    assert not (tmp / "t.onnx").exists()
