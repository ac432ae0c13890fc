"""Fixed-point SDPA as dataflow regions: the naive order (O(N) FIFOs) and the reordered one (O(1) FIFOs).

Both regions compute one head, int8 q [N, D], k [N, D], v [N, DV] in and Q8.8
o [N, DV] out, with the Q formats and the exp2 ROM of algorithms/fixed.py
(docs/STREAMING.md tells the story; docs/ALGORITHMS.md has the float forms).
Every process is a perfect nest `for i in range(N): for j in pipeline(range(N))`
with constant bounds, so hardware flattens it into one pipeline with no bubble
between rows; per-row resets and per-row outputs are `if j == 0:` /
`if j == N - 1:` inside the body (if-converted), never statements between the
loops. What keeps a process from one score per clock is its loop-carried path
(docs/STREAMING.md, "Hardware"): the DV accumulators (a local array, a RAM with a
one-cycle read today) and, in the reordered order, a multiply on the recurrence.

`sdpa_naive` (the order of the seed's naive SDPA; two FIFOs of depth N + 8):

    qk_scores --z--> tee --z_max--> row_max --m--> exp_shifted --e_sum--> row_sum --l--> normalise --p--> weigh_v
                      \\----------- z_buf (N + 8) ---->/  \\------------- e_buf (N + 8) -------->/

    z = (q_i . k_j * score_mult) >> 16                     Q.12 log2 units, as sdpa_fixed
    m = max_j z_j;  e_j = 2**-(m - z_j)                    Q0.16 (`exp2_neg_q16`)
    l = sum_j e_j;  r = round(2**56 / l)                   Q.16; r = 1/l in Q.40: one division per row
    p_j = round(e_j * r / 2**24)                           Q0.32, the normalised weight
    out_c = round(sum_j p_j * v_jc / 2**24)                Q8.8

`exp_shifted` needs row i's max before it can take row i's first score, and
the max is known only after the whole row, so the scores wait in `z_buf`;
likewise `normalise` needs the row sum, so the exponentials wait in `e_buf`.
With either FIFO much shallower than N the region deadlocks (DeadlockError).

`sdpa_reordered` (the order of `sdpa_fixed`, bit for bit; FIFOs of depth 2, and ACC_DEPTH = 3 to weigh_v_online):

    qk_scores --z--> online_exp --dl_sum, e_sum--> running_sum --l--> weigh_v_online
                          \\---------------- dl_acc, e_acc ---------------->/

    m' = max(m, z);  dl = 2**-(m' - m);  e = 2**-(m' - z)  (m = z at j = 0)
    l  = round(l * dl / 2**16) + e
    acc_c = round(acc_c * dl / 2**16) + e * v_jc
    out_c = round(acc_c * 2**8 / l)                        one division per output element, at j = N - 1

Nothing waits for a whole row, so every FIFO holds O(1) values. `online_exp`
sends dl = 0 at a row's first score (sdpa_fixed has dl = 1 there and l = acc = 0
before it: the same products), so the recurrences need no reset select, and
they add e (e * v_jc) inside the rounding, `(l * dl + e * 2**16 + 2**15) >> 16`,
the same integer as rounding first: one multiply and one add on the loop.

`sdpa_streaming_int` runs a region per head ([B, H, N, D] int8, GQA like
`sdpa_fixed_int`); `sdpa_streaming` quantizes float inputs with fixed.py's
`quantize` and `score_multiplier` and dequantizes the output.
"""

from __future__ import annotations

import numpy as np

from algorithms.fixed import (
    FE,
    FO,
    I46,
    MULT_SHIFT,
    U17,
    U45,
    X_MAX,
    check_int_inputs,
    exp2_neg_q16,
    quantize_inputs,
)
from hls import Array, Int, Stream, UInt, i8, i16, i32, kernel, pipeline, stream, unroll, zeros

__all__ = [
    "BUFFER_SLACK",
    "ACC_DEPTH",
    "METHODS",
    "REORDERED_CLOCK_NS",
    "run_head",
    "sdpa_naive",
    "sdpa_reordered",
    "sdpa_streaming",
    "sdpa_streaming_int",
]

U33 = UInt(33)
U41 = UInt(41)
I48 = Int(48)
# The reordered region's rescaling recurrences (l * dl + e: a 45 x 17 multiply and a 62-bit add, 6.9 ns in the
# scheduler's delay model) fit one cycle at 8 ns: one score a cycle (8 ns a score), where 5 ns would take two (10 ns).
REORDERED_CLOCK_NS = 8.0
BUFFER_SLACK = 8
# The reordered's FIFOs to weigh_v_online hold 3: it reads each row's sum at the row's last score, a few cycles
# after the scores, and a full FIFO takes no value in the cycle one leaves it, so at 2 each row costs a bubble
# (N^2 + 141 cycles at N = 128 against N^2 + 14).
ACC_DEPTH = 3  # the naive's row buffers hold N + 8 values: a row, plus the latency until its reduction ends
# The naive's normalisation: r = round(2**56 / l) is 1/l in Q.40 (l in Q.16 is at least 1.0, so r < 2**41), and
# p = round(e * r / 2**24) is e / l in Q0.32. Its N roundings add up to N * 2**-33 of the output: a Q0.16 weight
# would lose up to N/2 LSB of a Q8.8 output (two LSB at N = 8 with v = 127); Q0.32 keeps it under one at N = 2**16.
RECIP_ONE = 1 << 56
P_SHIFT = 24
ROUND_P = 1 << (P_SHIFT - 1)
P_FRAC = 32  # fractional bits of p
OUT_SHIFT = P_FRAC - FO  # sum_j p_j * v_j (Q.32 x int8) to Q8.8
ROUND_OUT = 1 << (OUT_SHIFT - 1)
ROUND_E = 1 << (FE - 1)  # half an LSB of a product shifted right by FE (the reordered's rescaling)


# ---- processes shared by both regions ------------------------------------------------------------


@kernel
def qk_scores(q: Array[i8, "N", "D"], k: Array[i8, "N", "D"], score_mult: i32, z_out: Stream[i32]):
    """z = (q_i . k_j * score_mult) >> 16 for every row i and key j, in row order (as `sdpa_fixed` computes it)."""
    for i in range(q.shape[0]):
        for j in pipeline(range(k.shape[0]), ii=1):
            s = i32(0)
            for d in unroll(range(q.shape[1])):
                s += q[i, d] * k[j, d]
            z_out.write(i32((s * score_mult) >> MULT_SHIFT))


# ---- the naive region ------------------------------------------------------------------------------


@kernel
def tee(z_in: Stream[i32], z_max: Stream[i32], z_buf: Stream[i32], n: i32):
    """Copy each score to the max reduction and to the row buffer."""
    for _i in range(n):
        for _j in pipeline(range(n), ii=1):
            z: i32 = z_in.read()
            z_max.write(z)
            z_buf.write(z)


@kernel
def row_max(z_in: Stream[i32], m_out: Stream[i32], n: i32):
    """m = max_j z_j of each row, written once per row (at its last score)."""
    m = i32(0)
    for _i in range(n):
        for j in pipeline(range(n), ii=1):
            z: i32 = z_in.read()
            m = z if j == 0 else max(m, z)
            if j == n - 1:
                m_out.write(m)


@kernel
def exp_shifted(m_in: Stream[i32], z_buf: Stream[i32], e_sum: Stream[U17], e_buf: Stream[U17], n: i32):
    """e_j = 2**-(m - z_j) in Q0.16; reads a row's max before the first buffered score of that row."""
    m = i32(0)
    for _i in range(n):
        for j in pipeline(range(n), ii=1):
            if j == 0:
                m = m_in.read()
            z: i32 = z_buf.read()
            e: U17 = exp2_neg_q16(min(m - z, X_MAX))
            e_sum.write(e)
            e_buf.write(e)


@kernel
def row_sum(e_in: Stream[U17], l_out: Stream[U45], n: i32):
    """l = sum_j e_j of each row (Q.16), written once per row."""
    l_sum = U45(0)
    for _i in range(n):
        for j in pipeline(range(n), ii=1):
            e: U17 = e_in.read()
            l_sum = e if j == 0 else l_sum + e
            if j == n - 1:
                l_out.write(l_sum)


@kernel
def normalise(l_in: Stream[U45], e_buf: Stream[U17], p_out: Stream[U33], n: i32):
    """p_j = e_j / l in Q0.32: one reciprocal r = 2**56 / l (a division) per row, then a multiply per score."""
    r: U41 = 0
    for _i in range(n):
        for j in pipeline(range(n), ii=1):
            if j == 0:
                l_row: U45 = l_in.read()
                r = (RECIP_ONE + (l_row >> 1)) // max(l_row, 1)
            e: U17 = e_buf.read()
            p_out.write((e * r + ROUND_P) >> P_SHIFT)


@kernel
def weigh_v(p_in: Stream[U33], v: Array[i8, "N", "DV"], o: Array[i16, "N", "DV"]):
    """out_c = round(sum_j p_j * v_jc / 2**24) in Q8.8, stored at each row's last score."""
    acc = zeros(I48, v.shape[1])
    for i in range(v.shape[0]):
        for j in pipeline(range(v.shape[0]), ii=1):
            p: U33 = p_in.read()
            for c in unroll(range(v.shape[1])):
                x: I48 = p * v[j, c]
                a: I48 = x if j == 0 else acc[c] + x
                acc[c] = a
                if j == v.shape[0] - 1:
                    o[i, c] = (a + ROUND_OUT) >> OUT_SHIFT


@kernel
def sdpa_naive(
    q: Array[i8, "N", "D"], k: Array[i8, "N", "D"], v: Array[i8, "N", "DV"], score_mult: i32, o: Array[i16, "N", "DV"]
):
    """One head of SDPA in the naive order: the scores and the exponentials wait a row for their reductions."""
    z = stream(i32, depth=2)
    z_max = stream(i32, depth=2)
    z_buf = stream(i32, depth=N + BUFFER_SLACK)
    m = stream(i32, depth=2)
    e_sum = stream(U17, depth=2)
    e_buf = stream(U17, depth=N + BUFFER_SLACK)
    l_row = stream(U45, depth=2)
    p = stream(U33, depth=2)
    qk_scores(q, k, score_mult, z)
    tee(z, z_max, z_buf, k.shape[0])
    row_max(z_max, m, k.shape[0])
    exp_shifted(m, z_buf, e_sum, e_buf, k.shape[0])
    row_sum(e_sum, l_row, k.shape[0])
    normalise(l_row, e_buf, p, k.shape[0])
    weigh_v(p, v, o)


# ---- the reordered region --------------------------------------------------------------------------


@kernel
def online_exp(
    z_in: Stream[i32], dl_sum: Stream[U17], e_sum: Stream[U17], dl_acc: Stream[U17], e_acc: Stream[U17], n: i32
):
    """The running max, as sdpa_fixed: per score dl = 2**-(m' - m) (how much the past keeps) and e = 2**-(m' - z).

    At a row's first score dl is sent as 0, which the recurrences below turn into their per-row reset.
    """
    m = i32(0)
    for _i in range(n):
        for j in pipeline(range(n), ii=1):
            z: i32 = z_in.read()
            if j == 0:
                m = z
            m_new: i32 = max(m, z)
            dl: U17 = exp2_neg_q16(min(m_new - m, X_MAX))
            e: U17 = exp2_neg_q16(min(m_new - z, X_MAX))
            keep: U17 = 0 if j == 0 else dl
            dl_sum.write(keep)
            e_sum.write(e)
            dl_acc.write(keep)
            e_acc.write(e)
            m = m_new


@kernel
def running_sum(dl_in: Stream[U17], e_in: Stream[U17], l_out: Stream[U45], n: i32):
    """l = round(l * dl / 2**16) + e per score (Q.16), written once per row (dl = 0 starts a row).

    Computed as (l * dl + (e * 2**16 + 2**15)) >> 16, the same integer, so the loop-carried path is one
    multiply and one add (no select: the reset is the 0 in dl).
    """
    l_sum = U45(0)
    for _i in range(n):
        for j in pipeline(range(n), ii=1):
            dl: U17 = dl_in.read()
            e: U17 = e_in.read()
            add: U33 = (e << FE) + ROUND_E
            l_sum = (l_sum * dl + add) >> FE
            if j == n - 1:
                l_out.write(l_sum)


@kernel
def weigh_v_online(
    dl_in: Stream[U17], e_in: Stream[U17], l_in: Stream[U45], v: Array[i8, "N", "DV"], o: Array[i16, "N", "DV"]
):
    """acc_c = round(acc_c * dl / 2**16) + e * v_jc per score (dl = 0 starts a row, as in running_sum); at a row's
    last score out_c = round(acc_c * 2**8 / l), one division per output element."""
    acc = zeros(I46, v.shape[1])
    l_sum = U45(0)
    for i in range(v.shape[0]):
        for j in pipeline(range(v.shape[0]), ii=1):
            dl: U17 = dl_in.read()
            e: U17 = e_in.read()
            if j == v.shape[0] - 1:
                l_sum = l_in.read()
            for c in unroll(range(v.shape[1])):
                add: I46 = ((e * v[j, c]) << FE) + ROUND_E
                a: I46 = (acc[c] * dl + add) >> FE
                acc[c] = a
                if j == v.shape[0] - 1:
                    o[i, c] = (2 * (a << FO) + l_sum) // (2 * l_sum) if l_sum > 0 else 0


@kernel(clock_ns=REORDERED_CLOCK_NS)
def sdpa_reordered(
    q: Array[i8, "N", "D"], k: Array[i8, "N", "D"], v: Array[i8, "N", "DV"], score_mult: i32, o: Array[i16, "N", "DV"]
):
    """One head of SDPA in the reordered order of `sdpa_fixed` (bit for bit): every FIFO holds two or three values."""
    z = stream(i32, depth=2)
    dl_sum = stream(U17, depth=2)
    e_sum = stream(U17, depth=2)
    dl_acc = stream(U17, depth=ACC_DEPTH)
    e_acc = stream(U17, depth=ACC_DEPTH)
    l_row = stream(U45, depth=2)
    qk_scores(q, k, score_mult, z)
    online_exp(z, dl_sum, e_sum, dl_acc, e_acc, k.shape[0])
    running_sum(dl_sum, e_sum, l_row, k.shape[0])
    weigh_v_online(dl_acc, e_acc, l_row, v, o)


# ---- numpy-level wrappers --------------------------------------------------------------------------

METHODS = {"naive": sdpa_naive, "reordered": sdpa_reordered}


def run_head(
    region: object,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    score_mult: int,
    backend: str = "python",
    depths: dict[str, int] | None = None,
) -> tuple[np.ndarray, object]:
    """Run one head through `region` (sdpa_naive or sdpa_reordered) on `backend`: (o int16 [N, DV], RunResult)."""
    from backends import run

    o = np.zeros((q.shape[0], v.shape[1]), dtype=np.int16)
    args = (np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v), int(score_mult), o)
    result = run(region, *args, backend=backend, depths=depths)
    return o, result


def _check_int_inputs(q: np.ndarray, k: np.ndarray, v: np.ndarray, score_mult: int) -> None:
    check_int_inputs(q, k, v, score_mult)  # the fixed-point kernels' rules, and one more: N queries, N keys
    if k.shape[2] != q.shape[2]:
        raise ValueError(f"the streaming regions take as many keys as queries: Nq = {q.shape[2]}, Nk = {k.shape[2]}")


def sdpa_streaming_int(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    score_mult: int,
    method: str = "reordered",
    backend: str = "python",
    depths: dict[str, int] | None = None,
) -> np.ndarray:
    """Run a streaming region per head on int8 q [B, H, N, d], k [B, H_kv, N, d], v [B, H_kv, N, dv]: Q8.8 int16.

    `method` is "reordered" (equal to `sdpa_fixed_int` bit for bit) or "naive"; query head h reads kv head
    h // (H // H_kv). `depths` overrides FIFO depths by name (DeadlockError when they are too shallow).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    _check_int_inputs(q, k, v, score_mult)
    out = np.zeros((*q.shape[:3], v.shape[3]), dtype=np.int16)
    group = q.shape[1] // k.shape[1]
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            hk = h // group
            out[b, h], _ = run_head(METHODS[method], q[b, h], k[b, hk], v[b, hk], score_mult, backend, depths)
    return out


def sdpa_streaming(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    method: str = "reordered",
    scale: float | None = None,
    backend: str = "python",
) -> np.ndarray:
    """Quantize float q, k, v [B, H, N, d] to int8 (fixed.quantize), run `sdpa_streaming_int`, dequantize: float64."""
    (q8, _), (k8, _), (v8, sv), mult = quantize_inputs(q, k, v, scale)
    out = sdpa_streaming_int(q8, k8, v8, mult, method, backend)
    return out.astype(np.float64) / 2**FO * sv
