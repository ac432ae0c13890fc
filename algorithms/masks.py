"""Sparse attention patterns as boolean masks over (queries, keys).

Every pattern is a function `f(nq, nk, **params) -> bool array [nq, nk]` with
`mask[i, j]` True when query `i` attends key `j` (the definitions and defaults
of docs/ALGORITHMS.md). Queries are the last `nq` tokens of a sequence of `nk`
tokens, so query `i` sits at absolute position `p = i + (nk - nq)`: causal
masks are bottom-right aligned, and distances (`p - j`), diagonals and grid
phases are measured on absolute positions. `functools.partial(a_shape_mask,
n_init=4, n_local=16)` is a `MaskFn` (a pattern with its parameters bound),
which the boundary patterns take per modality.

The masks are plain numpy (orchestration); kernels consume them directly
(`qk_masked`) or as CSR / block-CSR indices (`algorithms.csr`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "MaskFn",
    "a_shape_mask",
    "block_topk_blocks",
    "block_topk_mask",
    "boundary_2d_mask",
    "causal_mask",
    "expand_blocks",
    "full_mask",
    "grid_mask",
    "mask_density",
    "q_boundary_mask",
    "tri_shape_mask",
    "vertical_slash_mask",
]

MaskFn = Callable[[int, int], np.ndarray]

# MInference defaults (docs/ALGORITHMS.md).
N_INIT = 128
N_LOCAL = 3968
N_LAST = 100
BLOCK = 64
MAX_TOP_K = 100


# ---- validation helpers -----------------------------------------------------------------------------


def _size(name: str, value: Any) -> int:
    """Return `value` as an int >= 0, else raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _positive(name: str, value: Any) -> int:
    """Return `value` as an int >= 1, else raise ValueError naming `name`."""
    v = _size(name, value)
    if v < 1:
        raise ValueError(f"{name} must be >= 1, got {v}")
    return v


def _index_set(name: str, values: Iterable[Any], lo: int, hi: int) -> np.ndarray:
    """Return the sorted unique ints of `values`, each in lo..hi-1, else raise ValueError naming `name`."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == object):
        raise ValueError(f"{name} must be a 1-D collection of ints, got {arr.dtype} with shape {arr.shape}")
    if arr.dtype == object and not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr):
        raise ValueError(f"{name} must hold ints only")
    arr = arr.astype(np.int64)
    bad = arr[(arr < lo) | (arr >= hi)]
    if bad.size:
        raise ValueError(f"{name} holds {int(bad[0])}, outside {lo}..{hi - 1}")
    return np.unique(arr)


def _positions(nq: int, nk: int) -> tuple[np.ndarray, np.ndarray]:
    """Absolute query positions as a column [nq, 1] and key positions as a row [1, nk]."""
    p = np.arange(nq, dtype=np.int64)[:, None] + (nk - nq)
    j = np.arange(nk, dtype=np.int64)[None, :]
    return p, j


# ---- dense patterns ---------------------------------------------------------------------------------


def full_mask(nq: int, nk: int) -> np.ndarray:
    """Keep every (query, key) pair (no masking at all)."""
    return np.ones((_size("nq", nq), _size("nk", nk)), dtype=bool)


def causal_mask(nq: int, nk: int) -> np.ndarray:
    """Keep key j for query i when `j <= i + (nk - nq)` (bottom-right aligned causal)."""
    p, j = _positions(_size("nq", nq), _size("nk", nk))
    return j <= p


# ---- MInference patterns ----------------------------------------------------------------------------


def a_shape_mask(nq: int, nk: int, n_init: int = N_INIT, n_local: int = N_LOCAL) -> np.ndarray:
    """Keep the first `n_init` keys (attention sinks) and a causal window of `n_local` keys.

    Key j is kept for query i (absolute position p) when `j <= p` and
    (`j < n_init` or `p - j < n_local`). With `n_local >= nk` this is causal.
    """
    n_init, n_local = _size("n_init", n_init), _size("n_local", n_local)
    p, j = _positions(_size("nq", nq), _size("nk", nk))
    return (j <= p) & ((j < n_init) | (p - j < n_local))


def tri_shape_mask(nq: int, nk: int, n_init: int = N_INIT, n_local: int = N_LOCAL, n_last: int = N_LAST) -> np.ndarray:
    """Make the A-shape mask, except that the last `n_last` query rows attend densely and causally."""
    mask = a_shape_mask(nq, nk, n_init, n_local)
    n_last = _size("n_last", n_last)
    if n_last:
        rows = slice(max(0, nq - n_last), nq)
        mask[rows] = causal_mask(nq, nk)[rows]
    return mask


def vertical_slash_mask(nq: int, nk: int, verticals: Iterable[int] = (), slashes: Iterable[int] = ()) -> np.ndarray:
    """Keep whole key columns (`verticals`) and diagonals `p - j = o` (`slashes`), causally.

    `verticals` are key indices in 0..nk-1; `slashes` are diagonal offsets in
    0..nk-1 measured on absolute positions (0 is the main diagonal, where a
    query sees itself). Duplicates are ignored; anything outside raises.
    """
    nq, nk = _size("nq", nq), _size("nk", nk)
    cols = _index_set("verticals", verticals, 0, nk)
    offs = _index_set("slashes", slashes, 0, nk)
    p, j = _positions(nq, nk)
    keep = np.zeros((nq, nk), dtype=bool)
    keep[:, cols] = True
    keep |= np.isin(p - j, offs)
    return keep & (j <= p)


def grid_mask(nq: int, nk: int, stride: int, phase_q: int = 0, phase_k: int = 0, causal: bool = True) -> np.ndarray:
    """Keep grid rows `p % stride == phase_q` and grid columns `j % stride == phase_k` (MMInference).

    A grid row (query at absolute position p) attends every key; a grid column
    is attended by every query; the union is intersected with causal unless
    `causal=False`. Phases must be in 0..stride-1.
    """
    nq, nk = _size("nq", nq), _size("nk", nk)
    stride = _positive("stride", stride)
    phase_q, phase_k = _size("phase_q", phase_q), _size("phase_k", phase_k)
    if phase_q >= stride:
        raise ValueError(f"phase_q must be in 0..stride-1 = 0..{stride - 1}, got {phase_q}")
    if phase_k >= stride:
        raise ValueError(f"phase_k must be in 0..stride-1 = 0..{stride - 1}, got {phase_k}")
    p, j = _positions(nq, nk)
    keep = (p % stride == phase_q) | (j % stride == phase_k)
    return keep & (j <= p) if causal else keep


# ---- inter-modality (boundary) patterns -------------------------------------------------------------


def _modality(modality: Any, nq: int, nk: int) -> np.ndarray:
    """Check the per-token modality ids (one per key; queries are the last nq tokens)."""
    arr = np.asarray(modality)
    if arr.ndim != 1 or arr.shape[0] != nk:
        raise ValueError(f"modality must be a 1-D array with one id per token (nk = {nk}), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"modality must hold integer ids, got dtype {arr.dtype}")
    if nq > nk:
        raise ValueError(f"boundary patterns need the queries to be tokens of the sequence: nq = {nq} > nk = {nk}")
    return arr.astype(np.int64)


def _apply(pattern: MaskFn | np.ndarray, nq: int, nk: int, what: str) -> np.ndarray:
    """Evaluate `pattern` on (nq, nk) (a MaskFn or a fixed bool array) and check its shape."""
    got = np.asarray(pattern(nq, nk) if callable(pattern) else pattern)
    if got.shape != (nq, nk) or got.dtype != bool:
        raise ValueError(f"{what} must give a bool mask of shape {(nq, nk)}, got {got.dtype} {got.shape}")
    return got


def q_boundary_mask(
    nq: int, nk: int, modality: Any, patterns: Mapping[int, MaskFn], default: MaskFn = causal_mask
) -> np.ndarray:
    """Give each query the row of its own modality's pattern (boundaries along the query axis only).

    `modality[t]` is the modality id of token t (length nk); query i is token
    `i + nk - nq`. Query i of modality m keeps row i of `patterns[m](nq, nk)`
    (or `default(nq, nk)` when m has no entry), evaluated on the full, unpermuted
    key axis with absolute positions, AND causal. Keys of every modality stay
    visible: only the pattern changes at a modality boundary. Every pattern
    being `causal_mask` gives the causal mask.
    """
    nq, nk = _size("nq", nq), _size("nk", nk)
    mods = _modality(modality, nq, nk)
    q_mods = mods[nk - nq :]
    keep = np.zeros((nq, nk), dtype=bool)
    for m in np.unique(q_mods):
        rows = q_mods == m
        keep[rows] = _apply(patterns.get(int(m), default), nq, nk, f"patterns[{int(m)}]")[rows]
    return keep & causal_mask(nq, nk)


def boundary_2d_mask(
    nq: int, nk: int, modality: Any, patterns: Mapping[tuple[int, int], MaskFn], default: MaskFn = causal_mask
) -> np.ndarray:
    """Permute queries and keys by modality and apply one pattern per (query, key) modality pair.

    For the pair (a, b), let `R` be the queries of modality a and `C` the keys
    of modality b, each in increasing position (the permutation that makes them
    contiguous). `sub = patterns[(a, b)](len(R), len(C))` (or `default`) is
    evaluated in these local coordinates and scattered back:
    `mask[R[r], C[c]] = sub[r, c]`; the result is AND-ed with the global causal
    mask. For a == b the local bottom-right alignment equals the global one,
    so `causal_mask` on the diagonal pairs and `full_mask` elsewhere is causal.
    """
    nq, nk = _size("nq", nq), _size("nk", nk)
    mods = _modality(modality, nq, nk)
    q_mods = mods[nk - nq :]
    keep = np.zeros((nq, nk), dtype=bool)
    for a in np.unique(q_mods):
        rows = np.flatnonzero(q_mods == a)
        for b in np.unique(mods):
            cols = np.flatnonzero(mods == b)
            pair = (int(a), int(b))
            sub = _apply(patterns.get(pair, default), rows.size, cols.size, f"patterns[{pair}]")
            keep[np.ix_(rows, cols)] = sub
    return keep & causal_mask(nq, nk)


# ---- block-sparse top-k -----------------------------------------------------------------------------


def _pool(x: np.ndarray, block: int) -> np.ndarray:
    """Mean of each run of `block` rows (the last, shorter run averages only its own rows)."""
    n = x.shape[0]
    nb = math.ceil(n / block)
    sums = np.add.reduceat(x.astype(np.float64), np.arange(0, n, block), axis=0) if n else np.zeros((0, x.shape[1]))
    counts = np.minimum(block, n - np.arange(nb) * block)
    return sums / counts[:, None]


def block_topk_blocks(
    q: np.ndarray, k: np.ndarray, block: int = BLOCK, top_k: int | None = None, causal: bool = True
) -> np.ndarray:
    """Choose, per query block, the top-k key blocks by mean-pooled score: a bool [nqb, nkb] block mask.

    Q and K are mean-pooled over `block` tokens (a last partial block over its
    own tokens); block scores are `pooled_q @ pooled_k.T` (the 1/sqrt(d) scale
    does not change the order). `top_k` defaults to `min(100, ceil(nk/block))`.
    With `causal`, a key block is a candidate only when some key in it is
    visible to some query of the query block (first key <= last query's
    absolute position). Ties go to the lower block index.
    """
    q, k = np.asarray(q), np.asarray(k)
    if q.ndim != 2 or k.ndim != 2:
        raise ValueError(f"q and k must be 2-D [n, d], got shapes {q.shape} and {k.shape}")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"q and k must have the same head dim, got {q.shape[1]} and {k.shape[1]}")
    if not (np.issubdtype(q.dtype, np.number) and np.issubdtype(k.dtype, np.number)):
        raise ValueError(f"q and k must be numeric, got {q.dtype} and {k.dtype}")
    if not (np.isfinite(q).all() and np.isfinite(k).all()):
        raise ValueError("q and k must be finite (no NaN or infinity)")
    block = _positive("block", block)
    nq, nk = q.shape[0], k.shape[0]
    nqb, nkb = math.ceil(nq / block), math.ceil(nk / block)
    top_k = min(MAX_TOP_K, nkb) if top_k is None else _size("top_k", top_k)
    scores = _pool(q, block) @ _pool(k, block).T
    if causal:
        last_q = np.minimum((np.arange(nqb) + 1) * block, nq) - 1 + (nk - nq)
        first_k = np.arange(nkb) * block
        visible = first_k[None, :] <= last_q[:, None]
    else:
        visible = np.ones((nqb, nkb), dtype=bool)
    order = np.argsort(np.where(visible, -scores, np.inf), axis=1, kind="stable")
    rank = np.argsort(order, axis=1)  # rank[a, b]: position of key block b in query block a's order
    return (rank < top_k) & visible


def expand_blocks(blocks: np.ndarray, nq: int, nk: int, block_m: int, block_n: int) -> np.ndarray:
    """Expand a [ceil(nq/block_m), ceil(nk/block_n)] block mask to an element mask [nq, nk]."""
    nq, nk = _size("nq", nq), _size("nk", nk)
    block_m, block_n = _positive("block_m", block_m), _positive("block_n", block_n)
    blocks = np.asarray(blocks)
    want = (math.ceil(nq / block_m), math.ceil(nk / block_n))
    if blocks.shape != want or blocks.dtype != bool:
        raise ValueError(f"blocks must be a bool array of shape {want}, got {blocks.dtype} {blocks.shape}")
    return blocks.repeat(block_m, axis=0).repeat(block_n, axis=1)[:nq, :nk].copy()


def block_topk_mask(
    q: np.ndarray, k: np.ndarray, block: int = BLOCK, top_k: int | None = None, causal: bool = True
) -> np.ndarray:
    """Make the element mask of `block_topk_blocks`, intersected with causal when `causal`."""
    blocks = block_topk_blocks(q, k, block, top_k, causal)
    nq, nk = q.shape[0], k.shape[0]
    mask = expand_blocks(blocks, nq, nk, block, block)
    return mask & causal_mask(nq, nk) if causal else mask


# ---- helpers ----------------------------------------------------------------------------------------


def mask_density(mask: np.ndarray) -> float:
    """Return the fraction of kept elements (0.0 for an empty mask)."""
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise ValueError(f"mask must be a bool array, got {mask.dtype}")
    return float(mask.mean()) if mask.size else 0.0
