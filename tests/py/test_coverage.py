"""No silent no-ops: `prune` and `finetune` runs that change nothing exit 2 and say why, grouped by
reason; partial runs report how much they covered (layers and parameters, against the model's real
counts); `inspect` counts MACs per sample only where every dim is known (the batch counts as 1)."""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from conftest import CRASH_MARKERS, REPO_ROOT, TEST_MODELS_DIR

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
CNN_INIT = REPO_ROOT / "tests" / "reference" / "cnn_digits_init.onnx"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"
FIRST_DENSE = "first layer kept dense (--prune-first prunes it)"


def float_params(path) -> dict[str, int]:
    """Elements of every float initializer (DESIGN.md's parameters; these models have no Constants)."""
    return {t.name: int(np.prod(t.dims)) for t in onnx.load(str(path)).graph.initializer
            if t.data_type == TensorProto.FLOAT}


def lstm_model(path):
    """x [3, N, 4] -> LSTM (hidden 8) -> Y_h [1, N, 8] -> Squeeze -> Gemm (transB) -> [N, 10]."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in [("W", (1, 32, 4)), ("R", (1, 32, 8)), ("B", (1, 64)), ("fc.weight", (10, 8)), ("fc.bias", (10,))]]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B"], ["", "h"], name="lstm", hidden_size=8),
             helper.make_node("Squeeze", ["h", "axes"], ["hs"], name="squeeze"),
             helper.make_node("Gemm", ["hs", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, "N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    return path


def refused(scalec, tmp_path, command, *args):
    out = tmp_path / "o.onnx"
    rc, stdout, err = scalec(command, *args, "-o", out)
    assert rc == 2, (args, err)
    assert not any(m in err for m in CRASH_MARKERS), err
    assert not out.exists()
    return err


def test_prune_that_changes_no_layer_exits_2_with_reasons(scalec, tmp_path):
    err = refused(scalec, tmp_path, "prune", LENET, "--skip", "*")
    assert "nothing pruned: 0 of 4 layers" in err, err
    assert "4 --skip: /features/features.0/Conv, /features/features.3/Conv, /classifier/classifier.1/Gemm, ..." in err
    # The first layer stays dense by default; with the others skipped, nothing is left to prune.
    err = refused(scalec, tmp_path, "prune", LENET, "--skip", "/classifier*", "--skip", "/features/features.3/*")
    assert "1 first layer kept dense (--prune-first prunes it): /features/features.0/Conv" in err, err
    assert "3 --skip:" in err, err
    # 2:4 where no summed axis is a multiple of 4 (the digits CNN's first conv has 1 input channel).
    err = refused(scalec, tmp_path, "prune", LENET, "--method", "2:4", "--prune-first", "--skip", "/features/features.3/*",
                  "--skip", "/classifier*")
    assert "1 summed axis not a multiple of 4: /features/features.0/Conv" in err, err
    # Channel pruning with every group held back.
    err = refused(scalec, tmp_path, "prune", LENET, "--method", "channel", "--skip", "*")
    assert "nothing pruned: 0 of 4 layers" in err and "kept whole by --skip" in err, err
    # The LSTM model: its LSTM (W and R, one layer) is the first layer, its Gemm skipped.
    err = refused(scalec, tmp_path, "prune", lstm_model(tmp_path / "lstm.onnx"), "--skip", "fc")
    assert "nothing pruned: 0 of 2 layers" in err and f"1 {FIRST_DENSE}: lstm" in err and "1 --skip: fc" in err, err


def test_prune_coverage_counts_layers_and_all_float_weights(scalec, tmp_path):
    params = float_params(LENET)
    out, report = tmp_path / "o.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("prune", LENET, "--sparsity", 0.5, "-o", out, "--report", report)
    assert rc == 0, err
    r = json.loads(report.read_text())
    c = r["coverage"]
    layers = {layer["layer"]: layer["weight"] for layer in r["layers"]}
    pruned = ["/features/features.3/Conv", "/classifier/classifier.1/Gemm"]
    assert c["layers_total"] == 4 and c["layers_changed"] == 2
    assert c["params_changed"] == sum(params[layers[n]] for n in pruned)
    assert c["params_total"] == sum(params.values())
    assert [(x["reason"], x["count"], x["names"]) for x in c["left"]] == [
        ("first layer kept dense (--prune-first prunes it)", 1, ["/features/features.0/Conv"]),
        ("last layer kept dense (--prune-last prunes it)", 1, ["/classifier/classifier.3/Gemm"])]
    zeros = sum(int((numpy_helper.to_array(t) == 0).sum()) for t in onnx.load(str(out)).graph.initializer
                if t.data_type == TensorProto.FLOAT)
    assert abs(r["all_weights_sparsity"] - zeros / sum(params.values())) < 1e-12
    share = 100 * c["params_changed"] / c["params_total"]
    assert f"pruned 2 of 4 layers, {share:.1f}% of weights; {100 * zeros / sum(params.values()):.1f}% of all weights now zero" in stdout
    assert "left: 1 first layer kept dense (--prune-first prunes it): /features/features.0/Conv" in stdout


def test_prune_share_is_of_all_weights_not_only_pruned_layers(scalec, tmp_path):
    """The LSTM at 50% in a 538-weight model zeroes 192 (35.7%), not 50%; the last Gemm stays dense."""
    model = lstm_model(tmp_path / "lstm.onnx")
    params = float_params(model)
    assert sum(params.values()) == 538
    out, report = tmp_path / "o.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("prune", model, "--sparsity", 0.5, "--prune-first", "-o", out, "--report", report)
    assert rc == 0, err
    r = json.loads(report.read_text())
    c = r["coverage"]
    assert (c["layers_changed"], c["layers_total"], c["params_changed"], c["params_total"]) == (1, 2, 128 + 256, 538)
    assert c["left"] == [{"reason": "last layer kept dense (--prune-last prunes it)", "count": 1, "params": 80,
                          "names": ["fc"]}]
    assert abs(r["all_weights_sparsity"] - 192 / 538) < 1e-12
    assert "pruned 1 of 2 layers, 71.4% of weights; 35.7% of all weights now zero" in stdout, stdout


def test_channel_prune_reports_coverage(scalec, tmp_path):
    params = float_params(LENET)
    out, report = tmp_path / "o.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("prune", LENET, "--method", "channel", "--sparsity", 0.5, "-o", out, "--report", report)
    assert rc == 0, err
    r = json.loads(report.read_text())
    c = r["coverage"]
    changed = [layer for layer in r["layers"] if layer["channels_after"] < layer["channels_before"]]
    assert c["layers_total"] == 4 and c["layers_changed"] == len(changed) >= 2
    assert c["params_changed"] == sum(params[layer["weight"]] for layer in changed)
    assert c["params_total"] == sum(params.values())
    assert sum(x["count"] for x in c["left"]) == 4 - len(changed)
    assert f"pruned {len(changed)} of 4 layers" in stdout


def trainable(params: dict[str, int]) -> dict[str, int]:
    """BatchNormalization running statistics are updated from batches, not trained."""
    return {n: v for n, v in params.items() if "running_" not in n}


def test_finetune_with_nothing_trainable_exits_2_naming_why(scalec, tmp_path):
    n = len(trainable(float_params(CNN_INIT)))
    assert n == 12
    err = refused(scalec, tmp_path, "finetune", CNN_INIT, "--data", DIGITS_TRAIN, "--freeze", "*")
    assert "nothing to train: 0 of 12 weight tensors" in err, err
    assert "12 frozen by --freeze '*': features.0.weight, features.0.bias, features.1.weight, ..." in err, err


def test_finetune_reports_what_it_trains(scalec, tmp_path):
    params = float_params(CNN_INIT)
    weights = trainable(params)
    out, report = tmp_path / "o.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("finetune", CNN_INIT, "--data", DIGITS_TRAIN, "--epochs", 1, "--freeze", "features.0.*",
                             "-o", out, "--report", report)
    assert rc == 0, err
    c = json.loads(report.read_text())["coverage"]
    frozen = ["features.0.weight", "features.0.bias"]
    assert (c["layers_total"], c["layers_changed"]) == (12, 10)
    assert c["params_total"] == sum(params.values())
    assert c["params_changed"] == sum(weights.values()) - params[frozen[0]] - params[frozen[1]]
    assert c["left"] == [{"reason": "frozen by --freeze 'features.0.*'", "count": 2, "params": 72 + 8, "names": frozen}]
    share = 100 * c["params_changed"] / c["params_total"]
    assert f"trained 10 of 12 weight tensors, {share:.1f}% of weights" in stdout, stdout
    assert "left: 2 frozen by --freeze 'features.0.*': features.0.weight, features.0.bias" in stdout


def conv_model(path, dims):
    """x [dims] -> Conv 8x3x3x3 (pads 1) -> Relu -> Conv 4x8x1x1 -> GlobalAveragePool -> Flatten -> Gemm [4, 10]."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in [("w1", (8, 3, 3, 3)), ("w2", (4, 8, 1, 1)), ("fw", (4, 10))]]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["c2"]), helper.make_node("GlobalAveragePool", ["c2"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "fw"], ["y"])]
    g = helper.make_graph(nodes, "convs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def inspect_json(scalec, model, *args):
    rc, stdout, err = scalec("inspect", model, "--json", *args)
    assert rc == 0, err
    return json.loads(stdout)


def test_inspect_macs_symbolic_spatial_dims_are_unknown_until_fixed(scalec, tmp_path):
    symbolic = conv_model(tmp_path / "sym.onnx", ["N", 3, "H", "W"])
    j = inspect_json(scalec, symbolic)
    assert j["macs_per_sample"] is None and j["mac_unknown_dims"] == ["H", "W"] and j["mac_batch_dims"] == ["N"]
    rc, stdout, err = scalec("inspect", symbolic)
    assert rc == 0 and "unknown (dims: H, W; fix them with --input-shape" in stdout, stdout
    # By hand at 32x24: conv1 32*24*8 outputs x 3*3*3, conv2 32*24*4 x 8, Gemm 10 x 4.
    exact = 32 * 24 * 8 * 27 + 32 * 24 * 4 * 8 + 10 * 4
    j = inspect_json(scalec, symbolic, "--input-shape", "x=1,3,32,24")
    assert j["macs_per_sample"] == exact == 190504
    assert j["mac_unknown_dims"] == [] and j["graph_inputs"][0]["shape"] == ["N", 3, "H", "W"]  # the model is described as it is
    # Only the batch symbolic: counted as 1 per sample, the same number.
    j = inspect_json(scalec, conv_model(tmp_path / "batch.onnx", ["batch", 3, 32, 24]))
    assert j["macs_per_sample"] == exact and j["mac_batch_dims"] == ["batch"]
    rc, stdout, _ = scalec("inspect", tmp_path / "batch.onnx")
    assert "190,504 per sample (3 MAC ops)" in stdout, stdout


def test_inspect_input_shape_refuses_what_does_not_fit(scalec, tmp_path):
    symbolic = conv_model(tmp_path / "sym.onnx", ["N", 3, "H", "W"])
    cases = [(["--input-shape", "x=1,3,a,4"], 1, "expected NAME=D,D,..."),
             (["--input-shape", "x"], 1, "expected NAME=D,D,..."),
             (["--input-shape", "y=1,3,8,8"], 2, "--input-shape names 'y', which is not a graph input (inputs: x)"),
             (["--input-shape", "x=1,3,8"], 2, "3 dims given, the model's input has rank 4"),
             (["--input-shape", "x=1,4,8,8"], 2, "axis 1 is 3 in the model, not 4"),
             (["--input-shape", "x=8,3,8,8"], 2, "axis 0 is the batch ('N'), which MACs count per sample: give 1 there")]
    for args, code, text in cases:
        rc, _, err = scalec("inspect", symbolic, *args)
        assert rc == code and text in err, (args, err)
        assert not any(m in err for m in CRASH_MARKERS), err
