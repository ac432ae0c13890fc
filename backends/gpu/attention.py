"""Flash attention forward on the GPU: dense and block-sparse, causal, GQA, on tensor cores (flash_fwd.cu).

Layout as in algorithms/sdpa.py: q [B, H, Nq, D], k [B, H_kv, Nk, D], v [B, H_kv, Nk, D] (dv = d),
o [B, H, Nq, D], lse [B, H, Nq] (float32, natural log). Query head h reads kv head h // (H // H_kv).
Causal is bottom-right aligned (key j visible to query i when j <= i + Nk - Nq); a row with no visible
key gives o = 0 and lse = -inf.

Supported: D in {64, 128}; element types bfloat16 and float16 (tensor cores, float32 accumulation)
and float32 ("bf16x3": each operand split into two bfloat16 halves, three tensor-core products per
product, float32 accumulation; ~1e-5 relative error against float64, far below TF32's ~3e-4; no TF32).
Anything else raises ValueError/TypeError naming the argument before the GPU is touched; without a GPU
the call raises GpuUnavailableError naming the fix.

Two kernels: on compute capability 9.0 (H100/H200) bfloat16/float16 calls run flash_wgmma.cu (wgmma, TMA,
warp-specialised; block-sparse when block_m is a multiple of 128 and block_n of 64); everything else
(float32, other GPUs, other block sizes) runs flash_fwd.cu (mma.sync). `kernel="mma"` / `"wgmma"` forces one
(`"wgmma"` raises ValueError where it cannot run); `last_kernel()` names the kernel of the last launch.
"""

import math
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np

from backends.gpu import _runtime
from backends.gpu._tensors import DTYPE_NAMES, Device, Tensor, is_torch, wrap

SUPPORTED_D = (64, 128)
KIND = {"bf16": 0, "f16": 1, "f32": 2}
SOURCE = "flash_fwd.cu"
MAX_GRID_Y = 65535  # heads or query tiles on grid y
HEAD_MAJOR_MAX_CTAS = 4096  # causal grids up to this size start every head's longest query tile first
WGMMA_SOURCE = "flash_wgmma.cu"
# flash_wgmma's parameters as struct codes: 3 tensor maps, o, lse, q strides, the sparse index, sizes, scale, flags
WGMMA_PARAMS = "128s 128s 128s P P q q q P P i i i i i i i i i i i f i i"
KERNELS = ("auto", "mma", "wgmma")
_last: dict[str, str | None] = {"kernel": None}


def last_kernel() -> str | None:
    """The C++ name of the kernel the last attention call of this process launched (None before any)."""
    return _last["kernel"]


@dataclass(frozen=True)
class Tile:
    """One compiled variant of flash_fwd: nw warps of mt 16-row m-tiles (BM = 16 mt nw rows), bn keys per tile,
    Q fragments in registers (qreg) or re-read from shared memory."""

    nw: int
    bn: int
    mt: int = 1
    qreg: bool = True

    @property
    def bm(self) -> int:
        return 16 * self.mt * self.nw

    def smem_bytes(self, d: int, planes: int) -> int:
        stage = 2 * planes * self.bn * (d + 8)
        q_tile = planes * self.bm * (d + 8)
        return 2 * (stage + max(stage, q_tile)) if self.qreg else 2 * (2 * stage + q_tile)

    def name(self, kind: int, d: int, dma: bool = False) -> str:
        flags = ", ".join("true" if x else "false" for x in (self.qreg, dma))
        return f"flash_fwd<{kind}, {d}, {self.nw}, {self.bn}, {self.mt}, {flags}>"


# Tile per (element type, D), chosen by benchmarks/bench_gpu.py on an H100.
DEFAULT_TILES = {
    ("bf16", 64): Tile(4, 64, 2, True),
    ("bf16", 128): Tile(4, 64, 2, False),
    ("f16", 64): Tile(4, 64, 2, True),
    ("f16", 128): Tile(4, 64, 2, False),
    ("f32", 64): Tile(4, 64, 2, False),
    ("f32", 128): Tile(8, 32, 2, False),
}
# Block-sparse runs visit few key tiles per query tile: wider key tiles pay off at d = 64 (benchmarks/bench_gpu.py).
SPARSE_TILES = {("bf16", 64): Tile(4, 128, 2, False), ("f16", 64): Tile(4, 128, 2, False)}


@dataclass(frozen=True)
class WgmmaTile:
    """One compiled variant of flash_wgmma: 128 query rows per CTA (2 consumer warpgroups of 64), bn keys per
    tile, a ring of `stages` K/V stages in shared memory."""

    bn: int
    stages: int
    overlap: bool = True  # issue S of the next key tile before the softmax of this one (FlashAttention-3 order)
    persistent: bool = False  # one CTA per SM looping over the query tiles (else one CTA per query tile)
    bm: int = 128

    def smem_bytes(self, d: int) -> int:
        return 2 * d * (self.bm + 2 * self.stages * self.bn) + (3 * self.stages + 2) * 8 + 1024

    def name(self, kind: int, d: int) -> str:
        return f"flash_wgmma<{kind}, {d}, {self.bn}, {self.stages}, {'true' if self.overlap else 'false'}>"


# Variant per (d, key tile), chosen by sweeps on an H100 (build notes in benchmarks/RESULTS.md): at d = 64 issuing
# the next S before the softmax gained 7-10%; at d = 128 it lost 20-30%, so d = 128 waits for each product.
# Block-sparse calls run persistent CTAs (few key tiles per query tile: hiding one tile's prologue and epilogue
# behind the last gained 2-8%); dense calls one CTA per query tile (the static schedule lost up to 14% causal).
WGMMA_TILES = {
    (64, 128): WgmmaTile(128, 4, True),
    (128, 128): WgmmaTile(128, 2, False),
    (64, 64): WgmmaTile(64, 4, True),
    (128, 64): WgmmaTile(64, 3, True),
}


@cache
def wgmma_tile(
    elem: str, d: int, cc: tuple[int, int], block_m: int | None = None, block_n: int | None = None
) -> WgmmaTile | None:
    """The flash_wgmma variant for these arguments on a GPU of compute capability `cc`, or None where only
    flash_fwd (mma.sync) runs: wgmma needs sm_90 (H100/H200), 16-bit operands, d in SUPPORTED_D, and for
    block-sparse calls block_m a multiple of 128 and block_n of 64."""
    if tuple(cc) != (9, 0) or elem not in ("bf16", "f16") or d not in SUPPORTED_D:
        return None
    if block_m is None or block_n is None:
        return WGMMA_TILES.get((d, 128))
    if block_m % 128:
        return None
    tile = WGMMA_TILES.get((d, 128 if block_n % 128 == 0 else 64 if block_n % 64 == 0 else 0))
    return replace(tile, persistent=True) if tile else None


@dataclass
class BlockIndex:
    """A validated block-CSR index (format of algorithms/sdpa.py) for block_sparse_attention, reusable across calls.

    kv_num_blocks [Bi, Hi, QB] and kv_indices [Bi, Hi, QB, MAXB] (int32; Bi in {1, B}, Hi in {1, H}; fewer
    leading dims broadcast): query block qb of head (b, h) attends to key blocks
    kv_indices[b, h, qb, :kv_num_blocks[b, h, qb]] of block_n keys each. Checked once here (counts in
    0..MAXB, listed blocks >= 0 and not repeated); the device copy is made at first use and kept.
    """

    kv_num_blocks: np.ndarray
    kv_indices: np.ndarray
    block_m: int
    block_n: int
    max_listed: int = field(init=False)
    _device: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("block_m", "block_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        counts, index = (
            _host_ints(name, x) for name, x in (("kv_num_blocks", self.kv_num_blocks), ("kv_indices", self.kv_indices))
        )
        if counts.ndim < 1 or counts.ndim > 3 or index.ndim != counts.ndim + 1 or index.shape[:-1] != counts.shape:
            raise ValueError(
                f"kv_num_blocks must be [..., QB] and kv_indices [..., QB, MAXB] with the same leading "
                f"dims (at most [B, H, QB]); got {counts.shape} and {index.shape}"
            )
        counts = counts.reshape((1,) * (3 - counts.ndim) + counts.shape)
        index = index.reshape((1,) * (4 - index.ndim) + index.shape)
        width = index.shape[-1]
        if counts.size and (counts.min() < 0 or counts.max() > width):
            raise ValueError(f"kv_num_blocks must be in 0..MAXB = {width}")
        kept = np.arange(width) < counts[..., None]
        listed = index[kept]
        if listed.size and listed.min() < 0:
            raise ValueError("kv_indices must be >= 0 where listed")
        ordered = np.sort(np.where(kept, index, -1 - np.arange(width)), axis=-1)
        if (ordered[..., 1:] == ordered[..., :-1]).any():
            raise ValueError("kv_indices lists a key block twice for some query block")
        self.kv_num_blocks = np.ascontiguousarray(counts, dtype=np.int32)
        self.kv_indices = np.ascontiguousarray(index, dtype=np.int32)
        self.max_listed = int(listed.max()) if listed.size else -1
        self.block_m, self.block_n = int(self.block_m), int(self.block_n)

    def check(self, b: int, h: int, nq: int, nk: int) -> None:
        """ValueError unless this index fits q [b, h, nq, :] and k [:, :, nk, :]."""
        qb, kb = -(-nq // self.block_m), -(-nk // self.block_n)
        bi, hi, qbi = self.kv_num_blocks.shape
        if qbi != qb:
            raise ValueError(
                f"kv_num_blocks must end in n_qblocks = ceil({nq} / {self.block_m}) = {qb}, "
                f"got shape {self.kv_num_blocks.shape}"
            )
        if bi not in (1, b) or hi not in (1, h):
            raise ValueError(f"kv_num_blocks {self.kv_num_blocks.shape} does not broadcast to [B={b}, H={h}, {qb}]")
        if self.max_listed >= kb:
            raise ValueError(
                f"kv_indices must be in 0..{kb - 1} (ceil(Nk / block_n) - 1) where listed, found {self.max_listed}"
            )

    def device(self, dev: Device) -> tuple[int, int]:
        """Device pointers of (kv_num_blocks, kv_indices), uploaded once."""
        if self._device is None:
            from numba import cuda

            arrays = (cuda.to_device(self.kv_num_blocks), cuda.to_device(self.kv_indices))
            self._device = (arrays, tuple(int(a.device_ctypes_pointer.value or 0) for a in arrays))
        return self._device[1]


def _host_ints(name: str, x: Any) -> np.ndarray:
    """An integer index array on the host (device arrays and torch tensors are copied back)."""
    if is_torch(x):
        x = x.detach().cpu().numpy()
    elif not isinstance(x, np.ndarray) and hasattr(x, "copy_to_host"):
        x = x.copy_to_host()
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got {x.dtype}")
    return x


@dataclass
class _Call:
    """Checked arguments of one attention call."""

    q: Tensor
    k: Tensor
    v: Tensor
    elem: str  # what the kernel computes in
    scale: float
    tile: Tile
    kernel: str = "auto"
    tile_given: bool = False
    wg_tile: WgmmaTile | None = None


def _check(
    q: Any, k: Any, v: Any, scale: float | None, dtype: str | None, tile: Tile | WgmmaTile | None, kernel: str = "auto"
) -> _Call:
    """Validate the dense arguments (no GPU needed); ValueError/TypeError naming the argument."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    wg_tile: WgmmaTile | None = None
    if isinstance(tile, WgmmaTile):
        if kernel == "mma":
            raise ValueError("a WgmmaTile picks a variant of the wgmma kernel; it cannot be combined with kernel='mma'")
        wg_tile, tile, kernel = tile, None, "wgmma"
    if kernel == "wgmma" and tile is not None:
        raise ValueError("tile picks a variant of the mma kernel; it cannot be combined with kernel='wgmma'")
    qt, kt, vt = (wrap(name, x, ("bf16", "f16", "f32")) for name, x in (("q", q), ("k", k), ("v", v)))
    for t in (qt, kt, vt):
        if len(t.shape) != 4:
            raise ValueError(f"{t.name} must have shape [B, H, N, d], got shape {t.shape}")
        if t.where != qt.where:
            raise TypeError(f"q is a {qt.where} array but {t.name} is a {t.where} array; pass all three alike")
        if t.elem != qt.elem:
            raise TypeError(f"{t.name} has element type {t.elem} but q has {qt.elem}; give all three the same")
    (b, h, _, d), hkv = qt.shape, kt.shape[1]
    if kt.shape[0] != b or vt.shape[0] != b:
        raise ValueError(f"batch sizes differ: q {qt.shape}, k {kt.shape}, v {vt.shape}")
    if kt.shape[3] != d:
        raise ValueError(f"k head dim {kt.shape[3]} differs from q head dim {d} (q {qt.shape}, k {kt.shape})")
    if vt.shape[:3] != kt.shape[:3]:
        raise ValueError(f"v must have k's batch, heads and length [B, H_kv, Nk, dv]: k {kt.shape}, v {vt.shape}")
    if vt.shape[3] != d:
        raise ValueError(
            f"backends.gpu needs dv = d (v head dim {vt.shape[3]}, q head dim {d}); "
            f"use algorithms.sdpa.sdpa for dv != d"
        )
    if d not in SUPPORTED_D:
        raise ValueError(
            f"head dim d = {d} is not supported by backends.gpu (supported: {SUPPORTED_D}); "
            f"use algorithms.sdpa.sdpa (numba-cpu / numba-cuda backends) for other d"
        )
    if hkv < 1 or h % hkv:
        raise ValueError(f"k: H_kv = {hkv} must divide the number of query heads H = {h} (GQA/MQA)")
    if b * h > MAX_GRID_Y or -(-qt.shape[2] // 64) > MAX_GRID_Y:
        raise ValueError(
            f"B * H = {b * h} and ceil(Nq / 64) = {-(-qt.shape[2] // 64)} must be at most {MAX_GRID_Y} "
            f"for backends.gpu (grid dimensions)"
        )
    elem = qt.elem
    if dtype is not None:
        want = DTYPE_NAMES.get(str(dtype).removeprefix("torch."))
        if want is None:
            raise ValueError(f"dtype must be 'bfloat16', 'float16' or 'float32', got {dtype!r}")
        if qt.where != "numpy" and want != elem:
            raise TypeError(f"dtype={dtype!r} but the device inputs are {elem}; convert them, or leave dtype=None")
        elem = want
    if qt.where == "numpy":
        for t in (qt, kt, vt):
            if t.host is not None and t.host.size and not np.isfinite(t.host).all():
                raise ValueError(f"{t.name} contains NaN or infinity")
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    elif (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float, np.integer, np.floating))
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise ValueError(
            f"scale must be a finite number > 0 for backends.gpu, got {scale!r} (algorithms.sdpa.sdpa "
            f"takes any finite scale)"
        )
    return _Call(qt, kt, vt, elem, float(scale), tile or DEFAULT_TILES[(elem, d)], kernel, tile is not None, wg_tile)


def _run(call: _Call, causal: bool, index: BlockIndex | None, return_lse: bool) -> Any:
    """Upload, launch flash_fwd (after splitting float32 into bf16 halves), and return like the inputs."""
    q, k, v, tile, elem = call.q, call.k, call.v, call.tile, call.elem
    (b, h, nq, d), (_, hkv, nk, _) = q.shape, k.shape
    _runtime.require_gpu()
    wg = _pick_wgmma(call, index)
    dev = Device(q)
    ptrs = upload_qkv(dev, (q, k, v), elem)
    if any(p % 16 for p in ptrs[:3]):  # both kernels load 16 bytes at a time (TMA, cp.async)
        raise ValueError(
            "q, k and v must start at 16-byte aligned device addresses (a view at an odd offset? "
            "pass a .contiguous() copy)"
        )
    o, o_ptr = dev.empty((b, h, nq, d), elem)
    lse, lse_ptr = dev.empty((b, h, nq), "f32") if return_lse or wg is None else (None, 0)
    sparse = None
    if wg is not None:
        if index is not None:
            num_ptr, idx_ptr = index.device(dev)
            bi, hi, qb = index.kv_num_blocks.shape
            sparse = (
                num_ptr,
                idx_ptr,
                index.kv_indices.shape[-1],
                (hi * qb) if bi > 1 else 0,
                qb if hi > 1 else 0,
                index.block_m // wg.bm,
                index.block_n // wg.bn,
                index.block_n,
            )
        launch_wgmma(dev, elem, wg, ptrs[:3], o_ptr, lse_ptr, (b, h, hkv, nq, nk, d), call.scale, causal, sparse)
    elif index is not None:
        num_ptr, idx_ptr = index.device(dev)
        bi, hi, qb = index.kv_num_blocks.shape
        sparse = (
            num_ptr,
            idx_ptr,
            index.kv_indices.shape[-1],
            (hi * qb) if bi > 1 else 0,
            qb if hi > 1 else 0,
            index.block_m // tile.bm,
            index.block_n // tile.bn,
            index.block_n,
        )
    if wg is None:
        launch_flash(
            dev,
            elem,
            tile,
            ptrs,
            o_ptr,
            lse_ptr,
            (b, h, hkv, nq, nk, d),
            (h * nq * d, nq * d, d),
            (hkv * nk * d, nk * d, d),
            call.scale,
            causal,
            sparse,
        )
    if q.where == "numpy":
        o = dev.to_host(o, elem)
        lse = dev.to_host(lse, "f32") if return_lse else None
    return (o, lse) if return_lse else o


@cache
def _sparse_tile(tile: Tile, block_m: int, block_n: int) -> Tile:
    """`tile` narrowed so that its query tile lies in one query block and its key tile in one key block."""
    while tile.bm > 64 and block_m % tile.bm:
        tile = replace(tile, mt=1) if tile.mt > 1 else replace(tile, nw=tile.nw // 2)
    while tile.bn > 32 and block_n % tile.bn:
        tile = replace(tile, bn=tile.bn // 2)
    return tile


def _pick_wgmma(call: _Call, index: BlockIndex | None) -> WgmmaTile | None:
    """The flash_wgmma variant this call runs, or None for flash_fwd (after require_gpu)."""
    if call.kernel == "mma" or (call.kernel == "auto" and call.tile_given):
        return None
    d, nk = call.q.shape[3], call.k.shape[2]
    wg = wgmma_tile(call.elem, d, _runtime.compute_capability(), *((index.block_m, index.block_n) if index else ()))
    if wg is not None and call.wg_tile is not None:
        if index is not None and (index.block_m % call.wg_tile.bm or index.block_n % call.wg_tile.bn):
            raise ValueError(f"{call.wg_tile} does not fit block_m = {index.block_m}, block_n = {index.block_n}")
        wg = call.wg_tile
    if wg is None or not nk:  # (an empty key set gives no tensor map; flash_fwd writes the empty rows)
        if call.kernel == "wgmma":
            cc = _runtime.compute_capability()
            raise ValueError(
                f"kernel='wgmma' needs compute capability 9.0 (this GPU: {cc[0]}.{cc[1]}), bfloat16 or "
                f"float16 (got {call.elem}), d in {SUPPORTED_D}, Nk > 0, and for block-sparse calls "
                f"block_m a multiple of 128 and block_n of 64"
            )
        return None
    return wg


@cache
def _wgmma_name(wg: WgmmaTile, kind: int, d: int) -> str:
    name = wg.name(kind, d)
    _runtime.kernel(WGMMA_SOURCE, name)  # compile before the first tensor map is made
    return name


def launch_wgmma(
    dev: Device,
    elem: str,
    wg: WgmmaTile,
    ptrs: list[int],
    o_ptr: int,
    lse_ptr: int,
    dims: tuple[int, ...],
    scale: float,
    causal: bool,
    sparse: tuple[int, ...] | None = None,
) -> None:
    """Launch flash_wgmma on contiguous q, k, v (ptrs), o, lse (lse_ptr 0: not written): dims (B, H, H_kv, Nq, Nk,
    d); sparse as in launch_flash (q tiles per block counted in 128-row tiles, kv tiles in wg.bn-key tiles)."""
    b, h, hkv, nq, nk, d = dims
    if not nq or not b * h:
        return
    name = _wgmma_name(wg, KIND[elem], d)
    sparse = sparse or (0, 0, 0, 0, 0, 1, 1, wg.bn)
    tiles = -(-nq // wg.bm)
    head_major = bool(causal) and tiles * b * h <= HEAD_MAJOR_MAX_CTAS
    values = (
        _runtime.tensor_map(ptrs[0], d, nq, b * h, wg.bm),
        _runtime.tensor_map(ptrs[1], d, nk, b * hkv, wg.bn),
        _runtime.tensor_map(ptrs[2], d, nk, b * hkv, wg.bn),
        o_ptr,
        lse_ptr,
        h * nq * d,
        nq * d,
        d,
        *sparse,
        b * h,
        h,
        hkv,
        nq,
        nk,
        scale * math.log2(math.e),
        int(bool(causal)),
        int(head_major),
    )
    grid = min(tiles * b * h, _runtime.sm_count()) if wg.persistent else tiles * b * h
    _runtime.launch_packed(WGMMA_SOURCE, name, (grid, 1), 384, wg.smem_bytes(d), dev.handle, WGMMA_PARAMS, values)
    _last["kernel"] = name


def upload_qkv(dev: Device, tensors: tuple[Tensor, ...], elem: str) -> list[int]:
    """Device pointers [q, k, v, q_lo, k_lo, v_lo] (the lo planes: float32 split into bf16 halves, else q, k, v)."""
    ptrs = [dev.upload(t, elem) for t in tensors]
    return _split(dev, ptrs, tensors) if elem == "f32" else ptrs + ptrs


def launch_flash(
    dev: Device,
    elem: str,
    tile: Tile,
    ptrs: list[int],
    o_ptr: int,
    lse_ptr: int,
    dims: tuple[int, ...],
    q_strides: tuple[int, ...],
    k_strides: tuple[int, ...],
    scale: float,
    causal: bool,
    sparse: tuple[int, ...] | None = None,
    dma: tuple[int, int, int] | None = None,
) -> None:
    """Launch flash_fwd: dims (B, H, H_kv, Nq, Nk, d); strides (batch, head, row) in elements of q/o and k/v;
    sparse (counts, indices, MAXB, b stride, h stride, q tiles per block, kv tiles per block, block_n) pointers
    and sizes; dma (bias, expiry, tile_max) pointers."""
    b, h, hkv, nq, nk, d = dims
    if not nq or not b * h:
        return
    smem = tile.smem_bytes(d, 2 if elem == "f32" else 1)
    kern = _runtime.kernel(SOURCE, tile.name(KIND[elem], d, dma is not None))
    u64, i32, i64 = np.uint64, np.int32, np.int64
    sparse = sparse or (0, 0, 0, 0, 0, 1, 1, tile.bn)
    args: list[np.generic] = []  # the kernel's parameters, as numpy scalars of their C types
    args += [u64(p) for p in ptrs] + [u64(o_ptr), u64(lse_ptr)] + [i64(x) for x in (*q_strides, *k_strides)]
    args += [u64(p) for p in dma or (0, 0, 0)] + [u64(sparse[0]), u64(sparse[1])] + [i32(x) for x in sparse[2:]]
    tiles = -(-nq // tile.bm)
    # NOTE: causal grids of a few waves balance better when every head's longest tiles start first; larger
    # grids run faster one head after another (K/V shared in L2); bench_gpu measured both orders on an H100.
    head_major = bool(causal) and tiles * b * h <= HEAD_MAJOR_MAX_CTAS
    args += [
        i32(h),
        i32(hkv),
        i32(nq),
        i32(nk),
        np.float32(scale * math.log2(math.e)),
        i32(bool(causal)),
        i32(head_major),
    ]
    grid = (b * h, tiles) if head_major else (tiles, b * h)
    _runtime.launch(kern, grid, 32 * tile.nw, smem, dev.handle, *args)
    _last["kernel"] = tile.name(KIND[elem], d, dma is not None)


def _split(dev: Device, ptrs: list[int], tensors: tuple[Tensor, ...]) -> list[int]:
    """Split float32 q, k, v into bfloat16 hi and lo planes; return [q_hi, k_hi, v_hi, q_lo, k_lo, v_lo]."""
    kern = _runtime.kernel(SOURCE, "split_bf16")
    his, los = [], []
    for p, t in zip(ptrs, tensors, strict=True):
        n = int(np.prod(t.shape, dtype=np.int64))
        hi, hi_ptr = dev.empty((max(n, 1),), "bf16")
        lo, lo_ptr = dev.empty((max(n, 1),), "bf16")
        dev.keep += [hi, lo]
        if n:
            grid = min(-(-n // 256), 132 * 16)
            _runtime.launch(
                kern, (grid,), 256, 0, dev.handle, np.uint64(p), np.uint64(hi_ptr), np.uint64(lo_ptr), np.int64(n)
            )
        his.append(hi_ptr)
        los.append(lo_ptr)
    return his + los


def flash_attention(
    q: Any,
    k: Any,
    v: Any,
    causal: bool = False,
    scale: float | None = None,
    dtype: str | None = None,
    return_lse: bool = False,
    tile: Tile | WgmmaTile | None = None,
    kernel: str = "auto",
) -> Any:
    """Dense flash attention forward of q [B, H, Nq, d], k [B, H_kv, Nk, d], v [B, H_kv, Nk, d] on the GPU.

    Inputs: numpy arrays (float32 or float16), CUDA arrays (__cuda_array_interface__: float32, float16) or
    torch CUDA tensors (bfloat16, float16, float32), all three alike and C-contiguous. `dtype` picks the
    kernel's precision for numpy inputs ("bfloat16" rounds them to bf16; default: their own type). Returns
    o [B, H, Nq, d] (and lse [B, H, Nq] float32 with `return_lse`) as numpy for numpy inputs (bf16 as
    float32), else as device arrays of the inputs' kind (torch for torch). `tile` (benchmarks) picks a variant:
    a `Tile` one of the mma kernel (implies kernel="mma"), a `WgmmaTile` one of the wgmma kernel; `kernel`
    picks "auto" (wgmma where it runs, see the module docstring), "mma" or "wgmma". Raises ValueError/TypeError
    on unsupported input, GpuUnavailableError without a GPU.
    """
    return _run(_check(q, k, v, scale, dtype, tile, kernel), causal, None, return_lse)


def block_sparse_attention(
    q: Any,
    k: Any,
    v: Any,
    kv_num_blocks: Any,
    kv_indices: Any = None,
    block_m: int = 128,
    block_n: int = 128,
    causal: bool = False,
    scale: float | None = None,
    dtype: str | None = None,
    return_lse: bool = False,
    tile: Tile | WgmmaTile | None = None,
    kernel: str = "auto",
) -> Any:
    """Block-sparse flash attention over a block-CSR index (algorithms/sdpa.py format) on the GPU.

    Query block qb (block_m rows) of head (b, h) attends to key blocks
    kv_indices[b, h, qb, :kv_num_blocks[b, h, qb]] (block_n keys each); `causal` masks on top.
    kv_num_blocks/kv_indices are integer arrays (numpy, CUDA or torch; [QB] / [QB, MAXB] or with leading
    [B or 1, H or 1]) checked on the host at every call, or pass a prepared `BlockIndex` as kv_num_blocks
    (kv_indices=None) to check and upload it once. block_m must be a multiple of 64 and block_n of 32.
    Other arguments and the result as in flash_attention.
    """
    index = (
        kv_num_blocks
        if isinstance(kv_num_blocks, BlockIndex)
        else BlockIndex(kv_num_blocks, kv_indices, block_m, block_n)
    )
    call = _check(q, k, v, scale, dtype, tile, kernel)
    b, h, nq, d = call.q.shape
    index.check(b, h, nq, call.k.shape[2])
    if not call.tile_given:
        call.tile = _sparse_tile(SPARSE_TILES.get((call.elem, d), call.tile), index.block_m, index.block_n)
    if index.block_m % call.tile.bm or index.block_n % call.tile.bn:
        raise ValueError(
            f"block_m = {index.block_m} must be a multiple of {call.tile.bm} and block_n = "
            f"{index.block_n} of {call.tile.bn} for backends.gpu; use algorithms.sdpa."
            f"sdpa_block_sparse for other block sizes"
        )
    return _run(call, causal, index, return_lse)
