"""Streaming SDPA on generated hardware: the naive order (O(N) FIFOs) against the reordered one (O(1) FIFOs).

    .venv/bin/python -m benchmarks.bench_streaming [--sizes 16 32 64] [--d 16] [--search-up-to 32] [--synth [N ...]]
                                                   [--out benchmarks/out/streaming]

For each N and each region of `algorithms/streaming.py` (one head, int8 inputs, D = DV = --d, the same inputs for
both regions at one N): the smallest FIFO depths by `hls.min_depths` on Verilator (for N up to --search-up-to;
larger N run at the declared depths), the total FIFO bits at those depths, the cycles of a Verilator run at them
(and at the declared depths), cycles / N^2 and cycles - N^2, the clock the region is scheduled for and the time
(cycles x clock), each FIFO's peak occupancy, whether the output equals `sdpa_fixed` (bit for bit for the
reordered region), the largest error against it and against float64 softmax of the same integer scores (in Q8.8
steps: the Q0.16 exponentials lose about N / 4 steps at large N), the smallest depth of the naive region's row
buffers at which it runs at all (below it: DeadlockError), and (--synth) Yosys synth_xilinx LUT/FF/DSP/BRAM of
the region at the depths found.
Writes `<out>/bench_streaming.json`, a table (stdout and `<out>/bench_streaming.md`) and `<out>/bench_streaming.png`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from algorithms import fixed, streaming
from benchmarks import _plot
from hls import DeadlockError, lower, min_depths

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512, 1024])
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--search-up-to", type=int, default=1024, help="run min_depths for N up to this")
    p.add_argument(
        "--synth",
        type=int,
        nargs="*",
        default=None,
        help="Yosys synth_xilinx figures at these N (all sizes when none is named; Yosys as WebAssembly takes "
        "minutes per design: the reordered region's DV dividers dominate)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "streaming")
    return p.parse_args(argv)


def inputs(n: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    q = rng.integers(-128, 128, (n, d), dtype=np.int8)
    k = rng.integers(-128, 128, (n, d), dtype=np.int8)
    v = rng.integers(-128, 128, (n, d), dtype=np.int8)
    return q, k, v, fixed.score_multiplier(1 / 32, 1 / 32, 1 / np.sqrt(d))


def smallest_buffer(n: int, d: int, args: tuple) -> int:
    """The smallest depth of the naive region's row buffers (both) at which it runs at all: one build with
    run-time FIFO limits, binary-searched."""
    q, k, v, mult = args
    design = lower(streaming.sdpa_naive, N=n, D=d, DV=d, fifo_limits=True)
    values = {"q": q, "k": k, "v": v, "score_mult": mult}
    lo, hi = 1, n + streaming.BUFFER_SLACK
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            design.simulate_verilator({**values, "o": np.zeros((n, d), np.int16)}, limits={"z_buf": mid, "e_buf": mid})
        except DeadlockError:
            lo = mid + 1
        else:
            hi = mid
    return hi


def float_reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, mult: int) -> np.ndarray:
    """The output in Q8.8 units as float64 softmax would give it from the same integer scores (z in Q.12 log2)."""
    z = ((q.astype(np.int64) @ k.astype(np.int64).T * mult) >> fixed.MULT_SHIFT) / 2**12
    p = 2.0 ** (z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ v.astype(np.float64) * 2**fixed.FO


def measure(name: str, n: int, d: int, search: bool, synth: bool, seed: int) -> dict[str, Any]:
    region = streaming.METHODS[name]
    q, k, v, mult = inputs(n, d, np.random.default_rng([seed, n]))  # both designs at one N: the same inputs
    ref = fixed.sdpa_fixed_int(q[None, None], k[None, None], v[None, None], mult, backend="numba-cpu")[0, 0]
    row: dict[str, Any] = {"design": name, "N": n, "D": d}
    t0 = time.perf_counter()
    depths = None
    if search:
        o = np.zeros((n, d), np.int16)
        depths = min_depths(region, q, k, v, mult, o, backend="verilator")
        row["min_depths"] = depths
        if name == "naive":
            row["smallest_row_buffer"] = smallest_buffer(n, d, (q, k, v, mult))
    row["search_s"] = time.perf_counter() - t0
    if search:  # the cycles at the declared depths, beside those at the smallest (1% slower at most)
        _, declared = streaming.run_head(region, q, k, v, mult, backend="verilator")
        row["cycles_declared"] = declared.cycles
    o, r = streaming.run_head(region, q, k, v, mult, backend="verilator", depths=depths)
    design = lower(region, N=n, D=d, DV=d, depths=depths)
    elem_bits = {f.name: (f.elem.width if hasattr(f.elem, "width") else 1) for f in design.net.fifos.values()}
    row["depths"] = {f: s.depth for f, s in r.fifos.items()}
    row["max_depth"] = max(row["depths"].values())
    row["fifo_bits"] = sum(s.depth * elem_bits[f] for f, s in r.fifos.items())
    row["peaks"] = {f: s.peak for f, s in r.fifos.items()}
    row["cycles"] = r.cycles
    row["cycles_per_n2"] = r.cycles / n**2
    row["cycles_over_n2"] = r.cycles - n**2
    row["clock_ns"] = design.report.processes[0][1].clock_ns
    row["time_us"] = r.cycles * row["clock_ns"] / 1000
    row["max_error_lsb"] = int(np.abs(o.astype(np.int64) - ref).max())
    row["max_error_vs_float64_lsb"] = float(np.abs(o - float_reference(q, k, v, mult)).max())
    row["equal_to_sdpa_fixed"] = bool((o == ref).all())
    row["pipelines"] = {pd.name: [(p.ii, p.depth) for p in pd.design.report.pipelines] for pd in design.procs}
    if synth:
        row["synthesis"] = design.synthesize()
    return row


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| design | N | depths (largest) | runs from (row buffers) | FIFO bits | cycles | cycles - N² "
        "| cycles - N² (declared depths) | cycles/N² "
        "| clock ns | time µs | = sdpa_fixed | err vs sdpa_fixed (LSB) | err vs float64 (LSB) | LUT | FF | DSP | BRAM "
        "| LUTRAM |"
    )
    lines = [head, "|" + "---|" * 19]
    for r in rows:
        syn = r.get("synthesis") or {}
        cells = [syn.get(x, "") for x in ("LUT", "FF", "DSP", "BRAM", "LUTRAM")]
        declared = r["cycles_declared"] - r["N"] ** 2 if "cycles_declared" in r else ""
        lines.append(
            f"| {r['design']} | {r['N']} | {r['max_depth']} | {r.get('smallest_row_buffer', '')} | {r['fifo_bits']} "
            f"| {r['cycles']} | {r['cycles_over_n2']} | {declared} "
            f"| {r['cycles_per_n2']:.3f} | {r['clock_ns']:g} "
            f"| {r['time_us']:.1f} | {r['equal_to_sdpa_fixed']} | {r['max_error_lsb']} "
            f"| {r['max_error_vs_float64_lsb']:.1f} | " + " | ".join(map(str, cells)) + " |"
        )
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> Path:
    rows = report["rows"]
    by = _plot.series_by
    panels = [
        _plot.Panel(
            "FIFO storage at the depths used",
            "N",
            "FIFO bits",
            by(rows, lambda r: r["design"], "N", "fifo_bits"),
            logx=True,
            logy=True,
        ),
        _plot.Panel(
            "Cycles per score", "N", "cycles / N²", by(rows, lambda r: r["design"], "N", "cycles_per_n2"), logx=True
        ),
    ]
    return _plot.write_png(path, panels, "Streaming SDPA on generated RTL (Verilator)", report["command"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    command = "python -m benchmarks.bench_streaming " + " ".join(sys.argv[1:] if argv is None else argv)
    report: dict[str, Any] = {
        "benchmark": "bench_streaming",
        "command": command.strip(),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "rows": [],
    }
    for n in args.sizes:
        for name in ("naive", "reordered"):
            synth = args.synth is not None and (not args.synth or n in args.synth)
            row = measure(name, n, args.d, n <= args.search_up_to, synth, args.seed)
            report["rows"].append(row)
            print(json.dumps({k: row[k] for k in ("design", "N", "max_depth", "cycles", "cycles_per_n2")}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_streaming.json").write_text(json.dumps(report, indent=1, default=str))
    text = table(report["rows"])
    (args.out / "bench_streaming.md").write_text(text + "\n")
    plot(report, args.out / "bench_streaming.png")
    print(text)
    return report


if __name__ == "__main__":
    main()
