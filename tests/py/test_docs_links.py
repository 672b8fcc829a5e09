"""The README is a front door (issue 23 item 5): every relative link in README.md, docs/ and bench/
points at a file of this repository, and none leaves it."""
from __future__ import annotations

import re

from conftest import REPO_ROOT


def test_every_relative_link_resolves_inside_the_repository():
    files = [REPO_ROOT / "README.md", REPO_ROOT / "bench" / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")),
             *sorted((REPO_ROOT / "bench" / "results").glob("*.md"))]
    bad = []
    for f in files:
        for target in re.findall(r"\]\(([^)\s]+)\)", f.read_text()):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            path = (f.parent / target.split("#")[0]).resolve()
            if not path.exists() or REPO_ROOT.resolve() not in path.parents:
                bad.append(f"{f.relative_to(REPO_ROOT)}: {target}")
    assert not bad, bad
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 200  # a front door, not the manual
