#!/usr/bin/env python3
"""Accuracy benchmark of `scalec finetune`: LeNet-5 trained on Fashion-MNIST from seeded random weights.

Run with the project's virtual environment (numpy, onnxruntime):

    .venv/bin/python bench/train_fashion.py [--scalec build/cli/scalec] [--epochs 15] [--threads T]

Converts Debian's Fashion-MNIST (/usr/share/datasets/fashion-mnist/*.gz, idx format) into .npz files
in a temporary folder (float32 [N,1,28,28] scaled to [0,1], int64 labels), trains
tests/reference/lenet_fashion_init.onnx (LeNet-5 with a Dropout(0.1), seeded init) on the 60,000
training images with `scalec finetune` (test set as --val), and prints one markdown table row:
recipe, epochs, wall time, final test accuracy as scalec measured it, and ONNX Runtime's accuracy
of the written model on the same test set. Exits 1 when the two disagree, 3 when the accuracy is
below --target (default 0.89).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")
MODEL = ROOT / "tests" / "reference" / "lenet_fashion_init.onnx"


def read_idx(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 [N,1,28,28] in [0,1] and labels as int64 [N] from the idx files of `split`."""
    with gzip.open(FASHION / f"{split}-images-idx3-ubyte.gz") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw, ">u4", count=4)
    assert magic == 2051 and (rows, cols) == (28, 28), f"{split}: not an idx3 28x28 image file"
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(int(n), 1, 28, 28).astype(np.float32) / 255.0
    with gzip.open(FASHION / f"{split}-labels-idx1-ubyte.gz") as f:
        raw = f.read()
    magic, m = np.frombuffer(raw, ">u4", count=2)
    assert magic == 2049 and m == n, f"{split}: labels do not match the images"
    return x, np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)


def ort_accuracy(model: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ONNX Runtime (CPU) on x, in batches of 1,000."""
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    pred = np.concatenate([sess.run(None, {name: x[i:i + 1000]})[0].argmax(axis=1) for i in range(0, len(x), 1000)])
    return float((pred == y).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalec", default=str(ROOT / "build" / "cli" / "scalec"), help="scalec binary")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--target", type=float, default=0.89, help="lowest acceptable test accuracy")
    ap.add_argument("--keep", help="also copy the trained model here")
    a = ap.parse_args()
    if not FASHION.is_dir():
        sys.exit(f"{FASHION} is missing: apt-get install dataset-fashion-mnist (scripts/install-deps does)")

    x, y = read_idx("train")
    xt, yt = read_idx("t10k")
    with tempfile.TemporaryDirectory(prefix="scalec-fashion-") as tmp:
        t = Path(tmp)
        np.savez(t / "train.npz", input=x, labels=y)
        np.savez(t / "test.npz", input=xt, labels=yt)
        out, report = t / "lenet.onnx", t / "report.json"
        cmd = [a.scalec, "finetune", str(MODEL), "--data", str(t / "train.npz"), "--val", str(t / "test.npz"),
               "--epochs", str(a.epochs), "--batch", str(a.batch), "--lr", str(a.lr), "--momentum", str(a.momentum),
               "--schedule", "cosine", "--seed", str(a.seed), "--threads", str(a.threads),
               "-o", str(out), "--report", str(report)]
        print("$", " ".join(cmd), file=sys.stderr)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        wall = time.perf_counter() - start
        epochs = json.loads(report.read_text())["epochs"]
        acc = epochs[-1]["val_accuracy"]
        ort_acc = ort_accuracy(out, xt, yt)
        if a.keep:
            Path(a.keep).write_bytes(out.read_bytes())

    train_s = sum(e["seconds"] for e in epochs)
    recipe = f"SGD lr {a.lr:g} momentum {a.momentum:g} cosine, batch {a.batch}, seed {a.seed}, {a.threads} threads"
    print("| recipe | epochs | wall time | of it training | scalec test acc | ONNX Runtime test acc |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| {recipe} | {len(epochs)} | {wall:.0f} s | {train_s:.0f} s | {100 * acc:.2f}% | {100 * ort_acc:.2f}% |")
    best = max(epochs, key=lambda e: e["val_accuracy"])
    per_epoch = " ".join(f"{100 * e['val_accuracy']:.2f}" for e in epochs)
    print(f"per-epoch test accuracy (%): {per_epoch}; best {100 * best['val_accuracy']:.2f} after epoch {best['epoch']}",
          file=sys.stderr)
    if round(ort_acc * len(yt)) != round(acc * len(yt)):
        print(f"ONNX Runtime's accuracy {ort_acc:.4f} differs from scalec's {acc:.4f}", file=sys.stderr)
        return 1
    if acc < a.target:
        print(f"test accuracy {acc:.4f} is below the target {a.target}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
