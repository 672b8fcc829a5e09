#!/usr/bin/env python3
"""Cost of quantizing, and speed of the result: `scalec quantize` against ONNX Runtime's quantize_static.

Run with the project's virtual environment (numpy, onnxruntime):

    .venv/bin/python bench/quantize_speed.py [--scalec build/cli/scalec] [--samples 100] [--method entropy]

On bench/models/resnet18.onnx (bench/make_models.py) with --samples seeded N(0, 1) calibration
images (written once to --work), in one run:
  1. wall time and peak RSS (os.wait4's ru_maxrss of the child) of `scalec quantize --method M`
     and of ONNX Runtime's quantize_static (QDQ, int8, per channel, CalibrationMethod M) in a child
     Python, both with 2 threads, on the same calibration array;
  2. ONNX Runtime latency (2 intra-op threads; best and median of repeated runs, the models taking
     turns) at batch 1 and 32 of the fp32 model, scalec's int8 QDQ model and ONNX Runtime's int8 QDQ model.
Prints a markdown section; --out also writes it to a file.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2

ORT_CHILD = r"""
import sys, numpy as np
from onnxruntime import quantization as oq
model, data, out, method = sys.argv[1:5]
x = np.load(data)["input"]
n = len(x)
batch = max(b for b in range(1, 33) if n % b == 0)  # ORT's entropy collector needs equal batches
class Reader(oq.CalibrationDataReader):
    def __init__(self):
        self.it = iter(range(0, n, batch))
    def get_next(self):
        i = next(self.it, None)
        return None if i is None else {"input": x[i:i + batch]}
oq.quantize_static(model, out, Reader(), quant_format=oq.QuantFormat.QDQ, per_channel=True,
                   activation_type=oq.QuantType.QInt8, weight_type=oq.QuantType.QInt8,
                   calibrate_method={"minmax": oq.CalibrationMethod.MinMax, "entropy": oq.CalibrationMethod.Entropy,
                                     "percentile": oq.CalibrationMethod.Percentile}[method])
"""


def measured(cmd: list, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process."""
    print("$", " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    start = time.perf_counter()
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with exit code {p.returncode}")
    return wall, usage.ru_maxrss / 1024


def session(model: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def latencies_ms(models: list[Path], batch: int, rounds: int) -> list[tuple[float, float]]:
    """(best, median) ms per run of each model at `batch`; the models take turns run by run, so that
    load from other processes falls on all of them alike."""
    sessions = [session(m) for m in models]
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    times: list[list[float]] = [[] for _ in models]
    for s in sessions:
        s.run(None, {"input": x})  # warm-up
    for _ in range(rounds):
        for s, t in zip(sessions, times):
            start = time.perf_counter()
            s.run(None, {"input": x})
            t.append(1000 * (time.perf_counter() - start))
    return [(min(t), statistics.median(t)) for t in times]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalec", default=str(ROOT / "build" / "cli" / "scalec"))
    ap.add_argument("--model", default=str(ROOT / "bench" / "models" / "resnet18.onnx"))
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--method", default="entropy", choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--rounds", type=int, default=5, help="runs per model at batch 32 (4x that at batch 1)")
    ap.add_argument("--work", default="/tmp/scalec-quantize-bench")
    ap.add_argument("--out", help="also write the markdown section here")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"resnet18_calib_{a.samples}.npz"
    if not data.exists():
        x = np.random.default_rng(20240601).standard_normal((a.samples, 3, 224, 224), dtype=np.float32)
        np.savez(data, input=x)
        del x
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
    ours, theirs = work / "resnet18_scalec_int8.onnx", work / "resnet18_ort_int8.onnx"
    load0 = os.getloadavg()[0]
    s_wall, s_rss = measured([a.scalec, "quantize", a.model, "--calib", data, "--method", a.method, "--threads", THREADS,
                              "-o", ours], env)
    o_wall, o_rss = measured([sys.executable, "-c", ORT_CHILD, a.model, data, theirs, a.method], env)
    g_wall, g_rss = measured([a.scalec, "quantize", a.model, "--calib", data, "--method", a.method, "--gptq",
                              "--threads", THREADS, "-o", work / "resnet18_scalec_int8_gptq.onnx"], env)
    lines = [f"Quantizing ResNet-18 (bench/models/resnet18.onnx) to int8 QDQ with {a.method} calibration on "
             f"{a.samples} samples [3,224,224], {THREADS} threads ({platform.processor() or platform.machine()}, "
             f"1-minute load average {load0:.2f} at start)", "",
             "| quantizer | wall time | peak RSS |", "|---|---:|---:|",
             f"| scalec quantize --method {a.method} | {s_wall:.1f} s | {s_rss:.0f} MB |",
             f"| scalec quantize --method {a.method} --gptq (GPTQ weights, 21 layers, K up to 4,608) | {g_wall:.1f} s "
             f"| {g_rss:.0f} MB |",
             f"| ONNX Runtime {ort.__version__} quantize_static ({a.method}, QDQ, per channel) | {o_wall:.1f} s | {o_rss:.0f} MB |",
             "", f"ONNX Runtime {ort.__version__} latency, {THREADS} intra-op threads, ms per batch: best / median of "
             f"{a.rounds} runs (batch 1: {4 * a.rounds}), the models taking turns", "",
             "| model | batch 1 | batch 32 | images/s at 32 (best) |", "|---|---:|---:|---:|"]
    names = ["fp32", "scalec int8 QDQ", "ORT quantize_static int8 QDQ"]
    models = [Path(a.model), ours, theirs]
    b1 = latencies_ms(models, 1, 4 * a.rounds)
    b32 = latencies_ms(models, 32, a.rounds)
    for name, (best1, med1), (best32, med32) in zip(names, b1, b32):
        lines.append(f"| {name} | {best1:.1f} / {med1:.1f} | {best32:.0f} / {med32:.0f} | {32000 / best32:.1f} |")
    lines.append(f"\n1-minute load average at end: {os.getloadavg()[0]:.2f} (2 cores shared; timings vary with it)")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
