"""Shared helpers for the Python cross-checks of the scalec binary.

Environment (set by CTest, see tests/CMakeLists.txt):
  SCALEC_BIN           path to the scalec binary (relative paths are taken from the repository root)
  SCALEC_TESTDATA_DIR  Debian libonnx-testdata's data folder (/usr/share/libonnx-testdata/data)

Nothing here skips: a missing binary or test-data folder fails the tests with a clear message.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_MODELS_DIR = REPO_ROOT / "test_models"
TEST_MODEL_NAMES = ["mlp", "lenet_digits", "resnet_bn", "mobilenet_block", "transformer_block"]

# The libonnx-testdata groups the cross-checks cover ("real" holds no model.onnx files).
TESTDATA_GROUPS = ("node", "pytorch-converted", "pytorch-operator", "simple")

# Bad input must never make scalec crash or report an internal error.
CRASH_MARKERS = ("Sanitizer", "runtime error:", "internal error", "Segmentation fault", "Aborted", "terminate called")

DEFAULT_TIMEOUT = 120

# libonnx-testdata models scalec may refuse with exit code 2 ("group/test" -> why). Checked exactly
# by test_inspect_counts (a refused model outside it fails, and so does a listed model that loads).
# Currently none: every model of the node, pytorch-converted, pytorch-operator and simple groups loads.
REFUSED_ALLOWLIST: dict[str, str] = {}


def _fail_setup(message: str):
    pytest.fail(message, pytrace=False)


def scalec_bin_path() -> Path:
    """The scalec binary from SCALEC_BIN; fails (does not skip) when it is unset or missing."""
    value = os.environ.get("SCALEC_BIN")
    if not value:
        _fail_setup("SCALEC_BIN is not set: point it at the scalec binary, e.g. SCALEC_BIN=build/cli/scalec")
    path = Path(value)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file() or not os.access(path, os.X_OK):
        _fail_setup(f"SCALEC_BIN={value!r}: {path} is not an executable file (build it: ninja -C build scalec)")
    return path


def get_testdata_dir() -> Path:
    """libonnx-testdata's data folder from SCALEC_TESTDATA_DIR; fails when unset or missing."""
    value = os.environ.get("SCALEC_TESTDATA_DIR")
    if not value:
        _fail_setup("SCALEC_TESTDATA_DIR is not set: point it at /usr/share/libonnx-testdata/data")
    path = Path(value)
    if not path.is_dir():
        _fail_setup(f"SCALEC_TESTDATA_DIR={value!r} is not a folder (apt-get install libonnx-testdata)")
    return path


def run_scalec(*args, timeout: float = DEFAULT_TIMEOUT, cwd=None, input_bytes: bytes | None = None):
    """Runs scalec with `args` (converted to str); returns (rc, stdout, stderr) as text."""
    cmd = [str(scalec_bin_path())] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=cwd, input=input_bytes)
    except subprocess.TimeoutExpired:
        pytest.fail(f"scalec timed out after {timeout} s: {' '.join(cmd)}")
    return (p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def run_scalec_raw(args, timeout: float = DEFAULT_TIMEOUT):
    """Like run_scalec but safe to call from worker threads (never calls pytest.fail)."""
    cmd = [str(scalec_bin_path())] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return (-1, "", f"timed out after {timeout} s")
    return (p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def stop_once_written(cmd, path, sig=None, timeout: float = 300):
    """Starts `cmd` (strings), sends `sig` (default SIGKILL) as soon as `path` exists (or the command
    ended, or `timeout` passed), and waits for it; returns the Popen (stderr piped, as text)."""
    import signal  # noqa: PLC0415
    import time  # noqa: PLC0415

    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    while not Path(path).exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL if sig is None else sig)
    p.wait(timeout=90)
    return p


def list_testdata_models(testdata_dir: Path | None = None) -> list[Path]:
    """Every <group>/<test>/model.onnx of libonnx-testdata's node, pytorch-converted,
    pytorch-operator and simple groups, sorted."""
    root = Path(testdata_dir) if testdata_dir else get_testdata_dir()
    models = []
    for group in TESTDATA_GROUPS:
        models.extend(sorted((root / group).glob("*/model.onnx")))
    if len(models) < 500:
        _fail_setup(f"{root}: found only {len(models)} model.onnx files under {TESTDATA_GROUPS}; "
                    "is libonnx-testdata installed completely?")
    return models


def model_label(path: Path) -> str:
    """Short name for messages: 'node/test_abs' for testdata, 'mlp.onnx' for test models."""
    path = Path(path)
    if path.name == "model.onnx":
        return f"{path.parent.parent.name}/{path.parent.name}"
    return path.name


def fixture_model_paths() -> list[Path]:
    return [TEST_MODELS_DIR / f"{name}.onnx" for name in TEST_MODEL_NAMES]


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def worker_count() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 2
    return max(2, min(8, 2 * n))


@pytest.fixture(scope="session")
def scalec_bin() -> Path:
    return scalec_bin_path()


@pytest.fixture(scope="session")
def testdata_dir() -> Path:
    return get_testdata_dir()


@pytest.fixture(scope="session")
def all_testdata_models(testdata_dir) -> list[Path]:
    return list_testdata_models(testdata_dir)


@pytest.fixture(scope="session")
def scalec(scalec_bin):
    """The run function: scalec(*args, timeout=..., cwd=...) -> (rc, stdout, stderr)."""
    return run_scalec
