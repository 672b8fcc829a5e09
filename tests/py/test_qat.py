"""`scalec quantize --qat` (issue 25): quantization-aware training on the ONNX graph. The export is the
QDQ graph post-training quantization writes (same ops, no scalec-only op left), ONNX Runtime runs it
and agrees with scalec on it, the export agrees with the training-time fake-quant forward, QAT beats
post-training quantization at 2 bits, and bad input exits with a named problem and no output."""
from __future__ import annotations

import collections
import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from conftest import CRASH_MARKERS, TEST_MODELS_DIR, sha256_of
from test_report_schema import VALIDATOR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
TRAIN = TEST_MODELS_DIR / "digits_train.npz"
VAL = TEST_MODELS_DIR / "digits_val.npz"


def ort_logits(model, x):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def op_counts(model):
    m = onnx.load(str(model))
    return collections.Counter((n.domain, n.op_type) for n in m.graph.node)


def report_of(path):
    return json.loads(path.read_text())


def test_qat_at_2_bits_exports_the_ptq_graph_runs_in_ort_and_beats_ptq(scalec, tmp_path):
    val = np.load(VAL)
    ptq = tmp_path / "ptq.onnx"
    rc, _, err = scalec("quantize", LENET, "--format", "qdq", "--bits", 2, "--calib", TRAIN, "-o", ptq)
    assert rc == 0, err
    qat, rep = tmp_path / "qat.onnx", tmp_path / "qat.json"
    rc, out, err = scalec("quantize", LENET, "--qat", "--data", TRAIN, "--val", VAL, "--bits", 2, "--epochs", 8,
                          "--lr", 0.01, "--momentum", 0.9, "--schedule", "cosine", "--seed", 3, "-o", qat, "--report", rep,
                          timeout=300)
    assert rc == 0, err
    j = report_of(rep)
    assert not list(VALIDATOR.iter_errors(j)), "the report breaks docs/report.schema.json"
    assert j["inputs"] == {"model": str(LENET), "val": str(VAL), "data": str(TRAIN)}
    q = j["qat"]
    assert j["format"] == "qdq" and j["weight_bits"] == 2 and q["steps"] == 8 * 45 and len(q["epochs"]) == 8
    assert q["weights_fake_quantized"] == 4 and q["activations_fake_quantized"] == sum(
        c for (d, op), c in op_counts(ptq).items() if op == "QuantizeLinear")
    # Activation ranges followed the batches for half the run, then froze.
    assert q["freeze_ranges_after"] == 180 and q["range_updates"] == 180
    # The export against the training-time fake-quant forward (issue 25 item 2).
    assert q["export_top1_agreement"] >= 0.999
    assert q["export_max_output_diff"] <= q["last_activation_step"]  # in fact 0: the same float arithmetic
    assert "fake-quant" in out and "exported" in out

    # Same graph as post-training quantization writes, nothing of scalec's own left.
    assert op_counts(qat) == op_counts(ptq)
    m = onnx.load(str(qat))
    assert all(o.domain in ("", "ai.onnx") for o in m.opset_import)
    assert {t.name: t.data_type for t in m.graph.initializer if t.name.endswith("weight_quantized")} == {
        t.name: t.data_type for t in onnx.load(str(ptq)).graph.initializer if t.name.endswith("weight_quantized")}
    onnx.checker.check_model(m)

    # ONNX Runtime runs it, agrees with scalec's accuracy, and QAT beats PTQ by a wide margin.
    qat_pred = ort_logits(qat, val["input"]).argmax(axis=1)
    ptq_pred = ort_logits(ptq, val["input"]).argmax(axis=1)
    qat_acc = float((qat_pred == val["labels"]).mean())
    ptq_acc = float((ptq_pred == val["labels"]).mean())
    assert abs(qat_acc - j["accuracy"]["after"]) <= 2 / len(qat_pred)
    assert qat_acc >= ptq_acc + 0.3, (qat_acc, ptq_acc)  # 97.22% against 52.22%
    assert qat_acc >= j["accuracy"]["before"] - 0.03  # fp32 98.61%


def test_qat_runs_are_deterministic_and_leave_the_input_alone(scalec, tmp_path):
    before = sha256_of(LENET)
    outs = []
    for k in range(2):
        out = tmp_path / f"q{k}.onnx"
        rc, _, err = scalec("quantize", LENET, "--qat", "--data", VAL, "--bits", 4, "--epochs", 1, "--seed", 5,
                            "--threads", 2, "-o", out)
        assert rc == 0, err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert sha256_of(LENET) == before


def test_learn_scales_trains_the_scales(scalec, tmp_path):
    """--learn-scales (LSQ): the same run with and without it ends with other weight and activation
    scales; without it the activation ranges moved with the batches, with it they did not."""
    scales, reports = {}, {}
    for arm in ("lsq", "max"):
        out, rep = tmp_path / f"{arm}.onnx", tmp_path / f"{arm}.json"
        extra = ["--learn-scales"] if arm == "lsq" else []
        rc, _, err = scalec("quantize", LENET, "--qat", *extra, "--data", TRAIN, "--val", VAL, "--bits", 2,
                            "--epochs", 8, "--lr", 0.01, "--momentum", 0.9, "--schedule", "cosine", "--seed", 3,
                            "-o", out, "--report", rep, timeout=300)
        assert rc == 0, err
        reports[arm] = report_of(rep)
        scales[arm] = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer
                       if t.name.endswith("_scale")}
    lsq, mx = reports["lsq"]["qat"], reports["max"]["qat"]
    assert lsq["learn_scales"] is True and lsq["range_updates"] == 0 and mx["range_updates"] > 0
    assert lsq["export_top1_agreement"] >= 0.999 and lsq["export_max_output_diff"] == 0
    assert reports["lsq"]["accuracy"]["after"] >= 0.9
    assert scales["lsq"].keys() == scales["max"].keys()
    weight = [k for k in scales["lsq"] if k.endswith("weight_scale")]
    activation = [k for k in scales["lsq"] if "weight" not in k and "bias" not in k]
    assert len(weight) == 4 and activation
    for k in weight + activation:
        assert np.all(scales["lsq"][k] > 0), k
        assert not np.allclose(scales["lsq"][k], scales["max"][k], rtol=1e-3), k


def _no_layer_model(path):
    g = helper.make_graph([helper.make_node("Relu", ["input"], ["y"])], "g",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 8, 8])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_bad_qat_input_exits_with_a_named_problem_and_no_output(scalec, tmp_path):
    no_layer = _no_layer_model(tmp_path / "relu.onnx")
    cases = [
        (["quantize", LENET, "--qat", "--data", TRAIN, "--format", "qoperator"], 1, "--qat trains and writes the qdq format"),
        (["quantize", LENET, "--qat", "--data", TRAIN, "--format", "dynamic"], 1, "not --format dynamic"),
        (["quantize", LENET, "--qat"], 1, "--qat trains on labelled data: --data PATH"),
        (["quantize", LENET, "--data", TRAIN, "--calib", TRAIN], 1, "--data is training data for --qat"),
        (["quantize", LENET, "--lr", 0.1, "--calib", TRAIN], 1, "--lr is for --qat"),
        (["quantize", LENET, "--qat", "--data", TRAIN, "--gptq"], 1, "--gptq does not apply"),
        (["quantize", LENET, "--qat", "--data", TRAIN, "--block", 32], 1, "not --block"),
        (["quantize", LENET, "--qat", "--data", TRAIN, "--batch", 0], 1, "--batch is the training batch"),
        (["quantize", no_layer, "--qat", "--data", TRAIN], 2, "nothing to quantize"),
        (["quantize", LENET, "--qat", "--data", tmp_path / "missing.npz"], 2, "missing.npz"),
        (["quantize", LENET, "--qat", "--data", TRAIN, "--device", "cuda"], 1, "this build has no CUDA kernels yet"),
        (["quantize", LENET, "--device", "cpu", "--calib", TRAIN], 1, "--device is for --qat"),
    ]
    for args, code, fragment in cases:
        out = tmp_path / "out.onnx"
        rc, _, err = scalec(*args, "-o", out)
        assert rc == code, (args, rc, err)
        assert fragment in err, (args, err)
        assert not any(m in err for m in CRASH_MARKERS), err
        assert not out.exists(), args


def test_a_pruned_model_keeps_its_zeros_and_distill_uses_the_float_model(scalec, tmp_path):
    pruned = tmp_path / "pruned.onnx"
    rc, _, err = scalec("prune", LENET, "--sparsity", 0.5, "-o", pruned)
    assert rc == 0, err
    zeros = {t.name: onnx.numpy_helper.to_array(t) == 0 for t in onnx.load(str(pruned)).graph.initializer
             if t.name.endswith("weight")}
    out, rep = tmp_path / "q.onnx", tmp_path / "r.json"
    rc, _, err = scalec("quantize", pruned, "--qat", "--distill", "--temperature", 2, "--data", TRAIN, "--val", VAL,
                        "--bits", 4, "--epochs", 2, "--lr", 0.01, "--momentum", 0.9, "--seed", 1, "-o", out,
                        "--report", rep, timeout=300)
    assert rc == 0, err
    q = report_of(rep)["qat"]
    assert q["distill"] is True and q["temperature"] == 2 and q["distill_weight"] == 0.5
    assert q["zero_weights_kept"] == sum(int(z.sum()) for z in zeros.values()) > 0
    ints = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    for name, z in zeros.items():
        q_ints = ints[name + "_quantized"].astype(np.int32)
        assert np.all(q_ints[z] == 0), name
        assert np.count_nonzero(q_ints[~z]) > 0, name
    # Without --distill the distillation options are refused.
    rc, _, err = scalec("quantize", LENET, "--qat", "--data", TRAIN, "--temperature", 2, "-o", tmp_path / "x.onnx")
    assert rc == 1 and "--temperature is for --distill" in err


def test_activation_ranges_follow_the_batches_until_frozen(scalec, tmp_path):
    """--freeze-ranges-after 0 keeps the calibrated activation scales (those post-training quantization
    writes from the same 512 samples); by default they move with the batches for half the run."""
    ptq = tmp_path / "ptq.onnx"
    calib = tmp_path / "calib.npz"
    train = np.load(TRAIN)
    np.savez(calib, input=train["input"][:512], labels=train["labels"][:512])
    rc, _, err = scalec("quantize", LENET, "--format", "qdq", "--bits", 4, "--calib", calib, "--no-bias-correction",
                        "-o", ptq)
    assert rc == 0, err

    def activation_scales(path):
        return {t.name: float(onnx.numpy_helper.to_array(t)) for t in onnx.load(str(path)).graph.initializer
                if t.name.endswith("_scale") and "weight" not in t.name and "bias" not in t.name}

    want = activation_scales(ptq)
    got = {}
    for freeze in (0, 10, None):
        out, rep = tmp_path / f"f{freeze}.onnx", tmp_path / f"f{freeze}.json"
        extra = [] if freeze is None else ["--freeze-ranges-after", freeze]
        rc, _, err = scalec("quantize", LENET, "--qat", "--data", TRAIN, "--bits", 4, "--epochs", 1, "--seed", 2, *extra,
                            "-o", out, "--report", rep)
        assert rc == 0, err
        q = report_of(rep)["qat"]
        assert q["range_updates"] == {0: 0, 10: 10, None: 22}[freeze], q
        got[freeze] = activation_scales(out)
        assert got[freeze].keys() == want.keys()
    assert got[0] == want
    moved = [k for k in want if k != "input_scale"]  # the images span [0, 1] in every batch
    assert all(got[10][k] != want[k] for k in moved) and got[10]["input_scale"] == want["input_scale"]
    assert all(got[None][k] != got[10][k] for k in moved)


def test_a_qat_stage_in_a_pipeline_equals_quantize_qat_and_replays_from_its_text(scalec, tmp_path):
    """`scalec run`: a `qat` stage trains on the pipeline's training data; its printed pass text replays."""
    common = ["--bits", 3, "--epochs", 1, "--lr", 0.01, "--seed", 2, "--threads", 2]
    rc, _, err = scalec("quantize", LENET, "--qat", "--data", TRAIN, *common, "-o", tmp_path / "direct.onnx")
    assert rc == 0, err
    (tmp_path / "p.yaml").write_text(
        f"model: {LENET}\noutput: {tmp_path / 'piped.onnx'}\n"
        f"data: {{train: {TRAIN}, val: {VAL}}}\n"
        "stages:\n  - qat: {bits: 3, epochs: 1, lr: 0.01, seed: 2, threads: 2}\n"
        "gates: {max-accuracy-drop: 5}\n")
    rc, out, err = scalec("run", tmp_path / "p.yaml", "--report", tmp_path / "r.json")
    assert rc == 0, err
    assert (tmp_path / "piped.onnx").read_bytes() == (tmp_path / "direct.onnx").read_bytes()
    r = report_of(tmp_path / "r.json")
    assert r["gates"][0]["passed"] and r["stages"][0]["stage"] == "qat" and r["stages"][0]["qat"]["steps"] == 45
    passes = {p.key: p.value for p in onnx.load(str(tmp_path / "piped.onnx")).metadata_props}["scalec.passes"]
    text = passes[passes.index("qat<"):].replace(">", ";threads=2>", 1)  # the same threads: the same bytes
    rc, _, err = scalec("run", LENET, "--passes", text, "--data", TRAIN, "-o", tmp_path / "replayed.onnx")
    assert rc == 0, err
    assert (tmp_path / "replayed.onnx").read_bytes() == (tmp_path / "direct.onnx").read_bytes()
    # a plain quantize stage still refuses the training-only options
    rc, _, err = scalec("run", LENET, "--passes", "quantize<epochs=2>", "--calib", VAL, "-o", tmp_path / "bad.onnx")
    assert rc == 1 and "--epochs is for --qat" in err and not (tmp_path / "bad.onnx").exists()


RESNET_BN = TEST_MODELS_DIR / "resnet_bn.onnx"


def bn_data(path, n, seed):
    """Synthetic 3x16x16 images for resnet_bn with a learnable rule (classes 0, 1, 3, 4)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, 3, 16, 16)) * 1.5 + 0.3).astype(np.float32)
    y = (x[:, 0].mean(axis=(1, 2)) > 0.3).astype(np.int64) * 3 + (x[:, 1].mean(axis=(1, 2)) > 0.3)
    np.savez(path, input=x, labels=y)
    return path


def test_batchnorm_trains_in_fake_quant_form_freezes_and_exports_the_ptq_graph(scalec, tmp_path):
    """Issue 25 item 1: Conv -> BatchNorm pairs train unfolded (batch statistics, running statistics
    following them), freeze after --freeze-bn-after, and export as the folded QDQ layers."""
    train, val = bn_data(tmp_path / "train.npz", 192, 0), bn_data(tmp_path / "val.npz", 96, 1)
    ptq = tmp_path / "ptq.onnx"
    rc, _, err = scalec("quantize", RESNET_BN, "--format", "qdq", "--bits", 4, "--calib", train, "-o", ptq)
    assert rc == 0, err
    runs = {}
    for name, extra in [("default", []), ("folded", ["--freeze-bn-after", 0])]:
        out, rep = tmp_path / f"{name}.onnx", tmp_path / f"{name}.json"
        rc, _, err = scalec("quantize", RESNET_BN, "--qat", "--data", train, "--val", val, "--bits", 4, "--epochs", 2,
                            "--batch", 16, "--lr", 0.005, "--momentum", 0.9, "--seed", 1, "--threads", 2, *extra,
                            "-o", out, "--report", rep)
        assert rc == 0, err
        runs[name] = (out, report_of(rep), err)
    out, j, err = runs["default"]
    assert not list(VALIDATOR.iter_errors(j))
    q = j["qat"]
    assert q["batch_norm_trained"] == 5 and q["steps"] == 24 and q["freeze_bn_after"] == 12
    assert "5 BatchNormalizations in fake-quant form, statistics frozen after step 12" in err
    # frozen, the training forward is the folded layer: the export computes the same numbers
    assert q["export_top1_agreement"] == 1.0 and q["export_max_output_diff"] == 0
    assert op_counts(out) == op_counts(ptq)  # BatchNorms folded, nothing of scalec's own left
    onnx.checker.check_model(onnx.load(str(out)))
    v = np.load(val)
    acc = float((ort_logits(out, v["input"]).argmax(1) == v["labels"]).mean())
    assert abs(acc - j["accuracy"]["after"]) <= 1 / 96 + 1e-9
    # --freeze-bn-after 0 trains the folded layers as they are: no BatchNorm in the training graph
    assert runs["folded"][1]["qat"]["batch_norm_trained"] == 0
    weights = lambda p: {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(p)).graph.initializer}
    a, b = weights(out), weights(runs["folded"][0])
    assert a.keys() == b.keys() and any(not np.array_equal(a[k], b[k]) for k in a)
    # statistics that never freeze are folded all the same, with a warning
    rc, _, err = scalec("quantize", RESNET_BN, "--qat", "--data", train, "--bits", 4, "--epochs", 1, "--batch", 16,
                        "--freeze-bn-after", 1000, "--threads", 2, "-o", tmp_path / "late.onnx")
    assert rc == 0 and "--freeze-bn-after 1000: the run has 12 steps" in err, err
