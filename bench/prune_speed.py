#!/usr/bin/env python3
"""ONNX Runtime speed of a channel-pruned model against the original (issue 7: at 50% of the
channels, at least 1.5x faster at batch 32).

Prunes MODEL with `scalec prune --method channel --sparsity R` when that works, else with
bench/scalec_prune_channels (the same library call, passes::prune_channels), then times both models in
ONNX Runtime (CPUExecutionProvider, intra-op threads = --threads, sequential, all graph
optimizations) on the same random batch, alternating the two for --rounds rounds and keeping each
model's best median, so load from other processes hits both alike.

Usage (from the repository root, with the venv that has onnxruntime):
    .venv/bin/python bench/prune_speed.py --build-dir build [--model bench/models/resnet18.onnx]
        [--ratio 0.5] [--batch 32] [--threads 2] [--seconds 5] [--rounds 3] [--out FILE.md]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_cpu import ort_session, random_feed, time_runs  # noqa: E402


def prune(build_dir, model, out, ratio):
    """Writes the pruned model to `out`; returns the command used and its stdout. Uses
    `scalec prune --method channel` when it works, else bench/scalec_prune_channels."""
    scalec = os.path.join(build_dir, "cli", "scalec")
    tool = os.path.join(build_dir, "bench", "scalec_prune_channels")
    cmds = []
    if os.access(scalec, os.X_OK):
        cmds.append([scalec, "prune", model, "--method", "channel", "--sparsity", str(ratio), "-o", out])
    cmds.append([tool, model, out, str(ratio)])
    errors = []
    for cmd in cmds:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode == 0:
            return cmd, res.stdout
        errors.append(f"{' '.join(cmd)} (exit {res.returncode}):\n{res.stderr.strip()}")
    sys.exit("prune failed:\n" + "\n".join(errors))


def params_and_macs(path):
    """Float initializer elements, and Conv/Gemm/MatMul MACs per sample from inferred shapes."""
    m = onnx.load(path)
    inits = {t.name: t for t in m.graph.initializer}
    params = sum(int(np.prod(t.dims)) for t in m.graph.initializer
                 if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16))
    for inp in m.graph.input:  # batch 1
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    m = onnx.shape_inference.infer_shapes(m)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.output)}
    macs = 0
    for n in m.graph.node:
        out = shapes.get(n.output[0])
        if out is None:
            continue
        if n.op_type == "Conv" and n.input[1] in inits:
            macs += int(np.prod(out)) * int(np.prod(inits[n.input[1]].dims[1:]))
        elif n.op_type in ("Gemm", "MatMul") and n.input[1] in inits:
            w = inits[n.input[1]].dims
            trans_b = any(a.name == "transB" and a.i for a in n.attribute)
            macs += int(np.prod(out)) * int(w[1] if trans_b else w[0])
    return params, macs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--model", default="bench/models/resnet18.onnx")
    ap.add_argument("--ratio", type=float, default=0.5, help="fraction of channels removed per group")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0, help="timing budget per model per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", help="also save the pruned model here")
    ap.add_argument("--out", help="write the result table (markdown) here too")
    args = ap.parse_args()
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        pruned = args.keep or os.path.join(tmp, "pruned.onnx")
        cmd, log = prune(args.build_dir, args.model, pruned, args.ratio)
        sessions = {"original": ort_session(args.model, args.threads), "pruned": ort_session(pruned, args.threads)}
        feed = random_feed(sessions["original"], args.batch)
        outs = {k: s.run(None, feed)[0] for k, s in sessions.items()}
        assert outs["pruned"].shape == outs["original"].shape and np.isfinite(outs["pruned"]).all()
        best = {k: float("inf") for k in sessions}
        for _ in range(args.rounds):
            for k, s in sessions.items():
                best[k] = min(best[k], time_runs(lambda s=s: s.run(None, feed), args.seconds))
        stats = {"original": params_and_macs(args.model), "pruned": params_and_macs(pruned)}

    speedup = best["original"] / best["pruned"]
    lines = [f"# Channel pruning speed in ONNX Runtime {ort.__version__} (CPU, {args.threads} threads, batch {args.batch})",
             "",
             f"model `{args.model}`, {args.ratio:.0%} of the channels of each prunable group removed by `{' '.join(os.path.basename(c) if i == 0 else ('OUT.onnx' if c == pruned else c) for i, c in enumerate(cmd))}`",
             "",
             "| model | parameters | MACs/image | ms/batch (median, best of rounds) | images/s |",
             "|---|---:|---:|---:|---:|"]
    for k in sessions:
        p, macs = stats[k]
        lines.append(f"| {k} | {p / 1e6:.2f}M | {macs / 1e9:.3f}G | {best[k] * 1e3:.1f} | {args.batch / best[k]:.1f} |")
    lines += ["",
              f"speedup {speedup:.2f}x (target >= 1.5x: {'met' if speedup >= 1.5 else 'MISSED'}); "
              f"parameters {stats['pruned'][0] / stats['original'][0]:.1%}, MACs {stats['pruned'][1] / stats['original'][1]:.1%} of the original",
              "", "pruner: " + log.strip().splitlines()[0] if log.strip() else ""]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
