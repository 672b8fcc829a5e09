"""Data-parallel training under mpirun (issue 18): N ranks x B/N samples equal one process x B,
the same run twice gives the same bytes, rank 0 alone writes, and failures end every rank quickly
with the failed rank named. Models: LeNet on digits (no BatchNormalization), resnet_bn (a PyTorch
export with BatchNormalization, synchronized across ranks) and a torchvision ResNet-50 from the zoo."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from conftest import REPO_ROOT, TEST_MODELS_DIR, scalec_bin_path, stop_once_written

sys.path.insert(0, str(REPO_ROOT / "test_models" / "zoo"))
import zoo_lib  # noqa: E402

MPIRUN = shutil.which("mpirun")


def _built_with_mpi() -> bool:
    p = subprocess.run([str(scalec_bin_path()), "--version"], capture_output=True, text=True, timeout=60)
    return "MPI ranks: yes" in p.stdout


pytestmark = [
    pytest.mark.skipif(MPIRUN is None, reason="mpirun missing (scripts/install-deps installs openmpi-bin)"),
    pytest.mark.skipif(MPIRUN is not None and not _built_with_mpi(),
                       reason="scalec was built without MPI (scripts/install-deps installs libopenmpi-dev)"),
]

LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
RESNET_BN = TEST_MODELS_DIR / "resnet_bn.onnx"
DIGITS_TRAIN = TEST_MODELS_DIR / "digits_train.npz"


def mpi(ranks: int, *args, timeout: float = 300):
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), str(scalec_bin_path())]
    p = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def one(*args, timeout: float = 300):
    p = subprocess.run([str(scalec_bin_path())] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def weights(path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def assert_close_weights(a, b, rel):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        scale = max(float(np.abs(wa[k]).max()), 1e-12)
        assert float(np.abs(wa[k].astype(np.float64) - wb[k]).max()) / scale <= rel, k


def epoch_losses(report) -> list[float]:
    return [e["loss"] for e in json.loads(Path(report).read_text())["epochs"]]


@pytest.fixture(scope="module")
def digits300(tmp_path_factory):
    """300 digits samples: 10 steps of a global batch of 30 (divisible by 2 and 3)."""
    d = np.load(DIGITS_TRAIN)
    path = tmp_path_factory.mktemp("dp") / "digits300.npz"
    np.savez(path, input=d["input"][:300], labels=d["labels"][:300])
    return path


@pytest.fixture(scope="module")
def bn_data(tmp_path_factory):
    """40 samples for resnet_bn: 7 steps of 6 per epoch, the last one 4 (split 2/1/1 over 3 ranks)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3, 16, 16)).astype(np.float32)
    y = (x[:, 0].mean(axis=(1, 2)) > 0).astype(np.int64) * 3 + (x[:, 1].mean(axis=(1, 2)) > 0)
    path = tmp_path_factory.mktemp("dp") / "bn.npz"
    np.savez(path, input=x, labels=y)
    return path


@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_equal_one_process_without_batchnorm(tmp_path, digits300, ranks):
    args = ["finetune", LENET, "--data", digits300, "--epochs", 1, "--batch", 30, "--lr", 0.05, "--momentum", 0.9,
            "--seed", 5, "-q"]
    rc, _, err = one(*args, "-o", tmp_path / "one.onnx", "--report", tmp_path / "one.json")
    assert rc == 0, err
    rc, out, err = mpi(ranks, *args, "-o", tmp_path / "dp.onnx", "--report", tmp_path / "dp.json", "--check-replicas", 3)
    assert rc == 0, err
    report = json.loads((tmp_path / "dp.json").read_text())
    assert report["steps"] == 10 and report["epochs"][0]["ranks"] == ranks
    assert epoch_losses(tmp_path / "dp.json") == pytest.approx(epoch_losses(tmp_path / "one.json"), rel=1e-6)
    assert_close_weights(tmp_path / "one.onnx", tmp_path / "dp.onnx", 1e-5)
    # rank 0 alone printed the results
    assert out.count("trained 8 of 8 weight tensors") == 1


@pytest.mark.parametrize("ranks", [2, 3])
def test_synchronized_batchnorm_equals_one_process(tmp_path, bn_data, ranks):
    args = ["finetune", RESNET_BN, "--data", bn_data, "--epochs", 2, "--batch", 6, "--lr", 0.05, "--seed", 1, "-q"]
    rc, _, err = one(*args, "-o", tmp_path / "one.onnx", "--report", tmp_path / "one.json")
    assert rc == 0, err
    rc, _, err = mpi(ranks, *args, "-o", tmp_path / "dp.onnx", "--report", tmp_path / "dp.json")
    assert rc == 0, err
    assert epoch_losses(tmp_path / "dp.json") == pytest.approx(epoch_losses(tmp_path / "one.json"), rel=1e-6)
    assert_close_weights(tmp_path / "one.onnx", tmp_path / "dp.onnx", 1e-5)
    # The running statistics trained too, and the output runs in ONNX Runtime.
    w0, w1 = weights(RESNET_BN), weights(tmp_path / "dp.onnx")
    assert not np.allclose(w0["stem.1.running_mean"], w1["stem.1.running_mean"])
    sess = ort.InferenceSession(str(tmp_path / "dp.onnx"), providers=["CPUExecutionProvider"])
    x = np.load(bn_data)["input"][:4]
    assert sess.run(None, {"input": x})[0].shape == (4, 10)


def test_local_batchnorm_differs_and_replicas_stay_equal(tmp_path, bn_data):
    args = ["finetune", RESNET_BN, "--data", bn_data, "--epochs", 1, "--batch", 6, "--lr", 0.05, "--seed", 1, "-q"]
    rc, _, err = one(*args, "-o", tmp_path / "one.onnx")
    assert rc == 0, err
    rc, _, err = mpi(2, *args, "--local-bn", "--check-replicas", 1, "-o", tmp_path / "local.onnx")
    assert rc == 0, err  # the replica check passed after every step
    wa, wb = weights(tmp_path / "one.onnx"), weights(tmp_path / "local.onnx")
    assert max(float(np.abs(wa[k] - wb[k]).max()) for k in wa) > 1e-4


def test_same_run_twice_gives_the_same_bytes(tmp_path, bn_data):
    args = ["finetune", RESNET_BN, "--data", bn_data, "--epochs", 1, "--batch", 6, "--lr", 0.05, "--seed", 2, "-q"]
    for name in ("a", "b"):
        rc, _, err = mpi(2, *args, "-o", tmp_path / f"{name}.onnx")
        assert rc == 0, err
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_zoo_resnet50_first_step_equals_one_process(tmp_path):
    """A torchvision ResNet-50 (random weights, 64x64): one global batch of 16 on 2 ranks."""
    folder = os.environ.get("SCALEC_ZOO_DIR") or str(tmp_path / "zoo")
    entry = zoo_lib.generate(folder, 64, ["resnet50"])["resnet50"]
    model, data = Path(folder) / entry["file"], Path(folder) / entry["calib"]
    args = ["finetune", model, "--data", data, "--epochs", 1, "--batch", 16, "--lr", 0.001, "--seed", 1, "-q"]
    rc, _, err = one(*args, "-o", tmp_path / "one.onnx", "--report", tmp_path / "one.json")
    assert rc == 0, err
    rc, _, err = mpi(2, *args, "-o", tmp_path / "dp.onnx", "--report", tmp_path / "dp.json")
    assert rc == 0, err
    assert epoch_losses(tmp_path / "dp.json") == pytest.approx(epoch_losses(tmp_path / "one.json"), rel=1e-6)
    assert_close_weights(tmp_path / "one.onnx", tmp_path / "dp.onnx", 1e-5)


def test_prune_with_recovery_runs_data_parallel(tmp_path, digits300):
    args = ["prune", LENET, "--sparsity", 0.5, "--data", digits300, "--epochs", 2, "--batch", 30, "--lr", 0.05,
            "--seed", 3, "-q"]
    rc, _, err = one(*args, "-o", tmp_path / "one.onnx")
    assert rc == 0, err
    rc, _, err = mpi(2, *args, "-o", tmp_path / "dp.onnx")
    assert rc == 0, err
    assert_close_weights(tmp_path / "one.onnx", tmp_path / "dp.onnx", 1e-5)


def test_distillation_with_feature_hints_equals_one_process(tmp_path, digits300):
    """distill --hint: the hint losses and the projections' gradients are reduced like the rest."""
    student = tmp_path / "student.onnx"
    rc, _, err = one("prune", LENET, "--method", "channel", "--sparsity", 0.75, "-o", student, "-q")
    assert rc == 0, err
    conv, hidden = "/features/features.4/Relu_output_0", "/classifier/classifier.2/Relu_output_0"
    args = ["distill", "--teacher", LENET, "--student", student, "--data", digits300, "--epochs", 1, "--batch", 30,
            "--lr", 0.02, "--momentum", 0.9, "--hint", f"{conv}={conv},{hidden}={hidden}", "-q"]
    rc, _, err = one(*args, "-o", tmp_path / "one.onnx", "--report", tmp_path / "one.json")
    assert rc == 0, err
    rc, _, err = mpi(2, *args, "-o", tmp_path / "dp.onnx", "--report", tmp_path / "dp.json")
    assert rc == 0, err
    a, b = (json.loads((tmp_path / f).read_text())["epochs"][0] for f in ("one.json", "dp.json"))
    assert b["hint_loss"] == pytest.approx(a["hint_loss"], rel=1e-6) and b["loss"] == pytest.approx(a["loss"], rel=1e-6)
    assert_close_weights(tmp_path / "one.onnx", tmp_path / "dp.onnx", 1e-5)


@pytest.mark.parametrize("ranks", [2, 3])
def test_quantization_aware_training_equals_one_process(tmp_path, digits300, ranks):
    """quantize --qat: activation ranges follow the min/max of every rank's share together."""
    args = ["quantize", LENET, "--qat", "--data", digits300, "--bits", 2, "--epochs", 2, "--batch", 30, "--lr", 0.01,
            "--seed", 1, "-q"]
    rc, _, err = one(*args, "-o", tmp_path / "one.onnx", "--report", tmp_path / "one.json")
    assert rc == 0, err
    rc, _, err = mpi(ranks, *args, "-o", tmp_path / "dp.onnx", "--report", tmp_path / "dp.json")
    assert rc == 0, err
    a, b = (json.loads((tmp_path / f).read_text())["qat"] for f in ("one.json", "dp.json"))
    assert a["range_updates"] == b["range_updates"] > 0
    assert [e["loss"] for e in b["epochs"]] == pytest.approx([e["loss"] for e in a["epochs"]], rel=1e-6)
    assert_close_weights(tmp_path / "one.onnx", tmp_path / "dp.onnx", 1e-5)  # int2 weights, scales, zero points


def test_quantization_aware_training_of_batchnorms_equals_one_process(tmp_path, bn_data):
    """quantize --qat on resnet_bn: BatchNorms in fake-quant form use the global batch's statistics,
    freeze at the same step on every rank and export the same folded layers."""
    args = ["quantize", RESNET_BN, "--qat", "--data", bn_data, "--bits", 4, "--epochs", 2, "--batch", 6, "--lr", 0.005,
            "--seed", 2, "-q"]
    rc, _, err = one(*args, "-o", tmp_path / "one.onnx", "--report", tmp_path / "one.json")
    assert rc == 0, err
    rc, _, err = mpi(2, *args, "-o", tmp_path / "dp.onnx", "--report", tmp_path / "dp.json")
    assert rc == 0, err
    a, b = (json.loads((tmp_path / f).read_text())["qat"] for f in ("one.json", "dp.json"))
    assert a["batch_norm_trained"] == b["batch_norm_trained"] == 5 and a["freeze_bn_after"] == 7
    assert [e["loss"] for e in b["epochs"]] == pytest.approx([e["loss"] for e in a["epochs"]], rel=1e-5)
    assert_close_weights(tmp_path / "one.onnx", tmp_path / "dp.onnx", 1e-4)


def test_commands_that_are_not_rank_aware_refuse_on_every_rank(tmp_path):
    rc, _, err = mpi(2, "quantize", LENET, "-o", tmp_path / "q.onnx")
    assert rc == 1
    assert "'quantize' does not run data-parallel" in err
    assert "rank 0" in err and "rank 1" in err
    assert not (tmp_path / "q.onnx").exists()


def test_global_batch_must_divide_over_the_ranks(tmp_path, digits300):
    rc, _, err = mpi(3, "finetune", LENET, "--data", digits300, "--batch", 32, "-o", tmp_path / "x.onnx")
    assert rc == 1
    assert "--batch 32" in err and "3 ranks" in err


def test_a_failing_rank_ends_every_rank_and_is_named(tmp_path):
    """Two samples, one with a label out of range: whichever rank gets it fails, the other must not hang."""
    d = np.load(DIGITS_TRAIN)
    bad = tmp_path / "bad.npz"
    np.savez(bad, input=d["input"][:2], labels=np.array([1, 99], dtype=np.int64))
    start = time.time()
    rc, _, err = mpi(2, "finetune", LENET, "--data", bad, "--batch", 2, "-o", tmp_path / "x.onnx", timeout=120)
    assert time.time() - start < 60
    assert rc == 2, err
    failed = [r for r in (0, 1) if f"scalec rank {r}: error:" in err]
    assert len(failed) == 1 and "label" in err, err
    assert not (tmp_path / "x.onnx").exists()


def _rank_pids(marker: str) -> dict[int, int]:
    """rank -> pid of the scalec processes whose command line holds `marker`."""
    ranks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if not cmdline or not cmdline[0].endswith(b"scalec") or marker.encode() not in b" ".join(cmdline):
            continue
        for kv in env:
            if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                ranks[int(kv.split(b"=")[1])] = int(pid)
    return ranks


def test_killed_rank_ends_the_job_and_resume_finishes_it(tmp_path, bn_data):
    args = ["finetune", RESNET_BN, "--data", bn_data, "--epochs", 40, "--batch", 6, "--lr", 0.02, "--seed", 4,
            "--checkpoint", tmp_path / "ckpt.npz"]
    out = tmp_path / "killed.onnx"
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", str(scalec_bin_path())] + [str(a) for a in args]
    p = subprocess.Popen(cmd + ["-q", "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "ckpt.npz").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    pids = _rank_pids(str(out))
    assert 1 in pids, "rank 1 not found"
    os.kill(pids[1], signal.SIGKILL)
    killed_at = time.time()
    _, err = p.communicate(timeout=90)
    assert time.time() - killed_at < 60
    assert p.returncode != 0
    assert "rank 1" in err, err
    assert not out.exists()
    # The checkpoint rank 0 wrote is whole, and a resumed run (on one rank) finishes.
    rc, _, err = one(*args, "--resume", "-o", out, timeout=600)
    assert rc == 0, err
    assert "resumed from" in err
    assert out.exists()


def test_resume_with_another_rank_count_reaches_the_same_weights(tmp_path, bn_data):
    base = ["finetune", RESNET_BN, "--data", bn_data, "--epochs", 4, "--batch", 6, "--lr", 0.05, "--seed", 6, "-q"]
    rc, _, err = mpi(2, *base, "-o", tmp_path / "straight.onnx")
    assert rc == 0, err
    # A 3-rank run stopped after its first checkpoint, resumed by one process.
    ckpt, out = tmp_path / "c.npz", tmp_path / "resumed.onnx"
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "3", scalec_bin_path()]
    stop_once_written(cmd + base + ["--checkpoint", ckpt, "-o", out], ckpt, sig=signal.SIGTERM)  # mpirun ends its ranks
    assert ckpt.exists()
    rc, _, err = one(*base, "--checkpoint", ckpt, "--resume", "-o", out)
    assert rc == 0, err
    assert_close_weights(tmp_path / "straight.onnx", out, 1e-5)
