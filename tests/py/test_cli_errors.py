"""Bad input and bad output paths: the right exit code and a message naming the problem, never a crash.

Every failing case also checks that the inputs are unchanged (sha256 before/after) and that no
partial output is left behind: the output folder gains no file, hidden temp files
(`.out.onnx.scalec-tmp-*`) included. Exit codes (DESIGN.md): 0 ok, 1 usage, 2 bad input,
4 I/O error writing output, 70 internal.

Run under the sanitizer build too (tests/CMakeLists.txt), hence the "Sanitizer" check.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import CRASH_MARKERS, REPO_ROOT, TEST_MODEL_NAMES, TEST_MODELS_DIR, run_scalec, sha256_of

OK, USAGE, BAD_INPUT, IO_ERROR = 0, 1, 2, 4


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------

def listing(folder: Path) -> list[str]:
    """Every entry of `folder`, hidden ones included."""
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def assert_no_crash(rc, stderr):
    for marker in CRASH_MARKERS:
        assert marker not in stderr, f"scalec crashed or hit an internal error (rc {rc}):\n{stderr}"
    assert rc >= 0, f"scalec was killed by signal {-rc}:\n{stderr}"


def expect(args, rc_expected, needles=(), inputs=(), watch=(), stdout_empty=True):
    """Runs scalec; checks the exit code, that stderr names the problem (every regex in `needles`,
    case-insensitive), that `inputs` are unchanged and the folders in `watch` gain nothing."""
    hashes = {Path(p): sha256_of(p) for p in inputs if Path(p).is_file()}
    before = {Path(w): listing(Path(w)) for w in watch}
    rc, out, err = run_scalec(*args)
    shown = f"scalec {' '.join(map(str, args))}\nrc={rc}\nstderr:\n{err}"
    assert_no_crash(rc, err)
    assert rc == rc_expected, f"expected exit code {rc_expected}\n{shown}"
    if rc_expected in (BAD_INPUT, IO_ERROR):
        assert "scalec: error:" in err, f"no 'scalec: error:' message\n{shown}"
    for needle in needles:
        assert re.search(needle, err, re.IGNORECASE), f"stderr does not match {needle!r}\n{shown}"
    if stdout_empty and rc_expected != OK:
        assert out == "", f"a failing command printed results on stdout:\n{out[:500]}"
    for p, h in hashes.items():
        assert sha256_of(p) == h, f"input {p} changed\n{shown}"
    for w, entries in before.items():
        after = listing(w)
        assert after == entries, f"{w} gained {sorted(set(after) - set(entries))} (partial output)\n{shown}"
    return rc, out, err


def expect_bad_model(model: Path, tmp_path: Path, needles=(), extra_inputs=(), names_model=True):
    """`inspect` (with --report) and `convert` both refuse `model` with exit code 2, naming the
    model file (errors about one tensor name the tensor instead: names_model=False)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    needles = ([re.escape(str(model))] if names_model else []) + list(needles)
    inputs = [model, *extra_inputs]
    watch = [out_dir, model.parent]
    expect(["inspect", model], BAD_INPUT, needles, inputs, watch)
    expect(["inspect", "--json", model, "--report", out_dir / "report.json"], BAD_INPUT, needles, inputs, watch)
    expect(["convert", model, "-o", out_dir / "out.onnx"], BAD_INPUT, needles, inputs, watch)


def copy_model(name: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{name}.onnx"
    shutil.copyfile(TEST_MODELS_DIR / f"{name}.onnx", dst)
    return dst


def save_unchecked(model: onnx.ModelProto, path: Path) -> Path:
    """Serializes without onnx.checker (the models here are invalid on purpose)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def tiny_model(initializers=(), opset=13, ir=7, nodes=None, inputs=None, outputs=None) -> onnx.ModelProto:
    """Y = Identity(W) around the given initializer(s) (first one named W)."""
    nodes = nodes if nodes is not None else [helper.make_node("Identity", ["W"], ["Y"])]
    inputs = inputs if inputs is not None else []
    outputs = outputs if outputs is not None else [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)]
    g = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)


def external_tensor(location: str, dims=(4,), offset=None, length=None, name="W") -> TensorProto:
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", str(offset)))
    if length is not None:
        entries.append(("length", str(length)))
    for k, v in entries:
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


# ----------------------------------------------------------------------------------------------
# Unreadable files
# ----------------------------------------------------------------------------------------------

def test_empty_file(tmp_path):
    model = tmp_path / "in" / "empty.onnx"
    model.parent.mkdir()
    model.write_bytes(b"")
    expect_bad_model(model, tmp_path, ["empty"])


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1000, 65536, 1 << 20])
def test_random_bytes(tmp_path, size):
    model = tmp_path / "in" / "random.onnx"
    model.parent.mkdir()
    model.write_bytes(np.random.default_rng(1234 + size).integers(0, 256, size, dtype=np.uint8).tobytes())
    expect_bad_model(model, tmp_path, ["not a valid ONNX model|protobuf|corrupt"])


@pytest.mark.parametrize("name", TEST_MODEL_NAMES)
def test_truncated_model(tmp_path, name):
    data = (TEST_MODELS_DIR / f"{name}.onnx").read_bytes()
    for cut in (len(data) // 10, len(data) // 2, len(data) * 9 // 10, len(data) - 1):
        model = tmp_path / f"in{cut}" / f"{name}.onnx"
        model.parent.mkdir()
        model.write_bytes(data[:cut])
        expect_bad_model(model, tmp_path, ["not a valid|truncated|corrupt"])


def test_folder_as_model(tmp_path):
    folder = tmp_path / "in" / "model.onnx"
    folder.mkdir(parents=True)
    expect_bad_model(folder, tmp_path, ["folder|directory"])


def test_nonexistent_model(tmp_path):
    (tmp_path / "in").mkdir()
    expect_bad_model(tmp_path / "in" / "missing.onnx", tmp_path, ["no such file|does not exist|cannot read"])


# ----------------------------------------------------------------------------------------------
# Invalid graphs and versions
# ----------------------------------------------------------------------------------------------

def test_undefined_value(tmp_path):
    m = onnx.load(str(TEST_MODELS_DIR / "mlp.onnx"))
    removed = m.graph.initializer[0].name
    del m.graph.initializer[0]
    model = save_unchecked(m, tmp_path / "in" / "dangling.onnx")
    expect_bad_model(model, tmp_path, [re.escape(removed), "defines|undefined|not defined"])


def test_cycle(tmp_path):
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])
    a = helper.make_tensor_value_info("A", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Add", ["X", "B"], ["A"], name="add"),
             helper.make_node("Relu", ["A"], ["B"], name="relu")]
    model = save_unchecked(tiny_model(nodes=nodes, inputs=[x], outputs=[a]), tmp_path / "in" / "cycle.onnx")
    expect_bad_model(model, tmp_path, ["cycle"])


def test_duplicate_output_name(tmp_path):
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Relu", ["X"], ["Y"]), helper.make_node("Neg", ["X"], ["Y"])]
    model = save_unchecked(tiny_model(nodes=nodes, inputs=[x], outputs=[y]), tmp_path / "in" / "dup.onnx")
    expect_bad_model(model, tmp_path, ["duplicate", "'Y'"])


def test_unsupported_opset(tmp_path):
    w = numpy_helper.from_array(np.ones(4, np.float32), "W")
    model = save_unchecked(tiny_model([w], opset=99), tmp_path / "in" / "opset99.onnx")
    expect_bad_model(model, tmp_path, ["opset", "99"])


def test_unsupported_ir_version(tmp_path):
    w = numpy_helper.from_array(np.ones(4, np.float32), "W")
    model = save_unchecked(tiny_model([w], ir=99), tmp_path / "in" / "ir99.onnx")
    expect_bad_model(model, tmp_path, ["IR version", "99"])


@pytest.mark.parametrize("opsets, ir, rc_expected", [
    ([("", 22)], 10, OK),                      # the newest scalec reads
    ([("", 1)], 3, OK),                        # the oldest
    ([("", 23)], 10, BAD_INPUT),
    ([("", 0)], 7, BAD_INPUT),
    ([("ai.onnx", 99)], 7, BAD_INPUT),         # "ai.onnx" is the default domain spelled out
    ([("", 13), ("com.example", 99)], 7, OK),  # other domains pass through
    ([("", 13)], 11, BAD_INPUT),
], ids=["opset22", "opset1", "opset23", "opset0", "ai.onnx99", "custom_domain99", "ir11"])
def test_version_limits(tmp_path, opsets, ir, rc_expected):
    w = numpy_helper.from_array(np.ones(4, np.float32), "W")
    m = tiny_model([w], ir=ir)
    del m.opset_import[:]
    m.opset_import.extend([helper.make_opsetid(d, v) for d, v in opsets])
    model = save_unchecked(m, tmp_path / "in" / "versions.onnx")
    if rc_expected == OK:
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        expect(["convert", model, "-o", out_dir / "out.onnx"], OK, [], [model], [model.parent])
        assert [(o.domain, o.version) for o in onnx.load(str(out_dir / "out.onnx")).opset_import] == opsets
    else:
        expect_bad_model(model, tmp_path, ["opset|IR version"])


def test_raw_data_size_mismatch(tmp_path):
    w = numpy_helper.from_array(np.ones(4, np.float32), "W")
    w.raw_data = w.raw_data[:-4]
    model = save_unchecked(tiny_model([w]), tmp_path / "in" / "short_raw.onnx")
    expect_bad_model(model, tmp_path, ["'W'", "raw_data"], names_model=False)


def test_unknown_data_type(tmp_path):
    w = numpy_helper.from_array(np.ones(4, np.float32), "W")
    w.data_type = 99
    model = save_unchecked(tiny_model([w]), tmp_path / "in" / "dtype99.onnx")
    expect_bad_model(model, tmp_path, ["'W'", "data_type", "99"], names_model=False)


def test_sparse_initializer_not_supported(tmp_path):
    values = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "W")
    indices = numpy_helper.from_array(np.array([0, 3], np.int64), "W_idx")
    sparse = helper.make_sparse_tensor(values, indices, [4])
    m = tiny_model([])
    m.graph.sparse_initializer.append(sparse)
    model = save_unchecked(m, tmp_path / "in" / "sparse.onnx")
    expect_bad_model(model, tmp_path, ["sparse"])


def test_negative_dimension(tmp_path):
    w = helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0])
    w.dims[0] = -2
    model = save_unchecked(tiny_model([w]), tmp_path / "in" / "negdim.onnx")
    expect_bad_model(model, tmp_path, ["'W'", "negative"], names_model=False)


# ----------------------------------------------------------------------------------------------
# External data
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("location", ["/etc/passwd", "../w.bin", "sub/../../w.bin", ".."])
def test_external_data_location_refused(tmp_path, location):
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model = save_unchecked(tiny_model([external_tensor(location)]), tmp_path / "in" / "ext.onnx")
    expect_bad_model(model, tmp_path, ["'W'", "refused", re.escape(location)],
                     extra_inputs=[tmp_path / "w.bin", Path("/etc/passwd")], names_model=False)


def test_external_data_missing_file(tmp_path):
    model = save_unchecked(tiny_model([external_tensor("weights.bin")]), tmp_path / "in" / "ext.onnx")
    expect_bad_model(model, tmp_path, ["'W'", "weights.bin", "no such file|missing|cannot open"],
                     names_model=False)


@pytest.mark.parametrize("offset, length", [(None, None), (8, None), (None, 16), (16, 16)])
def test_external_data_too_short(tmp_path, offset, length):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes()[:12 if offset is None else 16])
    model = save_unchecked(tiny_model([external_tensor("w.bin", offset=offset, length=length)]), folder / "ext.onnx")
    expect_bad_model(model, tmp_path, ["w.bin", "holds 1[26] bytes"], extra_inputs=[folder / "w.bin"],
                     names_model=False)


def test_external_data_length_disagrees_with_shape(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "w.bin").write_bytes(bytes(64))
    model = save_unchecked(tiny_model([external_tensor("w.bin", length=12)]), folder / "ext.onnx")
    expect_bad_model(model, tmp_path, ["'W'", "length 12", "16"], extra_inputs=[folder / "w.bin"],
                     names_model=False)


@pytest.mark.parametrize("key", ["offset", "length"])
def test_external_data_offset_not_a_number(tmp_path, key):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "w.bin").write_bytes(bytes(64))
    t = external_tensor("w.bin", **{key: "abc"})
    model = save_unchecked(tiny_model([t]), folder / "ext.onnx")
    expect_bad_model(model, tmp_path, ["'W'", key], extra_inputs=[folder / "w.bin"], names_model=False)


@pytest.mark.parametrize("dtype, dims", [(TensorProto.FLOAT, [2**62, 2]), (TensorProto.FLOAT, [2**32, 2**32]),
                                         (TensorProto.STRING, [2**62, 2])], ids=["float_neg", "float_wrap0", "string"])
def test_dims_overflow(tmp_path, dtype, dims):
    t = TensorProto()
    t.name, t.data_type = "W", dtype
    t.dims.extend(dims)
    if dtype != TensorProto.STRING:
        t.raw_data = b""
    model = save_unchecked(tiny_model([t]), tmp_path / "in" / "overflow.onnx")
    expect_bad_model(model, tmp_path, ["'W'"], names_model=False)


def test_tensor_errors_name_the_model_file(tmp_path):
    w = numpy_helper.from_array(np.ones(4, np.float32), "W")
    w.raw_data = w.raw_data[:-4]
    model = save_unchecked(tiny_model([w]), tmp_path / "in" / "short_raw.onnx")
    expect_bad_model(model, tmp_path, ["'W'"], names_model=True)


# ----------------------------------------------------------------------------------------------
# Output paths
# ----------------------------------------------------------------------------------------------

def test_output_in_missing_folder(tmp_path):
    model = copy_model("mlp", tmp_path / "in")
    missing = tmp_path / "missing" / "deeper"
    expect(["convert", model, "-o", missing / "out.onnx"], IO_ERROR, [re.escape(str(missing)), "does not exist"],
           [model], [tmp_path, model.parent])
    assert not missing.exists()


def test_output_under_a_file(tmp_path):
    model = copy_model("mlp", tmp_path / "in")
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    expect(["convert", model, "-o", plain / "out.onnx"], IO_ERROR, [re.escape(str(plain)), "not a folder"],
           [model, plain], [tmp_path, model.parent])


@pytest.mark.parametrize("trailing_slash", [False, True])
def test_output_is_a_folder(tmp_path, trailing_slash):
    model = copy_model("mlp", tmp_path / "in")
    folder = tmp_path / "out"
    folder.mkdir()
    out = str(folder) + ("/" if trailing_slash else "")
    expect(["convert", model, "-o", out], IO_ERROR, ["folder|directory"], [model], [tmp_path, folder, model.parent])
    assert folder.is_dir()


@pytest.mark.parametrize("external", ["never", "always"])
def test_output_dev_full(tmp_path, external):
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode), "/dev/full is not a character device before the test"
    model = copy_model("mlp", tmp_path / "in")
    expect(["convert", model, "-o", "/dev/full", "--external-data", external], IO_ERROR, ["/dev/full"],
           [model], [model.parent])
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode), "/dev/full is no longer a character device"
    assert not Path("/dev/full.data").exists()
    assert not [e for e in os.listdir("/dev") if "scalec-tmp" in e], "temp file left in /dev"


def _device_clone(folder: Path, name: str, minor: int) -> Path:
    """A private copy of /dev/null (minor 3) or /dev/full (minor 7), so no system device is at risk."""
    path = folder / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        os.close(os.open(path, os.O_WRONLY))  # a device cgroup may allow mknod but not opening it
    except PermissionError:
        pytest.skip("creating or opening a device node is not permitted here")
    return path


def test_output_device_clone(tmp_path):
    """convert to a character device writes through it and leaves the device node in place."""
    model = copy_model("mlp", tmp_path / "in")
    dev = tmp_path / "dev"
    dev.mkdir()
    full = _device_clone(dev, "full", 7)
    null = _device_clone(dev, "null", 3)
    expect(["convert", model, "-o", full], IO_ERROR, ["no space"], [model])
    expect(["convert", model, "-o", null], OK, [], [model])
    assert stat.S_ISCHR(os.stat(full).st_mode) and stat.S_ISCHR(os.stat(null).st_mode)
    assert listing(dev) == ["full", "null"]


def test_report_in_missing_folder(tmp_path):
    model = copy_model("mlp", tmp_path / "in")
    expect(["inspect", model, "--report", tmp_path / "missing" / "r.json"], IO_ERROR, ["r.json"], [model],
           [tmp_path], stdout_empty=False)


def test_report_to_device_keeps_the_device(tmp_path):
    model = copy_model("mlp", tmp_path / "in")
    dev = tmp_path / "dev"
    dev.mkdir()
    null = _device_clone(dev, "null", 3)
    full = _device_clone(dev, "full", 7)
    rc_null, _, err_null = run_scalec("inspect", model, "--report", null)
    rc_full, _, err_full = run_scalec("inspect", model, "--report", full)
    kinds = {p.name: stat.S_ISCHR(os.stat(p).st_mode) for p in (null, full)}
    assert kinds == {"null": True, "full": True}, f"device nodes replaced: {kinds}"
    assert (rc_null, rc_full) == (OK, IO_ERROR), (err_null, err_full)
    assert listing(dev) == ["full", "null"]


# ----------------------------------------------------------------------------------------------
# Output == input
# ----------------------------------------------------------------------------------------------

def test_output_equal_to_input_needs_in_place(tmp_path):
    model = copy_model("mlp", tmp_path / "in")
    link = tmp_path / "in" / "hardlink.onnx"
    os.link(model, link)
    for spelling in (model, tmp_path / "in" / "." / "mlp.onnx", link):
        expect(["convert", model, "-o", spelling], USAGE, ["in-place"], [model], [model.parent])


def test_in_place(tmp_path):
    model = copy_model("mlp", tmp_path / "in")
    original = onnx.load(str(model))
    rc, out, err = expect(["convert", model, "-o", model, "--in-place"], OK, [], [], [])
    assert listing(model.parent) == ["mlp.onnx"], "temp files left beside the model"
    converted = onnx.load(str(model))
    onnx.checker.check_model(converted)
    assert {p.key: p.value for p in converted.metadata_props}.get("scalec.version")
    assert [t.name for t in converted.graph.initializer] == [t.name for t in original.graph.initializer]
    for a, b in zip(original.graph.initializer, converted.graph.initializer):
        assert np.array_equal(numpy_helper.to_array(a), numpy_helper.to_array(b))
    rc, out, err = run_scalec("inspect", "--json", model)
    assert rc == OK, err


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def _subcommands() -> list[str]:
    rc, out, err = run_scalec("--help")
    assert rc == OK, err
    section = out.split("Subcommands:", 1)
    assert len(section) == 2, f"--help lists no subcommands:\n{out}"
    names = re.findall(r"^\s{2}(\w[\w-]*)\s", section[1], re.MULTILINE)
    assert "inspect" in names and "convert" in names, out
    return names


def test_help_on_every_subcommand():
    rc, out, err = run_scalec("--help")
    assert rc == OK and "Usage" in out and "Exit codes" in out
    for name in _subcommands():
        for flag in ("--help", "-h"):
            rc, out, err = run_scalec(name, flag)
            assert_no_crash(rc, err)
            assert rc == OK, f"scalec {name} {flag}: rc {rc}\n{err}"
            assert f"scalec {name}" in out, f"scalec {name} {flag} prints no usage:\n{out}"


def test_version():
    rc, out, err = run_scalec("--version")
    assert rc == OK, err
    m = re.search(r"project\(scalec VERSION (\S+)", (REPO_ROOT / "CMakeLists.txt").read_text())
    assert m, "no project version in CMakeLists.txt"
    assert re.match(rf"scalec {re.escape(m.group(1))}\b", out.strip()), out


@pytest.mark.parametrize("args, needle", [
    ([], "subcommand"),
    (["inspect"], "model"),
    (["convert"], "model"),
    (["convert", "MODEL"], "output"),
    (["inspect", "MODEL", "--bogus"], "--bogus"),
    (["convert", "MODEL", "-o", "OUT", "--external-data", "sometimes"], "sometimes"),
    (["convert", "MODEL", "-o", "OUT", "--external-threshold", "abc"], "external-threshold"),
    (["frobnicate"], ""),
], ids=["nothing", "inspect_no_model", "convert_no_model", "convert_no_output", "unknown_option",
        "bad_choice", "bad_number", "unknown_subcommand"])
def test_usage_errors(tmp_path, args, needle):
    model = copy_model("mlp", tmp_path / "in")
    args = [str(model) if a == "MODEL" else str(tmp_path / "out.onnx") if a == "OUT" else a for a in args]
    expect(args, USAGE, [re.escape(needle)] if needle else [], [model], [tmp_path, model.parent])


def test_unknown_subcommand_is_named():
    rc, out, err = run_scalec("frobnicate")
    assert rc == USAGE
    assert "frobnicate" in err, err


def test_negative_threshold_is_a_usage_error(tmp_path):
    model = copy_model("mlp", tmp_path / "in")
    expect(["convert", model, "-o", tmp_path / "out.onnx", "--external-threshold", "-5"], USAGE, [], [model],
           [tmp_path])


# ----------------------------------------------------------------------------------------------
# New-format models load
# ----------------------------------------------------------------------------------------------

def test_opset21_ir10_int4_model_loads(tmp_path):
    """onnx 1.17: opset 21, IR 10, an INT4 initializer dequantized by DequantizeLinear."""
    w = helper.make_tensor("W", TensorProto.INT4, [2, 3], [-8, -1, 0, 1, 5, 7])
    scale = numpy_helper.from_array(np.array(0.5, np.float32), "scale")
    node = helper.make_node("DequantizeLinear", ["W", "scale"], ["Y"])
    model_proto = tiny_model([w, scale], opset=21, ir=10, nodes=[node],
                             outputs=[helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 3])])
    onnx.checker.check_model(model_proto, full_check=True)
    model = tmp_path / "int4.onnx"
    onnx.save(model_proto, str(model))
    rc, out, err = run_scalec("inspect", "--json", model)
    assert rc == OK, err
    report = json.loads(out)
    assert report["ir_version"] == 10 and report["opsets"]["ai.onnx"] == 21
    assert report["op_histogram"] == {"DequantizeLinear": 1}
    assert report["parameters"] == 1 and report["bytes"] == 3 + 4  # 6 int4 packed in 3 bytes + one float
    out_model = tmp_path / "out" / "int4.onnx"
    out_model.parent.mkdir()
    rc, _, err = run_scalec("convert", model, "-o", out_model)
    assert rc == OK, err
    again = onnx.load(str(out_model))
    onnx.checker.check_model(again, full_check=True)
    assert numpy_helper.to_array(again.graph.initializer[0]).tolist() == [[-8, -1, 0], [1, 5, 7]]


@pytest.mark.parametrize("command,option,default", [
    ("finetune", "--lr", "0.01"), ("finetune", "--epochs", "1"), ("finetune", "--optimizer", "sgd"),
    ("quantize", "--method", "mse"), ("quantize", "--bits", "8"), ("quantize", "--format", "auto"),
    ("prune", "--sparsity", "0.5"), ("prune", "--round-to", "auto"),
])
def test_help_shows_defaults(command, option, default):
    """--help names each option's default, as issue 23 asks (what lr does finetune use?)."""
    rc, out, err = run_scalec(command, "--help")
    assert rc == 0, err
    line = next((l for l in out.splitlines() if l.strip().startswith(option + " ")), None)
    assert line is not None, out
    assert re.search(r"=" + re.escape(default) + r"(\s|$)", line), line


def test_quiet_and_verbose_after_the_command(tmp_path):
    """-q keeps stderr to warnings and errors, -v adds debug lines; both may follow the command."""
    model, data = TEST_MODELS_DIR / "lenet_digits.onnx", TEST_MODELS_DIR / "digits_val.npz"
    logs = {}
    for flag in ("", "-q", "-v"):
        rc, out, err = run_scalec("infer", model, "--data", data, "-o", tmp_path / "y.npz", *([flag] if flag else []))
        assert rc == 0, err
        logs[flag] = err
    assert "info:" in logs[""] and "debug:" not in logs[""]
    assert logs["-q"].strip() == ""
    assert "debug:" in logs["-v"] and "info:" in logs["-v"]
    rc, _, err = run_scalec("infer", model, "--data", data, "-o", tmp_path / "y.npz", "-q", "-v")
    assert rc == 1 and "excludes" in err
