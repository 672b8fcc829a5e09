"""LSTM, GRU and RNN in scalec's runtime against ONNX Runtime, attribute by attribute.

Each case is a one-node model (W, R, B, P as initializers; X, sequence_lens, initial_h,
initial_c as graph inputs) run by `scalec infer --batch 0` and by ONNX Runtime; outputs must agree
within rtol 1e-4, atol 1e-5. ONNX Runtime has no layout=1 kernels, so layout 1 is checked against
the layout 0 model with the axes swapped, and opset 22 against opset 14 (same semantics).
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import CRASH_MARKERS, run_scalec_raw

RTOL, ATOL = 1e-4, 1e-5
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
S, N, I, H = 5, 3, 4, 6


def make_case(op, direction="forward", attrs=None, bias=True, lens=None, init=True, peep=True, outputs=None,
              opset=14, layout=0, seed=0, sizes=None):
    """(model, feeds) for one recurrent node; `sizes` (S, N, I, H) replaces the module's."""
    S, N, I, H = sizes or (globals()["S"], globals()["N"], globals()["I"], globals()["H"])
    rng = np.random.default_rng(seed)
    d, g = (2 if direction == "bidirectional" else 1), GATES[op]
    lstm = op == "LSTM"
    inits = [numpy_helper.from_array(rng.uniform(-0.6, 0.6, (d, g * H, I)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.uniform(-0.6, 0.6, (d, g * H, H)).astype(np.float32), "R")]
    x_shape = [S, N, I] if layout == 0 else [N, S, I]
    state = [d, N, H] if layout == 0 else [N, d, H]
    feeds = {"X": rng.standard_normal(x_shape).astype(np.float32)}
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    names = ["X", "W", "R"]
    if bias:
        inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, (d, 2 * g * H)).astype(np.float32), "B"))
    names.append("B" if bias else "")
    if lens is not None:
        feeds["sequence_lens"] = np.array(lens, np.int32)
        graph_inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [N]))
    names.append("sequence_lens" if lens is not None else "")
    for name in (["initial_h", "initial_c"] if lstm else ["initial_h"]):
        if init:
            feeds[name] = rng.uniform(-1, 1, state).astype(np.float32)
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, state))
        names.append(name if init else "")
    if lstm:
        if peep:
            inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, (d, 3 * H)).astype(np.float32), "P"))
        names.append("P" if peep else "")
    while names[-1] == "":
        names.pop()
    outputs = outputs or (["Y", "Y_h", "Y_c"] if lstm else ["Y", "Y_h"])
    kw = dict(attrs or {})
    kw["direction"], kw["hidden_size"] = direction, H
    if opset >= 14:
        kw["layout"] = layout
    node = helper.make_node(op, names, outputs, name="rnn", **kw)
    y_shape = [S, d, N, H] if layout == 0 else [N, S, d, H]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, y_shape if i == 0 else state)
            for i, o in enumerate(outputs) if o]
    graph = helper.make_graph([node], "rnn", graph_inputs, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model, feeds


def run_scalec(model, feeds, tmp_path):
    path, data, out = tmp_path / "m.onnx", tmp_path / "in.npz", tmp_path / "out.npz"
    onnx.save(model, str(path))
    np.savez(data, **feeds)
    rc, _, err = run_scalec_raw(["infer", path, "--data", data, "-o", out, "--batch", "0", "--threads", "2"])
    assert rc == 0, err
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def run_ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def assert_close(got, want):
    assert set(got) == set(want), (sorted(got), sorted(want))
    for name, ref in want.items():
        assert got[name].shape == ref.shape, (name, got[name].shape, ref.shape)
        np.testing.assert_allclose(got[name], ref, rtol=RTOL, atol=ATOL, err_msg=name)


ACTS = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu",
        "Softsign", "Softplus"]

CASES = {
    # name: (op, make_case keyword arguments)
    "lstm_forward": ("LSTM", {}),
    "lstm_reverse": ("LSTM", {"direction": "reverse"}),
    "lstm_bidirectional_seq_lens": ("LSTM", {"direction": "bidirectional", "lens": [5, 2, 1]}),
    "lstm_input_forget_clip": ("LSTM", {"attrs": {"input_forget": 1, "clip": 0.8}}),
    "lstm_no_optional_inputs": ("LSTM", {"bias": False, "init": False, "peep": False}),
    "lstm_only_y_h": ("LSTM", {"direction": "bidirectional", "outputs": ["", "Y_h"]}),
    "lstm_y_and_y_c": ("LSTM", {"outputs": ["Y", "", "Y_c"], "lens": [3, 5, 4]}),
    "lstm_opset7": ("LSTM", {"opset": 7, "direction": "bidirectional"}),
    "lstm_activations_alpha_beta": ("LSTM", {"direction": "bidirectional", "attrs": {
        "activations": ["HardSigmoid", "LeakyRelu", "ScaledTanh", "Sigmoid", "Elu", "Softsign"],
        "activation_alpha": [0.3, 0.2, 0.9, 0.7], "activation_beta": [0.45, 1.2]}}),
    "gru_forward": ("GRU", {}),
    "gru_linear_before_reset": ("GRU", {"attrs": {"linear_before_reset": 1}}),
    "gru_bidirectional_seq_lens": ("GRU", {"direction": "bidirectional", "lens": [2, 5, 3]}),
    "gru_reverse_lbr_clip": ("GRU", {"direction": "reverse", "attrs": {"linear_before_reset": 1, "clip": 0.5}}),
    "gru_no_bias_no_init": ("GRU", {"bias": False, "init": False, "outputs": ["", "Y_h"]}),
    "gru_activations": ("GRU", {"direction": "bidirectional", "attrs": {
        "activations": ["Sigmoid", "Softplus", "HardSigmoid", "Affine"], "activation_alpha": [0.25, 0.8],
        "activation_beta": [0.5, 0.1]}}),
    "rnn_forward": ("RNN", {}),
    "rnn_bidirectional_seq_lens": ("RNN", {"direction": "bidirectional", "lens": [1, 4, 5]}),
    "rnn_relu_clip": ("RNN", {"direction": "reverse", "attrs": {"activations": ["Relu"], "clip": 1.5}}),
    "rnn_opset7": ("RNN", {"opset": 7, "attrs": {"activations": ["ThresholdedRelu"], "activation_alpha": [0.1]}}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_onnx_runtime(case, tmp_path):
    op, kw = CASES[case]
    model, feeds = make_case(op, **kw)
    assert_close(run_scalec(model, feeds, tmp_path), run_ort(model, feeds))


@pytest.mark.parametrize("given", [True, False], ids=["alpha_beta", "no_alpha_beta"])
@pytest.mark.parametrize("act", ACTS)
def test_each_activation_matches_onnx_runtime(act, given, tmp_path):
    """Each function in both directions; alpha/beta given (consumed in order), or not (read as 0)."""
    attrs = {"activations": [act, act]}
    if given:
        attrs.update(activation_alpha=[0.3, 0.6], activation_beta=[0.4, 0.7])
    model, feeds = make_case("RNN", direction="bidirectional", attrs=attrs, seed=3)
    assert_close(run_scalec(model, feeds, tmp_path), run_ort(model, feeds))


@pytest.mark.parametrize("op", sorted(GATES))
def test_layout_1_is_layout_0_with_batch_first(op, tmp_path):
    kw = {"direction": "bidirectional", "lens": [4, 5, 2], "seed": 5}
    model0, feeds0 = make_case(op, **kw)
    model1, feeds1 = make_case(op, layout=1, **kw)
    np.testing.assert_array_equal(feeds1["X"].shape, [N, S, I])
    # The same numbers, batch first.
    feeds1 = {k: (np.swapaxes(v, 0, 1).copy() if v.ndim == 3 else v) for k, v in feeds0.items()}
    got = run_scalec(model1, feeds1, tmp_path)
    ref = run_ort(model0, feeds0)
    assert_close({"Y": got["Y"]}, {"Y": np.transpose(ref["Y"], (2, 0, 1, 3))})
    for name in [n for n in ref if n != "Y"]:
        np.testing.assert_allclose(got[name], np.swapaxes(ref[name], 0, 1), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("op", sorted(GATES))
def test_batch_rows_split_over_threads_match_onnx_runtime(op, tmp_path):
    """Batch 300 with hidden 64: the gate arithmetic runs in several chunks of rows on 2 threads.
    Lengths 0 to 4 (zero states for length 0, as ONNX Runtime's LSTM and GRU give them; its RNN
    returns neither zeros nor initial_h there in the forward direction, so RNN gets lengths 1 to 4)."""
    lens = [(7 * b) % 5 if op != "RNN" else (7 * b) % 4 + 1 for b in range(300)]
    model, feeds = make_case(op, direction="bidirectional", lens=lens, sizes=(4, 300, 5, 64),
                             attrs={"linear_before_reset": 1} if op == "GRU" else None)
    assert_close(run_scalec(model, feeds, tmp_path), run_ort(model, feeds))
    model, feeds = make_case(op, sizes=(3, 300, 5, 64), seed=1)
    assert_close(run_scalec(model, feeds, tmp_path), run_ort(model, feeds))


@pytest.mark.parametrize("op", sorted(GATES))
def test_opset_22_runs_as_opset_14(op, tmp_path):
    model, feeds = make_case(op, direction="bidirectional", lens=[5, 1, 3], opset=22)
    model14, _ = make_case(op, direction="bidirectional", lens=[5, 1, 3], opset=14)
    assert_close(run_scalec(model, feeds, tmp_path), run_ort(model14, feeds))


@pytest.mark.parametrize("op", sorted(GATES))
def test_float16_computes_in_float32_like_onnx_runtime(op, tmp_path):
    """A float16 node (every float input and output half): computed in float32, rounded back."""
    model, feeds = make_case(op, direction="bidirectional", lens=[5, 2, 4], opset=14)
    for t in model.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    for v in list(model.graph.input) + list(model.graph.output):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    feeds = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in feeds.items()}
    got, ref = run_scalec(model, feeds, tmp_path), run_ort(model, feeds)
    assert all(v.dtype == np.float16 for v in got.values())
    for name, r in ref.items():
        np.testing.assert_allclose(got[name].astype(np.float32), r.astype(np.float32), rtol=2e-3, atol=2e-3, err_msg=name)


@pytest.mark.parametrize("attrs,fragment", [
    ({"direction": "sideways"}, "direction"),
    ({"activations": ["Swish"]}, "activation 'Swish'"),
    ({"layout": 2}, "layout"),
    ({"hidden_size": 7}, "hidden_size"),
    ({"activations": ["Tanh", "Tanh"]}, "activations lists 2"),
])
def test_bad_attributes_exit_2_naming_the_problem(attrs, fragment, tmp_path):
    model, feeds = make_case("RNN")
    node = model.graph.node[0]
    keep = [a for a in node.attribute if a.name not in attrs]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.extend(helper.make_attribute(k, v) for k, v in attrs.items())
    path, data = tmp_path / "m.onnx", tmp_path / "in.npz"
    onnx.save(model, str(path))
    np.savez(data, **feeds)
    rc, _, err = run_scalec_raw(["infer", path, "--data", data, "-o", tmp_path / "o.npz", "--batch", "0"])
    assert rc == 2, err
    assert fragment in err, err
    assert not any(m in err for m in CRASH_MARKERS), err


def test_bad_inputs_exit_2_naming_the_problem(tmp_path):
    """A sequence length past X's steps, and W holding one direction for a bidirectional node."""
    model, feeds = make_case("GRU", lens=[5, 6, 1])
    path, data = tmp_path / "m.onnx", tmp_path / "in.npz"
    onnx.save(model, str(path))
    np.savez(data, **feeds)
    rc, _, err = run_scalec_raw(["infer", path, "--data", data, "-o", tmp_path / "o.npz", "--batch", "0"])
    assert rc == 2 and "sequence_lens[1] is 6; it must be in [0, 5]" in err, err
    model, feeds = make_case("LSTM")
    next(a for a in model.graph.node[0].attribute if a.name == "direction").s = b"bidirectional"
    onnx.save(model, str(path))
    np.savez(data, **feeds)
    rc, _, err = run_scalec_raw(["infer", path, "--data", data, "-o", tmp_path / "o.npz", "--batch", "0"])
    assert rc == 2 and "holds 1 direction(s) but the direction attribute needs 2" in err, err
    assert not (tmp_path / "o.npz").exists()
