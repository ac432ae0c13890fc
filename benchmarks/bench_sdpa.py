"""Benchmark dense and block-sparse flash attention (numba-cpu) against numpy and torch on this CPU.

    .venv/bin/python -m benchmarks.bench_sdpa [--quick] [--out benchmarks/out] [--sizes 1024,2048]

Dense: B=1, H=4, d=64, float32, non-causal, N = 1024, 2048, 4096, 8192 (--quick:
1024). Methods, all on the same inputs:
- `flash numba-cpu`: the flash_f32 kernel, compiled, called directly (the
  tile size is the fastest of a small sweep at the first N, reported);
- `sdpa() wrapper`: the same through `algorithms.sdpa.sdpa` (checks, copies);
- `numpy`: float32 batched matmul, softmax, matmul (BLAS for the matmuls);
- `torch sdpa`: torch.nn.functional.scaled_dot_product_attention on the CPU,
  when torch imports (else the row says "torch not installed").
Every output is checked before timing: at N <= 2048 against the float64
reference with the tolerance rule, above against numpy float32.

GFLOP/s counts 4 * N^2 * d * H flops (two matmuls), from the median time
("best": from the fastest sample). The fraction of peak uses peak = cores x
clock x fp32 lanes (8 for AVX2, 16 for AVX-512) x 2 FMA units x 2 flops, with
the clock from /proc/cpuinfo ("cpu MHz"; a VM reports its nominal clock, boost
may run higher).

Block-sparse: at N = 4096 (and 8192 unless --quick; N = 1024 with --quick),
64x64 tiles, every query tile keeps round(density * n_kblocks) random key
tiles; time against dense flash with the same tiles; target speedup >=
0.7 / density. Times are medians of round-robin samples, each taken after an
untimed call and a pause (other libraries' thread pools stop spinning).
Writes `<out>/bench_sdpa.json` and prints the table last.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import backends
from algorithms.sdpa import block_index, block_mask, flash_f32, flash_sparse_f32, sdpa, sdpa_reference
from benchmarks import _plot
from tests.tolerance import max_error

REPO = Path(__file__).resolve().parent.parent
SIZES = [1024, 2048, 4096, 8192]
HEADS, DIM = 4, 64
DENSITIES = [0.05, 0.1, 0.2, 0.3, 0.5]
TILES = [(64, 64), (128, 64), (64, 128), (128, 128), (256, 64)]
SETTLE_S = 0.25  # pause before each timed call (timeit); the smoke test sets 0


# ---- machine -------------------------------------------------------------------------------------


def cpu_info() -> dict[str, Any]:
    """Model, usable cores, clock, SIMD width and the float32 peak computed from them."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = fields.get("flags", "").split()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma_units = 2
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    mhz = float(fields.get("cpu MHz", "0") or 0)
    peak = cores * mhz * 1e6 * lanes * fma_units * 2 / 1e9
    return {
        "model": fields.get("model name") or platform.processor(),
        "cores": cores,
        "mhz": mhz,
        "simd": "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE",
        "fp32_lanes": lanes,
        "fma_units_assumed": fma_units,
        "peak_gflops": round(peak, 1),
        "peak_formula": f"{cores} cores x {mhz / 1000:.3f} GHz x {lanes} lanes x {fma_units} FMA x 2 flops",
    }


def versions() -> dict[str, Any]:
    import numba

    out = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
    }
    torch = _torch()
    out["torch"] = torch.__version__ if torch else "torch not installed"
    if torch:
        out["torch_threads"] = torch.get_num_threads()
    return out


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _busy() -> tuple[float, float]:
    """(machine-wide busy CPU seconds, this process's CPU seconds) from /proc/stat and os.times."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    own = os.times()
    return (sum(fields[:3]) + sum(fields[5:7])) / hz, own.user + own.system


# ---- methods -------------------------------------------------------------------------------------


def numpy_sdpa(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """float32 numpy: S = scale Q K^T (batched BLAS), row softmax in place, O = P V."""
    s = np.matmul(q, np.swapaxes(k, -1, -2))
    s *= np.float32(scale)
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return np.matmul(s, v)


def timeit(
    calls: dict[str, Callable[[], Any]], repeats: int, settle_s: float | None = None
) -> dict[str, dict[str, Any]]:
    """Median and best wall seconds per call over `repeats` rounds that visit every method in turn.

    In each round a method gets one untimed call, then a pause of `settle_s`, then the timed call:
    the worker threads of OpenBLAS (about 2**28 cycles), OpenMP (torch) and Numba keep spinning for
    a while after a call and would otherwise take cores from whichever method runs next.
    """
    settle_s = SETTLE_S if settle_s is None else settle_s
    samples: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            call()
            time.sleep(settle_s)
            t0 = time.perf_counter()
            call()
            samples[key].append(time.perf_counter() - t0)
    return {
        key: {"seconds": statistics.median(v), "best_s": min(v), "samples_s": [round(x, 5) for x in v]}
        for key, v in samples.items()
    }


def pick_tiles(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float) -> tuple[tuple[int, int], dict]:
    """The fastest (block_m, block_n) of TILES for flash_f32 on these inputs."""
    fn = backends.get("numba-cpu").compile(flash_f32)
    o = np.zeros_like(q)
    lse = np.zeros(q.shape[:3], np.float32)
    calls = {
        f"{bm}x{bn}": (lambda bm=bm, bn=bn: fn(q, k, v, np.float32(scale), False, bm, bn, o, lse)) for bm, bn in TILES
    }
    for call in calls.values():
        call()
    timing = timeit(calls, 3)
    best = min(timing, key=lambda key: timing[key]["seconds"])
    return tuple(int(x) for x in best.split("x")), {key: t["seconds"] for key, t in timing.items()}


def dense_rows(sizes: list[int], repeats: int, peak: float, log: Callable[[str], None]) -> tuple[list, dict]:
    """Time every dense method at each N (after checking its output); the flash tiles come from a sweep."""
    rows: list[dict[str, Any]] = []
    tiles: tuple[int, int] | None = None
    sweep: dict[str, float] = {}
    for n in sizes:
        rng = np.random.default_rng(n)
        q, k, v = (rng.standard_normal((1, HEADS, n, DIM)).astype(np.float32) for _ in range(3))
        if tiles is None:
            tiles, sweep = pick_tiles(q, k, v, 1 / math.sqrt(DIM))
            log(f"tile sweep at N={n}: {sweep} -> {tiles}")
        rows += _dense_one(q, k, v, tiles, repeats, peak, log)
    return rows, {"tiles": list(tiles or ()), "sweep_seconds": sweep}


def _dense_one(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    tiles: tuple[int, int],
    repeats: int,
    peak: float,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    n = q.shape[2]
    fn = backends.get("numba-cpu").compile(flash_f32)
    torch = _torch()
    scale = 1 / math.sqrt(DIM)
    bm, bn = tiles
    o = np.zeros_like(q)
    lse = np.zeros(q.shape[:3], np.float32)
    calls: dict[str, Callable[[], Any]] = {
        "flash numba-cpu": lambda: fn(q, k, v, np.float32(scale), False, bm, bn, o, lse) or o,
        "sdpa() wrapper": lambda: sdpa(q, k, v, block_m=bm, block_n=bn),
        "numpy": lambda: numpy_sdpa(q, k, v, scale),
    }
    if torch:
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
        calls["torch sdpa"] = lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv).numpy()
    outs = {key: np.asarray(call()) for key, call in calls.items()}
    if n <= 2048:
        ref, _ = sdpa_reference(q, k, v)
        naive, _ = sdpa_reference(q, k, v, dtype=np.float32)
        base = max_error(naive, ref)
        checks = {key: max_error(x, ref) / max(base, 1e-30) for key, x in outs.items()}
        check_note = "error / naive float32 error vs float64"
        ok = all(c <= 2 + 1e-6 / max(base, 1e-30) for c in checks.values())
    else:
        checks = {key: max_error(x, outs["numpy"]) for key, x in outs.items()}
        check_note = "max |diff| vs numpy float32"
        ok = all(c < 1e-4 for c in checks.values())
    if not ok:
        raise AssertionError(f"N={n}: an output is wrong: {checks}")
    timing = timeit(calls, repeats)
    flops = 4 * n * n * DIM * HEADS
    rows = []
    for key, t in timing.items():
        gf = flops / t["seconds"] / 1e9
        rows.append(
            {
                "N": n,
                "method": key,
                "tiles": f"{bm}x{bn}" if "numba" in key or "wrapper" in key else "-",
                "seconds": t["seconds"],
                "best_s": t["best_s"],
                "gflops": round(gf, 2),
                "best_gflops": round(flops / t["best_s"] / 1e9, 2),
                "peak_fraction": round(gf / peak, 4),
                "check": round(checks[key], 8),
                "check_is": check_note,
                "samples_s": t["samples_s"],
            }
        )
        log(f"N={n} {key}: {t['seconds']:.4f} s, {gf:.1f} GFLOP/s")
    if not torch:
        rows.append(
            {
                "N": n,
                "method": "torch sdpa",
                "tiles": "-",
                "seconds": None,
                "gflops": None,
                "peak_fraction": None,
                "check": None,
                "check_is": "torch not installed",
                "samples_s": [],
            }
        )
    return rows


def sparse_rows(sizes: list[int], repeats: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Block-sparse flash at each density against dense flash, 64x64 tiles."""
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows += _sparse_one(n, repeats, log)
    return rows


def _sparse_one(n: int, repeats: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    be = backends.get("numba-cpu")
    dense = be.compile(flash_f32)
    sparse = be.compile(flash_sparse_f32)
    bm = bn = 64
    rng = np.random.default_rng(n + 1)
    q, k, v = (rng.standard_normal((1, HEADS, n, DIM)).astype(np.float32) for _ in range(3))
    scale = np.float32(1 / math.sqrt(DIM))
    nb = -(-n // bm)
    o = np.zeros_like(q)
    lse = np.zeros(q.shape[:3], np.float32)
    calls: dict[str, Callable[[], Any]] = {"dense": lambda: dense(q, k, v, scale, False, bm, bn, o, lse)}
    index = {}
    for density in DENSITIES:
        keep = max(1, round(density * nb))
        blocks = np.zeros((1, HEADS, nb, nb), dtype=bool)
        choice = np.argsort(rng.random((1, HEADS, nb, nb)), axis=-1)[..., :keep]
        np.put_along_axis(blocks, choice, True, axis=-1)
        counts, idx = block_index(blocks)
        index[density] = (keep / nb, counts, idx)
        calls[f"{density}"] = lambda c=counts, i=idx: sparse(q, k, v, c, i, scale, False, bm, bn, o, lse)
    # check one density against numpy float32 with the implied mask, head by head
    _, counts, idx = index[DENSITIES[1]]
    sparse(q, k, v, counts, idx, scale, False, bm, bn, o, lse)
    mask = block_mask(counts, idx, n, n, bm, bn)
    for h in range(HEADS):
        want, _ = sdpa_reference(
            q[:, h : h + 1], k[:, h : h + 1], v[:, h : h + 1], mask=mask[:, h : h + 1], dtype=np.float32
        )
        err = max_error(o[:, h : h + 1], want.astype(np.float64))
        if err > 1e-4:
            raise AssertionError(f"block-sparse N={n} head {h}: max |diff| {err} vs numpy")
    for call in calls.values():
        call()
    timing = timeit(calls, repeats)
    t_dense = timing["dense"]["seconds"]
    rows = []
    for density in DENSITIES:
        kept, counts, _ = index[density]
        t = timing[f"{density}"]["seconds"]
        speedup = t_dense / t
        rows.append(
            {
                "N": n,
                "density": density,
                "kept_fraction": round(kept, 4),
                "dense_s": t_dense,
                "sparse_s": t,
                "sparse_best_s": timing[f"{density}"]["best_s"],
                "dense_best_s": timing["dense"]["best_s"],
                "speedup": round(speedup, 2),
                "target": round(0.7 / kept, 2),
                "meets_target": bool(speedup >= 0.7 / kept),
                "samples_s": timing[f"{density}"]["samples_s"],
            }
        )
        log(
            f"sparse N={n} density {kept:.3f}: {t:.4f} s vs dense {t_dense:.4f} s, x{speedup:.2f} "
            f"(target x{0.7 / kept:.2f})"
        )
    return rows


# ---- report --------------------------------------------------------------------------------------


def table(dense: list[dict[str, Any]], sparse: list[dict[str, Any]], cpu: dict[str, Any]) -> str:
    lines = [
        f"dense SDPA, B=1 H={HEADS} d={DIM} float32, non-causal; peak {cpu['peak_gflops']} GFLOP/s "
        f"= {cpu['peak_formula']}",
        f"{'N':>6} {'method':<17} {'tiles':>7} {'median s':>9} {'GFLOP/s':>8} {'of peak':>8} {'best':>8}  check",
    ]
    for r in dense:
        if r["seconds"] is None:
            lines.append(f"{r['N']:>6} {r['method']:<17} {'-':>7} {'-':>9} {'-':>8} {'-':>8} {'-':>8}  {r['check_is']}")
            continue
        lines.append(
            f"{r['N']:>6} {r['method']:<17} {r['tiles']:>7} {r['seconds']:>9.4f} {r['gflops']:>8.1f} "
            f"{100 * r['peak_fraction']:>7.1f}% {r['best_gflops']:>8.1f}  {r['check']:.3g} ({r['check_is']})"
        )
    lines.append("")
    lines.append("block-sparse flash (64x64 tiles) vs dense flash, numba-cpu")
    lines.append("(median seconds; best-of speedup = best dense / best sparse)")
    lines.append(
        f"{'N':>6} {'density':>8} {'sparse s':>9} {'dense s':>9} {'speedup':>8} {'best-of':>8} {'target':>7}  meets"
    )
    for r in sparse:
        lines.append(
            f"{r['N']:>6} {r['kept_fraction']:>8.3f} {r['sparse_s']:>9.4f} {r['dense_s']:>9.4f} "
            f"{r['speedup']:>8.2f} {r['dense_best_s'] / r['sparse_best_s']:>8.2f} {r['target']:>7.2f}  "
            f"{'yes' if r['meets_target'] else 'NO'}"
        )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """Draw dense GFLOP/s against N per method, and the block-sparse speedup against density per N.

    The speedup panel has the target 0.7 / density and the ideal 1 / density dashed. `result` is the
    report `main` writes as JSON (loaded or not); returns the PNG's path.
    """
    cpu = result["cpu"]
    ns = sorted({r["N"] for r in result["dense"]})
    panels = [
        _plot.Panel(
            f"dense SDPA, B=1 H={HEADS} d={DIM} float32 (peak {cpu['peak_gflops']} GFLOP/s)",
            "N (queries = keys, log)",
            "GFLOP/s (4*N^2*d*H / median time)",
            _plot.series_by(result["dense"], lambda r: r["method"], "N", "gflops"),
            logx=True,
            xticks={n: str(n) for n in ns},
        )
    ]
    sparse = result["block_sparse"]
    if sparse:
        kept = [r["kept_fraction"] for r in sparse]
        series = _plot.series_by(sparse, lambda r: f"N = {r['N']}", "kept_fraction", "speedup")
        series += [
            _plot.ideal("target: 0.7 / density", kept, lambda d: 0.7 / d),
            _plot.ideal("ideal: 1 / density", kept, lambda d: 1 / d),
        ]
        panels.append(
            _plot.Panel(
                "block-sparse flash (64x64 tiles) vs dense flash, numba-cpu",
                "density (kept tiles, log)",
                "dense time / sparse time (log)",
                series,
                logx=True,
                logy=True,
                xticks={d: f"{d:.0%}" for d in sorted(set(kept))},
            )
        )
    versions = result["versions"]
    note = (
        f"{result['command']}; {result['date']}; {cpu['model']}, {cpu['cores']} cores; numba {versions['numba']}, "
        f"numpy {versions['numpy']}, torch: {versions['torch']}; other processes kept "
        f"{result['other_processes_cpus_avg']:.2f} CPUs busy"
    )
    return _plot.write_png(path, panels, "SDPA on this CPU", note)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 1024 only (dense and block-sparse)")
    ap.add_argument("--sizes", help="comma-separated dense sizes (default 1024,2048,4096,8192)")
    ap.add_argument("--sparse-sizes", help="comma-separated block-sparse sizes (default 4096,8192)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else [1024] if args.quick else SIZES
    sparse_sizes = (
        [int(x) for x in args.sparse_sizes.split(",")] if args.sparse_sizes else [1024] if args.quick else [4096, 8192]
    )
    cpu = cpu_info()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    log(f"{cpu['model']}: {cpu['peak_formula']} = {cpu['peak_gflops']} GFLOP/s float32 peak")
    busy0, own0, wall0 = *_busy(), time.monotonic()
    dense, tiles = dense_rows(sizes, args.repeats, cpu["peak_gflops"], log)
    sparse = sparse_rows(sparse_sizes, args.repeats, log)
    busy1, own1, wall1 = *_busy(), time.monotonic()
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_sdpa" + (" --quick" if args.quick else ""),
        "cpu": cpu,
        "versions": versions(),
        "other_processes_cpus_avg": round(others, 2),
        "loadavg": list(os.getloadavg()),
        "dense_tiles": tiles,
        "dense": dense,
        "block_sparse": sparse,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_sdpa.json").write_text(json.dumps(result, indent=1))
    log(f"wrote {out / 'bench_sdpa.json'}; other processes kept {others:.2f} CPUs busy on average")
    log(f"wrote {plot(result, out / 'bench_sdpa.png')}")
    print(table(dense, sparse, cpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
