"""--html (issue 23 item 2): a self-contained page whose charts are svg elements with data-chart,
rendered by headless Chromium (Debian's chromium: --headless --dump-dom after its inline script
ran), with a screenshot kept under the build folder's test-artifacts/."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import TEST_MODELS_DIR, run_scalec, scalec_bin_path

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium missing (scripts/install-deps installs it)")
LENET = TEST_MODELS_DIR / "lenet_digits.onnx"
TRAIN, VAL = TEST_MODELS_DIR / "digits_train.npz", TEST_MODELS_DIR / "digits_val.npz"


def render(page, screenshot=None) -> str:
    """The DOM Chromium built from `page` (its inline script has run)."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"]
    p = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    if screenshot:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([CHROMIUM, *flags, f"--screenshot={screenshot}", "--window-size=800,1600", page.as_uri()],
                       capture_output=True, timeout=120, check=True)
        assert screenshot.stat().st_size > 10_000
    return p.stdout


def charts(dom: str) -> list[str]:
    return re.findall(r'<svg data-chart="([a-z-]+)"', dom)


def test_prune_with_recovery_charts_sparsity_accuracy_and_training(tmp_path):
    page = tmp_path / "prune.html"
    rc, _, err = run_scalec("prune", LENET, "--sparsity", 0.8, "--data", TRAIN, "--val", VAL, "--epochs", 2, "-q",
                            "-o", tmp_path / "p.onnx", "--html", page)
    assert rc == 0, err
    html = page.read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html  # no network
    artifacts = scalec_bin_path().parent.parent / "test-artifacts"
    dom = render(page, artifacts / "prune-report.png")
    assert charts(dom) == ["layer-sparsity", "accuracy-size", "training-curves", "training-accuracy"]
    assert 'data-charts="4"' in dom  # the inline script ran
    # One bar per layer; the pruned layers at 80.0%.
    sparsity_svg = dom.split('data-chart="layer-sparsity"')[1].split("</svg>")[0]
    assert sparsity_svg.count("<rect") == 4 and sparsity_svg.count(">80.0%<") == 2


def test_sensitivity_and_compare_chart_what_they_measure(tmp_path):
    rc, _, err = run_scalec("sensitivity", LENET, "--data", VAL, "--bits", 3, "-q", "--html", tmp_path / "s.html")
    assert rc == 0, err
    assert charts(render(tmp_path / "s.html")) == ["sensitivity"]
    rc, _, err = run_scalec("quantize", LENET, "--calib", TRAIN, "-q", "-o", tmp_path / "q.onnx")
    assert rc == 0, err
    rc, _, err = run_scalec("compare", LENET, tmp_path / "q.onnx", "--data", VAL, "-q", "--html", tmp_path / "c.html")
    assert rc == 0, err
    dom = render(tmp_path / "c.html")
    assert charts(dom) == ["quantization-error", "accuracy-size"]
    assert "dB" in dom.split('data-chart="quantization-error"')[1].split("</svg>")[0]


def test_a_report_without_figures_says_so_and_bad_paths_fail_cleanly(tmp_path):
    rc, _, err = run_scalec("inspect", LENET, "--html", tmp_path / "i.html")
    assert rc == 0, err
    dom = render(tmp_path / "i.html")
    assert charts(dom) == [] and "no per-layer, per-value or per-epoch figures" in dom
    rc, _, err = run_scalec("eval", LENET, "--data", VAL, "--html", tmp_path / "missing" / "e.html")
    assert rc == 4 and "--html" in err
    rc, _, err = run_scalec("eval", LENET, "--data", VAL, "--html", LENET)
    assert rc == 1 and not err.count("Traceback")


def test_a_pipeline_charts_its_prune_stage_and_training(tmp_path):
    rc, _, err = run_scalec("run", LENET, "--passes", "prune<sparsity=0.5;epochs=2>,quantize<bits=8>", "--data", TRAIN,
                            "--val", VAL, "--calib", TRAIN, "-q", "-o", tmp_path / "r.onnx", "--html", tmp_path / "r.html")
    assert rc == 0, err
    assert charts(render(tmp_path / "r.html")) == ["layer-sparsity", "training-curves", "training-accuracy"]
