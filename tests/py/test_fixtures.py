"""test_models/manifest.json is current: fixture_version 1 and every listed file's sha256 matches.

A stale or hand-edited fixture must fail here with "re-run the generator", not later with a
confusing numeric mismatch in another test.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import TEST_MODEL_NAMES, TEST_MODELS_DIR, sha256_of

EXPECTED_FIXTURE_VERSION = 1
REGENERATE = "re-run the generator: /usr/bin/python3 test_models/generate.py"


def manifest_problems(folder: Path) -> list[str]:
    """Everything wrong with `folder`/manifest.json against the files beside it."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return [f"{manifest_path} is missing"]
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as e:
        return [f"{manifest_path} is not readable JSON: {e}"]
    problems = []
    version = manifest.get("fixture_version")
    if version != EXPECTED_FIXTURE_VERSION:
        problems.append(f"fixture_version is {version!r}, the tests expect {EXPECTED_FIXTURE_VERSION}")
    entries = []  # (relative path, sha256)
    models = manifest.get("models")
    if not isinstance(models, dict) or not models:
        problems.append("manifest lists no models")
        models = {}
    for name, info in models.items():
        if "file" not in info or "sha256" not in info:
            problems.append(f"model {name!r} has no file/sha256 entry")
            continue
        entries.append((info["file"], info["sha256"]))
    data = manifest.get("data")
    if not isinstance(data, dict) or not data:
        problems.append("manifest lists no data files")
        data = {}
    entries.extend(data.items())
    for rel, expected in entries:
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in manifest.json but missing")
            continue
        actual = sha256_of(path)
        if actual != expected:
            problems.append(f"{rel}: sha256 {actual} but manifest.json records {expected}")
    return problems


def check_manifest(folder: Path):
    problems = manifest_problems(folder)
    if problems:
        pytest.fail(f"test_models fixtures are stale or edited ({REGENERATE}):\n  " + "\n  ".join(problems),
                    pytrace=False)


def test_manifest_version_and_hashes():
    check_manifest(TEST_MODELS_DIR)


def test_manifest_lists_every_model_and_golden_file():
    manifest = json.loads((TEST_MODELS_DIR / "manifest.json").read_text())
    missing = [m for m in TEST_MODEL_NAMES if m not in manifest["models"]]
    for m in TEST_MODEL_NAMES:
        for suffix in ("in", "out"):
            rel = f"golden/{m}.{suffix}.npz"
            if rel not in manifest["data"]:
                missing.append(rel)
    assert not missing, f"manifest.json does not list {missing} ({REGENERATE})"
    unlisted = sorted(p.name for p in TEST_MODELS_DIR.glob("*.onnx")
                      if p.name not in {i["file"] for i in manifest["models"].values()})
    assert not unlisted, f"models in test_models/ that manifest.json does not list: {unlisted} ({REGENERATE})"


def test_mismatch_message_names_the_generator(tmp_path):
    """The check itself: an edited fixture and a wrong version fail with the regenerate hint."""
    copy = tmp_path / "test_models"
    shutil.copytree(TEST_MODELS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert manifest_problems(copy) == []
    with open(copy / "mlp.onnx", "r+b") as f:  # flip one byte
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["fixture_version"] = EXPECTED_FIXTURE_VERSION + 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "golden" / "mlp.in.npz").unlink()
    with pytest.raises(pytest.fail.Exception) as e:
        check_manifest(copy)
    text = str(e.value)
    assert REGENERATE in text
    assert "mlp.onnx: sha256" in text
    assert "fixture_version is 2" in text
    assert "golden/mlp.in.npz: listed in manifest.json but missing" in text
