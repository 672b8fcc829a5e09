"""Pipelines for CI (issue 22): the examples of docs/pipelines.md run as written — a YAML pipeline
end to end with a passing gate (exit 0) and a missed one (exit 3, outputs still written), the same
pipeline as pass text, the design card's forms with default output names — plus the errors a
pipeline file can hold (exit 2 with file:line:column, before any work)."""
from __future__ import annotations

import json
import re
import shlex
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import REPO_ROOT, run_scalec

DOC = (REPO_ROOT / "docs" / "pipelines.md").read_text()
MODELS = REPO_ROOT / "test_models"


def doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.S)


def doc_commands() -> list[list[str]]:
    return [shlex.split(line) for block in doc_blocks("sh") for line in block.splitlines() if line.startswith("scalec ")]


@pytest.fixture
def folder(tmp_path):
    for name in ["lenet_digits.onnx", "digits_train.npz", "digits_val.npz"]:
        shutil.copy(MODELS / name, tmp_path / name)
    (tmp_path / "pipeline.yaml").write_text(doc_blocks("yaml")[0])
    return tmp_path


def run_doc(folder, args):
    assert args[0] == "scalec"
    return run_scalec(*args[1:], cwd=folder, timeout=300)


def ort_accuracy(path, data):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    d = np.load(data)
    name = s.get_inputs()[0].name
    return float((s.run(None, {name: d[name]})[0].argmax(1) == d["labels"]).mean())


def test_docs_hold_the_examples_the_tests_run():
    cmds = doc_commands()
    assert [c[1] for c in cmds] == ["run", "run", "run", "quantize", "prune", "quantize"], cmds
    assert "stages:" in doc_blocks("yaml")[0] and "gates:" in doc_blocks("yaml")[0]


def test_yaml_pipeline_passes_its_gates_and_writes_what_it_measured(folder):
    rc, out, err = run_doc(folder, doc_commands()[0])
    assert rc == 0, err
    report = json.loads((folder / "run.json").read_text())
    assert [s["stage"] for s in report["stages"]] == ["prune", "quantize", "eval"]
    assert {g["gate"]: g["passed"] for g in report["gates"]} == {"max-accuracy-drop": True, "max-size": True}
    size = next(g for g in report["gates"] if g["gate"] == "max-size")["measured"]
    assert size == (folder / "lenet.small.onnx").stat().st_size  # no external data here
    # The eval stage's figure is what ONNX Runtime measures on the written model.
    top1 = report["stages"][2]["top1"]
    assert abs(ort_accuracy(folder / "lenet.small.onnx", folder / "digits_val.npz") - top1) <= 1 / 360 + 1e-9
    drop = next(g for g in report["gates"] if g["gate"] == "max-accuracy-drop")["measured"]
    assert abs(drop - 100 * (ort_accuracy(folder / "lenet_digits.onnx", folder / "digits_val.npz") - top1)) < 0.3
    # keep: wrote the quantize stage's model too; the provenance lists every pass applied, in order.
    kept = onnx.load(str(folder / "lenet.int8.onnx"))
    passes = {p.key: p.value for p in onnx.load(str(folder / "lenet.small.onnx")).metadata_props}["scalec.passes"]
    assert passes == report["pipeline"]
    assert re.match(r"prune<.*>,train<epochs=2;.*>,remove-dropout,share-initializers,fold-batchnorm,"
                    r"bias-correction<.*>,quantize-qdq<bits=7;.*>$", passes), passes
    assert any(n.op_type == "QuantizeLinear" for n in kept.graph.node)
    assert "== stage 3: eval ==" in out and "gate max-size" in out


def test_a_missed_gate_exits_3_and_still_writes_the_outputs(folder):
    rc, out, err = run_doc(folder, doc_commands()[1] + ["--report", "r.json"])
    assert rc == 3, err
    assert "gate missed: max-size" in err and "MISSED" in out
    report = json.loads((folder / "r.json").read_text())
    missed = [g for g in report["gates"] if not g["passed"]]
    assert [g["gate"] for g in missed] == ["max-size"] and missed[0]["limit"] == 10000
    assert (folder / "lenet.small.onnx").exists()


def test_pass_text_runs_the_same_pipeline(folder):
    rc, out, err = run_doc(folder, doc_commands()[2])
    assert rc == 0, err
    m = onnx.load(str(folder / "lenet.small.onnx"))
    onnx.checker.check_model(m)
    assert ort_accuracy(folder / "lenet.small.onnx", folder / "digits_val.npz") > 0.95
    rc, printed, err = run_scalec("run", folder / "pipeline.yaml", "--print-pipeline")
    assert rc == 0, err
    assert printed.strip().endswith(",eval") and "quantize-qdq<" in printed


def test_mixed_precision_example_keeps_layers_at_8_bits_within_the_target(folder):
    rc, out, err = run_doc(folder, doc_commands()[3])
    assert rc == 0, err
    # The page's figures: 45.6 points lost at 2 bits, 5 assignments measured, all four layers int8.
    assert "top-1 drop 0.00 points (accuracy) within target 1.00, 4 promotions, 5 evaluations" in out
    assert "all at 2 bits -> drop 45.56 points" in err
    assert ort_accuracy(folder / "lenet_digits.int2.onnx", folder / "digits_val.npz") >= \
        ort_accuracy(folder / "lenet_digits.onnx", folder / "digits_val.npz") - 0.01


def test_design_card_forms_write_beside_the_input(folder):
    prune, quantize = doc_commands()[4], doc_commands()[5]
    before = (folder / "lenet_digits.onnx").read_bytes()
    rc, out, err = run_doc(folder, prune)
    assert rc == 0, err
    rc, out, err = run_doc(folder, quantize)
    assert rc == 0, err
    assert (folder / "lenet_digits.onnx").read_bytes() == before
    assert "no --calib" in err and "dynamically" in err
    q = onnx.load(str(folder / "lenet_digits.int8.onnx"))
    ops = [n.op_type for n in q.graph.node]
    assert ops.count("MatMulInteger") == 2 and ops.count("DequantizeLinear") == 2  # Gemm layers dynamic, Conv weights int8
    assert ort_accuracy(folder / "lenet_digits.int8.onnx", folder / "digits_val.npz") > 0.97
    p = onnx.load(str(folder / "lenet_digits.pruned.onnx"))
    assert {x.key for x in p.metadata_props} >= {"scalec.version", "scalec.passes"}
    # Fewer bits without calibration data: weights only, named <stem>.int4.onnx.
    rc, out, err = run_scalec("quantize", "--bits", "4", folder / "lenet_digits.onnx")
    assert rc == 0, err
    assert (folder / "lenet_digits.int4.onnx").exists()


@pytest.mark.parametrize("text, where, what", [
    ("model: lenet_digits.onnx\nstages:\n  - quantize: {bitz: 8}\n", "3:5", "no option 'bitz'"),
    ("model: lenet_digits.onnx\nstages:\n  - quantize: {bits: 8\n", "4:1", "YAML error"),
    ("model: lenet_digits.onnx\nstagez: []\n", "2:1", "unknown key 'stagez'"),
    ("model: lenet_digits.onnx\nstages:\n  - squash\n", "3:5", "unknown pass 'squash'"),
    ("model: lenet_digits.onnx\nstages:\n  - quantize: {format: qdq}\n", "3:5", "needs calibration data"),
    ("model: lenet_digits.onnx\nstages:\n  - quantize: {bits: eight}\n", "3:5", "--bits"),
    ("model: lenet_digits.onnx\nstages:\n  - prune\n  - quantize: {gptq: maybe}\n", "4:5", "is a flag"),
    ("model: lenet_digits.onnx\nstages:\n  - eval\ngates: {max-size: big}\n", "4:19", "takes a number"),
])
def test_pipeline_file_errors_name_file_line_and_column_before_any_work(folder, text, where, what):
    (folder / "bad.yaml").write_text(text)
    rc, out, err = run_scalec("run", folder / "bad.yaml", "-o", folder / "out.onnx")
    assert rc == 2, err
    assert f"bad.yaml:{where}" in err and what in err, err
    assert not (folder / "out.onnx").exists()


def test_pass_text_errors_are_usage_errors(folder):
    for text, what in [("quantize<bits=8", "without its '>'"), ("prune<sparsty=0.5>", "no option 'sparsty'"),
                       ("quantize-qdq<bits=x>", "is not an integer")]:
        rc, out, err = run_scalec("run", folder / "lenet_digits.onnx", "--passes", text, "-o", folder / "o.onnx")
        assert rc == 1 and what in err, (text, err)
    rc, out, err = run_scalec("run", folder / "lenet_digits.onnx")
    assert rc == 1 and "--passes" in err
    rc, out, err = run_scalec("run", folder / "pipeline.yaml", "-o", folder / "lenet_digits.onnx")
    assert rc == 1 and "input model" in err


def test_target_opset_upgrades_explicitly_and_never_downgrades(folder):
    rc, out, err = run_scalec("quantize", folder / "lenet_digits.onnx", "--calib", folder / "digits_val.npz",
                              "--target-opset", "19", "-o", folder / "q19.onnx")
    assert rc == 0, err
    m = onnx.load(str(folder / "q19.onnx"))
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [19]
    assert {p.key: p.value for p in m.metadata_props}["scalec.passes"].endswith(",upgrade-opset<opset=19>")
    assert ort_accuracy(folder / "q19.onnx", folder / "digits_val.npz") > 0.97
    rc, out, err = run_scalec("run", folder / "pipeline.yaml", "--target-opset", "11", "-o", folder / "o11.onnx")
    assert rc == 1 and "does not downgrade" in err and "stage 1" not in err
    assert not (folder / "o11.onnx").exists()


@pytest.mark.parametrize("command", [["prune", "--method", "channel", "--sparsity", "0.5"], ["prune", "--sparsity", "0.6"],
                                     ["quantize", "--calib", "digits_val.npz"]])
def test_a_commands_printed_pipeline_replays_to_the_same_model(folder, command):
    """--print-pipeline is the exact expansion: `scalec run --passes` on it writes the same graph."""
    rc, text, err = run_scalec(command[0], "lenet_digits.onnx", *command[1:], "--print-pipeline", cwd=folder)
    assert rc == 0, err
    rc, out, err = run_scalec(command[0], "lenet_digits.onnx", *command[1:], "-o", "direct.onnx", cwd=folder)
    assert rc == 0, err
    rc, out, err = run_scalec("run", "lenet_digits.onnx", "--passes", text.strip(), "--calib", "digits_val.npz",
                              "-o", "replayed.onnx", cwd=folder)
    assert rc == 0, err
    a, b = onnx.load(str(folder / "direct.onnx")), onnx.load(str(folder / "replayed.onnx"))
    assert a.graph == b.graph
    assert {p.key: p.value for p in a.metadata_props} == {p.key: p.value for p in b.metadata_props}
