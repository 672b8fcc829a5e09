#!/usr/bin/env python3
"""Proof of `scalec distill` (issue 19 item 5): on Fashion-MNIST, a student 4x+ smaller than its teacher
(parameters and MACs) trained on the teacher's soft targets beats the same student trained on labels
alone, from the same initialization for the same epochs, over 3 seeds.

Run with the project's virtual environment (numpy, onnxruntime):

    .venv/bin/python bench/distill_proof.py [--scalec build/cli/scalec] [--train-samples 10000] [--epochs 10]
    .venv/bin/python bench/distill_proof.py --model resnet --epochs 3 --lr 0.01 --warmup-steps 0 \
        --sparsity 0.5 --hint /block2/Relu_1_output_0   # recovery of a channel-pruned ResNet-style CNN

Steps: the teacher is tests/reference/lenet_fashion_init.onnx (LeNet-5, seeded init) trained by
`scalec finetune` on all 60,000 training images; the student is the same seeded init with 3/4 of its
channels removed by `scalec prune --method channel --sparsity 0.75` (so both arms start from one
file); per seed, `scalec distill` and `scalec finetune` train it on the first --train-samples training
images (a subsample keeps the run short) with the same recipe. Accuracy is ONNX Runtime's on the
10,000 test images; the test set is never used for choosing anything. Then times --cache-teacher:
one distill run that stores the teacher's logits and one that reuses them (mean epoch seconds).
--model resnet: the teacher is bench/make_fashion_resnet.py's CNN (BatchNorm, residual Adds) trained
the same way, and the student is the *trained* teacher channel-pruned (recovery: both arms start from
the pruned trained weights). --hint VALUE adds a third arm, distill with a feature hint on VALUE
(teacher and student alike; a learned projection where the widths differ).
Prints markdown; exits 3 when the distilled mean is not ahead by more than the larger standard
deviation (sample std, ddof 1).
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


def scalec(binary: str, *args) -> None:
    """Runs scalec quietly (its log goes to stderr only on failure)."""
    cmd = [binary, *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"$ {' '.join(cmd)}\n{p.stderr}")


def inspect(binary: str, model: Path) -> dict:
    """Parameters and MACs per sample, as `scalec inspect --json` counts them."""
    r = json.loads(subprocess.run([binary, "inspect", str(model), "--json"], capture_output=True, text=True, check=True).stdout)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalec", default=str(ROOT / "build" / "cli" / "scalec"), help="scalec binary")
    ap.add_argument("--teacher-epochs", type=int, default=4)
    ap.add_argument("--train-samples", type=int, default=10000, help="students train on the first N training images")
    ap.add_argument("--epochs", type=int, default=10, help="student epochs (both arms)")
    ap.add_argument("--lr", type=float, default=0.02, help="student learning rate (both arms)")
    ap.add_argument("--warmup-steps", type=int, default=300, help="student warm-up steps (both arms)")
    ap.add_argument("--sparsity", type=float, default=0.75, help="channel sparsity of the student")
    ap.add_argument("--model", choices=["lenet", "resnet"], default="lenet")
    ap.add_argument("--hint", nargs="*", default=[], help="values for a third arm: distill with these feature hints")
    ap.add_argument("--hint-weight", type=float, default=1.0)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--distill-weight", type=float, default=0.5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--keep", help="keep the teacher, student and trained models in this folder")
    a = ap.parse_args()
    if not FASHION.is_dir():
        sys.exit(f"{FASHION} is missing: apt-get install dataset-fashion-mnist (scripts/install-deps does)")
    start = time.perf_counter()
    load0 = os.getloadavg()[0]
    x, y = read_idx("train")
    xt, yt = read_idx("t10k")
    recipe = ["--batch", "64", "--momentum", "0.9", "--schedule", "cosine", "--threads", str(a.threads)]
    student_recipe = [*recipe, "--lr", a.lr, "--warmup-steps", a.warmup_steps]
    with tempfile.TemporaryDirectory(prefix="scalec-distill-") as tmp:
        t = Path(a.keep) if a.keep else Path(tmp)
        t.mkdir(parents=True, exist_ok=True)
        np.savez(t / "train.npz", input=x, labels=y)
        np.savez(t / "sub.npz", input=x[:a.train_samples], labels=y[:a.train_samples])
        teacher, student = t / "teacher.onnx", t / "student.onnx"
        init = MODEL
        if a.model == "resnet":
            init = t / "resnet_init.onnx"
            subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "make_fashion_resnet.py"), str(init)], check=True)
        scalec(a.scalec, "finetune", init, "--data", t / "train.npz", "--epochs", a.teacher_epochs, *recipe, "--lr", 0.05,
               "--seed", 0, "-o", teacher)
        # LeNet: the student is the seeded init made narrower; ResNet: the trained teacher pruned (recovery)
        scalec(a.scalec, "prune", init if a.model == "lenet" else teacher, "--method", "channel", "--sparsity", a.sparsity,
               "-o", student)
        ti, si = inspect(a.scalec, teacher), inspect(a.scalec, student)
        arms = ["distill", "finetune"] + (["hints"] if a.hint else [])
        acc = {arm: [] for arm in arms}
        seconds = {arm: 0.0 for arm in arms}
        for seed in a.seeds:
            for arm in acc:
                out = t / f"{arm}_{seed}.onnx"
                extra = (["--teacher", teacher, "--student", student, "--temperature", a.temperature,
                          "--distill-weight", a.distill_weight] if arm != "finetune" else [student])
                if arm == "hints":
                    extra += ["--hint", ",".join(f"{v}={v}" for v in a.hint), "--hint-weight", a.hint_weight]
                s0 = time.perf_counter()
                scalec(a.scalec, "distill" if arm == "hints" else arm, *extra, "--data", t / "sub.npz", "--epochs", a.epochs,
                       *student_recipe, "--seed", seed, "-o", out)
                seconds[arm] += time.perf_counter() - s0
                acc[arm].append(ort_accuracy(out, xt, yt))
                print(f"seed {seed} {arm}: {100 * acc[arm][-1]:.2f}%", file=sys.stderr)
        cache_s = {}
        for what in ["live", "store", "reuse"]:  # epoch time without a cache, making one, reading one
            cache = [] if what == "live" else ["--cache-teacher", t / "cache"]
            scalec(a.scalec, "distill", "--teacher", teacher, "--student", student, "--data", t / "sub.npz", "--epochs", 2,
                   *student_recipe, *cache, "-o", t / "cached.onnx", "--report", t / "cached.json")
            cache_s[what] = float(np.mean([e["seconds"] for e in json.loads((t / "cached.json").read_text())["epochs"]]))
        teacher_acc = ort_accuracy(teacher, xt, yt)
        student0_acc = ort_accuracy(student, xt, yt)

    wall = time.perf_counter() - start
    mean = {k: 100 * float(np.mean(v)) for k, v in acc.items()}
    std = {k: 100 * float(np.std(v, ddof=1)) for k, v in acc.items()}
    margin = mean["distill"] - mean["finetune"]
    wins = margin > max(std["distill"], std["finetune"])
    name = "LeNet-5" if a.model == "lenet" else "ResNet-style CNN (bench/make_fashion_resnet.py)"
    origin = "the same seeded init" if a.model == "lenet" else "the trained teacher (recovery)"
    print(f"Teacher: {name}, {ti['parameters']:,} parameters, {ti['macs_per_sample']:,} MACs/sample, trained {a.teacher_epochs} epochs"
          f" on 60,000 images: {100 * teacher_acc:.2f}% (ONNX Runtime, 10,000 test images).")
    print(f"Student: channel sparsity {a.sparsity:g} of {origin}, {si['parameters']:,} parameters"
          f" ({ti['parameters'] / si['parameters']:.1f}x fewer), {si['macs_per_sample']:,} MACs/sample"
          f" ({ti['macs_per_sample'] / si['macs_per_sample']:.1f}x fewer); untrained {100 * student0_acc:.2f}%.")
    print(f"Students: {a.epochs} epochs on the first {a.train_samples:,} training images, SGD lr {a.lr:g} momentum 0.9"
          f" cosine, {a.warmup_steps} warm-up steps, batch 64; distill T = {a.temperature:g}, A = {a.distill_weight:g}.\n")
    print("| arm | " + " | ".join(f"seed {s}" for s in a.seeds) + " | mean | std | training time |")
    print("|---|" + "---:|" * (len(a.seeds) + 3))
    labels = [("distill", "`scalec distill` (teacher + labels)"), ("finetune", "`scalec finetune` (labels only)")]
    if a.hint:
        labels.append(("hints", f"`scalec distill --hint` ({', '.join(a.hint)}, weight {a.hint_weight:g})"))
    for arm, label in labels:
        cells = " | ".join(f"{100 * v:.2f}%" for v in acc[arm])
        print(f"| {label} | {cells} | {mean[arm]:.2f}% | {std[arm]:.2f} | {seconds[arm]:.0f} s |")
    if a.hint:
        print(f"\nWith hints: {mean['hints'] - mean['finetune']:+.2f} points over labels only, "
              f"{mean['hints'] - mean['distill']:+.2f} over distillation without hints.")
    print(f"\nDistilled mean ahead by {margin:+.2f} points; larger std {max(std['distill'], std['finetune']):.2f}: "
          f"{'distillation wins by the rule' if wins else 'NOT a win by the rule'}.")
    print(f"--cache-teacher, mean epoch seconds of a 2-epoch distill run: {cache_s['live']:.2f} s live teacher, "
          f"{cache_s['store']:.2f} s storing the cache (the teacher pass counted before epoch 1), {cache_s['reuse']:.2f} s reusing it"
          f" ({cache_s['live'] / cache_s['reuse']:.2f}x).")
    print(f"Wall time {wall:.0f} s, {a.threads} threads; 1-minute load average {load0:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end.")
    return 0 if wins else 3


if __name__ == "__main__":
    sys.exit(main())
