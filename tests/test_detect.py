"""Pattern detectors: planted patterns are recovered, patternless attention is "dense", kernels agree."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backends
from algorithms import detect
from algorithms.masks import grid_mask
from hls import check
from tests.tolerance import assert_within_naive_error

N = 512
LAST = 64


def planted(logits: Callable[[int, np.ndarray], np.ndarray], n: int = N, heads: int = 1) -> tuple[np.ndarray, ...]:
    """q, k [heads, n, n] whose sampled attention logits (scale 1) are exactly logits(i, j): K = identity."""
    q = np.zeros((heads, n, n))
    for i in range(n - LAST, n):
        q[:, i] = logits(i, np.arange(n))
    return q, np.repeat(np.eye(n)[None], heads, axis=0)


VERTICALS = [40, 77, 300, 400, 450]
SLASHES = [200, 333]


def vs_logits(i: int, j: np.ndarray) -> np.ndarray:
    o = i - j
    return 10.0 * (np.isin(j, VERTICALS) | np.isin(o, SLASHES) | (o < 3))


def a_shape_logits(i: int, j: np.ndarray) -> np.ndarray:
    return 8.0 * ((j < 4) | (i - j < 32))


def grid_logits(stride: int, phase_q: int, phase_k: int) -> Callable[[int, np.ndarray], np.ndarray]:
    def logits(i: int, j: np.ndarray) -> np.ndarray:
        return np.zeros(len(j)) if i % stride == phase_q else 10.0 * (j % stride == phase_k)

    return logits


def random_probs(rng: np.random.Generator, heads: int, rows: int, keys: int) -> np.ndarray:
    """A random sampled attention: softmax of normal logits, causal in the corner."""
    q, k = rng.standard_normal((heads, rows, 8)), rng.standard_normal((heads, keys, 8))
    return detect.sample_attention_reference(q, k, 1.0)


# ---- vertical-slash estimation ------------------------------------------------------------------


def test_vertical_slash_recovers_planted_columns_and_diagonals() -> None:
    q, k = planted(vs_logits, heads=2)
    vs = detect.vertical_slash_indices(q, k, vertical_size=35, slash_size=102, scale=1.0)
    want_v = np.array(list(range(30)) + VERTICALS)
    want_s = np.array(list(range(100)) + SLASHES)
    for h in range(2):
        np.testing.assert_array_equal(vs.vertical[h], want_v)
        np.testing.assert_array_equal(vs.slash[h], want_s)


def test_vertical_slash_sizes_are_clamped_as_specified() -> None:
    q, k = planted(vs_logits)
    vs = detect.vertical_slash_indices(q, k, vertical_size=1, slash_size=1, scale=1.0)
    assert vs.vertical.shape == (1, 30) and vs.slash.shape == (1, 50)  # at least 30 and 50
    np.testing.assert_array_equal(vs.vertical[0], np.arange(30))  # forced first columns
    np.testing.assert_array_equal(vs.slash[0], np.arange(50))  # the nearest diagonals of the forced band
    vs = detect.vertical_slash_indices(q, k, scale=1.0)  # defaults 1000 / 6096, clipped to N
    assert vs.vertical.shape == vs.slash.shape == (1, N)


def test_hardware_detector_matches_float_estimate() -> None:
    q, k = planted(vs_logits)
    probs = detect.sample_attention(q, k, scale=1.0)
    vs = detect.vertical_slash_from_probs(probs, 35, 102)
    vertical, slash = detect.vertical_slash_from_int_scores(detect.quantize_probs(probs[0]), 35, 102)
    np.testing.assert_array_equal(vertical, vs.vertical[0])
    np.testing.assert_array_equal(slash, vs.slash[0])


def test_sample_attention_and_sums_match_numpy() -> None:
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((4, 70, 16)), rng.standard_normal((2, 90, 16))  # GQA, Nq < Nk
    probs = detect.sample_attention(q, k, last_q=64)
    ref = detect.sample_attention_reference(q[:, -64:], k, 0.25)
    assert_within_naive_error(probs, ref, ref)
    col, diag = np.zeros((4, 90)), np.zeros((4, 90))
    backends.run(detect.vs_accumulate, probs, col, diag, backend="numba-cpu")
    want_col, want_diag = detect.detect_vs_reference(probs)
    assert_within_naive_error(col, want_col, want_col)
    assert_within_naive_error(diag, want_diag, want_diag)


@pytest.mark.parametrize("kern", [detect.detect_vs_accumulate, detect.topk_select], ids=lambda k: k.__name__)
def test_integer_detector_kernels_bit_exact_across_backends(kern) -> None:
    report = check(kern, backends=["numba-cpu"], examples=25, max_dim=8)
    assert report.agreed == ["numba-cpu"]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.data())
def test_detect_vs_accumulate_matches_numpy(rows: int, keys: int, data: st.DataObject) -> None:
    scores = np.array(
        data.draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=rows * keys, max_size=rows * keys)), np.int32
    ).reshape(rows, keys)
    col, diag = np.zeros(keys, np.int64), np.zeros(keys, np.int64)
    backends.run(detect.detect_vs_accumulate, scores, col, diag, backend="python")
    want_col, want_diag = detect.detect_vs_reference(scores)
    np.testing.assert_array_equal(col, want_col)
    np.testing.assert_array_equal(diag, want_diag)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(-3, 3) | st.sampled_from([-(2**63), 2**63 - 1]), min_size=1, max_size=12),
    st.integers(-1, 14),
    st.integers(1, 14),
)
def test_topk_select_matches_numpy(values: list[int], n_forced: int, k: int) -> None:
    vals = np.array(values, np.int64)
    idx = np.zeros(k, np.int32)
    backends.run(detect.topk_select, vals, n_forced, idx, backend="python")
    np.testing.assert_array_equal(idx, detect.topk_reference(vals, n_forced, k))


# ---- A-shape, grid, vertical-slash fitting -------------------------------------------------------


def test_a_shape_fit_recovers_planted_sink_and_window() -> None:
    q, k = planted(a_shape_logits, heads=2)
    fits = detect.fit_a_shape(detect.sample_attention(q, k, scale=1.0), N, mass_target=0.99)
    for fit in fits:
        assert fit.params == {"n_init": 4, "n_local": 32}
        assert fit.mass >= 0.99
        assert fit.density == pytest.approx(detect.a_shape_density(4, 32, N, N))


def test_a_shape_search_is_the_exhaustive_optimum() -> None:
    rng = np.random.default_rng(2)
    probs = random_probs(rng, 3, 8, 20)
    for target in (0.5, 0.8, 0.97):
        fit = np.zeros((3, 2), np.int64)
        backends.run(detect.a_shape_search, probs, target, fit, backend="python")
        for h in range(3):
            feasible = [
                (a + b, a, b) for a in range(21) for b in range(21) if detect.a_shape_mass(probs[h], a, b) >= target
            ]
            assert tuple(fit[h]) == min(feasible)[1:]


@pytest.mark.parametrize("stride,phase_q,phase_k", [(8, 5, 3), (4, 0, 1), (16, 7, 12)])
def test_grid_fit_recovers_planted_stride_and_phases(stride: int, phase_q: int, phase_k: int) -> None:
    q, k = planted(grid_logits(stride, phase_q, phase_k))
    (fit,) = detect.fit_grid(detect.sample_attention(q, k, scale=1.0), N, mass_target=0.9)
    assert fit is not None
    assert fit.params == {"stride": stride, "phase_q": phase_q, "phase_k": phase_k}
    assert fit.mass >= 0.9


def test_grid_fit_uses_absolute_positions_when_nq_differs_from_nk() -> None:
    """Rows are numbered p = i + Nk - Nq, as in algorithms.masks; a shift that is not a multiple of the stride."""
    nq, nk, stride, phase_q, phase_k = 256, 515, 8, 5, 3
    q = np.zeros((1, nq, nk))
    for i in range(nq - LAST, nq):
        p = i + nk - nq
        q[0, i] = 0.0 if p % stride == phase_q else 10.0 * (np.arange(nk) % stride == phase_k)
    probs = detect.sample_attention(q, np.eye(nk)[None], scale=1.0)
    (fit,) = detect.fit_grid(probs, nq, mass_target=0.9)
    assert fit.params == {"stride": stride, "phase_q": phase_q, "phase_k": phase_k}
    kept = grid_mask(nq, nk, **fit.params)[nq - LAST :]
    assert (probs[0] * kept).sum() / probs[0].sum() >= 0.9
    for nq_, nk_ in ((30, 57), (7, 7), (40, 41)):
        want = grid_mask(nq_, nk_, 6, 2, 5)
        visible = np.arange(nk_)[None, :] <= np.arange(nq_)[:, None] + nk_ - nq_
        assert detect.grid_density(6, 2, 5, nq_, nk_) == pytest.approx(want.sum() / visible.sum())


def test_grid_residue_mass_matches_numpy() -> None:
    probs = random_probs(np.random.default_rng(3), 2, 5, 11)
    g = np.zeros((2, 7, 5, 7))
    backends.run(detect.grid_residue_mass, probs, g, backend="python")
    for s in range(1, 7):
        for c in range(s):
            want = probs[:, :, np.arange(11) % s == c].sum(-1)
            assert_within_naive_error(g[:, s, :, c], want, want)
    assert not g[:, :, :, 6].any()


def test_grid_density_counts_kept_visible_pairs() -> None:
    n, s, pq, pk = 40, 6, 2, 5
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    kept = (j <= i) & ((i % s == pq) | (j % s == pk))
    assert detect.grid_density(s, pq, pk, n, n) == pytest.approx(kept.sum() / (j <= i).sum())
    kept = (j <= i) & ((j < 3) | (i - j < 7))
    assert detect.a_shape_density(3, 7, n, n) == pytest.approx(kept.sum() / (j <= i).sum())


def test_vertical_slash_fit_finds_the_planted_sizes() -> None:
    q, k = planted(vs_logits, n=1024)
    (fit,) = detect.fit_vertical_slash(detect.sample_attention(q, k, scale=1.0), 1024, mass_target=0.95)
    assert fit.params == {"n_vertical": 30 + len(VERTICALS), "n_slash": 100 + len(SLASHES)}


# ---- the per-head choice ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "logits,kind",
    [(vs_logits, "vertical_slash"), (a_shape_logits, "a_shape"), (grid_logits(8, 5, 3), "grid")],
    ids=["vertical_slash", "a_shape", "grid"],
)
def test_choice_names_the_planted_pattern(logits: Callable, kind: str) -> None:
    q, k = planted(logits, n=1024)
    (choice,) = detect.choose_patterns(q, k, scale=1.0)
    assert choice.kind == kind
    assert choice.mass >= 0.9 and choice.density <= 0.3


def test_choice_is_dense_without_a_pattern() -> None:
    rng = np.random.default_rng(4)
    q, k = rng.standard_normal((2, 1024, 64)), rng.standard_normal((1, 1024, 64))
    uniform = np.zeros((1, 1024, 64))
    for choice in detect.choose_patterns(q, k) + detect.choose_patterns(uniform, uniform):
        assert choice.kind == "dense" and choice.params == {}
        assert all(c.density > 0.3 for c in choice.candidates)


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda q, k: detect.sample_attention(q[0], k), "q must have 3 dimensions"),
        (lambda q, k: detect.sample_attention(q.astype(np.int32), k), "q must be float32 or float64"),
        (lambda q, k: detect.sample_attention(np.where(q > 0, np.nan, q), k), "q contains NaN"),
        (lambda q, k: detect.sample_attention(q, k[:, :, :3]), "head dims differ"),
        (lambda q, k: detect.sample_attention(np.concatenate([q] * 3), np.concatenate([k] * 2)), "multiple of k heads"),
        (lambda q, k: detect.sample_attention(q, k[:, :0]), "k must not be empty"),
        (lambda q, k: detect.sample_attention(q, k, last_q=0), "last_q must be a positive int"),
        (lambda q, k: detect.vertical_slash_indices(q, k, vertical_size=0), "vertical_size must be a positive int"),
        (lambda q, k: detect.choose_patterns(q, k, mass_target=1.5), "mass_target must be a number in"),
        (lambda q, k: detect.choose_patterns(q, k, density_budget=0.0), "density_budget must be a number in"),
        (lambda q, k: detect.fit_grid(np.ones((1, 4, 8)), 2), "n_query must be an int"),
        (lambda q, k: detect.fit_a_shape(-np.ones((1, 4, 8)), 8), "probs must be non-negative"),
        (lambda q, k: detect.vertical_slash_from_int_scores(np.ones((4, 8))), "scores must be a non-empty 2-D int32"),
    ],
)
def test_bad_input_raises_value_error(call: Callable, match: str) -> None:
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match=match):
        call(rng.standard_normal((2, 16, 4)), rng.standard_normal((2, 16, 4)))
