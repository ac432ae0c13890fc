"""The documents the code and the README point at are in the repository (a clone has no design notes beside it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"\b((?:docs|benchmarks|tests|examples)/[\w./-]+\.(?:md|py|txt))\b|\]\(([\w./-]+)\)")


def test_every_cited_document_exists() -> None:
    missing = []
    files = [
        ROOT / "README.md",
        *ROOT.glob("docs/*.md"),
        *(p for d in ("hls", "backends", "algorithms", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py")),
    ]
    for path in files:
        for m in CITED.finditer(path.read_text()):
            cited = m.group(1) or (m.group(2) if path.suffix == ".md" else None)
            if cited and "://" not in cited and not cited.startswith("#") and not (ROOT / cited).exists():
                missing.append(f"{path.relative_to(ROOT)} cites {cited}")
    assert not missing, "\n".join(missing)


def test_algorithm_definitions_are_in_the_repository() -> None:
    text = (ROOT / "docs" / "ALGORITHMS.md").read_text()
    for name in ("Naive", "Online softmax", "A-shape", "vertical-slash"):
        assert name.lower() in text.lower(), name
