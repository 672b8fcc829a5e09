"""Shared by tests/py/test_zoo.py and bench/zoo_bench.py (run with .venv's Python: numpy, onnx,
onnxruntime): the zoo's index, ONNX Runtime runs, ONNX Runtime's own quantizer, SQNR, layer
coverage counted independently of what scalec prints, and measured subprocess runs."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx

GENERATOR = Path(__file__).resolve().parent / "generate_zoo.py"
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's torch and torchvision live there, not in .venv
MAC_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def generate(out_dir, resolution: int, models: list[str] | None = None, timeout: float = 1200):
    """Runs the generator (idempotent) and returns zoo.json's "models" map; raises with its stderr."""
    cmd = [DEBIAN_PYTHON, str(GENERATOR), str(out_dir), "--resolution", str(resolution)]
    if models:
        cmd += ["--models", ",".join(models)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode} (needs Debian's python3-torch and "
                           f"python3-torchvision: scripts/install-deps):\n{p.stderr[-3000:]}")
    return json.loads((Path(out_dir) / "zoo.json").read_text())["models"]


def ort_session(path, threads: int = 2):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_run(path, feeds: dict, threads: int = 2):
    """All outputs of `path` in ONNX Runtime, as a list."""
    return ort_session(path, threads).run(None, feeds)


def inputs_of(entry: dict, data_path) -> dict:
    """The graph input's array of a zoo data file (labels left out)."""
    with np.load(data_path) as d:
        return {entry["input"]: d[entry["input"]]}


def max_rel_error(got, ref) -> float:
    """max |got - ref| / max |ref|."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))


def sqnr_db(ref, q) -> float:
    """10 log10(sum ref^2 / sum (q - ref)^2) (issue 15's definition); inf when q == ref."""
    ref, q = np.asarray(ref, np.float64), np.asarray(q, np.float64)
    noise = float(((q - ref) ** 2).sum())
    return float("inf") if noise == 0 else float(10 * np.log10((ref ** 2).sum() / noise))


def mac_layers(model: onnx.ModelProto) -> int:
    """Conv/ConvTranspose/Gemm/MatMul nodes of the main graph: the layers quantize can cover."""
    return sum(n.op_type in MAC_OPS for n in model.graph.node)


def quantized_layers(model: onnx.ModelProto) -> int:
    """Layers of a quantized model whose weights are integer, counted from the graph itself:
    QLinearConv/QLinearMatMul/ConvInteger/MatMulInteger/MatMulNBits, and float MAC ops whose
    input 1 comes from a DequantizeLinear (QDQ and weight-only)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    count = 0
    for n in model.graph.node:
        if n.op_type in ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "MatMulNBits"):
            count += 1
        elif n.op_type in MAC_OPS and len(n.input) > 1:
            p = producer.get(n.input[1])
            count += p is not None and p.op_type == "DequantizeLinear"
    return count


def _tensors(model: onnx.ModelProto) -> dict:
    """Initializers and Constant-node tensors of the main graph, by value name."""
    tensors = {t.name: t for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    tensors[n.output[0]] = a.t
    return tensors


FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16)


def parameters(model: onnx.ModelProto) -> int:
    """Elements of float initializers and float Constant tensors (DESIGN.md's definition)."""
    return sum(int(np.prod(t.dims)) for t in _tensors(model).values() if t.data_type in FLOAT_TYPES)


def zero_share(model: onnx.ModelProto) -> float:
    """Share of exactly-zero elements over all float weights of MAC layers (initializers or Constants)."""
    from onnx import numpy_helper
    tensors = _tensors(model)
    zeros = total = 0
    for n in model.graph.node:
        if n.op_type in MAC_OPS and len(n.input) > 1 and n.input[1] in tensors:
            w = numpy_helper.to_array(tensors[n.input[1]])
            if w.dtype.kind == "f":
                zeros += int((w == 0).sum())
                total += w.size
    return zeros / total if total else 0.0


COVERAGE_RE = re.compile(r"quantized (\d+) of (\d+) layers")


def parse_coverage(stdout: str):
    """(quantized, of) from scalec's "quantized N of M layers" line, or None when it prints none."""
    m = COVERAGE_RE.search(stdout)
    return (int(m.group(1)), int(m.group(2))) if m else None


def first_error(stderr: str) -> str:
    """scalec's error line (or the last non-empty line), for tables and failure messages."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for l in lines:
        if "error:" in l:
            return l[l.index("error:") + 6:].strip()
    return lines[-1] if lines else ""


def run_with_rss(cmd: list, timeout: float | None = None):
    """Runs cmd under GNU time; returns (rc, stdout, stderr, wall seconds, peak RSS in MB). GNU time,
    not os.wait4 here: a child forked from this process inherits its RSS high-water mark."""
    import tempfile
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-o", tf.name, "-f", "%M"] + [str(c) for c in cmd]
        start = time.monotonic()
        # Its own session, so a timeout ends the command itself, not only GNU time.
        p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            return -1, out.decode(errors="replace"), f"timed out after {timeout} s", float(timeout), 0.0
        wall = time.monotonic() - start
        lines = [l for l in open(tf.name).read().splitlines() if l.strip()]
    rss_kb = float(lines[-1]) if lines and lines[-1].strip().isdigit() else 0.0
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace"), wall, rss_kb / 1024.0


ORT_QUANTIZE_SCRIPT = r"""
import sys, numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
model, calib, name, out = sys.argv[1:5]
class Reader(CalibrationDataReader):
    def __init__(self):
        x = np.load(calib)[name]
        self.it = iter([{name: x[i:i + 1]} for i in range(len(x))])
    def get_next(self):
        return next(self.it, None)
quantize_static(model, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
"""


def ort_quantize_static(model, calib, input_name: str, out, timeout: float | None = None):
    """ONNX Runtime's quantize_static with issue 15's settings (QDQ, per channel, no reduce_range,
    int8 activations and weights, MinMax), one calibration sample per batch, in its own process:
    returns run_with_rss's tuple."""
    return run_with_rss([sys.executable, "-c", ORT_QUANTIZE_SCRIPT, model, calib, input_name, out], timeout)
