"""Scaled dot-product attention: naive, streaming (reordered), flash, and block-sparse flash.

Every algorithm is one kernel source, instantiated for float32 and float64 by
`_build` (the annotations and constants of a kernel are evaluated where it is
defined, so the factory defines each kernel once per precision; the source,
and so every backend's code, is the same text). The kernels are:

- `naive_f32/_f64`: three passes per query row (docs/ALGORITHMS.md "Naive"): the
  scores of the row, their max; e_j = exp(s_j - m) and their sum l;
  o = sum_j (e_j / l) v_j.
- `streaming_f32/_f64`: one pass per row with O(1) state per row besides the
  output vector (docs/ALGORITHMS.md "Reordered"): m' = max(m, s); delta = exp(m - m');
  e = exp(s - m'); l = l*delta + e; o = o*delta + e*v_j; one division o / l.
- `flash_f32/_f64`: tiles of BLOCK_M queries by BLOCK_N keys with the online
  softmax (docs/ALGORITHMS.md "Online softmax"); `flash_sparse_f32/_f64` visits only
  the key tiles listed in a block-CSR index.

Layout: q [B, H, Nq, D], k [B, H_kv, Nk, D], v [B, H_kv, Nk, Dv], o [B, H, Nq, Dv],
lse [B, H, Nq] (the log-sum-exp of the scaled scores of each row). Query head h
reads kv head h // (H // H_kv) (GQA; MQA when H_kv = 1). Causal masking is
bottom-right aligned: key j is visible to query i when j <= i + (Nk - Nq). A row
with no visible key gives o = 0 and lse = -inf, never NaN.

Block-sparse index (the format `flash_sparse_*` take; algorithms/csr.py builds
richer block-CSR objects that convert to it): with query tiles of `block_m` rows
and key tiles of `block_n` columns, query tile `qb` of head (b, h) attends to the
key tiles `kv_indices[b, h, qb, 0 : kv_num_blocks[b, h, qb]]` (int32, each in
0..ceil(Nk / block_n) - 1, no repeats; entries past the count are ignored). The
implied mask keeps key j for query i when tile j // block_n is listed for tile
i // block_m (and, with causal=True, j is also causally visible).

How the flash kernels run fast on a CPU: every inner loop runs over the queries
of a tile (`for i in range(ni)`), with Q, S and the accumulator stored
transposed ([D, BLOCK_M], [BLOCK_N, BLOCK_M], [Dv, BLOCK_M]), so the row max,
the exponentials, the row sums and both matrix products are element-wise over
contiguous memory and vectorize without reassociating a reduction. The dot
products are unrolled by 8 (fewer loads and stores of the accumulator per
multiply), and the float32 exponential is `exp_neg_f32`, a polynomial that
vectorizes (libm's expf does not). benchmarks/RESULTS.md has the figures and
what bounds them.

`sdpa(...)` is the user entry point: it checks shapes and dtypes, lays out the
arguments and runs a kernel on a backend. `sdpa_reference(...)` is the plain
numpy float64 reference (with `dtype=` for the same-precision naive baseline).
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from algorithms.masks import causal_mask
from backends import run
from hls import Array, Kernel, UInt, exp, f32, f64, i32, kernel, log, prange, zeros
from hls.types import FloatType

U31 = UInt(31)  # sizes and indices: a dim is at most 2**31 - 1
U63 = UInt(63)  # products of three sizes
NEG_INF = float("-inf")
LOG2E = 1.4426950408889634
LN2_HI = 0.693145751953125  # ln 2 in 16 bits: n * LN2_HI is exact in float32 for |n| < 256
LN2_LO = 1.4286068202862268e-06  # ln 2 - LN2_HI
ROUND_F32 = 12582912.0  # 1.5 * 2**23: (t + ROUND_F32) - ROUND_F32 rounds a float32 |t| < 2**22 to an integer
# e**r on [-ln2/2, ln2/2], degree 6, fitted in float64 at Chebyshev nodes, rounded to float32 (max rel err 1e-7)
EXP_C2 = 0.5
EXP_C3 = 0.16666415333747864
EXP_C4 = 0.041666217148303986
EXP_C5 = 0.008375128731131554
EXP_C6 = 0.001394858118146658
TWO_M64 = 2.0**-64
TWO_M32 = 2.0**-32
TWO_M16 = 2.0**-16
NO_MASK = 1 << 30  # a causal "limit" that masks nothing (sequences are shorter than 2**30)
METHODS = ("naive", "streaming", "flash")


@kernel(values={"x": st.floats(-100.0, 0.0, width=32)})
def exp_neg_f32(x: f32) -> f32:
    """e**x for x <= 0 in float32: within 2 ulp down to 2**-125, 0 below about e**-87 and at -inf; vectorizes.

    e**x = 2**n * e**r with n = round(x / ln 2) (adding and subtracting
    1.5 * 2**23 rounds without a float -> int conversion) and
    r = x - n ln 2 in [-ln2/2, ln2/2] (Cody-Waite: ln 2 in two parts, so r
    is accurate); e**r by a degree-6 polynomial; 2**n, n in -126..0, by
    conditional multiplies with 2**-64, 2**-32, ..., 2**-1 (exact). Results
    below the smallest normal float32 are flushed to 0. Every step is a
    float add, multiply, compare or select, so a loop of these vectorizes.
    """
    xc = min(max(x, f32(-88.0)), f32(0.0))
    n = (xc * f32(LOG2E) + f32(ROUND_F32)) - f32(ROUND_F32)
    r = (xc - n * f32(LN2_HI)) - n * f32(LN2_LO)
    p = f32(EXP_C6) * r + f32(EXP_C5)
    p = p * r + f32(EXP_C4)
    p = p * r + f32(EXP_C3)
    p = p * r + f32(EXP_C2)
    p = p * r + f32(1.0)
    p = p * r + f32(1.0)
    k = -n
    p = p * (f32(TWO_M64) if k >= f32(64.0) else f32(1.0))
    k = k - (f32(64.0) if k >= f32(64.0) else f32(0.0))
    p = p * (f32(TWO_M32) if k >= f32(32.0) else f32(1.0))
    k = k - (f32(32.0) if k >= f32(32.0) else f32(0.0))
    p = p * (f32(TWO_M16) if k >= f32(16.0) else f32(1.0))
    k = k - (f32(16.0) if k >= f32(16.0) else f32(0.0))
    p = p * (f32(0.00390625) if k >= f32(8.0) else f32(1.0))
    k = k - (f32(8.0) if k >= f32(8.0) else f32(0.0))
    p = p * (f32(0.0625) if k >= f32(4.0) else f32(1.0))
    k = k - (f32(4.0) if k >= f32(4.0) else f32(0.0))
    p = p * (f32(0.25) if k >= f32(2.0) else f32(1.0))
    k = k - (f32(2.0) if k >= f32(2.0) else f32(0.0))
    p = p * (f32(0.5) if k >= f32(1.0) else f32(1.0))
    return p if n > f32(-126.0) else f32(0.0)


@dataclass(frozen=True)
class Kernels:
    """The kernels of one precision."""

    naive: Kernel
    streaming: Kernel
    flash: Kernel
    flash_sparse: Kernel
    flash_tile: Kernel


def _build(ft: FloatType, fexp: Any) -> Kernels:
    """Define every SDPA kernel for float type `ft`; the flash kernels use `fexp` as e**x for x <= 0."""

    def naive(
        q: Array[ft, "B", "H", "NQ", "D"],
        k: Array[ft, "B", "HKV", "NK", "D"],
        v: Array[ft, "B", "HKV", "NK", "DV"],
        scale: ft,
        causal: bool,
        o: Array[ft, "B", "H", "NQ", "DV"],
        lse: Array[ft, "B", "H", "NQ"],
    ):
        """Three passes per query row: scores and their max; exponentials and their sum; o = sum (e/l) v."""
        nq: U31 = q.shape[2]
        nk: U31 = k.shape[2]
        heads: U31 = q.shape[1]
        group: U31 = heads // k.shape[1]
        for t in prange(U63(q.shape[0] * heads * nq)):
            b: U31 = t // (heads * nq)
            h: U31 = (t // nq) % heads
            i: U31 = t % nq
            hk: U31 = h // group
            s = zeros(ft, nk)
            count: i32 = nk  # keys 0..count-1 are visible
            if causal:
                count = max(0, min(nk, i + 1 + nk - nq))
            m = ft(NEG_INF)
            for j in range(count):
                acc = ft(0.0)
                for d in range(q.shape[3]):
                    acc += q[b, h, i, d] * k[b, hk, j, d]
                s[j] = acc * scale
                m = max(m, s[j])
            l_sum = f64(0.0)  # NOTE: the softmax denominator sums in float64, for the LSE at long N
            for j in range(count):
                s[j] = exp(s[j] - m)
                l_sum += s[j]
            for d in range(v.shape[3]):
                o[b, h, i, d] = ft(0.0)
            if l_sum > ft(0.0):
                for j in range(count):
                    p = s[j] / l_sum
                    for d in range(v.shape[3]):
                        o[b, h, i, d] += p * v[b, hk, j, d]
                lse[b, h, i] = m + log(l_sum)
            else:
                lse[b, h, i] = ft(NEG_INF)

    def streaming(
        q: Array[ft, "B", "H", "NQ", "D"],
        k: Array[ft, "B", "HKV", "NK", "D"],
        v: Array[ft, "B", "HKV", "NK", "DV"],
        scale: ft,
        causal: bool,
        o: Array[ft, "B", "H", "NQ", "DV"],
        lse: Array[ft, "B", "H", "NQ"],
    ):
        """One pass per row: running max m, rescale factor delta, running sum l and output o; one division."""
        nq: U31 = q.shape[2]
        nk: U31 = k.shape[2]
        heads: U31 = q.shape[1]
        group: U31 = heads // k.shape[1]
        for t in prange(U63(q.shape[0] * heads * nq)):
            b: U31 = t // (heads * nq)
            h: U31 = (t // nq) % heads
            i: U31 = t % nq
            hk: U31 = h // group
            acc = zeros(ft, v.shape[3])
            count: i32 = nk  # keys 0..count-1 are visible
            if causal:
                count = max(0, min(nk, i + 1 + nk - nq))
            m = ft(NEG_INF)
            l_sum = f64(0.0)  # NOTE: the softmax denominator sums in float64, for the LSE at long N
            for j in range(count):
                s = ft(0.0)
                for d in range(q.shape[3]):
                    s += q[b, h, i, d] * k[b, hk, j, d]
                s = s * scale
                m_new = max(m, s)
                delta = exp(m - m_new)
                e = exp(s - m_new)
                l_sum = l_sum * delta + e
                for d in range(v.shape[3]):
                    acc[d] = acc[d] * delta + e * v[b, hk, j, d]
                m = m_new
            for d in range(v.shape[3]):
                o[b, h, i, d] = acc[d] / l_sum if l_sum > ft(0.0) else ft(0.0)
            lse[b, h, i] = m + log(l_sum) if l_sum > ft(0.0) else ft(NEG_INF)

    def flash_tile(
        q: Array[ft, "B", "H", "NQ", "D"],
        k: Array[ft, "B", "HKV", "NK", "D"],
        v: Array[ft, "B", "HKV", "NK", "DV"],
        qt: Array[ft, "D", "BM"],
        st: Array[ft, "BN", "BM"],
        acc: Array[ft, "DV", "BM"],
        m: Array[ft, "BM"],
        l_sum: Array[f64, "BM"],
        msafe: Array[ft, "BM"],
        alpha: Array[ft, "BM"],
        rsum: Array[ft, "BM"],
        b: i32,
        hk: i32,
        ni: i32,
        j0: i32,
        nj: i32,
        limit: i32,
    ):
        """Fold key tile [j0, j0 + nj) into the online softmax of ni queries (transposed buffers).

        Key j0 + jj is visible to query i of the tile when jj <= i + limit.
        qt holds the scaled queries, st the scores then the probabilities,
        acc the unnormalized output; m and l_sum the running max and sum.
        """
        dq: U31 = q.shape[3]
        dv: U31 = v.shape[3]
        d8: U31 = dq - dq % 8
        for i in range(ni):
            msafe[i] = m[i]
        for jj in range(nj):  # st[jj, :] = K[j] . Q^T, unrolled by 8 over the head dim
            r: U31 = j0 + jj
            for i in range(ni):
                st[jj, i] = ft(0.0)
            for d in range(0, d8, 8):
                k0 = k[b, hk, r, d]
                k1 = k[b, hk, r, d + 1]
                k2 = k[b, hk, r, d + 2]
                k3 = k[b, hk, r, d + 3]
                k4 = k[b, hk, r, d + 4]
                k5 = k[b, hk, r, d + 5]
                k6 = k[b, hk, r, d + 6]
                k7 = k[b, hk, r, d + 7]
                for i in range(ni):
                    st[jj, i] = st[jj, i] + (
                        k0 * qt[d, i]
                        + k1 * qt[d + 1, i]
                        + k2 * qt[d + 2, i]
                        + k3 * qt[d + 3, i]
                        + k4 * qt[d + 4, i]
                        + k5 * qt[d + 5, i]
                        + k6 * qt[d + 6, i]
                        + k7 * qt[d + 7, i]
                    )
            for d in range(d8, dq):
                k0 = k[b, hk, r, d]
                for i in range(ni):
                    st[jj, i] = st[jj, i] + k0 * qt[d, i]
            if jj > limit:  # causal: key j0 + jj is hidden from query i when jj > i + limit
                for i in range(ni):
                    st[jj, i] = st[jj, i] if jj <= i + limit else ft(NEG_INF)
            for i in range(ni):
                msafe[i] = max(msafe[i], st[jj, i])
        for i in range(ni):  # new max; rescale factor alpha = e**(m_old - m_new); a -inf max counts as 0
            mi = msafe[i]
            ms = mi if mi > ft(NEG_INF) else ft(0.0)
            alpha[i] = fexp(m[i] - ms)
            l_sum[i] = l_sum[i] * alpha[i]
            m[i] = mi
            msafe[i] = ms
        for i in range(ni):
            rsum[i] = ft(0.0)
        for jj in range(nj):  # probabilities p = e**(s - m_new) and their row sums
            for i in range(ni):
                p = fexp(st[jj, i] - msafe[i])
                st[jj, i] = p
                rsum[i] = rsum[i] + p
        for i in range(ni):  # NOTE: a tile's sum in ft, the running sum in float64 (the LSE at long N)
            l_sum[i] = l_sum[i] + rsum[i]
        for d in range(dv):
            for i in range(ni):
                acc[d, i] = acc[d, i] * alpha[i]
        j8: i32 = nj - nj % 8
        for jj in range(0, j8, 8):  # acc += V^T P^T, unrolled by 8 over keys
            r: U31 = j0 + jj
            for d in range(dv):
                v0 = v[b, hk, r, d]
                v1 = v[b, hk, r + 1, d]
                v2 = v[b, hk, r + 2, d]
                v3 = v[b, hk, r + 3, d]
                v4 = v[b, hk, r + 4, d]
                v5 = v[b, hk, r + 5, d]
                v6 = v[b, hk, r + 6, d]
                v7 = v[b, hk, r + 7, d]
                for i in range(ni):
                    acc[d, i] = acc[d, i] + (
                        v0 * st[jj, i]
                        + v1 * st[jj + 1, i]
                        + v2 * st[jj + 2, i]
                        + v3 * st[jj + 3, i]
                        + v4 * st[jj + 4, i]
                        + v5 * st[jj + 5, i]
                        + v6 * st[jj + 6, i]
                        + v7 * st[jj + 7, i]
                    )
        for jj in range(j8, nj):
            r: U31 = j0 + jj
            for d in range(dv):
                v0 = v[b, hk, r, d]
                for i in range(ni):
                    acc[d, i] = acc[d, i] + v0 * st[jj, i]

    flash_tile.__name__ = flash_tile.__qualname__ = f"flash_tile_{ft.name}"
    flash_tile_k = kernel(flash_tile)

    def flash(
        q: Array[ft, "B", "H", "NQ", "D"],
        k: Array[ft, "B", "HKV", "NK", "D"],
        v: Array[ft, "B", "HKV", "NK", "DV"],
        scale: ft,
        causal: bool,
        bm: i32,
        bn: i32,
        o: Array[ft, "B", "H", "NQ", "DV"],
        lse: Array[ft, "B", "H", "NQ"],
    ):
        """Flash attention: query tiles of bm rows in parallel, key tiles of bn columns with the online softmax."""
        nq: U31 = q.shape[2]
        nk: U31 = k.shape[2]
        heads: U31 = q.shape[1]
        group: U31 = heads // k.shape[1]
        nqb: U31 = (nq + bm - 1) // bm
        for t in prange(U63(q.shape[0] * heads * nqb)):
            b = i32(t // (heads * nqb))
            h = i32((t // nqb) % heads)
            i0 = i32((t % nqb) * bm)
            ni = i32(min(bm, nq - i0))
            hk = i32(h // group)
            qt = zeros(ft, q.shape[3], bm)
            st = zeros(ft, bn, bm)
            acc = zeros(ft, v.shape[3], bm)
            m = zeros(ft, bm)
            l_sum = zeros(f64, bm)  # NOTE: float64, for the LSE at long N
            msafe = zeros(ft, bm)
            alpha = zeros(ft, bm)
            rsum = zeros(ft, bm)
            for i in range(ni):
                m[i] = ft(NEG_INF)
                for d in range(q.shape[3]):
                    qt[d, i] = q[b, h, i0 + i, d] * scale
            end: i32 = nk
            if causal:  # keys past the last query's horizon are never visible
                end = max(0, min(nk, i0 + ni + nk - nq))
            for jb in range((end + bn - 1) // bn):
                j0 = i32(jb * bn)
                limit = i32(NO_MASK)
                if causal:
                    limit = i32(min(i0 + nk - nq - j0, NO_MASK))
                flash_tile_k(
                    q, k, v, qt, st, acc, m, l_sum, msafe, alpha, rsum, b, hk, ni, j0, i32(min(bn, nk - j0)), limit
                )
            for i in range(ni):
                li = l_sum[i]
                for d in range(v.shape[3]):
                    o[b, h, i0 + i, d] = acc[d, i] / li if li > ft(0.0) else ft(0.0)
                lse[b, h, i0 + i] = m[i] + log(li) if li > ft(0.0) else ft(NEG_INF)

    def flash_sparse(
        q: Array[ft, "B", "H", "NQ", "D"],
        k: Array[ft, "B", "HKV", "NK", "D"],
        v: Array[ft, "B", "HKV", "NK", "DV"],
        kv_num_blocks: Array[i32, "B", "H", "NQB"],
        kv_indices: Array[i32, "B", "H", "NQB", "MAXB"],
        scale: ft,
        causal: bool,
        bm: i32,
        bn: i32,
        o: Array[ft, "B", "H", "NQ", "DV"],
        lse: Array[ft, "B", "H", "NQ"],
    ):
        """Block-sparse flash attention: query tile qb visits only the key tiles kv_indices[b, h, qb, :count]."""
        nq: U31 = q.shape[2]
        nk: U31 = k.shape[2]
        heads: U31 = q.shape[1]
        group: U31 = heads // k.shape[1]
        nqb: U31 = kv_num_blocks.shape[2]
        for t in prange(U63(q.shape[0] * heads * nqb)):
            b = i32(t // (heads * nqb))
            h = i32((t // nqb) % heads)
            qb = i32(t % nqb)
            i0 = i32(qb * bm)
            ni = i32(min(bm, nq - i0))
            hk = i32(h // group)
            qt = zeros(ft, q.shape[3], bm)
            st = zeros(ft, bn, bm)
            acc = zeros(ft, v.shape[3], bm)
            m = zeros(ft, bm)
            l_sum = zeros(f64, bm)  # NOTE: float64, for the LSE at long N
            msafe = zeros(ft, bm)
            alpha = zeros(ft, bm)
            rsum = zeros(ft, bm)
            for i in range(ni):
                m[i] = ft(NEG_INF)
                for d in range(q.shape[3]):
                    qt[d, i] = q[b, h, i0 + i, d] * scale
            for n in range(kv_num_blocks[b, h, qb]):
                j0 = i32(kv_indices[b, h, qb, n] * bn)
                limit = i32(NO_MASK)
                if causal:
                    limit = i32(max(min(i0 + nk - nq - j0, NO_MASK), -NO_MASK))
                if limit > -ni:  # some key of the tile is visible to some query
                    flash_tile_k(
                        q, k, v, qt, st, acc, m, l_sum, msafe, alpha, rsum, b, hk, ni, j0, i32(min(bn, nk - j0)), limit
                    )
            for i in range(ni):
                li = l_sum[i]
                for d in range(v.shape[3]):
                    o[b, h, i0 + i, d] = acc[d, i] / li if li > ft(0.0) else ft(0.0)
                lse[b, h, i0 + i] = m[i] + log(li) if li > ft(0.0) else ft(NEG_INF)

    for fn in (naive, streaming, flash, flash_sparse):
        fn.__name__ = fn.__qualname__ = f"{fn.__name__}_{ft.name}"
    # Options for hls.check (and the catalog): GQA dims that divide, small positive tiles, valid block indices.
    blocks = {"bm": st.integers(1, 4), "bn": st.integers(1, 10)}  # bn >= 8 reaches the 8-wide key loop
    return Kernels(
        kernel(naive, dims={"HKV": 1}),
        kernel(streaming, dims={"HKV": 1}),
        kernel(flash, dims={"HKV": 1}, values=blocks),
        kernel(flash_sparse, strategy=_sparse_arguments(ft)),
        flash_tile_k,
    )


def _sparse_arguments(ft: FloatType) -> st.SearchStrategy[tuple[Any, ...]]:
    """Hypothesis strategy of `flash_sparse_*` argument tuples with a valid random block index."""
    dt = np.float32 if ft.width == 32 else np.float64

    @st.composite
    def draw(draw: st.DrawFn) -> tuple[Any, ...]:
        b, g, hkv = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        nq, nk = draw(st.integers(0, 7)), draw(st.integers(0, 12))
        d, dv = draw(st.integers(1, 12)), draw(st.integers(1, 7))  # d >= 8 reaches the 8-wide head-dim loop
        bm, bn = draw(st.integers(1, 4)), draw(st.integers(1, 10))  # bn >= 8 reaches the 8-wide key loop
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        nqb, nkb = -(-nq // bm), -(-nk // bn)
        counts, index = block_index(rng.random((b, g * hkv, nqb, nkb)) < draw(st.sampled_from([0.0, 0.5, 1.0])))
        q = rng.standard_normal((b, g * hkv, nq, d)).astype(dt)
        k = rng.standard_normal((b, hkv, nk, d)).astype(dt)
        v = rng.standard_normal((b, hkv, nk, dv)).astype(dt)
        o = np.zeros((b, g * hkv, nq, dv), dt)
        lse = np.zeros((b, g * hkv, nq), dt)
        return (q, k, v, counts, index, draw(st.floats(0.1, 2.0)), draw(st.booleans()), bm, bn, o, lse)

    return draw()


F32 = _build(f32, exp_neg_f32)
F64 = _build(f64, exp)
naive_f32, streaming_f32, flash_f32, flash_sparse_f32 = F32.naive, F32.streaming, F32.flash, F32.flash_sparse
naive_f64, streaming_f64, flash_f64, flash_sparse_f64 = F64.naive, F64.streaming, F64.flash, F64.flash_sparse
KERNELS = {np.dtype(np.float32): F32, np.dtype(np.float64): F64}


# ---- numpy references ----------------------------------------------------------------------------


def block_mask(
    kv_num_blocks: np.ndarray, kv_indices: np.ndarray, nq: int, nk: int, block_m: int, block_n: int
) -> np.ndarray:
    """The [..., nq, nk] bool mask a block-CSR index implies (see the module docstring for the format)."""
    lead = kv_num_blocks.shape[:-1]
    nqb = kv_num_blocks.shape[-1]
    nkb = -(-nk // block_n)
    blocks = np.zeros((*lead, nqb, nkb), dtype=bool)
    slots = np.arange(kv_indices.shape[-1])
    kept = slots < kv_num_blocks[..., None]
    idx = np.nonzero(kept)
    blocks[(*idx[:-1], kv_indices[kept])] = True
    return blocks.repeat(block_m, axis=-2)[..., :nq, :].repeat(block_n, axis=-1)[..., :nk]


def block_index(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (kv_num_blocks, kv_indices) for a bool matrix [..., nqb, nkb] of kept tiles."""
    blocks = np.asarray(blocks, dtype=bool)
    counts = blocks.sum(axis=-1).astype(np.int32)
    width = max(1, int(counts.max(initial=0)))
    order = np.argsort(~blocks, axis=-1, kind="stable")[..., :width].astype(np.int32)
    slots = np.arange(width)
    indices = np.where(slots < counts[..., None], order, 0).astype(np.int32)
    return counts, indices


def sdpa_reference(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    causal: bool = False,
    scale: float | None = None,
    mask: np.ndarray | None = None,
    dtype: Any = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense SDPA in numpy, computed in `dtype` (float64: the reference; float32: the naive baseline).

    `mask` (bool, broadcastable to [B, H, Nq, Nk]) keeps keys where True; with
    `causal` both apply. Returns (o [B, H, Nq, Dv], lse [B, H, Nq]) in `dtype`;
    a row with no visible key gives o = 0 and lse = -inf.
    """
    dt = np.dtype(dtype)
    q, k, v = (np.asarray(x).astype(dt) for x in (q, k, v))
    group = q.shape[1] // max(1, k.shape[1])
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * dt.type(scale)
    keep = np.ones(s.shape, dtype=bool)
    if causal:
        keep &= causal_mask(q.shape[2], k.shape[2])
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    s = np.where(keep, s, dt.type(-np.inf))
    m = s.max(axis=-1, keepdims=True, initial=-np.inf)
    m_safe = np.where(np.isfinite(m), m, 0).astype(dt)
    p = np.exp(s - m_safe)
    l_sum = p.sum(axis=-1, keepdims=True)
    ok = l_sum > 0
    o = np.where(ok, np.matmul(p, v) / np.where(ok, l_sum, 1), 0).astype(dt)
    with np.errstate(divide="ignore"):
        lse = np.where(ok, m_safe + np.log(np.where(ok, l_sum, 1)), -np.inf)[..., 0].astype(dt)
    return o, lse


# ---- the user entry points -----------------------------------------------------------------------


def _check_inputs(q: Any, k: Any, v: Any, scale: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Validate q, k, v (ValueError/TypeError naming the argument); return them C-contiguous and the scale."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
        if x.ndim != 4:
            raise ValueError(f"{name} must have shape [B, H, N, d], got shape {x.shape}")
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise TypeError(f"{name} has dtype {x.dtype} but q has {q.dtype}; give all three the same dtype")
    if k.shape[0] != q.shape[0] or v.shape[0] != q.shape[0]:
        raise ValueError(f"batch sizes differ: q {q.shape}, k {k.shape}, v {v.shape}")
    if k.shape[3] != q.shape[3]:
        raise ValueError(f"k head dim {k.shape[3]} differs from q head dim {q.shape[3]} (q {q.shape}, k {k.shape})")
    if v.shape[1:3] != k.shape[1:3]:
        raise ValueError(f"v must have k's heads and length [B, H_kv, Nk, dv]: k {k.shape}, v {v.shape}")
    heads, kv_heads = q.shape[1], k.shape[1]
    if kv_heads < 1 or heads < 1 or heads % kv_heads:
        raise ValueError(f"k: H_kv = {kv_heads} must divide the number of query heads H = {heads} (GQA/MQA)")
    if q.shape[3] < 1:
        raise ValueError(f"q: head dim must be at least 1, got shape {q.shape}")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.size and not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinity")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    elif (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float, np.integer, np.floating))
        or not math.isfinite(scale)
    ):
        raise ValueError(f"scale must be a finite number, got {scale!r}")
    return (np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v), float(scale))


def _check_block(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 1 << 16:
        raise ValueError(f"{name} must be an int in 1..65536, got {value!r}")
    return int(value)


def sdpa(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    causal: bool = False,
    scale: float | None = None,
    method: str = "flash",
    block_m: int = 64,
    block_n: int = 64,
    return_lse: bool = False,
    backend: str = "numba-cpu",
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Scaled dot-product attention of q [B, H, Nq, d], k [B, H_kv, Nk, d], v [B, H_kv, Nk, dv].

    `method` is "naive", "streaming" or "flash" (tiles of block_m x block_n);
    float32 or float64 in, the same out. Returns o [B, H, Nq, dv], and
    lse [B, H, Nq] too when `return_lse`. `scale` defaults to 1/sqrt(d).
    Raises TypeError/ValueError naming the argument on bad input (NaN or
    infinity included).
    """
    q, k, v, scale = _check_inputs(q, k, v, scale)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    block_m, block_n = _check_block("block_m", block_m), _check_block("block_n", block_n)
    kern = getattr(KERNELS[q.dtype], method)
    o = np.zeros((q.shape[0], q.shape[1], q.shape[2], v.shape[3]), dtype=q.dtype)
    lse = np.zeros(q.shape[:3], dtype=q.dtype)
    extra = (block_m, block_n) if method == "flash" else ()
    run(kern, q, k, v, scale, bool(causal), *extra, o, lse, backend=backend)
    return (o, lse) if return_lse else o


def sdpa_block_sparse(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    kv_num_blocks: np.ndarray,
    kv_indices: np.ndarray,
    block_m: int = 64,
    block_n: int = 64,
    causal: bool = False,
    scale: float | None = None,
    return_lse: bool = False,
    backend: str = "numba-cpu",
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Block-sparse flash attention over a block-CSR index (format in the module docstring).

    kv_num_blocks is [n_qblocks] or [B, H, n_qblocks] (anything that
    broadcasts to it), kv_indices [..., n_qblocks, max_blocks]; n_qblocks =
    ceil(Nq / block_m). Keys outside the listed tiles are masked; `causal`
    masks on top. Returns like `sdpa`.
    """
    q, k, v, scale = _check_inputs(q, k, v, scale)
    block_m, block_n = _check_block("block_m", block_m), _check_block("block_n", block_n)
    b, h, nq = q.shape[:3]
    nqb, nkb = -(-nq // block_m), -(-k.shape[2] // block_n)
    counts = np.asarray(kv_num_blocks)
    index = np.asarray(kv_indices)
    for name, x in (("kv_num_blocks", counts), ("kv_indices", index)):
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"{name} must hold integers, got {x.dtype}")
    if counts.ndim < 1 or counts.shape[-1] != nqb:
        raise ValueError(
            f"kv_num_blocks must end in n_qblocks = ceil({nq} / {block_m}) = {nqb}, got shape {counts.shape}"
        )
    if index.ndim < 2 or index.shape[-2] != nqb:
        raise ValueError(f"kv_indices must be [..., n_qblocks = {nqb}, max_blocks], got shape {index.shape}")
    try:
        counts = np.broadcast_to(counts, (b, h, nqb))
        index = np.broadcast_to(index, (b, h, nqb, index.shape[-1]))
    except ValueError:
        raise ValueError(
            f"kv_num_blocks {counts.shape} / kv_indices {index.shape} do not broadcast to [B={b}, H={h}, {nqb}, ...]"
        ) from None
    if counts.size and (counts.min() < 0 or counts.max() > index.shape[-1]):
        raise ValueError(f"kv_num_blocks must be in 0..max_blocks = {index.shape[-1]}")
    kept = np.arange(index.shape[-1]) < counts[..., None]
    listed = index[kept]
    if listed.size and (listed.min() < 0 or listed.max() >= nkb):
        raise ValueError(f"kv_indices must be in 0..{nkb - 1} (ceil(Nk / block_n) - 1) where listed")
    ordered = np.sort(np.where(kept, index, -1 - np.arange(index.shape[-1])), axis=-1)
    if (ordered[..., 1:] == ordered[..., :-1]).any():
        raise ValueError("kv_indices lists a key block twice for some query block")
    kern = KERNELS[q.dtype].flash_sparse
    o = np.zeros((b, h, nq, v.shape[3]), dtype=q.dtype)
    lse = np.zeros((b, h, nq), dtype=q.dtype)
    run(
        kern,
        q,
        k,
        v,
        np.ascontiguousarray(counts, dtype=np.int32),
        np.ascontiguousarray(index, dtype=np.int32),
        scale,
        bool(causal),
        block_m,
        block_n,
        o,
        lse,
        backend=backend,
    )
    return (o, lse) if return_lse else o
