"""Sparse attention patterns against brute-force definitions written from docs/ALGORITHMS.md."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms import masks as mk

SIZES = st.tuples(st.integers(0, 14), st.integers(0, 14)).map(lambda t: (min(t), max(t)))  # nq <= nk
ANY_SIZES = st.tuples(st.integers(0, 12), st.integers(0, 12))
FEW = settings(max_examples=25, deadline=None)


def brute(nq: int, nk: int, keep: Callable[[int, int], bool]) -> np.ndarray:
    """Evaluate `keep(p, j)` for every query (absolute position p = i + nk - nq) and key j."""
    out = np.zeros((nq, nk), dtype=bool)
    for i in range(nq):
        for j in range(nk):
            out[i, j] = keep(i + nk - nq, j)
    return out


# ---- each pattern against its definition ------------------------------------------------------------


@FEW
@given(ANY_SIZES)
def test_causal_is_bottom_right_aligned(size: tuple[int, int]) -> None:
    nq, nk = size
    want = brute(nq, nk, lambda p, j: j <= p)
    np.testing.assert_array_equal(mk.causal_mask(nq, nk), want)
    assert mk.full_mask(nq, nk).all() and mk.full_mask(nq, nk).shape == (nq, nk)


def test_causal_small_example_by_hand() -> None:
    np.testing.assert_array_equal(mk.causal_mask(2, 4), [[1, 1, 1, 0], [1, 1, 1, 1]])


@FEW
@given(SIZES, st.integers(0, 16), st.integers(0, 16))
def test_a_shape(size: tuple[int, int], n_init: int, n_local: int) -> None:
    nq, nk = size
    want = brute(nq, nk, lambda p, j: j <= p and (j < n_init or p - j < n_local))
    np.testing.assert_array_equal(mk.a_shape_mask(nq, nk, n_init, n_local), want)


@FEW
@given(SIZES, st.integers(0, 6), st.integers(0, 6), st.integers(0, 16))
def test_tri_shape(size: tuple[int, int], n_init: int, n_local: int, n_last: int) -> None:
    nq, nk = size

    def keep(p: int, j: int) -> bool:
        i = p - (nk - nq)
        if i >= nq - n_last:  # one of the last n_last queries: dense causal
            return j <= p
        return j <= p and (j < n_init or p - j < n_local)

    np.testing.assert_array_equal(mk.tri_shape_mask(nq, nk, n_init, n_local, n_last), brute(nq, nk, keep))


@FEW
@given(SIZES, st.data())
def test_vertical_slash(size: tuple[int, int], data: st.DataObject) -> None:
    nq, nk = size
    idx = st.integers(0, max(nk - 1, 0))
    verticals = data.draw(st.lists(idx, max_size=5)) if nk else []
    slashes = data.draw(st.lists(idx, max_size=5)) if nk else []
    want = brute(nq, nk, lambda p, j: j <= p and (j in verticals or (p - j) in slashes))
    np.testing.assert_array_equal(mk.vertical_slash_mask(nq, nk, verticals, slashes), want)


@FEW
@given(SIZES, st.integers(1, 5), st.data(), st.booleans())
def test_grid(size: tuple[int, int], stride: int, data: st.DataObject, causal: bool) -> None:
    nq, nk = size
    phase_q, phase_k = data.draw(st.integers(0, stride - 1)), data.draw(st.integers(0, stride - 1))
    want = brute(nq, nk, lambda p, j: (p % stride == phase_q or j % stride == phase_k) and (j <= p or not causal))
    np.testing.assert_array_equal(mk.grid_mask(nq, nk, stride, phase_q, phase_k, causal=causal), want)


PATTERNS = {
    0: partial(mk.a_shape_mask, n_init=1, n_local=2),
    1: partial(mk.grid_mask, stride=3, phase_q=1, phase_k=2),
    2: partial(mk.vertical_slash_mask, verticals=[0], slashes=[0]),
}


@FEW
@given(SIZES, st.data())
def test_q_boundary(size: tuple[int, int], data: st.DataObject) -> None:
    nq, nk = size
    modality = np.array(data.draw(st.lists(st.integers(0, 3), min_size=nk, max_size=nk)), dtype=np.int64)
    rows = {m: fn(nq, nk) for m, fn in PATTERNS.items() if m in modality[nk - nq :]}  # the groups present

    def keep(p: int, j: int) -> bool:
        i, m = p - (nk - nq), int(modality[p])
        in_pattern = rows[m][i, j] if m in rows else True  # modality 3 has no entry: default causal
        return bool(in_pattern) and j <= p

    got = mk.q_boundary_mask(nq, nk, modality, PATTERNS)
    np.testing.assert_array_equal(got, brute(nq, nk, keep))


@FEW
@given(SIZES, st.data())
def test_boundary_2d(size: tuple[int, int], data: st.DataObject) -> None:
    nq, nk = size
    modality = np.array(data.draw(st.lists(st.integers(0, 2), min_size=nk, max_size=nk)), dtype=np.int64)
    patterns = {
        (0, 0): partial(mk.a_shape_mask, n_init=1, n_local=1),
        (0, 1): mk.full_mask,
        (1, 0): partial(mk.grid_mask, stride=2, causal=False),
        (1, 1): mk.causal_mask,
        (2, 1): partial(mk.vertical_slash_mask, verticals=[0]),
    }

    def keep(p: int, j: int) -> bool:
        a, b = int(modality[p]), int(modality[j])
        queries = [t for t in range(nk - nq, nk) if modality[t] == a]  # the query group, in order
        keys = [t for t in range(nk) if modality[t] == b]
        fn = patterns.get((a, b), mk.causal_mask)
        local = fn(len(queries), len(keys))[queries.index(p), keys.index(j)]
        return bool(local) and j <= p

    np.testing.assert_array_equal(mk.boundary_2d_mask(nq, nk, modality, patterns), brute(nq, nk, keep))


def _brute_topk_blocks(q: np.ndarray, k: np.ndarray, block: int, top_k: int, causal: bool) -> np.ndarray:
    nq, nk = q.shape[0], k.shape[0]
    nqb, nkb = math.ceil(nq / block), math.ceil(nk / block)
    qbar = [q[a * block : (a + 1) * block].mean(axis=0) for a in range(nqb)]
    kbar = [k[b * block : (b + 1) * block].mean(axis=0) for b in range(nkb)]
    out = np.zeros((nqb, nkb), dtype=bool)
    for a in range(nqb):
        last_pos = min((a + 1) * block, nq) - 1 + nk - nq
        cands = [b for b in range(nkb) if not causal or b * block <= last_pos]
        cands.sort(key=lambda b: (-float(np.dot(qbar[a], kbar[b])), b))
        for b in cands[:top_k]:
            out[a, b] = True
    return out


@FEW
@given(SIZES, st.integers(1, 5), st.integers(0, 4), st.booleans(), st.integers(0, 2**32 - 1))
def test_block_topk(size: tuple[int, int], block: int, top_k: int, causal: bool, seed: int) -> None:
    nq, nk = size
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((nq, 3)), rng.standard_normal((nk, 3))
    want_blocks = _brute_topk_blocks(q, k, block, top_k, causal)
    np.testing.assert_array_equal(mk.block_topk_blocks(q, k, block, top_k, causal), want_blocks)
    want = brute(nq, nk, lambda p, j: want_blocks[(p - (nk - nq)) // block, j // block] and (j <= p or not causal))
    np.testing.assert_array_equal(mk.block_topk_mask(q, k, block, top_k, causal), want)


def test_block_topk_default_k_and_ties() -> None:
    q, k = np.zeros((300, 2)), np.zeros((300, 2))  # every block score ties at 0: the lowest blocks win
    blocks = mk.block_topk_blocks(q, k, block=2, causal=False)
    assert blocks.sum(axis=1).tolist() == [100] * 150  # k = min(100, ceil(300 / 2))
    assert blocks[:, :100].all() and not blocks[:, 100:].any()
    small = mk.block_topk_blocks(np.ones((130, 1)), np.ones((130, 1)))  # 64-token blocks: k = min(100, 3) = 3
    np.testing.assert_array_equal(small, [[1, 0, 0], [1, 1, 0], [1, 1, 1]])


# ---- masks that keep everything equal the dense ones ------------------------------------------------


@FEW
@given(SIZES)
def test_keep_everything_equals_causal(size: tuple[int, int]) -> None:
    nq, nk = size
    causal = mk.causal_mask(nq, nk)
    np.testing.assert_array_equal(mk.a_shape_mask(nq, nk, n_init=0, n_local=nk), causal)
    np.testing.assert_array_equal(mk.a_shape_mask(nq, nk, n_init=nk, n_local=0), causal)
    np.testing.assert_array_equal(mk.tri_shape_mask(nq, nk, n_init=0, n_local=0, n_last=nq), causal)
    np.testing.assert_array_equal(mk.vertical_slash_mask(nq, nk, verticals=range(nk)), causal)
    np.testing.assert_array_equal(mk.vertical_slash_mask(nq, nk, slashes=range(nk)), causal)
    np.testing.assert_array_equal(mk.grid_mask(nq, nk, stride=1), causal)
    modality = np.arange(nk) % 3
    np.testing.assert_array_equal(mk.q_boundary_mask(nq, nk, modality, {}), causal)
    pairs = {(a, b): (mk.causal_mask if a == b else mk.full_mask) for a in range(3) for b in range(3)}
    np.testing.assert_array_equal(mk.boundary_2d_mask(nq, nk, modality, pairs), causal)
    q, k = np.ones((nq, 2)), np.ones((nk, 2))
    np.testing.assert_array_equal(mk.block_topk_mask(q, k, block=3, top_k=nk), causal)
    np.testing.assert_array_equal(mk.block_topk_mask(q, k, block=3, top_k=nk, causal=False), mk.full_mask(nq, nk))


def test_defaults_follow_minference() -> None:
    n = 4200
    a = mk.a_shape_mask(n, n)  # n_init = 128, n_local = 3968
    assert a[4199, 127] and not a[4199, 128] and a[4199, 4199 - 3967] and not a[4199, 4199 - 3968]
    tri = mk.tri_shape_mask(n, n)  # n_last = 100: row 4100 is dense causal, row 4099 is A-shape
    assert tri[4100, :4101].all() and not tri[4099, 128]


def test_partial_patterns_are_really_sparse() -> None:
    """Guard against a pattern that silently keeps everything."""
    assert mk.mask_density(mk.a_shape_mask(64, 64, 4, 8)) < mk.mask_density(mk.causal_mask(64, 64))
    assert mk.mask_density(mk.grid_mask(64, 64, 8)) < 0.3
    assert mk.mask_density(mk.vertical_slash_mask(64, 64, [0], [0])) < 0.05
    assert mk.mask_density(np.zeros((0, 3), dtype=bool)) == 0.0
    assert mk.mask_density(mk.causal_mask(4, 4)) == 10 / 16


# ---- bad parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda: mk.causal_mask(-1, 4), "nq"),
        (lambda: mk.causal_mask(2, 2.5), "nk"),
        (lambda: mk.causal_mask(True, 2), "nq"),
        (lambda: mk.a_shape_mask(4, 4, n_init=-1), "n_init"),
        (lambda: mk.a_shape_mask(4, 4, n_local=-3), "n_local"),
        (lambda: mk.tri_shape_mask(4, 4, n_last=-1), "n_last"),
        (lambda: mk.vertical_slash_mask(4, 4, verticals=[4]), "verticals"),
        (lambda: mk.vertical_slash_mask(4, 4, verticals=[-1]), "verticals"),
        (lambda: mk.vertical_slash_mask(4, 4, verticals=[1.5]), "verticals"),
        (lambda: mk.vertical_slash_mask(4, 4, slashes=[-1]), "slashes"),
        (lambda: mk.vertical_slash_mask(4, 4, slashes=[4]), "slashes"),
        (lambda: mk.vertical_slash_mask(4, 4, slashes=[[1]]), "slashes"),
        (lambda: mk.grid_mask(4, 4, stride=0), "stride"),
        (lambda: mk.grid_mask(4, 4, stride=2, phase_q=2), "phase_q"),
        (lambda: mk.grid_mask(4, 4, stride=2, phase_k=-1), "phase_k"),
        (lambda: mk.q_boundary_mask(2, 4, [0, 1, 0], {}), "modality"),
        (lambda: mk.q_boundary_mask(2, 4, np.zeros(4), {}), "modality"),
        (lambda: mk.q_boundary_mask(5, 4, [0] * 4, {}), "nq"),
        (lambda: mk.q_boundary_mask(2, 4, [0] * 4, {0: lambda nq, nk: np.ones((1, 1), bool)}), "patterns[0]"),
        (
            lambda: mk.boundary_2d_mask(2, 4, [0, 1, 0, 1], {(1, 0): lambda nq, nk: np.ones((nq, nk))}),
            "patterns[(1, 0)]",
        ),
        (lambda: mk.block_topk_blocks(np.ones((4, 2)), np.ones((4, 3))), "head dim"),
        (lambda: mk.block_topk_blocks(np.ones(4), np.ones((4, 3))), "2-D"),
        (lambda: mk.block_topk_blocks(np.ones((4, 2)), np.ones((4, 2)), block=0), "block"),
        (lambda: mk.block_topk_blocks(np.ones((4, 2)), np.ones((4, 2)), top_k=-1), "top_k"),
        (lambda: mk.block_topk_blocks(np.full((4, 2), np.nan), np.ones((4, 2))), "finite"),
        (lambda: mk.expand_blocks(np.ones((2, 2), bool), 4, 4, 1, 2), "blocks"),
        (lambda: mk.mask_density(np.ones((2, 2))), "mask"),
    ],
)
def test_bad_parameters_raise(call: Callable[[], object], word: str) -> None:
    with pytest.raises(ValueError, match=word.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        call()
