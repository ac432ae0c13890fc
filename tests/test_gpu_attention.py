"""backends.gpu: the fast CUDA attention kernels against the kernels they accelerate.

Argument checking, the no-GPU error and the index preparation run everywhere (CI included, on the CUDA
simulator set up by conftest.py). The kernels themselves need a real NVIDIA GPU (tensor-core PTX, which
the simulator cannot run): those tests skip without one and run on the lent GPU with
`python -m pytest -q tests/test_gpu_attention.py`.

On an H100/H200 (compute capability 9.0) bfloat16/float16 calls run the wgmma kernel (flash_wgmma.cu) and
everything else the mma.sync kernel (flash_fwd.cu); the tests marked `wgmma` check that dispatch by name
(`gpu.attention.last_kernel()`) and compare the two kernels, and skip on other GPUs.

Tolerances (‖out - ref‖ / ‖ref‖ against float64 on the same rounded inputs, and max |lse - ref|):
bf16 operands with bf16 P land between 1e-3 and 1e-2, f16 near 1e-3, float32 ("bf16x3") near 1e-5.
"""

import os
import shutil

import numpy as np
import pytest

from algorithms.dma import dma_reference, dma_topk_threshold, dma_zoh_values
from algorithms.masks import a_shape_mask, block_topk_blocks, grid_mask, tri_shape_mask, vertical_slash_mask
from algorithms.sdpa import block_index, block_mask, sdpa_block_sparse, sdpa_reference
from backends import gpu, run
from backends.gpu import _runtime
from backends.gpu._tensors import bf16_bits, from_bf16_bits, round_to
from backends.gpu.attention import WGMMA_PARAMS, WGMMA_TILES, last_kernel, wgmma_tile

GPU = shutil.which("nvidia-smi") is not None and os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0")
needs_gpu = pytest.mark.skipif(
    not GPU,
    reason="needs a real NVIDIA GPU (tensor-core kernels cannot run on the CUDA simulator); run on the lent GPU",
)
REL_TOL = {"bf16": 2e-2, "f16": 4e-3, "f32": 1e-4}
LSE_TOL = {"bf16": 2e-3, "f16": 2e-3, "f32": 1e-4}
NP_DTYPE = {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}


def _qkv(rng: np.random.Generator, b: int, h: int, hkv: int, nq: int, nk: int, d: int, elem: str):
    """Random q, k, v (float32 numpy) already rounded to `elem`, so the reference sees what the kernel sees."""
    q, k, v = (
        round_to(rng.standard_normal(s).astype(np.float32), elem)
        for s in ((b, h, nq, d), (b, hkv, nk, d), (b, hkv, nk, d))
    )
    return q, k, v


def _assert_close(o, lse, o_ref, lse_ref, elem: str, what: str) -> None:
    o, lse = np.asarray(o, dtype=np.float64), np.asarray(lse, dtype=np.float64)
    assert np.isfinite(o).all(), f"{what}: non-finite output"
    dead = ~np.isfinite(lse_ref)
    assert (o[dead] == 0).all() and (lse[dead] == -np.inf).all(), f"{what}: masked rows must give o = 0, lse = -inf"
    rel = np.linalg.norm(o - o_ref) / max(np.linalg.norm(o_ref), 1e-30)
    assert rel <= REL_TOL[elem], f"{what}: relative error {rel:.2e} > {REL_TOL[elem]:.0e}"
    if (~dead).any():
        err = np.abs(lse[~dead] - lse_ref[~dead]).max()
        assert err <= LSE_TOL[elem], f"{what}: lse error {err:.2e} > {LSE_TOL[elem]:.0e}"


# ---- everywhere (no GPU needed) -------------------------------------------------------------------


def test_bf16_rounding_is_nearest_even():
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e38, 1e-40], dtype=np.float32)  # ties round to even
    got = from_bf16_bits(bf16_bits(x))
    assert got.tolist()[:4] == [1.0, 1.0, 1.015625, -2.5]
    assert np.isfinite(got[4]) and got[5] != 0  # no overflow to inf at the top, subnormals kept
    assert bf16_bits(np.array([1.0], np.float32))[0] == 0x3F80


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        (((1, 2, 8, 48), (1, 2, 8, 48), (1, 2, 8, 48)), "head dim d = 48 is not supported"),
        (((1, 2, 8, 64), (1, 2, 8, 64), (1, 2, 8, 32)), "needs dv = d"),
        (((1, 3, 8, 64), (1, 2, 8, 64), (1, 2, 8, 64)), "must divide the number of query heads"),
        (((1, 2, 8, 64), (2, 2, 8, 64), (2, 2, 8, 64)), "batch sizes differ"),
        (((2, 8, 64), (2, 8, 64), (2, 8, 64)), "must have shape [B, H, N, d]"),
    ],
)
def test_unsupported_shapes_raise_value_error(shapes, message):
    q, k, v = (np.zeros(s, np.float32) for s in shapes)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        gpu.flash_attention(q, k, v)


def test_bad_dtypes_and_values_raise():
    q = np.ones((1, 1, 4, 64), np.float64)
    with pytest.raises(TypeError, match="q has element type f64"):
        gpu.flash_attention(q, q, q)
    q = np.ones((1, 1, 4, 64), np.float32)
    with pytest.raises(ValueError, match="dtype must be"):
        gpu.flash_attention(q, q, q, dtype="int8")
    bad = q.copy()
    bad[0, 0, 1, 3] = np.nan
    with pytest.raises(ValueError, match="k contains NaN"):
        gpu.flash_attention(q, bad, q)
    with pytest.raises(ValueError, match="scale must be a finite number"):
        gpu.flash_attention(q, q, q, scale=float("inf"))
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        gpu.flash_attention(q, q, q, scale=-0.5)


@pytest.mark.skipif(GPU, reason="checks the message given when no GPU is usable")
def test_no_gpu_error_names_the_fix():
    q = np.ones((1, 2, 16, 64), np.float32)
    with pytest.raises(gpu.GpuUnavailableError, match="needs a real NVIDIA GPU.*NUMBA_ENABLE_CUDASIM.*numba-cpu"):
        gpu.flash_attention(q, q, q, causal=True)


def test_block_index_checks():
    counts, index = block_index(np.tril(np.ones((4, 4), bool)))
    idx = gpu.BlockIndex(counts, index, 128, 128)
    assert idx.kv_num_blocks.shape == (1, 1, 4) and idx.kv_indices.shape == (1, 1, 4, 4)
    assert idx.max_listed == 3
    idx.check(2, 8, 512, 512)
    with pytest.raises(ValueError, match=r"n_qblocks = ceil\(300 / 128\) = 3"):
        idx.check(1, 1, 300, 512)
    with pytest.raises(ValueError, match=r"must be in 0..1 \(ceil\(Nk / block_n\) - 1\)"):
        idx.check(1, 1, 512, 256)
    twice = index.copy()
    twice[3, 1] = twice[3, 0]
    with pytest.raises(ValueError, match="lists a key block twice"):
        gpu.BlockIndex(counts, twice, 128, 128)
    with pytest.raises(ValueError, match="kv_num_blocks must be in 0..MAXB = 4"):
        gpu.BlockIndex(counts + 1, index, 128, 128)
    with pytest.raises(TypeError, match="must hold integers"):
        gpu.BlockIndex(counts.astype(np.float32), index, 128, 128)
    q = np.ones((1, 1, 512, 64), np.float32)
    with pytest.raises(ValueError, match="block_m = 96 must be a multiple of 64"):
        gpu.block_sparse_attention(q, q, q, np.tile(counts, 2)[:6], np.tile(index, (2, 1))[:6], block_m=96)


def test_kernel_choice():
    """Which kernel runs where (no GPU needed): wgmma only on compute capability 9.0, 16-bit, d 64/128."""
    assert wgmma_tile("bf16", 128, (9, 0)) == WGMMA_TILES[(128, 128)]
    assert wgmma_tile("f16", 64, (9, 0)) == WGMMA_TILES[(64, 128)]
    assert wgmma_tile("f32", 64, (9, 0)) is None  # bf16x3 stays on mma.sync
    assert wgmma_tile("bf16", 64, (8, 0)) is None and wgmma_tile("bf16", 64, (10, 0)) is None
    assert wgmma_tile("bf16", 64, (12, 0)) is None
    assert wgmma_tile("bf16", 64, (9, 0), 128, 128).bn == 128 and wgmma_tile("bf16", 64, (9, 0), 128, 128).persistent
    assert not wgmma_tile("bf16", 64, (9, 0)).persistent  # dense: one CTA per query tile
    assert wgmma_tile("bf16", 128, (9, 0), 256, 64).bn == 64
    assert wgmma_tile("bf16", 64, (9, 0), 64, 64) is None  # query blocks smaller than the 128-row tile
    assert wgmma_tile("bf16", 64, (9, 0), 128, 32) is None
    for (d, _), tile in WGMMA_TILES.items():
        assert tile.smem_bytes(d) <= 227 * 1024
    # flash_wgmma's parameters packed as C lays them out: 64-byte aligned tensor maps, then 8- and 4-byte fields
    fmt, offsets = _runtime._layout(WGMMA_PARAMS)
    assert offsets[:6] == (0, 128, 256, 384, 392, 400) and offsets[-3:] == (484, 488, 492)
    q = np.ones((1, 1, 4, 64), np.float32)
    with pytest.raises(ValueError, match="kernel must be one of"):
        gpu.flash_attention(q, q, q, kernel="fast")
    with pytest.raises(ValueError, match="cannot be combined with kernel='wgmma'"):
        gpu.flash_attention(q, q, q, kernel="wgmma", tile=gpu.Tile(4, 64))


# ---- on a real GPU ---------------------------------------------------------------------------------


DENSE_CASES = [  # b, h, hkv, nq, nk
    (1, 2, 2, 128, 128),
    (2, 4, 2, 77, 200),  # GQA, ragged tails, Nq < Nk
    (1, 4, 1, 300, 96),  # MQA, Nq > Nk: with causal the first rows see no key
    (1, 2, 2, 1024, 1024),  # many key tiles through the pipeline
]


@needs_gpu
@pytest.mark.parametrize("elem", ["bf16", "f16", "f32"])
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("case", DENSE_CASES)
def test_dense_matches_float64_reference(elem, d, causal, case):
    b, h, hkv, nq, nk = case
    rng = np.random.default_rng([d, nq, nk, int(causal)])
    q, k, v = _qkv(rng, b, h, hkv, nq, nk, d, elem)
    o, lse = gpu.flash_attention(q, k, v, causal=causal, dtype=NP_DTYPE[elem], return_lse=True)
    o_ref, lse_ref = sdpa_reference(q, k, v, causal=causal)
    _assert_close(o, lse, o_ref, lse_ref, elem, f"{elem} d={d} causal={causal} {case}")


def _blocks_of(mask: np.ndarray, bm: int, bn: int) -> np.ndarray:
    nq, nk = mask.shape
    pad = np.zeros((-(-nq // bm) * bm, -(-nk // bn) * bn), bool)
    pad[:nq, :nk] = mask
    return pad.reshape(pad.shape[0] // bm, bm, pad.shape[1] // bn, bn).any(axis=(1, 3))


SPARSE_MASKS = {
    "a_shape": lambda n, rng: a_shape_mask(n, n, n_init=64, n_local=256),
    "tri_shape": lambda n, rng: tri_shape_mask(n, n, n_init=64, n_local=256, n_last=100),
    "vertical_slash": lambda n, rng: vertical_slash_mask(
        n, n, verticals=rng.choice(n, 20, replace=False), slashes=range(0, 300, 37)
    ),
    "grid": lambda n, rng: grid_mask(n, n, stride=3, phase_q=1, phase_k=2),
}


@needs_gpu
@pytest.mark.parametrize("elem", ["bf16", "f32"])
@pytest.mark.parametrize("pattern", [*SPARSE_MASKS, "block_topk"])
@pytest.mark.parametrize(("block_m", "block_n"), [(128, 128), (64, 64), (128, 64)])
def test_block_sparse_matches_numba_cpu(elem, pattern, block_m, block_n):
    b, h, hkv, n, d = 1, 4, 2, 700, 64
    rng = np.random.default_rng([len(pattern), block_m, block_n])
    q, k, v = _qkv(rng, b, h, hkv, n, n, d, elem)
    if pattern == "block_topk":
        blocks = np.stack([block_topk_blocks(q[0, i], k[0, i // 2], block=block_m, top_k=3) for i in range(h)])
        if block_n != block_m:
            blocks = blocks.repeat(block_m // block_n, axis=-1)[..., : -(-n // block_n)]
    else:
        blocks = _blocks_of(SPARSE_MASKS[pattern](n, rng), block_m, block_n)
    counts, index = block_index(blocks)
    counts, index = np.broadcast_to(counts, (b, h, counts.shape[-1])), np.broadcast_to(index, (b, h, *index.shape[-2:]))
    causal = pattern != "grid"
    o, lse = gpu.block_sparse_attention(
        q, k, v, counts, index, block_m, block_n, causal=causal, dtype=NP_DTYPE[elem], return_lse=True
    )
    o_cpu, lse_cpu = sdpa_block_sparse(q, k, v, counts, index, block_m, block_n, causal=causal, return_lse=True)
    o_ref, lse_ref = sdpa_reference(q, k, v, causal=causal, mask=block_mask(counts, index, n, n, block_m, block_n))
    _assert_close(o_cpu, lse_cpu, o_ref, lse_ref, "f32", "numba-cpu sdpa_block_sparse")
    _assert_close(o, lse, o_ref, lse_ref, elem, f"{elem} {pattern} {block_m}x{block_n}")
    rel = np.linalg.norm(o - o_cpu) / np.linalg.norm(o_cpu)
    assert rel <= REL_TOL[elem], f"against numba-cpu: {rel:.2e}"


@needs_gpu
def test_prepared_index_and_device_arrays():
    from numba import cuda

    rng = np.random.default_rng(5)
    q, k, v = _qkv(rng, 1, 2, 2, 256, 256, 128, "f32")
    counts, index = block_index(np.tril(np.ones((2, 2), bool)))
    idx = gpu.BlockIndex(counts, index, 128, 128)
    dq, dk, dv = (cuda.to_device(x) for x in (q, k, v))
    o1 = gpu.block_sparse_attention(dq, dk, dv, idx, causal=True).copy_to_host()
    o2 = gpu.block_sparse_attention(dq, dk, dv, idx, causal=True).copy_to_host()
    o_ref, _ = sdpa_reference(q, k, v, causal=True)
    assert np.array_equal(o1, o2)
    assert np.linalg.norm(o1 - o_ref) / np.linalg.norm(o_ref) <= REL_TOL["f32"]


@needs_gpu
def test_torch_tensors_in_and_out():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    q, k, v = _qkv(rng, 1, 4, 2, 333, 333, 64, "bf16")
    tq, tk, tv = (torch.tensor(x, device="cuda", dtype=torch.bfloat16) for x in (q, k, v))
    o = gpu.flash_attention(tq, tk, tv, causal=True)
    assert o.dtype == torch.bfloat16 and o.shape == tq.shape
    o_ref, _ = sdpa_reference(q, k, v, causal=True)
    o = o.float().cpu().numpy()
    assert np.linalg.norm(o - o_ref) / np.linalg.norm(o_ref) <= REL_TOL["bf16"]


@needs_gpu
@pytest.mark.parametrize(
    "tile",
    [
        gpu.Tile(4, 64, 1, True),
        gpu.Tile(8, 32, 2, False),
        gpu.Tile(4, 128, 2, False),
        gpu.Tile(4, 32, 2, True),
        gpu.Tile(8, 64, 1, True),
    ],
)
@pytest.mark.parametrize("elem", ["bf16", "f32"])
def test_every_tile_variant(tile, elem):
    rng = np.random.default_rng(7)
    q, k, v = _qkv(rng, 1, 4, 2, 333, 517, 64, elem)
    o, lse = gpu.flash_attention(q, k, v, causal=True, dtype=NP_DTYPE[elem], return_lse=True, tile=tile)
    o_ref, lse_ref = sdpa_reference(q, k, v, causal=True)
    _assert_close(o, lse, o_ref, lse_ref, elem, f"{elem} {tile}")


# ---- the wgmma kernel (compute capability 9.0) ------------------------------------------------------


def _hopper() -> bool:
    _runtime.require_gpu()
    return _runtime.compute_capability() == (9, 0)


needs_hopper = pytest.mark.skipif(not GPU, reason="needs a real NVIDIA GPU of compute capability 9.0")


@needs_hopper
@pytest.mark.parametrize("elem", ["bf16", "f16"])
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(
    "case", [*DENSE_CASES, (1, 3, 1, 1000, 3001), (2, 2, 2, 513, 257), (1, 1, 1, 1, 700), (2, 16, 4, 1100, 1100)]
)  # the last: more query tiles than SMs
def test_wgmma_dense_is_dispatched_and_matches(elem, d, causal, case):
    if not _hopper():
        pytest.skip("the wgmma kernel runs on compute capability 9.0 only")
    b, h, hkv, nq, nk = case
    rng = np.random.default_rng([d, nq, nk, int(causal), 11])
    q, k, v = _qkv(rng, b, h, hkv, nq, nk, d, elem)
    o, lse = gpu.flash_attention(q, k, v, causal=causal, dtype=NP_DTYPE[elem], return_lse=True)
    assert last_kernel().startswith("flash_wgmma<"), last_kernel()
    o_ref, lse_ref = sdpa_reference(q, k, v, causal=causal)
    _assert_close(o, lse, o_ref, lse_ref, elem, f"wgmma {elem} d={d} causal={causal} {case}")
    o_mma, lse_mma = gpu.flash_attention(q, k, v, causal=causal, dtype=NP_DTYPE[elem], return_lse=True, kernel="mma")
    assert last_kernel().startswith("flash_fwd<"), last_kernel()
    _assert_close(o, lse, o_mma, lse_mma, elem, f"wgmma against mma {elem} d={d} causal={causal} {case}")


@needs_hopper
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize(("block_m", "block_n"), [(128, 128), (128, 64), (256, 128)])
def test_wgmma_block_sparse_is_dispatched_and_matches(d, block_m, block_n):
    if not _hopper():
        pytest.skip("the wgmma kernel runs on compute capability 9.0 only")
    b, h, hkv, n = 2, 8, 2, 2200  # more query tiles than SMs (persistent CTAs take several)
    rng = np.random.default_rng([d, block_m, block_n])
    q, k, v = _qkv(rng, b, h, hkv, n, n, d, "f16")
    qb, kb = -(-n // block_m), -(-n // block_n)
    blocks = rng.random((b, h, qb, kb)) < 0.3  # a different random block set per (b, h)
    blocks[..., 0] = True
    counts, index = block_index(blocks)
    o, lse = gpu.block_sparse_attention(
        q, k, v, counts, index, block_m, block_n, causal=True, dtype="float16", return_lse=True
    )
    assert last_kernel().startswith("flash_wgmma<"), last_kernel()
    mask = block_mask(counts, index, n, n, block_m, block_n)
    o_ref, lse_ref = sdpa_reference(q, k, v, causal=True, mask=mask)
    _assert_close(o, lse, o_ref, lse_ref, "f16", f"wgmma block-sparse d={d} {block_m}x{block_n}")


@needs_hopper
def test_wgmma_torch_and_fallbacks():
    torch = pytest.importorskip("torch")
    if not _hopper():
        pytest.skip("the wgmma kernel runs on compute capability 9.0 only")
    rng = np.random.default_rng(12)
    q, k, v = _qkv(rng, 1, 8, 2, 2000, 2000, 128, "bf16")
    tq, tk, tv = (torch.tensor(x, device="cuda", dtype=torch.bfloat16) for x in (q, k, v))
    o = gpu.flash_attention(tq, tk, tv, causal=True, kernel="wgmma")
    assert last_kernel().startswith("flash_wgmma<") and o.dtype == torch.bfloat16
    o_ref, _ = sdpa_reference(q, k, v, causal=True)
    assert np.linalg.norm(o.float().cpu().numpy() - o_ref) / np.linalg.norm(o_ref) <= REL_TOL["bf16"]
    gpu.flash_attention(q[:, :, :64], k, v, dtype="float32")
    assert last_kernel().startswith("flash_fwd<2,")  # float32 stays on the mma kernel
    counts, index = block_index(np.tril(np.ones((4, 4), bool)))
    with pytest.raises(ValueError, match="kernel='wgmma' needs"):
        gpu.block_sparse_attention(
            q[:, :, :256], k[:, :, :256], v[:, :, :256], counts, index, 64, 64, dtype="bfloat16", kernel="wgmma"
        )
    gpu.block_sparse_attention(q[:, :, :256], k[:, :, :256], v[:, :, :256], counts, index, 64, 64, dtype="bfloat16")
    assert last_kernel().startswith("flash_fwd<0,")
    shifted = torch.empty(tq.numel() + 8, device="cuda", dtype=torch.bfloat16)[4 : 4 + tq.numel()].view(tq.shape)
    with pytest.raises(ValueError, match="16-byte aligned"):
        gpu.flash_attention(shifted, tk, tv)


# ---- Dynamic Mask Attention ----------------------------------------------------------------------------


def _dma_inputs(rng: np.random.Generator, b: int, nq: int, nk: int, h: int, g: int, d: int):
    q = rng.standard_normal((b, nq, h, d)).astype(np.float32)
    k = rng.standard_normal((b, nk, g, d)).astype(np.float32)
    v = rng.standard_normal((b, nk, g, d)).astype(np.float32)
    dt_proj = rng.standard_normal((g, g * d)) * 0.1
    a_coef = -np.exp(rng.standard_normal(g))
    return q, k, v, dt_proj, a_coef


def test_dma_arguments_are_checked():
    q, k, v, dt, a = _dma_inputs(np.random.default_rng(0), 1, 8, 8, 2, 1, 64)
    with pytest.raises(ValueError, match="keep_window_size must be an int >= 1"):
        gpu.flash_dma_attention(q, k, v, dt, a, keep_window_size=0)
    with pytest.raises(ValueError, match="exceeds 16384"):
        gpu.dma_topk_threshold(np.zeros((1, 1, 20000)), 20000, 17000, causal=True)
    with pytest.raises(ValueError, match=r"dt_proj must have shape \(1, 64\)"):
        gpu.dma_prepare(v, dt[:, :32], a, 8)
    with pytest.raises(ValueError, match="multiple of key/value heads"):
        gpu.flash_dma_attention(q[:, :, :1], k.repeat(2, axis=2), v.repeat(2, axis=2), dt, a)


@needs_gpu
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(
    ("nq", "nk", "keep"), [(300, 300, 64), (100, 2500, 1000), (700, 500, 1), (50, 40, 64), (300, 6000, 5000)]
)  # the last: over 48 KB of shared memory
def test_dma_topk_threshold_matches_cpu(causal, nq, nk, keep):
    rng = np.random.default_rng([nq, nk, keep])
    zoh = np.round(rng.random((2, 3, nk)), 2)  # many ties: the index order must break them alike
    thr, jcut = gpu.dma_topk_threshold(zoh, nq, keep, causal)
    thr_cpu, jcut_cpu = np.zeros((2, 3, nq)), np.zeros((2, 3, nq), np.int32)
    run(dma_topk_threshold, zoh, keep, causal, thr_cpu, jcut_cpu, backend="numba-cpu")
    assert np.array_equal(thr, thr_cpu) and np.array_equal(jcut, jcut_cpu)


@needs_gpu
@pytest.mark.parametrize("elem", ["f32", "bf16"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("nq", "nk", "keep", "d"), [(256, 256, 64, 64), (200, 333, 100, 128), (77, 500, 1000, 64)])
def test_flash_dma_matches_reference(elem, causal, nq, nk, keep, d):
    rng = np.random.default_rng([nq, nk, keep, d])
    q, k, v, dt, a = _dma_inputs(rng, 2, nq, nk, 4, 2, d)
    q, k, v = (round_to(x, elem) for x in (q, k, v))
    plan = gpu.dma_prepare(v, dt, a, nq, keep, causal)
    zoh = plan.arrays["zoh"][0].copy_to_host()
    np.testing.assert_allclose(zoh, dma_zoh_values(v, dt, a), rtol=1e-14, atol=0)
    out, lse = gpu.flash_dma_attention(q, k, v, dt, a, keep, causal, dtype=NP_DTYPE[elem], return_lse=True)
    out_ref, lse_ref = dma_reference(q, k, v, dt, a, keep, causal)
    what = f"dma {elem} causal={causal} {nq}x{nk} keep={keep} d={d}"
    _assert_close(out.transpose(0, 2, 1, 3), lse, out_ref.transpose(0, 2, 1, 3), lse_ref, elem, what)
