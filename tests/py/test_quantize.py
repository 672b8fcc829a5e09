"""`scalec quantize`: the outputs load in ONNX Runtime and agree with scalec's own executor, int8
keeps lenet_digits' accuracy, and bad input gets the right exit code."""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort
import pytest

from conftest import CRASH_MARKERS, TEST_MODELS_DIR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"
INPUTS = {"mlp": ("input", (64,)), "resnet_bn": ("input", (3, 16, 16)), "mobilenet_block": ("input", (8, 16, 16))}


def ort_run(path, feeds, optimize=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def scalec_infer(scalec, model, data, tmp_path, *extra):
    out = tmp_path / "out.npz"
    rc, _, err = scalec("infer", model, "--data", data, "-o", out, *extra)
    assert rc == 0, err
    return np.load(out)["logits"]


def random_data(model: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    if model == "transformer_block":
        return {"tokens": rng.integers(0, 100, size=(n, 16)).astype(np.int64)}
    name, shape = INPUTS[model]
    return {name: rng.standard_normal((n, *shape)).astype(np.float32)}


def test_lenet_int8_qdq_keeps_accuracy_and_matches_onnxruntime(scalec, tmp_path):
    out, report = tmp_path / "int8.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("quantize", LENET, "--bits", "8", "--calib", DIGITS_TRAIN, "-o", out, "--report", report)
    assert rc == 0, err
    assert "quantize-qdq" in stdout
    j = json.loads(report.read_text())
    assert j["schema_version"] == 2 and j["format"] == "qdq" and j["left_float"] == []
    assert j["weights_quantized"] == 4 and j["calibration"]["samples"] == 1437
    m = onnx.load(out)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("QuantizeLinear") > 0 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    assert any(p.key == "scalec.passes" and "quantize-qdq" in p.value for p in m.metadata_props)
    val = np.load(DIGITS_VAL)
    labels = val["labels"]
    # ONNX Runtime, fused integer kernels and all (7-bit weights by default keep them exact).
    theirs = ort_run(out, {"input": val["input"]})
    ours = scalec_infer(scalec, out, DIGITS_VAL, tmp_path)
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.999
    fp32 = (ort_run(LENET, {"input": val["input"]}).argmax(1) == labels).mean()
    int8 = (ours.argmax(1) == labels).mean()
    assert int8 >= fp32 - 0.01, (fp32, int8)
    rc, stdout, err = scalec("eval", out, "--data", DIGITS_VAL, "--report", "-")
    assert rc == 0, err
    assert abs(json.loads(stdout)["top1"] - int8) < 1e-9


def ort_optimized_ops(path, tmp_path):
    """Op types of the graph ONNX Runtime runs after its optimizations (QDQ fusions included)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(tmp_path / "ort_optimized.onnx")
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]


def test_lenet_qdq_fuses_into_integer_convs_in_onnxruntime(scalec, tmp_path):
    # Q -> DQ on each Conv's output (before its Relu) lets ORT fuse DQ -> Conv -> Q into QLinearConv;
    # 7-bit weights (the default, --reduce-range) keep its u8s8 kernels from saturating on x86.
    out = tmp_path / "int8.onnx"
    rc, _, err = scalec("quantize", LENET, "--calib", DIGITS_TRAIN, "-o", out)
    assert rc == 0, err
    ops = ort_optimized_ops(out, tmp_path)
    assert ops.count("QLinearConv") == 2, ops
    assert not {"Conv", "FusedConv", "NchwcConv"} & set(ops), ops
    assert ops.count("QGemm") == 1, ops  # the hidden Gemm; the logits Gemm stays float
    val = np.load(DIGITS_VAL)
    theirs = ort_run(out, {"input": val["input"]})
    ours = scalec_infer(scalec, out, DIGITS_VAL, tmp_path)
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.999
    fp32 = (ort_run(LENET, {"input": val["input"]}).argmax(1) == val["labels"]).mean()
    int8 = (theirs.argmax(1) == val["labels"]).mean()
    assert int8 >= fp32 - 0.005, (fp32, int8)


@pytest.mark.parametrize("model", ["mlp", "resnet_bn", "mobilenet_block", "transformer_block"])
def test_qdq_models_load_in_onnxruntime_and_agree(scalec, tmp_path, model):
    calib, data = tmp_path / "calib.npz", tmp_path / "data.npz"
    np.savez(calib, **random_data(model, 128, 1))
    feeds = random_data(model, 1000, 2)
    np.savez(data, **feeds)
    src = TEST_MODELS_DIR / f"{model}.onnx"
    out = tmp_path / "q.onnx"
    rc, _, err = scalec("quantize", src, "--calib", calib, "-o", out, "--method", "entropy")
    assert rc == 0, err
    ours = scalec_infer(scalec, out, data, tmp_path)
    # ONNX Runtime running the QDQ graph as written (no fusions) computes what scalec computes. A value
    # that float summation order puts on the other side of a rounding boundary before a QuantizeLinear
    # lands one level apart (the transformer, with a Q/DQ pair after every MatMul: ~1% of samples).
    theirs = ort_run(out, feeds, optimize=False)
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.999
    exact = (np.abs(theirs - ours).max(axis=1) < 1e-4 * max(1.0, np.abs(ours).max())).mean()
    assert exact >= 0.98, exact
    assert np.abs(theirs - ours).max() < 0.05 * np.abs(ours).max()
    # Its fused int8 kernels agree too with the default 7-bit weights (reduce range).
    fused = ort_run(out, feeds)
    assert (fused.argmax(1) == ours.argmax(1)).mean() >= 0.995
    assert np.abs(fused - ours).max() < 0.05 * np.abs(ours).max()
    # --full-range: 8-bit weights [-127, 127], for TensorRT and VNNI CPUs. The graph still means what
    # scalec computes (ORT's fused x86 u8s8 kernels may saturate on it, so compare the unfused run).
    out8 = tmp_path / "q8.onnx"
    rc, _, err = scalec("quantize", src, "--full-range", "--calib", calib, "-o", out8, "--method", "entropy",
                        "--report", tmp_path / "r8.json")
    assert rc == 0, err
    assert json.loads((tmp_path / "r8.json").read_text())["weight_bits"] == 8
    ours8, theirs8 = scalec_infer(scalec, out8, data, tmp_path), ort_run(out8, feeds, optimize=False)
    assert (theirs8.argmax(1) == ours8.argmax(1)).mean() >= 0.999


def test_transformer_weight_only_int4_runs_in_onnxruntime(scalec, tmp_path):
    data = tmp_path / "data.npz"
    feeds = random_data("transformer_block", 1000, 3)
    np.savez(data, **feeds)
    out, report = tmp_path / "w4.onnx", tmp_path / "r.json"
    rc, _, err = scalec("quantize", TEST_MODELS_DIR / "transformer_block.onnx", "--format", "weight-only", "--bits", "4",
                        "--block", "32", "-o", out, "--report", report)
    assert rc == 0, err
    m = onnx.load(out)
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [21]
    dqs = [n for n in m.graph.node if n.op_type == "DequantizeLinear"]
    assert len(dqs) == json.loads(report.read_text())["weights_quantized"] == 7
    theirs, ours = ort_run(out, feeds), scalec_infer(scalec, out, data, tmp_path)
    assert np.abs(theirs - ours).max() < 1e-2
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.99


def int_weights(path, op):
    """The integer weight initializers read by `op` nodes (input 3 of QLinear*, input 1 of MatMulInteger)."""
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    slot = 1 if op == "MatMulInteger" else 3
    return [inits[n.input[slot]] for n in m.graph.node if n.op_type == op]


@pytest.mark.parametrize("model", ["mlp", "resnet_bn", "mobilenet_block", "lenet_digits"])
def test_qoperator_models_load_in_onnxruntime_and_agree(scalec, tmp_path, model):
    if model == "lenet_digits":
        calib, data, feeds = DIGITS_TRAIN, DIGITS_VAL, {"input": np.load(DIGITS_VAL)["input"]}
    else:
        calib, data = tmp_path / "calib.npz", tmp_path / "data.npz"
        np.savez(calib, **random_data(model, 128, 1))
        feeds = random_data(model, 1000, 2)
        np.savez(data, **feeds)
    out, report = tmp_path / "q.onnx", tmp_path / "r.json"
    # 7-bit weights: ONNX Runtime's u8s8 kernels saturate with full-range int8 weights (see above).
    rc, stdout, err = scalec("quantize", TEST_MODELS_DIR / f"{model}.onnx", "--format", "qoperator", "--reduce-range",
                             "--calib", calib, "-o", out, "--report", report)
    assert rc == 0, err
    assert "quantize-qoperator" in stdout
    j = json.loads(report.read_text())
    assert j["format"] == "qoperator" and j["weight_bits"] == 7 and j["reduce_range"] and j["left_float"] == []
    ops = [n.op_type for n in onnx.load(out).graph.node]
    assert "Conv" not in ops and "Gemm" not in ops and "MatMul" not in ops
    assert ops.count("QLinearConv") + ops.count("QLinearMatMul") == j["weights_quantized"] > 0
    for w in int_weights(out, "QLinearConv") + int_weights(out, "QLinearMatMul"):
        assert w.dtype == np.int8 and np.abs(w.astype(np.int32)).max() <= 63
    ours, theirs = scalec_infer(scalec, out, data, tmp_path), ort_run(out, feeds)
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.999
    assert np.abs(theirs - ours).max() < 0.02 * np.abs(ours).max()
    fp32 = ort_run(TEST_MODELS_DIR / f"{model}.onnx", feeds)
    assert (fp32.argmax(1) == ours.argmax(1)).mean() >= 0.9


def test_qoperator_keep_io_float_lists_first_and_last_layers(scalec, tmp_path):
    out, report = tmp_path / "q.onnx", tmp_path / "r.json"
    rc, _, err = scalec("quantize", LENET, "--format", "qoperator", "--calib", DIGITS_TRAIN, "--keep-io-float",
                        "-o", out, "--report", report)
    assert rc == 0, err
    left = {e["node"]: e["reason"] for e in json.loads(report.read_text())["left_float"]}
    assert left == {"/features/features.0/Conv": "reads a graph input (--keep-io-float)",
                    "/classifier/classifier.3/Gemm": "writes a graph output (--keep-io-float)"}
    ops = [n.op_type for n in onnx.load(out).graph.node]
    assert ops.count("QLinearConv") == 1 and ops.count("QLinearMatMul") == 1 and ops.count("Gemm") == 1
    val = np.load(DIGITS_VAL)
    ours, theirs = scalec_infer(scalec, out, DIGITS_VAL, tmp_path), ort_run(out, {"input": val["input"]})
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.999


def test_transformer_dynamic_needs_no_calibration_and_matches_onnxruntime(scalec, tmp_path):
    data = tmp_path / "data.npz"
    feeds = random_data("transformer_block", 1000, 3)
    np.savez(data, **feeds)
    out, report = tmp_path / "dyn.onnx", tmp_path / "r.json"
    src = TEST_MODELS_DIR / "transformer_block.onnx"
    rc, stdout, err = scalec("quantize", src, "--format", "dynamic", "--reduce-range", "-o", out, "--report", report)
    assert rc == 0, err
    assert "gemm-to-matmul: 1 Gemm node rewritten" in stdout and "quantize-dynamic: quantized 7 of 9 layers, 100.0% of weights" in stdout
    j = json.loads(report.read_text())
    assert j["format"] == "dynamic" and "calibration" not in j and j["weights_quantized"] == 7
    ops = [n.op_type for n in onnx.load(out).graph.node]
    assert ops.count("MatMulInteger") == 7 and ops.count("DynamicQuantizeLinear") == 5 and "Gemm" not in ops
    assert all(np.abs(w.astype(np.int32)).max() <= 63 for w in int_weights(out, "MatMulInteger"))
    # DynamicQuantizeLinear takes one scale per tensor, i.e. per batch: both runtimes get the whole set.
    ours, theirs = scalec_infer(scalec, out, data, tmp_path, "--batch", "0"), ort_run(out, feeds)
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.999
    assert np.abs(theirs - ours).max() < 1e-3 * max(1.0, np.abs(ours).max())
    fp32 = ort_run(src, feeds)
    assert (fp32.argmax(1) == ours.argmax(1)).mean() >= 0.95


def test_equalize_and_bias_correction_run_through_the_cli(scalec, tmp_path):
    calib, data = tmp_path / "calib.npz", tmp_path / "data.npz"
    np.savez(calib, **random_data("mobilenet_block", 256, 1))
    feeds = random_data("mobilenet_block", 500, 2)
    np.savez(data, **feeds)
    src = TEST_MODELS_DIR / "mobilenet_block.onnx"
    out = tmp_path / "q.onnx"
    rc, stdout, err = scalec("quantize", src, "--calib", calib, "--equalize", "--bias-correction", "--per-tensor",
                             "-o", out)
    assert rc == 0, err
    assert "equalize: 2 Conv pairs equalized" in stdout and "bias-correction: 4 biases corrected" in stdout
    m = onnx.load(out)
    assert any(p.key == "scalec.passes" and "equalize" in p.value and "bias-correction" in p.value
               for p in m.metadata_props)
    ours, theirs = scalec_infer(scalec, out, data, tmp_path), ort_run(out, feeds, optimize=False)
    assert np.abs(theirs - ours).max() < 1e-4 * max(1.0, np.abs(ours).max())


def bad(scalec, *args):
    rc, _, err = scalec("quantize", *args)
    assert not any(m in err for m in CRASH_MARKERS), err
    return rc, err


def test_bad_input_exit_codes(scalec, tmp_path):
    out = tmp_path / "o.onnx"
    for bits in ("1", "9"):
        rc, err = bad(scalec, LENET, "--bits", bits, "--calib", DIGITS_TRAIN, "-o", out)
        assert rc == 2 and "2..8" in err
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, input=np.zeros((4, 3, 8, 8), np.float32))
    rc, err = bad(scalec, LENET, "--calib", wrong, "-o", out)
    assert rc == 2, err
    np.savez(wrong, other=np.zeros((4, 1, 8, 8), np.float32))
    rc, err = bad(scalec, LENET, "--calib", wrong, "-o", out)
    assert rc == 2, err
    rc, err = bad(scalec, LENET, "--calib", DIGITS_TRAIN, "-o", out)
    assert rc == 0, err
    rc, err = bad(scalec, out, "--calib", DIGITS_TRAIN, "-o", tmp_path / "twice.onnx")
    assert rc == 2 and "already quantized" in err
    rc, err = bad(scalec, LENET, "--format", "qlinear", "--calib", DIGITS_TRAIN, "-o", out)
    assert rc == 1 and "--format" in err
    rc, err = bad(scalec, LENET, "--format", "qoperator", "-o", out)
    assert rc == 1 and "--calib" in err
    rc, err = bad(scalec, LENET, "--format", "dynamic", "--bias-correction", "-o", out)
    assert rc == 1 and "--calib" in err
    rc, err = bad(scalec, LENET, "--format", "dynamic", "--block", "32", "-o", out)
    assert rc == 1 and "--block" in err
    rc, err = bad(scalec, LENET, "--format", "qdq", "-o", out)  # explicit qdq: no silent fallback
    assert rc == 1 and "--calib" in err
    rc, err = bad(scalec, LENET, "--per-tensor", "--block", "32", "--calib", DIGITS_TRAIN, "-o", out)
    assert rc == 1


def test_calibration_data_is_streamed_and_read_alike_in_every_container(scalec, tmp_path):
    # np.savez members are read a batch at a time; a compressed file is read whole with a warning; a
    # one-input model also takes an .npy. All three give the same model, byte for byte.
    train = np.load(DIGITS_TRAIN)
    np.savez_compressed(tmp_path / "z.npz", input=train["input"], labels=train["labels"])
    np.save(tmp_path / "x.npy", train["input"])
    outs = []
    for name, calib in (("plain", DIGITS_TRAIN), ("zipped", tmp_path / "z.npz"), ("npy", tmp_path / "x.npy")):
        out = tmp_path / f"{name}.onnx"
        rc, _, err = scalec("quantize", LENET, "--calib", calib, "--calib-samples", 300, "--batch", 64, "-o", out)
        assert rc == 0, err
        assert ("compressed" in err) == (name == "zipped"), err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(DIGITS_TRAIN.read_bytes()[:5000])
    rc, _, err = scalec("quantize", LENET, "--calib", truncated, "-o", tmp_path / "t.onnx")
    assert rc == 2 and "t.npz" in err, err
    assert not (tmp_path / "t.onnx").exists()


def strip_value_info(src, dst):
    """src as exporters without shape inference write it: no value_info."""
    m = onnx.load(src)
    del m.graph.value_info[:]
    onnx.save(m, dst)
    return dst


def test_coverage_line_and_report_count_layers_and_weights(scalec, tmp_path):
    # transformer_block without value_info: 6 weighted MatMuls, the head Gemm, and the two attention
    # MatMuls (Q x K^T, attention x V) whose both inputs get Q -> DQ.
    src = strip_value_info(TEST_MODELS_DIR / "transformer_block.onnx", tmp_path / "t.onnx")
    calib = tmp_path / "calib.npz"
    np.savez(calib, **random_data("transformer_block", 64, 1))
    out, report = tmp_path / "q.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("quantize", src, "--calib", calib, "-o", out, "--report", report)
    assert rc == 0, err
    assert "quantize-qdq: quantized 9 of 9 layers, 100.0% of weights" in stdout, stdout
    assert "left in float" not in stdout
    c = json.loads(report.read_text())["coverage"]
    params = sum(numpy_helper.to_array(t).size for t in onnx.load(src).graph.initializer
                 if t.name in {n.input[1] for n in onnx.load(src).graph.node if n.op_type in ("MatMul", "Gemm")})
    assert c == {"layers_changed": 9, "layers_total": 9, "params_changed": params, "params_total": params, "left": []}, c
    # Excluding the MatMuls leaves 8 layers in float, one line for the reason with the first names.
    rc, stdout, err = scalec("quantize", src, "--calib", calib, "--exclude-ops", "MatMul", "-o", out, "--report", report)
    assert rc == 0, err
    head = onnx.load(src).graph.initializer
    gemm = next(numpy_helper.to_array(t).size for t in head if t.name == "head.weight")
    assert f"quantize-qdq: quantized 1 of 9 layers, {100 * gemm / params:.1f}% of weights" in stdout, stdout
    assert "  left in float: 8 excluded by --exclude-ops: /q/MatMul, /k/MatMul, /v/MatMul, ...\n" in stdout
    c = json.loads(report.read_text())["coverage"]
    assert (c["layers_changed"], c["layers_total"], c["params_changed"]) == (1, 9, gemm)
    assert len(c["left"]) == 1 and c["left"][0]["reason"] == "excluded by --exclude-ops" and c["left"][0]["count"] == 8
    assert c["left"][0]["names"][:2] == ["/q/MatMul", "/k/MatMul"] and len(c["left"][0]["names"]) == 8


def test_quantize_that_changes_no_layer_exits_2_with_reasons(scalec, tmp_path):
    # A model with no Conv, ConvTranspose, Gemm or MatMul.
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])
    g = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    relu = tmp_path / "relu.onnx"
    onnx.save(onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 13)]), relu)
    out = tmp_path / "o.onnx"
    rc, err = bad(scalec, relu, "--format", "dynamic", "-o", out)
    assert rc == 2 and "no Conv, ConvTranspose, Gemm, MatMul, LSTM, GRU or RNN layer" in err, err
    assert not out.exists()
    # Weight-only on mlp with its every layer excluded: nothing written, the reason grouped.
    before = (TEST_MODELS_DIR / "mlp.onnx").read_bytes()
    rc, err = bad(scalec, TEST_MODELS_DIR / "mlp.onnx", "--format", "weight-only", "--exclude-ops", "Gemm", "-o", out)
    assert rc == 2, err
    assert "nothing quantized: 0 of 3 layers" in err and \
        "3 excluded by --exclude-ops: /net/net.0/Gemm, /net/net.2/Gemm, /net/net.4/Gemm" in err, err
    assert not out.exists() and (TEST_MODELS_DIR / "mlp.onnx").read_bytes() == before
    # The same with qdq and calibration data: exit 2 as well.
    calib = tmp_path / "calib.npz"
    np.savez(calib, **random_data("mlp", 16, 1))
    rc, err = bad(scalec, TEST_MODELS_DIR / "mlp.onnx", "--calib", calib, "--exclude-nodes",
                  "/net/net.0/Gemm,/net/net.2/Gemm,/net/net.4/Gemm", "-o", out)
    assert rc == 2 and "excluded by --exclude-nodes" in err, err
    assert not out.exists()


def test_no_value_info_quantizes_every_layer_in_every_format(scalec, tmp_path):
    # Reasons come from scalec's own type inference: without value_info nothing is "not a float activation".
    src = strip_value_info(LENET, tmp_path / "lenet.onnx")
    for fmt in ("qdq", "qoperator", "dynamic", "weight-only"):
        out, report = tmp_path / f"{fmt}.onnx", tmp_path / f"{fmt}.json"
        rc, stdout, err = scalec("quantize", src, "--format", fmt, "--calib", DIGITS_TRAIN, "-o", out, "--report", report)
        assert rc == 0, err
        c = json.loads(report.read_text())["coverage"]
        assert (c["layers_changed"], c["layers_total"], c["left"]) == (4, 4, []), (fmt, c)


@pytest.mark.parametrize("model", ["mobilenet_block", "lenet_digits", "resnet_bn"])
def test_dynamic_conv_runs_in_onnxruntime_and_agrees(scalec, tmp_path, model):
    if model == "lenet_digits":
        feeds = {"input": np.load(DIGITS_VAL)["input"]}
    else:
        feeds = random_data(model, 500, 2)
    data = tmp_path / "data.npz"
    np.savez(data, **feeds)
    src = TEST_MODELS_DIR / f"{model}.onnx"
    out, report = tmp_path / "dyn.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("quantize", src, "--format", "dynamic", "-o", out, "--report", report)
    assert rc == 0, err
    c = json.loads(report.read_text())["coverage"]
    assert c["layers_changed"] == c["layers_total"] and c["left"] == [], c
    m = onnx.load(out)
    ops = [n.op_type for n in m.graph.node]
    convs = [n.op_type for n in onnx.load(src).graph.node].count("Conv")
    assert ops.count("ConvInteger") == convs > 0 and "Conv" not in ops
    for w in int_weights(out, "ConvInteger"):
        assert w.dtype == np.uint8 and np.abs(w.astype(np.int32) - 128).max() <= 63  # 7-bit, zero point 128
    # DynamicQuantizeLinear takes one scale per tensor, i.e. per batch: both runtimes get the whole set.
    ours, theirs = scalec_infer(scalec, out, data, tmp_path, "--batch", "0"), ort_run(out, feeds)
    assert np.abs(theirs - ours).max() < 1e-3 * max(1.0, np.abs(ours).max())
    fp32 = ort_run(src, feeds)
    assert (fp32.argmax(1) == ours.argmax(1)).mean() >= 0.9


def test_qoperator_transformer_runs_in_onnxruntime_attention_left_float(scalec, tmp_path):
    calib, data = tmp_path / "calib.npz", tmp_path / "data.npz"
    np.savez(calib, **random_data("transformer_block", 128, 1))
    feeds = random_data("transformer_block", 1000, 2)
    np.savez(data, **feeds)
    out, report = tmp_path / "q.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("quantize", TEST_MODELS_DIR / "transformer_block.onnx", "--format", "qoperator",
                             "--calib", calib, "-o", out, "--report", report)
    assert rc == 0, err
    assert "quantize-qoperator: quantized 7 of 9 layers, 100.0% of weights" in stdout, stdout
    assert "  left in float: 2 MatMul of two activations (quantized by --format qdq only): /MatMul, /MatMul_1\n" in stdout
    ops = [n.op_type for n in onnx.load(out).graph.node]
    assert ops.count("QLinearMatMul") == 7 and ops.count("MatMul") == 2
    ours, theirs = scalec_infer(scalec, out, data, tmp_path), ort_run(out, feeds)
    assert (theirs.argmax(1) == ours.argmax(1)).mean() >= 0.99
    assert np.abs(theirs - ours).max() < 0.05 * np.abs(ours).max()
