"""scripts/images-to-npz (issue 23 item 5): a folder of images becomes the .npz scalec reads. The
digits validation set written out as PNG files, converted back, evaluates as the original does."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from conftest import REPO_ROOT, TEST_MODELS_DIR, run_scalec

SCRIPT = REPO_ROOT / "scripts" / "images-to-npz"
DEBIAN_PYTHON = "/usr/bin/python3"
LENET = TEST_MODELS_DIR / "lenet_digits.onnx"


def write_pngs(folder, x, names):
    """x: [N, 1, 8, 8] in [0, 1]; names: relative paths. Written by Debian's Python (python3-pil)."""
    npy = folder / "pixels.npy"
    np.save(npy, np.round(x[:, 0] * 255).astype(np.uint8))
    code = ("import sys, json, numpy as np; from PIL import Image; from pathlib import Path\n"
            "a = np.load(sys.argv[1]); names = json.loads(sys.argv[2]); root = Path(sys.argv[3])\n"
            "for img, n in zip(a, names):\n"
            "    (root / n).parent.mkdir(parents=True, exist_ok=True); Image.fromarray(img, 'L').save(root / n)\n")
    subprocess.run([DEBIAN_PYTHON, "-c", code, str(npy), json.dumps(names), str(folder / "images")], check=True)
    npy.unlink()
    return folder / "images"


def convert(*args):
    return subprocess.run([DEBIAN_PYTHON, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def accuracy(data) -> float:
    rc, out, err = run_scalec("eval", LENET, "--data", data, "--report", "-")
    assert rc == 0, err
    return json.loads(out)["top1"]


@pytest.fixture(scope="module")
def digits_val():
    d = np.load(TEST_MODELS_DIR / "digits_val.npz")
    return d["input"], d["labels"]


def test_class_folders_become_inputs_and_labels_that_evaluate_like_the_original(tmp_path, digits_val):
    x, y = digits_val
    names = [f"digit{label}/{i:04d}.png" for i, label in enumerate(y)]
    images = write_pngs(tmp_path, x, names)
    p = convert(images, "-o", tmp_path / "digits.npz", "--size", "8x8", "--channels", "1", "--val-fraction", 0.25)
    assert p.returncode == 0, p.stderr
    assert "wrote" in p.stdout and "[N, 1, 8, 8]" in p.stdout
    train, val = np.load(tmp_path / "digits.npz"), np.load(tmp_path / "digits.val.npz")
    assert len(train["labels"]) + len(val["labels"]) == len(y) and len(val["labels"]) == len(y) // 4
    assert json.loads((tmp_path / "digits.classes.json").read_text()) == [f"digit{k}" for k in range(10)]
    # Files are read in sorted order: digit0/..., digit1/...; the labels follow the folders.
    order = sorted(range(len(y)), key=lambda i: names[i])
    whole_x = np.concatenate([train["input"], val["input"]])
    assert np.abs(np.sort(whole_x.ravel()) - np.sort(x.ravel())).max() <= 0.5 / 255 + 1e-6
    both = subprocess.run([DEBIAN_PYTHON, str(SCRIPT), images, "-o", tmp_path / "all.npz", "--size", "8x8", "--channels", "1"],
                          capture_output=True, text=True, timeout=300)
    assert both.returncode == 0, both.stderr
    converted = np.load(tmp_path / "all.npz")
    assert np.array_equal(converted["labels"], y[order])
    assert np.abs(converted["input"] - x[order]).max() <= 0.5 / 255 + 1e-6
    original = tmp_path / "original.npz"
    np.savez(original, input=x, labels=y)
    assert accuracy(tmp_path / "all.npz") == pytest.approx(accuracy(original), abs=1 / len(y))


def test_a_labels_file_names_classes_and_bad_input_is_refused(tmp_path, digits_val):
    x, y = digits_val
    names = [f"{i:03d}.png" for i in range(20)]
    images = write_pngs(tmp_path, x[:20], names)
    csv = tmp_path / "labels.csv"
    csv.write_text("file,label\n" + "".join(f"{n},{'odd' if y[i] % 2 else 'even'}\n" for i, n in enumerate(names[:18])))
    p = convert(images, "-o", tmp_path / "d.npz", "--labels", csv, "--size", "8x8", "--channels", "1")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("has no label") == 2  # the two images the file does not list are skipped, said so
    d = np.load(tmp_path / "d.npz")
    assert list(d["labels"]) == [int(y[i] % 2 == 1) for i in range(18)]  # "even" = 0, "odd" = 1 (sorted)
    csv.write_text("missing.png,1\n")
    p = convert(images, "-o", tmp_path / "e.npz", "--labels", csv, "--size", "8x8", "--channels", "1")
    assert p.returncode == 2 and "missing.png" in p.stderr and not (tmp_path / "e.npz").exists()
    p = convert(tmp_path / "nowhere", "-o", tmp_path / "f.npz")
    assert p.returncode == 2 and "not a folder" in p.stderr
    p = convert(images, "-o", tmp_path / "g.npz", "--size", "eight")
    assert p.returncode == 2 and "--size" in p.stderr
