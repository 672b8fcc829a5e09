"""Terminal manners (issue 23 item 3): long work draws a progress bar with ETA on stderr only when
stderr is a terminal (run under a pseudo-terminal with util-linux `script`), never into pipes or
files, and not with -q."""
from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, scalec_bin_path

MODELS = REPO_ROOT / "test_models"


def on_a_terminal(args) -> str:
    if not shutil.which("script"):
        pytest.skip("util-linux script is not installed")
    cmd = " ".join(shlex.quote(str(a)) for a in [scalec_bin_path(), *args])
    out = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=300)
    assert out.returncode == 0, out.stdout.decode(errors="replace")[-2000:]
    return out.stdout.decode(errors="replace")


def piped(args) -> str:
    out = subprocess.run([str(scalec_bin_path()), *map(str, args)], capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stderr.decode(errors="replace")


def test_training_and_calibration_show_progress_on_a_terminal_only(tmp_path):
    train = [MODELS / "lenet_digits.onnx", "--data", MODELS / "digits_train.npz", "--epochs", "2", "-o", tmp_path / "f.onnx"]
    tty = on_a_terminal(["finetune", *train])
    assert "epoch 1/2" in tty and "ETA" in tty and "45/45" in tty and "\r\x1b[K" in tty
    assert "ETA" not in piped(["finetune", *train])
    assert "ETA" not in on_a_terminal(["finetune", *train, "-q"])
    quant = ["quantize", MODELS / "lenet_digits.onnx", "--calib", MODELS / "digits_train.npz", "-o", tmp_path / "q.onnx"]
    tty = on_a_terminal(quant)
    assert "calibrating" in tty and "1437/1437" in tty
    assert "calibrating" not in piped(quant)
