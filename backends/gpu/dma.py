"""Dynamic Mask Attention (Flash-DMA) on the GPU: zoh, the top-k key selection, and the fused flash forward.

Same definitions and layouts as algorithms/dma.py: query [B, Nq, H, d], key/value [B, Nk, H_kv, d],
dt_proj [H_kv, H_kv * d], a_coef [H_kv]; each query row keeps the top `keep_window_size` visible keys by
(zoh descending, index ascending) and adds their zoh to the scaled score. Steps (dma.cu, flash_fwd.cu):

1. `dma_zoh`: zoh [B, H_kv, Nk] in float64, as algorithms.dma computes it.
2. `dma_select`: the keep-th best key thr(L) of every key prefix L (a row sees the prefix
   L = Nk, or L = i + 1 + Nk - Nq when causal): a radix select per segment of 64..1024 prefixes, a bitonic sort
   of the kept set into a shared-memory heap, then one thread slides the prefix over the segment.
   Identical to algorithms.dma.dma_topk_threshold (`dma_topk_threshold` below returns its (thr, jcut) format).
3. `dma_expiry`: since thresholds only rise, key j is kept exactly by the rows with j < L <= expiry[j];
   also the largest expiry per key tile, so the fused kernel skips tiles no row of its query tile keeps.
4. flash_fwd in DMA mode: the online softmax over the live key tiles with the bias and the per-key expiry.

Precision: zoh and the selection in float64 (the same kept set as the CPU); the attention as in
backends.gpu.attention (float32 inputs as "bf16x3", float64 inputs computed in float32, or bfloat16).
Limits: d in {64, 128}; causal with Nk > keep_window_size needs keep_window_size <= 16384 (the heap lives
in shared memory).
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.gpu import _runtime
from backends.gpu._tensors import DTYPE_NAMES, Device, Tensor, is_torch, wrap
from backends.gpu.attention import SUPPORTED_D, Tile, launch_flash, upload_qkv

SOURCE = "dma.cu"
MIN_SEG, MAX_SEG = 64, 1024  # prefixes per dma_select CTA (its sequential part), chosen to fill the GPU
MAX_HEAP = 16384  # keep_window_size limit of the causal selection (12 bytes a key of shared memory, pow2)
DMA_TILE = Tile(4, 64, 1, True)
ZOH_CHUNK = 64  # dma_zoh's ZE
MAX_KV_HEADS = 32  # dma_zoh: ZJ * G outputs over 256 threads of 8 accumulators
ZOH_TYPE = {"f32": "float", "f64": "double", "bf16": "unsigned short"}


@dataclass
class DmaPlan:
    """The device-side mask of one DMA call: zoh, thresholds, per-key expiry and bias, per-tile max expiry."""

    n_query: int
    keep: int
    causal: bool
    shape: tuple[int, int, int]  # (B, H_kv, Nk)
    arrays: dict[str, tuple[Any, int]]  # name -> (device array, pointer)


def _host_f64(name: str, x: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A checked host float64 copy of a numpy parameter (shape, finite)."""
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be floating point, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return np.ascontiguousarray(a, dtype=np.float64)


def _param(name: str, x: Any, shape: tuple[int, ...]) -> Tensor:
    """dt_proj / a_coef: numpy (checked here) or a float64 CUDA array / torch tensor used in place (not scanned
    for NaN: a non-finite zoh then propagates to the output as NaN)."""
    if isinstance(x, np.ndarray) or not (is_torch(x) or hasattr(x, "__cuda_array_interface__")):
        return wrap(name, _host_f64(name, x, shape), ("f64",))
    t = wrap(name, x, ("f64",))
    if t.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {t.shape}")
    return t


def _check_keep(keep: Any, causal: bool, nk: int) -> int:
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 1:
        raise ValueError(f"keep_window_size must be an int >= 1, got {keep!r}")
    if causal and nk > keep > MAX_HEAP:
        raise ValueError(
            f"keep_window_size = {keep} exceeds {MAX_HEAP}, the GPU selection's limit when causal; "
            f"use algorithms.dma.flash_dma_attention"
        )
    return int(keep)


def _select(dev: Device, zoh_ptr: int, b: int, g: int, nk: int, keep: int, causal: bool) -> dict[str, tuple[Any, int]]:
    """Launch dma_select: thr(L) as (order key, index) arrays [B, G, Nk + 1]."""
    arrays = {"thr_key": dev.empty((b, g, nk + 1), "u64"), "thr_idx": dev.empty((b, g, nk + 1), "i32")}
    if nk > keep and b * g:
        # NOTE: each CTA radix-selects over its whole prefix (O(Nk) work), then slides seg keys one by one:
        # short segments fill the GPU at small Nk, long ones bound the O(Nk^2 / seg) selection work at large Nk.
        seg = max(MIN_SEG, min(MAX_SEG, 1 << max(0, ((nk - keep) * b * g // 512).bit_length() - 1)))
        segments = -(-(nk - keep) // seg) if causal else 1
        pow2 = 1 << (keep - 1).bit_length()
        smem = 12 * pow2 + 8 * seg if causal else 0
        kern = _runtime.kernel(SOURCE, "dma_select")
        _runtime.launch(
            kern,
            (segments, b * g),
            256,
            smem,
            dev.handle,
            np.uint64(zoh_ptr),
            np.int32(g),
            np.int32(nk),
            np.int32(keep),
            np.int32(pow2),
            np.int32(causal),
            np.int32(seg),
            np.uint64(arrays["thr_key"][1]),
            np.uint64(arrays["thr_idx"][1]),
        )
    return arrays


def dma_prepare(
    value: Any,
    dt_proj: Any,
    a_coef: Any,
    n_query: int,
    keep_window_size: int = 1024,
    causal: bool = False,
    *,
    _dev: Device | None = None,
    _value: Tensor | None = None,
) -> DmaPlan:
    """Compute zoh, the top-k selection and the per-key expiry on the GPU (steps 1-3 of the module docstring).

    value [B, Nk, H_kv, d] (numpy float32/float64, or a CUDA array / torch tensor: float32, float64, bfloat16);
    dt_proj [H_kv, H_kv d] and a_coef [H_kv]: numpy, or float64 device arrays (used in place). The plan feeds
    flash_dma_attention(..., plan=plan) for queries of length n_query.
    """
    vt = _value or wrap("value", value, ("bf16", "f32", "f64"))
    if len(vt.shape) != 4:
        raise ValueError(f"value must be [batch, seq, heads, head_dim], got shape {vt.shape}")
    b, nk, g, d = vt.shape
    if g > MAX_KV_HEADS:
        raise ValueError(
            f"backends.gpu DMA supports at most {MAX_KV_HEADS} key/value heads, got {g}; "
            f"use algorithms.dma.flash_dma_attention"
        )
    dt = _param("dt_proj", dt_proj, (g, g * d))
    a = _param("a_coef", a_coef, (g,))
    keep = _check_keep(keep_window_size, causal, nk)
    _runtime.require_gpu()
    dev = _dev or Device(vt)
    v_ptr = dev.upload(vt, vt.elem)
    zoh = dev.empty((b, g, nk), "f64")
    if b * g * nk:
        rows = 16 if b * nk <= 32768 else 64  # keys per CTA: more CTAs for short sequences
        smem = (rows + g) * (ZOH_CHUNK + 1) * 8
        kern = _runtime.kernel(SOURCE, f"dma_zoh<{ZOH_TYPE[vt.elem]}, {rows}>")
        _runtime.launch(
            kern,
            (-(-b * nk // rows),),
            256,
            smem,
            dev.handle,
            np.uint64(v_ptr),
            np.uint64(dev.upload(dt, "f64")),
            np.uint64(dev.upload(a, "f64")),
            np.uint64(zoh[1]),
            np.int32(b),
            np.int32(nk),
            np.int32(g),
            np.int32(d),
        )
    arrays = {"zoh": zoh, **_select(dev, zoh[1], b, g, nk, keep, causal)}
    n_tiles = -(-nk // DMA_TILE.bn)
    arrays["expiry"] = dev.empty((b, g, nk), "i32")
    arrays["bias"] = dev.empty((b, g, nk), "f32")
    arrays["tile_max"] = dev.empty((b, g, max(n_tiles, 1)), "i32", zero=True)
    if b * g * nk:
        kern = _runtime.kernel(SOURCE, "dma_expiry")
        _runtime.launch(
            kern,
            (-(-b * g * nk // 256),),
            256,
            0,
            dev.handle,
            *(np.uint64(arrays[x][1]) for x in ("zoh", "thr_key", "thr_idx")),
            np.int32(b * g),
            np.int32(nk),
            np.int32(keep),
            np.int32(causal),
            np.int32(DMA_TILE.bn),
            *(np.uint64(arrays[x][1]) for x in ("expiry", "tile_max", "bias")),
        )
    return DmaPlan(int(n_query), keep, bool(causal), (b, g, nk), arrays)


def dma_topk_threshold(
    zoh: np.ndarray, n_query: int, keep_window_size: int, causal: bool
) -> tuple[np.ndarray, np.ndarray]:
    """GPU twin of algorithms.dma.dma_topk_threshold: zoh [B, G, Nk] float64 -> (thr [B, G, Nq], jcut [B, G, Nq])."""
    zt = wrap("zoh", np.ascontiguousarray(zoh, dtype=np.float64), ("f64",))
    if len(zt.shape) != 3:
        raise ValueError(f"zoh must be [B, G, Nk], got shape {zt.shape}")
    b, g, nk = zt.shape
    keep = _check_keep(keep_window_size, causal, nk)
    _runtime.require_gpu()
    dev = Device(zt)
    z_ptr = dev.upload(zt, "f64")
    sel = _select(dev, z_ptr, b, g, nk, keep, causal)
    thr, thr_ptr = dev.empty((b, g, n_query), "f64")
    jcut, jcut_ptr = dev.empty((b, g, n_query), "i32")
    if b * g * n_query:
        kern = _runtime.kernel(SOURCE, "dma_rows")
        _runtime.launch(
            kern,
            (-(-b * g * n_query // 256),),
            256,
            0,
            dev.handle,
            np.uint64(z_ptr),
            np.uint64(sel["thr_key"][1]),
            np.uint64(sel["thr_idx"][1]),
            np.int32(b * g),
            np.int32(n_query),
            np.int32(nk),
            np.int32(keep),
            np.int32(causal),
            np.uint64(thr_ptr),
            np.uint64(jcut_ptr),
        )
    return dev.to_host(thr, "f64"), dev.to_host(jcut, "i32")


def flash_dma_attention(
    query: Any,
    key: Any,
    value: Any,
    dt_proj: Any,
    a_coef: Any,
    keep_window_size: int = 1024,
    causal: bool = False,
    softmax_scale: float | None = None,
    dtype: str | None = None,
    return_lse: bool = False,
    plan: DmaPlan | None = None,
) -> Any:
    """Dynamic Mask Attention forward on the GPU; arguments and result as algorithms.dma.flash_dma_attention.

    query [B, Nq, H, d], key/value [B, Nk, H_kv, d]: numpy (float32/float64), CUDA arrays or torch tensors
    (float32, bfloat16). Returns out [B, Nq, H, d] (numpy float32 for numpy inputs) and, with return_lse,
    lse [B, H, Nq] float32. `plan` (from dma_prepare on the same value/dt_proj/a_coef) skips steps 1-3.
    """
    qt, kt, vt = (wrap(n, x, ("bf16", "f32", "f64")) for n, x in (("query", query), ("key", key), ("value", value)))
    for t in (qt, kt, vt):
        if len(t.shape) != 4:
            raise ValueError(f"{t.name} must be [batch, seq, heads, head_dim], got shape {t.shape}")
        if t.elem != qt.elem or t.where != qt.where:
            raise TypeError(f"query, key and value must be alike: {qt.where} {qt.elem} vs {t.name} {t.where} {t.elem}")
    b, nq, h, d = qt.shape
    _, nk, g, _ = kt.shape
    if vt.shape != kt.shape:
        raise ValueError(f"key and value shapes differ: {kt.shape} vs {vt.shape}")
    if kt.shape[0] != b or kt.shape[3] != d:
        raise ValueError(f"query {qt.shape} and key {kt.shape} differ in batch or head_dim")
    if g < 1 or h % g:
        raise ValueError(f"query heads ({h}) must be a multiple of key/value heads ({g})")
    if d not in SUPPORTED_D:
        raise ValueError(
            f"head dim d = {d} is not supported by backends.gpu (supported: {SUPPORTED_D}); "
            f"use algorithms.dma.flash_dma_attention"
        )
    elem = {"f64": "f32"}.get(qt.elem, qt.elem)
    if dtype is not None:
        elem = DTYPE_NAMES.get(str(dtype).removeprefix("torch."), "")
        if elem not in ("bf16", "f32") or (qt.where != "numpy" and elem != qt.elem):
            raise ValueError(f"dtype must be 'bfloat16' or 'float32' (and match device inputs), got {dtype!r}")
    scale = 1.0 / math.sqrt(d) if softmax_scale is None else softmax_scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"softmax_scale must be None or a finite number > 0, got {softmax_scale!r}")
    if plan is not None and (plan.shape != (b, g, nk) or plan.n_query != nq or plan.causal != bool(causal)):
        raise ValueError(
            f"plan was made for (B, H_kv, Nk) = {plan.shape}, Nq = {plan.n_query}, causal = "
            f"{plan.causal}, not {(b, g, nk)}, {nq}, {bool(causal)}"
        )
    if plan is None:
        _check_keep(keep_window_size, causal, nk)
    _runtime.require_gpu()
    dev = Device(qt)
    plan = plan or dma_prepare(value, dt_proj, a_coef, nq, keep_window_size, causal, _dev=dev, _value=vt)
    ptrs = upload_qkv(dev, (qt, kt, vt), elem)
    out, o_ptr = dev.empty((b, nq, h, d), elem)
    lse, lse_ptr = dev.empty((b, h, nq), "f32")
    dma = (plan.arrays["bias"][1], plan.arrays["expiry"][1], plan.arrays["tile_max"][1])
    launch_flash(
        dev,
        elem,
        DMA_TILE,
        ptrs,
        o_ptr,
        lse_ptr,
        (b, h, g, nq, nk, d),
        (nq * h * d, d, h * d),
        (nk * g * d, d, g * d),
        float(scale),
        bool(causal),
        None,
        dma,
    )
    if qt.where == "numpy":
        out, lse = dev.to_host(out, elem), dev.to_host(lse, "f32")
    return (out, lse) if return_lse else out
