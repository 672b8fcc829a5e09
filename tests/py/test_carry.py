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


def vad_like(path):
    """Shaped like a VAD export: an If on the sample rate picks one of two Conv front ends (weights read
    from the main graph), an LSTM with its state in and out, a Sigmoid speech probability."""
    rng = np.random.default_rng(5)
    w = lambda *s: (rng.normal(size=s) * 0.4).astype(np.float32)  # noqa: E731
    front = lambda name, weight: helper.make_graph(  # noqa: E731
        [helper.make_node("Conv", ["x3", weight], [name], strides=[4])], name + "_branch", [],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 8, 16])])
    nodes = [
        helper.make_node("Unsqueeze", ["x", "axis1"], ["x3"]),
        helper.make_node("Equal", ["sr", "sr16k"], ["is16k"]),
        helper.make_node("If", ["is16k"], ["feat"], then_branch=front("f16", "W16"), else_branch=front("f8", "W8")),
        helper.make_node("Transpose", ["feat"], ["seq"], perm=[2, 0, 1]),
        helper.make_node("LSTM", ["seq", "W", "R", "B", "", "h", "c"], ["", "hn", "cn"], hidden_size=H),
        helper.make_node("Reshape", ["hn", "flat"], ["last"]),
        helper.make_node("MatMul", ["last", "Wo"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
    ]
    inits = [numpy_helper.from_array(w(8, 1, 4), "W16"), numpy_helper.from_array(w(8, 1, 4), "W8"),
             numpy_helper.from_array(w(1, 4 * H, 8), "W"), numpy_helper.from_array(w(1, 4 * H, H), "R"),
             numpy_helper.from_array(w(1, 8 * H), "B"), numpy_helper.from_array(w(H, 1), "Wo"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1"), numpy_helper.from_array(np.array(16000, np.int64), "sr16k"),
             numpy_helper.from_array(np.array([1, H], np.int64), "flat")]
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64]),
           helper.make_tensor_value_info("sr", TensorProto.INT64, []),
           helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, H]),
           helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 1, H])]
    outs = [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 1]),
            helper.make_tensor_value_info("hn", TensorProto.FLOAT, [1, 1, H]),
            helper.make_tensor_value_info("cn", TensorProto.FLOAT, [1, 1, H])]
    m = helper.make_model(helper.make_graph(nodes, "vad", ins, outs, inits), opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def stream_in_ort(path, chunks, sr):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    h, c, probs = np.zeros((1, 1, H), np.float32), np.zeros((1, 1, H), np.float32), []
    for x in chunks:
        p, h, c = s.run(None, {"x": x[None], "sr": np.array(sr, np.int64), "h": h, "c": c})
        probs.append(p)
    return np.concatenate(probs)


def test_a_vad_shaped_streaming_model_runs_chunk_by_chunk_like_onnxruntime(tmp_path):
    vad_like(tmp_path / "vad.onnx")
    chunks = np.random.default_rng(6).normal(size=(10, 64)).astype(np.float32)
    for sr in (16000, 8000):  # each sample rate takes its own branch
        np.savez(tmp_path / "d.npz", x=chunks, sr=np.array(sr, np.int64), h=np.zeros((1, 1, H), np.float32),
                 c=np.zeros((1, 1, H), np.float32))
        rc, out, err = run_scalec("infer", tmp_path / "vad.onnx", "--data", tmp_path / "d.npz", "--whole", "sr", "--whole", "h",
                                  "--whole", "c", "--carry", "hn=h", "--carry", "cn=c", "-o", tmp_path / f"p{sr}.npz")
        assert rc == 0, err
        got = np.load(tmp_path / f"p{sr}.npz")["prob"].reshape(-1)
        assert np.allclose(got, stream_in_ort(tmp_path / "vad.onnx", chunks, sr).reshape(-1), atol=1e-5), sr
    assert not np.allclose(np.load(tmp_path / "p16000.npz")["prob"], np.load(tmp_path / "p8000.npz")["prob"])
    # dynamic quantization: the LSTM and the MatMul in integer form, the front ends (inside the If) named as left float
    rc, out, err = run_scalec("quantize", tmp_path / "vad.onnx", "--format", "dynamic", "-o", tmp_path / "q.onnx")
    assert rc == 0, err
    assert "quantized 2 of 4 layers" in out and "2 inside an If/Loop/Scan body" in out, out
    q = stream_in_ort(tmp_path / "q.onnx", chunks, 16000).reshape(-1)
    ref = stream_in_ort(tmp_path / "vad.onnx", chunks, 16000).reshape(-1)
    assert np.abs(q - ref).max() < 0.05
