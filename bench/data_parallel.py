#!/usr/bin/python3
"""Data-parallel training speed of `scalec finetune` under mpirun on this machine, as a markdown table.

Run with Debian's Python (torch 1.13 exports ResNet-18; OpenMPI's mpirun from openmpi-bin):

    /usr/bin/python3 bench/data_parallel.py [--scalec build/cli/scalec] [--rounds 2]

Models: LeNet-5 (tests/reference/lenet_fashion_init.onnx) on the first 8192 Fashion-MNIST training
images, global batch 256; torchvision's ResNet-18 (10 classes, seeded random weights, exported at
32x32) on 1024 seeded N(0,1) images with random labels, global batch 32. Each configuration trains
`--epochs 2` in one process (or one mpirun job); the second epoch counts (the first warms up), best
of --rounds. Configurations: 1 rank x 1 thread, 1 rank x 2 threads, 2 ranks x 1 thread (mpirun -np 2;
threads per rank default to cores / ranks). Scaling efficiency = samples/s of 2 ranks / (2 x 1 rank
x 1 thread). "all-reduce wait" is the time backward's end spent waiting for gradient sums (the
communication not hidden behind backward), as a share of the epoch.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")
LENET = ROOT / "tests" / "reference" / "lenet_fashion_init.onnx"


# train_fashion.read_idx reads the same files but imports onnxruntime, which Debian's Python (torch) lacks.
def fashion(limit: int, path: Path) -> None:
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:limit]
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
    np.savez(path, input=x.astype(np.float32) / 255.0, labels=y.astype(np.int64))


def resnet18(folder: Path) -> tuple[Path, Path]:
    import torch  # noqa: PLC0415
    import torchvision  # noqa: PLC0415

    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=10).eval()
    model = folder / "resnet18.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 32, 32), str(model), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13)
    rng = np.random.default_rng(0)
    data = folder / "resnet18_data.npz"
    np.savez(data, input=rng.standard_normal((1024, 3, 32, 32)).astype(np.float32),
             labels=rng.integers(0, 10, 1024).astype(np.int64))
    return model, data


def run(scalec: str, ranks: int, threads: int | None, model: Path, data: Path, batch: int, lr: float,
        folder: Path) -> dict:
    report = folder / "report.json"
    args = [scalec, "finetune", str(model), "--data", str(data), "--epochs", "2", "--batch", str(batch), "--lr", str(lr),
            "-o", str(folder / "out.onnx"), "--report", str(report), "-q"]
    if threads:
        args += ["--threads", str(threads)]
    if ranks > 1:
        args = ["mpirun", "--allow-run-as-root", "-np", str(ranks)] + args
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return json.loads(report.read_text())["epochs"][1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scalec", default=str(ROOT / "build" / "cli" / "scalec"))
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    if not shutil.which("mpirun"):
        sys.exit("mpirun is missing: apt-get install openmpi-bin (scripts/install-deps does)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fashion(8192, folder / "fashion.npz")
        r18, r18_data = resnet18(folder)
        models = [("LeNet-5, Fashion-MNIST 28x28", LENET, folder / "fashion.npz", 256, 0.05),
                  ("ResNet-18 (torchvision), 32x32", r18, r18_data, 32, 0.001)]
        configs = [("1 rank x 1 thread", 1, 1), ("1 rank x 2 threads", 1, 2), ("2 ranks x 1 thread", 2, None)]
        print(f"cores: {os.cpu_count()}; best of {a.rounds} rounds; second epoch of 2\n")
        print("| model | configuration | samples/s | vs 1 rank x 1 thread | all-reduce wait (share of epoch) |")
        print("|---|---|---|---|---|")
        for name, model, data, batch, lr in models:
            base = None
            for label, ranks, threads in configs:
                best = max((run(a.scalec, ranks, threads, model, data, batch, lr, folder) for _ in range(a.rounds)),
                           key=lambda e: e["samples_per_second"])
                sps = best["samples_per_second"]
                base = base or sps
                wait = best.get("allreduce_wait_seconds")
                wait_text = f"{wait:.2f} s ({100 * wait / best['seconds']:.1f}%)" if wait is not None else "-"
                ratio = f"x{sps / base:.2f}" + (f" (scaling efficiency {100 * sps / (2 * base):.0f}%)" if ranks == 2 else "")
                print(f"| {name} | {label} | {sps:.0f} | {ratio} | {wait_text} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
