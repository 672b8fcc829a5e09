#!/usr/bin/env python3
"""Accuracy against sparsity for `scalec prune` on the trained test models (issue 7, item 5).

For each model and each recipe (50/80/90% unstructured, 25/50% of the channels, 2:4), with and
without recovery training (gradual pruning + distillation from the unpruned model), runs
`scalec prune`, then measures the written model: top-1 in ONNX Runtime (which must equal what scalec
reported), parameters and nonzero parameters, file and gzip size, MACs per sample, and ONNX Runtime
latency at batch 32 relative to the unpruned model (timed alternately, median).

Models:
  digits   test_models/lenet_digits.onnx (trained, 98.6%), sklearn digits split of test_models/
  fashion  LeNet-5 trained here with `scalec finetune` (3 epochs) from tests/reference/lenet_fashion_init.onnx
           on Debian's Fashion-MNIST; 10,000 test images as validation (slower: recovery = 2 epochs)

Usage (repository root, the venv with onnxruntime):
    .venv/bin/python bench/prune_accuracy.py [--scalec build/cli/scalec] [--models digits fashion]
        [--threads 2] [--out bench/results/prune.md]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run_cpu import ort_session, time_runs  # noqa: E402
from train_fashion import read_idx  # noqa: E402

RECIPES = [("unstructured", 0.5), ("unstructured", 0.8), ("unstructured", 0.9), ("channel", 0.25), ("channel", 0.5),
           ("2:4", 0.5)]


def run(cmd: list) -> str:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stderr}")
    return res.stdout


def ort_accuracy(model: Path, val: Path, threads: int) -> float:
    d = np.load(val)
    sess = ort_session(str(model), threads)
    pred = np.concatenate([sess.run(None, {"input": d["input"][i:i + 1000]})[0].argmax(1)
                           for i in range(0, len(d["labels"]), 1000)])
    return float((pred == d["labels"]).mean())


def ort_ms(model: Path, x: np.ndarray, threads: int, seconds: float) -> float:
    sess = ort_session(str(model), threads)
    return 1000 * time_runs(lambda: sess.run(None, {"input": x}), seconds)


def prepare(name: str, scalec: str, work: Path, threads: int):
    """(model, train.npz, val.npz, recovery args) for one test model."""
    if name == "digits":
        tm = ROOT / "test_models"
        return (tm / "lenet_digits.onnx", tm / "digits_train.npz", tm / "digits_val.npz",
                ["--epochs", 12, "--lr", 0.01, "--momentum", 0.9, "--schedule", "cosine"])
    x, y = read_idx("train")
    xt, yt = read_idx("t10k")
    np.savez(work / "fashion_train.npz", input=x, labels=y)
    np.savez(work / "fashion_test.npz", input=xt, labels=yt)
    model = work / "lenet_fashion.onnx"
    run([scalec, "finetune", ROOT / "tests" / "reference" / "lenet_fashion_init.onnx", "--data", work / "fashion_train.npz",
         "--epochs", 3, "--batch", 64, "--lr", 0.05, "--momentum", 0.9, "--schedule", "cosine", "--seed", 0,
         "--threads", threads, "-o", model])
    return (model, work / "fashion_train.npz", work / "fashion_test.npz",
            ["--epochs", 2, "--batch", 64, "--lr", 0.01, "--momentum", 0.9, "--schedule", "cosine"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalec", default=str(ROOT / "build" / "cli" / "scalec"))
    ap.add_argument("--models", nargs="+", default=["digits", "fashion"], choices=["digits", "fashion"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0, help="ORT timing budget per model and round")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "prune.md"))
    a = ap.parse_args()

    lines = ["# Pruning: accuracy against sparsity (`bench/prune_accuracy.py`)", "",
             f"`{' '.join(sys.argv)}`; {time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f}, "
             f"{a.threads} threads. Recovery = `--data TRAIN --distill` (gradual polynomial schedule to the target by "
             "half of the steps, then fixed masks; teacher = the unpruned model). Speed-up: ONNX Runtime latency of "
             "the unpruned model / the pruned one, batch 32, medians, best of 2 alternating rounds.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in a.models:
            model, train, val, recovery = prepare(name, a.scalec, work, a.threads)
            x = np.load(val)["input"][:32]
            base_ms = ort_ms(model, x, a.threads, a.seconds)
            base_acc = ort_accuracy(model, val, a.threads)
            lines += [f"## {name}: `{model.name}`, unpruned top-1 {100 * base_acc:.2f}%", "",
                      "| recipe | recovery | top-1 (scalec) | top-1 (ORT) | Δ points | params | nonzero | file KB | gzip KB | MACs/sample | ORT speed-up |",
                      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for method, s in RECIPES:
                for recover in (False, True):
                    out, report = work / "out.onnx", work / "r.json"
                    cmd = [a.scalec, "prune", model, "--method", method, "--val", val, "--threads", a.threads, "-o", out,
                           "--report", report, "--seed", 0]
                    if method != "2:4":
                        cmd += ["--sparsity", s]
                    if recover:
                        cmd += ["--data", train, "--distill", *recovery]
                    t0 = time.time()
                    run(cmd)
                    secs = time.time() - t0
                    r = json.loads(report.read_text())
                    acc = ort_accuracy(out, val, a.threads)
                    if abs(acc - r["accuracy_after"]) > 2e-4:
                        print(f"warning: ORT {acc} vs scalec {r['accuracy_after']} on {method} {s}", file=sys.stderr)
                    speedup = max(ort_ms(model, x, a.threads, a.seconds) / ort_ms(out, x, a.threads, a.seconds) for _ in range(2))
                    b, f = r["before"], r["after"]
                    label = f"{method} {int(100 * s)}%" if method != "2:4" else "2:4 (50%)"
                    lines.append(
                        f"| {label} | {'yes, ' + f'{secs:.0f} s' if recover else 'no'} | {100 * r['accuracy_after']:.2f}% | "
                        f"{100 * acc:.2f}% | {100 * (r['accuracy_after'] - r['accuracy_before']):+.2f} | "
                        f"{f['parameters']} | {f['nonzero_parameters']} | {f['file_bytes'] / 1024:.1f} | {f['gzip_bytes'] / 1024:.1f} | "
                        f"{f['macs_per_sample']} | {speedup:.2f}x |")
                    print(lines[-1], flush=True)
            lines += ["", f"unpruned: {b['parameters']} params, {b['file_bytes'] / 1024:.1f} KB file, "
                      f"{b['gzip_bytes'] / 1024:.1f} KB gzip, {b['macs_per_sample']} MACs/sample, ORT {base_ms:.3f} ms/batch of 32", ""]
    Path(a.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
