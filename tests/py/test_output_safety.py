"""Path safety, as a table: no command writes over a file it reads, no two outputs share a file,
external data cannot lead out of the model's folder, and outputs are committed together.

Every row runs one command in a fresh folder holding the input model `m.onnx` (lenet_digits) and
data `d.npz` (64 digits with labels), and checks: the exit code, a message fragment on stderr, every
input's sha256 unchanged, and (for a failure) that no folder gained or lost an entry, hidden temp
files included. Each row failed on main before cli/output_set.cpp and the external-data checks in
onnx_io/tensor_proto.cpp (exit 0 with an input overwritten or an output left, or a hang).
"""
from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import CRASH_MARKERS, TEST_MODELS_DIR, run_scalec, sha256_of

OK, USAGE, BAD_INPUT, TARGET_MISSED, IO_ERROR = 0, 1, 2, 3, 4
TIMEOUT = 60  # a FIFO opened for reading would block forever: a hang fails the row


def snapshot(folders) -> dict:
    """Every entry of every folder (hidden ones included), with the kind of each (link, file, ...)."""
    out = {}
    for f in folders:
        for name in sorted(os.listdir(f)):
            st = os.lstat(f / name)
            out[str(f / name)] = stat.S_IFMT(st.st_mode)
    return out


def hashes(folder: Path) -> dict:
    """sha256 of every regular file in `folder` that is not a link (links are checked by snapshot)."""
    return {p: sha256_of(p) for p in sorted(folder.iterdir()) if p.is_file() and not p.is_symlink()}


@pytest.fixture
def work(tmp_path):
    """in/m.onnx, in/d.npz and an empty out/ folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    (tmp_path / "out").mkdir()
    shutil.copyfile(TEST_MODELS_DIR / "lenet_digits.onnx", folder / "m.onnx")
    d = np.load(TEST_MODELS_DIR / "digits_val.npz")
    np.savez(folder / "d.npz", input=d["input"][:64], labels=d["labels"][:64])
    return tmp_path


def run_row(work: Path, args, rc_expected, needles=(), forbidden=(), inputs_change=False):
    """Runs scalec with `args` ({in}, {out} expanded); checks exit code, stderr, inputs, leftovers."""
    folder, out = work / "in", work / "out"
    args = [str(a).format(**{"in": folder, "out": out}) for a in args]
    before_hashes, before_entries = hashes(folder), snapshot([folder, out, work])
    rc, stdout, stderr = run_scalec(*args, timeout=TIMEOUT)
    shown = f"scalec {' '.join(args)}\nrc={rc}\nstderr:\n{stderr}"
    for marker in CRASH_MARKERS:
        assert marker not in stderr, shown
    assert rc == rc_expected, f"expected exit code {rc_expected}\n{shown}"
    for needle in needles:
        assert re.search(needle, stderr, re.IGNORECASE), f"stderr does not match {needle!r}\n{shown}"
    for needle in forbidden:
        assert not re.search(needle, stderr), f"stderr reveals {needle!r}\n{shown}"
    if not inputs_change:
        assert hashes(folder) == before_hashes, f"an input changed\n{shown}"
    if rc_expected not in (OK, TARGET_MISSED):
        assert snapshot([folder, out, work]) == before_entries, f"partial output left\n{shown}"
    return stdout, stderr


# ----------------------------------------------------------------------------------------------
# An output that is an input, or another output: exit 1, naming both, before any work.
# ----------------------------------------------------------------------------------------------

DATA = ["--data", "{in}/d.npz"]
TRAIN = ["--epochs", "1", "--batch", "32"]

# (id, args, message fragment). `setup` rows below add links first.
SAME_FILE_ROWS = [
    ("infer -o model", ["infer", "{in}/m.onnx", *DATA, "-o", "{in}/m.onnx"], r"-o '[^']*m\.onnx' is the input model"),
    ("infer -o data", ["infer", "{in}/m.onnx", *DATA, "-o", "{in}/d.npz"], r"-o '[^']*d\.npz' is the --data file"),
    ("infer -o data spelled differently", ["infer", "{in}/m.onnx", *DATA, "-o", "{in}/../in/./d.npz"],
     r"is the --data file '[^']*/in/d\.npz'"),
    ("eval --report model", ["eval", "{in}/m.onnx", *DATA, "--report", "{in}/m.onnx"],
     r"--report '[^']*m\.onnx' is the input model"),
    ("eval --report data", ["eval", "{in}/m.onnx", *DATA, "--report", "{in}/d.npz"], r"--report .* is the --data file"),
    ("inspect --report model", ["inspect", "{in}/m.onnx", "--report", "{in}/m.onnx"], r"--report .* is the input model"),
    ("quantize --report model", ["quantize", "{in}/m.onnx", "--format", "dynamic", "-o", "{out}/q.onnx",
                                 "--report", "{in}/m.onnx"], r"--report .* is the input model"),
    ("quantize --report calib", ["quantize", "{in}/m.onnx", "--calib", "{in}/d.npz", "-o", "{out}/q.onnx",
                                 "--report", "{in}/d.npz"], r"--report .* is the --calib file"),
    ("quantize -o calib", ["quantize", "{in}/m.onnx", "--calib", "{in}/d.npz", "-o", "{in}/d.npz"],
     r"-o .* is the --calib file"),
    ("prune --report model", ["prune", "{in}/m.onnx", "-o", "{out}/p.onnx", "--report", "{in}/m.onnx"],
     r"--report .* is the input model"),
    ("prune -o data", ["prune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{in}/d.npz"], r"-o .* is the --data file"),
    ("prune --report val", ["prune", "{in}/m.onnx", "--val", "{in}/d.npz", "-o", "{out}/p.onnx",
                            "--report", "{in}/d.npz"], r"--report .* is the --val file"),
    ("finetune --report model", ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx",
                                 "--report", "{in}/m.onnx"], r"--report .* is the input model"),
    ("finetune --checkpoint model", ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx",
                                     "--checkpoint", "{in}/m.onnx"], r"--checkpoint .* is the input model"),
    ("finetune --checkpoint data", ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx",
                                    "--checkpoint", "{in}/d.npz"], r"--checkpoint .* is the --data file"),
    ("finetune --checkpoint data --resume", ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx",
                                             "--checkpoint", "{in}/d.npz", "--resume"], r"--checkpoint .* is the --data file"),
    ("finetune -o val", ["finetune", "{in}/m.onnx", *DATA, "--val", "{in}/d.npz", *TRAIN, "-o", "{in}/d.npz"],
     r"-o .* is the --data file"),
    ("finetune -o = --report", ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx",
                                "--report", "{out}/f.onnx"], r"--report '[^']*f\.onnx' is also the -o output"),
    ("finetune -o = --checkpoint", ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx",
                                    "--checkpoint", "{out}/./f.onnx"], r"--checkpoint .* is also the -o output"),
    ("prune -o = --report", ["prune", "{in}/m.onnx", "-o", "{out}/f.onnx", "--report", "{out}/f.onnx"],
     r"two outputs cannot share a file"),
    ("quantize -o = --report", ["quantize", "{in}/m.onnx", "--format", "dynamic", "-o", "{out}/f.onnx",
                                "--report", "{out}/../out/f.onnx"], r"is also the -o output"),
    ("prune -o model (no --in-place)", ["prune", "{in}/m.onnx", "-o", "{in}/m.onnx"], r"input model.*--in-place"),
    ("prune --in-place --report model", ["prune", "{in}/m.onnx", "-o", "{in}/m.onnx", "--in-place",
                                         "--report", "{in}/m.onnx"], r"--report .* is the input model"),
]


@pytest.mark.parametrize("args, needle", [r[1:] for r in SAME_FILE_ROWS], ids=[r[0] for r in SAME_FILE_ROWS])
def test_output_names_an_input_or_another_output(work, args, needle):
    run_row(work, args, USAGE, [needle])


LINK_ROWS = [  # (id, link kind, link target in in/, args with {link})
    ("infer -o hard link to data", "hard", "d.npz", ["infer", "{in}/m.onnx", *DATA, "-o", "{link}"]),
    ("infer -o symlink to model", "sym", "m.onnx", ["infer", "{in}/m.onnx", *DATA, "-o", "{link}"]),
    ("eval --report hard link to model", "hard", "m.onnx", ["eval", "{in}/m.onnx", *DATA, "--report", "{link}"]),
    ("inspect --report symlink to model", "sym", "m.onnx", ["inspect", "{in}/m.onnx", "--report", "{link}"]),
    ("prune --report symlink to model", "sym", "m.onnx", ["prune", "{in}/m.onnx", "-o", "{out}/p.onnx", "--report", "{link}"]),
    ("prune -o symlink to model", "sym", "m.onnx", ["prune", "{in}/m.onnx", "-o", "{link}"]),
    ("quantize -o hard link to model", "hard", "m.onnx", ["quantize", "{in}/m.onnx", "--format", "dynamic", "-o", "{link}"]),
    ("finetune --checkpoint hard link to data", "hard", "d.npz",
     ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx", "--checkpoint", "{link}"]),
    ("symlinked folder as -o folder", "symdir", ".", ["infer", "{in}/m.onnx", *DATA, "-o", "{link}/d.npz"]),
]


@pytest.mark.parametrize("kind, target, args", [r[1:] for r in LINK_ROWS], ids=[r[0] for r in LINK_ROWS])
def test_output_is_a_link_to_an_input(work, kind, target, args):
    link = work / "out" / "link"
    if kind == "hard":
        os.link(work / "in" / target, link)
    else:
        os.symlink(work / "in" / target if kind == "sym" else work / "in", link)
    run_row(work, [a.replace("{link}", str(link)) for a in args], USAGE, [r"is (the|also)"])
    assert os.path.islink(link) == (kind != "hard"), "the link was replaced"


# ----------------------------------------------------------------------------------------------
# Outputs are committed together: a failure leaves none of them, exit 0 and 3 leave all.
# ----------------------------------------------------------------------------------------------

def test_report_in_missing_folder_leaves_no_model(work):
    for args in (["prune", "{in}/m.onnx", "-o", "{out}/p.onnx"],
                 ["quantize", "{in}/m.onnx", "--format", "dynamic", "-o", "{out}/q.onnx"],
                 ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx"]):
        run_row(work, [*args, "--report", "{out}/missing/r.json"], IO_ERROR, [r"missing.*does not exist"])


def conv_strides_zero(path: Path):
    """A Conv with strides [0, 0]: loads, and fails only when its output shape is computed."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], np.ones(18, np.float32))
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=[0, 0])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path.write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())


def test_prune_that_fails_after_writing_leaves_nothing(work):
    conv_strides_zero(work / "in" / "bad.onnx")
    run_row(work, ["prune", "{in}/bad.onnx", "-o", "{out}/p.onnx", "--prune-first", "--prune-last"], BAD_INPUT,
            [r"stride"])


def test_target_missed_leaves_every_output(work):
    run_row(work, ["prune", "{in}/m.onnx", "--sparsity", "0.95", "--prune-first", "--prune-last", "--val", "{in}/d.npz",
                   "--max-accuracy-drop", "0", "-o", "{out}/p.onnx", "--report", "{out}/r.json"], TARGET_MISSED,
            [r"max-accuracy-drop"])
    assert sorted(os.listdir(work / "out")) == ["p.onnx", "r.json"]
    onnx.checker.check_model(onnx.load(str(work / "out" / "p.onnx")))


def test_success_leaves_exactly_the_outputs(work):
    run_row(work, ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx", "--report", "{out}/r.json",
                   "--checkpoint", "{out}/c.npz"], OK)
    assert sorted(os.listdir(work / "out")) == ["c.npz", "f.onnx", "r.json"]
    # --resume reads and writes the checkpoint: not refused as an input.
    run_row(work, ["finetune", "{in}/m.onnx", *DATA, *TRAIN, "-o", "{out}/f.onnx", "--checkpoint", "{out}/c.npz",
                   "--resume"], OK)


def test_in_place_replaces_only_the_model(work):
    run_row(work, ["prune", "{in}/m.onnx", "-o", "{in}/m.onnx", "--in-place", "--report", "{out}/r.json"], OK,
            inputs_change=True)
    assert sorted(os.listdir(work / "in")) == ["d.npz", "m.onnx"]
    onnx.checker.check_model(onnx.load(str(work / "in" / "m.onnx")))


def test_devices_may_be_shared_by_outputs(work):
    run_row(work, ["prune", "{in}/m.onnx", "-o", "/dev/null", "--report", "/dev/null"], OK)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# ----------------------------------------------------------------------------------------------
# External data stays inside the model's folder, and is a regular file.
# ----------------------------------------------------------------------------------------------

def external_model(path: Path, location: str, floats: int = 4):
    """Y = Identity(W), W float[floats] stored externally at `location`."""
    t = TensorProto()
    t.name, t.data_type = "W", TensorProto.FLOAT
    t.dims.append(floats)
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", location
    g = helper.make_graph([helper.make_node("Identity", ["W"], ["Y"])], "g", [],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [t])
    path.write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=7).SerializeToString())


PASSWD_SIZE = str(os.stat("/etc/passwd").st_size)

EXTERNAL_ROWS = [  # (id, what to make in in/, location, message fragment)
    ("symlink to /etc/passwd", ("sym", "w.bin", "/etc/passwd"), "w.bin", r"refused.*leads out of the model's folder"),
    ("symlinked folder", ("sym", "sub", "/etc"), "sub/passwd", r"refused.*leads out of the model's folder"),
    ("FIFO", ("fifo", "w.bin", None), "w.bin", r"w\.bin.*not a regular file"),
    ("symlink to a FIFO inside", ("fifo+sym", "w.bin", "fifo"), "w.bin", r"not a regular file"),
    ("symlink to a FIFO outside", ("fifo-out+sym", "w.bin", None), "w.bin", r"leads out of the model's folder"),
    ("symlink to a folder inside", ("sym", "w.bin", "."), "w.bin", r"not a regular file"),
    ("device", ("sym", "w.bin", "/dev/zero"), "w.bin", r"refused"),
]


def make_external(work: Path, spec):
    kind, name, target = spec
    folder = work / "in"
    if kind == "sym":
        os.symlink(target if target.startswith("/") else folder / target, folder / name)
    elif kind == "fifo":
        os.mkfifo(folder / name)
    elif kind == "fifo+sym":
        os.mkfifo(folder / target)
        os.symlink(folder / target, folder / name)
    elif kind == "fifo-out+sym":
        os.mkfifo(work / "outside-fifo")
        os.symlink(work / "outside-fifo", folder / name)


@pytest.mark.parametrize("spec, location, needle", [r[1:] for r in EXTERNAL_ROWS], ids=[r[0] for r in EXTERNAL_ROWS])
@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_external_data_refused(work, spec, location, needle, command):
    make_external(work, spec)
    external_model(work / "in" / "e.onnx", location)
    args = {"inspect": ["inspect", "{in}/e.onnx", "--report", "{out}/r.json"],
            "convert": ["convert", "{in}/e.onnx", "-o", "{out}/c.onnx", "--external-data", "never"]}[command]
    run_row(work, args, BAD_INPUT, [needle, r"tensor 'W'"], forbidden=[rf"\b{PASSWD_SIZE}\b", r"root:"])


def test_external_data_size_of_outside_file_not_revealed(work):
    os.symlink("/etc/passwd", work / "in" / "w.bin")
    external_model(work / "in" / "e.onnx", "w.bin", 1 << 20)  # longer than the file: would name its size
    run_row(work, ["inspect", "{in}/e.onnx"], BAD_INPUT, [r"refused"], forbidden=[rf"\b{PASSWD_SIZE}\b"])


def test_external_data_links_inside_the_folder_still_load(work):
    folder = work / "in"
    (folder / "data").mkdir()
    (folder / "data" / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    os.symlink(folder / "data" / "w.bin", folder / "w.bin")  # absolute link, still inside
    os.symlink("data", folder / "d2")  # relative folder link
    for location in ("w.bin", "d2/w.bin"):
        external_model(folder / "e.onnx", location)
        run_row(work, ["convert", "{in}/e.onnx", "-o", "{out}/c.onnx", "--external-data", "never"], OK)
        m = onnx.load(str(work / "out" / "c.onnx"))
        assert list(onnx.numpy_helper.to_array(m.graph.initializer[0])) == [0, 1, 2, 3]
        os.unlink(work / "out" / "c.onnx")


def test_output_external_data_may_not_be_an_input(work):
    """-o x.onnx writes x.onnx.data beside it: refused when that is the input model's own data."""
    folder = work / "in"
    (folder / "x.onnx.data").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    external_model(folder / "e.onnx", "x.onnx.data")
    run_row(work, ["convert", "{in}/e.onnx", "-o", "{in}/x.onnx", "--external-data", "always",
                   "--external-threshold", "0"], USAGE, [r"x\.onnx\.data' is external data of the input model"])
