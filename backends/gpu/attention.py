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
"""

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from backends.gpu import _runtime
from backends.gpu._tensors import DTYPE_NAMES, Device, Tensor, is_torch, wrap

SUPPORTED_D = (64, 128)
KIND = {"bf16": 0, "f16": 1, "f32": 2}
SOURCE = "flash_fwd.cu"
MAX_GRID_Y = 65535  # heads or query tiles on grid y
HEAD_MAJOR_MAX_CTAS = 4096  # causal grids up to this size start every head's longest query tile first


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
    ("bf16", 64): Tile(4, 64, 2, True), ("bf16", 128): Tile(4, 64, 2, False),
    ("f16", 64): Tile(4, 64, 2, True), ("f16", 128): Tile(4, 64, 2, False),
    ("f32", 64): Tile(4, 64, 2, False), ("f32", 128): Tile(8, 32, 2, False),
}
# Block-sparse runs visit few key tiles per query tile: wider key tiles pay off at d = 64 (benchmarks/bench_gpu.py).
SPARSE_TILES = {("bf16", 64): Tile(4, 128, 2, False), ("f16", 64): Tile(4, 128, 2, False)}


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
        counts, index = (_host_ints(name, x) for name, x in (("kv_num_blocks", self.kv_num_blocks),
                                                             ("kv_indices", self.kv_indices)))
        if counts.ndim < 1 or counts.ndim > 3 or index.ndim != counts.ndim + 1 or index.shape[:-1] != counts.shape:
            raise ValueError(f"kv_num_blocks must be [..., QB] and kv_indices [..., QB, MAXB] with the same leading "
                             f"dims (at most [B, H, QB]); got {counts.shape} and {index.shape}")
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
            raise ValueError(f"kv_num_blocks must end in n_qblocks = ceil({nq} / {self.block_m}) = {qb}, "
                             f"got shape {self.kv_num_blocks.shape}")
        if bi not in (1, b) or hi not in (1, h):
            raise ValueError(f"kv_num_blocks {self.kv_num_blocks.shape} does not broadcast to [B={b}, H={h}, {qb}]")
        if self.max_listed >= kb:
            raise ValueError(f"kv_indices must be in 0..{kb - 1} (ceil(Nk / block_n) - 1) where listed, "
                             f"found {self.max_listed}")

    def device(self, dev: Device) -> tuple[int, int]:
        """Device pointers of (kv_num_blocks, kv_indices), uploaded once."""
        if self._device is None:
            from numba import cuda
            self._device = (cuda.to_device(self.kv_num_blocks), cuda.to_device(self.kv_indices))
        return tuple(int(a.device_ctypes_pointer.value or 0) for a in self._device)


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


def _check(q: Any, k: Any, v: Any, scale: float | None, dtype: str | None, tile: Tile | None) -> _Call:
    """Validate the dense arguments (no GPU needed); ValueError/TypeError naming the argument."""
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
        raise ValueError(f"backends.gpu needs dv = d (v head dim {vt.shape[3]}, q head dim {d}); "
                         f"use algorithms.sdpa.sdpa for dv != d")
    if d not in SUPPORTED_D:
        raise ValueError(f"head dim d = {d} is not supported by backends.gpu (supported: {SUPPORTED_D}); "
                         f"use algorithms.sdpa.sdpa (numba-cpu / numba-cuda backends) for other d")
    if hkv < 1 or h % hkv:
        raise ValueError(f"k: H_kv = {hkv} must divide the number of query heads H = {h} (GQA/MQA)")
    if b * h > MAX_GRID_Y or -(-qt.shape[2] // 64) > MAX_GRID_Y:
        raise ValueError(f"B * H = {b * h} and ceil(Nq / 64) = {-(-qt.shape[2] // 64)} must be at most {MAX_GRID_Y} "
                         f"for backends.gpu (grid dimensions)")
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
    elif isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0 for backends.gpu, got {scale!r} (algorithms.sdpa.sdpa "
                         f"takes any finite scale)")
    return _Call(qt, kt, vt, elem, float(scale), tile or DEFAULT_TILES[(elem, d)])


def _run(call: _Call, causal: bool, index: BlockIndex | None, return_lse: bool) -> Any:
    """Upload, launch flash_fwd (after splitting float32 into bf16 halves), and return like the inputs."""
    q, k, v, tile, elem = call.q, call.k, call.v, call.tile, call.elem
    (b, h, nq, d), (_, hkv, nk, _) = q.shape, k.shape
    _runtime.require_gpu()
    dev = Device(q)
    ptrs = upload_qkv(dev, (q, k, v), elem)
    o, o_ptr = dev.empty((b, h, nq, d), elem)
    lse, lse_ptr = dev.empty((b, h, nq), "f32")
    sparse = None
    if index is not None:
        num_ptr, idx_ptr = index.device(dev)
        bi, hi, qb = index.kv_num_blocks.shape
        sparse = (num_ptr, idx_ptr, index.kv_indices.shape[-1], (hi * qb) if bi > 1 else 0,
                  qb if hi > 1 else 0, index.block_m // tile.bm, index.block_n // tile.bn, index.block_n)
    launch_flash(dev, elem, tile, ptrs, o_ptr, lse_ptr, (b, h, hkv, nq, nk, d), (h * nq * d, nq * d, d),
                 (hkv * nk * d, nk * d, d), call.scale, causal, sparse)
    if q.where == "numpy":
        o, lse = dev.to_host(o, elem), dev.to_host(lse, "f32")
    return (o, lse) if return_lse else o


def upload_qkv(dev: Device, tensors: tuple[Tensor, ...], elem: str) -> list[int]:
    """Device pointers [q, k, v, q_lo, k_lo, v_lo] (the lo planes: float32 split into bf16 halves, else q, k, v)."""
    ptrs = [dev.upload(t, elem) for t in tensors]
    return _split(dev, ptrs, tensors) if elem == "f32" else ptrs + ptrs


def launch_flash(dev: Device, elem: str, tile: Tile, ptrs: list[int], o_ptr: int, lse_ptr: int,
                 dims: tuple[int, ...], q_strides: tuple[int, ...], k_strides: tuple[int, ...], scale: float,
                 causal: bool, sparse: tuple[int, ...] | None = None, dma: tuple[int, int, int] | None = None) -> None:
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
    args = [u64(p) for p in ptrs] + [u64(o_ptr), u64(lse_ptr)] + [i64(x) for x in (*q_strides, *k_strides)]
    args += [u64(p) for p in dma or (0, 0, 0)] + [u64(sparse[0]), u64(sparse[1])] + [i32(x) for x in sparse[2:]]
    tiles = -(-nq // tile.bm)
    # NOTE: causal grids of a few waves balance better when every head's longest tiles start first; larger
    # grids run faster one head after another (K/V shared in L2); bench_gpu measured both orders on an H100.
    head_major = bool(causal) and tiles * b * h <= HEAD_MAJOR_MAX_CTAS
    args += [i32(h), i32(hkv), i32(nq), i32(nk), np.float32(scale * math.log2(math.e)), i32(bool(causal)),
             i32(head_major)]
    grid = (b * h, tiles) if head_major else (tiles, b * h)
    _runtime.launch(kern, grid, 32 * tile.nw, smem, dev.handle, *args)


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
            _runtime.launch(kern, (grid,), 256, 0, dev.handle, np.uint64(p), np.uint64(hi_ptr), np.uint64(lo_ptr),
                            np.int64(n))
        his.append(hi_ptr)
        los.append(lo_ptr)
    return his + los


def flash_attention(q: Any, k: Any, v: Any, causal: bool = False, scale: float | None = None,
                    dtype: str | None = None, return_lse: bool = False, tile: Tile | None = None) -> Any:
    """Dense flash attention forward of q [B, H, Nq, d], k [B, H_kv, Nk, d], v [B, H_kv, Nk, d] on the GPU.

    Inputs: numpy arrays (float32 or float16), CUDA arrays (__cuda_array_interface__: float32, float16) or
    torch CUDA tensors (bfloat16, float16, float32), all three alike and C-contiguous. `dtype` picks the
    kernel's precision for numpy inputs ("bfloat16" rounds them to bf16; default: their own type). Returns
    o [B, H, Nq, d] (and lse [B, H, Nq] float32 with `return_lse`) as numpy for numpy inputs (bf16 as
    float32), else as device arrays of the inputs' kind (torch for torch). `tile` overrides the kernel
    variant (benchmarks). Raises ValueError/TypeError on unsupported input, GpuUnavailableError without a GPU.
    """
    return _run(_check(q, k, v, scale, dtype, tile), causal, None, return_lse)


def block_sparse_attention(q: Any, k: Any, v: Any, kv_num_blocks: Any, kv_indices: Any = None, block_m: int = 128,
                           block_n: int = 128, causal: bool = False, scale: float | None = None,
                           dtype: str | None = None, return_lse: bool = False, tile: Tile | None = None) -> Any:
    """Block-sparse flash attention over a block-CSR index (algorithms/sdpa.py format) on the GPU.

    Query block qb (block_m rows) of head (b, h) attends to key blocks
    kv_indices[b, h, qb, :kv_num_blocks[b, h, qb]] (block_n keys each); `causal` masks on top.
    kv_num_blocks/kv_indices are integer arrays (numpy, CUDA or torch; [QB] / [QB, MAXB] or with leading
    [B or 1, H or 1]) checked on the host at every call, or pass a prepared `BlockIndex` as kv_num_blocks
    (kv_indices=None) to check and upload it once. block_m must be a multiple of 64 and block_n of 32.
    Other arguments and the result as in flash_attention.
    """
    index = kv_num_blocks if isinstance(kv_num_blocks, BlockIndex) else \
        BlockIndex(kv_num_blocks, kv_indices, block_m, block_n)
    call = _check(q, k, v, scale, dtype, tile)
    b, h, nq, d = call.q.shape
    index.check(b, h, nq, call.k.shape[2])
    if tile is None:  # the kernel's query tile must lie in one query block, its key tile in one key block
        tile = SPARSE_TILES.get((call.elem, d), call.tile)
        while tile.bm > 64 and index.block_m % tile.bm:
            tile = replace(tile, mt=1) if tile.mt > 1 else replace(tile, nw=tile.nw // 2)
        while tile.bn > 32 and index.block_n % tile.bn:
            tile = replace(tile, bn=tile.bn // 2)
        call.tile = tile
    if index.block_m % call.tile.bm or index.block_n % call.tile.bn:
        raise ValueError(f"block_m = {index.block_m} must be a multiple of {call.tile.bm} and block_n = "
                         f"{index.block_n} of {call.tile.bn} for backends.gpu; use algorithms.sdpa."
                         f"sdpa_block_sparse for other block sizes")
    return _run(call, causal, index, return_lse)
