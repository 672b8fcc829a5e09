#!/usr/bin/env python3
"""Why `scalec prune --method channel` rounds kept channel counts (`--round-to auto`, the default):
every zoo model pruned at --sparsity S (0.5) with each rounding, MACs removed (scalec's report) and the
ONNX Runtime latency of each pruned model over the original (batch 8 of the held-back inputs, 2
threads, the models taking turns; median of the per-round ratios).

    .venv/bin/python bench/prune_round_to.py --scalec build/cli/scalec --zoo-dir build/zoo64 [--sparsity S] [--rounds N] [--out FILE]

The zoo comes from `scripts/bench-zoo` (or test_models/zoo/generate_zoo.py)."""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test_models" / "zoo"))
import zoo_lib  # noqa: E402

ROUNDINGS = ["1", "auto", "8"]


def latencies(paths: list[str], feeds: dict, rounds: int) -> list[float]:
    """Median over `rounds` of each model's time / the first model's time, the models taking turns."""
    sessions = [zoo_lib.ort_session(p) for p in paths]
    t = time.perf_counter()
    for s in sessions:
        s.run(None, feeds)
    reps = max(1, int(0.05 * len(sessions) / max(time.perf_counter() - t, 1e-6)))

    def timed(sess):
        t0 = time.perf_counter()
        for _ in range(reps):
            sess.run(None, feeds)
        return time.perf_counter() - t0

    ratios = [[] for _ in paths]
    for _ in range(rounds):
        times = [timed(s) for s in sessions]
        for i, x in enumerate(times):
            ratios[i].append(x / times[0])
    return [statistics.median(r) for r in ratios]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scalec", required=True)
    ap.add_argument("--zoo-dir", required=True)
    ap.add_argument("--models", default="all")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--sparsity", default="0.5")
    ap.add_argument("--out")
    a = ap.parse_args()
    index = json.loads((Path(a.zoo_dir) / "zoo.json").read_text())["models"]
    names = [n for n in index if index[n]["original"] == n] if a.models == "all" else a.models.split(",")
    lines = ["| model | " + " | ".join(f"MACs removed, --round-to {r}" for r in ROUNDINGS) + " | " +
             " | ".join(f"ORT latency / original, --round-to {r}" for r in ROUNDINGS) + " |",
             "|---|" + "---:|" * (2 * len(ROUNDINGS))]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            e = index[name]
            src = str(Path(a.zoo_dir) / e["file"])
            feeds = zoo_lib.inputs_of(e, Path(a.zoo_dir) / e["test"])
            paths, macs = [src], []
            for r in ROUNDINGS:
                out, rep = Path(tmp) / f"{name}.{r}.onnx", Path(tmp) / f"{name}.{r}.json"
                subprocess.run([a.scalec, "prune", src, "--method", "channel", "--sparsity", a.sparsity, "--round-to", r,
                                "-o", out, "--report", rep], check=True, capture_output=True)
                j = json.loads(rep.read_text())
                macs.append(1 - j["after"]["macs_per_sample"] / j["before"]["macs_per_sample"])
                paths.append(str(out))
            lat = latencies(paths, feeds, a.rounds)[1:]
            lines.append(f"| {name} | " + " | ".join(f"{100 * m:.0f}%" for m in macs) + " | " +
                         " | ".join(f"x{x:.2f}" for x in lat) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    if a.out:
        Path(a.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
