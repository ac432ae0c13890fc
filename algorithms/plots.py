"""Pictures of attention masks and of their sparse index forms, as PNG (matplotlib, Agg canvas).

`plot_mask(mask)` draws any bool mask of `algorithms.masks` as an attention map: query
index down, key index right, kept scores dark, the density in the title. `plot_index(index)`
draws a `RowCSR` (its mask, and beside it the kept keys of every row: what a CSR kernel
iterates) or a `BlockCSR` (the tile grid: full tiles, partial tiles with their bitmaps,
column strips, skipped tiles; computed-but-masked scores light, kept scores dark). Both
return the `Figure` and write a PNG when given `path`; both draw into a given `ax` instead
of a new figure. Figures are drawn on matplotlib's non-interactive Agg canvas, without
pyplot (no display, no global figure state). A matrix more than `LIMIT` scores a side is
drawn at reduced resolution: each cell covers `s x s` scores and is shaded by the fraction
of them that are kept (any kept score at least `FLOOR`, so that one-score lines stay visible).

`attnhls mask PATTERN ...` (`add_command`, found by the CLI through the entry-point group
`attnhls.commands`) draws one pattern of `algorithms.masks`; `pattern_mask` is its
library form.
"""

from __future__ import annotations

import argparse
import math
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from algorithms import masks
from algorithms.csr import BlockCSR, RowCSR
from hls.cli import CliError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DROPPED", "KEPT", "LIMIT", "PATTERNS", "add_command", "pattern_mask", "plot_index", "plot_mask"]

KEPT = "#1f4e79"  # a kept score
DROPPED = "#e6ebf1"  # a dropped score (not white: the figure's background stays distinguishable)
SKIPPED = "#ffffff"  # a score no kernel computes (block-CSR pictures)
PARTIAL_KEPT, PARTIAL_MASKED = "#b35900", "#fbd9b0"  # partial tiles: kept / computed, then masked out
STRIP_KEPT, STRIP_MASKED = "#2e7d32", "#cfe8cc"  # column strips: kept / computed, then masked out
GRID = "#8a96a3"
LIMIT = 512  # most cells a side drawn at full resolution (a figure panel is about 650 pixels wide)
DPI = 120
FLOOR = 0.35  # the lightest shade of a reduced-resolution cell that holds a kept score
TITLE_WIDTH = 90  # characters of a title line at fontsize 9 in one panel


# ---- drawing ------------------------------------------------------------------------------------


def _figure(panels: int = 1) -> tuple[Figure, list[Axes]]:
    """A new figure on an Agg canvas with `panels` axes side by side."""
    # NOTE: matplotlib is imported here, not at module level: the CLI imports this module for every command.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * panels, 6.6), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, panels, squeeze=False)[0])


def _target(ax: Axes | None) -> tuple[Figure, Axes]:
    """The figure and axes to draw into: `ax` and its figure, or a new one-panel figure."""
    if ax is None:
        fig, (ax,) = _figure()
        return fig, ax
    return ax.get_figure(root=True), ax  # type: ignore[return-value]


def _save(fig: Figure, path: str | Path | None) -> None:
    """Write `fig` as PNG to `path` (parent folders created), when a path is given."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", bbox_inches="tight")


def _step(shape: tuple[int, int]) -> int:
    """Scores per drawn cell along each axis: 1 up to LIMIT scores a side."""
    return max(1, math.ceil(max(shape) / LIMIT))


def _fraction(kept: np.ndarray, s: int) -> np.ndarray:
    """The shade of every s x s cell of a bool [nq, nk]: 0 if no score is True, else FLOOR..1 by the fraction True."""
    if s == 1:
        return kept.astype(np.float32)
    nq, nk = kept.shape
    h, w = -(-nq // s), -(-nk // s)
    padded = np.zeros((h * s, w * s), dtype=bool)
    padded[:nq, :nk] = kept
    counts = padded.reshape(h, s, w, s).sum(axis=(1, 3), dtype=np.int64)
    area = np.outer(np.minimum(s, nq - np.arange(h) * s), np.minimum(s, nk - np.arange(w) * s))
    fraction = counts / area
    # NOTE: a cell with any True is shaded at least FLOOR: a one-score line (a slash, a grid column) stays visible.
    return np.where(fraction > 0, FLOOR + (1 - FLOOR) * fraction, 0.0).astype(np.float32)


def _rgb(colour: str) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.array(to_rgb(colour), dtype=np.float32)


def _draw(ax: Axes, image: np.ndarray, shape: tuple[int, int], s: int) -> None:
    """Draw a cell image ([h, w] fractions kept, or [h, w, 3] RGB) over the score matrix `shape`, axes labelled."""
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.ticker import MultipleLocator

    nq, nk = shape
    h, w = image.shape[:2]
    extent = (-0.5, w * s - 0.5, h * s - 0.5, -0.5)
    if image.ndim == 2:
        cmap = LinearSegmentedColormap.from_list("attnhls_mask", [DROPPED, KEPT])
        ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest", extent=extent)
    else:
        ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest", extent=extent)
    ax.set_xlim(-0.5, nk - 0.5)
    ax.set_ylim(nq - 0.5, -0.5)  # query 0 at the top, as in an attention map
    ax.set_xlabel("key index j")
    ax.set_ylabel("query index i")
    spacing = 1 << max(0, math.ceil(math.log2(max(nq, nk) / 8)))  # ticks a power of two apart, as tiles are
    ax.xaxis.set_major_locator(MultipleLocator(spacing))
    ax.yaxis.set_major_locator(MultipleLocator(spacing))
    ax.set_aspect("equal" if max(nq, nk) <= 8 * min(nq, nk) else "auto")


def _check_mask(mask: Any) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != bool:
        raise ValueError(f"mask must be a 2-D bool array [queries, keys], got {mask.dtype} with shape {mask.shape}")
    if mask.size == 0:
        raise ValueError(f"mask has no scores to draw (shape {mask.shape})")
    return mask


def _title(title: str | None, stats: str) -> str:
    """`title` (wrapped to the panel's width) over the statistics line(s)."""
    return f"{textwrap.fill(title, TITLE_WIDTH)}\n{stats}" if title else stats


def _kept_line(kept: int, shape: tuple[int, int]) -> str:
    total = shape[0] * shape[1]
    return f"{shape[0]} x {shape[1]}, density {kept / total:.1%} ({kept:,} of {total:,} scores kept)"


def plot_mask(
    mask: np.ndarray, title: str | None = None, path: str | Path | None = None, ax: Axes | None = None
) -> Figure:
    """Draw a bool mask [queries, keys] as an attention map (kept dark); write a PNG to `path` if given.

    The title is `title` (if any) over the size and the density. Draws into `ax` when given,
    else into a new figure. Returns the figure.
    """
    mask = _check_mask(mask)
    fig, ax = _target(ax)
    s = _step(mask.shape)
    _draw(ax, _fraction(mask, s), mask.shape, s)
    ax.set_title(_title(title, _kept_line(int(mask.sum()), mask.shape)), fontsize=9)
    _save(fig, path)
    return fig


def _rows_of(indptr: np.ndarray) -> np.ndarray:
    """The row of every entry of a CSR with row pointers `indptr`."""
    return np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))


def _draw_row_csr(ax: Axes, csr: RowCSR) -> str:
    """The mask of a row CSR, and the kept keys per row in a strip to its right; returns the title's stats."""
    mask = csr.to_mask()
    s = _step(csr.shape)
    _draw(ax, _fraction(mask, s), csr.shape, s)
    counts = csr.row_counts()
    side = ax.inset_axes((1.03, 0.0, 0.16, 1.0), sharey=ax)
    side.fill_betweenx(np.arange(csr.shape[0]), 0, counts, step="mid", color=KEPT, linewidth=0)
    side.set_xlim(0, max(1, csr.shape[1]))
    side.set_xlabel("kept per row", fontsize=8)
    side.tick_params(labelleft=False, labelsize=7)
    mean = counts.mean() if counts.size else 0.0
    return (
        f"row CSR: {_kept_line(csr.nnz, csr.shape)}\n"
        f"kept keys per row: min {int(counts.min(initial=0))}, mean {mean:.1f}, max {int(counts.max(initial=0))}"
    )


def _draw_block_csr(ax: Axes, bc: BlockCSR) -> str:
    """The tile grid of a block-CSR (full, partial, strips, skipped); returns the title's stats."""
    from matplotlib.patches import Patch

    nq, nk = bc.shape
    bm, bn = bc.block_m, bc.block_n
    nqb, nkb = bc.n_blocks
    full = np.zeros((nqb, nkb), dtype=bool)
    full[_rows_of(bc.full_indptr), bc.full_indices] = True
    part = np.zeros((nqb, nkb), dtype=bool)
    part[_rows_of(bc.partial_indptr), bc.partial_indices] = True
    strip = np.zeros((nqb, nk), dtype=bool)
    strip[_rows_of(bc.col_indptr), bc.col_indices] = True
    kept = bc.to_mask()

    def tiles(t: np.ndarray, cols: int) -> np.ndarray:
        return t.repeat(bm, axis=0).repeat(cols, axis=1)[:nq, :nk]

    in_part, in_strip = tiles(part, bn), tiles(strip, 1)
    s = _step(bc.shape)
    background = _rgb(SKIPPED)
    image = np.broadcast_to(background, (-(-nq // s), -(-nk // s), 3)).copy()
    classes = (
        (tiles(full, bn), KEPT),
        (in_part & kept, PARTIAL_KEPT),
        (in_part & ~kept, PARTIAL_MASKED),
        (in_strip & kept, STRIP_KEPT),
        (in_strip & ~kept, STRIP_MASKED),
    )
    shades = [_fraction(where, s) for where, _ in classes]
    total = np.maximum(1.0, sum(shades))  # reduced resolution: the shades of a cell's classes may add up past 1
    for shade, (_, colour) in zip(shades, classes):
        image += (shade / total)[:, :, None] * (_rgb(colour) - background)
    _draw(ax, image, bc.shape, s)
    if nqb <= 64 and nkb <= 64:  # the tile grid, where its lines stay apart
        ax.hlines(np.arange(1, nqb) * bm - 0.5, -0.5, nk - 0.5, colors=GRID, linewidth=0.6)
        ax.vlines(np.arange(1, nkb) * bn - 0.5, -0.5, nq - 0.5, colors=GRID, linewidth=0.6)
    legend = [
        ("full tile", KEPT),
        ("partial tile: kept", PARTIAL_KEPT),
        ("partial tile: masked", PARTIAL_MASKED),
        ("column strip: kept", STRIP_KEPT),
        ("column strip: masked", STRIP_MASKED),
        ("skipped", SKIPPED),
    ]
    ax.legend(
        handles=[Patch(facecolor=c, edgecolor=GRID, label=label) for label, c in legend],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.07),
        ncol=3,
        fontsize=7,
        frameon=False,
    )
    return (
        f"block-CSR, {bm} x {bn} tiles ({nqb} x {nkb}): {bc.n_full} full, {bc.n_partial} partial, "
        f"{bc.n_strips} strip columns\n{_kept_line(bc.kept(), bc.shape)}\n"
        f"tiles computed {bc.block_density():.1%}, scores computed {bc.computed_fraction():.1%} of dense"
    )


def plot_index(
    index: RowCSR | BlockCSR, title: str | None = None, path: str | Path | None = None, ax: Axes | None = None
) -> Figure:
    """Draw a sparse index of `algorithms.csr`; write a PNG to `path` if given. Returns the figure.

    A `RowCSR`: its mask, with the kept keys of every row in a strip to the right. A `BlockCSR`:
    its tiles over the score matrix (full tiles dark; partial tiles and column strips with their
    kept scores dark and their computed-but-masked scores light, in their own colours; skipped
    scores white), the tile grid, a legend, and in the title the counts, the density and the
    fraction of the dense scores a kernel computes.
    """
    if isinstance(index, BlockCSR):
        draw: Callable[[Axes, Any], str] = _draw_block_csr
    elif isinstance(index, RowCSR):
        draw = _draw_row_csr
    else:
        raise TypeError(f"plot_index draws a RowCSR or a BlockCSR, got {type(index).__name__}")
    if index.shape[0] * index.shape[1] == 0:
        raise ValueError(f"the index has no scores to draw (shape {index.shape})")
    fig, ax = _target(ax)
    ax.set_title(_title(title, draw(ax, index)), fontsize=9)
    _save(fig, path)
    return fig


# ---- patterns by name (the CLI's `attnhls mask`) -----------------------------------------------


@dataclass(frozen=True)
class _Option:
    """A pattern option of `attnhls mask`: its flags, the keyword it sets, its argparse type, its help."""

    flags: tuple[str, ...]
    dest: str
    type: Callable[[str], Any] | None  # None: a flag that sets False
    help: str


GRID_STRIDE = 8  # grid_mask has no default stride (MMInference searches it per head): the CLI's choice
MODALITY_RUNS = 4  # the CLI's default modality layout: four equal runs of ids 0, 1, 0, 1
DIM = 64  # head dim of block_topk's random q and k

_OPTIONS = (
    _Option(
        ("--sink", "--n-init"),
        "n_init",
        int,
        f"a_shape, tri_shape: attention-sink keys every query keeps (n_init; default {masks.N_INIT})",
    ),
    _Option(
        ("--window", "--n-local"),
        "n_local",
        int,
        f"a_shape, tri_shape: causal local window, in keys (n_local; default {masks.N_LOCAL})",
    ),
    _Option(
        ("--last", "--n-last"),
        "n_last",
        int,
        f"tri_shape: last query rows that attend densely and causally (n_last; default {masks.N_LAST})",
    ),
    _Option(
        ("--verticals",),
        "verticals",
        str,
        "vertical_slash: kept key columns, ints and ranges a:b (half-open), e.g. 0:4,100 "
        "(default 0:min(30,N): the first 30 columns, which the online estimate always keeps)",
    ),
    _Option(
        ("--slashes",),
        "slashes",
        str,
        "vertical_slash: kept diagonals p - j (0 = the main diagonal), ints and ranges a:b "
        "(default 0:min(100,N): the local band of 100 diagonals the online estimate always keeps)",
    ),
    _Option(
        ("--stride",),
        "stride",
        int,
        f"grid: period of the kept rows and columns (default {GRID_STRIDE}; the library has none: "
        "MMInference searches it per head)",
    ),
    _Option(("--phase-q",), "phase_q", int, "grid: keep query rows with p %% stride == phase_q (default 0)"),
    _Option(("--phase-k",), "phase_k", int, "grid: keep key columns with j %% stride == phase_k (default 0)"),
    _Option(
        ("--modality",),
        "modality",
        str,
        "q_boundary, boundary_2d: modality id of every token as runs ID:LENGTH covering the N tokens, "
        f"e.g. 0:100,1:156 (default {MODALITY_RUNS} equal runs with ids 0,1,0,1)",
    ),
    _Option(
        ("--patterns",),
        "patterns",
        str,
        "q_boundary: MOD=PATTERN,... (per query modality); boundary_2d: QMOD-KMOD=PATTERN,... (per modality "
        "pair); PATTERN is causal, full, a_shape, tri_shape or grid, with the options above; modalities not "
        "named get causal (defaults: q_boundary 0=causal,1=grid; boundary_2d 0-0=causal,1-1=grid)",
    ),
    _Option(("--top-k",), "top_k", int, "block_topk: key blocks kept per query block (default min(100, N/block))"),
    _Option(("--dim",), "dim", int, f"block_topk: head dim of the random Gaussian q and k (default {DIM})"),
    _Option(("--seed",), "seed", int, "block_topk: seed of the random q and k (default 0)"),
    _Option(
        ("--no-causal",), "causal", None, "grid, block_topk: do not intersect with the causal mask (default: causal)"
    ),
)

# Every pattern: what it keeps, and the keywords it takes (besides the sizes).
PATTERNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "causal": ("key j <= query position p", ()),
    "a_shape": ("attention sinks and a causal local window", ("n_init", "n_local")),
    "tri_shape": ("A-shape, the last queries dense and causal", ("n_init", "n_local", "n_last")),
    "vertical_slash": ("whole key columns and diagonals, causal", ("verticals", "slashes")),
    "grid": ("rows and columns every stride tokens", ("stride", "phase_q", "phase_k", "causal")),
    "q_boundary": ("one pattern per query modality", ("modality", "patterns")),
    "boundary_2d": ("one pattern per (query, key) modality pair", ("modality", "patterns")),
    "block_topk": ("top-k key blocks by mean-pooled score (random q, k)", ("block", "top_k", "dim", "seed", "causal")),
}
_PARAMETRIC: dict[str, Callable[..., np.ndarray]] = {
    "a_shape": masks.a_shape_mask,
    "tri_shape": masks.tri_shape_mask,
    "grid": masks.grid_mask,
}
_SUB_PATTERNS = ("causal", "full", "a_shape", "tri_shape", "grid")  # what --patterns may name
_DEFAULTS: dict[str, Any] = {
    "n_init": masks.N_INIT,
    "n_local": masks.N_LOCAL,
    "n_last": masks.N_LAST,
    "stride": GRID_STRIDE,
    "phase_q": 0,
    "phase_k": 0,
    "causal": True,
    "block": masks.BLOCK,
    "top_k": None,
    "dim": DIM,
    "seed": 0,
}
_DEFAULT_PATTERNS = {"q_boundary": "0=causal,1=grid", "boundary_2d": "0-0=causal,1-1=grid"}


def _index_list(flag: str, text: str) -> list[int]:
    """Parse `0:4,100` (ints and half-open ranges a:b) into a list of ints."""
    out: list[int] = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        lo, sep, hi = item.partition(":")
        try:
            out += list(range(int(lo), int(hi))) if sep else [int(item)]
        except ValueError:
            raise CliError(
                f"{flag} takes ints and ranges a:b separated by commas, e.g. 0:30,100 (got {item!r})"
            ) from None
    return out


def _ranges(values: Iterable[int]) -> str:
    """Write sorted ints back in the `0:4,100` form."""
    vals = sorted(set(values))
    parts: list[str] = []
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        parts.append(str(vals[i]) if i == j else f"{vals[i]}:{vals[j] + 1}")
        i = j + 1
    return ",".join(parts) or "none"


def _modality(text: str | None, n: int) -> tuple[np.ndarray, str]:
    """The modality id of each of the n tokens, from runs `ID:LENGTH,...` (default: 0,1,0,1 in equal runs)."""
    if text is None:
        lengths = [n // MODALITY_RUNS] * (MODALITY_RUNS - 1)
        runs = [(r % 2, length) for r, length in enumerate([*lengths, n - sum(lengths)])]
    else:
        runs = []
        for item in filter(None, (x.strip() for x in text.split(","))):
            mod, sep, length = item.partition(":")
            if not (sep and mod.strip().isdigit() and length.strip().isdigit()):
                raise CliError(f"--modality takes runs ID:LENGTH separated by commas, e.g. 0:100,1:156 (got {item!r})")
            runs.append((int(mod), int(length)))
        if sum(length for _, length in runs) != n:
            raise CliError(f"--modality runs cover {sum(length for _, length in runs)} tokens; they must cover N = {n}")
    ids = np.concatenate([np.full(length, mod, dtype=np.int64) for mod, length in runs] or [np.zeros(0, np.int64)])
    return ids, ",".join(f"{mod}:{length}" for mod, length in runs)


def _sub_pattern(name: str, opts: dict[str, Any]) -> tuple[masks.MaskFn, tuple[str, ...], str]:
    """A pattern that --patterns names, bound to the options: (MaskFn, keywords it used, short description)."""
    if name not in _SUB_PATTERNS:
        raise CliError(f"--patterns may name {', '.join(_SUB_PATTERNS)} (got {name!r})")
    if name in ("causal", "full"):
        return (masks.causal_mask if name == "causal" else masks.full_mask), (), name
    takes = PATTERNS[name][1]
    bound = {key: opts.get(key, _DEFAULTS[key]) for key in takes}
    return partial(_PARAMETRIC[name], **bound), takes, f"{name}({', '.join(f'{k}={v}' for k, v in bound.items())})"


def _patterns(pattern: str, text: str | None, opts: dict[str, Any]) -> tuple[dict[Any, masks.MaskFn], set[str], str]:
    """Parse --patterns for a boundary pattern: the mapping, the keywords its patterns use, a description."""
    text = _DEFAULT_PATTERNS[pattern] if text is None else text
    out: dict[Any, masks.MaskFn] = {}
    used: set[str] = set()
    parts = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        key_text, sep, name = item.partition("=")
        keys = key_text.strip().split("-")
        want = 1 if pattern == "q_boundary" else 2
        if not sep or len(keys) != want or not all(k.strip().isdigit() for k in keys):
            form = "MOD=PATTERN, e.g. 0=causal,1=grid" if want == 1 else "QMOD-KMOD=PATTERN, e.g. 0-0=causal,1-1=grid"
            raise CliError(f"--patterns of {pattern} takes {form} (got {item!r})")
        fn, takes, desc = _sub_pattern(name.strip(), opts)
        key = int(keys[0]) if want == 1 else (int(keys[0]), int(keys[1]))
        out[key] = fn
        used.update(takes)
        parts.append(f"{key_text.strip()}={desc}")
    return out, used, "{" + ", ".join(parts) + "}"


def pattern_mask(pattern: str, n: int, nq: int | None = None, **options: Any) -> tuple[np.ndarray, str]:
    """Build the mask of a pattern named as in `PATTERNS` with the CLI's options; return it and the call it made.

    `n` is the number of keys (tokens), `nq` of queries (default n; the last nq tokens). Options
    are the keywords of the pattern's function in `algorithms.masks` (`n_init`, `stride`, ...),
    with `verticals`, `slashes`, `modality` and `patterns` as the CLI's text forms and, for
    block_topk, `dim` and `seed` of its random q and k. Options left out take the defaults of
    `_DEFAULTS`; an option the pattern does not take raises `CliError`.
    """
    if pattern not in PATTERNS:
        raise CliError(f"unknown pattern {pattern!r}: choose one of {', '.join(PATTERNS)}")
    nq = n if nq is None else nq
    given = {key: value for key, value in options.items() if value is not None}
    takes = set(PATTERNS[pattern][1])
    size = f"{nq}, {n}"
    if pattern in ("q_boundary", "boundary_2d"):
        modality, mod_desc = _modality(given.get("modality"), n)
        pats, used, pat_desc = _patterns(pattern, given.get("patterns"), given)
        takes |= used
    extra = sorted(set(given) - takes)
    if extra:
        flags = {o.dest: o.flags[0] for o in _OPTIONS} | {"block": "--block"}
        wanted = ", ".join(flags[k] for k in flags if k in takes) or "no options"
        raise CliError(f"{pattern} does not take {', '.join(flags.get(k, k) for k in extra)} (it takes {wanted})")
    opt: dict[str, Any] = {key: given.get(key, _DEFAULTS.get(key)) for key in takes}
    if pattern == "causal":
        return masks.causal_mask(nq, n), f"causal_mask({size})"
    if pattern in ("a_shape", "tri_shape", "grid"):
        fn = _PARAMETRIC[pattern]
        kw = {key: opt[key] for key in PATTERNS[pattern][1]}
        return fn(nq, n, **kw), f"{fn.__name__}({size}, {', '.join(f'{k}={v}' for k, v in kw.items())})"
    if pattern == "vertical_slash":
        cols = _index_list("--verticals", opt["verticals"]) if "verticals" in given else list(range(min(30, n)))
        offs = _index_list("--slashes", opt["slashes"]) if "slashes" in given else list(range(min(100, n)))
        desc = f"vertical_slash_mask({size}, verticals={_ranges(cols)}, slashes={_ranges(offs)})"
        return masks.vertical_slash_mask(nq, n, cols, offs), desc
    if pattern == "block_topk":
        if not isinstance(opt["dim"], int) or opt["dim"] < 1:
            raise CliError(f"--dim must be an int >= 1 (got {opt['dim']!r})")
        rng = np.random.default_rng(opt["seed"])
        q, k = rng.standard_normal((nq, opt["dim"])), rng.standard_normal((n, opt["dim"]))
        kw = {key: opt[key] for key in ("block", "top_k", "causal")}
        desc = (
            f"block_topk_mask(q[{nq}, {opt['dim']}], k[{n}, {opt['dim']}] random, seed {opt['seed']}, "
            + ", ".join(f"{k_}={v}" for k_, v in kw.items())
            + ")"
        )
        return masks.block_topk_mask(q, k, **kw), desc
    fn = masks.q_boundary_mask if pattern == "q_boundary" else masks.boundary_2d_mask
    return fn(nq, n, modality, pats), f"{fn.__name__}({size}, modality={mod_desc}, patterns={pat_desc})"


# ---- the command ---------------------------------------------------------------------------------


def cmd_mask(args: argparse.Namespace) -> int:
    """Build the pattern's mask, print its density, draw it (and its block-CSR with --block), write the PNG."""
    if args.n < 1 or (args.nq is not None and args.nq < 1):
        raise CliError(f"--n and --nq must be >= 1 (got --n {args.n}, --nq {args.nq})")
    options = {o.dest: getattr(args, o.dest) for o in _OPTIONS}
    if args.pattern == "block_topk":
        options["block"] = args.block
    if args.block is not None and args.block < 1:
        raise CliError(f"--block must be >= 1 (got {args.block})")
    mask, call = pattern_mask(args.pattern, args.n, args.nq, **options)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError("attnhls mask draws with matplotlib: pip install matplotlib") from None
    print(f"{call}: density {masks.mask_density(mask):.4f} ({int(mask.sum()):,} of {mask.size:,} scores kept)")
    if args.block is None:
        fig = plot_mask(mask, title=call)
    else:
        bc = BlockCSR.from_mask(mask, args.block, args.block)
        print(
            f"block-CSR {args.block}x{args.block}: {bc.n_full} full, {bc.n_partial} partial tiles, "
            f"{bc.n_strips} strip columns; tiles computed {bc.block_density():.1%}, "
            f"scores computed {bc.computed_fraction():.1%} of dense"
        )
        fig, (left, right) = _figure(2)
        plot_mask(mask, title=call, ax=left)
        plot_index(bc, ax=right)
    out = Path(args.out or f"{args.pattern}.png")
    _save(fig, out)
    print(f"wrote {out}")
    return 0


def add_command(sub: Any) -> None:
    """Add `attnhls mask` to the CLI's subparsers (found through the entry point `attnhls.commands`)."""
    what = "draw an attention mask of algorithms.masks as a PNG (and its block-CSR index with --block)"
    listing = "\n".join(f"  {name:<15} {desc}" for name, (desc, _) in PATTERNS.items())
    p = sub.add_parser(
        "mask",
        help=what,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"{what}; prints the density and the file written.\n\npatterns:\n{listing}",
        epilog="example:\n  attnhls mask a_shape --n 256 --sink 16 --window 64 --block 64 --out a_shape.png",
    )
    p.add_argument("pattern", metavar="PATTERN", help="the pattern to draw (listed above)")
    p.add_argument("--n", type=int, default=256, help="keys: tokens of the sequence (default 256)")
    p.add_argument("--nq", type=int, default=None, help="queries: the last NQ tokens (default N)")
    for o in _OPTIONS:
        if o.type is None:
            p.add_argument(*o.flags, dest=o.dest, action="store_const", const=False, default=None, help=o.help)
        else:
            p.add_argument(*o.flags, dest=o.dest, type=o.type, default=None, help=o.help)
    p.add_argument(
        "--block",
        type=int,
        default=None,
        help=f"tile size B: also draw the block-CSR index of the mask (B x B tiles) beside it; block_topk "
        f"pools q and k over B tokens (default: no index; block_topk pools over {masks.BLOCK})",
    )
    p.add_argument("--out", default=None, help="the PNG to write (default PATTERN.png in the current folder)")
    p.set_defaults(func=cmd_mask)
