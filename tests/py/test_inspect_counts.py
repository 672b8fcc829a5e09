"""`scalec inspect --json` counts what the onnx package counts.

For every test model and every libonnx-testdata model: `parameters`, `bytes`, `nodes` and
`op_histogram` equal an independent count made with the onnx Python package. The definitions
(DESIGN.md, "Parameters"):
  parameters  elements of float initializers and float Constant-node tensors; float = FLOAT,
              DOUBLE, FLOAT16, BFLOAT16, FLOAT8* (and FLOAT4E2M1); a Constant's value_float is 1
              element, value_floats its count; subgraph initializers/Constants are included
  bytes       stored bytes of every initializer and every Constant tensor: value_int(s) are int64
              (8 bytes each), string tensors count the sum of their string lengths, sub-byte types
              are packed (two 4-bit elements per byte, rounded up)
  op_histogram  op types over the graph and all subgraphs; "domain::Op" for non-default domains
scalec runs once per model, in a thread pool; a failure lists every mismatch.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import (CRASH_MARKERS, REFUSED_ALLOWLIST, TEST_MODELS_DIR, fixture_model_paths, list_testdata_models,
                      model_label, run_scalec_raw, worker_count)

FLOAT_TYPES = {
    TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16,
    TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E5M2FNUZ,
}
if hasattr(TensorProto, "FLOAT4E2M1"):
    FLOAT_TYPES.add(TensorProto.FLOAT4E2M1)

BITS = {
    TensorProto.FLOAT: 32, TensorProto.UINT8: 8, TensorProto.INT8: 8, TensorProto.UINT16: 16,
    TensorProto.INT16: 16, TensorProto.INT32: 32, TensorProto.INT64: 64, TensorProto.BOOL: 8,
    TensorProto.FLOAT16: 16, TensorProto.DOUBLE: 64, TensorProto.UINT32: 32, TensorProto.UINT64: 64,
    TensorProto.COMPLEX64: 64, TensorProto.COMPLEX128: 128, TensorProto.BFLOAT16: 16,
    TensorProto.FLOAT8E4M3FN: 8, TensorProto.FLOAT8E4M3FNUZ: 8, TensorProto.FLOAT8E5M2: 8,
    TensorProto.FLOAT8E5M2FNUZ: 8, TensorProto.UINT4: 4, TensorProto.INT4: 4,
}
if hasattr(TensorProto, "FLOAT4E2M1"):
    BITS[TensorProto.FLOAT4E2M1] = 4


# ----------------------------------------------------------------------------------------------
# The independent count
# ----------------------------------------------------------------------------------------------

def tensor_count(t: TensorProto) -> tuple[int, int]:
    """(parameters, bytes) of one stored tensor, read through numpy_helper.to_array."""
    arr = numpy_helper.to_array(t)
    numel = int(arr.size)
    assert numel == math.prod(t.dims), f"to_array gave {numel} elements for dims {list(t.dims)}"
    if t.data_type == TensorProto.STRING:
        return 0, sum(len(s) for s in arr.reshape(-1))
    nbytes = (numel * BITS[t.data_type] + 7) // 8
    return (numel if t.data_type in FLOAT_TYPES else 0), nbytes


def is_default_domain(domain: str) -> bool:
    return domain in ("", "ai.onnx")


def constant_count(node: onnx.NodeProto) -> tuple[int, int]:
    """(parameters, bytes) of a Constant node's value, whichever attribute holds it."""
    for a in node.attribute:
        if a.name == "value":
            return tensor_count(a.t)
        if a.name == "value_float":
            return 1, 4
        if a.name == "value_floats":
            return len(a.floats), 4 * len(a.floats)
        if a.name == "value_int":
            return 0, 8
        if a.name == "value_ints":
            return 0, 8 * len(a.ints)
        if a.name == "value_string":
            return 0, len(a.s)
        if a.name == "value_strings":
            return 0, sum(len(s) for s in a.strings)
    return 0, 0


def count_graph(g: onnx.GraphProto, acc: dict):
    for t in g.initializer:
        p, b = tensor_count(t)
        acc["parameters"] += p
        acc["bytes"] += b
    for n in g.node:
        acc["nodes"] += 1
        key = n.op_type if is_default_domain(n.domain) else f"{n.domain}::{n.op_type}"
        acc["op_histogram"][key] += 1
        if n.op_type == "Constant" and is_default_domain(n.domain):
            p, b = constant_count(n)
            acc["parameters"] += p
            acc["bytes"] += b
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH or a.HasField("g"):
                count_graph(a.g, acc)
            for sub in a.graphs:
                count_graph(sub, acc)


def independent_count(path: Path) -> dict:
    m = onnx.load(str(path), load_external_data=False)
    acc = {"parameters": 0, "bytes": 0, "nodes": 0, "op_histogram": Counter()}
    count_graph(m.graph, acc)
    acc["op_histogram"] = dict(acc["op_histogram"])
    return acc


# ----------------------------------------------------------------------------------------------
# Running scalec over many models
# ----------------------------------------------------------------------------------------------

def inspect_one(path: Path) -> dict:
    rc, out, err = run_scalec_raw(["inspect", "--json", path])
    result = {"path": path, "rc": rc, "stderr": err.strip(), "report": None, "expected": None, "error": None}
    if rc == 0:
        try:
            result["report"] = json.loads(out)
        except ValueError as e:
            result["error"] = f"stdout is not JSON: {e}: {out[:200]!r}"
    try:
        result["expected"] = independent_count(path)
    except Exception as e:  # noqa: BLE001 - reported as a mismatch below
        result["error"] = f"the onnx package could not count it: {type(e).__name__}: {e}"
    return result


def inspect_all(paths) -> list[dict]:
    with ThreadPoolExecutor(max_workers=worker_count()) as pool:
        return list(pool.map(inspect_one, paths))


def mismatches_of(result: dict) -> list[str]:
    label = model_label(result["path"])
    if result["error"]:
        return [f"{label}: {result['error']}"]
    rep, exp = result["report"], result["expected"]
    problems = []
    for key in ("parameters", "bytes", "nodes"):
        if rep.get(key) != exp[key]:
            problems.append(f"{label}: {key} scalec={rep.get(key)} onnx={exp[key]}")
    if rep.get("op_histogram") != exp["op_histogram"]:
        problems.append(f"{label}: op_histogram scalec={rep.get('op_histogram')} onnx={exp['op_histogram']}")
    if rep.get("schema_version") is None:
        problems.append(f"{label}: report has no schema_version")
    return problems


def check_results(results: list[dict], allow_refused: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    problems, refused = [], {}
    for r in results:
        label = model_label(r["path"])
        if any(marker in r["stderr"] for marker in CRASH_MARKERS):
            problems.append(f"{label}: crash or internal error (rc {r['rc']}): {r['stderr'][:300]}")
            continue
        if r["rc"] == 2:
            refused[label] = r["stderr"]
            if "scalec: error:" not in r["stderr"]:
                problems.append(f"{label}: refused without a 'scalec: error:' message: {r['stderr'][:300]!r}")
            continue
        if r["rc"] != 0:
            problems.append(f"{label}: exit code {r['rc']} (expected 0, or 2 for a refused model): {r['stderr'][:300]}")
            continue
        problems.extend(mismatches_of(r))
    return problems, refused


@pytest.fixture(scope="module")
def testdata_results(testdata_dir):
    return inspect_all(list_testdata_models(testdata_dir))


@pytest.fixture(scope="module")
def fixture_results(scalec_bin):
    return {p.stem: r for p, r in zip(fixture_model_paths(), inspect_all(fixture_model_paths()))}


def test_test_models_counts(fixture_results):
    problems, refused = check_results(list(fixture_results.values()), {})
    assert not refused, f"scalec refuses test models: {refused}"
    assert not problems, f"{len(problems)} mismatches:\n  " + "\n  ".join(problems)


def test_testdata_counts(testdata_results):
    problems, refused = check_results(testdata_results, REFUSED_ALLOWLIST)
    print(f"\ninspect: {len(testdata_results)} libonnx-testdata models, {len(refused)} refused (exit 2)")
    for label, message in sorted(refused.items()):
        print(f"  refused {label}: {message}")
    assert not problems, f"{len(problems)} problems:\n  " + "\n  ".join(problems)


def test_refused_models_are_the_allowlist(testdata_results):
    _, refused = check_results(testdata_results, REFUSED_ALLOWLIST)
    unexpected = {k: v for k, v in refused.items() if k not in REFUSED_ALLOWLIST}
    now_loading = sorted(set(REFUSED_ALLOWLIST) - set(refused))
    assert not unexpected, "scalec refuses models outside the allowlist:\n  " + "\n  ".join(
        f"{k}: {v}" for k, v in sorted(unexpected.items()))
    assert not now_loading, f"allowlisted models now load; remove them from REFUSED_ALLOWLIST: {now_loading}"


def test_manifest_numbers_match_scalec(fixture_results):
    manifest = json.loads((TEST_MODELS_DIR / "manifest.json").read_text())
    problems = []
    for name, info in manifest["models"].items():
        r = fixture_results.get(name)
        if r is None:
            problems.append(f"{name}: in manifest.json but not among the test models checked here")
            continue
        rep = r["report"]
        if rep is None:
            problems.append(f"{name}: scalec inspect failed (rc {r['rc']}): {r['stderr'][:300]}")
            continue
        for key in ("parameters", "bytes"):
            if rep[key] != info[key]:
                problems.append(f"{name}: {key} scalec={rep[key]} manifest={info[key]}")
        if rep["op_histogram"] != info["ops"]:
            problems.append(f"{name}: op_histogram scalec={rep['op_histogram']} manifest={info['ops']}")
        if rep["opsets"].get("ai.onnx") != info["opset"]:
            problems.append(f"{name}: opset scalec={rep['opsets']} manifest={info['opset']}")
    assert not problems, "\n  ".join(problems)


# ----------------------------------------------------------------------------------------------
# Hand-made models for what the test data lacks: every dtype, Constant forms, nested subgraphs
# ----------------------------------------------------------------------------------------------

def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def _model(nodes, inputs, outputs, initializers=(), opset=21, ir=10, extra_opsets=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), *extra_opsets], ir_version=ir)


def _vi(name, elem=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def dtype_zoo_model() -> onnx.ModelProto:
    """One initializer of every stored dtype (numbers checked by hand below), all graph outputs."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((3, 5)).astype(np.float32), "f32"),        # 15 p, 60 B
        numpy_helper.from_array(rng.standard_normal((7,)).astype(np.float64), "f64"),          # 7 p, 56 B
        numpy_helper.from_array(rng.standard_normal((2, 3)).astype(np.float16), "f16"),        # 6 p, 12 B
        helper.make_tensor("bf16", TensorProto.BFLOAT16, [5], [1.0, 2.0, -3.0, 0.5, 0.0]),     # 5 p, 10 B
        helper.make_tensor("f8a", TensorProto.FLOAT8E4M3FN, [3], [1.0, 2.0, 3.0]),             # 3 p, 3 B
        helper.make_tensor("f8b", TensorProto.FLOAT8E5M2, [2, 2], [1.0, 2.0, 3.0, 4.0]),       # 4 p, 4 B
        helper.make_tensor("f8c", TensorProto.FLOAT8E4M3FNUZ, [1], [1.0]),                     # 1 p, 1 B
        helper.make_tensor("f8d", TensorProto.FLOAT8E5M2FNUZ, [2], [1.0, -1.0]),               # 2 p, 2 B
        helper.make_tensor("i4", TensorProto.INT4, [5], [1, -2, 3, -4, 7]),                    # 0 p, 3 B
        helper.make_tensor("u4", TensorProto.UINT4, [2, 2], [1, 2, 3, 15]),                    # 0 p, 2 B
        numpy_helper.from_array(np.arange(6, dtype=np.int8), "i8"),                            # 6 B
        numpy_helper.from_array(np.arange(4, dtype=np.uint16), "u16"),                         # 8 B
        numpy_helper.from_array(np.arange(4, dtype=np.int32), "i32"),                          # 16 B
        numpy_helper.from_array(np.arange(3, dtype=np.int64), "i64"),                          # 24 B
        numpy_helper.from_array(np.arange(3, dtype=np.uint64), "u64"),                         # 24 B
        numpy_helper.from_array(np.array([True, False, True]), "b"),                           # 3 B
        numpy_helper.from_array(np.array([1 + 2j, 3 - 4j], dtype=np.complex64), "c64"),       # 16 B
        numpy_helper.from_array(np.array(["ab", "cde", ""], dtype=object), "s"),              # 5 B
        numpy_helper.from_array(np.zeros((0, 4), np.float32), "empty"),                        # 0 p, 0 B
        numpy_helper.from_array(np.float32(2.5), "scalar"),                                    # 1 p, 4 B
    ]
    # typed-field (non-raw) storage as well: float_data / int32_data paths
    inits.append(helper.make_tensor("f32_typed", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0]))  # 4 p, 16 B
    inits.append(helper.make_tensor("f16_typed", TensorProto.FLOAT16, [3], np.array([1, 2, 3], np.float16)))  # 3 p, 6 B
    nodes = [helper.make_node("Identity", [t.name], [f"out_{t.name}"]) for t in inits]
    outputs = [_vi(f"out_{t.name}", t.data_type, None) for t in inits]
    return _model(nodes, [], outputs, inits)


DTYPE_ZOO_EXPECTED = {
    "parameters": 15 + 7 + 6 + 5 + 3 + 4 + 1 + 2 + 1 + 4 + 3,
    "bytes": 60 + 56 + 12 + 10 + 3 + 4 + 1 + 2 + 3 + 2 + 6 + 8 + 16 + 24 + 24 + 3 + 16 + 5 + 0 + 4 + 16 + 6,
}


def constants_model() -> onnx.ModelProto:
    """Constant nodes in every numeric form, plus non-Constant attribute tensors (not counted)."""
    nodes = [
        helper.make_node("Constant", [], ["c_value"], value=numpy_helper.from_array(
            np.ones((2, 3), np.float32))),                                                     # 6 p, 24 B
        helper.make_node("Constant", [], ["c_f"], value_float=1.5),                            # 1 p, 4 B
        helper.make_node("Constant", [], ["c_fs"], value_floats=[1.0, 2.0, 3.0]),              # 3 p, 12 B
        helper.make_node("Constant", [], ["c_i"], value_int=7),                                # 0 p, 8 B
        helper.make_node("Constant", [], ["c_is"], value_ints=[1, 2, 3, 4]),                   # 0 p, 32 B
        helper.make_node("Constant", [], ["c_f16"], value=helper.make_tensor(
            "t", TensorProto.FLOAT16, [4], np.array([1, 2, 3, 4], np.float16))),               # 4 p, 8 B
        helper.make_node("Constant", [], ["c_i4"], value=helper.make_tensor(
            "t4", TensorProto.INT4, [3], [1, 2, 3])),                                          # 0 p, 2 B
        helper.make_node("Constant", [], ["c_str"], value=numpy_helper.from_array(
            np.array(["hello", "w"], dtype=object))),                                          # 0 p, 6 B
        # An attribute tensor that is not a Constant is no weight.
        helper.make_node("ConstantOfShape", ["c_is"], ["cos"], value=numpy_helper.from_array(
            np.array([3.0], np.float32))),
    ]
    outs = ["c_value", "c_f", "c_fs", "c_i", "c_is", "c_f16", "c_i4", "c_str", "cos"]
    return _model(nodes, [], [_vi(o, TensorProto.UNDEFINED) for o in outs])


CONSTANTS_EXPECTED = {"parameters": 6 + 1 + 3 + 4, "bytes": 24 + 4 + 12 + 8 + 32 + 8 + 2 + 6}


def nested_subgraphs_model() -> onnx.ModelProto:
    """If inside Loop inside the main graph; initializers and Constants at every level; a custom-domain
    op in a branch."""
    then_g = helper.make_graph(
        [helper.make_node("Constant", [], ["t_c"], value_floats=[1.0, 2.0]),                   # 2 p, 8 B
         helper.make_node("Add", ["t_c", "t_w"], ["t_out"])],
        "then", [], [_vi("t_out", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.array([0.5, 0.25], np.float32), "t_w")])                   # 2 p, 8 B
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["e_c"], value=numpy_helper.from_array(
            np.array([3.0, 4.0], np.float64))),                                                # 2 p, 16 B
         helper.make_node("Cast", ["e_c"], ["e_cast"], to=TensorProto.FLOAT),
         helper.make_node("MyOp", ["e_cast"], ["e_out"], domain="com.example")],
        "else", [], [_vi("e_out", TensorProto.FLOAT, [2])])
    body = helper.make_graph(
        [helper.make_node("Constant", [], ["b_c"], value_int=1),                               # 0 p, 8 B
         helper.make_node("Greater", ["cond_in", "cond_in"], ["cond_dummy"]),
         helper.make_node("If", ["cond_in"], ["if_out"], then_branch=then_g, else_branch=else_g),
         helper.make_node("Add", ["state_in", "if_out"], ["state_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [_vi("iter", TensorProto.INT64, []), _vi("cond_in", TensorProto.BOOL, []), _vi("state_in", TensorProto.FLOAT, [2])],
        [_vi("cond_out", TensorProto.BOOL, []), _vi("state_out", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.zeros((3, 3), np.float16), "b_w")])                        # 9 p, 18 B
    nodes = [helper.make_node("Loop", ["M", "cond", "x"], ["y"], body=body)]
    inits = [numpy_helper.from_array(np.array(3, np.int64), "M"),                              # 0 p, 8 B
             numpy_helper.from_array(np.array(True), "cond")]                                   # 0 p, 1 B
    return _model(nodes, [_vi("x", TensorProto.FLOAT, [2])], [_vi("y", TensorProto.FLOAT, [2])], inits,
                  opset=17, ir=8, extra_opsets=[helper.make_opsetid("com.example", 1)])


NESTED_EXPECTED = {"parameters": 2 + 2 + 2 + 9, "bytes": 8 + 8 + 16 + 8 + 18 + 8 + 1,
                   "op_histogram": {"Loop": 1, "Constant": 3, "Greater": 1, "If": 1, "Add": 2, "Identity": 1,
                                    "Cast": 1, "com.example::MyOp": 1}}


@pytest.mark.parametrize("make, expected", [
    (dtype_zoo_model, DTYPE_ZOO_EXPECTED),
    (constants_model, CONSTANTS_EXPECTED),
    (nested_subgraphs_model, NESTED_EXPECTED),
], ids=["dtype_zoo", "constants", "nested_subgraphs"])
def test_hand_made_models(tmp_path, make, expected):
    path = _save(make(), tmp_path / "m.onnx")
    exp = independent_count(path)
    for key, value in expected.items():  # the independent count itself, against numbers worked by hand
        assert exp[key] == value, f"independent count {key}={exp[key]}, by hand {value}"
    [r] = inspect_all([path])
    assert r["rc"] == 0, r["stderr"]
    assert mismatches_of(r) == []


def test_weights_table_agrees_with_totals(fixture_results):
    """The per-weight table sums to the totals, for the test models."""
    for name, r in fixture_results.items():
        rep = r["report"]
        assert sum(w["elements"] for w in rep["weights"] if w["parameter"]) == rep["parameters"], name
        assert sum(w["bytes"] for w in rep["weights"]) == rep["bytes"], name


# --- Constant forms that once disagreed with the definitions (regressions) -------------------

def test_constant_value_string_bytes(tmp_path):
    nodes = [helper.make_node("Constant", [], ["s1"], value_string="hello"),       # 5 B
             helper.make_node("Constant", [], ["s2"], value_strings=["ab", "c"])]   # 3 B
    path = _save(_model(nodes, [], [_vi("s1", TensorProto.STRING, []), _vi("s2", TensorProto.STRING, [2])]),
                 tmp_path / "m.onnx")
    [r] = inspect_all([path])
    assert r["rc"] == 0, r["stderr"]
    assert r["expected"]["bytes"] == 8
    assert mismatches_of(r) == []


def test_constant_with_explicit_ai_onnx_domain(tmp_path):
    node = helper.make_node("Constant", [], ["c"], domain="ai.onnx",
                            value=numpy_helper.from_array(np.ones(4, np.float32)))
    path = _save(_model([node], [], [_vi("c", TensorProto.FLOAT, [4])]), tmp_path / "m.onnx")
    [r] = inspect_all([path])
    assert r["rc"] == 0, r["stderr"]
    assert r["expected"] == {"parameters": 4, "bytes": 16, "nodes": 1, "op_histogram": {"Constant": 1}}
    assert mismatches_of(r) == []
