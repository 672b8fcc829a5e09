"""scalec's shape inference (`scalec convert --infer-shapes`) against onnx.shape_inference on real
exported models: the test models and libonnx-testdata's pytorch-converted, pytorch-operator and simple
groups, with every recorded intermediate and output shape removed first.

Where both know a value, element type and every dimension must agree; and scalec must type at least
what ONNX types for the values of ops it implements."""
from __future__ import annotations

import onnx
import pytest
from onnx import shape_inference

from conftest import TEST_MODELS_DIR, model_label

GROUPS = ("pytorch-converted", "pytorch-operator", "simple")


def _strip(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    return m


def _types(graph) -> dict[str, tuple[int, list | None]]:
    out = {}
    for vi in list(graph.value_info) + list(graph.output):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            continue
        dims = None
        if tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        out[vi.name] = (tt.elem_type, dims)
    return out


def _models(testdata_dir):
    paths = sorted(TEST_MODELS_DIR.glob("*.onnx"))
    for g in GROUPS:
        paths += sorted((testdata_dir / g).glob("*/model.onnx"))
    return paths


def test_inferred_shapes_agree_with_onnx(scalec, testdata_dir, tmp_path):
    compared = exact = onnx_typed = scalec_typed = 0
    problems, weaker = [], []
    for path in _models(testdata_dir):
        label = model_label(path)
        stripped = _strip(onnx.load(str(path)))
        src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
        onnx.save(stripped, str(src))
        rc, _, err = scalec("--log-level", "warn", "convert", src, "-o", out, "--infer-shapes")
        if rc != 0:
            problems.append(f"{label}: scalec exit {rc}: {err.strip()[:300]}")
            continue
        ours = _types(onnx.load(str(out)).graph)
        try:
            ref = _types(shape_inference.infer_shapes(stripped, strict_mode=False, data_prop=True).graph)
        except Exception as e:  # noqa: BLE001 - ONNX's own inference may give up on old opsets
            ref = {}
            print(f"{label}: onnx shape inference failed: {e}")
        for name, (etype, dims) in ref.items():
            onnx_typed += 1
            if name not in ours:
                continue
            scalec_typed += 1
            oe, od = ours[name]
            compared += 1
            if etype and oe and etype != oe:
                problems.append(f"{label}: '{name}' element type {oe}, onnx says {etype}")
                continue
            if dims is None or od is None:
                continue
            if len(dims) != len(od):
                problems.append(f"{label}: '{name}' rank {len(od)}, onnx says {len(dims)}")
                continue
            for a, b in zip(od, dims):
                if a is not None and b is not None and a != b:
                    problems.append(f"{label}: '{name}' shape {od}, onnx says {dims}")
                    break
            else:
                exact += od == dims
                if any(a is None and b is not None for a, b in zip(od, dims)):
                    weaker.append(f"{label}: '{name}' {od}, onnx knows {dims}")
    print(f"compared {compared} values; {exact} with identical dims; scalec typed {scalec_typed} of the "
          f"{onnx_typed} values onnx typed")
    print("\n".join(["dims onnx knows and scalec does not:"] + weaker))
    assert not problems, "\n".join(problems[:40])
    assert not weaker, "\n".join(weaker[:40])
    assert compared > 250
    assert scalec_typed >= 0.98 * onnx_typed
