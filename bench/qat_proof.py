#!/usr/bin/env python3
"""Proof of `scalec quantize --qat` (issue 25 item 5): on Fashion-MNIST LeNet-5, quantization-aware
training beats post-training quantization at 4-, 3- and 2-bit weights (int8 activations), and 2-bit
QAT lands within 5 points of fp32.

Run with the project's virtual environment (numpy, onnxruntime):

    .venv/bin/python bench/qat_proof.py [--model lenet|resnet] [--scalec build/cli/scalec] [--fp32-epochs 2] [--epochs 2]

Steps: the fp32 model is tests/reference/lenet_fashion_init.onnx (LeNet-5, seeded init), or with
--model resnet the ResNet-style CNN bench/make_fashion_resnet.py writes (seeded init, BatchNorm),
trained by `scalec finetune` for --fp32-epochs on all 60,000 training images (the issue's 2-epoch
model); post-training quantization folds the BatchNorms, QAT trains them in fake-quant form and
freezes their statistics after half the run (its default; --freeze-bn-after N passes N on).
Post-training quantization: `scalec quantize --format qdq --bits K` with the first 512 training
images as --calib (the calibration QAT starts from) and its defaults (mse ranges, bias correction);
it is deterministic, so its three "seeds" are one number. QAT: `scalec quantize --qat --bits K` on
--train-samples training images for --epochs, SGD momentum 0.9 cosine, per seed (the seed changes the
shuffling). QAT trains --epochs more than the fp32 model did, so a control gets the same extra
training in float (`scalec finetune` of the fp32 model with the QAT recipe on the same images, seed
0) before post-training quantization. Accuracy is ONNX Runtime's on the 10,000 test images, never
used for choosing anything.
Prints markdown; exits 3 when some bit width misses the rule (QAT mean ahead of PTQ by more than the
larger sample standard deviation, ddof 1) or, for LeNet-5, 2-bit QAT is more than 5 points below fp32.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_fashion import FASHION, MODEL, ROOT, ort_accuracy, read_idx  # noqa: E402


def scalec(binary: str, *args) -> dict:
    """Runs scalec quietly and returns its report (its log goes to stderr only on failure)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as rep:
        cmd = [binary, *map(str, args), "--report", rep.name]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"$ {' '.join(cmd)}\n{p.stderr}")
        return json.loads(Path(rep.name).read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalec", default=str(ROOT / "build" / "cli" / "scalec"), help="scalec binary")
    ap.add_argument("--model", choices=["lenet", "resnet"], default="lenet")
    ap.add_argument("--fp32-epochs", type=int, default=2)
    ap.add_argument("--train-samples", type=int, default=60000, help="QAT trains on the first N training images")
    ap.add_argument("--epochs", type=int, default=2, help="QAT epochs")
    ap.add_argument("--lr", type=float, default=0.01, help="QAT learning rate")
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 3, 2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--learn-scales", action="store_true", help="QAT with --learn-scales (LSQ)")
    ap.add_argument("--freeze-bn-after", type=int, help="QAT's --freeze-bn-after (default: scalec's, half the run)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--keep", help="keep the data and models in this folder")
    a = ap.parse_args()
    if not FASHION.is_dir():
        sys.exit(f"{FASHION} is missing: apt-get install dataset-fashion-mnist (scripts/install-deps does)")
    start = time.perf_counter()
    load0 = os.getloadavg()[0]
    x, y = read_idx("train")
    xt, yt = read_idx("t10k")
    threads = ["--threads", str(a.threads)]
    qat_recipe = ["--batch", 64, "--lr", a.lr, "--momentum", 0.9, "--schedule", "cosine", "--epochs", a.epochs, *threads]
    if a.learn_scales:
        qat_recipe.append("--learn-scales")
    if a.freeze_bn_after is not None:
        qat_recipe += ["--freeze-bn-after", a.freeze_bn_after]
    with tempfile.TemporaryDirectory(prefix="scalec-qat-") as tmp:
        t = Path(a.keep) if a.keep else Path(tmp)
        t.mkdir(parents=True, exist_ok=True)
        np.savez(t / "train.npz", input=x, labels=y)
        np.savez(t / "sub.npz", input=x[:a.train_samples], labels=y[:a.train_samples])
        np.savez(t / "calib.npz", input=x[:512], labels=y[:512])
        fp32, init = t / "fp32.onnx", MODEL
        if a.model == "resnet":
            init = t / "resnet_init.onnx"
            subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "make_fashion_resnet.py"), str(init)], check=True)
        scalec(a.scalec, "finetune", init, "--data", t / "train.npz", "--epochs", a.fp32_epochs, "--batch", 64, "--lr", 0.05,
               "--momentum", 0.9, "--schedule", "cosine", "--seed", 0, *threads, "-o", fp32)
        fp32_acc = ort_accuracy(fp32, xt, yt)
        more = t / "fp32_more.onnx"  # the control: the same extra training, in float
        scalec(a.scalec, "finetune", fp32, "--data", t / "sub.npz", *[x for x in qat_recipe if x != "--learn-scales"],
               "--seed", 0, "-o", more)
        more_acc = ort_accuracy(more, xt, yt)
        ptq, ptq_more, qat, qat_seconds = {}, {}, {}, {}
        for bits in a.bits:
            out = t / f"ptq{bits}.onnx"
            scalec(a.scalec, "quantize", fp32, "--format", "qdq", "--bits", bits, "--calib", t / "calib.npz", *threads, "-o", out)
            ptq[bits] = ort_accuracy(out, xt, yt)
            out = t / f"ptq_more{bits}.onnx"
            scalec(a.scalec, "quantize", more, "--format", "qdq", "--bits", bits, "--calib", t / "calib.npz", *threads, "-o", out)
            ptq_more[bits] = ort_accuracy(out, xt, yt)
            print(f"{bits} bits PTQ: {100 * ptq[bits]:.2f}%, after the same training {100 * ptq_more[bits]:.2f}%", file=sys.stderr)
            qat[bits], qat_seconds[bits] = [], 0.0
            for seed in a.seeds:
                out = t / f"qat{bits}_{seed}.onnx"
                r = scalec(a.scalec, "quantize", fp32, "--qat", "--data", t / "sub.npz", "--calib", t / "calib.npz",
                           "--bits", bits, *qat_recipe, "--seed", seed, "-o", out)
                qat_seconds[bits] += sum(e["seconds"] for e in r["qat"]["epochs"])
                qat[bits].append(ort_accuracy(out, xt, yt))
                print(f"{bits} bits QAT seed {seed}: {100 * qat[bits][-1]:.2f}%", file=sys.stderr)

    wall = time.perf_counter() - start
    ok = True
    name = "LeNet-5" if a.model == "lenet" else "ResNet-style CNN (bench/make_fashion_resnet.py, 19,802 parameters)"
    print(f"fp32: {name} trained {a.fp32_epochs} epochs on 60,000 images: {100 * fp32_acc:.2f}% "
          "(ONNX Runtime, 10,000 test images).")
    print(f"PTQ: `scalec quantize --format qdq --bits K --calib` (512 training images, mse ranges, bias correction).")
    print(f"QAT: `scalec quantize --qat --bits K` on the first {a.train_samples:,} training images, {a.epochs} epochs, "
          f"SGD lr {a.lr:g} momentum 0.9 cosine, batch 64{', --learn-scales' if a.learn_scales else ''}"
          f"{f', --freeze-bn-after {a.freeze_bn_after}' if a.freeze_bn_after is not None else ''}; "
          "calibration from the same 512 images.")
    print(f"Control: the fp32 model trained the same {a.epochs} more epochs in float: {100 * more_acc:.2f}%; "
          "its post-training quantization is the column 'PTQ, same training'.\n")
    print("| weights | PTQ | PTQ, same training | " + " | ".join(f"QAT seed {s}" for s in a.seeds)
          + " | QAT mean | QAT std | ahead of PTQ | rule | ahead of PTQ, same training | rule | QAT training |")
    print("|---|---:|---:|" + "---:|" * (len(a.seeds) + 7))
    for bits in a.bits:
        mean = 100 * float(np.mean(qat[bits]))
        std = 100 * float(np.std(qat[bits], ddof=1)) if len(qat[bits]) > 1 else 0.0
        margin = mean - 100 * ptq[bits]
        wins = margin > std  # PTQ's std is 0 (deterministic)
        ok = ok and wins
        margin_more = mean - 100 * ptq_more[bits]
        cells = " | ".join(f"{100 * v:.2f}%" for v in qat[bits])
        print(f"| int{bits} | {100 * ptq[bits]:.2f}% | {100 * ptq_more[bits]:.2f}% | {cells} | {mean:.2f}% | {std:.2f} | "
              f"{margin:+.2f} | {'win' if wins else 'MISS'} | {margin_more:+.2f} | {'win' if margin_more > std else 'MISS'} | "
              f"{qat_seconds[bits] / len(a.seeds):.0f} s |")
    if 2 in qat:
        gap = 100 * fp32_acc - 100 * float(np.mean(qat[2]))
        ok = ok and (gap <= 5 or a.model != "lenet")  # the issue's 5-point bound is LeNet-5's
        print(f"\n2-bit QAT mean is {gap:.2f} points below fp32 ({'within' if gap <= 5 else 'NOT within'} 5 points).")
    print(f"Wall time {wall:.0f} s, {a.threads} threads; 1-minute load average {load0:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end.")
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
