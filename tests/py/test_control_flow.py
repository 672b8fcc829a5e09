"""If, Loop and Scan (issue 16 item 1): subgraphs reading weights and values of the main graph, run by
scalec infer and checked against ONNX Runtime; canonicalization keeps what only a subgraph reads."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_scalec

RNG = np.random.default_rng(0)
W = RNG.normal(size=(1, 6)).astype(np.float32)
W2 = RNG.normal(size=(1, 6)).astype(np.float32)


def vi(name, dims, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, dims)


def save(path, graph, opset=13):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def if_model(path):
    """y = If(sum(x) > 0, relu(x) + W, relu(x) * W2): the branches read W, W2 and relu(x) from outside."""
    then_g = helper.make_graph([helper.make_node("Add", ["r", "W"], ["t"])], "then", [], [vi("t", ["N", 6])])
    else_g = helper.make_graph([helper.make_node("Mul", ["r", "W2"], ["e"])], "else", [], [vi("e", ["N", 6])])
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(W2, "W2"), numpy_helper.from_array(np.float32(0), "zero")]
    save(path, helper.make_graph(nodes, "g", [vi("x", ["N", 6])], [vi("y", ["N", 6])], inits))


def loop_model(path):
    """Four iterations of v = v * 0.5 + x * W, with every step's v as a scan output."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["v_in", "half"], ["a"]), helper.make_node("Mul", ["x", "W"], ["b"]),
         helper.make_node("Add", ["a", "b"], ["v_out"]), helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["v_out"], ["scan"])],
        "body", [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("v_in", ["N", 6])],
        [vi("cond_out", [], TensorProto.BOOL), vi("v_out", ["N", 6]), vi("scan", ["N", 6])])
    nodes = [helper.make_node("Loop", ["M", "", "x"], ["v", "steps"], body=body)]
    inits = [numpy_helper.from_array(np.array(4, np.int64), "M"), numpy_helper.from_array(W, "W"),
             numpy_helper.from_array(np.float32(0.5), "half")]
    save(path, helper.make_graph(nodes, "g", [vi("x", ["N", 6])], [vi("v", ["N", 6]), vi("steps", [4, "N", 6])], inits))


def scan_model(path):
    """A running sum over axis 1 of x [N, T, 6], scanned in reverse, each step's sum times W out."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "xt"], ["acc_out"]), helper.make_node("Mul", ["acc_out", "W"], ["yt"])],
        "body", [vi("acc_in", ["N", 6]), vi("xt", ["N", 6])], [vi("acc_out", ["N", 6]), vi("yt", ["N", 6])])
    nodes = [helper.make_node("Scan", ["acc0", "x"], ["acc", "ys"], body=body, num_scan_inputs=1,
                              scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1])]
    save(path, helper.make_graph(nodes, "g", [vi("acc0", ["N", 6]), vi("x", ["N", 5, 6])],
                                 [vi("acc", ["N", 6]), vi("ys", ["N", 5, 6])], [numpy_helper.from_array(W, "W")]), opset=11)


def compare(tmp_path, make, feeds, batch="0", extra=()):
    make(tmp_path / "m.onnx")
    np.savez(tmp_path / "d.npz", **feeds)
    rc, out, err = run_scalec("infer", tmp_path / "m.onnx", "--data", tmp_path / "d.npz", "--batch", batch, *extra,
                              "-o", tmp_path / "o.npz")
    assert rc == 0, err
    s = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))
    got = np.load(tmp_path / "o.npz")
    for name, w in want.items():
        assert got[name].shape == w.shape and np.allclose(got[name], w, atol=1e-5), name


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_if_takes_the_branch_its_condition_names_reading_outer_values(tmp_path, sign):
    x = (np.abs(RNG.normal(size=(3, 6))) * sign).astype(np.float32)
    compare(tmp_path, if_model, {"x": x})


def test_loop_carries_values_and_stacks_its_scan_outputs(tmp_path):
    compare(tmp_path, loop_model, {"x": RNG.normal(size=(3, 6)).astype(np.float32)})


def test_scan_runs_over_an_axis_in_reverse_with_outer_weights(tmp_path):
    compare(tmp_path, scan_model, {"acc0": np.zeros((2, 6), np.float32), "x": RNG.normal(size=(2, 5, 6)).astype(np.float32)})


def test_a_subgraph_with_an_op_scalec_lacks_is_refused_naming_it(tmp_path):
    then_g = helper.make_graph([helper.make_node("SequenceEmpty", [], ["t"])], "then", [],
                              [helper.make_tensor_sequence_value_info("t", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=then_g)]
    g = helper.make_graph(nodes, "g", [vi("c", [], TensorProto.BOOL)],
                          [helper.make_tensor_sequence_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "m.onnx"))
    np.savez(tmp_path / "d.npz", c=np.array(True))
    rc, out, err = run_scalec("infer", tmp_path / "m.onnx", "--data", tmp_path / "d.npz", "--batch", "0", "-o", tmp_path / "o.npz")
    assert rc == 2 and "SequenceEmpty" in err and "inside graph 'then'" in err, err
    assert not (tmp_path / "o.npz").exists()


def test_quantize_and_prune_count_layers_inside_subgraphs_as_left(tmp_path):
    """A Gemm in the main graph and a MatMul in each If branch: quantize and prune rewrite the Gemm and
    say the branch layers were left, instead of reporting the whole model done."""
    wb = [numpy_helper.from_array(RNG.normal(size=(8, 8)).astype(np.float32), n) for n in ("Wa", "Wb")]
    then_g = helper.make_graph([helper.make_node("MatMul", ["h", "Wa"], ["t"], name="then_mm")], "then", [], [vi("t", ["N", 8])])
    else_g = helper.make_graph([helper.make_node("MatMul", ["h", "Wb"], ["e"], name="else_mm")], "else", [], [vi("e", ["N", 8])])
    nodes = [helper.make_node("Gemm", ["x", "Wg"], ["h"], name="gemm"),
             helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = [numpy_helper.from_array(RNG.normal(size=(8, 8)).astype(np.float32), "Wg"), *wb,
             numpy_helper.from_array(np.float32(0), "zero")]
    save(tmp_path / "m.onnx", helper.make_graph(nodes, "g", [vi("x", ["N", 8])], [vi("y", ["N", 8])], inits))
    rc, out, err = run_scalec("quantize", tmp_path / "m.onnx", "--format", "dynamic", "-o", tmp_path / "q.onnx",
                              "--report", tmp_path / "r.json")
    assert rc == 0, err
    assert "quantized 1 of 3 layers, 33.3% of weights" in out
    line = next(l for l in out.splitlines() if "inside an If/Loop/Scan body" in l)
    assert "2 inside an If/Loop/Scan body (quantize does not descend into subgraphs yet)" in line
    assert "then_mm" in line and "else_mm" in line
    rc, out, err = run_scalec("prune", tmp_path / "m.onnx", "--sparsity", "0.5", "-o", tmp_path / "p.onnx")
    assert rc == 0, err
    assert "pruned 1 of 3 layers" in out and "2 inside an If/Loop/Scan body (prune does not descend" in out
    x = RNG.normal(size=(4, 8)).astype(np.float32)
    y = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ref = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.abs(y - ref).max() < 0.05 * np.abs(ref).max()
