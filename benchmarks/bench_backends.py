"""Every catalog kernel at a realistic size on every software backend available here, side by side.

    .venv/bin/python -m benchmarks.bench_backends [--scale 1] [--only qk_dense,flash_f32] [--out benchmarks/out]

Rows: the kernels of `tests/catalog.py` (`CASES`), each at the size `SPECS` gives it (`--scale`
multiplies the long dims: sequence lengths, row counts; head dims stay). Columns, each the wall time
of `backends.run(...)` (argument checks and copies included), median of `--repeats` calls after one
untimed warm-up call, on the same inputs:

- `python`: the reference; a call stopped after `--python-budget` seconds is reported as skipped
  ("> budget"), as it is at most realistic sizes;
- `numba-cpu`;
- `numba-cpu contract`: the same kernel with `@kernel(fastmath="contract")` (float kernels only);
- `numba-cuda`: on a real GPU only (Numba's CUDA simulator runs, but is no speed: the column then says so);
  host arrays, copied in and out on every call;
- `numba-cuda device`: the same with the arguments as numba device arrays, copied to the GPU once before
  the timed calls (which reuse the outputs; the check uses the first call's, from zeros): the kernel and
  its launches alone. The cell also names the grid of each launch (`RunResult.grid`);
- `torch`: an equivalent where one exists (QK: `torch._int_mm` on the GPU, float32 matmul of the int8
  values on the CPU; the dense float SDPA kernels: `scaled_dot_product_attention`), on the GPU when
  torch sees one, else on the CPU; "-" where none exists or torch is not installed.

The hardware backends (myhdl, verilator) simulate cycles, not speed: `bench_hls` has their figures.
Each backend's outputs (every array the kernel writes, and the return value) are compared with
numba-cpu's after the warm-up call: integers exactly, floats within rtol = atol = 1e-4 (float32) or
1e-10 (float64); a mismatch is an error. Ratios are numba-cpu's time over the column's (above 1: faster
than numba-cpu). Writes `<out>/bench_backends.json` and prints the table last.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import backends
from algorithms import dma
from algorithms.csr import BlockCSR
from algorithms.masks import a_shape_mask
from algorithms.qk import block_csr_arrays
from algorithms.sdpa import block_index
from benchmarks.bench_sdpa import _busy, _torch, cpu_info, versions
from hls.lang import Kernel
from hls.types import ArrayType, BoolType, FloatType, IntType, numpy_dtype
from tests.catalog import CASES

REPO = Path(__file__).resolve().parent.parent
SOFTWARE = ("python", "numba-cpu", "numba-cuda")  # the HDL backends simulate cycles (bench_hls)
CONTRACT = "numba-cpu contract"
DEVICE = "numba-cuda device"
COLUMNS = ("python", "numba-cpu", CONTRACT, "numba-cuda", DEVICE, "torch")
HEADS, DIM = 4, 64


# ---- sizes and inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A kernel's realistic size: dims as a function of the scale, scalar arguments, structured arrays.

    `arrays(rng, dims)` returns the arguments that need structure (valid indices, probabilities) and the
    dims their sizes define; every other array comes from its annotation (`_fill`). `torch` names the
    equivalent ("qk" or "sdpa"), `size` describes the size in the table.
    """

    dims: Callable[[float], dict[str, int]]
    scalars: dict[str, Any] = field(default_factory=dict)
    arrays: Callable[[np.random.Generator, dict[str, int]], dict[str, Any]] | None = None
    torch: str | None = None
    size: str = ""


def _n(x: int, scale: float, lo: int = 8) -> int:
    return max(lo, int(round(x * scale)))


def _qk_dims(s: float) -> dict[str, int]:
    return {"M": _n(4096, s), "N": _n(4096, s), "D": 64}


def _sdpa_dims(n: int) -> Callable[[float], dict[str, int]]:
    return lambda s: {"B": 1, "H": HEADS, "HKV": HEADS, "NQ": _n(n, s), "NK": _n(n, s), "D": DIM, "DV": DIM}


def _probs_dims(s: float) -> dict[str, int]:
    return {"H": HEADS, "L": 64, "N": _n(8192, s), "G": HEADS, "D": DIM, "S": 16}


def _dma_dims(s: float) -> dict[str, int]:
    n = _n(4096, s)
    return {"B": 1, "G": HEADS, "H": HEADS, "N": n, "M": n, "D": DIM, "E": HEADS * DIM}


def _flat(s: float) -> dict[str, int]:
    return {"N": _n(1 << 20, s), "M": _n(1024, s)}


def _sparse_mask(rng: np.random.Generator, d: dict[str, int]) -> np.ndarray:
    return rng.random((d["M"], d["N"])) < 0.1


def _csr(rng: np.random.Generator, d: dict[str, int]) -> dict[str, Any]:
    mask = _sparse_mask(rng, d)
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int32)
    indices = np.nonzero(mask)[1].astype(np.int32)
    return {"indptr": indptr, "indices": indices, "R": len(indptr), "E": len(indices)}


def _coo(rng: np.random.Generator, d: dict[str, int]) -> dict[str, Any]:
    rows, cols = np.nonzero(_sparse_mask(rng, d))
    return {"rows": rows.astype(np.int32), "cols": cols.astype(np.int32), "E": len(rows)}


def _block_csr(rng: np.random.Generator, d: dict[str, int]) -> dict[str, Any]:
    bc = BlockCSR.from_mask(a_shape_mask(d["M"], d["N"]), 64, 64)
    names: tuple[str, ...] = ("full_indptr", "full_indices", "partial_indptr", "partial_indices", "partial_masks")
    names += ("col_indptr", "col_indices", "col_masks")
    out: dict[str, Any] = dict(zip(names, block_csr_arrays(bc)))
    masks = out["partial_masks"]
    out.update(QB=len(out["full_indptr"]), F=len(out["full_indices"]), P=masks.shape[0], BM=masks.shape[1])
    out.update(BN=masks.shape[2], C=len(out["col_indices"]))
    return out


def _probs(rng: np.random.Generator, d: dict[str, int]) -> dict[str, Any]:
    p = np.abs(rng.standard_normal((d["H"], d["L"], d["N"])))
    return {"probs": p / p.sum(axis=-1, keepdims=True)}


def _mass_curve(rng: np.random.Generator, d: dict[str, int]) -> dict[str, Any]:
    ranks = np.argsort(rng.random((d["H"], d["N"])), axis=-1).astype(np.int64)
    order = np.argsort(rng.random((d["H"], d["N"])), axis=-1).astype(np.int64)
    return {**_probs(rng, d), "col_rank": ranks, "diag_order": order}


def _zoh(rng: np.random.Generator, d: dict[str, int]) -> np.ndarray:
    return np.exp(-np.abs(rng.standard_normal((d["B"], d["G"], d["N"]))))


def _dma_mask(rng: np.random.Generator, d: dict[str, int]) -> dict[str, Any]:
    zoh = _zoh(rng, d)
    mask = dma.build_dma_mask(zoh, d["M"], min(512, d["N"]), True, 64, 64)
    tm, tn = mask.live.shape[2:]
    return {"zoh": zoh, "thr": mask.thr, "jcut": mask.jcut, "live": mask.live, "TM": tm, "TN": tn}


def _dma_probs(dtype: Any) -> Callable[[np.random.Generator, dict[str, int]], dict[str, Any]]:
    def arrays(rng: np.random.Generator, d: dict[str, int]) -> dict[str, Any]:
        m = _dma_mask(rng, d)
        q = rng.standard_normal((d["B"], d["M"], d["H"], d["D"])).astype(dtype)
        k = rng.standard_normal((d["B"], d["N"], d["G"], d["D"])).astype(dtype)
        v = rng.standard_normal((d["B"], d["N"], d["G"], d["D"])).astype(dtype)
        mask = dma.DmaMask(m["thr"], m["jcut"], m["live"], 64, 64)
        _, lse = dma.dma_attention_core(q, k, v, m["zoh"], mask, 1 / math.sqrt(d["D"]), True)
        return {**m, "q": q, "k": k, "lse": np.where(np.isfinite(lse), lse, 0.0)}

    return arrays


def _block_sparse(rng: np.random.Generator, d: dict[str, int]) -> dict[str, Any]:
    nqb, nkb = -(-d["NQ"] // 64), -(-d["NK"] // 64)
    counts, index = block_index(rng.random((d["B"], d["H"], nqb, nkb)) < 0.1)
    return {"kv_num_blocks": counts, "kv_indices": index, "NQB": nqb, "MAXB": index.shape[-1]}


_SDPA = {"scale": 0.125, "causal": False}
_DMA = {"scale": 0.125, "causal": True, "block_m": 64, "block_n": 64}
SPECS: dict[str, Spec] = {
    "qk_dense": Spec(_qk_dims, torch="qk", size="M=N={M} D={D}"),
    "qk_masked": Spec(
        _qk_dims, arrays=lambda rng, d: {"mask": rng.random((d["M"], d["N"])) < 0.5}, size="M=N={M} D={D}, 50%"
    ),
    "qk_csr_dense_out": Spec(_qk_dims, arrays=_csr, size="M=N={M} D={D}, 10%"),
    "qk_csr_values": Spec(_qk_dims, arrays=_csr, size="M=N={M} D={D}, 10%"),
    "qk_coo_values": Spec(_qk_dims, arrays=_coo, size="M=N={M} D={D}, 10%"),
    "qk_dense_lanes2": Spec(_qk_dims, torch="qk", size="M=N={M} D={D}"),
    "qk_dense_lanes4": Spec(_qk_dims, torch="qk", size="M=N={M} D={D}"),
    "qk_csr_values_lanes2": Spec(_qk_dims, arrays=_csr, size="M=N={M} D={D}, 10%"),
    "qk_coo_values_lanes2": Spec(_qk_dims, arrays=_coo, size="M=N={M} D={D}, 10%"),
    "qk_block_csr_dense_out": Spec(_qk_dims, arrays=_block_csr, size="M=N={M} D={D}, A-shape"),
    "detect_vs_accumulate": Spec(
        lambda s: {"L": 64, "N": _n(8192, s)},
        arrays=lambda rng, d: {"scores": rng.integers(0, 1 << 16, (d["L"], d["N"]), dtype=np.int32)},
        size="L={L} N={N}",
    ),
    "topk_select": Spec(lambda s: {"N": _n(8192, s), "K": 256}, {"n_forced": 4}, size="N={N} K={K}"),
    "vs_sample_softmax": Spec(_probs_dims, {"scale": 0.125}, size="H={H} L={L} N={N}"),
    "vs_accumulate": Spec(_probs_dims, arrays=_probs, size="H={H} L={L} N={N}"),
    "a_shape_search": Spec(_probs_dims, {"target": 0.9}, arrays=_probs, size="H={H} L={L} N={N}"),
    "vs_mass_curve": Spec(_probs_dims, {"n_vertical": 256}, arrays=_mass_curve, size="H={H} L={L} N={N}"),
    "grid_residue_mass": Spec(_probs_dims, arrays=_probs, size="H={H} L={L} N={N} S={S}"),
    "dma_topk_threshold": Spec(
        _dma_dims, {"keep": 512, "causal": True}, arrays=lambda rng, d: {"zoh": _zoh(rng, d)}, size="G={G} N={N}"
    ),
    "dma_tile_flags": Spec(_dma_dims, {"causal": True, "block_m": 64, "block_n": 64}, _dma_mask, size="G={G} N={N}"),
    "dma_zoh_f32": Spec(_dma_dims, arrays=lambda rng, d: {"a_coef": -rng.random(d["G"])}, size="G={G} N={N} D={D}"),
    "dma_zoh_f64": Spec(_dma_dims, arrays=lambda rng, d: {"a_coef": -rng.random(d["G"])}, size="G={G} N={N} D={D}"),
    "flash_dma_fwd_f32": Spec(_dma_dims, _DMA, _dma_mask, size="H={H} N={N} D={D}"),
    "flash_dma_fwd_f64": Spec(_dma_dims, _DMA, _dma_mask, size="H={H} N={N} D={D}"),
    "dma_probs_f32": Spec(_dma_dims, {"scale": 0.125, "causal": True}, _dma_probs(np.float32), size="H={H} N={N}"),
    "dma_probs_f64": Spec(_dma_dims, {"scale": 0.125, "causal": True}, _dma_probs(np.float64), size="H={H} N={N}"),
    "naive_f32": Spec(_sdpa_dims(2048), _SDPA, torch="sdpa", size="H={H} N={NQ} d={D}"),
    "naive_f64": Spec(_sdpa_dims(2048), _SDPA, torch="sdpa", size="H={H} N={NQ} d={D}"),
    "streaming_f32": Spec(_sdpa_dims(2048), _SDPA, torch="sdpa", size="H={H} N={NQ} d={D}"),
    "streaming_f64": Spec(_sdpa_dims(2048), _SDPA, torch="sdpa", size="H={H} N={NQ} d={D}"),
    "flash_f32": Spec(_sdpa_dims(2048), {**_SDPA, "bm": 64, "bn": 64}, torch="sdpa", size="H={H} N={NQ} d={D}"),
    "flash_f64": Spec(_sdpa_dims(2048), {**_SDPA, "bm": 64, "bn": 64}, torch="sdpa", size="H={H} N={NQ} d={D}"),
    "flash_sparse_f32": Spec(_sdpa_dims(4096), {**_SDPA, "bm": 64, "bn": 64}, _block_sparse, size="H={H} N={NQ}, 10%"),
    "flash_sparse_f64": Spec(_sdpa_dims(4096), {**_SDPA, "bm": 64, "bn": 64}, _block_sparse, size="H={H} N={NQ}, 10%"),
    "exp_neg_f32": Spec(lambda s: {}, {"x": -3.5}, size="scalar"),
    "sdpa_fixed": Spec(_sdpa_dims(1024), {"score_mult": 37820, "causal": False}, size="H={H} N={NQ} d={D}"),
    "exp2_neg_q16": Spec(lambda s: {}, {"x": 12345}, size="scalar"),
    "wrap_add": Spec(_flat, size="N={N}"),
    "dot_wrap": Spec(_flat, size="N={N}"),
    "floor_ops": Spec(_flat, size="N={N}"),
    "popcount": Spec(_flat, size="N={N}"),
    "classify": Spec(_flat, size="N={N}"),
    "clamp_odd_width": Spec(_flat, {"lo": -100, "hi": 100}, size="N={N}"),
    "exp2_q8": Spec(lambda s: {}, {"x": 77}, size="scalar"),
    "exp2_rows": Spec(_flat, size="M=N={M}", arrays=lambda rng, d: {"N": d["M"]}),
    "bit_mix": Spec(_flat, size="N={N}"),
    "row_max_index": Spec(_flat, size="M=N={M}", arrays=lambda rng, d: {"N": d["M"]}),
    "shift_by": Spec(_flat, arrays=lambda rng, d: {"s": rng.integers(0, 64, d["N"], dtype=np.int8)}, size="N={N}"),
    "triangle_count": Spec(lambda s: {}, {"n": _n(1000, 1)}, size="n=1000"),
}


def _fill(rng: np.random.Generator, elem: Any, shape: tuple[int, ...], written: bool) -> np.ndarray:
    """An array of `elem` from its annotation: zeros when the kernel writes it, else random over its range."""
    dt = numpy_dtype(elem)
    if written:
        return np.zeros(shape, dt)
    if isinstance(elem, FloatType):
        return rng.standard_normal(shape).astype(dt)
    if isinstance(elem, BoolType):
        return rng.random(shape) < 0.5
    assert isinstance(elem, IntType)
    info = np.iinfo(dt)
    return rng.integers(max(elem.lo, info.min), min(elem.hi, info.max), shape, dtype=dt, endpoint=True)


def arguments(kernel: Kernel, spec: Spec, scale: float, seed: int = 0) -> tuple[tuple[Any, ...], dict[str, int]]:
    """The kernel's arguments at `scale` (structured arrays from the spec, the rest from annotations) and its dims."""
    rng = np.random.default_rng(seed)
    dims = spec.dims(scale)
    given = spec.arrays(rng, dims) if spec.arrays else {}
    dims |= {key: v for key, v in given.items() if isinstance(v, int)}
    args = []
    for p in kernel.ir.params:
        if p.name in given:
            args.append(given[p.name])
        elif p.name in spec.scalars:
            args.append(spec.scalars[p.name])
        elif isinstance(p.type, ArrayType):
            shape = tuple(dims[x] if isinstance(x, str) else int(x) for x in p.type.dims)
            args.append(_fill(rng, p.type.elem, shape, p.name in kernel.written_arrays))
        else:
            raise KeyError(f"{kernel.__name__}: no value for scalar parameter {p.name!r} in SPECS")
    return tuple(args), dims


# ---- equivalents and timing ----------------------------------------------------------------------


def torch_call(kind: str, kernel: Kernel, args: tuple[Any, ...]) -> tuple[Callable[[], Any], str] | None:
    """A call of torch's equivalent on these arguments (inputs already on its device), and what it is."""
    torch = _torch()
    if torch is None:
        return None
    gpu = torch.cuda.is_available()
    dev = "cuda" if gpu else "cpu"
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    if kind == "qk":
        q, k = args[0], args[1]
        if gpu and q.shape[0] > 16 and q.shape[1] % 8 == 0 and k.shape[0] % 8 == 0:
            tq, tk = torch.from_numpy(q).to(dev), torch.from_numpy(k).to(dev)
            return (lambda: (torch._int_mm(tq, tk.t()), sync())), "torch._int_mm (GPU)"
        fq, fk = (torch.from_numpy(x.astype(np.float32)).to(dev) for x in (q, k))
        return (lambda: (fq @ fk.t(), sync())), f"float32 matmul ({dev.upper()})"
    tq, tk, tv = (torch.from_numpy(x).to(dev) for x in args[:3])
    scale, causal = float(args[3]), bool(args[4])
    sdpa = torch.nn.functional.scaled_dot_product_attention
    return (lambda: (sdpa(tq, tk, tv, is_causal=causal, scale=scale), sync())), f"SDPA {args[0].dtype} ({dev.upper()})"


class _Stop(Exception):
    """A python-backend call ran past its budget."""


def _alarm(signum: int, frame: Any) -> None:
    raise _Stop


def timed(call: Callable[[], Any], repeats: int, budget: float | None = None) -> dict[str, Any]:
    """One warm-up call (stopped by SIGALRM after `budget` seconds, if given), then `repeats` timed calls."""
    if budget is not None:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        t0 = time.perf_counter()
        call()
        first = time.perf_counter() - t0
    except _Stop:
        return {"seconds": None, "skipped": f"skipped: > {budget:g} s"}
    finally:
        if budget is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    if budget is not None and first * repeats > 4 * budget:
        return {"seconds": first, "samples_s": [round(first, 6)], "note": "one call (slow): no repeats"}
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(samples), "samples_s": [round(x, 6) for x in samples]}


def _outputs(kernel: Kernel, args: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = {p.name: a.copy() for p, a in zip(kernel.ir.params, args) if p.name in kernel.written_arrays}
    return out | ({"return": value} if kernel.ir.ret is not None else {})


def agree(want: dict[str, Any], got: dict[str, Any]) -> float:
    """The largest difference between two backends' outputs, scaled so that 1 is the limit (0: equal)."""
    worst = 0.0
    for name, w in want.items():
        w, g = np.asarray(w), np.asarray(got[name])
        if w.dtype.kind == "f":
            tol = 1e-4 if w.dtype == np.float32 else 1e-10
            w64, g64 = w.astype(np.float64), g.astype(np.float64)
            finite = np.isfinite(w64)
            if not np.array_equal(finite, np.isfinite(g64)) or not np.array_equal(w64[~finite], g64[~finite]):
                return math.inf
            if finite.any():
                err = np.abs(w64[finite] - g64[finite]) / (tol + tol * np.abs(w64[finite]))
                worst = max(worst, float(err.max()))
        elif not np.array_equal(w, g):
            return math.inf
    return worst


def _run_fresh(kernel: Kernel, backend: str, args: tuple[Any, ...], calls: list[Any]) -> None:
    """Run `kernel` on `backend` with fresh outputs; append (its arguments, its return value) to `calls`."""
    mine = _fresh(kernel, args)
    calls.append((mine, backends.run(kernel, *mine, backend=backend).value))


def _fresh(kernel: Kernel, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """`args` with every array the kernel writes replaced by zeros (inputs shared: kernels do not write them)."""
    written = kernel.written_arrays
    return tuple(np.zeros_like(a) if p.name in written else a for p, a in zip(kernel.ir.params, args))


def bench_kernel(
    kernel: Kernel, spec: Spec, columns: dict[str, str | None], scale: float, repeats: int, budget: float
) -> dict[str, Any]:
    """One row: every column's median time, its check against numba-cpu, and numba-cpu's time over it."""
    args, dims = arguments(kernel, spec, scale)
    row: dict[str, Any] = {"kernel": kernel.__name__, "size": spec.size.format(**dims), "dims": dims, "cells": {}}
    floats = any(isinstance(e, FloatType) for e in _elems(kernel))
    want: dict[str, Any] | None = None
    for col, why in columns.items():
        if why is not None:
            row["cells"][col] = {"seconds": None, "skipped": why}
            continue
        if col == "torch":
            made = torch_call(spec.torch, kernel, args) if spec.torch else None
            if made is None:
                row["cells"][col] = {"seconds": None, "skipped": "no equivalent" if not spec.torch else "no torch"}
                continue
            call, what = made
            row["cells"][col] = timed(call, repeats) | {"what": what}
            continue
        if col == DEVICE:
            row["cells"][col] = _device_cell(kernel, args, repeats)
            continue
        if col == CONTRACT and not floats:
            row["cells"][col] = {"seconds": None, "skipped": "integer kernel"}
            continue
        k = kernel.with_options(fastmath="contract") if col == CONTRACT else kernel
        backend = "numba-cpu" if col == CONTRACT else col
        calls: list[tuple[tuple[Any, ...], Any]] = []  # NOTE: fresh zeroed outputs per call, as the first got
        cell = timed(partial(_run_fresh, k, backend, args, calls), repeats, budget if col == "python" else None)
        if cell["seconds"] is not None:
            got = _outputs(kernel, *calls[-1])
            if col == "numba-cpu":
                want = got
            elif want is not None:  # NOTE: numba-cpu's column comes before every other but python's
                cell["check"] = agree(want, got)
            else:
                cell["outputs"] = got
        row["cells"][col] = cell
    device = row["cells"].get(DEVICE, {})
    if want is not None and "outputs" in device:
        device["check"] = agree(want, device["outputs"])
    python = row["cells"].get("python", {})
    if want is not None and "outputs" in python:
        python["check"] = agree(python.pop("outputs"), want)
    base = row["cells"].get("numba-cpu", {}).get("seconds")
    for cell in row["cells"].values():
        cell.pop("outputs", None)
        if cell.get("check", 0.0) > 1.0:
            raise AssertionError(f"{kernel.__name__}: a backend disagrees with numba-cpu: {row['cells']}")
        if base and cell.get("seconds"):
            cell["ratio"] = base / cell["seconds"]
    return row


def _device_cell(kernel: Kernel, args: tuple[Any, ...], repeats: int) -> dict[str, Any]:
    """numba-cuda on device-resident arguments: the first call from zeroed outputs (checked), then timed calls."""
    from numba import cuda

    dev = tuple(cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in _fresh(kernel, args))
    first = backends.run(kernel, *dev, backend="numba-cuda")
    host = tuple(d.copy_to_host() if hasattr(d, "copy_to_host") else d for d in dev)
    cell = timed(lambda: backends.run(kernel, *dev, backend="numba-cuda"), repeats)
    cell["outputs"] = _outputs(kernel, host, first.value)
    cell["grid"] = [[name, list(loops), list(sizes)] for name, loops, sizes in first.grid or []]
    return cell


def _elems(kernel: Kernel) -> list[Any]:
    from hls.ir.walk import statements, stmt_exprs, subexpressions

    return [e.type for s in statements(kernel.ir.body) for top in stmt_exprs(s) for e in subexpressions(top)]


def available_columns(names: list[str] | None) -> dict[str, str | None]:
    """Each column and why it is not run here (None: it runs)."""
    out: dict[str, str | None] = {}
    for col in COLUMNS:
        backend = {CONTRACT: "numba-cpu", DEVICE: "numba-cuda"}.get(col, col)
        if names is not None and col not in names:
            out[col] = "not asked for"
        elif col == "torch":
            out[col] = None if _torch() is not None else "torch not installed"
        else:
            out[col] = backends.available(backend)
            if backend == "numba-cuda" and out[col] is None and getattr(backends.get(backend), "simulated", bool)():
                out[col] = "simulator only (no GPU)"
    return out


# ---- report --------------------------------------------------------------------------------------


def _ms(cell: dict[str, Any]) -> str:
    if cell.get("seconds") is None:
        return str(cell.get("skipped", "-"))[:24]
    ms = cell["seconds"] * 1e3
    text = f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"
    return text + (f" ({cell['ratio']:.2g}x)" if "ratio" in cell else "")


def table(rows: list[dict[str, Any]], columns: dict[str, str | None]) -> str:
    shown = [c for c in COLUMNS if columns[c] is None]
    head = f"{'kernel':<24} {'size':<26} " + " ".join(f"{c:>24}" for c in shown)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['kernel']:<24} {r['size']:<26} " + " ".join(f"{_ms(r['cells'][c]):>24}" for c in shown))
    lines.append("")
    lines.append(
        "ms: backends.run wall time, median of the repeats after a warm-up; (Nx): numba-cpu time / this column"
    )
    lines += [f"{c}: not run ({why})" for c, why in columns.items() if why is not None]
    torch_what = sorted({r["cells"]["torch"]["what"] for r in rows if "what" in r["cells"].get("torch", {})})
    if torch_what:
        lines.append("torch: " + "; ".join(torch_what))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the long dims of every size (default 1)")
    ap.add_argument("--only", help="comma-separated kernel names (default: the whole catalog)")
    ap.add_argument("--backends", help=f"comma-separated columns of {', '.join(COLUMNS)} (default: every available)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--python-budget", type=float, default=5.0, help="seconds before a python call is stopped")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    args = ap.parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only.split(",")]
    columns = available_columns(args.backends.split(",") if args.backends else None)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    busy0, own0, wall0 = *_busy(), time.monotonic()
    rows = []
    for case in cases:
        spec = SPECS.get(case.name)
        if spec is None:
            raise KeyError(f"{case.name}: the catalog kernel has no size in SPECS")
        rows.append(bench_kernel(case.kernel, spec, columns, args.scale, args.repeats, args.python_budget))
        log(f"{case.name}: " + ", ".join(f"{c} {_ms(cell)}" for c, cell in rows[-1]["cells"].items()))
    busy1, own1, wall1 = *_busy(), time.monotonic()
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9)
    result = {
        "benchmark": "bench_backends",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.bench_backends", *(sys.argv[1:] if argv is None else argv)]),
        "cpu": cpu_info(),
        "versions": versions(),
        "settings": {"scale": args.scale, "repeats": args.repeats, "python_budget_s": args.python_budget},
        "columns": columns,
        "other_processes_cpus_avg": round(others, 2),
        "elapsed_s": round(wall1 - wall0, 1),
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_backends.json").write_text(json.dumps(result, indent=1, default=float))
    log(f"wrote {out / 'bench_backends.json'}; other processes kept {others:.2f} CPUs busy on average")
    print(table(rows, columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
