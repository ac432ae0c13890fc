"""Dynamic Mask Attention: the fused kernel against the float64 reference, the mask builder, bad input."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms import dma
from hls import check
from tests.tolerance import assert_within_naive_error


def make_inputs(
    rng: np.random.Generator,
    b: int = 2,
    nq: int = 96,
    nk: int = 96,
    h: int = 4,
    g: int = 2,
    d: int = 16,
    dtype: type = np.float64,
) -> tuple[np.ndarray, ...]:
    q = rng.standard_normal((b, nq, h, d)).astype(dtype)
    k = rng.standard_normal((b, nk, g, d)).astype(dtype)
    v = rng.standard_normal((b, nk, g, d)).astype(dtype)
    dt_proj = (0.3 * rng.standard_normal((g, g * d))).astype(dtype)
    a_coef = -np.exp(rng.standard_normal(g)).astype(dtype)
    return q, k, v, dt_proj, a_coef


def clustered_inputs(rng: np.random.Generator, n: int, dtype: type = np.float64) -> tuple[np.ndarray, ...]:
    """Inputs whose zoh follows a slow wave over the keys, so the kept keys form runs and tiles are skipped."""
    q, k, v, dt_proj, a_coef = make_inputs(rng, 1, n, n, 2, 1, 8, dtype)
    v[:, :, :, 0] = 4 * np.cos(np.arange(n) * 6 * np.pi / n)[None, :, None]
    dt_proj[:] = 0
    dt_proj[0, 0] = 1
    return q, k, v, dt_proj, a_coef


def assert_lse_close(got: np.ndarray, ref: np.ndarray, naive: np.ndarray) -> None:
    dead = np.isneginf(ref)
    np.testing.assert_array_equal(np.isneginf(got), dead)
    assert_within_naive_error(
        np.where(dead, 0, got), np.where(dead, 0, ref), np.where(dead, 0, naive).astype(naive.dtype), "lse"
    )


# ---- against the float64 reference --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("nq,nk", [(96, 96), (50, 130), (130, 50)])
def test_matches_float64_reference(dtype: type, causal: bool, nq: int, nk: int) -> None:
    args = make_inputs(np.random.default_rng(nq * 7 + nk), nq=nq, nk=nk, dtype=dtype)
    out, lse, _ = dma.flash_dma_attention(
        *args, keep_window_size=40, causal=causal, return_attn_probs=True, block_m=32, block_n=24
    )
    ref, ref_lse = dma.dma_reference(*args, keep_window_size=40, causal=causal)
    naive, naive_lse = dma.dma_reference(*args, keep_window_size=40, causal=causal, compute_dtype=dtype)
    assert out.dtype == lse.dtype == dtype and out.shape == args[0].shape
    assert_within_naive_error(out, ref, naive)
    assert_lse_close(lse, ref_lse, naive_lse)


@settings(max_examples=12, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.sampled_from([(1, 1), (2, 1), (4, 2)]),
    st.integers(1, 45),
    st.booleans(),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, 2**32 - 1),
)
def test_random_shapes_match_reference(
    nq: int, nk: int, heads: tuple[int, int], keep: int, causal: bool, block_m: int, block_n: int, seed: int
) -> None:
    args = make_inputs(np.random.default_rng(seed), 1, nq, nk, heads[0], heads[1], 4)
    out = dma.flash_dma_attention(*args, keep_window_size=keep, causal=causal, block_m=block_m, block_n=block_n)
    ref, _ = dma.dma_reference(*args, keep_window_size=keep, causal=causal)
    assert_within_naive_error(out, ref, ref)


@pytest.mark.parametrize("causal", [False, True])
def test_keep_at_least_n_is_dense_attention_with_zoh_bias(causal: bool) -> None:
    q, k, v, dt_proj, a_coef = make_inputs(np.random.default_rng(8), nq=70, nk=90)
    zoh = np.exp(np.logaddexp(0, v.reshape(2, 90, -1) @ dt_proj.T) * a_coef)  # [B, Nk, Hkv]
    s = (
        np.einsum("bihd,bjhd->bhij", q, np.repeat(k, 2, axis=2)) / 4.0
        + np.repeat(zoh, 2, axis=2).transpose(0, 2, 1)[:, :, None, :]
    )
    if causal:
        s = np.where(np.arange(90)[None, :] <= np.arange(70)[:, None] + 20, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    dense = np.einsum("bhij,bjhd->bihd", p / p.sum(-1, keepdims=True), np.repeat(v, 2, axis=2))
    for keep in (90, 91, 10_000):
        out = dma.flash_dma_attention(q, k, v, dt_proj, a_coef, keep_window_size=keep, causal=causal)
        assert_within_naive_error(out, dense, dense)


# ---- tile skipping, invariants ------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True])
def test_tile_skipping_changes_nothing(causal: bool) -> None:
    args = clustered_inputs(np.random.default_rng(9), 256)
    zoh = dma.dma_zoh_values(args[2], args[3], args[4])
    mask = dma.build_dma_mask(zoh, 256, 32, causal, 16, 16)
    assert 0 < mask.live.mean() < (0.3 if causal else 0.5)  # most key tiles are skipped
    fast = dma.flash_dma_attention(*args, keep_window_size=32, causal=causal, block_m=16, block_n=16)
    full = dma.flash_dma_attention(*args, keep_window_size=32, causal=causal, block_m=16, block_n=16, skip_tiles=False)
    np.testing.assert_array_equal(fast, full)
    ref, _ = dma.dma_reference(*args, keep_window_size=32, causal=causal)
    assert_within_naive_error(fast, ref, ref)


def test_fully_masked_rows_are_zero_not_nan() -> None:
    args = make_inputs(np.random.default_rng(10), nq=40, nk=16)  # causal, Nq > Nk: the first 24 rows see no key
    out, lse, probs = dma.flash_dma_attention(*args, keep_window_size=4, causal=True, return_attn_probs=True)
    assert not np.isnan(out).any() and not np.isnan(probs).any()
    assert not out[:, :24].any() and np.isneginf(lse[:, :, :24]).all() and not probs[:, :, :24].any()
    assert np.isfinite(lse[:, :, 24:]).all()


def test_constant_values_give_that_constant() -> None:
    q, k, v, dt_proj, a_coef = make_inputs(np.random.default_rng(11), nq=64, nk=80)
    out = dma.flash_dma_attention(q, k, np.full_like(v, 1.5), dt_proj, a_coef, keep_window_size=20, causal=True)
    np.testing.assert_allclose(out, 1.5, rtol=1e-14)


def test_probs_are_the_softmax_over_kept_keys() -> None:
    args = make_inputs(np.random.default_rng(12), nq=48, nk=64)
    out, lse, probs = dma.flash_dma_attention(*args, keep_window_size=12, causal=True, return_attn_probs=True)
    zoh = dma.dma_zoh_reference(*args[2:])
    kept = dma.dma_keep_reference(zoh, 48, 12, True)  # [B, Hkv, Nq, Nk]
    kept_h = np.repeat(kept, 2, axis=1)
    assert not probs[~kept_h].any()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.einsum("bhij,bjhd->bihd", probs, np.repeat(args[2], 2, axis=2)), out, atol=1e-13)
    assert (kept.sum(-1) == np.minimum(12, np.arange(48) + 17)).all()


# ---- the mask builder ---------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 30),
    st.integers(1, 35),
    st.booleans(),
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(0, 2**32 - 1),
)
def test_mask_builder_matches_row_topk(
    nq: int, nk: int, keep: int, causal: bool, block_m: int, block_n: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    zoh = rng.integers(0, 4, (2, 2, nk)) / 4.0  # few levels: many ties
    mask = dma.build_dma_mask(zoh, nq, keep, causal, block_m, block_n, backend="python")
    want = dma.dma_keep_reference(zoh, nq, keep, causal)
    np.testing.assert_array_equal(mask.kept(zoh, causal), want)
    tm, tn = -(-nq // block_m), -(-nk // block_n)
    padded = np.zeros((2, 2, tm * block_m, tn * block_n), bool)
    padded[:, :, :nq, :nk] = want
    tiles = padded.reshape(2, 2, tm, block_m, tn, block_n).any(axis=(3, 5))
    np.testing.assert_array_equal(mask.live, tiles)


def test_zoh_matches_reference() -> None:
    for dtype in (np.float32, np.float64):
        _, _, v, dt_proj, a_coef = make_inputs(np.random.default_rng(13), dtype=dtype)
        want = dma.dma_zoh_reference(v, dt_proj, a_coef)
        assert_within_naive_error(dma.dma_zoh_values(v, dt_proj, a_coef), want, want)


# ---- backends -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kern",
    [dma.dma_topk_threshold, dma.dma_tile_flags, dma.flash_dma_fwd_f32, dma.flash_dma_fwd_f64],
    ids=lambda k: k.__name__,
)
def test_kernels_agree_across_backends(kern) -> None:
    assert check(kern, backends=["numba-cpu"], examples=8).agreed == ["numba-cpu"]


def test_python_backend_equals_numba() -> None:
    args = make_inputs(np.random.default_rng(14), b=1, nq=20, nk=28, h=2, g=1, d=4)
    py = dma.flash_dma_attention(*args, keep_window_size=9, causal=True, block_m=8, block_n=8, backend="python")
    nb = dma.flash_dma_attention(*args, keep_window_size=9, causal=True, block_m=8, block_n=8)
    np.testing.assert_allclose(py, nb, rtol=1e-13, atol=1e-15)


# ---- bad input ----------------------------------------------------------------------------------


def _with(i: int, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[tuple], tuple]:
    return lambda args: tuple(fn(a) if n == i else a for n, a in enumerate(args))


@pytest.mark.parametrize(
    "change,options,match",
    [
        (None, {"dropout_p": 0.1}, "dropout_p must be 0.0"),
        (None, {"keep_window_size": 0}, "keep_window_size must be an int >= 1"),
        (None, {"keep_window_size": -3}, "keep_window_size must be an int >= 1"),
        (None, {"keep_window_size": 2.5}, "keep_window_size must be an int >= 1"),
        (None, {"keep_window_size": True}, "keep_window_size must be an int >= 1"),
        (None, {"softmax_scale": float("nan")}, "softmax_scale must be None or a finite number"),
        (None, {"block_m": 0}, "block_m must be a positive int"),
        (_with(0, lambda a: a[0]), {}, "query must be"),
        (_with(1, lambda a: a[:, :-1]), {}, "key and value shapes differ"),
        (_with(0, lambda a: a[..., :-1]), {}, "differ in batch or head_dim"),
        (_with(0, lambda a: a[:, :, :3]), {}, "multiple of key/value heads"),
        (_with(3, lambda a: a[:, :-1]), {}, "dt_proj must have shape"),
        (_with(4, lambda a: a[:1]), {}, "a_coef must have shape"),
        (_with(0, lambda a: a.astype(np.int64)), {}, "query must be float32 or float64"),
        (_with(0, lambda a: a.astype(np.float32)), {}, "dtypes differ"),
        (_with(0, lambda a: np.where(a > 1, np.nan, a)), {}, "query contains NaN or inf"),
        (_with(2, lambda a: np.where(a > 1, np.inf, a)), {}, "value contains NaN or inf"),
        (_with(0, lambda a: a[:, :0]), {}, "query is empty"),
        (_with(1, lambda a: a[:, :0]), {}, "key is empty"),
        (_with(4, lambda a: np.full_like(a, 800.0)), {}, "zoh .* overflows"),
    ],
)
def test_bad_input_raises_value_error(change: Callable | None, options: dict, match: str) -> None:
    args = make_inputs(np.random.default_rng(15), nq=8, nk=8)
    if change is not None:
        args = change(args)
    with pytest.raises(ValueError, match=match):
        dma.flash_dma_attention(*args, **options)
