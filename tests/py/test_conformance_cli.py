"""ONNX backend node tests through the command line: `scalec infer MODEL --data IN.npz --batch 0 -o OUT.npz`.

Every test that tests/conformance/manifest.txt (the in-process runner) marks `pass` must pass through
the CLI as well (its inputs written to an .npz from the input_*.pb files, its outputs compared with
output_*.pb at the runner's tolerance: |got - ref| <= 1e-7 + 1e-3 |ref|), or be listed in
tests/conformance/cli_manifest.txt with the reason it cannot. The manifest is checked exactly: a listed
test that passes fails too, so the list cannot go stale. Rewrite it (keeping written reasons) with
    SCALEC_BIN=build/cli/scalec SCALEC_TESTDATA_DIR=/usr/share/libonnx-testdata/data \\
        .venv/bin/python tests/py/test_conformance_cli.py --update
"""
from __future__ import annotations

import concurrent.futures as cf
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO_ROOT, get_testdata_dir, run_scalec_raw  # noqa: E402

MANIFEST = REPO_ROOT / "tests" / "conformance" / "manifest.txt"
CLI_MANIFEST = REPO_ROOT / "tests" / "conformance" / "cli_manifest.txt"
WHEEL_NODE_TESTS = Path(onnx.__file__).resolve().parent / "backend" / "test" / "data" / "node"
RTOL, ATOL = 1e-3, 1e-7          # conformance_runner.cpp's kRtol, kAtol (ONNX backend defaults)
MAX_INPUT_BYTES = 16 << 20       # larger tests are skipped (none is today: the largest holds 0.75 MB)
WORKERS = 2                      # CI machines have 2 cores; each scalec runs with --threads 1


def read_manifest(path: Path) -> dict[str, str]:
    """'<test> <rest of line>' lines, '#' comments skipped."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, rest = line.partition(" ")
            out[name] = rest.strip()
    return out


def node_test_dir(key: str) -> Path:
    group, name = key.split("/", 1)
    return (get_testdata_dir() / "node" if group == "debian" else WHEEL_NODE_TESTS) / name


class NotInNpz(ValueError):
    """A tensor type an .npz file cannot carry."""


def read_pb(path: Path) -> np.ndarray:
    t = onnx.TensorProto()
    t.ParseFromString(path.read_bytes())
    kind = "input" if path.name.startswith("input") else "output"
    type_name = onnx.TensorProto.DataType.Name(t.data_type).lower()
    if t.data_type == onnx.TensorProto.STRING:
        raise NotInNpz(f"its {kind} is string: scalec's .npz files hold numbers only")
    if t.data_type == onnx.TensorProto.BFLOAT16 or t.data_type >= onnx.TensorProto.FLOAT8E4M3FN:
        raise NotInNpz(f"its {kind} is {type_name}: NumPy, so .npz, has no such dtype")
    return numpy_helper.to_array(t)


def run_one(key: str, workdir: Path) -> str:
    """'' when scalec infer reproduces the test's outputs, else what went wrong."""
    d = node_test_dir(key)
    model = onnx.load(str(d / "model.onnx"), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    feeds = [i for i in model.graph.input if i.name not in inits]
    for v in list(feeds) + list(model.graph.output):
        kind = v.type.WhichOneof("value")
        if kind != "tensor_type":
            return f"its {'input' if v in feeds else 'output'} '{v.name}' is a {kind.replace('_type', '')}: .npz holds tensors only"
    sets = d / "test_data_set_0"
    inputs = sorted(sets.glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    if sum(p.stat().st_size for p in inputs) > MAX_INPUT_BYTES:
        return "skip: inputs too large for CI"
    arrays = {}
    try:
        for i, p in enumerate(inputs[: len(feeds)]):
            arrays[feeds[i].name] = read_pb(p)
        expected = {}
        for i, out in enumerate(model.graph.output):
            p = sets / f"output_{i}.pb"
            if p.exists():
                expected[out.name] = read_pb(p)
    except NotInNpz as e:
        return str(e)
    data, out = workdir / "in.npz", workdir / "out.npz"
    with open(data, "wb") as f:  # np.savez would append .npz to a name without it; keys stay as given
        np.savez(f, **arrays)
    rc, _, err = run_scalec_raw(["infer", d / "model.onnx", "--data", data, "--batch", "0", "--threads", "1",
                                 "-o", out], timeout=120)
    if rc != 0:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        return f"exit {rc}: {lines[-1] if lines else ''}"
    with np.load(out) as z:
        got = {k: z[k] for k in z.files}
    for name, ref in expected.items():
        if name not in got:
            return f"output '{name}' missing"
        g = got[name]
        if g.dtype != ref.dtype or g.shape != ref.shape:
            return f"output '{name}' is {g.dtype}{list(g.shape)}, expected {ref.dtype}{list(ref.shape)}"
        if g.dtype.kind in "fc":
            same = np.isclose(g, ref, rtol=RTOL, atol=ATOL, equal_nan=True) | (np.isinf(ref) & (g == ref))
        else:
            same = g == ref
        if not np.all(same):
            i = int(np.argmin(same.reshape(-1)))
            return f"output '{name}' element {i}: got {g.reshape(-1)[i]} expected {ref.reshape(-1)[i]}"
    return ""


def run_all(keys: list[str]) -> dict[str, str]:
    def job(key):
        with tempfile.TemporaryDirectory(prefix="scalec-conf-") as tmp:
            try:
                return key, run_one(key, Path(tmp))
            except Exception as e:  # a broken test folder is a failure, not a crash of the whole run
                return key, f"{type(e).__name__}: {e}"
    with cf.ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(job, keys))


def passing_in_process() -> list[str]:
    return sorted(k for k, v in read_manifest(MANIFEST).items() if v.split(" ", 1)[0] == "pass")


def test_node_tests_pass_through_scalec_infer():
    keys = passing_in_process()
    assert len(keys) > 1000, f"{MANIFEST} lists only {len(keys)} passing tests"
    listed = read_manifest(CLI_MANIFEST)
    start = time.monotonic()
    results = run_all(keys)
    problems = []
    for key in keys:
        why, reason = results[key], listed.get(key)
        if why.startswith("skip:"):
            continue
        if why and reason is None:
            problems.append(f"{key}: {why} (fix it, or list it in {CLI_MANIFEST.name} with the reason)")
        elif not why and reason is not None:
            problems.append(f"{key} passes through the CLI: remove it from {CLI_MANIFEST.name}")
        elif reason is not None and reason.startswith("TODO"):
            problems.append(f"{key}: write why it fails in {CLI_MANIFEST.name} ({why})")
    for key in sorted(set(listed) - set(keys)):
        problems.append(f"{key} is in {CLI_MANIFEST.name} but not a passing test of {MANIFEST.name}")
    passed = sum(1 for k in keys if not results[k])
    skipped = sum(1 for k in keys if results[k].startswith("skip:"))
    print(f"{passed} of {len(keys)} node tests pass through scalec infer ({len(listed)} listed, {skipped} too large) "
          f"in {time.monotonic() - start:.0f} s")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])


def update() -> None:
    """Rewrites cli_manifest.txt: the tests that fail, with written reasons kept and new ones as TODO."""
    listed = read_manifest(CLI_MANIFEST) if CLI_MANIFEST.exists() else {}
    results = run_all(passing_in_process())
    lines = []
    for key, why in sorted(results.items()):
        if why and not why.startswith("skip:"):
            # What .npz cannot hold is a reason in itself; any other failure needs a written one.
            reason = listed.get(key) or (why if why.startswith("its ") else f"TODO {why}")
            lines.append(f"{key} {reason}")
    header = ("# ONNX node tests that pass in process (manifest.txt) but not through `scalec infer --batch 0`,\n"
              "# with the reason. Checked exactly by tests/py/test_conformance_cli.py (rewrite: --update).\n")
    CLI_MANIFEST.write_text(header + "".join(line + "\n" for line in lines))
    print(f"{CLI_MANIFEST}: {len(lines)} tests listed")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        sys.exit(f"usage: {sys.argv[0]} --update  (run the check itself with pytest)")
