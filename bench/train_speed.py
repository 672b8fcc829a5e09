#!/usr/bin/python3
"""Training speed of `scalec finetune` against PyTorch (CPU) on LeNet-5 / Fashion-MNIST, as a markdown table.

Run with Debian's Python (torch 1.13 CPU, numpy; no onnxruntime needed):

    /usr/bin/python3 bench/train_speed.py [--scalec build/cli/scalec] [--samples 20000] [--batches 64 256]

Both trainers see the same data (the first --samples Fashion-MNIST training images, float32
[N,1,28,28] in [0,1]), the same model (tests/reference/lenet_fashion_init.onnx for scalec; the same
layers in PyTorch: LeNet-5 as in tests/reference/make_train_reference.py with Dropout(0.1) after the
classifier's first ReLU), cross-entropy, SGD lr 0.05 momentum 0.9, a fresh shuffle each epoch, the
same batch and the same thread count T (scalec --threads T, torch.set_num_threads(T); default: the
CPUs this process may use). Each epoch gathers its batches from the shuffled rows and counts loss
and correct predictions, as scalec's epoch does.

Rounds alternate (scalec, PyTorch, scalec, ...). A scalec round is one `scalec finetune --epochs 2`
process whose first epoch is a warm-up; the second epoch's samples_per_second (from --report) counts.
PyTorch trains one warm-up epoch before the first round, then one epoch per round. The best round
of each counts; spread is how far the worst round fell below the best.
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
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")
MODEL = ROOT / "tests" / "reference" / "lenet_fashion_init.onnx"
LR, MOMENTUM = 0.05, 0.9


def read_train(limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` Fashion-MNIST training images (float32 [N,1,28,28] in [0,1]) and labels (int64)."""
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    if limit > len(x):
        sys.exit(f"--samples {limit}: the training set has only {len(x)}")
    return x[:limit].astype(np.float32) / 255.0, y[:limit].copy()


def lenet5() -> nn.Module:
    """LeNet-5 of make_train_reference.py plus Dropout(0.1) after the classifier's first ReLU."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


class TorchTrainer:
    """PyTorch's side: one model and optimizer trained epoch after epoch on the same tensors."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch: int):
        torch.manual_seed(5)
        self.x, self.y, self.batch = torch.from_numpy(x), torch.from_numpy(y), batch
        self.model = lenet5().train()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss_fn = nn.CrossEntropyLoss()

    def epoch(self) -> float:
        """Trains one epoch; returns samples per second."""
        n = len(self.x)
        start = time.perf_counter()
        rows = torch.randperm(n)
        loss_sum, correct = 0.0, 0
        for b in range(0, n, self.batch):
            idx = rows[b:b + self.batch]
            xb, yb = self.x[idx], self.y[idx]
            self.opt.zero_grad(set_to_none=True)
            logits = self.model(xb)
            loss = self.loss_fn(logits, yb)
            loss.backward()
            self.opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        return n / (time.perf_counter() - start)


def scalec_round(scalec: str, data: Path, batch: int, threads: int, tmp: Path) -> float:
    """One `scalec finetune --epochs 2` process; samples per second of its second epoch."""
    report = tmp / "report.json"
    cmd = [scalec, "finetune", str(MODEL), "--data", str(data), "--epochs", "2", "--batch", str(batch),
           "--lr", str(LR), "--momentum", str(MOMENTUM), "--seed", "0", "--threads", str(threads),
           "-o", str(tmp / "out.onnx"), "--report", str(report)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return json.loads(report.read_text())["epochs"][1]["samples_per_second"]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def spread(xs: list[float]) -> str:
    return f"{100 * (max(xs) - min(xs)) / max(xs):.0f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalec", default=str(ROOT / "build" / "cli" / "scalec"), help="scalec binary")
    ap.add_argument("--samples", type=int, default=20000, help="training images per epoch")
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="also write the table to this file")
    a = ap.parse_args()
    if not FASHION.is_dir():
        sys.exit(f"{FASHION} is missing: apt-get install dataset-fashion-mnist (scripts/install-deps does)")
    torch.set_num_threads(a.threads)

    x, y = read_train(a.samples)
    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="scalec-train-speed-") as tmp:
        t = Path(tmp)
        data = t / "train.npz"
        np.savez(data, input=x, labels=y)
        for batch in a.batches:
            trainer = TorchTrainer(x, y, batch)
            trainer.epoch()  # warm-up
            ours, theirs = [], []
            for r in range(a.rounds):
                ours.append(scalec_round(a.scalec, data, batch, a.threads, t))
                theirs.append(trainer.epoch())
                print(f"batch {batch} round {r + 1}: scalec {ours[-1]:.0f}, PyTorch {theirs[-1]:.0f} samples/s",
                      file=sys.stderr)
            rows.append((batch, max(ours), max(theirs), spread(ours), spread(theirs)))
    load1 = os.getloadavg()[0]

    lines = [f"Training LeNet-5 on {a.samples} Fashion-MNIST images, SGD momentum, {a.threads} "
             f"thread{'s' if a.threads != 1 else ''}, "
             f"best of {a.rounds} epochs (samples/s)", "",
             "| batch | scalec | PyTorch | scalec/PyTorch | spread scalec | spread PyTorch |",
             "|---:|---:|---:|---:|---:|---:|"]
    for batch, ours, theirs, s_ours, s_theirs in rows:
        lines.append(f"| {batch} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f}x | {s_ours} | {s_theirs} |")
    lines += ["", f"{cpu_name()}; PyTorch {torch.__version__}; 1-minute load average {load0:.2f} at start, "
              f"{load1:.2f} at end (this run's own threads add about {min(a.threads, os.cpu_count() or 1)})."]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
