#!/usr/bin/env python3
"""Peak memory of streaming calibration on ResNet-18 with 100 and with 2,000 samples (issue 6, item 2).

Run with the project venv (numpy): .venv/bin/python bench/calib_memory.py [options]
Needs BUILD/bench/calib_bench (BUILD: --build, $SCALEC_BENCH_BUILD or build) and
bench/models/resnet18.onnx (made by `/usr/bin/python3 bench/make_models.py` when missing).

The calibration data (2,000 seeded N(0, 1) samples of float32 [3, 224, 224], 1.2 GB, np.savez
layout) is written once to --data-dir (default /tmp/scalec_calib; not in the repository), one
batch of samples at a time, so this script itself stays small. calib_bench then calibrates every
node output of the model (entropy by default) on the first N rows, streamed with NpzRowReader,
and reports its peak RSS (ru_maxrss), the largest resident size seen between batches (after a
batch's tensors are freed: a creep with the samples would show here), the observers' bytes and
the Executor's peak activation bytes. With --contrast it also runs `--load whole` (read_npz first) at the largest N, the way
that grows with the samples. The table goes to stdout and to bench/results/calib_memory.md.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (3, 224, 224)
SEED = 20240601


def write_calibration_npz(path, samples, chunk=50):
    """np.savez's layout (a stored zip64 member 'input.npy'), written `chunk` samples at a time."""
    tmp = path + ".tmp"
    rng = np.random.default_rng(SEED)
    header = {"descr": "<f4", "fortran_order": False, "shape": (samples,) + SHAPE}
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("input.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            for b in range(0, samples, chunk):
                n = min(chunk, samples - b)
                f.write(rng.standard_normal((n,) + SHAPE, dtype=np.float32).tobytes())
    os.replace(tmp, path)


def run_bench(binary, model, data, samples, method, batch, threads, load):
    cmd = [binary, model, data, "--samples", str(samples), "--method", method, "--batch", str(batch),
           "--load", load, "--trace-rss"]
    if threads:
        cmd += ["--threads", str(threads)]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    trace = r.pop("rss_mib_before_each_batch")
    r["between_batches_mib"] = max(trace[1:] or trace)  # resident after each batch was freed
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("SCALEC_BENCH_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--data-dir", default="/tmp/scalec_calib")
    ap.add_argument("--samples", type=int, nargs="+", default=[100, 2000])
    ap.add_argument("--method", default="entropy")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--contrast", action="store_true", help="also run --load whole at the largest N")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/calib_memory.md")
    args = ap.parse_args()

    binary = os.path.join(args.build, "bench", "calib_bench")
    if not os.path.exists(binary):
        sys.exit(f"calib_memory.py: {binary} is missing; build it: ninja -C {args.build} calib_bench")
    model = os.path.join(ROOT, "bench", "models", "resnet18.onnx")
    if not os.path.exists(model):
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "make_models.py")], check=True)
    os.makedirs(args.data_dir, exist_ok=True)
    n_max = max(args.samples)
    data = os.path.join(args.data_dir, f"resnet18_calib_{n_max}.npz")
    if not os.path.exists(data):
        print(f"writing {data} ({n_max} samples, {n_max * np.prod(SHAPE) * 4 / 1e9:.2f} GB)", file=sys.stderr)
        write_calibration_npz(data, n_max)

    rows = [run_bench(binary, model, data, n, args.method, args.batch, args.threads, "rows") for n in args.samples]
    if args.contrast:
        rows.append(run_bench(binary, model, data, n_max, args.method, args.batch, args.threads, "whole"))

    lines = [f"# Streaming calibration memory: ResNet-18 (bench/models/resnet18.onnx), {args.method}, batch {args.batch}",
             "",
             f"{datetime.date.today().isoformat()}, `.venv/bin/python bench/calib_memory.py"
             f"{' --contrast' if args.contrast else ''}`; every node output and the input observed.",
             "",
             "| samples | data read | peak RSS (MiB) | RSS between batches (MiB, max) | observer state (KiB) "
             "| peak activations (MiB) | wall (s) |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['samples']} | {'NpzRowReader rows' if r['load'] == 'rows' else 'read_npz whole'} | "
                     f"{r['peak_rss_mib']:.0f} | {r['between_batches_mib']:.0f} | {r['observer_bytes'] / 1024:.0f} | "
                     f"{r['peak_activation_bytes'] / 2**20:.0f} | {r['seconds']:.0f} |")
    streamed = [r for r in rows if r["load"] == "rows"]
    if len(streamed) >= 2:
        lo, hi = streamed[0], streamed[-1]
        lines += ["", f"Peak RSS {hi['samples']} vs {lo['samples']} samples: {hi['peak_rss_mib']:.0f} vs "
                      f"{lo['peak_rss_mib']:.0f} MiB ({hi['peak_rss_mib'] / lo['peak_rss_mib']:.3f}x); observer "
                      f"state {hi['observer_bytes']} vs {lo['observer_bytes']} bytes."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_save:
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "calib_memory.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
