"""Streaming SDPA regions (algorithms/streaming.py) on the python backend, whose FIFOs keep their declared depths.

- `sdpa_reordered` equals `sdpa_fixed` bit for bit on one head, and runs with every FIFO one value deep;
- `sdpa_naive` equals a numpy model of its own integer arithmetic bit for bit, and deadlocks (DeadlockError
  naming the blocked processes) when a row buffer is shallower than a row;
- both give a constant V back within one Q8.8 step, and stay within an error bound derived from the
  Q formats against float64 SDPA of the integer scores (and so within the sum of the bounds of each other).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hls
from algorithms import fixed, streaming
from algorithms.sdpa import sdpa_reference
from hls import DeadlockError
from hls.runtime import available

REGIONS = {"naive": streaming.sdpa_naive, "reordered": streaming.sdpa_reordered}
SETTINGS = settings(max_examples=100, deadline=None)
MULTS = st.one_of(st.integers(1, 1 << 20), st.integers(1, (1 << 31) - 1))  # realistic scales, and saturating ones


@st.composite
def heads(draw: st.DrawFn, constant_v: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One head: int8 q [N, D], k [N, D], v [N, DV] with N in 2..8, D and DV in 1..4, and a score multiplier."""
    n, d, dv = draw(st.integers(2, 8)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    q = draw(hnp.arrays(np.int8, (n, d)))
    k = draw(hnp.arrays(np.int8, (n, d)))
    if constant_v:
        v = np.full((n, dv), draw(st.integers(-128, 127)), np.int8)
    else:
        v = draw(hnp.arrays(np.int8, (n, dv)))
    return q, k, v, draw(MULTS)


def run_region(method: str, q: np.ndarray, k: np.ndarray, v: np.ndarray, mult: int, **depths: int) -> np.ndarray:
    o = np.zeros((q.shape[0], v.shape[1]), np.int16)
    hls.run(REGIONS[method], q, k, v, mult, o, backend="python", depths=depths or None)
    return o


def fixed_one_head(q: np.ndarray, k: np.ndarray, v: np.ndarray, mult: int) -> np.ndarray:
    return fixed.sdpa_fixed_int(q[None, None], k[None, None], v[None, None], mult, backend="python")[0, 0]


@cache
def exp2_q16(x: int) -> int:
    return int(fixed.exp2_neg_q16(x))


def naive_model(q: np.ndarray, k: np.ndarray, v: np.ndarray, mult: int) -> np.ndarray:
    """The naive region's arithmetic in numpy/Python integers (the formulas of algorithms/streaming.py)."""
    s = (q.astype(np.int64) @ k.astype(np.int64).T).astype(np.int32).astype(np.int64)  # wraps like the i32 MACs
    z = np.array([[(int(x) * mult >> fixed.MULT_SHIFT) for x in row] for row in s], dtype=object)
    out = np.zeros((q.shape[0], v.shape[1]), np.int16)
    for i, row in enumerate(z):
        m = max(row)
        e = [exp2_q16(min(m - x, fixed.X_MAX)) for x in row]
        r = (streaming.RECIP_ONE + sum(e) // 2) // sum(e)
        p = [(ej * r + streaming.ROUND_P) >> streaming.P_SHIFT for ej in e]
        for c in range(v.shape[1]):
            acc = sum(pj * int(v[j, c]) for j, pj in enumerate(p))
            out[i, c] = (acc + streaming.ROUND_OUT) >> streaming.OUT_SHIFT
    return out


def float_reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, mult: int) -> np.ndarray:
    """float64 SDPA of the exact integer scores: weights 2**(s * mult / 2**28), in units of v."""
    s = (q.astype(np.int64) @ k.astype(np.int64).T).astype(np.int32).astype(np.float64)
    z = s * (mult / 2.0 ** (fixed.FZ + fixed.MULT_SHIFT))
    w = np.exp2(z - z.max(axis=1, keepdims=True))
    return (w / w.sum(axis=1, keepdims=True)) @ v.astype(np.float64)


def error_bound(v: np.ndarray, method: str) -> float:
    """Max |out / 256 - float_reference| in units of v that the Q formats allow (derivation in the comments).

    A relative error eps in every weight moves a softmax average by at most eps * (max v - min v). The
    weights err by: the truncation of z to Q.12 (2**-12 in log2 units: ln 2 * 2**-12), the exp2 ROM
    (2**-14 relative, plus one LSB of Q0.16 where 2**-x is clamped, N * 2**-16 of the sum's max term),
    and in the reordered order N rescales by dl, each with the ROM's 2**-14 (they multiply l and acc
    alike, so only the mix of old and new terms moves). The output rounds to Q8.8 (half a step), the
    naive's N roundings of p (Q0.32) are below 2**-20 at these N; one more step covers the rest.
    """
    n = v.shape[0]
    spread = float(v.max()) - float(v.min())
    eps = math.log(2) * 2**-12 + 2**-14 + n * 2**-16 + (n * 2**-14 if method == "reordered" else 0.0)
    return spread * eps + 1.5 / 256


# ---- the reordered region is sdpa_fixed --------------------------------------------------------------


@SETTINGS
@given(heads())
def test_reordered_equals_sdpa_fixed(head: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
    q, k, v, mult = head
    np.testing.assert_array_equal(run_region("reordered", q, k, v, mult), fixed_one_head(q, k, v, mult))


@settings(max_examples=30, deadline=None)
@given(heads())
def test_reordered_runs_with_every_fifo_one_deep(head: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
    """O(1) memory: no process waits for a whole row, so one value per FIFO is enough (two keep hardware busy)."""
    q, k, v, mult = head
    ones = {name: 1 for name in ("z", "dl_sum", "e_sum", "dl_acc", "e_acc", "l_row")}
    np.testing.assert_array_equal(run_region("reordered", q, k, v, mult, **ones), fixed_one_head(q, k, v, mult))


# ---- the naive region --------------------------------------------------------------------------------


@SETTINGS
@given(heads())
def test_naive_equals_its_integer_model(head: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
    q, k, v, mult = head
    np.testing.assert_array_equal(run_region("naive", q, k, v, mult), naive_model(q, k, v, mult))


@pytest.mark.parametrize("fifo", ["z_buf", "e_buf"])
def test_naive_deadlocks_when_a_row_buffer_is_shorter_than_a_row(fifo: str) -> None:
    """The max (the sum) ends only with the row, so the whole row must wait in z_buf (e_buf) meanwhile.

    Depth N runs; N - 2 deadlocks. (N - 1 runs on the python backend, where `tee`'s write to z_max lands
    before its write to the full z_buf blocks, and deadlocks in RTL, where an iteration's writes go together.)
    """
    rng = np.random.default_rng(3)
    n, d, dv = 8, 4, 3
    q, k = (rng.integers(-127, 128, (n, d), dtype=np.int8) for _ in range(2))
    v = rng.integers(-127, 128, (n, dv), dtype=np.int8)
    want = naive_model(q, k, v, 1 << 16)
    np.testing.assert_array_equal(run_region("naive", q, k, v, 1 << 16, **{fifo: n}), want)
    with pytest.raises(DeadlockError) as err:
        run_region("naive", q, k, v, 1 << 16, **{fifo: n - 2})
    blocked = set(err.value.blocked)
    writer, reader, reduction, result = {
        "z_buf": ("tee", "exp_shifted", "row_max", "m"),
        "e_buf": ("exp_shifted", "normalise", "row_sum", "l_row"),
    }[fifo]
    assert (writer, "write", fifo) in blocked  # the buffer is full ...
    assert (reader, "read", result) in blocked  # ... its reader waits for the reduction's result ...
    assert any(p == reduction and op == "read" for p, op, _ in blocked)  # ... which waits for the rest of the row
    assert fifo in err.value.full
    assert f"process `{writer}` waits to write full FIFO `{fifo}`" in str(err.value)


def test_min_depths_python() -> None:
    """hls.min_depths on the python backend (deadlock only): the naive needs about a row in each row buffer
    (N - 1 there, see above) and at most two values elsewhere; the reordered one value in every FIFO."""
    rng = np.random.default_rng(4)
    n = 6
    q, k = (rng.integers(-127, 128, (n, 2), dtype=np.int8) for _ in range(2))
    v = rng.integers(-127, 128, (n, 2), dtype=np.int8)
    o = np.zeros((n, 2), np.int16)
    naive = hls.min_depths(streaming.sdpa_naive, q, k, v, 1 << 16, o, backend="python")
    assert n - 1 <= naive["z_buf"] <= n and n - 1 <= naive["e_buf"] <= n, naive
    assert all(depth <= 2 for name, depth in naive.items() if name not in ("z_buf", "e_buf")), naive
    reordered = hls.min_depths(streaming.sdpa_reordered, q, k, v, 1 << 16, o, backend="python")
    assert set(reordered.values()) == {1}, reordered


# ---- both: invariants and error bounds -----------------------------------------------------------------


@SETTINGS
@given(heads(constant_v=True), st.sampled_from(sorted(REGIONS)))
def test_constant_v_gives_the_constant(head: tuple[np.ndarray, np.ndarray, np.ndarray, int], method: str) -> None:
    q, k, v, mult = head
    out = run_region(method, q, k, v, mult).astype(np.int64)
    assert (np.abs(out - int(v[0, 0]) * 256) <= 1).all(), (out, v[0, 0])


@SETTINGS
@given(heads())
def test_error_against_float64(head: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
    """Each region within its bound of float64 SDPA; so within the sum of the bounds of each other and of
    sdpa_fixed (the reordered region's bound is sdpa_fixed's)."""
    q, k, v, mult = head
    ref = float_reference(q, k, v, mult)
    got = {method: run_region(method, q, k, v, mult).astype(np.float64) / 256 for method in REGIONS}
    for method, out in got.items():
        assert np.abs(out - ref).max() <= error_bound(v, method), method
    both = error_bound(v, "naive") + error_bound(v, "reordered")
    assert np.abs(got["naive"] - fixed_one_head(q, k, v, mult) / 256).max() <= both


@pytest.mark.parametrize("method", sorted(REGIONS))
def test_datapath_error_like_fixed(method: str) -> None:
    """On N(0, 1) inputs (B=1, H=2, H_kv=1, N=32, d=16) the multi-head wrapper stays within fixed.py's
    datapath bound (0.01 int8 step against float64 SDPA of the dequantized inputs); the reordered one is
    sdpa_fixed_int."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 32, 16))
    k, v = (rng.standard_normal((1, 1, 32, 16)) for _ in range(2))
    got = streaming.sdpa_streaming(q, k, v, method=method)
    (q8, sq), (k8, sk), (v8, sv) = fixed.quantize(q), fixed.quantize(k), fixed.quantize(v)
    ref, _ = sdpa_reference(q8 * sq, np.repeat(k8 * sk, 2, axis=1), np.repeat(v8 * sv, 2, axis=1))
    assert np.abs(got - ref).max() / sv < 0.01
    mult = fixed.score_multiplier(sq, sk, 1 / 4)
    out = streaming.sdpa_streaming_int(q8, k8, v8, mult, method=method)
    if method == "reordered":
        np.testing.assert_array_equal(out, fixed.sdpa_fixed_int(q8, k8, v8, mult, backend="python"))
    np.testing.assert_array_equal(out.astype(np.float64) / 256 * sv, got)


def test_wrapper_bad_input() -> None:
    q = np.zeros((1, 2, 4, 3), np.int8)
    with pytest.raises(ValueError, match="as many keys as queries"):
        streaming.sdpa_streaming_int(q, np.zeros((1, 1, 5, 3), np.int8), np.zeros((1, 1, 5, 2), np.int8), 1)
    with pytest.raises(ValueError, match="method must be one of naive, reordered"):
        streaming.sdpa_streaming_int(q, q, q, 1, method="flash")
    with pytest.raises(ValueError, match="score_mult must be an int"):
        streaming.sdpa_streaming_int(q, q, q, 0)
    with pytest.raises(TypeError, match="k must be a 4-d int8"):
        streaming.sdpa_streaming_int(q, q.astype(np.int16), q, 1)
    with pytest.raises(ValueError, match="contains NaN"):
        streaming.sdpa_streaming(np.full((1, 1, 2, 2), np.nan), np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)))


# ---- hardware (tier hdl, by the backend parameter) -------------------------------------------------------


@pytest.mark.parametrize("backend", ["verilator"])
def test_regions_on_rtl(backend: str) -> None:
    """The generated RTL agrees with the python backend bit for bit; its FIFOs: the reordered region's hold at
    most two values, the naive's row buffers about a row; a row buffer of N - 2 deadlocks in RTL too."""
    reason = available(backend)
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(5)
    n, d, dv = 6, 2, 3
    q, k = (rng.integers(-127, 128, (n, d), dtype=np.int8) for _ in range(2))
    v = rng.integers(-127, 128, (n, dv), dtype=np.int8)
    for method, region in REGIONS.items():
        o = np.zeros((n, dv), np.int16)
        result = hls.run(region, q, k, v, 1 << 16, o, backend=backend)
        np.testing.assert_array_equal(o, run_region(method, q, k, v, 1 << 16))
        peaks = {name: f.peak for name, f in result.fifos.items()}
        if method == "reordered":
            assert max(peaks.values()) <= 2, peaks
        else:
            assert n - 1 <= peaks["z_buf"] <= n + streaming.BUFFER_SLACK, peaks
    with pytest.raises(DeadlockError) as err:
        hls.run(streaming.sdpa_naive, q, k, v, 1 << 16, o, backend=backend, depths={"z_buf": n - 2})
    assert ("tee", "write", "z_buf") in err.value.blocked and ("exp_shifted", "read", "m") in err.value.blocked


@st.composite
def one_shape(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """Arguments of a region at N = 5, D = DV = 2 (one shape: one hardware build per region), values drawn."""
    q, k = (draw(hnp.arrays(np.int8, (5, 2))) for _ in range(2))
    v = draw(hnp.arrays(np.int8, (5, 2)))
    return q, k, v, draw(MULTS), np.zeros((5, 2), np.int16)


@pytest.mark.parametrize("backend", ["numba-cpu", "numba-cuda", "myhdl", "verilator"])
@pytest.mark.parametrize("method", sorted(REGIONS))
def test_regions_agree_with_python_on_every_backend(method: str, backend: str) -> None:
    """hls.check: each backend equals the python backend bit for bit on drawn heads (numba-cuda on Numba's CUDA
    simulator without a GPU); a backend that cannot run here is skipped with its reason."""
    report = hls.check(REGIONS[method], [backend], examples=8, strategy=one_shape())
    if backend in report.skipped:
        pytest.skip(f"{backend}: {report.skipped[backend]}")
    assert report.agreed == [backend], report
