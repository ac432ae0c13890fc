"""Line charts for the benchmark scripts: each writes a PNG of its figures beside its JSON.

A chart is a list of `Panel`s side by side, each a list of `Series` (measured lines with
markers, or dashed reference lines: ideal, target), drawn on matplotlib's non-interactive
Agg canvas (no pyplot, no display) and written by `write_png`. `series_by` groups a
benchmark's result rows into series. The scripts call their own `plot(report, path)` on the
report they also write as JSON, so a picture can be redrawn from a saved JSON file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Panel", "Series", "ideal", "series_by", "write_png"]

MARKERS = "osD^vP*Xh<>p"
REFERENCE_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))


@dataclass(frozen=True)
class Series:
    """One line: `y` against `x`; `reference` lines (ideal, target) are dashed and unmarked."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    reference: bool = False


@dataclass(frozen=True)
class Panel:
    """One chart: its series, axis labels, log scales (base 10), and optionally its x ticks labelled as given."""

    title: str
    xlabel: str
    ylabel: str
    series: Sequence[Series]
    logx: bool = False
    logy: bool = False
    xticks: dict[float, str] = field(default_factory=dict)


def series_by(
    rows: Iterable[dict[str, Any]], label: Callable[[dict[str, Any]], str | None], x: str, y: str
) -> list[Series]:
    """Group `rows` into one series per `label(row)` (None: left out), points sorted by x; rows without x or y skip."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        name = label(row)
        if name is None or row.get(x) is None or row.get(y) is None:
            continue
        groups.setdefault(name, []).append((float(row[x]), float(row[y])))
    out = []
    for name, points in groups.items():
        points.sort()
        out.append(Series(name, [x for x, _ in points], [y for _, y in points]))
    return out


def write_png(path: str | Path, panels: Sequence[Panel], title: str = "", note: str = "") -> Path:
    """Draw `panels` side by side under `title`, with `note` (machine, date, command) in small print; write PNG.

    Returns the path written. A panel without any point says so in its middle.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    fig = Figure(figsize=(6.4 * len(panels), 5.2), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        measured = references = 0
        for s in panel.series:
            if not s.x:
                continue
            if s.reference:
                style = REFERENCE_STYLES[references % len(REFERENCE_STYLES)]
                ax.plot(s.x, s.y, linestyle=style, linewidth=1.0, color="0.45", label=s.label)
                references += 1
            else:
                ax.plot(s.x, s.y, marker=MARKERS[measured % len(MARKERS)], markersize=5, linewidth=1.4, label=s.label)
                measured += 1
        if panel.logx:
            ax.set_xscale("log")
        if panel.logy:
            ax.set_yscale("log")
        xs = [x for s in panel.series for x in s.x]
        ticks = {x: text for x, text in panel.xticks.items() if xs and min(xs) <= x <= max(xs)}
        if ticks:  # only those inside the data: a tick outside would widen the axis
            ax.set_xticks(list(ticks), list(ticks.values()))
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.grid(True, which="major", alpha=0.3)
        if any(s.x for s in panel.series):
            ax.legend(fontsize=7, ncol=1 + (len(panel.series) > 8))
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.4")
    if title:
        fig.suptitle(title, fontsize=11)
    if note:
        fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=7, color="0.35", wrap=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def ideal(label: str, xs: Iterable[float], f: Callable[[float], float]) -> Series:
    """A dashed reference line `f(x)` over the span of `xs` (32 points, evenly on a log scale if xs > 0)."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return Series(label, [], [], reference=True)
    lo, hi = min(xs), max(xs)
    if lo > 0 and hi > lo:
        grid = [lo * (hi / lo) ** (i / 31) for i in range(32)]
    else:
        grid = [lo + (hi - lo) * i / 31 for i in range(32)] if hi > lo else [lo]
    return Series(label, grid, [f(x) for x in grid], reference=True)
