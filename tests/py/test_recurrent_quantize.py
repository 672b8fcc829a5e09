"""Quantized recurrent layers: `scalec quantize` stores LSTM as ONNX Runtime's
com.microsoft.DynamicQuantizeLSTM (dynamic format, the default without --calib) and GRU/RNN (and LSTM
in the other formats) as int8 rows behind DequantizeLinear; the coverage counts every recurrent layer
with its W and R. The quantized digit classifiers (tests/reference's nn.LSTM and bidirectional nn.GRU,
trained here 15 epochs with scalec finetune) run in ONNX Runtime and in scalec with close outputs, keep
top-1 within 0.5 points of fp32, and scalec runs the DynamicQuantizeLSTM ONNX Runtime's own quantizer writes.
"""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO_ROOT, TEST_MODELS_DIR

REFERENCE = REPO_ROOT / "tests" / "reference"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"


@pytest.fixture(scope="module")
def trained(scalec, tmp_path_factory):
    """The LSTM and GRU digit classifiers after 15 epochs (about 1 s each): 95.6% and 98.9% val top-1."""
    d = tmp_path_factory.mktemp("rnn")
    out = {}
    for name in ("lstm", "gru"):
        out[name] = d / f"{name}.onnx"
        rc, _, err = scalec("finetune", REFERENCE / f"{name}_digits_init.onnx", "--data", DIGITS_TRAIN, "--epochs", 15,
                            "--lr", 0.1, "--momentum", 0.9, "--seed", 1, "-o", out[name])
        assert rc == 0, err
    return out


def ort_run(model, x):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def scalec_run(scalec, model, data, tmp_path):
    out = tmp_path / "out.npz"
    rc, _, err = scalec("infer", model, "--data", data, "-o", out)
    assert rc == 0, err
    npz = np.load(out)
    return npz[npz.files[0]]


def sqnr(ref, got):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref.astype(np.float64) - got) ** 2))


def inits(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def quantize(scalec, model, tmp_path, *args):
    out, report = tmp_path / "q.onnx", tmp_path / "q.json"
    rc, stdout, err = scalec("quantize", model, *args, "-o", out, "--report", report)
    assert rc == 0, err
    return out, stdout, json.loads(report.read_text())


def top1(logits, labels):
    return 100.0 * float((logits.argmax(axis=1) == labels).mean())


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_dynamic_int8_runs_in_both_runtimes_within_half_a_point(scalec, trained, name, tmp_path):
    model = trained[name]
    w = inits(model)
    rnn = {k: v for k, v in w.items() if k.startswith(f"onnx::{name.upper()}") and v.ndim == 3}
    assert len(rnn) == 2  # W and R
    out, stdout, report = quantize(scalec, model, tmp_path)
    # Coverage: the recurrent layer and the Linear, with W + R counted (1,536 of 1,696 for the LSTM).
    c = report["coverage"]
    fc = w["fc.weight"].size
    assert (c["layers_changed"], c["layers_total"]) == (2, 2), c
    assert c["params_changed"] == c["params_total"] == fc + sum(v.size for v in rnn.values()), c
    form = "1 DynamicQuantizeLSTM int7" if name == "lstm" else "1 recurrent weight-only int8"
    assert f"quantize-dynamic: quantized 2 of 2 layers, 100.0% of weights (1 MatMulInteger + 0 ConvInteger, {form}" in stdout
    q = onnx.load(str(out))
    ops = [(n.domain, n.op_type) for n in q.graph.node]
    if name == "lstm":
        assert ("com.microsoft", "DynamicQuantizeLSTM") in ops and ("", "LSTM") not in ops
        assert any(o.domain == "com.microsoft" and o.version == 1 for o in q.opset_import)
        qw = inits(out)
        # W [1, 64, 8] -> int8 [1, 8, 64] (transposed), one scale per gate row: [1, 64]; zero points 0.
        (wq,) = [v for k, v in qw.items() if v.dtype == np.int8 and v.shape == (1, 8, 64)]
        (rq,) = [v for k, v in qw.items() if v.dtype == np.int8 and v.shape == (1, 16, 64)]
        assert np.abs(wq).max() == 63 and np.abs(rq).max() == 63  # 7 bits (ONNX Runtime's u8s8 kernels)
        assert sum(1 for v in qw.values() if v.dtype == np.float32 and v.shape == (1, 64)) == 2
    else:
        assert ("", "GRU") in ops and ops.count(("", "DequantizeLinear")) == 2  # W and R (the Linear: MatMulInteger)
        gru = next(n for n in q.graph.node if n.op_type == "GRU")
        assert all(gru.input[i].endswith("_reshaped") for i in (1, 2))  # bidirectional: [2*48, C] rows, reshaped
    val = np.load(DIGITS_VAL)
    x, labels = val["input"], val["labels"]
    ref = ort_run(model, x)
    got_ort, got_scalec = ort_run(out, x), scalec_run(scalec, out, DIGITS_VAL, tmp_path)
    # ONNX Runtime also rounds activations (x, h, the Linear's input) at run time; scalec only the Linear's.
    assert sqnr(got_ort, got_scalec) > 30, sqnr(got_ort, got_scalec)
    assert sqnr(ref, got_ort) > 35 and sqnr(ref, got_scalec) > 35, (sqnr(ref, got_ort), sqnr(ref, got_scalec))
    for got in (got_ort, got_scalec):
        assert top1(got, labels) >= top1(ref, labels) - 0.5, (top1(got, labels), top1(ref, labels))


@pytest.mark.parametrize("args", [("--format", "weight-only", "--per-channel"), ("--calib", DIGITS_TRAIN)],
                         ids=["weight-only", "qdq"])
def test_lstm_weight_only_in_the_other_formats_matches_between_runtimes(scalec, trained, args, tmp_path):
    out, stdout, report = quantize(scalec, trained["lstm"], tmp_path, *args)
    c = report["coverage"]
    assert (c["layers_changed"], c["layers_total"], c["left"]) == (2, 2, []), c
    assert "1 recurrent weight-only int8" in stdout, stdout
    q = onnx.load(str(out))
    lstm = next(n for n in q.graph.node if n.op_type == "LSTM")
    producers = {o: n for n in q.graph.node for o in n.output}
    assert [producers[lstm.input[i]].op_type for i in (1, 2)] == ["DequantizeLinear"] * 2
    # Each row of W within half its own step of the float row.
    qw, w = inits(out), inits(trained["lstm"])
    dq = producers[lstm.input[1]]
    wq, scale = qw[dq.input[0]].astype(np.float32), qw[dq.input[1]]
    wf = w["onnx::LSTM_152"] if "onnx::LSTM_152" in w else next(v for k, v in w.items() if v.shape == (1, 64, 8))
    assert wq.shape == (1, 64, 8) and scale.shape == (64,)
    assert np.all(np.abs(wq * scale[None, :, None] - wf) <= scale[None, :, None] / 2 + 1e-7)
    val = np.load(DIGITS_VAL)
    got_ort, got_scalec = ort_run(out, val["input"]), scalec_run(scalec, out, DIGITS_VAL, tmp_path)
    if args[0] == "--format":  # float compute everywhere: the same numbers
        np.testing.assert_allclose(got_scalec, got_ort, rtol=1e-4, atol=1e-4)
    else:
        assert sqnr(got_ort, got_scalec) > 30


def test_excluded_recurrent_layer_is_named_and_counted(scalec, trained, tmp_path):
    out, stdout, report = quantize(scalec, trained["lstm"], tmp_path, "--exclude-ops", "LSTM")
    c = report["coverage"]
    fc = inits(trained["lstm"])["fc.weight"].size
    assert (c["layers_changed"], c["layers_total"], c["params_changed"], c["params_total"]) == (1, 2, fc, 1696), c
    assert f"quantized 1 of 2 layers, {100 * fc / 1696:.1f}% of weights" in stdout, stdout
    assert "  left in float: 1 excluded by --exclude-ops: /rnn/LSTM\n" in stdout, stdout
    assert [n.op_type for n in onnx.load(str(out)).graph.node].count("LSTM") == 1


def test_scalec_runs_onnx_runtimes_dynamic_quantize_lstm(scalec, trained, tmp_path):
    """ONNX Runtime's quantize_dynamic (per channel, reduced range) writes DynamicQuantizeLSTM: scalec runs it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    out = tmp_path / "ort.onnx"
    quantize_dynamic(str(trained["lstm"]), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
    assert "DynamicQuantizeLSTM" in [n.op_type for n in onnx.load(str(out)).graph.node]
    val = np.load(DIGITS_VAL)
    got_ort, got_scalec = ort_run(out, val["input"]), scalec_run(scalec, out, DIGITS_VAL, tmp_path)
    assert sqnr(got_ort, got_scalec) > 30, sqnr(got_ort, got_scalec)
    # A quantized model is not quantized again.
    rc, _, err = scalec("quantize", out, "-o", tmp_path / "again.onnx")
    assert rc == 2 and "is a DynamicQuantizeLSTM" in err, err


def rnn_model(path, op, direction, layout=0):
    """x -> one op node (hidden 6, input 5, 3 steps, batch 4) -> Y (and Y_h for a check of every output)."""
    rng = np.random.default_rng(3)
    d = 2 if direction == "bidirectional" else 1
    g = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    w = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.5, n)
         for n, s in [("W", (d, g * 6, 5)), ("R", (d, g * 6, 6)), ("B", (d, 2 * g * 6))]]
    x_shape = [3, 4, 5] if layout == 0 else [4, 3, 5]
    y_shape = [3, d, 4, 6] if layout == 0 else [4, 3, d, 6]
    h_shape = [d, 4, 6] if layout == 0 else [4, d, 6]
    attrs = {"hidden_size": 6, "direction": direction}
    if layout:
        attrs["layout"] = 1
    node = helper.make_node(op, ["x", "W", "R", "B"], ["y", "h"], name="rnn", **attrs)
    graph = helper.make_graph([node], "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape),
                               helper.make_tensor_value_info("h", TensorProto.FLOAT, h_shape)], w)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    return path


@pytest.mark.parametrize("op,direction,layout,form", [
    ("LSTM", "bidirectional", 0, "DynamicQuantizeLSTM"), ("LSTM", "forward", 1, "LSTM"),
    ("GRU", "reverse", 0, "GRU"), ("RNN", "bidirectional", 0, "RNN")])
def test_one_node_models_quantize_and_run_alike(scalec, op, direction, layout, form, tmp_path):
    """Every output of a lone recurrent node; a layout=1 LSTM stays LSTM (DynamicQuantizeLSTM has no layout)."""
    model = rnn_model(tmp_path / "m.onnx", op, direction, layout)
    out, stdout, report = quantize(scalec, model, tmp_path, "--format", "dynamic")
    assert report["coverage"]["layers_changed"] == report["coverage"]["layers_total"] == 1
    assert form in [n.op_type for n in onnx.load(str(out)).graph.node]
    x = np.random.default_rng(4).standard_normal([3, 4, 5] if layout == 0 else [4, 3, 5]).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)

    def scalec_outputs(path, tag):
        rc, _, err = scalec("infer", path, "--data", tmp_path / "x.npz", "--batch", 0, "-o", tmp_path / f"{tag}.npz")
        assert rc == 0, err
        return np.load(tmp_path / f"{tag}.npz")

    mine = scalec_outputs(out, "q")
    if layout == 1:  # ONNX Runtime refuses layout=1 recurrent nodes: against scalec's float run
        ref = scalec_outputs(model, "f")
        for name in ("y", "h"):
            assert sqnr(ref[name], mine[name]) > 30, (name, sqnr(ref[name], mine[name]))
        return
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for i, name in enumerate(("y", "h")):
        tol = 0.05 if form == "DynamicQuantizeLSTM" else 1e-4  # ONNX Runtime rounds x and h to uint8 there
        np.testing.assert_allclose(mine[name], got[i], atol=tol, err_msg=name)
        assert sqnr(ref[i], got[i]) > 30, (name, sqnr(ref[i], got[i]))


def test_qat_leaves_the_recurrent_layer_float_and_says_so(scalec, trained, tmp_path):
    """--qat trains the Linear in fake-quant form; the LSTM stays float, counted, with why."""
    out, stdout, report = quantize(scalec, trained["lstm"], tmp_path, "--qat", "--data", DIGITS_TRAIN, "--epochs", 1)
    c = report["coverage"]
    assert (c["layers_changed"], c["layers_total"]) == (1, 2), c
    assert "left in float: 1 recurrent weights are not trained in fake-quant form (--qat): /rnn/LSTM" in stdout, stdout
    assert [n.op_type for n in onnx.load(str(out)).graph.node].count("LSTM") == 1


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_quantized_recurrent_layers_keep_their_macs(scalec, trained, name, tmp_path):
    """inspect counts the same MACs per sample before and after (DynamicQuantizeLSTM's W and R are transposed)."""
    out, _, _ = quantize(scalec, trained[name], tmp_path)
    macs = []
    for model in (trained[name], out):
        rc, stdout, err = scalec("inspect", model, "--json")
        assert rc == 0, err
        macs.append(json.loads(stdout)["macs_per_sample"])
    assert macs[0] == macs[1] and macs[0] > 10000, macs
