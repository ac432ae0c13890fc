"""Dynamic Mask Attention (Flash-DMA): a learned top-k key mask whose kept values bias the scores.

Per docs/ALGORITHMS.md, for query [B, Nq, H, d], key/value [B, Nk, Hkv, d]:

    dt   = reshape(V, [B, Nk, Hkv*d]) @ dt_proj^T      dt_proj: [Hkv, Hkv*d]
    zoh  = exp(softplus(dt) * A)  -> [B, Hkv, Nk]       A = a_coef: [Hkv]
    keep, per query row, the top keep_window_size visible keys by zoh
    S = scale * Q @ K^T + zoh (not kept -> -inf); O = softmax(S) @ V

Three kernels do the work:

1. `dma_zoh_<f32|f64>`: the zoh values (the projection, softplus and exp).
2. The mask builder, `dma_topk_threshold` then `dma_tile_flags`. Query rows
   see growing prefixes of the keys (all keys when not causal), so one pass
   over the keys with a k-entry min-heap gives every row's threshold in
   O(Nk log k) per kv head. Keys are ordered by (zoh descending, index
   ascending), so ties are broken deterministically and a row's kept set is
   "zoh > thr, or zoh == thr and j <= jcut": two numbers per row, with no Nq x Nk
   mask. Rows that see at most keep_window_size keys keep them all
   (thr = KEEP_ALL, -max float). Thresholds only rise from one row to the next, so whether a
   (query-tile, key-tile) pair holds a kept key depends only on the first row of
   the tile that sees each key: O(Nk) per query tile.
3. `flash_dma_fwd_<f32|f64>`: the fused flash kernel. Per (batch, head,
   query tile) the online softmax runs over the key tiles that the flag array
   marks live, with the zoh bias added and scores and sums kept in float64. A
   skipped tile would have changed nothing: its rows would see only -inf
   scores.

Kernels typed for float32 and float64 come from one source (`_float_kernels`).
A row with no kept key (causal, Nq > Nk) gives output 0 and LSE -inf, never NaN.
A kept key keeps its zoh bias even when zoh underflows to 0 (the seed dropped
zero entries; docs/ALGORITHMS.md keeps them). dropout is not implemented:
dropout_p must be 0.0.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from backends import run
from hls import Array, exp, f32, f64, i32, i64, kernel, log, prange, zeros

NEG_INF = float("-inf")
KEEP_ALL = -1.7976931348623157e308  # thr of a row that keeps every visible key (finite: kernels take no inf)
BLOCK_M = 64
BLOCK_N = 64

__all__ = [
    "DmaMask",
    "build_dma_mask",
    "dma_attention_core",
    "dma_keep_reference",
    "dma_probs_f32",
    "dma_probs_f64",
    "dma_reference",
    "dma_tile_flags",
    "dma_topk_threshold",
    "dma_zoh_f32",
    "dma_zoh_f64",
    "dma_zoh_reference",
    "dma_zoh_values",
    "flash_dma_attention",
    "flash_dma_fwd_f32",
    "flash_dma_fwd_f64",
]


# ---- the mask builder (float64 zoh only) ---------------------------------------------------------


@kernel
def dma_topk_threshold(
    zoh: Array[f64, "B", "G", "N"],
    keep: i64,
    causal: bool,
    thr: Array[f64, "B", "G", "M"],
    jcut: Array[i32, "B", "G", "M"],
):
    """Write per query row the worst kept key (thr, jcut) of the top `keep` visible keys by (zoh desc, index asc).

    One pass over the keys per kv head with a min-heap of the `keep` best
    seen so far (its root is the worst kept key). Rows that see at most
    `keep` keys get thr = KEEP_ALL (-max float), jcut = N (keep all).
    """
    n_k: i32 = zoh.shape[2]
    n_q: i32 = thr.shape[2]
    cap: i32 = min(max(keep, 1), max(n_k, 1))
    for t in prange(zoh.shape[0] * zoh.shape[1]):
        b: i32 = t // zoh.shape[1]
        g: i32 = t % zoh.shape[1]
        hv = zeros(f64, cap)
        hj = zeros(i32, cap)
        size: i32 = 0
        nxt: i32 = 0
        for i in range(n_q):
            last: i32 = n_k - 1
            if causal:
                last = min(i + n_k - n_q, n_k - 1)
            while nxt <= last:
                z: f64 = zoh[b, g, nxt]
                if size < cap:
                    pos: i32 = size
                    moving = True
                    while moving and pos > 0:
                        parent: i32 = (pos - 1) // 2
                        if z < hv[parent] or (z == hv[parent] and nxt > hj[parent]):
                            hv[pos] = hv[parent]
                            hj[pos] = hj[parent]
                            pos = parent
                        else:
                            moving = False
                    hv[pos] = z
                    hj[pos] = nxt
                    size += 1
                elif z > hv[0] or (z == hv[0] and nxt < hj[0]):
                    pos = 0
                    moving = True
                    while moving:
                        child: i32 = 2 * pos + 1
                        if child + 1 < size and (
                            hv[child + 1] < hv[child] or (hv[child + 1] == hv[child] and hj[child + 1] > hj[child])
                        ):
                            child += 1
                        if child < size and (hv[child] < z or (hv[child] == z and hj[child] > nxt)):
                            hv[pos] = hv[child]
                            hj[pos] = hj[child]
                            pos = child
                        else:
                            moving = False
                    hv[pos] = z
                    hj[pos] = nxt
                nxt += 1
            if nxt <= keep:
                thr[b, g, i] = KEEP_ALL
                jcut[b, g, i] = n_k
            else:
                thr[b, g, i] = hv[0]
                jcut[b, g, i] = hj[0]


@kernel
def dma_tile_flags(
    zoh: Array[f64, "B", "G", "N"],
    thr: Array[f64, "B", "G", "M"],
    jcut: Array[i32, "B", "G", "M"],
    causal: bool,
    block_m: i32,
    block_n: i32,
    live: Array[bool, "B", "G", "TM", "TN"],
):
    """Mark the (query tile, key tile) pairs holding at least one kept key.

    Thresholds rise with the row (each row's visible keys contain the
    previous row's), so a key is kept by some row of a tile iff it is kept by
    the first row of the tile that sees it.
    """
    n_k: i32 = zoh.shape[2]
    n_q: i32 = thr.shape[2]
    n_qt: i32 = live.shape[2]
    n_kt: i32 = live.shape[3]
    bm: i32 = max(block_m, 1)
    bn: i32 = max(block_n, 1)
    n_tasks: i64 = zoh.shape[0] * zoh.shape[1] * n_qt
    for t in prange(n_tasks):
        b: i32 = t // (zoh.shape[1] * n_qt)
        g: i32 = i64(t // n_qt) % zoh.shape[1]
        qt: i32 = t % n_qt
        for kt in range(n_kt):
            live[b, g, qt, kt] = False
        first: i64 = qt * bm
        final: i64 = min(i64(qt * bm + bm), n_q) - 1
        for j in range(n_k):
            kt2: i64 = j // bn
            if kt2 < n_kt:
                i: i64 = first
                if causal:
                    i = max(first, j - (n_k - n_q))
                if i <= final:
                    z = zoh[b, g, j]
                    if z > thr[b, g, i] or (z == thr[b, g, i] and j <= jcut[b, g, i]):
                        live[b, g, qt, kt2] = True


# ---- zoh and the fused attention, for float32 and float64 tensors --------------------------------


def _float_kernels(elem: Any, tag: str) -> tuple[Any, Any, Any]:
    """Build the zoh, fused-attention and probability kernels whose q/k/v/out arrays have element type `elem`."""

    def dma_zoh(
        value: Array[elem, "B", "N", "G", "D"],
        dt_proj: Array[f64, "G", "E"],
        a_coef: Array[f64, "G"],
        zoh: Array[f64, "B", "G", "N"],
    ):
        """Write zoh[b, g, j] = exp(softplus(flatten(value[b, j]) . dt_proj[g]) * a_coef[g])."""
        width: i32 = value.shape[3]
        n_tasks: i64 = value.shape[0] * value.shape[1]
        for t in prange(n_tasks):
            b: i32 = t // value.shape[1]
            j: i32 = t % value.shape[1]
            for g in range(value.shape[2]):
                dt: f64 = 0.0
                for gg in range(value.shape[2]):
                    for d in range(width):
                        e: i64 = gg * width + d
                        if e < dt_proj.shape[1]:
                            dt += value[b, j, gg, d] * dt_proj[g, e]
                softplus = max(dt, 0.0) + log(1.0 + exp(-abs(dt)))
                zoh[b, g, j] = exp(softplus * a_coef[g])

    def flash_dma_fwd(
        q: Array[elem, "B", "M", "H", "D"],
        k: Array[elem, "B", "N", "G", "D"],
        v: Array[elem, "B", "N", "G", "D"],
        zoh: Array[f64, "B", "G", "N"],
        thr: Array[f64, "B", "G", "M"],
        jcut: Array[i32, "B", "G", "M"],
        live: Array[bool, "B", "G", "TM", "TN"],
        scale: f64,
        causal: bool,
        block_m: i32,
        block_n: i32,
        out: Array[elem, "B", "M", "H", "D"],
        lse: Array[f64, "B", "H", "M"],
    ):
        """Compute DMA attention fused: online softmax over the live key tiles, zoh bias on the kept keys."""
        n_q: i32 = q.shape[1]
        n_k: i32 = k.shape[1]
        n_h: i32 = q.shape[2]
        width: i32 = q.shape[3]
        n_qt: i32 = live.shape[2]
        bm: i32 = min(max(block_m, 1), max(n_q, 1))
        bn: i32 = min(max(block_n, 1), max(n_k, 1))
        n_tasks: i64 = q.shape[0] * n_h * n_qt
        for t in prange(n_tasks):
            b: i32 = t // (n_h * n_qt)
            h: i32 = i64(t // n_qt) % n_h
            qt: i32 = t % n_qt
            g: i32 = h * k.shape[2] // n_h
            m = zeros(f64, bm)
            den = zeros(f64, bm)
            acc = zeros(f64, bm, width)
            s = zeros(f64, bn)
            for r in range(bm):
                m[r] = NEG_INF
            for kt in range(live.shape[3]):
                if live[b, g, qt, kt]:
                    for r in range(bm):
                        i: i32 = qt * bm + r
                        if i < n_q:
                            last: i32 = n_k - 1
                            if causal:
                                last = min(i + n_k - n_q, n_k - 1)
                            t_thr = thr[b, g, i]
                            t_cut = jcut[b, g, i]
                            row_max: f64 = NEG_INF
                            for c in range(bn):
                                j: i32 = kt * bn + c
                                s[c] = NEG_INF
                                if j <= last:
                                    z = zoh[b, g, j]
                                    if z > t_thr or (z == t_thr and j <= t_cut):
                                        dot: f64 = 0.0
                                        for d in range(width):
                                            dot += q[b, i, h, d] * k[b, j, g, d]
                                        s[c] = dot * scale + z
                                        row_max = max(row_max, s[c])
                            if row_max > NEG_INF:
                                m_new = max(m[r], row_max)
                                alpha = exp(m[r] - m_new)
                                if alpha != 1.0:
                                    den[r] = den[r] * alpha
                                    for d in range(width):
                                        acc[r, d] = acc[r, d] * alpha
                                for c in range(bn):
                                    if s[c] > NEG_INF:
                                        p = exp(s[c] - m_new)
                                        den[r] += p
                                        j2: i32 = kt * bn + c
                                        for d in range(width):
                                            acc[r, d] += p * v[b, j2, g, d]
                                m[r] = m_new
            for r in range(bm):
                i3: i32 = qt * bm + r
                if i3 < n_q:
                    if den[r] > 0.0:
                        for d in range(width):
                            out[b, i3, h, d] = acc[r, d] / den[r]
                        lse[b, h, i3] = m[r] + log(den[r])
                    else:
                        for d in range(width):
                            out[b, i3, h, d] = 0.0
                        lse[b, h, i3] = NEG_INF

    def dma_probs(
        q: Array[elem, "B", "M", "H", "D"],
        k: Array[elem, "B", "N", "G", "D"],
        zoh: Array[f64, "B", "G", "N"],
        thr: Array[f64, "B", "G", "M"],
        jcut: Array[i32, "B", "G", "M"],
        lse: Array[f64, "B", "H", "M"],
        scale: f64,
        causal: bool,
        probs: Array[elem, "B", "H", "M", "N"],
    ):
        """Write the attention probabilities exp(S - lse) on kept keys, 0 elsewhere."""
        n_q: i32 = q.shape[1]
        n_k: i32 = k.shape[1]
        n_h: i32 = q.shape[2]
        n_rows: i64 = q.shape[0] * n_h * n_q
        for t in prange(n_rows):
            b: i32 = t // (n_h * n_q)
            h: i32 = i64(t // n_q) % n_h
            i: i32 = t % n_q
            g: i32 = h * k.shape[2] // n_h
            last: i32 = n_k - 1
            if causal:
                last = min(i + n_k - n_q, n_k - 1)
            for j in range(n_k):
                probs[b, h, i, j] = 0.0
                z = zoh[b, g, j]
                if j <= last and (z > thr[b, g, i] or (z == thr[b, g, i] and j <= jcut[b, g, i])):
                    dot: f64 = 0.0
                    for d in range(q.shape[3]):
                        dot += q[b, i, h, d] * k[b, j, g, d]
                    probs[b, h, i, j] = exp(dot * scale + z - lse[b, h, i])

    made = []
    small = st.floats(-2.0, 2.0, width=64)
    for fn, options in (
        (dma_zoh, {"values": {"a_coef": st.floats(-4.0, 0.0, width=64)}}),
        (flash_dma_fwd, {"values": {"block_m": st.integers(1, 4), "block_n": st.integers(1, 4)}}),
        (dma_probs, {"values": {"q": small, "k": small, "scale": small}}),
    ):
        fn.__name__ = fn.__qualname__ = f"{fn.__name__}_{tag}"
        made.append(kernel(fn, **options))
    return made[0], made[1], made[2]


dma_zoh_f32, flash_dma_fwd_f32, dma_probs_f32 = _float_kernels(f32, "f32")
dma_zoh_f64, flash_dma_fwd_f64, dma_probs_f64 = _float_kernels(f64, "f64")
_BY_DTYPE = {
    np.dtype(np.float32): (dma_zoh_f32, flash_dma_fwd_f32, dma_probs_f32),
    np.dtype(np.float64): (dma_zoh_f64, flash_dma_fwd_f64, dma_probs_f64),
}


# ---- orchestration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DmaMask:
    """The mask builder's output: per-row thresholds and the live-tile flags."""

    thr: np.ndarray  # [B, Hkv, Nq] float64: zoh of the worst kept key (KEEP_ALL: every visible key)
    jcut: np.ndarray  # [B, Hkv, Nq] int32: index of the worst kept key (ties at thr kept up to it)
    live: np.ndarray  # [B, Hkv, ceil(Nq/block_m), ceil(Nk/block_n)] bool
    block_m: int
    block_n: int

    def kept(self, zoh: np.ndarray, causal: bool) -> np.ndarray:
        """Expand to the dense kept mask [B, Hkv, Nq, Nk] (for tests and small inputs)."""
        n_q, n_k = self.thr.shape[2], zoh.shape[2]
        z, t, c = zoh[:, :, None, :], self.thr[..., None], self.jcut[..., None]
        j = np.arange(n_k)
        keep = (z > t) | ((z == t) & (j <= c))
        if causal:
            keep &= j[None, :] <= np.arange(n_q)[:, None] + n_k - n_q
        return keep


def dma_zoh_values(
    value: np.ndarray, dt_proj: np.ndarray, a_coef: np.ndarray, backend: str = "numba-cpu"
) -> np.ndarray:
    """Run the zoh kernel: [B, Nk, Hkv, d] value -> [B, Hkv, Nk] float64 zoh (checked inputs assumed)."""
    zoh = np.zeros((value.shape[0], value.shape[2], value.shape[1]))
    run(
        _BY_DTYPE[value.dtype][0],
        value,
        np.ascontiguousarray(dt_proj, np.float64),
        np.ascontiguousarray(a_coef, np.float64),
        zoh,
        backend=backend,
    )
    return zoh


def build_dma_mask(
    zoh: np.ndarray,
    n_query: int,
    keep_window_size: int,
    causal: bool,
    block_m: int = BLOCK_M,
    block_n: int = BLOCK_N,
    skip_tiles: bool = True,
    backend: str = "numba-cpu",
) -> DmaMask:
    """Run the mask builder on zoh [B, Hkv, Nk]: per-row thresholds, then the live-tile flags."""
    n_b, n_g, n_k = zoh.shape
    thr, jcut = np.zeros((n_b, n_g, n_query)), np.zeros((n_b, n_g, n_query), np.int32)
    run(dma_topk_threshold, zoh, keep_window_size, causal, thr, jcut, backend=backend)
    live = np.ones((n_b, n_g, -(-n_query // block_m), -(-n_k // block_n)), bool)
    if skip_tiles:
        run(dma_tile_flags, zoh, thr, jcut, causal, block_m, block_n, live, backend=backend)
    return DmaMask(thr, jcut, live, block_m, block_n)


def dma_attention_core(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    zoh: np.ndarray,
    mask: DmaMask,
    scale: float,
    causal: bool,
    backend: str = "numba-cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Run the fused kernel: (out [B, Nq, H, d] in the input dtype, lse [B, H, Nq] float64)."""
    out = np.zeros_like(query)
    lse = np.zeros((query.shape[0], query.shape[2], query.shape[1]))
    run(
        _BY_DTYPE[query.dtype][1],
        query,
        key,
        value,
        zoh,
        mask.thr,
        mask.jcut,
        mask.live,
        float(scale),
        causal,
        mask.block_m,
        mask.block_n,
        out,
        lse,
        backend=backend,
    )
    return out, lse


def _tensor(x: object, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {a.dtype}")
    if 0 in a.shape:
        raise ValueError(f"{name} is empty (shape {a.shape}); every dimension must be at least 1")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _check_inputs(
    query: Any,
    key: Any,
    value: Any,
    dt_proj: Any,
    a_coef: Any,
    keep_window_size: Any,
    dropout_p: Any,
    softmax_scale: Any,
) -> tuple[np.ndarray, ...]:
    if not isinstance(dropout_p, (int, float)) or dropout_p != 0.0:
        raise ValueError(f"dropout_p must be 0.0 (dropout is not implemented), got {dropout_p!r}")
    q, k, v = _tensor(query, "query"), _tensor(key, "key"), _tensor(value, "value")
    for name, a in (("query", q), ("key", k), ("value", v)):
        if a.ndim != 4:
            raise ValueError(f"{name} must be [batch, seq, heads, head_dim], got shape {a.shape}")
    if k.shape != v.shape:
        raise ValueError(f"key and value shapes differ: {k.shape} vs {v.shape}")
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(f"query, key and value dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")
    if q.shape[0] != k.shape[0] or q.shape[3] != k.shape[3]:
        raise ValueError(f"query {q.shape} and key {k.shape} differ in batch or head_dim")
    n_kv = k.shape[2]
    if q.shape[2] % n_kv:
        raise ValueError(f"query heads ({q.shape[2]}) must be a multiple of key/value heads ({n_kv})")
    dt = _tensor(dt_proj, "dt_proj")
    if dt.shape != (n_kv, n_kv * k.shape[3]):
        raise ValueError(f"dt_proj must have shape {(n_kv, n_kv * k.shape[3])} (Hkv, Hkv*head_dim), got {dt.shape}")
    a = _tensor(a_coef, "a_coef")
    if a.shape != (n_kv,):
        raise ValueError(f"a_coef must have shape {(n_kv,)} (one per key/value head), got {a.shape}")
    if (
        isinstance(keep_window_size, bool)
        or not isinstance(keep_window_size, (int, np.integer))
        or keep_window_size < 1
    ):
        raise ValueError(f"keep_window_size must be an int >= 1, got {keep_window_size!r}")
    if softmax_scale is not None and (
        isinstance(softmax_scale, bool)
        or not isinstance(softmax_scale, (int, float))
        or not math.isfinite(softmax_scale)
    ):
        raise ValueError(f"softmax_scale must be None or a finite number, got {softmax_scale!r}")
    return q, k, v, dt, a


def flash_dma_attention(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    dt_proj: np.ndarray,
    a_coef: np.ndarray,
    keep_window_size: int = 1024,
    dropout_p: float = 0.0,
    causal: bool = False,
    softmax_scale: float | None = None,
    return_attn_probs: bool = False,
    *,
    block_m: int = BLOCK_M,
    block_n: int = BLOCK_N,
    skip_tiles: bool = True,
    backend: str = "numba-cpu",
) -> Any:
    """Compute Dynamic Mask Attention with the fused flash kernel.

    query [B, Nq, H, d], key and value [B, Nk, Hkv, d] (float32 or float64,
    one dtype), dt_proj [Hkv, Hkv*d], a_coef [Hkv]. keep_window_size >= Nk
    keeps every visible key (plain attention with the zoh bias). causal is
    bottom-right aligned. softmax_scale defaults to 1/sqrt(d). dropout_p must
    be 0.0. Returns out [B, Nq, H, d]; with return_attn_probs, (out, lse
    [B, H, Nq], probs [B, H, Nq, Nk]), all in the input dtype; probs is
    materialized densely (for testing). `skip_tiles=False` computes every key
    tile (the result is identical). Raises ValueError on bad input, and when
    zoh overflows (a positive a_coef with a large dt).
    """
    q, k, v, dt, a = _check_inputs(query, key, value, dt_proj, a_coef, keep_window_size, dropout_p, softmax_scale)
    for name, size in (("block_m", block_m), ("block_n", block_n)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"{name} must be a positive int, got {size!r}")
    q, k, v = (np.ascontiguousarray(x) for x in (q, k, v))
    scale = 1.0 / math.sqrt(q.shape[3]) if softmax_scale is None else float(softmax_scale)
    zoh = dma_zoh_values(v, dt, a, backend)
    if not np.isfinite(zoh).all():
        raise ValueError("zoh = exp(softplus(dt) * a_coef) overflows; a_coef is usually negative (A = -exp(A_log))")
    mask = build_dma_mask(
        zoh,
        q.shape[1],
        int(keep_window_size),
        bool(causal),
        min(block_m, q.shape[1]),
        min(block_n, k.shape[1]),
        skip_tiles,
        backend,
    )
    out, lse = dma_attention_core(q, k, v, zoh, mask, scale, bool(causal), backend)
    if not return_attn_probs:
        return out
    probs = np.zeros((q.shape[0], q.shape[2], q.shape[1], k.shape[1]), q.dtype)
    finite_lse = np.where(np.isfinite(lse), lse, 0.0)  # rows without a kept key get probability 0 anyway
    run(_BY_DTYPE[q.dtype][2], q, k, zoh, mask.thr, mask.jcut, finite_lse, scale, bool(causal), probs, backend=backend)
    return out, lse.astype(q.dtype), probs


# ---- numpy float64 reference --------------------------------------------------------------------


def dma_zoh_reference(value: np.ndarray, dt_proj: np.ndarray, a_coef: np.ndarray) -> np.ndarray:
    """Compute zoh [B, Hkv, Nk] from value [B, Nk, Hkv, d] in numpy float64."""
    v = np.asarray(value, np.float64)
    dt = v.reshape(v.shape[0], v.shape[1], -1) @ np.asarray(dt_proj, np.float64).T  # [B, Nk, Hkv]
    return np.exp(np.logaddexp(0.0, dt) * np.asarray(a_coef, np.float64)).transpose(0, 2, 1)


def dma_keep_reference(zoh: np.ndarray, n_query: int, keep_window_size: int, causal: bool) -> np.ndarray:
    """Return the kept mask [B, Hkv, Nq, Nk]: the top keep_window_size visible keys per row, ties to the lower index."""
    n_k = zoh.shape[-1]
    j = np.arange(n_k)
    visible = j[None, :] <= np.arange(n_query)[:, None] + n_k - n_query if causal else np.ones((n_query, n_k), bool)
    score = np.where(visible, zoh[:, :, None, :], -np.inf)
    order = np.argsort(-score, axis=-1, kind="stable")
    rank = np.argsort(order, axis=-1, kind="stable")
    return visible & (rank < keep_window_size)


def dma_reference(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    dt_proj: np.ndarray,
    a_coef: np.ndarray,
    keep_window_size: int = 1024,
    causal: bool = False,
    softmax_scale: float | None = None,
    compute_dtype: Any = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute DMA densely in numpy: (out [B, Nq, H, d], lse [B, H, Nq]) computed in compute_dtype.

    zoh and the kept set are always computed in float64, so a float32
    compute_dtype (the same-precision naive implementation of the tolerance
    rule) differs from the float64 reference only in arithmetic, never in
    which keys are kept.
    """
    q = np.asarray(query)
    n_b, n_q, n_h, d = q.shape
    n_g = np.asarray(key).shape[2]
    scale = 1.0 / math.sqrt(d) if softmax_scale is None else softmax_scale
    zoh = dma_zoh_reference(value, dt_proj, a_coef)
    kept = dma_keep_reference(zoh, n_q, keep_window_size, causal)
    ct = np.dtype(compute_dtype)
    qc, kc, vc = (np.asarray(x).astype(ct) for x in (query, key, value))
    out = np.zeros((n_b, n_q, n_h, d), ct)
    lse = np.zeros((n_b, n_h, n_q), ct)
    for b in range(n_b):
        for h in range(n_h):
            g = h // (n_h // n_g)
            s = ct.type(scale) * (qc[b, :, h] @ kc[b, :, g].T) + zoh[b, g].astype(ct)[None, :]
            s = np.where(kept[b, g], s, -np.inf).astype(ct)
            m = s.max(-1, keepdims=True)
            m = np.where(np.isfinite(m), m, 0).astype(ct)
            e = np.exp(s - m)
            total = e.sum(-1, keepdims=True)
            p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
            out[b, :, h] = p @ vc[b, :, g]
            with np.errstate(divide="ignore"):
                lse[b, h] = np.where(total[:, 0] > 0, m[:, 0] + np.log(total[:, 0]), -np.inf)
    return out, lse
