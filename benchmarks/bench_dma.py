"""Benchmark Dynamic Mask Attention on numba-cpu: building the mask vs the fused attention it feeds.

    .venv/bin/python -m benchmarks.bench_dma [--out benchmarks/out] [--quick]

B = 1, H = Hkv = 4, d = 64, float32, causal, keep_window_size 256 and 512, at
N = 1024, 2048, 4096 (--quick: 512, 1024). Two zoh workloads: "random" (random
V and dt_proj: kept keys are scattered, so about every causal key tile is
live) and "clustered" (zoh follows a slow wave over the keys: kept keys form
runs, so most key tiles are skipped).

Per configuration, the best (least) time over several calls (at least 5, or
3 with --quick, and more while under 1 s; medians are in the JSON) of each
compiled numba-cpu kernel, called directly (no argument checks or copies): `zoh` (dma_zoh_f32),
`thr` (dma_topk_threshold), `flags` (dma_tile_flags), `attn` (flash_dma_fwd_f32
with tile skipping) and `attn_all` (the same kernel with every tile live).
`mask = thr + flags`; the ratio mask/attn is the figure the brief asks for.
`seed_mask` is the field's way for context: dense masked scores and a
per-row numpy top-k (np.argpartition) over [B, Hkv, N, N]. `e2e` is
flash_dma_attention end to end (argument checks included). Outputs are
checked against the float64 reference (`dma_reference`) for N <= 1024 before
timing. Compile time is excluded (one warm-up call). Writes
`<out>/bench_dma.json` and prints a table last.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import backends
from algorithms import dma

REPO = Path(__file__).resolve().parent.parent
SIZES = [1024, 2048, 4096]
QUICK_SIZES = [512, 1024]
KEEPS = [256, 512]
HEADS, HEAD_DIM = 4, 64


def machine() -> dict[str, Any]:
    """CPU model, usable cores, library versions and the date."""
    import numba

    model = "unknown"
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {
        "cpu_model": model,
        "usable_cpus": len(os.sched_getaffinity(0)),
        "numba_threads": numba.get_num_threads(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def sample_times(call: Callable[[], Any], repeats: int, budget_s: float) -> list[float]:
    """Seconds of single calls: at least `repeats`, more (up to 50) while under `budget_s` in all."""
    samples: list[float] = []
    while len(samples) < repeats or (sum(samples) < budget_s and len(samples) < 50):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return samples


def inputs(n: int, workload: str, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((1, n, HEADS, HEAD_DIM)).astype(np.float32) for _ in range(3))
    dt_proj = 0.3 * rng.standard_normal((HEADS, HEADS * HEAD_DIM))
    a_coef = -np.exp(rng.standard_normal(HEADS))
    if workload == "clustered":
        v[:, :, :, 0] = 4 * np.cos(np.arange(n) * 6 * np.pi / n)[None, :, None]
        dt_proj[:] = 0
        for g in range(HEADS):
            dt_proj[g, g * HEAD_DIM] = 1.0
    return q, k, v, dt_proj, a_coef


def seed_style_mask(zoh: np.ndarray, keep: int) -> np.ndarray:
    """The field's mask: per kv head a dense N x N zoh matrix, causal-masked to 0, then a per-row top-k."""
    n = zoh.shape[-1]
    causal = np.tril(np.ones((n, n), bool))
    mask = np.zeros(zoh.shape + (n,), bool)
    for b in range(zoh.shape[0]):
        for g in range(zoh.shape[1]):
            dense = np.where(causal, zoh[b, g][None, :].astype(np.float32), np.float32(0))
            top = np.argpartition(-dense, keep - 1, axis=-1)[:, :keep]
            np.put_along_axis(mask[b, g], top, True, axis=-1)
    return mask


def bench_one(n: int, keep: int, workload: str, repeats: int, with_seed: bool) -> dict[str, Any]:
    nb = backends.get("numba-cpu")
    f_zoh, f_thr = nb.compile(dma.dma_zoh_f32), nb.compile(dma.dma_topk_threshold)
    f_flags, f_attn = nb.compile(dma.dma_tile_flags), nb.compile(dma.flash_dma_fwd_f32)
    q, k, v, dt_proj, a_coef = inputs(n, workload)
    scale = 1.0 / np.sqrt(HEAD_DIM)
    zoh = dma.dma_zoh_values(v, dt_proj, a_coef)
    mask = dma.build_dma_mask(zoh, n, keep, True)
    verified = None
    if n <= 1024:
        out = dma.flash_dma_attention(q, k, v, dt_proj, a_coef, keep_window_size=keep, causal=True)
        ref, _ = dma.dma_reference(q, k, v, dt_proj, a_coef, keep_window_size=keep, causal=True)
        naive, _ = dma.dma_reference(
            q, k, v, dt_proj, a_coef, keep_window_size=keep, causal=True, compute_dtype=np.float32
        )
        err, bound = float(np.abs(out - ref).max()), 2 * float(np.abs(naive - ref).max()) + 1e-6
        if not err <= bound:
            raise AssertionError(f"N={n} keep={keep} {workload}: error {err:.2e} exceeds {bound:.2e}")
        verified = {"max_error": err, "bound": bound}
    all_live = np.ones_like(mask.live)
    out, lse = np.zeros_like(q), np.zeros((1, HEADS, n))
    zoh_out = np.zeros_like(zoh)
    thr, jcut, live = mask.thr.copy(), mask.jcut.copy(), mask.live.copy()
    calls = {
        "zoh": lambda: f_zoh(v, dt_proj, a_coef, zoh_out),
        "thr": lambda: f_thr(zoh, keep, True, thr, jcut),
        "flags": lambda: f_flags(zoh, thr, jcut, True, 64, 64, live),
        "attn": lambda: f_attn(q, k, v, zoh, thr, jcut, live, scale, True, 64, 64, out, lse),
        "attn_all": lambda: f_attn(q, k, v, zoh, thr, jcut, all_live, scale, True, 64, 64, out, lse),
        "e2e": lambda: dma.flash_dma_attention(q, k, v, dt_proj, a_coef, keep_window_size=keep, causal=True),
    }
    if with_seed:
        calls["seed_mask"] = lambda: seed_style_mask(zoh, keep)
    samples = {}
    for name, call in calls.items():
        call()  # warm-up (compiles on first use)
        samples[name] = sample_times(call, 1 if name == "seed_mask" else repeats, 0.0 if name == "seed_mask" else 1.0)
    times = {name: min(s) for name, s in samples.items()}
    times["mask"] = times["thr"] + times["flags"]
    medians = {name: statistics.median(s) for name, s in samples.items()}
    kept_pairs = int(mask.kept(zoh, True).sum()) if n <= 2048 else None
    return {
        "n": n,
        "keep": keep,
        "workload": workload,
        "seconds": times,
        "median_seconds": medians,
        "samples": {name: len(s) for name, s in samples.items()},
        "live_fraction": float(mask.live.mean()),
        "kept_pairs": kept_pairs,
        "mask_over_attn": times["mask"] / times["attn"],
        "zoh_and_mask_over_attn": (times["zoh"] + times["mask"]) / times["attn"],
        "verified": verified,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| N | keep | workload | live tiles | zoh ms | mask ms (thr + flags) | attn ms | mask / attn "
        "| (zoh+mask) / attn | attn, no skip ms | end to end ms | seed-style mask ms |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        t = {k: v * 1e3 for k, v in r["seconds"].items()}
        seed = f"{t['seed_mask']:.0f}" if "seed_mask" in t else "-"
        lines.append(
            f"| {r['n']} | {r['keep']} | {r['workload']} | {r['live_fraction']:.2f} | {t['zoh']:.2f} | "
            f"{t['mask']:.2f} ({t['thr']:.2f} + {t['flags']:.2f}) | {t['attn']:.1f} | "
            f"{r['mask_over_attn']:.3f} | {r['zoh_and_mask_over_attn']:.3f} | {t['attn_all']:.1f} | "
            f"{t['e2e']:.1f} | {seed} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write the JSON, print the table; return the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "out"), help="folder for bench_dma.json")
    p.add_argument("--quick", action="store_true", help="N = 512, 1024 and fewer repeats")
    p.add_argument("--threads", type=int, default=None, help="numba threads (default: all usable cores)")
    args = p.parse_args(argv)
    if args.threads is not None:
        import numba

        numba.set_num_threads(args.threads)
    sizes, repeats = (QUICK_SIZES, 3) if args.quick else (SIZES, 5)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    rows = []
    for n in sizes:
        for keep in KEEPS:
            for workload in ("random", "clustered"):
                print(f"N={n} keep={keep} {workload} ...", file=sys.stderr, flush=True)
                rows.append(bench_one(n, keep, workload, repeats, with_seed=workload == "random"))
    report = {
        "benchmark": "bench_dma",
        "command": " ".join(
            [".venv/bin/python -m benchmarks.bench_dma"] + (argv if argv is not None else sys.argv[1:])
        ),
        "config": {
            "batch": 1,
            "heads": HEADS,
            "kv_heads": HEADS,
            "head_dim": HEAD_DIM,
            "dtype": "float32",
            "causal": True,
            "block_m": 64,
            "block_n": 64,
            "repeats": repeats,
        },
        "machine": machine(),
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()},
        "rows": rows,
        "elapsed_s": time.perf_counter() - t0,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_dma.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'bench_dma.json'} ({report['elapsed_s']:.1f} s)", file=sys.stderr)
    print(table(rows))
    return report


if __name__ == "__main__":
    main()
