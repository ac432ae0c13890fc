"""Sparse-pattern detectors: vertical-slash estimation, A-shape and grid fitting, a per-head choice.

Everything starts from a sample of the attention: the last `last_q = min(64, Nq)`
query rows, `A = softmax(scale * Q_last @ K^T)` with the causal corner masked
(bottom-right aligned: sample row r sees key j when `j <= r + Nk - L`).
Diagonals are numbered by `o = i - j` measured from that bottom-right
diagonal (`o = r + Nk - L - j`), so `o = 0` is the main diagonal and the local
band is `o < 100`.

- `vertical_slash_indices`: MInference's online estimation, exactly as in
  docs/ALGORITHMS.md: column sums and diagonal sums of A; the first 30 columns and
  the last 100 diagonals (o < 100) always rank first; the top
  `max(vertical_size, 30)` columns and `max(slash_size, 50)` diagonals, both
  clipped to Nk.
- `fit_a_shape`: the smallest `n_init + n_local` (ties: smaller n_init) whose
  A-shape keeps `mass_target` of the sampled attention mass. The search is a
  staircase walk: the least n_local reaching the target never grows as n_init
  grows, so one pass over n_init with n_local only decreasing visits O(Nk)
  pairs, each scored in O(L) from per-row prefix sums.
- `fit_grid`: for every stride 2..max_stride the retained mass of every
  (phase_q, phase_k) comes from one table of per-row residue masses; the best
  phase pair per stride, then the stride of least density among those
  reaching the target (MMInference's online stride/phase search).
- `fit_vertical_slash`: the least `n_vertical + n_slash` (over a grid of
  n_vertical, exact n_slash) reaching the target, both in the ranked order above.
- `choose_patterns`: per head, the pattern of least density among the fits
  that reach the mass target within `density_budget`; "dense" when none does.

Density is the kept fraction of the visible (causal) Nq x Nk pairs: exact for
A-shape and grid; an upper bound for vertical-slash (column/diagonal overlap
is not subtracted).

Hardware kernels (exact integers, bit-identical on every backend):
`detect_vs_accumulate` streams the sampled integer scores once into column and
diagonal accumulators; `topk_select` keeps a k-entry sorted register array
(one bounded insertion per streamed value). `vertical_slash_from_int_scores`
chains them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

from backends import run
from hls import Array, exp, f64, i32, i64, kernel, pipeline, prange, zeros

NEG_INF = float("-inf")
LAST_Q = 64
VERTICAL_SIZE = 1000
SLASH_SIZE = 6096
MIN_VERTICAL = 30
MIN_SLASH = 50
FORCED_COLUMNS = 30
FORCED_DIAGONALS = 100
I64_MAX = (1 << 63) - 1

__all__ = [
    "PatternChoice",
    "PatternFit",
    "VerticalSlash",
    "a_shape_density",
    "a_shape_mass",
    "a_shape_search",
    "choose_from_probs",
    "choose_patterns",
    "detect_vs_accumulate",
    "detect_vs_reference",
    "fit_a_shape",
    "fit_grid",
    "fit_vertical_slash",
    "grid_density",
    "grid_residue_mass",
    "quantize_probs",
    "ranked_order",
    "sample_attention",
    "sample_attention_reference",
    "topk_reference",
    "topk_select",
    "vertical_slash_from_int_scores",
    "vertical_slash_from_probs",
    "vertical_slash_indices",
    "vs_accumulate",
    "vs_mass_curve",
    "vs_sample_softmax",
]


# ---- float kernels: the software detector -------------------------------------------------------


@kernel
def vs_sample_softmax(
    q_last: Array[f64, "H", "L", "D"], k: Array[f64, "G", "N", "D"], scale: f64, probs: Array[f64, "H", "L", "N"]
):
    """Write softmax(scale * q_last @ k^T) per head, causal in the bottom-right corner (masked -> 0)."""
    n_rows: i32 = q_last.shape[1]
    n_keys: i32 = k.shape[1]
    for h in prange(q_last.shape[0]):
        g: i32 = h * k.shape[0] // q_last.shape[0]
        for r in range(n_rows):
            last: i32 = r + n_keys - n_rows
            m: f64 = NEG_INF
            for j in range(n_keys):
                if j <= last:
                    s: f64 = 0.0
                    for d in range(q_last.shape[2]):
                        s += q_last[h, r, d] * k[g, j, d]
                    s = s * scale
                    probs[h, r, j] = s
                    m = max(m, s)
            total: f64 = 0.0
            for j in range(n_keys):
                if j <= last:
                    e = exp(probs[h, r, j] - m)
                    probs[h, r, j] = e
                    total += e
            for j in range(n_keys):
                if j <= last:
                    probs[h, r, j] = probs[h, r, j] / total
                else:
                    probs[h, r, j] = 0.0


@kernel
def vs_accumulate(probs: Array[f64, "H", "L", "N"], col: Array[f64, "H", "N"], diag: Array[f64, "H", "N"]):
    """Sum the sampled attention per column and per diagonal o = r + N - L - j (causal entries only)."""
    n_rows: i32 = probs.shape[1]
    n_keys: i32 = probs.shape[2]
    for h in prange(probs.shape[0]):
        for j in range(n_keys):
            col[h, j] = 0.0
            diag[h, j] = 0.0
        for r in range(n_rows):
            last: i32 = r + n_keys - n_rows
            for j in range(n_keys):
                if j <= last:
                    col[h, j] += probs[h, r, j]
                    diag[h, last - j] += probs[h, r, j]


@kernel
def a_shape_search(probs: Array[f64, "H", "L", "N"], target: f64, fit: Array[i64, "H", 2]):
    """Find per head the least n_init + n_local (then least n_init) keeping `target` of the sampled mass."""
    n_rows: i32 = probs.shape[1]
    n_keys: i32 = probs.shape[2]
    for h in prange(probs.shape[0]):
        cum = zeros(f64, n_rows, n_keys + 1)
        total: f64 = 0.0
        for r in range(n_rows):
            acc: f64 = 0.0
            for j in range(n_keys):
                acc += probs[h, r, j]
                cum[r, j + 1] = acc
            total += cum[r, min(max(r + n_keys - n_rows + 1, 0), n_keys)]
        goal = target * total
        best: i64 = 2 * n_keys + 1
        best_a: i32 = 0
        best_b: i32 = n_keys
        a: i32 = 0
        b: i32 = n_keys
        while a <= n_keys and a < best:
            lowering = True
            while lowering and b > 0:
                mass: f64 = 0.0
                for r in range(n_rows):
                    vis: i32 = min(max(r + n_keys - n_rows + 1, 0), n_keys)
                    top: i32 = min(a, vis)
                    mass += cum[r, vis] - cum[r, max(vis - (b - 1), top)] + cum[r, top]
                if mass >= goal:
                    b -= 1
                else:
                    lowering = False
            if a + b < best:
                best = a + b
                best_a = a
                best_b = b
            a += 1
        fit[h, 0] = best_a
        fit[h, 1] = best_b


@kernel
def vs_mass_curve(
    probs: Array[f64, "H", "L", "N"],
    col_rank: Array[i64, "H", "N"],
    diag_order: Array[i64, "H", "N"],
    n_vertical: i64,
    base: Array[f64, "H"],
    curve: Array[f64, "H", "N"],
):
    """Write the sampled mass kept by the columns ranked below n_vertical (base) plus the first t+1 diagonals."""
    n_rows: i32 = probs.shape[1]
    n_keys: i32 = probs.shape[2]
    for h in prange(probs.shape[0]):
        gain = zeros(f64, n_keys)
        kept: f64 = 0.0
        for r in range(n_rows):
            last: i32 = r + n_keys - n_rows
            for j in range(n_keys):
                if j <= last:
                    if col_rank[h, j] < n_vertical:
                        kept += probs[h, r, j]
                    else:
                        gain[last - j] += probs[h, r, j]
        base[h] = kept
        for t in range(n_keys):
            o = diag_order[h, t]
            if 0 <= o < n_keys:
                kept += gain[o]
            curve[h, t] = kept


@kernel
def grid_residue_mass(probs: Array[f64, "H", "L", "N"], g: Array[f64, "H", "S", "L", "S"]):
    """Write g[h, s, r, c] = mass of sample row r on the columns j with j % s == c, for 1 <= s < S."""
    n_rows: i32 = probs.shape[1]
    n_strides: i32 = g.shape[1]
    for h in prange(probs.shape[0]):
        for s in range(n_strides):
            for r in range(n_rows):
                for c in range(n_strides):
                    g[h, s, r, c] = 0.0
        for s in range(1, n_strides):
            for r in range(n_rows):
                c: i32 = 0
                for j in range(probs.shape[2]):
                    g[h, s, r, c] += probs[h, r, j]
                    c += 1
                    if c == s:
                        c = 0


# ---- integer kernels: the hardware detector -----------------------------------------------------


@kernel
def detect_vs_accumulate(scores: Array[i32, "L", "N"], col_acc: Array[i64, "N"], diag_acc: Array[i64, "N"]):
    """Stream sampled scores once, row by row, into column and diagonal accumulators (causal corner skipped)."""
    n_rows: i32 = scores.shape[0]
    n_keys: i32 = scores.shape[1]
    for j in pipeline(range(n_keys), ii=1):
        col_acc[j] = 0
        diag_acc[j] = 0
    for r in range(n_rows):
        last: i32 = r + n_keys - n_rows
        for j in pipeline(range(n_keys), ii=1):
            if j <= last:
                col_acc[j] += scores[r, j]
                diag_acc[last - j] += scores[r, j]


@kernel(
    values={"n_forced": st.integers(-1, 8), "values": st.integers(-3, 3) | st.sampled_from([-(1 << 63), (1 << 63) - 1])}
)
def topk_select(values: Array[i64, "N"], n_forced: i32, idx: Array[i32, "K"]):
    """Write the indices of the K best values, best first: indices < n_forced first, then larger value, lower index.

    A K-entry register array kept sorted: each streamed value is compared with
    the last entry and, if better, inserted by shifting the worse entries
    down (K comparators in parallel in hardware). Unfilled entries are -1.
    """
    n_keep: i32 = idx.shape[0]
    keys = zeros(i64, n_keep)
    ids = zeros(i32, n_keep)
    count: i32 = 0
    for j in range(values.shape[0]):
        key = values[j]
        if j < n_forced:
            key = I64_MAX
        if count < n_keep or key > keys[n_keep - 1]:
            pos: i32 = min(count, n_keep - 1)
            while pos > 0 and keys[pos - 1] < key:
                keys[pos] = keys[pos - 1]
                ids[pos] = ids[pos - 1]
                pos -= 1
            keys[pos] = key
            ids[pos] = j
            count = min(count + 1, n_keep)
    for t in range(n_keep):
        idx[t] = ids[t] if t < count else -1


# ---- numpy references ---------------------------------------------------------------------------


def sample_attention_reference(q_last: np.ndarray, k: np.ndarray, scale: float) -> np.ndarray:
    """Compute vs_sample_softmax in numpy float64: [H, L, D] x [G, N, D] -> [H, L, N]."""
    h, n_rows, _ = q_last.shape
    n_keys = k.shape[1]
    kk = np.repeat(np.asarray(k, np.float64), h // k.shape[0], axis=0)
    s = scale * np.einsum("hld,hnd->hln", np.asarray(q_last, np.float64), kk)
    visible = np.arange(n_keys)[None, :] <= (np.arange(n_rows) + n_keys - n_rows)[:, None]
    s = np.where(visible, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    e = np.where(visible, np.exp(s - np.where(np.isfinite(m), m, 0.0)), 0.0)
    total = e.sum(-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def detect_vs_reference(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compute the column and diagonal sums in numpy (works for int and float scores; [..., L, N])."""
    n_rows, n_keys = scores.shape[-2:]
    acc_t = np.int64 if np.issubdtype(scores.dtype, np.integer) else np.float64
    o = (np.arange(n_rows) + n_keys - n_rows)[:, None] - np.arange(n_keys)[None, :]
    s = np.where(o >= 0, scores, 0).astype(acc_t)
    col = s.sum(-2)
    diag = np.zeros(s.shape[:-2] + (n_keys,), acc_t)
    for r in range(n_rows):
        ok = o[r] >= 0
        np.add.at(diag, (..., o[r][ok]), s[..., r, ok])
    return col, diag


def ranked_order(score: np.ndarray, n_forced: int) -> np.ndarray:
    """Return indices best first: those < n_forced in index order, then by score descending, ties to the lower index."""
    key = np.array(score, dtype=np.float64)
    key[..., : max(0, n_forced)] = np.inf
    return np.argsort(-key, axis=-1, kind="stable")


def topk_reference(values: np.ndarray, n_forced: int, k: int) -> np.ndarray:
    """Compute topk_select exactly (Python ints, so the full int64 range orders correctly)."""
    order = sorted(range(len(values)), key=lambda j: (0, 0, j) if j < n_forced else (1, -int(values[j]), j))
    out = np.full(k, -1, np.int32)
    out[: min(k, len(order))] = order[:k]
    return out


# ---- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerticalSlash:
    """Per head, kept key columns and kept diagonals o = i - j (bottom-right aligned), ascending."""

    vertical: np.ndarray  # [H, n_vertical] int64
    slash: np.ndarray  # [H, n_slash] int64


@dataclass(frozen=True)
class PatternFit:
    """A fitted pattern of one head: its parameters, sampled mass kept and density (kept / visible pairs)."""

    kind: str  # "a_shape" | "grid" | "vertical_slash"
    params: dict[str, int]
    mass: float
    density: float


@dataclass(frozen=True)
class PatternChoice:
    """The decision for one head: a fitted pattern, or kind "dense" when none fits the budget."""

    head: int
    kind: str  # "a_shape" | "grid" | "vertical_slash" | "dense"
    params: dict[str, int]
    mass: float
    density: float
    candidates: tuple[PatternFit, ...] = field(default=())


# ---- input checks -------------------------------------------------------------------------------


def _float_array(x: object, name: str, ndim: int) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if 0 in a.shape:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _positive_int(x: object, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{name} must be a positive int, got {x!r}")
    return int(x)


def _fraction(x: object, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating)) or not 0.0 < float(x) <= 1.0:
        raise ValueError(f"{name} must be a number in (0, 1], got {x!r}")
    return float(x)


def _check_probs(probs: object, n_query: int) -> np.ndarray:
    p = _float_array(probs, "probs", 3).astype(np.float64)
    if (p < 0).any():
        raise ValueError("probs must be non-negative (a sampled attention)")
    if isinstance(n_query, bool) or not isinstance(n_query, (int, np.integer)) or n_query < p.shape[1]:
        raise ValueError(f"n_query must be an int >= the {p.shape[1]} sampled rows, got {n_query!r}")
    return np.ascontiguousarray(p)


# ---- vertical-slash estimation ------------------------------------------------------------------


def sample_attention(
    q: np.ndarray, k: np.ndarray, last_q: int = LAST_Q, scale: float | None = None, backend: str = "numba-cpu"
) -> np.ndarray:
    """Return the sampled attention [H, L, Nk] of the last L = min(last_q, Nq) queries of q [H, Nq, d], k [G, Nk, d]."""
    q = _float_array(q, "q", 3)
    k = _float_array(k, "k", 3)
    if k.shape[2] != q.shape[2]:
        raise ValueError(f"q and k head dims differ: {q.shape[2]} vs {k.shape[2]}")
    if q.shape[0] % k.shape[0]:
        raise ValueError(f"q heads ({q.shape[0]}) must be a multiple of k heads ({k.shape[0]})")
    last_q = _positive_int(last_q, "last_q")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[2])
    if not np.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale!r}")
    n_rows = min(last_q, q.shape[1])
    q_last = np.ascontiguousarray(q[:, q.shape[1] - n_rows :], dtype=np.float64)
    probs = np.zeros((q.shape[0], n_rows, k.shape[1]))
    run(vs_sample_softmax, q_last, np.ascontiguousarray(k, dtype=np.float64), float(scale), probs, backend=backend)
    return probs


def _vs_sizes(vertical_size: int, slash_size: int, n_keys: int) -> tuple[int, int]:
    vertical_size = _positive_int(vertical_size, "vertical_size")
    slash_size = _positive_int(slash_size, "slash_size")
    return min(max(vertical_size, MIN_VERTICAL), n_keys), min(max(slash_size, MIN_SLASH), n_keys)


def vertical_slash_from_probs(
    probs: np.ndarray, vertical_size: int = VERTICAL_SIZE, slash_size: int = SLASH_SIZE, backend: str = "numba-cpu"
) -> VerticalSlash:
    """Return the vertical-slash index sets of a sampled attention [H, L, Nk]."""
    p = _check_probs(probs, np.asarray(probs).shape[1] if np.ndim(probs) == 3 else 0)
    nv, ns = _vs_sizes(vertical_size, slash_size, p.shape[2])
    col, diag = np.zeros(p.shape[::2]), np.zeros(p.shape[::2])
    run(vs_accumulate, p, col, diag, backend=backend)
    vertical = np.sort(ranked_order(col, FORCED_COLUMNS)[:, :nv], axis=-1)
    slash = np.sort(ranked_order(diag, FORCED_DIAGONALS)[:, :ns], axis=-1)
    return VerticalSlash(vertical.astype(np.int64), slash.astype(np.int64))


def vertical_slash_indices(
    q: np.ndarray,
    k: np.ndarray,
    vertical_size: int = VERTICAL_SIZE,
    slash_size: int = SLASH_SIZE,
    last_q: int = LAST_Q,
    scale: float | None = None,
    backend: str = "numba-cpu",
) -> VerticalSlash:
    """Estimate vertical-slash index sets online from the last queries (MInference; see the module docstring)."""
    return vertical_slash_from_probs(sample_attention(q, k, last_q, scale, backend), vertical_size, slash_size, backend)


def quantize_probs(probs: np.ndarray, frac_bits: int = 16) -> np.ndarray:
    """Round a sampled attention to int32 fixed point with `frac_bits` fraction bits (the hardware input)."""
    if not 0 <= frac_bits <= 30:
        raise ValueError(f"frac_bits must be in 0..30, got {frac_bits}")
    return np.rint(np.asarray(probs, np.float64) * (1 << frac_bits)).astype(np.int32)


def vertical_slash_from_int_scores(
    scores: np.ndarray, vertical_size: int = VERTICAL_SIZE, slash_size: int = SLASH_SIZE, backend: str = "numba-cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Run the hardware detector on one head's sampled integer scores [L, N]: (vertical, slash), ascending."""
    s = np.asarray(scores)
    if s.dtype != np.int32 or s.ndim != 2 or 0 in s.shape:
        raise ValueError(f"scores must be a non-empty 2-D int32 array, got {s.dtype} {s.shape}")
    nv, ns = _vs_sizes(vertical_size, slash_size, s.shape[1])
    col, diag = np.zeros(s.shape[1], np.int64), np.zeros(s.shape[1], np.int64)
    run(detect_vs_accumulate, s, col, diag, backend=backend)
    vertical, slash = np.zeros(nv, np.int32), np.zeros(ns, np.int32)
    run(topk_select, col, FORCED_COLUMNS, vertical, backend=backend)
    run(topk_select, diag, FORCED_DIAGONALS, slash, backend=backend)
    return np.sort(vertical).astype(np.int64), np.sort(slash).astype(np.int64)


# ---- densities (exact, over the whole causal Nq x Nk) -------------------------------------------


def _visible(n_query: int, n_key: int) -> np.ndarray:
    return np.clip(np.arange(n_query) + n_key - n_query + 1, 0, n_key)


def a_shape_density(n_init: int, n_local: int, n_query: int, n_key: int) -> float:
    """Return the kept fraction of the visible pairs for an A-shape (exact)."""
    v = _visible(n_query, n_key)
    top = np.minimum(n_init, v)
    kept = v - np.maximum(v - n_local, top) + top
    return float(kept.sum() / max(v.sum(), 1))


def grid_density(stride: int, phase_q: int, phase_k: int, n_query: int, n_key: int) -> float:
    """Return the kept fraction of the visible pairs for a grid (i % stride == phase_q or j % stride == phase_k)."""
    v = _visible(n_query, n_key)
    cols = np.maximum(v - phase_k + stride - 1, 0) // stride
    kept = np.where((np.arange(n_query) + n_key - n_query) % stride == phase_q, v, cols)
    return float(kept.sum() / max(v.sum(), 1))


def _vs_density_bound(col_rank: np.ndarray, diag_rank: np.ndarray, nv: int, ns: int, n_query: int) -> float:
    n_key = col_rank.shape[0]
    v = _visible(n_query, n_key)
    cols = np.concatenate([[0], np.cumsum(col_rank < nv)])
    diags = np.concatenate([[0], np.cumsum(diag_rank < ns)])
    return float(np.minimum(v, cols[v] + diags[v]).sum() / max(v.sum(), 1))


# ---- fitting ------------------------------------------------------------------------------------


def a_shape_mass(p: np.ndarray, n_init: int, n_local: int) -> float:
    """Return the fraction of a sampled attention [L, N] that an A-shape keeps (numpy reference)."""
    n_rows, n_keys = p.shape
    o = (np.arange(n_rows) + n_keys - n_rows)[:, None] - np.arange(n_keys)[None, :]
    keep = (o >= 0) & ((np.arange(n_keys)[None, :] < n_init) | (o < n_local))
    return float((p * keep).sum() / max(p.sum(), 1e-300))


def fit_a_shape(
    probs: np.ndarray, n_query: int, mass_target: float = 0.9, backend: str = "numba-cpu"
) -> list[PatternFit]:
    """Fit (n_init, n_local) per head: the least n_init + n_local keeping mass_target of the sampled mass."""
    p = _check_probs(probs, n_query)
    target = _fraction(mass_target, "mass_target")
    fit = np.zeros((p.shape[0], 2), np.int64)
    run(a_shape_search, p, target, fit, backend=backend)
    return [
        PatternFit(
            "a_shape",
            {"n_init": int(a), "n_local": int(b)},
            a_shape_mass(p[h], a, b),
            a_shape_density(int(a), int(b), n_query, p.shape[2]),
        )
        for h, (a, b) in enumerate(fit)
    ]


def fit_grid(
    probs: np.ndarray, n_query: int, mass_target: float = 0.9, max_stride: int = 64, backend: str = "numba-cpu"
) -> list[PatternFit | None]:
    """Fit (stride, phase_q, phase_k) per head; None where no stride in 2..max_stride reaches the target."""
    p = _check_probs(probs, n_query)
    target = _fraction(mass_target, "mass_target")
    top_stride = min(_positive_int(max_stride, "max_stride"), p.shape[2])
    n_heads, n_rows, n_keys = p.shape
    g = np.zeros((n_heads, top_stride + 1, n_rows, top_stride + 1))
    run(grid_residue_mass, p, g, backend=backend)
    row_mass = p.sum(-1)
    fits: list[PatternFit | None] = []
    for h in range(n_heads):
        goal, best = target * row_mass[h].sum(), None
        for s in range(2, top_stride + 1):
            table = g[h, s, :, :s]  # [L, s]: row mass per column residue
            phase = (n_keys - n_rows + np.arange(n_rows)) % s  # absolute positions p = i + Nk - Nq, as masks use
            onehot = phase[:, None] == np.arange(s)[None, :]
            mass = (onehot.T @ row_mass[h])[:, None] + table.sum(0)[None, :] - onehot.T.astype(float) @ table
            pq, pk = np.unravel_index(int(np.argmax(mass)), mass.shape)
            if mass[pq, pk] < goal:
                continue
            cand = PatternFit(
                "grid",
                {"stride": s, "phase_q": int(pq), "phase_k": int(pk)},
                float(mass[pq, pk] / row_mass[h].sum()),
                grid_density(s, int(pq), int(pk), n_query, n_keys),
            )
            if best is None or cand.density < best.density:
                best = cand
        fits.append(best)
    return fits


def _vertical_candidates(n_keys: int) -> list[int]:
    extra = {0} | {int(math.sqrt(2) ** t) for t in range(2 * max(1, n_keys.bit_length()) + 2)}
    return sorted({min(MIN_VERTICAL + e, n_keys) for e in extra})


def fit_vertical_slash(
    probs: np.ndarray, n_query: int, mass_target: float = 0.9, backend: str = "numba-cpu"
) -> list[PatternFit]:
    """Fit (n_vertical, n_slash) per head: the least sum keeping mass_target, in the ranked vertical-slash order.

    n_vertical runs over 30 + {0, 1, 2, 2, 4, 5, 8, ...} (powers of sqrt 2),
    n_slash is exact (at least 50) for each; both clipped to Nk.
    """
    p = _check_probs(probs, n_query)
    target = _fraction(mass_target, "mass_target")
    n_heads, _, n_keys = p.shape
    col, diag = np.zeros((n_heads, n_keys)), np.zeros((n_heads, n_keys))
    run(vs_accumulate, p, col, diag, backend=backend)
    col_order, diag_order = ranked_order(col, FORCED_COLUMNS), ranked_order(diag, FORCED_DIAGONALS)
    col_rank, diag_rank = np.argsort(col_order, axis=-1), np.argsort(diag_order, axis=-1)
    goal = target * p.sum(axis=(1, 2))
    best: list[tuple[int, int, float] | None] = [None] * n_heads
    ns_min = min(MIN_SLASH, n_keys)
    base, curve = np.zeros(n_heads), np.zeros((n_heads, n_keys))
    for nv in _vertical_candidates(n_keys):
        run(vs_mass_curve, p, col_rank.astype(np.int64), diag_order.astype(np.int64), nv, base, curve, backend=backend)
        for h in range(n_heads):
            ok = curve[h, ns_min - 1 :] >= goal[h]
            if ok.any():
                ns = ns_min + int(np.argmax(ok))
                if best[h] is None or nv + ns < best[h][0] + best[h][1]:
                    best[h] = (nv, ns, float(curve[h, ns - 1] / p[h].sum()))
    fits = []
    for h, b in enumerate(best):
        nv, ns, mass = b if b is not None else (n_keys, n_keys, 1.0)
        fits.append(
            PatternFit(
                "vertical_slash",
                {"n_vertical": nv, "n_slash": ns},
                mass,
                _vs_density_bound(col_rank[h], diag_rank[h], nv, ns, n_query),
            )
        )
    return fits


def choose_from_probs(
    probs: np.ndarray,
    n_query: int,
    mass_target: float = 0.9,
    density_budget: float = 0.3,
    max_stride: int = 64,
    backend: str = "numba-cpu",
) -> list[PatternChoice]:
    """Choose per head the least dense fit reaching mass_target within density_budget, else "dense".

    Ties go to A-shape, then grid, then vertical-slash.
    """
    budget = _fraction(density_budget, "density_budget")
    fits = zip(
        fit_a_shape(probs, n_query, mass_target, backend),
        fit_grid(probs, n_query, mass_target, max_stride, backend),
        fit_vertical_slash(probs, n_query, mass_target, backend),
    )
    choices = []
    for h, cands in enumerate(fits):
        found = tuple(c for c in cands if c is not None)
        fitting = [c for c in found if c.density <= budget]
        if fitting:
            c = min(fitting, key=lambda f: f.density)
            choices.append(PatternChoice(h, c.kind, c.params, c.mass, c.density, found))
        else:
            choices.append(PatternChoice(h, "dense", {}, 1.0, 1.0, found))
    return choices


def choose_patterns(
    q: np.ndarray,
    k: np.ndarray,
    mass_target: float = 0.9,
    density_budget: float = 0.3,
    last_q: int = LAST_Q,
    scale: float | None = None,
    max_stride: int = 64,
    backend: str = "numba-cpu",
) -> list[PatternChoice]:
    """Sample the attention of q [H, Nq, d], k [G, Nk, d] and choose a pattern per head (see choose_from_probs)."""
    probs = sample_attention(q, k, last_q, scale, backend)
    return choose_from_probs(probs, np.asarray(q).shape[1], mass_target, density_budget, max_stride, backend)
