"""Packaging (issue 23 item 4): `cpack -G DEB` in the build folder makes a .deb whose Depends name the
package of every shared library the binary needs (checked with ldd on the unpacked binary, which
runs); scripts/test also installs it with dpkg -i and runs it (SCALEC_TEST_DPKG_INSTALL=1, as root)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT, scalec_bin_path


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    if not shutil.which("cpack") or not shutil.which("dpkg-deb"):
        pytest.skip("cpack or dpkg-deb missing")
    build = scalec_bin_path().resolve().parent.parent
    out = tmp_path_factory.mktemp("deb")
    r = run("cpack", "-G", "DEB", "-B", out, cwd=build)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = list(out.glob("scalec_*_amd64.deb"))
    assert len(debs) == 1, list(out.iterdir())
    return debs[0]


def owner(lib: str) -> str | None:
    for path in {lib, os.path.realpath(lib), os.path.realpath(lib).replace("/usr/lib/", "/lib/", 1)}:
        r = run("dpkg", "-S", path)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


def test_the_deb_names_every_library_the_binary_needs_and_runs_unpacked(deb, tmp_path):
    depends = run("dpkg-deb", "-f", deb, "Depends").stdout
    names = {d.split()[0] for d in depends.split(", ") if d.strip()}
    r = run("dpkg-deb", "-x", deb, tmp_path)
    assert r.returncode == 0, r.stderr
    binary = tmp_path / "usr" / "bin" / "scalec"
    assert binary.exists(), list(tmp_path.rglob("*"))
    ldd = run("ldd", binary).stdout
    assert "not found" not in ldd, ldd
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
    needed = [n for n in re.findall(r"NEEDED\s+(\S+)", run("objdump", "-p", binary).stdout)  # direct dependencies
              if not n.startswith("ld-linux")]
    assert needed and all(n in resolved for n in needed), (needed, ldd)
    missing = []
    for lib in needed:
        package = owner(resolved[lib])
        if not package:
            continue
        provides = run("dpkg-query", "-W", "-f=${Provides}", package).stdout
        if package not in names and not names & {p.split()[0] for p in provides.split(", ") if p.strip()}:
            missing.append(f"{lib} ({package})")
    assert not missing, f"Depends ({depends}) lacks {missing}"
    for needed in ["libprotobuf32", "libonnx1", "libyaml-cpp0.7", "libzip4"]:
        assert needed in names, depends
    version = run(binary, "--version")
    assert version.returncode == 0 and version.stdout.startswith("scalec 0."), version.stdout + version.stderr
    inspect = run(binary, "inspect", REPO_ROOT / "test_models" / "lenet_digits.onnx")
    assert inspect.returncode == 0 and "parameters   13,706" in inspect.stdout


@pytest.mark.skipif(os.environ.get("SCALEC_TEST_DPKG_INSTALL") != "1" or os.geteuid() != 0,
                    reason="installs into the system: scripts/test sets SCALEC_TEST_DPKG_INSTALL=1 (as root)")
def test_dpkg_installs_the_package_and_it_runs(deb):
    r = run("dpkg", "-i", deb)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        v = run("/usr/bin/scalec", "--version")
        assert v.returncode == 0 and v.stdout.startswith("scalec "), v.stdout + v.stderr
    finally:
        run("dpkg", "-r", "scalec")
