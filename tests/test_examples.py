"""The tutorial (examples/tutorial.py) runs from a new pattern to verified hardware, as the README says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import backends

TUTORIAL = Path(__file__).resolve().parent.parent / "examples" / "tutorial.py"


def _load():  # noqa: ANN202 - a module
    spec = importlib.util.spec_from_file_location("attnhls_tutorial_test", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mask_matches_its_definition() -> None:
    tutorial = _load()
    mask = tutorial.dilated_mask(40)
    for i in range(40):
        for j in range(40):
            off = i - j
            assert mask[i, j] == (0 <= off < tutorial.LOCAL or (off >= tutorial.LOCAL and off % tutorial.DILATION == 0))


def test_the_tutorial_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    why = backends.available("myhdl")
    if why:
        pytest.skip(f"the tutorial's hardware steps need myhdl: {why}")
    tutorial = _load()
    assert tutorial.main(tmp_path, examples=5) == 0
    out = capsys.readouterr().out
    assert "never taken" in out  # the narrow check warns about the far keys ...
    assert "with N up to 24, as the warning suggests" in out and out.count("warning:") == 1  # ... the wide one not
    assert "equal to numpy: True" in out
    for name in ("dilated_mask.png", "hdl/report.html", "hdl/report.json"):
        assert (tmp_path / name).exists(), name
    assert any(p.suffix == ".v" for p in (tmp_path / "hdl").iterdir())
