"""infer --carry OUT=IN (issue 16 item 1): a streaming model's state fed back sample after sample.
An LSTM run one time step at a time, its Y_h/Y_c carried into initial_h/initial_c, equals the same
LSTM run on the whole sequence at once (in ONNX Runtime)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from conftest import run_scalec

I, H = 4, 5


def lstm_with_state(path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.normal(size=(1, 4 * H, I)) * 0.5).astype(np.float32), "W"),
             numpy_helper.from_array((rng.normal(size=(1, 4 * H, H)) * 0.5).astype(np.float32), "R"),
             numpy_helper.from_array((rng.normal(size=(1, 8 * H)) * 0.1).astype(np.float32), "B")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 1, I])
    states = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, H]) for n in ("h0", "c0")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "hn", "cn")]
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y", "hn", "cn"], hidden_size=H)
    onnx.save(helper.make_model(helper.make_graph([node], "g", [x, *states], outs, inits),
                                opset_imports=[helper.make_opsetid("", 14)]), str(path))


def test_carried_state_streams_an_lstm_like_the_whole_sequence(tmp_path):
    lstm_with_state(tmp_path / "m.onnx")
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(12, 1, I)).astype(np.float32)
    h0, c0 = (rng.normal(size=(1, 1, H)) * 0.3).astype(np.float32), (rng.normal(size=(1, 1, H)) * 0.3).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=xs, h0=h0, c0=c0)
    rc, out, err = run_scalec("infer", tmp_path / "m.onnx", "--data", tmp_path / "d.npz", "--whole", "h0", "--whole", "c0",
                              "--carry", "hn=h0", "--carry", "cn=c0", "-o", tmp_path / "o.npz")
    assert rc == 0, err
    y, hn, cn = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"x": xs, "h0": h0, "c0": c0})
    got = np.load(tmp_path / "o.npz")
    assert np.allclose(got["y"].reshape(y.shape), y, atol=1e-5)
    assert np.allclose(got["hn"][-1], hn[0], atol=1e-5) and np.allclose(got["cn"][-1], cn[0], atol=1e-5)
    # without --carry every step starts from h0/c0 again: not the sequence
    rc, out, err = run_scalec("infer", tmp_path / "m.onnx", "--data", tmp_path / "d.npz", "--whole", "h0", "--whole", "c0",
                              "--batch", "1", "-o", tmp_path / "n.npz")
    assert rc == 0, err
    assert not np.allclose(np.load(tmp_path / "n.npz")["y"].reshape(y.shape), y, atol=1e-3)


def test_a_carry_that_does_not_fit_is_refused_naming_it(tmp_path):
    lstm_with_state(tmp_path / "m.onnx")
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 1, I), np.float32), h0=np.zeros((1, 1, H), np.float32),
             c0=np.zeros((1, 1, H), np.float32))
    base = ["infer", tmp_path / "m.onnx", "--data", tmp_path / "d.npz", "--whole", "h0", "--whole", "c0", "-o", tmp_path / "o.npz"]
    for carry, code, what in [("nope=h0", 2, "no output named 'nope'"), ("hn=nope", 2, "no input named 'nope'"),
                              ("y=h0", 2, "the output is float [1, 1, 1, 5], the input float [1, 1, 5]"),
                              ("hn", 1, "expected OUTPUT=INPUT")]:
        rc, out, err = run_scalec(*base, "--carry", carry)
        assert rc == code and what in err, (carry, err)
        assert not (tmp_path / "o.npz").exists()
    rc, out, err = run_scalec(*base, "--carry", "hn=h0", "--batch", "4")
    assert rc == 1 and "excludes" in err
