#!/usr/bin/env python3
"""CPU speed of scalec's Executor against ONNX Runtime on the benchmark models, as a markdown table.

Run with the project venv (onnxruntime, numpy): .venv/bin/python bench/run_cpu.py [options]
Needs BUILD/bench/scalec_bench and BUILD/cli/scalec (MACs come from `scalec inspect --json`, which
counts them from the shapes the models record) and the models from bench/make_models.py.

Both runtimes get the same thread count, the same input shape and the same time budget per row,
split into alternating rounds (ORT, scalec, ORT, ...). samples/s is batch / median time per batch
of the best round in both, so load from other processes moves it less than a mean would; the
spread column says how much the rounds differed. GFLOP/s = 2 * MACs/sample * samples/s.
"""
import argparse
import collections
import datetime
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["resnet18", "mobilenetv2", "transformer", "lstm", "gru"]

# Op types grouped so scalec's unfused graph and ORT's fused one compare (ORT at ORT_ENABLE_ALL
# runs e.g. Conv+Relu as FusedConv, MatMul+Add as Gemm/FusedMatMul, Erf-GELU as Gelu/BiasGelu).
CATEGORIES = {
    "conv": {"Conv", "FusedConv", "NchwcConv"},
    "matmul/gemm": {"MatMul", "Gemm", "FusedMatMul", "FusedGemm", "MatMulBnFusion"},
    "norm": {"LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization", "BatchNormalization"},
    "softmax": {"Softmax"},
    "pool": {"MaxPool", "AveragePool", "GlobalAveragePool", "NchwcMaxPool", "NchwcGlobalAveragePool"},
    "elementwise": {"Relu", "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Gelu", "BiasGelu",
                    "FastGelu", "Sum"},
    "layout/shape": {"Reshape", "Transpose", "Shape", "Gather", "Concat", "Split", "Squeeze", "Unsqueeze",
                     "Cast", "Identity", "Flatten", "Constant", "ReorderInput", "ReorderOutput"},
}


def category(op_type):
    for name, ops in CATEGORIES.items():
        if op_type in ops:
            return name
    return "other"


def scalec_macs(scalec, model_path):
    """MACs per sample as `scalec inspect --json` counts them from recorded shapes."""
    out = subprocess.run([scalec, "inspect", "--json", model_path], check=True, capture_output=True, text=True)
    j = json.loads(out.stdout)
    if j.get("macs_per_sample") is None or j.get("mac_nodes_without_shapes", 0):
        sys.exit(f"run_cpu: {model_path} lacks recorded shapes for MACs; re-run bench/make_models.py")
    return j["macs_per_sample"]


def scalec_bench(bench, *args):
    out = subprocess.run([bench, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ort_session(path, threads, profile=False):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join("/tmp", f"ort_profile_{os.getpid()}")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def random_feed(sess, batch):
    import numpy as np
    inp = sess.get_inputs()[0]
    shape = [batch if not isinstance(d, int) else d for d in inp.shape]
    return {inp.name: np.random.default_rng(12345).standard_normal(shape, dtype=np.float32)}


def time_runs(fn, seconds):
    """Warm-up (at least once, up to a tenth of the budget), then runs for `seconds` (at least 3)."""
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < 0.1 * seconds:
        fn()
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] if len(times) % 2 else 0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])


def ort_profile(path, batch, threads, runs):
    """ORT kernel ms per batch by op type, from its own profiler (runs after one warm-up)."""
    sess = ort_session(path, threads, profile=True)
    feed = random_feed(sess, batch)
    sess.run(None, feed)
    for _ in range(runs):
        sess.run(None, feed)
    prof_file = sess.end_profiling()
    with open(prof_file) as f:
        events = json.load(f)
    os.remove(prof_file)
    # Skip the warm-up run's events: keep the last `runs` model_run events' time windows.
    model_runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])[-runs:]
    t_start = model_runs[0]["ts"] if model_runs else 0
    per_op = collections.defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= t_start:
            per_op[e["args"]["op_name"]] += e["dur"] / 1e3 / runs
    return dict(per_op)


def sgemm_row(bench, threads):
    import numpy as np
    s = scalec_bench(bench, "sgemm", "--threads", threads)
    rng = np.random.default_rng(1)
    numpy_gflops = {}
    for n in (1024, 2048):
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(10 if n == 1024 else 5))
        numpy_gflops[n] = 2 * n ** 3 / best / 1e9
    return (f"sgemm fp32 GFLOP/s ({threads} threads, best of 5-10): scalec gemm {s['gflops_1024']:.0f} (1024) / "
            f"{s['gflops_2048']:.0f} (2048); numpy matmul {numpy_gflops[1024]:.0f} (1024) / "
            f"{numpy_gflops[2048]:.0f} (2048)")


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def profile_table(scalec_prof, ort_prof):
    """Markdown: time per op category, scalec vs ORT, then scalec's own op types."""
    cat_s, cat_o = collections.defaultdict(float), collections.defaultdict(float)
    for op, ms in scalec_prof.items():
        cat_s[category(op) if not op.startswith("(") else "executor"] += ms
    for op, ms in ort_prof.items():
        cat_o[category(op)] += ms
    total_s, total_o = sum(cat_s.values()), sum(cat_o.values())
    lines = ["| op category | scalec ms | % of scalec | ORT ms | scalec/ORT |", "|---|---:|---:|---:|---:|"]
    for c in sorted(set(cat_s) | set(cat_o), key=lambda c: -cat_s.get(c, 0)):
        s, o = cat_s.get(c, 0.0), cat_o.get(c, 0.0)
        lines.append(f"| {c} | {s:.2f} | {100 * s / total_s:.0f}% | {o:.2f} | {s / o:.1f}x |" if o > 0 else
                     f"| {c} | {s:.2f} | {100 * s / total_s:.0f}% | - | - |")
    lines.append(f"| total | {total_s:.2f} | 100% | {total_o:.2f} | {total_s / total_o:.1f}x |")
    ops_s = ", ".join(f"{op} {ms:.2f}" for op, ms in sorted(scalec_prof.items(), key=lambda kv: -kv[1]) if ms >= 0.005)
    ops_o = ", ".join(f"{op} {ms:.2f}" for op, ms in sorted(ort_prof.items(), key=lambda kv: -kv[1]) if ms >= 0.005)
    return "\n".join(lines) + f"\n\nscalec op types (ms): {ops_s}\n\nORT op types (ms, kernel time): {ops_o}\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "bench", "models"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--seconds", type=float, default=5.0, help="timed budget per row and runtime")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per row; the best one counts")
    ap.add_argument("--profile", action="store_true", help="also time op categories (scalec taps, ORT profiler)")
    ap.add_argument("--out", help="also write the markdown to this file")
    args = ap.parse_args()
    # numpy's BLAS reads its thread count at import: give it the same threads as the runtimes.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import onnxruntime as ort

    bench = os.path.join(args.build_dir, "bench", "scalec_bench")
    scalec = os.path.join(args.build_dir, "cli", "scalec")
    for exe in (bench, scalec):
        if not os.access(exe, os.X_OK):
            sys.exit(f"run_cpu: {exe} not found; build first (scripts/bench-cpu does)")

    load0 = os.getloadavg()[0]
    out = [f"# scalec vs ONNX Runtime {ort.__version__}, CPU, {args.threads} threads",
           "", f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {_cpu_name()}, "
           f"{args.seconds:g} s per row and runtime in {args.rounds} alternating rounds; samples/s = batch / median batch "
           f"time of the best round; spread = how far the worst round fell below the best", ""]
    out.append(sgemm_row(bench, args.threads))
    out += ["", "| model | batch | GMAC/sample | ORT samples/s | scalec samples/s | ratio scalec/ORT | "
            "ORT GFLOP/s | scalec GFLOP/s | spread ORT / scalec |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(out), flush=True)
    profiles = []
    for name in args.models.split(","):
        path = os.path.join(args.models_dir, f"{name}.onnx")
        macs = scalec_macs(scalec, path)
        for batch in map(int, args.batches.split(",")):
            sess = ort_session(path, args.threads)
            feed = random_feed(sess, batch)
            ort_sps, sc_sps, best_scalec = [], [], None
            # Alternate the runtimes in rounds and keep each one's best round: a burst of load
            # from another process then hits both alike, and the least disturbed round counts.
            for _ in range(args.rounds):
                ort_sps.append(batch / time_runs(lambda: sess.run(None, feed), args.seconds / args.rounds))
                s = scalec_bench(bench, "model", path, "--batch", batch, "--threads", args.threads,
                                 "--seconds", args.seconds / args.rounds, *(["--profile"] if args.profile else []))
                sc_sps.append(s["samples_per_s"])
                if s["samples_per_s"] >= max(sc_sps):
                    best_scalec = s
            del sess
            o, c = max(ort_sps), max(sc_sps)
            row = (f"| {name} | {batch} | {macs / 1e9:.3f} | {o:.1f} | {c:.1f} | {c / o:.2f} | "
                   f"{2 * macs * o / 1e9:.0f} | {2 * macs * c / 1e9:.0f} | "
                   f"{100 * (1 - min(ort_sps) / o):.0f}% / {100 * (1 - min(sc_sps) / c):.0f}% |")
            print(row, flush=True)
            out.append(row)
            if args.profile:
                runs = max(3, min(50, int(args.seconds * o / batch)))
                profiles.append((name, batch, profile_table(best_scalec["profile_ms_per_batch"],
                                                            ort_profile(path, batch, args.threads, runs))))
    load1 = os.getloadavg()[0]
    tail = [f"\n1-minute load average: {load0:.2f} at start, {load1:.2f} at end "
            f"(above {args.threads} means other processes shared the CPUs and the numbers are noisy)."]
    if profiles:
        tail += ["\nIn the profiles below, a fused scalec step counts under the last node of its chain (as ORT's "
                 "fused kernels count under one op): Conv+Relu/Clip under Relu/Clip, MatMul+bias under Add, the "
                 "GELU chain under Mul."]
    for name, batch, table in profiles:
        tail += [f"\n## {name}, batch {batch}: ms per batch by op category\n", table]
    print("\n".join(tail), flush=True)
    out += tail
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write("\n".join(out) + "\n")


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


if __name__ == "__main__":
    main()
