"""Channel pruning of the zoo's transformers (issue 15 item 3): MLP hidden units and whole attention
heads of PyTorch's nn.MultiheadAttention export (fused q/k/v projection, Slice bounds and head
Reshapes computed from Shape at run time). Heads and units whose weights are zero are the ones cut,
so ONNX Runtime gives the zeroed model's outputs exactly; MACs fall by more than half."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "test_models" / "zoo"))
import zoo_lib  # noqa: E402

MODELS = ["vit", "text_transformer"]
HEADS = 4  # both generated models use 4 heads
ZEROED_HEADS = (1, 2)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    folder = os.environ.get("SCALEC_ZOO_DIR") or str(tmp_path_factory.mktemp("zoo"))
    try:
        return folder, zoo_lib.generate(folder, 64, MODELS)
    except Exception as e:  # noqa: BLE001 - a missing torchvision must fail with its message
        pytest.fail(str(e), pytrace=False)


def zero_heads_and_units(src, dst):
    """Zeroes heads 1 and 2 (q, k, v columns, bias, output-projection columns) of every attention
    block and the first half of every MLP's hidden units; returns how many blocks of each it saw."""
    model = onnx.load(src)
    g = model.graph
    init = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    uses: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            uses.setdefault(i, []).append(n)

    def root(name):  # exporters share equal tensors through Identity nodes
        while name not in init and name in producer and producer[name].op_type == "Identity":
            name = producer[name].input[0]
        return name

    def get(name):
        return numpy_helper.to_array(init[root(name)]).copy()

    def put(name, a):
        init[root(name)].CopyFrom(numpy_helper.from_array(a, root(name)))

    attention = mlp = 0
    for n in g.node:
        if n.op_type != "MatMul" or root(n.input[1]) not in init:
            continue
        w = get(n.input[1])
        d_model, width = w.shape
        add = uses[n.output[0]][0]
        bias_name = next(i for i in add.input if i != n.output[0])
        b = get(bias_name)
        if width == 3 * d_model:
            d = d_model // HEADS
            for part in range(3):
                for h in ZEROED_HEADS:
                    cols = slice(part * d_model + h * d, part * d_model + (h + 1) * d)
                    w[:, cols] = 0
                    b[cols] = 0
            attention += 1
        elif width > d_model:
            w[:, : width // 2] = 0
            b[: width // 2] = 0
            mlp += 1
        else:
            continue
        put(n.input[1], w)
        put(bias_name, b)
    for n in g.node:
        if n.op_type == "Gemm" and "out_proj" in n.input[1]:
            w = get(n.input[1])
            d = w.shape[1] // HEADS
            for h in ZEROED_HEADS:
                w[:, h * d:(h + 1) * d] = 0
            put(n.input[1], w)
    onnx.save(model, dst)
    return attention, mlp


@pytest.mark.parametrize("model", MODELS)
def test_channel_prune_cuts_zero_heads_and_units_exactly(scalec, zoo, tmp_path, model):
    folder, index = zoo
    e = index[model]
    zeroed, out, report = tmp_path / "zeroed.onnx", tmp_path / "pruned.onnx", tmp_path / "r.json"
    attention, mlp = zero_heads_and_units(os.path.join(folder, e["file"]), str(zeroed))
    assert attention >= 2 and mlp == attention, (attention, mlp)
    rc, stdout, err = scalec("prune", zeroed, "--method", "channel", "--sparsity", 0.5, "-o", out, "--report", report)
    assert rc == 0, err
    r = json.loads(report.read_text())
    heads = [x for x in r["layers"] if x["note"] == f"attention heads {HEADS} -> 2"]
    assert len(heads) == attention, stdout
    # Every cut q/k/v projection keeps 2 of its 4 heads: half of its 3 * D columns.
    assert all(x["channels_after"] * 2 == x["channels_before"] for x in heads), heads
    # Heads and units are most of a transformer's MACs: with both halved, more than 40% go.
    before, after = (int(x) for x in _macs(stdout))
    assert after < 0.6 * before, stdout

    feeds = zoo_lib.inputs_of(e, os.path.join(folder, e["test"]))
    want = zoo_lib.ort_run(str(zeroed), feeds)[0]
    got = zoo_lib.ort_run(str(out), feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _macs(stdout: str):
    line = next(x for x in stdout.splitlines() if x.startswith("MACs/sample"))
    return line.split()[1], line.split()[3]


def test_attention_block_the_pattern_does_not_cover_keeps_its_heads(scalec, zoo, tmp_path):
    """An Add into the first block's scores (a mask) is not a per-head op the matcher knows: that
    block keeps its heads (named why), the second block loses half of them, and the output still
    runs in ONNX Runtime."""
    folder, index = zoo
    e = index["text_transformer"]
    model = onnx.load(os.path.join(folder, e["file"]))
    g = model.graph
    softmax = next(n for n in g.node if n.op_type == "Softmax")
    masked = softmax.input[0] + "_masked"
    g.initializer.append(numpy_helper.from_array(np.zeros((1, 1, 1), np.float32), "mask"))
    g.node.insert(list(g.node).index(softmax), onnx.helper.make_node("Add", [softmax.input[0], "mask"], [masked]))
    softmax.input[0] = masked
    src, out, report = tmp_path / "masked.onnx", tmp_path / "pruned.onnx", tmp_path / "r.json"
    onnx.save(model, src)
    rc, stdout, err = scalec("prune", src, "--method", "channel", "--sparsity", 0.5, "-o", out, "--report", report)
    assert rc == 0, err
    notes = {x["layer"]: x["note"] for x in json.loads(report.read_text())["layers"]}
    assert notes["/encoder/layers.0/self_attn/MatMul"] == \
        "Shape '/encoder/layers.0/self_attn/Shape_3' reads the channel count", notes
    assert notes["/encoder/layers.1/self_attn/MatMul"] == f"attention heads {HEADS} -> 2", notes
    feeds = zoo_lib.inputs_of(e, os.path.join(folder, e["test"]))
    assert np.isfinite(zoo_lib.ort_run(str(out), feeds)[0]).all()


def test_skip_keeps_an_attention_blocks_heads(scalec, zoo, tmp_path):
    folder, index = zoo
    e = index["text_transformer"]
    out, report = tmp_path / "pruned.onnx", tmp_path / "r.json"
    rc, stdout, err = scalec("prune", os.path.join(folder, e["file"]), "--method", "channel", "--sparsity", 0.5,
                             "--skip", "*layers.0/self_attn/MatMul", "-o", out, "--report", report)
    assert rc == 0, err
    notes = {x["layer"]: x["note"] for x in json.loads(report.read_text())["layers"]}
    assert notes["/encoder/layers.0/self_attn/MatMul"] == "kept whole by --skip ('/encoder/layers.0/self_attn/MatMul')"
    assert notes["/encoder/layers.1/self_attn/MatMul"] == f"attention heads {HEADS} -> 2", notes
    assert "left: 1 kept whole by --skip: /encoder/layers.0/self_attn/MatMul" in stdout, stdout
