"""One report schema (issue 23 item 1): every command that writes --report writes JSON valid against
docs/report.schema.json (schema_version 2), with the common fields meaning the same everywhere; the
schema itself refuses reports that break it (so this test can fail)."""
from __future__ import annotations

import json
import re
import shutil

import jsonschema
import numpy as np
import pytest

from conftest import REPO_ROOT, run_scalec

SCHEMA = json.loads((REPO_ROOT / "docs" / "report.schema.json").read_text())
MODELS = REPO_ROOT / "test_models"
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    for name in ["lenet_digits.onnx", "digits_train.npz", "digits_val.npz"]:
        shutil.copy(MODELS / name, folder / name)
    return folder


def command_args(d) -> dict[str, list]:
    m, tr, va = d / "lenet_digits.onnx", d / "digits_train.npz", d / "digits_val.npz"
    (d / "p.yaml").write_text("model: lenet_digits.onnx\ndata: {train: digits_train.npz, val: digits_val.npz, "
                              "calib: digits_val.npz}\nstages:\n  - prune: {sparsity: 0.5}\n  - quantize\n  - eval\n"
                              "gates: {max-size: 100000, max-accuracy-drop: 5}\n")
    return {
        "inspect": [m],
        "eval": [m, "--data", va],
        "finetune": [m, "--data", tr, "--val", va, "--epochs", "1", "-o", d / "ft.onnx"],
        "distill": ["--teacher", m, "--student", d / "ft.onnx", "--data", tr, "--val", va, "--epochs", "1",
                    "-o", d / "ds.onnx"],
        "prune": [m, "--sparsity", "0.5", "--val", va, "-o", d / "pr.onnx"],
        "quantize": [m, "--calib", va, "--val", va, "--max-accuracy-drop", "2", "--max-size", "100000", "-o", d / "q.onnx"],
        "run": [d / "p.yaml", "-o", d / "run.onnx"],
        "compare": [m, d / "q.onnx", "--data", va, "--runs", "1"],
        "sensitivity": [m, "--data", va],
    }


def commands_with_report() -> set[str]:
    rc, out, err = run_scalec("--help")
    names = re.findall(r"^  (\w+)\s{2,}", out.split("Subcommands:")[1], re.M)
    with_report = set()
    for name in names:
        rc, text, err = run_scalec(name, "--help")
        if "--report" in text:
            with_report.add(name)
    return with_report


def test_every_command_with_a_report_is_checked_here(d):
    assert commands_with_report() == set(command_args(d)), "a command gained --report: add it to command_args"


@pytest.mark.parametrize("command", ["inspect", "eval", "finetune", "distill", "prune", "quantize", "run", "compare",
                                     "sensitivity"])
def test_report_is_valid_against_the_schema(d, command):
    args = command_args(d)
    if command == "distill" and not (d / "ft.onnx").exists():
        rc, out, err = run_scalec("finetune", *args["finetune"])
        assert rc == 0, err
    if command == "compare" and not (d / "q.onnx").exists():
        rc, out, err = run_scalec("quantize", *args["quantize"])
        assert rc == 0, err
    report = d / f"{command}.json"
    rc, out, err = run_scalec(command, *args[command], "--report", report, timeout=300)
    assert rc == 0, err
    r = json.loads(report.read_text())
    errors = sorted(VALIDATOR.iter_errors(r), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    assert r["command"] == command and r["schema_version"] == 2
    for role, path in r["inputs"].items():  # every input named is a file that exists
        assert (d / path).exists() or (REPO_ROOT / path).exists() or __import__("os").path.exists(path), (role, path)
    if "output_file" in r:
        assert __import__("os").path.getsize(r["output_file"]) == r["size"]["after_bytes"]


def test_the_schema_refuses_what_breaks_it(d):
    good = {"schema_version": 2, "command": "prune", "scalec_version": "0.1.0", "inputs": {"model": "m.onnx"},
            "seconds": 1.0, "peak_rss_bytes": 1, "output_file": "o.onnx", "pipeline": "prune-magnitude",
            "size": {"before_bytes": 10, "after_bytes": 5}}
    assert VALIDATOR.is_valid(good)
    for broken in [{**good, "schema_version": 1}, {k: v for k, v in good.items() if k != "output_file"},
                   {**good, "command": "squash"}, {**good, "inputs": {"weights": "w.onnx"}},
                   {**good, "accuracy": {"before": 98.6}}, {**good, "gates": [{"gate": "max-size", "limit": 1}]}]:
        assert not VALIDATOR.is_valid(broken), broken
