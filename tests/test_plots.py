"""Pictures: every mask pattern and both index forms render to a PNG with both colours; `attnhls mask` end to end."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from algorithms import masks, plots
from algorithms.csr import BlockCSR, RowCSR
from hls import cli

N = 96
MODALITY = np.repeat([0, 1, 0, 1], N // 4)
Q, K = np.random.default_rng(0).standard_normal((2, N, 16))
PATTERN_MASKS = {
    "causal": lambda: masks.causal_mask(N, N),
    "a_shape": lambda: masks.a_shape_mask(N, N, n_init=4, n_local=16),
    "tri_shape": lambda: masks.tri_shape_mask(N, N, n_init=4, n_local=16, n_last=12),
    "vertical_slash": lambda: masks.vertical_slash_mask(N, N, verticals=[0, 1, 40], slashes=range(8)),
    "grid": lambda: masks.grid_mask(N, N, stride=8, phase_q=1, phase_k=3),
    "q_boundary": lambda: masks.q_boundary_mask(N, N, MODALITY, {1: partial(masks.grid_mask, stride=4)}),
    "boundary_2d": lambda: masks.boundary_2d_mask(N, N, MODALITY, {(0, 1): masks.full_mask}),
    "block_topk": lambda: masks.block_topk_mask(Q, K, block=16, top_k=2),
}


def _pixels(path: Path) -> np.ndarray:
    """The RGB pixels of a PNG, as floats in 0..1 (checks the file is a PNG)."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100, image.shape
    return image[:, :, :3]


def _has_colour(pixels: np.ndarray, colour: str) -> bool:
    from matplotlib.colors import to_rgb

    return bool((np.abs(pixels - np.array(to_rgb(colour))).max(axis=2) < 1.5 / 255).any())


@pytest.mark.parametrize("name", PATTERN_MASKS)
def test_every_pattern_renders_with_kept_and_dropped_scores(name: str, tmp_path: Path) -> None:
    mask = PATTERN_MASKS[name]()
    assert mask.any() and not mask.all(), "the case must keep some scores and drop others"
    path = tmp_path / f"{name}.png"
    fig = plots.plot_mask(mask, title=name, path=path)
    pixels = _pixels(path)
    assert _has_colour(pixels, plots.KEPT) and _has_colour(pixels, plots.DROPPED)
    title = fig.axes[0].get_title()
    assert title.startswith(name) and f"density {masks.mask_density(mask):.1%}" in title


def test_large_mask_is_drawn_at_reduced_resolution_and_keeps_thin_lines(tmp_path: Path) -> None:
    """A one-score diagonal in 2048 x 2048 (4 x 4 scores a cell) still shows, at the FLOOR shade or darker."""
    mask = masks.vertical_slash_mask(2048, 2048, slashes=[0])
    fig = plots.plot_mask(mask, path=tmp_path / "diag.png")
    (image,) = fig.axes[0].get_images()
    shades = np.asarray(image.get_array())
    assert shades.shape == (512, 512)
    assert np.allclose(np.diag(shades), plots.FLOOR + (1 - plots.FLOOR) * 4 / 16)
    assert (shades[np.triu_indices(512, 1)] == 0).all()


def test_block_csr_index_plot(tmp_path: Path) -> None:
    mask = masks.a_shape_mask(N, N, n_init=4, n_local=20)
    bc = BlockCSR.from_mask(mask, 32, 32)
    assert bc.n_partial and bc.n_strips, "the case must have partial tiles and column strips"
    path = tmp_path / "index.png"
    fig = plots.plot_index(bc, title="a_shape", path=path)
    pixels = _pixels(path)
    for colour in (plots.PARTIAL_KEPT, plots.PARTIAL_MASKED, plots.STRIP_KEPT, plots.SKIPPED):
        assert _has_colour(pixels, colour), colour
    title = fig.axes[0].get_title()
    assert f"{bc.n_full} full, {bc.n_partial} partial, {bc.n_strips} strip columns" in title
    assert f"scores computed {bc.computed_fraction():.1%} of dense" in title


def test_row_csr_index_plot(tmp_path: Path) -> None:
    csr = RowCSR.from_mask(masks.grid_mask(N, N, stride=8))
    path = tmp_path / "rows.png"
    fig = plots.plot_index(csr, path=path)
    assert _has_colour(_pixels(path), plots.KEPT)
    assert f"max {int(csr.row_counts().max())}" in fig.axes[0].get_title()


def test_plot_errors() -> None:
    with pytest.raises(ValueError, match="2-D bool array"):
        plots.plot_mask(np.zeros((4, 4), dtype=np.int8))
    with pytest.raises(TypeError, match="RowCSR or a BlockCSR"):
        plots.plot_index(np.zeros((4, 4), dtype=bool))  # type: ignore[arg-type]


def test_pattern_mask_matches_the_library() -> None:
    mask, call = plots.pattern_mask("a_shape", 64, n_init=4, n_local=8)
    assert np.array_equal(mask, masks.a_shape_mask(64, 64, 4, 8))
    assert call == "a_shape_mask(64, 64, n_init=4, n_local=8)"
    mask, call = plots.pattern_mask("vertical_slash", 64, nq=32, verticals="0:3,10", slashes="0")
    assert np.array_equal(mask, masks.vertical_slash_mask(32, 64, [0, 1, 2, 10], [0]))
    assert "verticals=0:3,10" in call
    mask, _ = plots.pattern_mask("q_boundary", 64, modality="0:32,1:32", patterns="1=grid", stride=4)
    want = masks.q_boundary_mask(64, 64, np.repeat([0, 1], 32), {1: partial(masks.grid_mask, stride=4)})
    assert np.array_equal(mask, want)


@pytest.mark.parametrize("block", [None, 32])
def test_attnhls_mask_command(block: int | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pics" / "a_shape.png"
    argv = ["mask", "a_shape", "--n", "128", "--sink", "16", "--window", "32", "--out", str(out)]
    assert cli.main(argv + ([] if block is None else ["--block", str(block)])) == 0
    lines = capsys.readouterr().out.splitlines()
    kept = int(masks.a_shape_mask(128, 128, 16, 32).sum())
    assert lines[0] == (
        f"a_shape_mask(128, 128, n_init=16, n_local=32): density {kept / 128**2:.4f} ({kept:,} of 16,384 scores kept)"
    )
    assert lines[-1] == f"wrote {out}"
    assert len(lines) == (2 if block is None else 3)
    pixels = _pixels(out)
    assert _has_colour(pixels, plots.KEPT) and _has_colour(pixels, plots.DROPPED)
    assert _has_colour(pixels, plots.PARTIAL_KEPT) == (block is not None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["mask", "nope"],
            "attnhls: unknown pattern 'nope': choose one of causal, a_shape, tri_shape, "
            "vertical_slash, grid, q_boundary, boundary_2d, block_topk",
        ),
        (["mask", "a_shape", "--stride", "4"], "attnhls: a_shape does not take --stride (it takes --sink, --window)"),
        (["mask", "grid", "--stride", "0"], "attnhls: ValueError: stride must be >= 1, got 0"),
        (
            ["mask", "vertical_slash", "--verticals", "1:x"],
            "attnhls: --verticals takes ints and ranges a:b separated by commas, e.g. 0:30,100 (got '1:x')",
        ),
        (
            ["mask", "q_boundary", "--modality", "0:10"],
            "attnhls: --modality runs cover 10 tokens; they must cover N = 256",
        ),
    ],
)
def test_attnhls_mask_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [message]
    assert captured.out == "" and not list(tmp_path.iterdir())


def test_attnhls_mask_help_lists_patterns_and_ends_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["mask", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name in plots.PATTERNS:
        assert f"\n  {name} " in text, name
    flat = " ".join(text.split())  # argparse wraps the help to the terminal's width
    assert "(n_init; default 128)" in flat and "(n_local; default 3968)" in flat and "(default 256)" in flat
    assert text.rstrip().endswith("attnhls mask a_shape --n 256 --sink 16 --window 64 --block 64 --out a_shape.png")
