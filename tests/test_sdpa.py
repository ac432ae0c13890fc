"""SDPA family: every method against the float64 reference, invariants, bad input, and the fixed-point kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backends
from algorithms import fixed, sdpa
from algorithms.sdpa import METHODS, block_index, block_mask, sdpa_block_sparse, sdpa_reference
from hls import check
from tests.tolerance import assert_within_naive_error

BACKENDS = ["python", "numba-cpu"]
DTYPES = [np.float32, np.float64]
ALL_METHODS = [*METHODS, "sparse-all"]


def _numba_or_skip(backend: str) -> None:
    why = backends.available(backend)
    if why:
        pytest.skip(f"backend {backend} not run: {why}")


def _inputs(
    seed: int, b: int, h: int, hkv: int, nq: int, nk: int, d: int, dv: int, dtype: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, h, nq, d)).astype(dtype)
    k = rng.standard_normal((b, hkv, nk, d)).astype(dtype)
    v = rng.standard_normal((b, hkv, nk, dv)).astype(dtype)
    return q, k, v


def _attend(
    method: str,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    causal: bool,
    bm: int,
    bn: int,
    backend: str,
    scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    if method == "sparse-all":  # every key block listed: must equal dense
        nqb, nkb = -(-q.shape[2] // bm), -(-k.shape[2] // bn)
        counts, index = block_index(np.ones((nqb, nkb), dtype=bool))
        return sdpa_block_sparse(q, k, v, counts, index, bm, bn, causal, scale, return_lse=True, backend=backend)
    return sdpa.sdpa(q, k, v, causal, scale, method, bm, bn, return_lse=True, backend=backend)


def assert_lse_close(got: np.ndarray, ref64: np.ndarray, naive: np.ndarray) -> None:
    """-inf exactly where the reference has it (rows with no visible key); the tolerance rule elsewhere."""
    masked = np.isneginf(ref64)
    assert not np.isnan(got).any()
    np.testing.assert_array_equal(np.isneginf(got), masked, err_msg="lse is -inf exactly on fully masked rows")
    keep = ~masked
    assert_within_naive_error(got[keep], ref64[keep], naive[keep], what="lse")


def _check_against_reference(
    method: str,
    backend: str,
    dtype: type,
    shape: tuple[int, ...],
    causal: bool,
    bm: int,
    bn: int,
    seed: int,
    mask: np.ndarray | None = None,
) -> None:
    b, h, hkv, nq, nk, d, dv = shape
    q, k, v = _inputs(seed, b, h, hkv, nq, nk, d, dv, dtype)
    o, lse = _attend(method, q, k, v, causal, bm, bn, backend)
    ref_o, ref_lse = sdpa_reference(q, k, v, causal, mask=mask)
    naive_o, naive_lse = sdpa_reference(q, k, v, causal, mask=mask, dtype=dtype)
    assert o.dtype == lse.dtype == dtype
    assert o.shape == (b, h, nq, dv) and lse.shape == (b, h, nq)
    assert_within_naive_error(o, ref_o, naive_o, what=f"{method} o")
    assert_lse_close(lse, ref_lse, naive_lse)


shapes = st.tuples(
    st.integers(1, 2),
    st.integers(1, 2),
    st.integers(1, 2),  # b, group, h_kv
    st.integers(0, 9),
    st.integers(0, 9),
    st.integers(1, 9),
    st.integers(1, 6),
)  # nq nk d dv


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6, deadline=None, database=None)
@given(shape=shapes, causal=st.booleans(), bm=st.integers(1, 5), bn=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_tiny_vs_reference(
    backend: str, method: str, dtype: type, shape: tuple[int, ...], causal: bool, bm: int, bn: int, seed: int
) -> None:
    """Every method, both dtypes, both backends: o and lse within 2x the naive same-precision error."""
    _numba_or_skip(backend)
    b, g, hkv, nq, nk, d, dv = shape
    _check_against_reference(method, backend, dtype, (b, g * hkv, hkv, nq, nk, d, dv), causal, bm, bn, seed)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("causal", [False, True])
def test_numba_larger_with_tail_tiles(method: str, causal: bool, dtype: type) -> None:
    """Nq, Nk not multiples of the tile (tails), GQA 4:2, d = 40: numba-cpu against the reference."""
    _numba_or_skip("numba-cpu")
    _check_against_reference(method, "numba-cpu", dtype, (2, 4, 2, 150, 203, 40, 24), causal, 64, 32, seed=7)
    _check_against_reference(method, "numba-cpu", dtype, (1, 2, 1, 203, 150, 40, 24), causal, 32, 64, seed=8)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_constant_v_gives_the_constant(method: str) -> None:
    """V = c everywhere: every row with a visible key outputs c (the reference simulator's invariant)."""
    _numba_or_skip("numba-cpu")
    q, k, _ = _inputs(3, 1, 4, 2, 70, 50, 16, 8, np.float32)
    for c, causal in ((1.0, False), (-2.5, True)):
        v = np.full((1, 2, 50, 8), c, dtype=np.float32)
        o, lse = _attend(method, q, k, v, causal, 16, 16, "numba-cpu")
        visible = np.isfinite(lse)
        assert (~visible).sum() == (4 * 20 if causal else 0)  # causal, Nq > Nk: the first 20 rows see no key
        np.testing.assert_allclose(o[visible], c, rtol=4e-7 * 50)
        assert (o[~visible] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ALL_METHODS)
def test_fully_masked_and_empty(backend: str, method: str) -> None:
    """Rows with no visible key give o = 0 and lse = -inf, never NaN; Nq = 0 and Nk = 0 are defined."""
    _numba_or_skip(backend)
    q, k, v = _inputs(4, 1, 2, 1, 6, 2, 3, 2, np.float64)
    o, lse = _attend(method, q, k, v, True, 4, 4, backend)  # Nq = 6 > Nk = 2: rows 0..3 see nothing
    assert not np.isnan(o).any() and not np.isnan(lse).any()
    assert (o[:, :, :4] == 0).all() and np.isneginf(lse[:, :, :4]).all()
    assert np.isfinite(lse[:, :, 4:]).all()
    q0, k0, v0 = _inputs(5, 2, 2, 2, 0, 5, 3, 4, np.float32)
    o, lse = _attend(method, q0, k0, v0, False, 4, 4, backend)
    assert o.shape == (2, 2, 0, 4) and lse.shape == (2, 2, 0)
    q1, k1, v1 = _inputs(6, 1, 2, 2, 3, 0, 3, 4, np.float32)
    o, lse = _attend(method, q1, k1, v1, False, 4, 4, backend)
    assert o.shape == (1, 2, 3, 4) and (o == 0).all() and np.isneginf(lse).all()


@pytest.mark.parametrize("method", ALL_METHODS)
def test_gqa_equals_repeated_kv_heads(method: str) -> None:
    """GQA/MQA: query head h reads kv head h // (H / H_kv), exactly as if k, v were repeated per head."""
    _numba_or_skip("numba-cpu")
    for hkv in (1, 2):
        q, k, v = _inputs(9, 2, 4, hkv, 33, 40, 8, 8, np.float32)
        o, lse = _attend(method, q, k, v, True, 16, 8, "numba-cpu")
        rep = 4 // hkv
        o2, lse2 = _attend(method, q, np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1), True, 16, 8, "numba-cpu")
        np.testing.assert_array_equal(o, o2)
        np.testing.assert_array_equal(lse, lse2)


def test_scale_argument() -> None:
    """An explicit scale is used (and the default is 1/sqrt(d))."""
    _numba_or_skip("numba-cpu")
    q, k, v = _inputs(10, 1, 2, 2, 20, 20, 16, 16, np.float64)
    for scale in (None, 0.3):
        for method in METHODS:
            o = sdpa.sdpa(q, k, v, scale=scale, method=method, block_m=8, block_n=8)
            ref, _ = sdpa_reference(q, k, v, scale=scale)
            assert_within_naive_error(o, ref, ref, what=method)
    a = sdpa.sdpa(q, k, v, scale=1 / math.sqrt(16))
    np.testing.assert_array_equal(a, sdpa.sdpa(q, k, v))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_block_sparse_all_blocks_equals_dense_and_reference(causal: bool, density: float) -> None:
    """Block-sparse flash: all blocks == dense flash bit for bit; a random index == reference with its mask."""
    _numba_or_skip("numba-cpu")
    q, k, v = _inputs(11, 2, 4, 2, 100, 130, 16, 16, np.float32)
    bm, bn = 32, 16
    nqb, nkb = 4, 9
    counts, index = block_index(np.ones((nqb, nkb), dtype=bool))
    o_s, lse_s = sdpa_block_sparse(q, k, v, counts, index, bm, bn, causal, return_lse=True)
    o_d, lse_d = sdpa.sdpa(q, k, v, causal, block_m=bm, block_n=bn, return_lse=True)
    np.testing.assert_array_equal(o_s, o_d)
    np.testing.assert_array_equal(lse_s, lse_d)
    rng = np.random.default_rng(12)
    blocks = rng.random((2, 4, nqb, nkb)) < density
    counts, index = block_index(blocks)
    mask = block_mask(counts, index, 100, 130, bm, bn)
    np.testing.assert_array_equal(mask[..., ::bm, ::bn], blocks)
    o, lse = sdpa_block_sparse(q, k, v, counts, index, bm, bn, causal, return_lse=True)
    ref_o, ref_lse = sdpa_reference(q, k, v, causal, mask=mask)
    naive_o, naive_lse = sdpa_reference(q, k, v, causal, mask=mask, dtype=np.float32)
    assert_within_naive_error(o, ref_o, naive_o, what="block-sparse o")
    assert_lse_close(lse, ref_lse, naive_lse)
    # a 1-d index (per query block) broadcasts over batch and heads
    o1 = sdpa_block_sparse(q, k, v, counts[0, 0], index[0, 0], bm, bn, causal)
    o2 = sdpa_block_sparse(
        q,
        k,
        v,
        np.broadcast_to(counts[0, 0], (2, 4, nqb)),
        np.broadcast_to(index[0, 0], (2, 4, *index.shape[2:])),
        bm,
        bn,
        causal,
    )
    np.testing.assert_array_equal(o1, o2)


# ---- bad input -----------------------------------------------------------------------------------


def _good() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _inputs(13, 1, 4, 2, 5, 6, 8, 8, np.float32)


@pytest.mark.parametrize(
    "case, error, words",
    [
        ("q_3d", ValueError, "q must have shape"),
        ("k_dim", ValueError, "k head dim"),
        ("v_len", ValueError, "v must have"),
        ("batch", ValueError, "batch sizes"),
        ("ratio", ValueError, "H_kv = 3"),
        ("int", TypeError, "q must be float32 or float64"),
        ("mixed", TypeError, "k has dtype float64"),
        ("list", TypeError, "v must be a numpy array"),
        ("nan", ValueError, "k contains NaN"),
        ("inf", ValueError, "q contains NaN or infinity"),
        ("scale", ValueError, "scale must be a finite number"),
        ("method", ValueError, "method must be one of"),
        ("block", ValueError, "block_m must be an int"),
    ],
)
def test_bad_input_names_the_argument(case: str, error: type, words: str) -> None:
    q, k, v = _good()
    kw: dict = {}
    if case == "q_3d":
        q = q[0]
    elif case == "k_dim":
        k = k[..., :4]
    elif case == "v_len":
        v = v[:, :, :3]
    elif case == "batch":
        k, v = np.concatenate([k, k]), np.concatenate([v, v])
    elif case == "ratio":
        k, v = np.concatenate([k, k[:, :1]], axis=1), np.concatenate([v, v[:, :1]], axis=1)
    elif case == "int":
        q = q.astype(np.int32)
    elif case == "mixed":
        k = k.astype(np.float64)
    elif case == "list":
        v = v.tolist()
    elif case == "nan":
        k = k.copy()
        k[0, 1, 2, 3] = np.nan
    elif case == "inf":
        q = q.copy()
        q[0, 0, 0, 0] = -np.inf
    elif case == "scale":
        kw["scale"] = float("nan")
    elif case == "method":
        kw["method"] = "fast"
    elif case == "block":
        kw["block_m"] = 0
    with pytest.raises(error, match=words):
        sdpa.sdpa(q, k, v, **kw)


@pytest.mark.parametrize(
    "case, words",
    [
        ("nqb", "kv_num_blocks must end in n_qblocks"),
        ("range", "kv_indices must be in 0..3"),
        ("count", "kv_num_blocks must be in 0..max_blocks"),
        ("twice", "lists a key block twice"),
        ("float", "kv_indices must hold integers"),
        ("broadcast", "do not broadcast"),
    ],
)
def test_bad_block_index(case: str, words: str) -> None:
    q, k, v = _inputs(14, 1, 2, 2, 10, 10, 4, 4, np.float32)
    counts, index = block_index(np.ones((3, 4), dtype=bool))  # block_m = 4, block_n = 3
    if case == "nqb":
        counts, index = counts[:2], index[:2]
    elif case == "range":
        index = index.copy()
        index[0, 0] = 4
    elif case == "count":
        counts = counts + 1
    elif case == "twice":
        index = index.copy()
        index[1, 1] = index[1, 0]
    elif case == "float":
        index = index.astype(np.float32)
    elif case == "broadcast":
        counts = np.broadcast_to(counts, (3, 3))
    error = TypeError if case == "float" else ValueError
    with pytest.raises(error, match=words):
        sdpa_block_sparse(q, k, v, counts, index, 4, 3)


# ---- kernels on every backend, and the pieces ----------------------------------------------------

FLOAT_KERNELS = [
    sdpa.naive_f32,
    sdpa.streaming_f32,
    sdpa.flash_f32,
    sdpa.flash_sparse_f32,
    sdpa.naive_f64,
    sdpa.streaming_f64,
    sdpa.flash_f64,
    sdpa.flash_sparse_f64,
]


@pytest.mark.parametrize("kern", FLOAT_KERNELS, ids=lambda k: k.__name__)
def test_kernels_agree_across_backends(kern: object) -> None:
    """hls.check: python and numba-cpu agree (float tolerance of the checker) on drawn arguments."""
    _numba_or_skip("numba-cpu")
    report = check(kern, backends=["numba-cpu"], examples=8)
    assert report.agreed == ["numba-cpu"]


def test_exp_neg_f32_accuracy() -> None:
    """The vectorizable float32 e**x is within 2 ulp of float64 exp where e**x >= 2**-125, else below it."""
    _numba_or_skip("numba-cpu")
    fn = backends.get("numba-cpu").compile(sdpa.exp_neg_f32)
    xs = np.concatenate([-np.geomspace(1e-8, 100.0, 4000), np.linspace(-100.0, 0.0, 4001)]).astype(np.float32)
    got = np.array([fn(x) for x in xs], dtype=np.float64)
    want = np.exp(xs.astype(np.float64))
    ulp = np.spacing(want.astype(np.float32)).astype(np.float64)
    normal = want >= 2.0**-125
    err = np.abs(got - want)
    assert (err[normal] <= 2 * ulp[normal]).all(), float(np.max(err[normal] / ulp[normal]))
    assert (got[~normal] < 2.0**-125).all()
    assert fn(np.float32(-np.inf)) == 0 and fn(np.float32(-200.0)) == 0 and fn(np.float32(0.0)) == 1
    assert sdpa.exp_neg_f32(np.float32(-1.5)) == fn(np.float32(-1.5))  # python == numba


# ---- fixed point ---------------------------------------------------------------------------------


def test_fixed_bit_exact_python_numba() -> None:
    _numba_or_skip("numba-cpu")
    assert check(fixed.exp2_neg_q16, backends=["numba-cpu"], examples=100).agreed == ["numba-cpu"]
    assert check(fixed.sdpa_fixed, backends=["numba-cpu"], examples=25).agreed == ["numba-cpu"]


def test_fixed_exp2_table_accuracy() -> None:
    """2**(-x/4096) in Q0.16 within 2**-14 relative plus half an LSB for every x up to 17 * 4096."""
    _numba_or_skip("numba-cpu")
    fn = backends.get("numba-cpu").compile(fixed.exp2_neg_q16)
    xs = np.arange(0, fixed.X_MAX + 1)
    got = np.array([fn(np.int64(x)) for x in xs], dtype=np.float64)
    want = 2.0 ** (-xs / 4096) * 65536
    assert (np.abs(got - want) <= want * 2**-14 + 0.5).all()
    assert fn(np.int64(0)) == 65536 and fn(np.int64(fixed.X_MAX)) == 1 and fn(np.int64(fixed.X_MAX + 4096)) == 0


@pytest.mark.parametrize("shape", [(1, 2, 64, 16), (1, 2, 256, 64)])
def test_fixed_error_bounds(shape: tuple[int, int, int, int]) -> None:
    """The errors quoted in algorithms/fixed.py hold (datapath < 0.01 int8 step, end to end < 1% of max|v|)."""
    _numba_or_skip("numba-cpu")
    for causal in (False, True):
        err = fixed.measure_error(shape, seed=0, causal=causal)
        assert err["datapath_steps"] < 0.01 and err["end_to_end"] < 0.01, err


def test_fixed_invariants_and_bad_input() -> None:
    """Constant v gives that constant within 1 LSB; rows with no visible key give 0; bad input raises."""
    _numba_or_skip("numba-cpu")
    rng = np.random.default_rng(15)
    q = rng.integers(-127, 128, (1, 4, 9, 8), dtype=np.int8)
    k = rng.integers(-127, 128, (1, 2, 5, 8), dtype=np.int8)
    for c in (1, -100, 127):
        v = np.full((1, 2, 5, 3), c, dtype=np.int8)
        out = fixed.sdpa_fixed_int(q, k, v, 1 << 16, causal=True)
        assert (out[:, :, :4] == 0).all()  # Nq = 9 > Nk = 5: four rows see no key
        assert (np.abs(out[:, :, 4:].astype(np.int64) - c * 256) <= 1).all()
    py = fixed.sdpa_fixed_int(q, k, v, 12345, causal=False, backend="python")
    np.testing.assert_array_equal(py, fixed.sdpa_fixed_int(q, k, v, 12345, causal=False))
    with pytest.raises(ValueError, match="H_kv = 3"):
        fixed.sdpa_fixed_int(q, np.zeros((1, 3, 5, 8), np.int8), np.zeros((1, 3, 5, 3), np.int8), 1)
    with pytest.raises(TypeError, match="q must be a 4-d int8"):
        fixed.sdpa_fixed_int(q.astype(np.int16), k, v, 1)
    with pytest.raises(ValueError, match="score multiplier"):
        fixed.score_multiplier(1.0, 1.0, 100.0)
    for bad in (0, -5, 1 << 31, True):
        with pytest.raises(ValueError, match="score_mult must be an int in 1..2\\*\\*31-1"):
            fixed.sdpa_fixed_int(q, k, v, bad)
    big_q = np.full((1, 1, 1, 64), 127, np.int8)
    big_k, big_v = np.full((1, 1, 2, 64), 127, np.int8), np.ones((1, 1, 2, 2), np.int8)
    with pytest.raises(ValueError, match="can overflow the 32-bit score register"):
        fixed.sdpa_fixed_int(big_q, big_k, big_v, (1 << 31) - 1)
    qf = rng.standard_normal((1, 1, 4, 8))
    for name, x in (("q", np.where(np.arange(8) == 3, np.nan, qf)), ("k", np.full_like(qf, np.inf))):
        args = {"q": qf, "k": qf, "v": qf} | {name: x}
        with pytest.raises(ValueError, match=f"{name} contains NaN or infinity"):
            fixed.sdpa_quantized(args["q"], args["k"], args["v"])
    with pytest.raises(ValueError, match="scale must be a finite positive number"):
        fixed.sdpa_quantized(qf, qf, qf, scale=float("nan"))


@pytest.mark.parametrize("method", METHODS)
def test_float32_lse_keeps_the_tolerance_rule_at_long_sequences(method: str) -> None:
    """The softmax denominator sums in float64: at Nk = 8192 a float32 running sum broke the rule for the LSE."""
    _numba_or_skip("numba-cpu")
    rng = np.random.default_rng(5)
    q = rng.standard_normal((1, 1, 64, 64)).astype(np.float32)
    k, v = (rng.standard_normal((1, 1, 8192, 64)).astype(np.float32) for _ in range(2))
    ref_o, ref_lse = sdpa_reference(q, k, v)
    naive_o, naive_lse = sdpa_reference(q, k, v, dtype=np.float32)
    o, lse = sdpa.sdpa(q, k, v, method=method, return_lse=True)
    assert_within_naive_error(lse, ref_lse, naive_lse, f"{method} lse")
    assert_within_naive_error(o, ref_o, naive_o, f"{method} o")
