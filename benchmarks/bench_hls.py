"""Benchmark the HLS compiler's QK and detector units: simulated cycles (Verilator), Yosys area, lowering time.

    .venv/bin/python -m benchmarks.bench_hls [--quick] [--out benchmarks/out/hls] [--no-synth]

QK unit at (BLOCK_M, BLOCK_N, D) = (64, 64, 64) and the seed's (8, 8, 16): `qk_dense`, and for each
MInference pattern of `algorithms.masks` at several densities the COO form `qk_coo_values` (one
pipelined loop over the kept scores), the pointer-chasing CSR form `qk_csr_values`, and one
mask-aware `qk_masked` row per size. Detector: `detect_vs_accumulate` over last_q x N sampled scores.

Every design is lowered with `hls.lower`, all are built in one Verilator batch, simulated on seeded
random int8 (int32 for the detector) inputs, and every result is checked equal to the numpy reference
before its cycles are recorded. Yosys `synth_xilinx` counts (LUT, FF, DSP, BRAM) for the dense, COO and
CSR units unless --no-synth. Writes `<out>/bench_hls.json` and prints a table last.
"""

from __future__ import annotations

import argparse
import json
import operator
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from algorithms import detect, masks, qk
from algorithms.csr import RowCSR
from benchmarks import _plot
from hls.compiler import Design
from hls.compiler import lower as hls_lower

REPO = Path(__file__).resolve().parent.parent
SIZES = [(64, 64, 64), (8, 8, 16)]
QUICK_SIZES = [(8, 8, 16)]
DENSITIES = [0.05, 0.15, 0.30, 0.50]
QUICK_DENSITIES = [0.30]
DETECT = [(16, 256), (16, 1024), (16, 4096), (64, 256), (64, 1024), (64, 4096)]
QUICK_DETECT = [(4, 32)]
PATTERNS = ("a_shape", "tri_shape", "vertical_slash", "grid")


# ---- masks ---------------------------------------------------------------------------------------


def _candidates(pattern: str, nq: int, nk: int) -> list[tuple[dict[str, Any], np.ndarray]]:
    """Parameter choices of `pattern` at nq x nk, each with its mask (the densities to pick from)."""
    s = max(nq, nk)
    out: list[tuple[dict[str, Any], np.ndarray]] = []
    if pattern == "a_shape":
        for n_init in sorted({1, max(1, s // 16), max(1, s // 8)}):
            for n_local in range(1, nk + 1):
                out.append(({"n_init": n_init, "n_local": n_local}, masks.a_shape_mask(nq, nk, n_init, n_local)))
    elif pattern == "tri_shape":
        for n_last in sorted({1, max(1, nq // 16), max(1, nq // 8)}):
            for n_local in range(1, nk + 1):
                p = {"n_init": max(1, s // 16), "n_local": n_local, "n_last": n_last}
                out.append((p, masks.tri_shape_mask(nq, nk, **p)))
    elif pattern == "vertical_slash":
        for nv in range(0, nk + 1, max(1, nk // 16)):
            for ns in range(0, nk + 1, max(1, nk // 16)):
                if nv + ns == 0:
                    continue
                verticals = [int(x) for x in np.arange(nv) * nk // max(nv, 1)]
                p = {"verticals": verticals, "slashes": list(range(ns))}
                out.append((p, masks.vertical_slash_mask(nq, nk, verticals, range(ns))))
    elif pattern == "grid":
        for stride in range(1, s + 1):
            p = {"stride": stride, "phase_q": 0, "phase_k": 0, "causal": True}
            out.append((p, masks.grid_mask(nq, nk, **p)))
    else:
        raise ValueError(pattern)
    return out


def pattern_masks(pattern: str, nq: int, nk: int, targets: list[float]) -> list[tuple[float, dict, np.ndarray]]:
    """For each target density, the candidate mask of `pattern` whose density is closest (duplicates dropped)."""
    cands = [(p, m, float(m.mean())) for p, m in _candidates(pattern, nq, nk) if m.any()]
    picked: list[tuple[float, dict, np.ndarray]] = []
    seen: set[bytes] = set()
    for t in targets:
        p, m, _ = min(cands, key=lambda c: (abs(c[2] - t), c[2]))
        key = np.packbits(m).tobytes()
        if key not in seen:
            seen.add(key)
            picked.append((t, p, m))
    return picked


def _short(params: dict[str, Any]) -> str:
    """Mask parameters in a few characters for the table."""
    if "verticals" in params:
        return f"v={len(params['verticals'])} s={len(params['slashes'])}"
    if "stride" in params:
        return f"stride={params['stride']}"
    return " ".join(f"{k.replace('n_', '')}={v}" for k, v in params.items())


# ---- cases ---------------------------------------------------------------------------------------


@dataclass
class Case:
    """One design to lower, simulate and verify."""

    unit: str  # qk | detect
    kernel: Any
    dims: dict[str, int]
    values: Callable[[], dict[str, Any]]  # fresh arguments by parameter name
    check: Callable[[dict[str, Any]], bool]  # the simulated arguments equal the numpy reference?
    info: dict[str, Any] = field(default_factory=dict)
    design: Design | None = None
    row: dict[str, Any] = field(default_factory=dict)


def qk_cases(size: tuple[int, int, int], targets: list[float], rng: np.random.Generator) -> list[Case]:
    m, n, d = size
    q = rng.integers(-128, 128, (m, d), dtype=np.int8)
    k = rng.integers(-128, 128, (n, d), dtype=np.int8)
    dense_ref = qk.qk_reference(q, k)
    base = {"size": f"{m}x{n}x{d}", "M": m, "N": n, "D": d}
    cases = [
        Case(
            "qk",
            qk.qk_dense,
            {"M": m, "N": n, "D": d},
            lambda: {"q": q, "k": k, "s": np.full((m, n), 0x5A5A5A5A, np.int32)},
            lambda v: np.array_equal(v["s"], dense_ref),
            {**base, "kernel": "qk_dense", "pattern": "dense", "density": 1.0, "nnz": m * n},
        )
    ]
    masked_done = False
    for pattern in PATTERNS:
        for target, params, mask in pattern_masks(pattern, m, n, targets):
            csr = RowCSR.from_mask(mask)
            nnz = csr.nnz
            rows, cols = qk.csr_rows(csr.indptr), csr.indices.astype(np.int32)
            indptr = csr.indptr.astype(np.int32)
            ref = qk.qk_csr_values_reference(q, k, indptr, cols)
            info = {
                **base,
                "pattern": pattern,
                "params": params,
                "params_short": _short(params),
                "target_density": target,
                "density": nnz / (m * n),
                "nnz": nnz,
            }

            def fresh(nnz: int = nnz) -> np.ndarray:
                return np.full(nnz, 0x5A5A5A5A, np.int32)

            cases.append(
                Case(
                    "qk",
                    qk.qk_coo_values,
                    {"M": m, "N": n, "D": d, "E": nnz},
                    lambda rows=rows, cols=cols, fresh=fresh: {
                        "q": q,
                        "k": k,
                        "rows": rows.copy(),
                        "cols": cols.copy(),
                        "values": fresh(),
                    },
                    lambda v, ref=ref: np.array_equal(v["values"], ref),
                    {**info, "kernel": "qk_coo_values"},
                )
            )
            cases.append(
                Case(
                    "qk",
                    qk.qk_csr_values,
                    {"M": m, "N": n, "D": d, "R": m + 1, "E": nnz},
                    lambda indptr=indptr, cols=cols, fresh=fresh: {
                        "q": q,
                        "k": k,
                        "indptr": indptr.copy(),
                        "indices": cols.copy(),
                        "values": fresh(),
                    },
                    lambda v, ref=ref: np.array_equal(v["values"], ref),
                    {**info, "kernel": "qk_csr_values"},
                )
            )
            if pattern == "vertical_slash" and not masked_done and target >= 0.3:
                masked_done = True
                mref = qk.qk_reference(q, k, mask)
                cases.append(
                    Case(
                        "qk",
                        qk.qk_masked,
                        {"M": m, "N": n, "D": d},
                        lambda mask=mask: {
                            "q": q,
                            "k": k,
                            "mask": mask.copy(),
                            "s": np.full((m, n), 0x5A5A5A5A, np.int32),
                        },
                        lambda v, mref=mref: np.array_equal(v["s"], mref),
                        {**info, "kernel": "qk_masked"},
                    )
                )
    return cases


def detect_cases(shapes: list[tuple[int, int]], rng: np.random.Generator) -> list[Case]:
    cases = []
    for last_q, n in shapes:
        scores = rng.integers(-(2**31), 2**31, (last_q, n), dtype=np.int64).astype(np.int32)
        col, diag = detect.detect_vs_reference(scores)
        cases.append(
            Case(
                "detect",
                detect.detect_vs_accumulate,
                {"L": last_q, "N": n},
                lambda scores=scores, n=n: {
                    "scores": scores,
                    "col_acc": np.full(n, 0x5A5A5A5A, np.int64),
                    "diag_acc": np.full(n, 0x5A5A5A5A, np.int64),
                },
                lambda v, col=col, diag=diag: np.array_equal(v["col_acc"], col) and np.array_equal(v["diag_acc"], diag),
                {"kernel": "detect_vs_accumulate", "last_q": last_q, "N": n, "work": last_q * n},
            )
        )
    return cases


# ---- measuring -----------------------------------------------------------------------------------


def lower_case(c: Case) -> None:
    """Lower `c` (timing hls.lower and the Verilog conversion separately) and record its report."""
    t0 = time.perf_counter()
    c.design = hls_lower(c.kernel, **c.dims)
    t1 = time.perf_counter()
    _ = c.design.verilog
    t2 = time.perf_counter()
    rep = c.design.report
    c.row.update(c.info)
    c.row.update(
        {
            "dims": c.dims,
            "lower_s": t1 - t0,
            "verilog_s": t2 - t1,
            "latency": str(rep.latency),
            "latency_lo": rep.latency.lo,
            "latency_hi": rep.latency.hi,
            "pipelines": [
                {
                    "line": p.line,
                    "var": p.var,
                    "ii_asked": p.ii_asked,
                    "ii": p.ii,
                    "depth": p.depth,
                    "flattened": p.flattened,
                    "reason": p.reason,
                }
                for p in rep.pipelines
            ],
            "operators": dict(rep.operators),
            "registers": rep.registers,
            "register_bits": rep.register_bits,
            "report": str(rep),
        }
    )


def simulate_case(c: Case) -> None:
    values = c.values()
    t0 = time.perf_counter()
    _, cycles = c.design.simulate_verilator(values)
    c.row["sim_s"] = time.perf_counter() - t0
    c.row["cycles"] = int(cycles)
    c.row["verified"] = bool(c.check(values))


def add_targets(rows: list[dict[str, Any]]) -> None:
    """Speedups against dense and the issue's cycle targets, per QK row."""
    dense = {r["size"]: r["cycles"] for r in rows if r.get("kernel") == "qk_dense"}
    for r in rows:
        if "size" not in r:
            continue
        m, n = r["M"], r["N"]
        r["speedup"] = dense[r["size"]] / r["cycles"]
        r["cycles_per_nnz"] = r["cycles"] / r["nnz"]
        r["speedup_x_density"] = r["speedup"] * r["density"]
        if r["kernel"] == "qk_dense":
            r["target"] = m * n + 64
        elif r["kernel"] in ("qk_coo_values", "qk_csr_values"):
            r["target"] = r["nnz"] + m + 64
        else:
            r["target"] = None
        r["target_held"] = None if r["target"] is None else r["cycles"] <= r["target"]


def synthesize(cases: list[Case], timeout: float) -> list[dict[str, Any]]:
    """Yosys synth_xilinx of the dense unit and one COO and one CSR unit per size (cached by content; timed)."""
    from hls.tools import yosys

    out = []
    picks: dict[tuple[str, str], Case] = {}
    for c in cases:
        if c.unit != "qk" or c.row["kernel"] not in ("qk_dense", "qk_coo_values", "qk_csr_values"):
            continue
        key = (c.row["size"], c.row["kernel"])
        best = picks.get(key)
        if best is None or abs(c.row["density"] - 0.3) < abs(best.row["density"] - 0.3):
            picks[key] = c
    for (size, kernel), c in sorted(picks.items(), key=lambda kv: (kv[0][0].count("64") == 0, kv[0])):
        row: dict[str, Any] = {"size": size, "kernel": kernel, "dims": c.dims}
        t0 = time.perf_counter()
        try:
            res = yosys.synth_xilinx(c.design.verilog, c.design.top, timeout=timeout)
            row.update({key: res[key] for key in ("LUT", "FF", "DSP", "BRAM", "LUTRAM", "CARRY")})
            row["cells"] = res["cells"]
        except subprocess.TimeoutExpired:
            row["error"] = f"timed out after {timeout:.0f} s"
        except Exception as err:  # noqa: BLE001 - reported, not hidden
            row["error"] = f"{type(err).__name__}: {err}"[:2000]
        row["seconds"] = time.perf_counter() - t0
        print(f"synth {size} {kernel}: {row.get('error') or 'ok'} ({row['seconds']:.1f} s)", file=sys.stderr)
        out.append(row)
    return out


def lanes(size: tuple[int, int, int], ps: list[int], synth: list[int], seed: int) -> list[dict[str, Any]]:
    """The dense QK unit with P lanes (qk_dense_lanes): cycles on Verilator against M * N / P, checked against
    numpy, and Yosys synth_xilinx LUT/FF/DSP for the P in `synth` (issue #14, part 2)."""
    from hls.tools import yosys

    m, n, d = size
    rng = np.random.default_rng(seed)
    rows = []
    for p in ps:
        design = hls_lower(qk.qk_dense_lanes(p), M=m, N=n, D=d)
        q = rng.integers(-128, 128, (m, d)).astype(np.int8)
        k = rng.integers(-128, 128, (n, d)).astype(np.int8)
        s = np.zeros((m, n), np.int32)
        _, cycles = design.simulate_verilator({"q": q, "k": k, "s": s})
        rep = design.report
        row: dict[str, Any] = {
            "P": p,
            "size": f"{m}x{n}x{d}",
            "cycles": int(cycles),
            "ideal": m * n // p,
            "over_ideal": int(cycles) - m * n // p,
            "ii": [pp.ii for pp in rep.pipelines],
            "banks": {mem.name: mem.banks for mem in rep.memories},
            "verified": bool(np.array_equal(s, qk.qk_reference(q, k))),
        }
        if p in synth:
            res = yosys.synth_xilinx(design.verilog, design.top)
            row.update({key: res[key] for key in ("LUT", "FF", "DSP")})
        print(f"lanes P={p}: {row}", file=sys.stderr)
        rows.append(row)
    return rows


def machine_info() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    import os

    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain")),
        "loadavg_start": load,
    }


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_hls", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "hls"), help="folder for bench_hls.json")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the 8x8x16 unit at one density per pattern, one tiny detector (smoke test)",
    )
    p.add_argument("--no-synth", action="store_true", help="skip Yosys")
    p.add_argument("--synth-timeout", type=float, default=600.0, help="seconds per Yosys run (default 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--lanes",
        metavar="MxNxD",
        help="only the dense unit with P = 1, 2, 4, 8 lanes at this size (cycles; Yosys for --lanes-synth P's)",
    )
    p.add_argument("--lanes-synth", default="", help="comma-separated P's to synthesize with --lanes (slow)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.lanes:
        m, n, d = (int(x) for x in args.lanes.split("x"))
        synth = [int(x) for x in args.lanes_synth.split(",") if x]
        rows = lanes((m, n, d), [1, 2, 4, 8], synth, args.seed)
        print(json.dumps(rows, indent=1))
        return {"benchmark": "bench_hls", "lanes": rows}
    rng = np.random.default_rng(args.seed)
    sizes, targets = (QUICK_SIZES, QUICK_DENSITIES) if args.quick else (SIZES, DENSITIES)
    cases = [c for size in sizes for c in qk_cases(size, targets, rng)]
    cases += detect_cases(QUICK_DETECT if args.quick else DETECT, rng)
    command = "python -m benchmarks.bench_hls" + (
        "" if argv is None and len(sys.argv) <= 1 else " " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    report: dict[str, Any] = {
        "benchmark": "bench_hls",
        "command": command,
        "quick": args.quick,
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "seed": args.seed,
    }

    t0 = time.perf_counter()
    for c in cases:
        lower_case(c)
    report["lower_all_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    Design.build_verilator_many([c.design for c in cases])
    report["verilator_build_s"] = time.perf_counter() - t0
    report["designs"] = len(cases)
    t0 = time.perf_counter()
    for c in cases:
        simulate_case(c)
    report["simulate_all_s"] = time.perf_counter() - t0

    qk_rows = [c.row for c in cases if c.unit == "qk"]
    add_targets(qk_rows)
    det_rows = [c.row for c in cases if c.unit == "detect"]
    for r in det_rows:
        r["cycles_per_score"] = r["cycles"] / r["work"]
    report["qk"] = qk_rows
    report["detect"] = det_rows
    report["synthesis"] = [] if args.no_synth else synthesize(cases, args.synth_timeout)
    report["all_verified"] = all(c.row["verified"] for c in cases)
    report["elapsed_s"] = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_hls.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out / 'bench_hls.json'} ({report['elapsed_s']:.1f} s)", file=sys.stderr)
    print(f"wrote {plot(report, out / 'bench_hls.png')}", file=sys.stderr)
    print(format_table(report))
    return report


def plot(report: dict[str, Any], path: str | Path) -> Path:
    """Draw, per QK size, the speedup over qk_dense against density, and the cycles of the units against N.

    Speedup panels: one line per sparse form and pattern, and the ideal 1 / density (every cycle a kept
    score). Cycles panel: qk_dense (M = N) and the detector per last_q, with one score per cycle dashed.
    `report` is what `main` returns (or its JSON, loaded); returns the PNG's path.
    """
    qk_rows, det_rows = report["qk"], report["detect"]
    panels = []
    percent = {d: f"{d:.0%}" for d in (0.05, 0.1, 0.2, 0.3, 0.5, 1.0)}
    for size in dict.fromkeys(r["size"] for r in qk_rows):
        rows = [r for r in qk_rows if r["size"] == size and r["kernel"] != "qk_dense"]
        series = _plot.series_by(rows, lambda r: f"{r['kernel']} {r['pattern']}", "density", "speedup")
        series.append(_plot.ideal("ideal: 1 / density", [r["density"] for r in rows] + [1.0], lambda d: 1 / d))
        panels.append(
            _plot.Panel(
                f"QK unit {size}: speedup over qk_dense (Verilator cycles)",
                "density (kept / M*N, log)",
                "dense cycles / cycles (log)",
                series,
                logx=True,
                logy=True,
                xticks=percent,
            )
        )
    dense = [{**r, "what": "qk_dense (M = N)"} for r in qk_rows if r["kernel"] == "qk_dense"]
    det = [{**r, "what": f"detect_vs_accumulate, last_q = {r['last_q']}"} for r in det_rows]
    series = _plot.series_by(dense + det, lambda r: r["what"], "N", "cycles")
    ns = sorted({r["N"] for r in dense + det})
    series.append(_plot.ideal("one score per cycle: M*N", ns, lambda n: n * n))
    for last_q in sorted({r["last_q"] for r in det}):
        series.append(_plot.ideal(f"one score per cycle: {last_q}*N", ns, partial(operator.mul, last_q)))
    panels.append(
        _plot.Panel(
            "cycles against N (Verilator)",
            "N (keys, log)",
            "cycles (log)",
            series,
            logx=True,
            logy=True,
            xticks={n: str(n) for n in ns},
        )
    )
    note = (
        f"{report['command']}; {report['date_utc']}; {report['machine']['cpu_model']}; every result verified "
        f"against numpy: {report['all_verified']}"
    )
    return _plot.write_png(path, panels, "HLS units: simulated hardware cycles", note)


def _lat(r: dict[str, Any]) -> str:
    """The report's latency: exact cycles, or its lower bound for a data-dependent trip count."""
    lo, hi = r["latency_lo"], r["latency_hi"]
    return str(lo) if lo == hi else f">={lo}"


def _yn(x: bool | None) -> str:
    return "-" if x is None else "yes" if x else "NO"


def format_table(report: dict[str, Any]) -> str:
    lines = [
        "QK unit (Verilator cycles; report = Design.report latency; speedup = dense cycles / cycles; "
        "target: dense <= M*N+64, sparse <= nnz+M+64)",
        f"{'size':<9} {'kernel':<14} {'pattern':<15} {'params':<22} {'dens':>5} {'nnz':>5} {'cycles':>6} "
        f"{'report':>6} {'cyc/nnz':>7} {'speedup':>7} {'sp*dens':>7} {'target':>6} {'held':>4} {'II':>3} "
        f"{'depth':>5} {'ok':>3}",
    ]
    for r in report["qk"]:
        p = r["pipelines"][0] if r["pipelines"] else {}
        lines.append(
            f"{r['size']:<9} {r['kernel']:<14} {r['pattern']:<15} {r.get('params_short', '-'):<22} "
            f"{r['density']:>5.3f} {r['nnz']:>5} {r['cycles']:>6} {_lat(r):>6} {r['cycles_per_nnz']:>7.2f} "
            f"{r['speedup']:>7.2f} {r['speedup_x_density']:>7.2f} {r['target'] if r['target'] is not None else '-':>6} "
            f"{_yn(r['target_held']):>4} {p.get('ii', '-'):>3} {p.get('depth', '-'):>5} {_yn(r['verified']):>3}"
        )
    lines += [
        "",
        "Detector detect_vs_accumulate (Verilator cycles)",
        f"{'last_q':>6} {'N':>5} {'last_q*N':>8} {'cycles':>7} {'report':>7} {'cyc/score':>9} {'II':>3} {'ok':>3}",
    ]
    for r in report["detect"]:
        ii = ",".join(str(p["ii"]) for p in r["pipelines"]) or "-"
        lines.append(
            f"{r['last_q']:>6} {r['N']:>5} {r['work']:>8} {r['cycles']:>7} {_lat(r):>7} "
            f"{r['cycles_per_score']:>9.3f} {ii:>3} {_yn(r['verified']):>3}"
        )
    if report["synthesis"]:
        lines += [
            "",
            "Yosys synth_xilinx",
            f"{'size':<9} {'kernel':<14} {'LUT':>6} {'FF':>6} {'DSP':>4} {'BRAM':>4} {'CARRY':>5} {'seconds':>7}",
        ]
        for s in report["synthesis"]:
            if "error" in s:
                lines.append(f"{s['size']:<9} {s['kernel']:<14} {s['error'][:60]} ({s['seconds']:.0f} s)")
            else:
                lines.append(
                    f"{s['size']:<9} {s['kernel']:<14} {s['LUT']:>6} {s['FF']:>6} {s['DSP']:>4} "
                    f"{s['BRAM']:>4} {s['CARRY']:>5} {s['seconds']:>7.1f}"
                )
    lines += [
        "",
        "Lowering (seconds, max over the designs of each kernel and size)",
        f"{'size':<9} {'kernel':<20} {'hls.lower':>9} {'.verilog':>8}",
    ]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in report["qk"] + report["detect"]:
        size = r.get("size") or f"L{r['last_q']}xN{r['N']}"
        groups.setdefault((size, r["kernel"]), []).append(r)
    for (size, kernel), rs in groups.items():
        lines.append(
            f"{size:<9} {kernel:<20} {max(r['lower_s'] for r in rs):>9.2f} {max(r['verilog_s'] for r in rs):>8.2f}"
        )
    lines += [
        "",
        f"{report['designs']} designs; lower+verilog {report['lower_all_s']:.1f} s, one Verilator batch "
        f"build {report['verilator_build_s']:.1f} s, simulate {report['simulate_all_s']:.1f} s; "
        f"all results verified against numpy: {report['all_verified']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
