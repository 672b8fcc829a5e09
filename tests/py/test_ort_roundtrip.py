"""`scalec convert` keeps a model's meaning, checked with the onnx package and ONNX Runtime.

For every test model and every libonnx-testdata model scalec loads:
  (a) the converted proto equals the original after normalization: tensors compared as numpy
      arrays (numpy_helper.to_array; raw_data vs typed fields does not matter), value_info as a
      dict by name, metadata_props ignoring the added "scalec.version", attribute tensors'
      names ignored, attribute types inferred where a very old model left them unset;
  (b) where ONNX Runtime loads the ORIGINAL, the original and the converted model give
      bit-identical outputs on test_data_set_0 (np.array_equal with equal_nan). Models ORT refuses,
      and models whose outputs differ between two runs of the original itself (unseeded random
      ops), are counted, not compared.
Plus: the converted test models match test_models/golden within rtol 1e-4 / atol 1e-5; external
data (always / auto / never, and --in-place over mapped data) round-trips; a model with a
custom-domain op and an If whose branches read outer-scope values converts and still runs.
"""
from __future__ import annotations

import json
import os
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from conftest import (CRASH_MARKERS, REFUSED_ALLOWLIST, TEST_MODEL_NAMES, TEST_MODELS_DIR, fixture_model_paths,
                      list_testdata_models, model_label, run_scalec, run_scalec_raw, sha256_of, worker_count)

PROVENANCE_KEYS = {"scalec.version"}
ort.set_default_logger_severity(4)


# ----------------------------------------------------------------------------------------------
# Normalization: a model as plain, comparable Python values
# ----------------------------------------------------------------------------------------------

def _array_key(arr: np.ndarray):
    if arr.dtype == object:
        return ("object", arr.shape, [bytes(x) if isinstance(x, (bytes, bytearray)) else str(x).encode()
                                      for x in arr.reshape(-1)])
    return (arr.dtype.str, arr.shape, np.ascontiguousarray(arr).tobytes())


def _props(message) -> dict:
    """metadata_props of a tensor, node, graph or value_info (fields onnx added for IR 10)."""
    return {p.key: p.value for p in getattr(message, "metadata_props", [])}


def norm_tensor(t: TensorProto, keep_name: bool = True):
    d = {
        "data_type": t.data_type,
        "dims": list(t.dims),
        "values": _array_key(numpy_helper.to_array(t)),
        "doc_string": t.doc_string,
        "segment": t.segment.SerializeToString() if t.HasField("segment") else None,
        "metadata_props": _props(t),
    }
    if keep_name:
        d["name"] = t.name
    return d


def norm_sparse(s: onnx.SparseTensorProto):
    return {"values": norm_tensor(s.values), "indices": norm_tensor(s.indices), "dims": list(s.dims)}


def _float_bits(f: float) -> bytes:
    return struct.pack("<f", f)


def _attr_type(a: AttributeProto) -> int:
    if a.type != AttributeProto.UNDEFINED:
        return a.type
    for field, kind in (("f", AttributeProto.FLOAT), ("i", AttributeProto.INT), ("s", AttributeProto.STRING),
                        ("t", AttributeProto.TENSOR), ("g", AttributeProto.GRAPH)):
        if a.HasField(field):
            return kind
    for field, kind in (("floats", AttributeProto.FLOATS), ("ints", AttributeProto.INTS),
                        ("strings", AttributeProto.STRINGS), ("tensors", AttributeProto.TENSORS),
                        ("graphs", AttributeProto.GRAPHS)):
        if len(getattr(a, field)):
            return kind
    return AttributeProto.UNDEFINED


def norm_attr(a: AttributeProto):
    kind = _attr_type(a)
    P = AttributeProto
    if a.ref_attr_name:
        value = None
    elif kind == P.FLOAT:
        value = _float_bits(a.f)
    elif kind == P.INT:
        value = a.i
    elif kind == P.STRING:
        value = a.s
    elif kind == P.TENSOR:
        value = norm_tensor(a.t, keep_name=False)
    elif kind == P.GRAPH:
        value = norm_graph(a.g)
    elif kind == P.FLOATS:
        value = [_float_bits(f) for f in a.floats]
    elif kind == P.INTS:
        value = list(a.ints)
    elif kind == P.STRINGS:
        value = list(a.strings)
    elif kind == P.TENSORS:
        value = [norm_tensor(t, keep_name=False) for t in a.tensors]
    elif kind == P.GRAPHS:
        value = [norm_graph(g) for g in a.graphs]
    elif kind == P.SPARSE_TENSOR:
        value = norm_sparse(a.sparse_tensor)
    elif kind == P.SPARSE_TENSORS:
        value = [norm_sparse(s) for s in a.sparse_tensors]
    elif kind == P.TYPE_PROTO:
        value = a.tp.SerializeToString(deterministic=True)
    elif kind == P.TYPE_PROTOS:
        value = [t.SerializeToString(deterministic=True) for t in a.type_protos]
    else:
        value = None
    return {"name": a.name, "type": kind, "value": value, "ref_attr_name": a.ref_attr_name,
            "doc_string": a.doc_string}


def norm_value_info(v: onnx.ValueInfoProto):
    return {"name": v.name, "type": v.type.SerializeToString(deterministic=True) if v.HasField("type") else None,
            "doc_string": v.doc_string, "metadata_props": _props(v)}


def norm_node(n: onnx.NodeProto):
    return {"name": n.name, "op_type": n.op_type, "domain": n.domain, "input": list(n.input),
            "output": list(n.output), "doc_string": n.doc_string, "attribute": [norm_attr(a) for a in n.attribute],
            "metadata_props": _props(n)}


def norm_graph(g: onnx.GraphProto):
    return {
        "name": g.name,
        "doc_string": g.doc_string,
        "input": [norm_value_info(v) for v in g.input],
        "output": [norm_value_info(v) for v in g.output],
        "initializer": [norm_tensor(t) for t in g.initializer],
        "sparse_initializer": [norm_sparse(s) for s in g.sparse_initializer],
        "node": [norm_node(n) for n in g.node],
        "value_info": {v.name: norm_value_info(v) for v in g.value_info},
        "quantization_annotation": [q.SerializeToString(deterministic=True) for q in g.quantization_annotation],
        "metadata_props": _props(g),
    }


def norm_model(m: onnx.ModelProto):
    return {
        "ir_version": m.ir_version,
        "opset_import": [(o.domain, o.version) for o in m.opset_import],
        "producer_name": m.producer_name,
        "producer_version": m.producer_version,
        "domain": m.domain,
        "model_version": m.model_version,
        "doc_string": m.doc_string,
        "metadata_props": {p.key: p.value for p in m.metadata_props if p.key not in PROVENANCE_KEYS},
        "graph": norm_graph(m.graph),
        "functions": [f.SerializeToString(deterministic=True) for f in m.functions],
        "training_info": [t.SerializeToString(deterministic=True) for t in m.training_info],
    }


def first_difference(a, b, path="model"):
    """Where two normalized values first differ (a readable path), or None."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
            return f"{path}: keys only in original {only_a[:5]}, only in converted {only_b[:5]}"
        for k in a:
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: {len(a)} entries vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            label = x.get("name") if isinstance(x, dict) and x.get("name") else i
            d = first_difference(x, y, f"{path}[{label}]")
            if d:
                return d
        return None
    if a != b:
        ra, rb = repr(a), repr(b)
        return f"{path}: {ra[:80]} vs {rb[:80]}"
    return None


def metadata_version(m: onnx.ModelProto) -> str | None:
    return {p.key: p.value for p in m.metadata_props}.get("scalec.version")


def test_normalization_sees_differences():
    """The comparison is not vacuous: each kind of change is found, and only changes are."""
    base = onnx.load(str(TEST_MODELS_DIR / "mobilenet_block.onnx"))
    assert first_difference(norm_model(base), norm_model(base)) is None

    def changed(edit):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        edit(m)
        return first_difference(norm_model(base), norm_model(m))

    def bump_initializer(m):
        arr = numpy_helper.to_array(m.graph.initializer[0]).copy()
        arr.flat[0] = np.nextafter(arr.flat[0], np.float32(1))
        m.graph.initializer[0].CopyFrom(numpy_helper.from_array(arr, m.graph.initializer[0].name))

    def constant_value(m):
        node = next(n for n in m.graph.node if n.op_type == "Constant")
        arr = numpy_helper.to_array(node.attribute[0].t).copy()
        arr.flat[0] += 1
        node.attribute[0].t.CopyFrom(numpy_helper.from_array(arr))

    def rename_attr_tensor(m):  # ignored: attribute tensors' names do not matter
        next(n for n in m.graph.node if n.op_type == "Constant").attribute[0].t.name = "renamed"

    def typed_fields(m):  # ignored: raw_data vs float_data is storage, not meaning
        t = m.graph.initializer[0]
        t.CopyFrom(helper.make_tensor(t.name, t.data_type, t.dims, numpy_helper.to_array(t).reshape(-1).tolist()))

    def add_version(m):  # ignored: provenance
        helper.set_model_props(m, {"scalec.version": "x"})

    assert changed(bump_initializer) and changed(constant_value)
    assert changed(lambda m: helper.set_model_props(m, {"k": "v"}))
    assert changed(lambda m: setattr(m.graph.node[0], "name", "other"))
    assert changed(lambda m: m.graph.value_info.pop())
    assert changed(lambda m: setattr(m.graph.input[0].type.tensor_type.shape.dim[0], "dim_param", "M"))
    assert changed(lambda m: setattr(m, "producer_version", "0"))
    assert changed(lambda m: m.opset_import.add(domain="x", version=1))
    assert changed(rename_attr_tensor) is None
    assert changed(typed_fields) is None
    assert changed(add_version) is None


# ----------------------------------------------------------------------------------------------
# ONNX Runtime
# ----------------------------------------------------------------------------------------------

def ort_session(model) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 4  # models ORT refuses are expected here; keep its error log quiet
    return ort.InferenceSession(str(model) if isinstance(model, Path) else model, so,
                                providers=["CPUExecutionProvider"])


def _read_proto(path: Path, proto):
    proto.ParseFromString(path.read_bytes())
    return proto


def load_input(path: Path, type_proto: onnx.TypeProto):
    kind = type_proto.WhichOneof("value")
    if kind == "sequence_type":
        return numpy_helper.to_list(_read_proto(path, onnx.SequenceProto()))
    if kind == "optional_type":
        return numpy_helper.to_optional(_read_proto(path, onnx.OptionalProto()))
    if kind == "map_type":
        return numpy_helper.to_dict(_read_proto(path, onnx.MapProto()))
    return numpy_helper.to_array(onnx.load_tensor(str(path)))


def feeds_from_test_data(model_path: Path, graph: onnx.GraphProto) -> dict | None:
    """test_data_set_0/input_*.pb mapped, in order, onto the graph inputs that are not initializers."""
    data_dir = model_path.parent / "test_data_set_0"
    files = sorted(data_dir.glob("input_*.pb"), key=lambda p: int(re.search(r"(\d+)", p.stem).group(1)))
    inits = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in inits]
    if not files:
        return {} if data_dir.is_dir() and not inputs else None
    if len(files) > len(inputs):
        return None
    return {v.name: load_input(f, v.type) for v, f in zip(inputs, files)}


def outputs_equal(a, b) -> bool:
    """Bit-for-bit equality of ORT results (arrays, sequences, optionals), NaN equal to NaN."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(outputs_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(outputs_equal(a[k], b[k]) for k in a)
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


# ----------------------------------------------------------------------------------------------
# Converting every model once
# ----------------------------------------------------------------------------------------------

def convert_one(args):
    src, dst = args
    dst.parent.mkdir(parents=True, exist_ok=True)
    rc, out, err = run_scalec_raw(["convert", src, "-o", dst])
    return {"src": src, "dst": dst, "rc": rc, "stderr": err.strip()}


@pytest.fixture(scope="module")
def conversions(tmp_path_factory, testdata_dir):
    root = tmp_path_factory.mktemp("converted")
    sources = fixture_model_paths() + list_testdata_models(testdata_dir)
    jobs = [(src, root / f"{i:04d}" / src.name) for i, src in enumerate(sources)]
    with ThreadPoolExecutor(max_workers=worker_count()) as pool:
        return list(pool.map(convert_one, jobs))


def test_convert_every_model(conversions):
    problems, refused = [], {}
    for c in conversions:
        label = model_label(c["src"])
        if any(m in c["stderr"] for m in CRASH_MARKERS):
            problems.append(f"{label}: crash or internal error (rc {c['rc']}): {c['stderr'][:300]}")
        elif c["rc"] == 2 and label in REFUSED_ALLOWLIST:
            refused[label] = c["stderr"]
        elif c["rc"] != 0:
            problems.append(f"{label}: exit code {c['rc']}: {c['stderr'][:300]}")
        elif not c["dst"].is_file():
            problems.append(f"{label}: exit code 0 but no output file")
        else:
            leftovers = [e for e in os.listdir(c["dst"].parent) if e != c["dst"].name]
            if leftovers:
                problems.append(f"{label}: files beside the output: {leftovers}")
    print(f"\nconvert: {len(conversions)} models, {len(conversions) - len(refused) - len(problems)} converted, "
          f"{len(refused)} refused")
    assert not problems, f"{len(problems)} problems:\n  " + "\n  ".join(problems)


def _semantic_check(c):
    label = model_label(c["src"])
    try:
        original = onnx.load(str(c["src"]))
        converted = onnx.load(str(c["dst"]))
        diff = first_difference(norm_model(original), norm_model(converted))
        if diff:
            return f"{label}: {diff}"
        if not metadata_version(converted):
            return f"{label}: converted model records no scalec.version in metadata_props"
    except Exception as e:  # noqa: BLE001 - every failure is listed
        return f"{label}: {type(e).__name__}: {e}"
    return None


def test_converted_models_are_semantically_equal(conversions):
    done = [c for c in conversions if c["rc"] == 0 and c["dst"].is_file()]
    assert len(done) > 1000, f"only {len(done)} models converted"
    problems = [p for p in map(_semantic_check, done) if p]
    assert not problems, f"{len(problems)} of {len(done)} converted models differ:\n  " + "\n  ".join(problems)


def _ort_compare(c):
    """('compared' | 'ort_refused' | 'no_test_data' | 'ort_run_failed' | 'nondeterministic', problem|None)."""
    label = model_label(c["src"])
    try:
        orig_sess = ort_session(c["src"])
    except Exception:  # noqa: BLE001 - ORT does not load the original: nothing to compare against
        return "ort_refused", None
    graph = onnx.load(str(c["src"]), load_external_data=False).graph
    try:
        feeds = feeds_from_test_data(c["src"], graph) if c["src"].name == "model.onnx" else None
    except Exception:  # noqa: BLE001
        feeds = None
    if feeds is None:
        return "no_test_data", None
    try:
        expected = orig_sess.run(None, feeds)
    except Exception:  # noqa: BLE001 - ORT loads but cannot run the original on its own test data
        return "ort_run_failed", None
    try:
        conv_sess = ort_session(c["dst"])
    except Exception as e:  # noqa: BLE001
        return "compared", f"{label}: ORT loads the original but not the converted model: {e}"
    try:
        got = conv_sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001
        return "compared", f"{label}: ORT runs the original but not the converted model: {e}"
    names = [o.name for o in orig_sess.get_outputs()]
    if [o.name for o in conv_sess.get_outputs()] != names:
        return "compared", f"{label}: output names differ"
    if all(outputs_equal(x, y) for x, y in zip(expected, got)):
        return "compared", None
    again = orig_sess.run(None, feeds)
    if not all(outputs_equal(x, y) for x, y in zip(expected, again)):
        return "nondeterministic", None
    bad = [n for n, x, y in zip(names, expected, got) if not outputs_equal(x, y)]
    return "compared", f"{label}: outputs {bad} differ between the original and the converted model"


def test_ort_outputs_bit_identical(conversions):
    done = [c for c in conversions if c["rc"] == 0 and c["dst"].is_file() and c["src"].name == "model.onnx"]
    with ThreadPoolExecutor(max_workers=worker_count()) as pool:
        results = list(pool.map(_ort_compare, done))
    counts = {}
    for status, _ in results:
        counts[status] = counts.get(status, 0) + 1
    problems = [p for _, p in results if p]
    print(f"\nORT: {len(done)} converted testdata models: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    assert not problems, f"{len(problems)} models differ in ORT:\n  " + "\n  ".join(problems)
    assert counts.get("compared", 0) > 700, f"too few models compared in ORT: {counts}"


# ----------------------------------------------------------------------------------------------
# Test models: golden outputs, external data
# ----------------------------------------------------------------------------------------------

def golden(name):
    with np.load(TEST_MODELS_DIR / "golden" / f"{name}.in.npz") as f:
        feeds = {k: f[k] for k in f.files}
    with np.load(TEST_MODELS_DIR / "golden" / f"{name}.out.npz") as f:
        outs = {k: f[k] for k in f.files}
    return feeds, outs


def run_ort(model, feeds):
    sess = ort_session(model)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


@pytest.mark.parametrize("name", TEST_MODEL_NAMES)
def test_golden_outputs_after_convert(tmp_path, name):
    out = tmp_path / f"{name}.onnx"
    rc, _, err = run_scalec("convert", TEST_MODELS_DIR / f"{name}.onnx", "-o", out)
    assert rc == 0, err
    feeds, expected = golden(name)
    got = run_ort(out, feeds)
    for key, want in expected.items():
        np.testing.assert_allclose(got[key], want, rtol=1e-4, atol=1e-5, err_msg=f"{name}: {key}")
    reference = run_ort(TEST_MODELS_DIR / f"{name}.onnx", feeds)
    for key in reference:
        assert outputs_equal(reference[key], got[key]), f"{name}: {key} differs from ORT on the original"


def tensor_placement(path: Path) -> list[tuple[str, bool, int]]:
    """(location or "", is external, stored bytes) of every initializer of all graphs, without
    reading external data. Attribute tensors (Constant values) must always stay inline: runtimes
    read them during shape inference (ONNX Runtime refuses external ones), as onnx.save does."""
    from onnx.external_data_helper import _get_all_tensors, _get_initializer_tensors, uses_external_data
    m = onnx.load(str(path), load_external_data=False)
    initializers = list(_get_initializer_tensors(m))
    attribute_tensors = [t for t in _get_all_tensors(m) if not any(t is i for i in initializers)]
    assert not any(uses_external_data(t) for t in attribute_tensors), f"{path}: an attribute tensor is external"
    placement = []
    for t in initializers:
        if uses_external_data(t):
            info = {e.key: e.value for e in t.external_data}
            placement.append((info.get("location", ""), True, int(info.get("length", -1))))
        elif t.data_type == TensorProto.STRING:
            placement.append(("", False, -1))
        else:
            placement.append(("", False, len(t.raw_data)))
    return placement


def check_placement(path: Path, threshold: int | None):
    """threshold None: every tensor inline and no .data file; else exactly the non-string tensors of
    at least `threshold` bytes lie in "<file>.data"."""
    placement = tensor_placement(path)
    data = Path(str(path) + ".data")
    if threshold is None:
        assert not any(ext for _, ext, _ in placement), f"{path}: external tensors with --external-data never"
        assert not data.exists(), f"{data} written although nothing is external"
        return
    wrong = [(loc, ext, n) for loc, ext, n in placement
             if n >= 0 and ext != (n >= threshold) or ext and loc != path.name + ".data"]
    assert not wrong, f"{path}: tensors placed against threshold {threshold}: {wrong[:5]}"
    assert any(ext for _, ext, _ in placement), f"{path}: no tensor external"
    assert data.is_file()


EXTERNAL_CASES = [pytest.param(name, 0, id=f"{name}-threshold0") for name in TEST_MODEL_NAMES
                  if name != "transformer_block"]
EXTERNAL_CASES += [
    pytest.param("transformer_block", 0, id="transformer_block-threshold0"),
    pytest.param("transformer_block", 64, id="transformer_block-threshold64"),
]


@pytest.mark.parametrize("name, threshold", EXTERNAL_CASES)
def test_external_data_roundtrip(tmp_path, name, threshold):
    src = TEST_MODELS_DIR / f"{name}.onnx"
    feeds, _ = golden(name)
    reference = run_ort(src, feeds)
    original_norm = norm_model(onnx.load(str(src)))

    def check(path: Path, placement_threshold):
        loaded = onnx.load(str(path))  # resolves external data beside the file
        diff = first_difference(original_norm, norm_model(loaded))
        assert diff is None, f"{path.name}: {diff}"
        check_placement(path, placement_threshold)
        got = run_ort(path, feeds)
        for key in reference:
            assert outputs_equal(reference[key], got[key]), f"{path}: {key} differs in ORT"

    # 1. --external-data always with the given threshold
    first = tmp_path / "a" / f"{name}.onnx"
    first.parent.mkdir()
    rc, _, err = run_scalec("convert", src, "-o", first, "--external-data", "always",
                            "--external-threshold", threshold)
    assert rc == 0, err
    data1 = Path(str(first) + ".data")
    assert data1.is_file() and data1.stat().st_size > 0
    assert sorted(os.listdir(first.parent)) == sorted([first.name, data1.name])
    check(first, threshold)
    sha_model, sha_data = sha256_of(first), sha256_of(data1)

    # 2. the external model again, into a second folder: auto keeps external data (default threshold 1024)
    second = tmp_path / "b" / f"{name}.onnx"
    second.parent.mkdir()
    rc, _, err = run_scalec("convert", first, "-o", second)
    assert rc == 0, err
    assert sorted(os.listdir(second.parent)) == sorted([second.name, second.name + ".data"])
    check(second, 1024)
    assert (sha256_of(first), sha256_of(data1)) == (sha_model, sha_data), "the input or its .data changed"

    # 3. back inline
    third = tmp_path / "c" / f"{name}.onnx"
    third.parent.mkdir()
    rc, _, err = run_scalec("convert", first, "-o", third, "--external-data", "never")
    assert rc == 0, err
    assert os.listdir(third.parent) == [third.name]
    check(third, None)

    # 4. in place, over the .data file the input itself maps: a new file replaces it, the result is whole
    rc, _, err = run_scalec("convert", first, "-o", first, "--in-place", "--external-data", "always",
                            "--external-threshold", threshold)
    assert rc == 0, err
    assert sorted(os.listdir(first.parent)) == sorted([first.name, data1.name])
    check(first, threshold)


def test_external_threshold_keeps_small_tensors_inline(tmp_path):
    src = TEST_MODELS_DIR / "mlp.onnx"
    out = tmp_path / "mlp.onnx"
    rc, _, err = run_scalec("convert", src, "-o", out, "--external-data", "always", "--external-threshold", "1024")
    assert rc == 0, err
    check_placement(out, 1024)
    placement = tensor_placement(out)
    assert any(ext for _, ext, _ in placement) and not all(ext for _, ext, _ in placement)
    feeds, _ = golden("mlp")
    ref, got = run_ort(src, feeds), run_ort(out, feeds)
    assert all(outputs_equal(ref[k], got[k]) for k in ref)


# ----------------------------------------------------------------------------------------------
# Hand-made models: custom domain, If with outer-scope values, metadata and names kept
# ----------------------------------------------------------------------------------------------

def if_outer_scope_model() -> onnx.ModelProto:
    """G = com.microsoft::Gelu(X); Y = If(C) then G + W (outer initializer) else G * (Constant 2)."""
    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])
    C = helper.make_tensor_value_info("C", TensorProto.BOOL, [])
    Y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])
    then_g = helper.make_graph([helper.make_node("Add", ["G", "W"], ["then_out"])], "then_branch", [],
                               [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, ["N", 3])])
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2.0, np.float32))),
         helper.make_node("Mul", ["G", "two"], ["else_out"])], "else_branch", [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, ["N", 3])])
    nodes = [helper.make_node("Gelu", ["X"], ["G"], domain="com.microsoft", name="gelu"),
             helper.make_node("If", ["C"], ["Y"], then_branch=then_g, else_branch=else_g, name="if")]
    W = numpy_helper.from_array(np.array([0.5, -1.0, 3.0], np.float32), "W")
    g = helper.make_graph(nodes, "if_outer_scope", [X, C], [Y], [W])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
                          ir_version=8)
    helper.set_model_props(m, {"author": "scalec tests", "purpose": "outer scope"})
    return m


def test_custom_domain_and_if_outer_scope(tmp_path):
    src = tmp_path / "in" / "if_outer.onnx"
    src.parent.mkdir()
    onnx.save(if_outer_scope_model(), str(src))
    out = tmp_path / "out" / "if_outer.onnx"
    out.parent.mkdir()
    rc, _, err = run_scalec("convert", src, "-o", out)
    assert rc == 0, err
    original, converted = onnx.load(str(src)), onnx.load(str(out))
    assert first_difference(norm_model(original), norm_model(converted)) is None
    assert {p.key: p.value for p in converted.metadata_props}["author"] == "scalec tests"
    rc, report, err = run_scalec("inspect", "--json", out)
    assert rc == 0, err
    hist = json.loads(report)["op_histogram"]
    assert hist == {"com.microsoft::Gelu": 1, "If": 1, "Add": 1, "Mul": 1, "Constant": 1}
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    for cond in (True, False):
        feeds = {"X": x, "C": np.array(cond)}
        a, b = run_ort(src, feeds), run_ort(out, feeds)
        assert outputs_equal(a["Y"], b["Y"]), f"cond={cond}"


def test_unknown_domain_passes_through(tmp_path):
    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])
    Y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])
    node = helper.make_node("Frobnicate", ["X", "K"], ["Y"], domain="com.example.custom", name="frob",
                            alpha=0.25, modes=["a", "b"], table=numpy_helper.from_array(np.eye(2, dtype=np.float32)))
    K = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "K")
    g = helper.make_graph([node], "custom", [X], [Y], [K], doc_string="graph doc")
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example.custom", 3)],
                          ir_version=7, doc_string="model doc", producer_name="tests", producer_version="9",
                          model_version=5, domain="com.example")
    src, out = tmp_path / "custom.onnx", tmp_path / "out.onnx"
    onnx.save(m, str(src))
    rc, _, err = run_scalec("convert", src, "-o", out)
    assert rc == 0, err
    converted = onnx.load(str(out))
    assert first_difference(norm_model(m), norm_model(converted)) is None


def test_names_dims_and_value_info_kept(tmp_path):
    """Dynamic dims (dim_param), denotations, value_info and metadata survive convert unchanged."""
    m = onnx.load(str(TEST_MODELS_DIR / "transformer_block.onnx"))
    m.graph.input[0].type.tensor_type.shape.dim[0].denotation = "DATA_BATCH"
    m.graph.input[0].type.denotation = "TENSOR"
    helper.set_model_props(m, {"k1": "v1", "scalec.passes": "prune"})
    assert len(m.graph.value_info) > 0
    src, out = tmp_path / "t.onnx", tmp_path / "out.onnx"
    onnx.save(m, str(src))
    rc, _, err = run_scalec("convert", src, "-o", out)
    assert rc == 0, err
    converted = onnx.load(str(out))
    assert first_difference(norm_model(m), norm_model(converted)) is None
    props = {p.key: p.value for p in converted.metadata_props}
    assert props["k1"] == "v1" and props["scalec.passes"] == "prune" and props["scalec.version"]
    rc, out_text, _ = run_scalec("--version")
    assert out_text.split()[1] == props["scalec.version"]


def local_function_model() -> onnx.ModelProto:
    """A model-local function (scalec keeps functions as they are) called from the main graph."""
    fn = helper.make_function(
        "com.example.fn", "AddScaled", ["a", "b"], ["c"],
        [helper.make_node("Constant", [], ["k"], value_float=0.5),
         helper.make_node("Mul", ["b", "k"], ["bk"]),
         helper.make_node("Add", ["a", "bk"], ["c"])],
        opset_imports=[helper.make_opsetid("", 17)])
    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, [3])
    Y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3])
    W = numpy_helper.from_array(np.array([1.0, -2.0, 4.0], np.float32), "W")
    g = helper.make_graph([helper.make_node("AddScaled", ["X", "W"], ["Y"], domain="com.example.fn")],
                          "with_function", [X], [Y], [W])
    return helper.make_model(g, functions=[fn], ir_version=8,
                             opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example.fn", 1)])


def _hand_made_models():
    from test_inspect_counts import constants_model, dtype_zoo_model, nested_subgraphs_model
    return [dtype_zoo_model, constants_model, nested_subgraphs_model, if_outer_scope_model, local_function_model]


@pytest.mark.parametrize("make", _hand_made_models(), ids=lambda f: f.__name__)
def test_hand_made_models_roundtrip(tmp_path, make):
    """Every dtype (typed fields and raw_data, int4/uint4, float8, strings, complex), every Constant
    form, nested subgraphs and model-local functions survive convert; ORT agrees where it runs them."""
    m = make()
    src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(m, str(src))
    rc, _, err = run_scalec("convert", src, "-o", out)
    assert rc == 0, err
    assert first_difference(norm_model(onnx.load(str(src))), norm_model(onnx.load(str(out)))) is None
    if make is local_function_model:
        x = np.array([1.0, 2.0, 3.0], np.float32)
        a, b = run_ort(src, {"X": x}), run_ort(out, {"X": x})
        assert outputs_equal(a["Y"], b["Y"]) and np.allclose(a["Y"], [1.5, 1.0, 5.0])


def test_zero_pages_in_external_data(tmp_path):
    """All-zero pages become holes in the .data file; the tensors read back exactly."""
    a = np.zeros(4096, np.float32)
    a[-1] = 1.0                                   # zero pages, then data in the last page
    b = np.zeros(2048, np.float32)                # the file ends in zero pages
    c = np.arange(5, dtype=np.float32)
    inits = [numpy_helper.from_array(x, n) for x, n in ((a, "A"), (c, "C"), (b, "B"))]
    g = helper.make_graph([helper.make_node("Identity", [n], ["o" + n]) for n in "ACB"], "zeros", [],
                          [helper.make_tensor_value_info("o" + n, TensorProto.FLOAT, None) for n in "ACB"], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    src, out = tmp_path / "zeros.onnx", tmp_path / "out" / "zeros.onnx"
    onnx.save(m, str(src))
    out.parent.mkdir()
    rc, _, err = run_scalec("convert", src, "-o", out, "--external-data", "always", "--external-threshold", "0")
    assert rc == 0, err
    check_placement(out, 0)
    assert first_difference(norm_model(m), norm_model(onnx.load(str(out)))) is None
    a_ref, a_got = run_ort(src, {}), run_ort(out, {})
    assert all(outputs_equal(a_ref[k], a_got[k]) for k in a_ref)


def _metadata_model() -> onnx.ModelProto:
    W = numpy_helper.from_array(np.ones(3, np.float32), "W")
    const = helper.make_node("Constant", [], ["K"], value=numpy_helper.from_array(np.full(3, 2.0, np.float32)))
    add = helper.make_node("Add", ["W", "K"], ["Y"], name="add", doc_string="node doc")
    g = helper.make_graph([const, add], "g", [], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3])], [W],
                          doc_string="graph doc")
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def _roundtrip_equal(tmp_path, m: onnx.ModelProto):
    src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(m, str(src))
    rc, _, err = run_scalec("convert", src, "-o", out)
    assert rc == 0, err
    diff = first_difference(norm_model(m), norm_model(onnx.load(str(out))))
    assert diff is None, diff


def _add_prop(message, key, value):
    e = message.metadata_props.add()
    e.key, e.value = key, value


def test_ir10_metadata_props_kept(tmp_path):
    """IR 10's metadata_props on graphs, nodes, value_infos and initializers (fields libonnx 1.12 does
    not know) survive convert."""
    m = _metadata_model()
    _add_prop(m.graph, "graph_key", "g")
    _add_prop(m.graph.node[1], "node_key", "n")
    _add_prop(m.graph.output[0], "output_key", "o")
    _add_prop(m.graph.initializer[0], "init_key", "i")
    _roundtrip_equal(tmp_path, m)


@pytest.mark.parametrize("where", ["initializer", "constant"])
def test_tensor_doc_string_kept(tmp_path, where):
    m = _metadata_model()
    target = m.graph.initializer[0] if where == "initializer" else m.graph.node[0].attribute[0].t
    target.doc_string = "tensor doc"
    _roundtrip_equal(tmp_path, m)


def test_constant_tensor_metadata_props_kept(tmp_path):
    m = _metadata_model()
    _add_prop(m.graph.node[0].attribute[0].t, "const_key", "c")
    _roundtrip_equal(tmp_path, m)
