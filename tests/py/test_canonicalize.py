"""Canonicalization through the CLI: third-party-style exports (every weight a Constant node, opset 11,
no value_info, as Paddle2ONNX and tf2onnx write them) quantize, prune and finetune like the PyTorch
export they were made from, and `convert --canonicalize` writes that export back."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from conftest import TEST_MODELS_DIR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
RESNET = TEST_MODELS_DIR / "resnet_bn.onnx"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
DIGITS_VAL = TEST_MODELS_DIR / "digits_val.npz"


def third_party(src, dst, opset=11, flatten_as_reshape=False):
    """Writes `src` as other exporters do: initializers -> Constant nodes of the same name, value_info
    stripped, the default opset relabelled (the test models use no op that changed between 11 and 13).
    With flatten_as_reshape, Flatten becomes x.view(x.size(0), -1) as torch exports it:
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    m = onnx.load(str(src))
    g = m.graph
    nodes = [helper.make_node("Constant", [], [t.name], name=f"const_{t.name}", value=t) for t in g.initializer]
    for n in g.node:
        if flatten_as_reshape and n.op_type == "Flatten":
            x, y, p = n.input[0], n.output[0], n.name or "flatten"
            nodes += [
                helper.make_node("Shape", [x], [f"{p}_shape"]),
                helper.make_node("Constant", [], [f"{p}_zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
                helper.make_node("Gather", [f"{p}_shape", f"{p}_zero"], [f"{p}_n"], axis=0),
                helper.make_node("Unsqueeze", [f"{p}_n"], [f"{p}_n1"], axes=[0]),
                helper.make_node("Constant", [], [f"{p}_m1"], value=numpy_helper.from_array(np.array([-1], np.int64))),
                helper.make_node("Concat", [f"{p}_n1", f"{p}_m1"], [f"{p}_dims"], axis=0),
                helper.make_node("Reshape", [x, f"{p}_dims"], [y]),
            ]
        else:
            nodes.append(n)
    del g.initializer[:]
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = opset
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
    return dst


def ort_run(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def digits():
    return np.load(DIGITS_VAL)["input"][:64]


def test_convert_canonicalize_writes_the_pytorch_export_back(scalec, tmp_path):
    tp = third_party(LENET, tmp_path / "tp.onnx")
    before = tp.read_bytes()
    out = tmp_path / "canon.onnx"
    rc, _, err = scalec("convert", tp, "--canonicalize", "-o", out)
    assert rc == 0, err
    assert "canonicalize: 8 Constant nodes -> initializers" in err
    assert tp.read_bytes() == before
    m, ref = onnx.load(str(out)), onnx.load(str(LENET))
    assert "Constant" not in ops(out)
    assert {t.name for t in m.graph.initializer} == {t.name for t in ref.graph.initializer}
    assert [i.name for i in m.graph.input] == [i.name for i in ref.graph.input]
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert len(m.graph.value_info) >= len(ref.graph.value_info) > 0
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["scalec.passes"] == "canonicalize"
    np.testing.assert_array_equal(ort_run(out, digits()), ort_run(LENET, digits()))

    # A plain convert changes nothing: the Constant nodes stay, no shapes are added.
    plain = tmp_path / "plain.onnx"
    rc, _, err = scalec("convert", tp, "-o", plain)
    assert rc == 0, err
    assert ops(plain) == ops(tp) and len(onnx.load(str(plain)).graph.value_info) == 0


def test_quantize_of_constant_weights_matches_the_original(scalec, tmp_path):
    tp = third_party(LENET, tmp_path / "tp.onnx")
    for fmt in ("qdq", "dynamic", "weight-only"):
        results = []
        for name, model in (("orig", LENET), ("tp", tp)):
            out, report = tmp_path / f"{name}.{fmt}.onnx", tmp_path / f"{name}.{fmt}.json"
            extra = ["--calib", DIGITS_TRAIN] if fmt == "qdq" else []
            rc, _, err = scalec("quantize", model, "--format", fmt, *extra, "-o", out, "--report", report)
            assert rc == 0, f"{fmt} {name}: {err}"
            results.append((json.loads(report.read_text())["weights_quantized"], ort_run(out, digits())))
        (n_orig, y_orig), (n_tp, y_tp) = results
        assert n_tp == n_orig > 0, fmt
        np.testing.assert_allclose(y_tp, y_orig, rtol=1e-5, atol=1e-5, err_msg=fmt)


def test_prune_of_constant_weights_matches_the_original(scalec, tmp_path):
    tp = third_party(RESNET, tmp_path / "tp.onnx")
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
    for method in ("unstructured", "channel"):
        results = []
        for name, model in (("orig", RESNET), ("tp", tp)):
            out, report = tmp_path / f"{name}.{method}.onnx", tmp_path / f"{name}.{method}.json"
            rc, _, err = scalec("prune", model, "--method", method, "--sparsity", 0.5, "-o", out, "--report", report)
            assert rc == 0, f"{method} {name}: {err}"
            r = json.loads(report.read_text())
            layers = r.get("layers", [])
            results.append((len(layers), r["after"]["parameters"], ort_run(out, x)))
        (l_orig, p_orig, y_orig), (l_tp, p_tp, y_tp) = results
        assert l_tp == l_orig and p_tp == p_orig, method
        np.testing.assert_allclose(y_tp, y_orig, rtol=1e-5, atol=1e-5, err_msg=method)


def test_finetune_trains_constant_weights_through_a_shape_flatten(scalec, tmp_path):
    # Weights as Constant nodes ("nothing to train" before), and a torch-style view() flatten with no
    # value_info ("no backward rule for Shape" before).
    tp = third_party(LENET, tmp_path / "tp.onnx", flatten_as_reshape=True)
    assert "Shape" in ops(tp)
    results = []
    for name, model in (("orig", LENET), ("tp", tp)):
        out = tmp_path / f"{name}.ft.onnx"
        rc, _, err = scalec("finetune", model, "--data", DIGITS_TRAIN, "--epochs", 1, "--batch", 32, "--lr", 0.01,
                            "--seed", 3, "--threads", 1, "-o", out, timeout=300)
        assert rc == 0, f"{name}: {err}"
        results.append(out)
    orig, tp_out = results
    w_orig = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(orig)).graph.initializer}
    w_tp = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(tp_out)).graph.initializer}
    w_start = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(LENET)).graph.initializer}
    for k, v in w_start.items():
        assert not np.array_equal(w_tp[k], v), f"{k} was not trained"
        np.testing.assert_allclose(w_tp[k], w_orig[k], rtol=1e-4, atol=1e-5, err_msg=k)
    np.testing.assert_allclose(ort_run(tp_out, digits()), ort_run(orig, digits()), rtol=1e-4, atol=1e-4)


def softmax_mlp_opset9(path):
    """x[N, 64] -> MatMul -> Add -> Relu -> MatMul -> Softmax(axis=1): opset 9, Constant weights, no value_info."""
    rng = np.random.default_rng(1)
    const = lambda name, a: helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a.astype(np.float32), name))
    nodes = [
        const("w1", rng.standard_normal((64, 32)) * 0.1), const("b1", rng.standard_normal(32) * 0.1),
        const("w2", rng.standard_normal((32, 10)) * 0.1),
        helper.make_node("MatMul", ["input", "w1"], ["h1"]), helper.make_node("Add", ["h1", "b1"], ["h2"]),
        helper.make_node("Relu", ["h2"], ["h3"]), helper.make_node("MatMul", ["h3", "w2"], ["h4"]),
        helper.make_node("Softmax", ["h4"], ["probs"], axis=1),
    ]
    g = helper.make_graph(nodes, "mlp9", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
                          [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
    m.ir_version = 4
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def test_per_channel_quantize_upgrades_opset_9_with_an_unrecorded_softmax_rank(scalec, tmp_path):
    model = softmax_mlp_opset9(tmp_path / "mlp9.onnx")
    calib = tmp_path / "calib.npz"
    x = np.random.default_rng(2).standard_normal((32, 64)).astype(np.float32)
    np.savez(calib, input=x)
    out, report = tmp_path / "q.onnx", tmp_path / "q.json"
    rc, _, err = scalec("quantize", model, "--calib", calib, "--per-channel", "-o", out, "--report", report)
    assert rc == 0, err
    assert "rank is not recorded" not in err
    assert json.loads(report.read_text())["weights_quantized"] == 2
    m = onnx.load(str(out))
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0] >= 13
    np.testing.assert_allclose(ort_run(out, x), ort_run(model, x), atol=0.02)


FRESH_BN_EXPORT = """
import sys, torch, torch.nn as nn
torch.manual_seed(0)
m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()
torch.onnx.export(m, torch.zeros(1, 3, 16, 16), sys.argv[1], input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13,
                  training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
"""


def test_fresh_batchnorms_that_the_exporter_deduplicated_train_apart(scalec, tmp_path):
    """torch.onnx.export shares equal tensors through Identity nodes: every fresh BatchNorm's running
    mean and variance (and the second one's scale and bias) read the first one's bias and weight.
    Each BatchNormalization must get its own, or training ties them and overwrites scales with statistics."""
    import subprocess  # noqa: PLC0415

    model = tmp_path / "fresh_bn.onnx"
    subprocess.run(["/usr/bin/python3", "-c", FRESH_BN_EXPORT, str(model)], check=True, timeout=300)
    assert any(n.op_type == "Identity" for n in onnx.load(str(model)).graph.node)  # the exporter did share them
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, input=rng.standard_normal((64, 3, 16, 16)).astype(np.float32), labels=rng.integers(0, 10, 64))
    out = tmp_path / "trained.onnx"
    rc, stdout, err = scalec("finetune", model, "--data", data, "--epochs", 1, "--batch", 16, "-o", out)
    assert rc == 0, err
    assert "trained 10 of 10 weight tensors" in stdout  # both BatchNorms' scale and bias, apart
    g = onnx.load(str(out)).graph
    bns = [n for n in g.node if n.op_type == "BatchNormalization"]
    names = [list(n.input[1:]) for n in bns]
    assert len({x for ns in names for x in ns}) == 8, names  # eight distinct tensors
    w = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for bn in bns:
        scale, bias, mean, var = (w[x] for x in bn.input[1:])
        assert not np.allclose(mean, 0) and not np.allclose(var, 1)  # the statistics moved
        assert not np.allclose(scale, var) and not np.allclose(bias, mean)
    # The trained model runs in ONNX Runtime as scalec says.
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    assert ort_run(out, x).shape == (4, 10)
