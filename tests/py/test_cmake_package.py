"""The C++ library (issue 23 item 4): `cmake --install` puts static libraries, headers and a CMake
package in place; a separate project finds it with find_package(scalec), links scalec::scalec,
and its program loads, canonicalizes, runs a pipeline and saves a model ONNX Runtime runs."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from conftest import REPO_ROOT, TEST_MODELS_DIR, scalec_bin_path

CONSUMER = REPO_ROOT / "tests" / "package_consumer"


def run(*cmd, timeout=900):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="module")
def compress(tmp_path_factory) -> Path:
    """The consumer program, built against scalec installed into a fresh prefix."""
    build_dir = scalec_bin_path().parent.parent
    if not (build_dir / "CMakeCache.txt").exists():
        pytest.skip(f"{build_dir} is not a CMake build folder")
    tmp = tmp_path_factory.mktemp("package")
    prefix = tmp / "prefix"
    run("cmake", "--install", build_dir, "--prefix", prefix)
    assert (prefix / "lib" / "cmake" / "scalec" / "scalecConfig.cmake").exists()
    assert (prefix / "include" / "scalec" / "scalec.h").exists()
    assert not list((prefix / "include").rglob("tensor_proto.h"))  # protobuf stays inside the library
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    launcher = ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []
    run("cmake", "-S", CONSUMER, "-B", tmp / "build", *generator, *launcher, f"-DCMAKE_PREFIX_PATH={prefix}",
        "-DCMAKE_BUILD_TYPE=Release")
    run("cmake", "--build", tmp / "build")
    return tmp / "build" / "compress"


def test_a_project_using_find_package_prunes_and_quantizes_a_model(compress, tmp_path):
    out = tmp_path / "lenet.compressed.onnx"
    p = run(compress, TEST_MODELS_DIR / "lenet_digits.onnx", out,
            "prune-magnitude<sparsity=0.5>,quantize-qdq<bits=8>", TEST_MODELS_DIR / "digits_train.npz")
    assert f"wrote {out}" in p.stdout
    m = onnx.load(str(out))
    ops = {n.op_type for n in m.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    meta = {q.key: q.value for q in m.metadata_props}
    assert meta["scalec.passes"].startswith("prune-magnitude<sparsity=0.5;") and "quantize-qdq<bits=8" in meta["scalec.passes"]
    # Half of the pruned layers' weights are zero (the int8 weights of the quantized model).
    zero_shares = [float((numpy_helper.to_array(t) == 0).mean()) for t in m.graph.initializer
                   if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert max(zero_shares) >= 0.49
    val = np.load(TEST_MODELS_DIR / "digits_val.npz")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    accuracy = float((sess.run(None, {"input": val["input"]})[0].argmax(1) == val["labels"]).mean())
    assert accuracy > 0.9


def test_the_library_reports_bad_input_with_the_command_lines_exit_code(compress, tmp_path):
    p = subprocess.run([str(compress), TEST_MODELS_DIR / "lenet_digits.onnx", tmp_path / "x.onnx", "no-such-pass"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode in (1, 2) and "no-such-pass" in p.stderr
    assert not (tmp_path / "x.onnx").exists()
