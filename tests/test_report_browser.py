"""The HTML report opened in a real browser (headless Chromium): the schedule chart and the source table render."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from algorithms.qk import qk_dense
from hls import lower

CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; `make test` installs it as root)"
)


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    lower(qk_dense, M=4, N=4, D=8).save(out)
    return out / "report.html"


def test_the_browser_renders_the_schedule_chart_and_the_source_table(report: Path) -> None:
    dom = _chromium("--dump-dom", report.as_uri()).stdout  # the document as the browser parsed it
    assert '<svg class="schedule"' in dom and "schedule of pipeline p0" in dom
    assert '<table class="source">' in dom
    assert "acc += q[i, d] * k[j, d]" in dom  # the kernel's own line, in the source table


def test_a_screenshot_of_the_report_is_not_blank(report: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    png = tmp_path / "report.png"
    _chromium(f"--screenshot={png}", "--window-size=1200,1600", report.as_uri())
    pixels = imread(png)[..., :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    dark = (pixels.mean(axis=2) < 0.5).mean()  # text, bars and table rules
    assert 0.005 < dark < 0.6, f"{dark:.3%} of the screenshot is dark"
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 20  # the chart's colours
