"""Benchmark the integer QK kernels: python vs numba-cpu vs numpy, side by side.

    .venv/bin/python -m benchmarks.bench_qk [--out benchmarks/out] [--quick]

Every method gets the same inputs (full-range random int8 from a fixed seed)
and its result is checked against numpy's before it is timed. Times are the
median of several samples (time.perf_counter); a sample of a fast call times a
batch of calls and divides. The one-time Numba compile is measured separately
(first call after compile(), in a fresh cache directory unless --keep-cache).
`run` rows go through `backends.run(...)` (argument checks, output copies);
`raw` rows call the compiled function with the arrays directly.

Writes `<out>/bench_qk.json` (all raw figures and machine info) and prints a
table last.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import backends
from algorithms.qk import qk_dense, qk_masked, qk_reference
from benchmarks import _plot
from hls.strategies import random_arguments

REPO = Path(__file__).resolve().parent.parent
SIZES = [(64, 64, 16), (256, 256, 64), (1024, 1024, 64), (2048, 2048, 128)]
QUICK_SIZES = [(64, 64, 16), (256, 256, 64)]
SENTINEL = 0x5A5A5A5A  # written into output arrays before each verification run
MASK_DENSITY = 0.5


# ---- machine -------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, cores, library versions and the date, for the JSON and RESULTS.md."""
    import llvmlite
    import numba

    cpu: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu cores", "siblings", "cpu MHz", "cache size", "flags") and key not in cpu:
                cpu[key] = value.strip()
    except OSError:
        pass
    flags = cpu.get("flags", "").split()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = os.cpu_count()
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas_name = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        blas_name = "unknown"
    return {
        "cpu_model": cpu.get("model name") or platform.processor() or "unknown",
        "cpu_mhz": cpu.get("cpu MHz"),
        "cache_size": cpu.get("cache size"),
        "cores_cpuinfo": cpu.get("cpu cores"),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "simd_flags": sorted(f for f in flags if f.startswith(("avx", "fma", "sse4")) or "vnni" in f),
        "numba_threads": numba.get_num_threads(),
        "numba_version": numba.__version__,
        "llvmlite_version": llvmlite.__version__,
        "numpy_version": np.__version__,
        "numpy_blas": blas_name,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
    }


def _loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _cpu_counters() -> dict[str, float] | None:
    """Machine-wide busy and steal CPU seconds (/proc/stat), this process's CPU seconds, and the clock."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    own = os.times()
    return {
        "busy_s": (user + nice + system + irq + softirq) / hz,
        "steal_s": steal / hz,
        "own_s": own.user + own.system + own.children_user + own.children_system,
        "wall_s": time.monotonic(),
    }


def _other_work(a: dict[str, float] | None, b: dict[str, float] | None) -> dict[str, float] | None:
    """How many CPUs other processes (and the hypervisor, as steal) kept busy on average during the run."""
    if not a or not b or b["wall_s"] <= a["wall_s"]:
        return None
    wall = b["wall_s"] - a["wall_s"]
    others = max(0.0, (b["busy_s"] - a["busy_s"]) - (b["own_s"] - a["own_s"]))
    steal = (b["steal_s"] - a["steal_s"]) / wall
    return {
        "other_processes_cpus": round(others / wall, 2),
        "steal_cpus": round(steal, 2),
        "own_cpus": round((b["own_s"] - a["own_s"]) / wall, 2),
        "wall_s": round(wall, 1),
    }


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# ---- timing --------------------------------------------------------------------------------------


def time_round_robin(
    calls: dict[str, Callable[[], Any]], first_s: dict[str, float], repeats: int, min_sample_s: float
) -> dict[str, dict[str, Any]]:
    """Median seconds per call for each of `calls`, sampled in turn so that drift in machine load hits all alike.

    Each sample of a call lasts at least about `min_sample_s` (fast calls are repeated and divided).
    """
    inner = {key: max(1, min(10_000, math.ceil(min_sample_s / max(first_s[key], 1e-9)))) for key in calls}
    samples: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            t0 = time.perf_counter()
            for _ in range(inner[key]):
                call()
            samples[key].append((time.perf_counter() - t0) / inner[key])
    return {
        key: {"seconds": statistics.median(v), "samples_s": v, "calls_per_sample": inner[key]}
        for key, v in samples.items()
    }


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = call()
    return time.perf_counter() - t0, out


# ---- methods -------------------------------------------------------------------------------------


@dataclass
class Method:
    key: str  # unique per size, e.g. "numba-cpu/run"
    kernel: str  # qk_dense | qk_masked
    backend: str  # numpy | numpy-f32-blas | python | numba-cpu
    path: str  # run | raw | "-"
    call: Callable[[], np.ndarray]
    out: np.ndarray | None  # array the kernel writes (filled with SENTINEL before verifying)
    expected: np.ndarray


def make_methods(
    q: np.ndarray, k: np.ndarray, mask: np.ndarray, s: np.ndarray, ref: np.ndarray, ref_masked: np.ndarray
) -> list[Method]:
    py = backends.get("python").compile(qk_dense)
    nb = backends.get("numba-cpu").compile(qk_dense)
    nbm = backends.get("numba-cpu").compile(qk_masked)
    s = {key: s.copy() for key in ("py-run", "py-raw", "nb-run", "nb-raw", "nbm-run", "nbm-raw")}

    def kernel_call(fn: Callable[..., Any], *args: Any) -> Callable[[], np.ndarray]:
        out = args[-1]

        def call() -> np.ndarray:
            fn(*args)
            return out

        return call

    def user_call(kernel: Any, backend: str, *args: Any) -> Callable[[], np.ndarray]:
        out = args[-1]

        def call() -> np.ndarray:
            backends.run(kernel, *args, backend=backend)
            return out

        return call

    methods = [
        Method("numpy", "qk_dense", "numpy", "-", lambda: q.astype(np.int32) @ k.astype(np.int32).T, None, ref),
    ]
    if q.shape[1] <= 1024:  # |partial sums| <= 2**14 * D <= 2**24: float32 is exact
        methods.append(
            Method(
                "numpy-f32-blas",
                "qk_dense",
                "numpy-f32-blas",
                "-",
                lambda: (q.astype(np.float32) @ k.astype(np.float32).T).astype(np.int32),
                None,
                ref,
            )
        )
    methods += [
        Method(
            "python/run",
            "qk_dense",
            "python",
            "run",
            user_call(qk_dense, "python", q, k, s["py-run"]),
            s["py-run"],
            ref,
        ),
        Method("python/raw", "qk_dense", "python", "raw", kernel_call(py, q, k, s["py-raw"]), s["py-raw"], ref),
        Method(
            "numba-cpu/run",
            "qk_dense",
            "numba-cpu",
            "run",
            user_call(qk_dense, "numba-cpu", q, k, s["nb-run"]),
            s["nb-run"],
            ref,
        ),
        Method("numba-cpu/raw", "qk_dense", "numba-cpu", "raw", kernel_call(nb, q, k, s["nb-raw"]), s["nb-raw"], ref),
        Method(
            "masked/numba-cpu/run",
            "qk_masked",
            "numba-cpu",
            "run",
            user_call(qk_masked, "numba-cpu", q, k, mask, s["nbm-run"]),
            s["nbm-run"],
            ref_masked,
        ),
        Method(
            "masked/numba-cpu/raw",
            "qk_masked",
            "numba-cpu",
            "raw",
            kernel_call(nbm, q, k, mask, s["nbm-raw"]),
            s["nbm-raw"],
            ref_masked,
        ),
    ]
    return methods


def verify(m: Method) -> float:
    """Run `m` once on a sentinel-filled output, assert it equals numpy's; return the seconds it took."""
    if m.out is not None:
        m.out.fill(SENTINEL)
    seconds, got = timed(m.call)
    assert got.dtype == np.int32 and got.shape == m.expected.shape, (m.key, got.dtype, got.shape)
    assert np.array_equal(got, m.expected), f"{m.key}: result differs from numpy's"
    return seconds


# ---- compile time --------------------------------------------------------------------------------


def compile_time(kernel: Any, args: tuple[Any, ...]) -> dict[str, Any]:
    """Seconds for compile() (source generation + import) and for the first call (Numba's JIT compile)."""
    be = backends.get("numba-cpu")
    t_load, fn = timed(lambda: be.compile(kernel))
    already = bool(getattr(fn, "signatures", ()))
    t_first, _ = timed(lambda: fn(*args))
    stats = getattr(fn, "stats", None)
    hits = sum(stats.cache_hits.values()) if stats else 0
    misses = sum(stats.cache_misses.values()) if stats else 0
    if already:
        how = "already compiled in this process (not a compile time)"
    elif hits:
        how = "loaded from the Numba disk cache"
    else:
        how = "compiled (cold)"
    return {
        "load_s": t_load,
        "first_call_s": t_first,
        "total_s": t_load + t_first,
        "how": how,
        "numba_cache_hits": hits,
        "numba_cache_misses": misses,
        "cache_dir": getattr(stats, "cache_path", None),
    }


_CACHED_PROBE = """
import json, time, numpy as np, backends
from algorithms.qk import qk_dense, qk_masked
from hls.strategies import random_arguments
out = {}
for kernel, name in ((qk_dense, "qk_dense"), (qk_masked, "qk_masked")):
    args = random_arguments(kernel, dict(M=64, N=64, D=16), seed=0)
    t0 = time.perf_counter(); fn = backends.get("numba-cpu").compile(kernel); t1 = time.perf_counter()
    fn(*args); t2 = time.perf_counter()
    out[name] = {"load_s": t1 - t0, "first_call_s": t2 - t1, "total_s": t2 - t0,
                 "numba_cache_hits": sum(fn.stats.cache_hits.values())}
print(json.dumps(out))
"""


def cached_first_call(cache: str | None) -> dict[str, Any]:
    """First-call seconds in a new process whose Numba disk cache is already warm (the usual second run)."""
    env = dict(os.environ)
    if cache:
        env["ATTNHLS_CACHE"] = cache
    try:
        out = subprocess.run(
            [sys.executable, "-c", _CACHED_PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        if out.returncode == 0:
            return json.loads(out.stdout.strip().splitlines()[-1])
        return {"error": out.stderr.strip()[-500:]}
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        return {"error": repr(err)}


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_qk", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "out"), help="folder for bench_qk.json")
    p.add_argument("--quick", action="store_true", help="two small sizes, few repeats (smoke test, < ~30 s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=None, help="samples per figure (default 7, quick 3)")
    p.add_argument(
        "--python-limit",
        type=float,
        default=None,
        help="skip the python backend where one call is estimated above this many seconds (default 20, quick 1)",
    )
    p.add_argument(
        "--keep-cache",
        action="store_true",
        help="use the usual attnhls/Numba cache (compile time may then be a cache load)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 7)
    min_sample_s = 0.02 if quick else 0.2
    python_limit = args.python_limit if args.python_limit is not None else (1.0 if quick else 20.0)
    python_budget = min(python_limit, 15.0)  # python seconds per size and path: more samples only while they fit
    sizes = QUICK_SIZES if quick else SIZES
    started = time.perf_counter()
    load_start, cpu_start = _loadavg(), _cpu_counters()
    command = "python -m benchmarks.bench_qk" + (
        "" if argv is None and len(sys.argv) <= 1 else " " + " ".join(sys.argv[1:] if argv is None else argv)
    )

    old_cache = os.environ.get("ATTNHLS_CACHE")
    cache = None
    if not args.keep_cache:
        cache = tempfile.mkdtemp(prefix="attnhls-bench-cache-")
        atexit.register(shutil.rmtree, cache, True)
        os.environ["ATTNHLS_CACHE"] = cache
    try:
        report = _bench(args, sizes, repeats, min_sample_s, python_limit, python_budget, cache)
    finally:
        if not args.keep_cache:
            if old_cache is None:
                os.environ.pop("ATTNHLS_CACHE", None)
            else:
                os.environ["ATTNHLS_CACHE"] = old_cache
    report["command"] = command
    report["machine"]["loadavg_1_5_15_start"] = load_start
    report["machine"]["loadavg_1_5_15_end"] = _loadavg()
    report["machine"]["other_work"] = _other_work(cpu_start, _cpu_counters())
    report["elapsed_s"] = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_qk.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'bench_qk.json'} ({report['elapsed_s']:.1f} s)", file=sys.stderr)
    print(f"wrote {plot(report, out / 'bench_qk.png')}", file=sys.stderr)
    print(format_table(report))
    return report


def _bench(
    args: argparse.Namespace,
    sizes: list[tuple[int, int, int]],
    repeats: int,
    min_sample_s: float,
    python_limit: float,
    python_budget: float,
    cache: str | None,
) -> dict[str, Any]:
    import numba

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    m0, n0, d0 = sizes[0]
    q0, k0, s0 = random_arguments(qk_dense, dict(M=m0, N=n0, D=d0), seed=args.seed)
    mask0 = np.random.default_rng(args.seed + 1).random((m0, n0)) < MASK_DENSITY
    log("compiling numba-cpu kernels ...")
    compile_info = {
        "qk_dense": {"numba-cpu": compile_time(qk_dense, (q0, k0, s0.copy()))},
        "qk_masked": {"numba-cpu": compile_time(qk_masked, (q0, k0, mask0, s0.copy()))},
    }
    t_py, _ = timed(lambda: backends.get("python").compile(qk_dense))
    compile_info["qk_dense"]["python"] = {"load_s": t_py, "how": "generated source imported; no JIT"}
    log("first call with a warm Numba disk cache, in a new process ...")
    compile_info["warm_cache_new_process"] = cached_first_call(cache)
    generated = {}
    for kernel in (qk_dense, qk_masked):
        src = backends.get("numba-cpu").source(kernel)
        generated[kernel.__name__] = {
            "numba_source_sha256": hashlib.sha256(src.encode()).hexdigest(),
            "numba_kernel_source": src[src.rfind("@_njit") :].strip(),
        }
    machine = machine_info()
    machine["numba_threading_layer"] = numba.threading_layer()

    results: list[dict[str, Any]] = []
    verified: dict[str, bool] = {}
    py_per_mac: dict[str, float] = {}  # seconds per multiply-accumulate of the python backend, by path
    for mm, nn, dd in sizes:
        size = f"{mm}x{nn}x{dd}"
        ops = 2 * mm * nn * dd
        q, k, s = random_arguments(qk_dense, dict(M=mm, N=nn, D=dd), seed=args.seed)
        mask = np.random.default_rng(args.seed + 1).random((mm, nn)) < MASK_DENSITY
        assert q.dtype == np.int8 and k.dtype == np.int8 and q.any() and k.any(), "inputs must be int8, not all 0"
        assert q.min() < -64 and q.max() > 64, "inputs should span the int8 range"
        ref = q.astype(np.int32) @ k.astype(np.int32).T
        assert np.array_equal(ref, qk_reference(q, k)), "numpy int32 matmul disagrees with the int64 reference"
        ref_masked = qk_reference(q, k, mask)
        nnz = int(mask.sum())
        rows: dict[str, dict[str, Any]] = {}
        fast: dict[str, Method] = {}  # everything but the python backend, timed round-robin below
        first: dict[str, float] = {}
        for m in make_methods(q, k, mask, s, ref, ref_masked):
            row: dict[str, Any] = {
                "size": size,
                "M": mm,
                "N": nn,
                "D": dd,
                "ops": ops,
                "key": m.key,
                "kernel": m.kernel,
                "backend": m.backend,
                "path": m.path,
            }
            rows[m.key] = row
            if m.kernel == "qk_masked":
                row["mask_density"] = nnz / (mm * nn)
            if m.backend != "python":
                m.call()  # warm-up (the Numba compile was done, and reported, before)
                first[m.key] = verify(m)
                row.update(verified=True, skipped=False)
                verified[f"{size}/{m.key}"] = True
                fast[m.key] = m
                continue
            per_mac = py_per_mac.get(m.path)
            est = per_mac * mm * nn * dd if per_mac else None
            row["estimated_s"] = est
            if est is not None and est > python_limit:
                row.update(skipped=True, verified=None, seconds=None)
                log(f"{size:>15} {m.key:<22} skipped (estimated {est:.1f} s)")
                continue
            samples = [verify(m)]  # for python, the verifying call is timed and kept as the first sample
            verified[f"{size}/{m.key}"] = True
            while len(samples) < repeats and sum(samples) + samples[0] <= python_budget:
                samples.append(timed(m.call)[0])
            row.update(
                seconds=statistics.median(samples),
                samples_s=samples,
                calls_per_sample=1,
                verified=True,
                skipped=False,
                note="the first sample is the verifying call",
            )
            py_per_mac[m.path] = row["seconds"] / (mm * nn * dd)
        timings = time_round_robin({key: m.call for key, m in fast.items()}, first, repeats, min_sample_s)
        for key, row in rows.items():
            if key in timings:
                row.update(timings[key])
            if row.get("seconds"):
                row["ms_per_call"] = row["seconds"] * 1e3
                row["spread"] = (max(row["samples_s"]) - min(row["samples_s"])) / row["seconds"]
                row["gops"] = ops / row["seconds"] / 1e9
                if row["kernel"] == "qk_masked":
                    row["useful_gops"] = 2 * nnz * dd / row["seconds"] / 1e9
                log(f"{size:>15} {key:<22} {row['ms_per_call']:12.3f} ms  {row['gops']:8.3f} GOPS")
        t_np = rows["numpy"]["seconds"]
        for row in rows.values():
            t = row["seconds"]
            py = rows.get(f"python/{row['path']}" if row["path"] in ("run", "raw") else "python/raw")
            t_py = py["seconds"] if py and py.get("seconds") else (py or {}).get("estimated_s")
            row["speedup_vs_numpy"] = t_np / t if t else None
            row["speedup_vs_python"] = t_py / t if t and t_py and row["kernel"] == "qk_dense" else None
            row["python_time_estimated"] = bool(py and not py.get("seconds"))
            results.append(row)

    return {
        "benchmark": "qk",
        "schema": 1,
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine,
        "settings": {
            "seed": args.seed,
            "sizes": [list(x) for x in sizes],
            "repeats": repeats,
            "min_sample_s": min_sample_s,
            "python_limit_s": python_limit,
            "python_budget_s": python_budget,
            "mask_density": MASK_DENSITY,
            "numba_cache": "fresh temporary folder" if cache else "user cache (--keep-cache)",
            "statistic": "median seconds per call over samples; fast calls are batched per sample",
            "gops": "2*M*N*D / seconds / 1e9 (dense count, also for qk_masked)",
            "speedup": "t_reference / t; vs numpy: numpy's dense int32 matmul (also for qk_masked); "
            "vs python: the python backend on qk_dense, same path, measured or estimated "
            "(per multiply-accumulate) from the largest measured size",
        },
        "compile": compile_info,
        "generated": generated,
        "results": results,
        "verified": verified,
        "all_verified": all(verified.values()) and bool(verified),
    }


# ---- picture -------------------------------------------------------------------------------------


def plot(report: dict[str, Any], path: str | Path) -> Path:
    """Draw GOPS and the speedup over numpy against the problem size, one line per kernel, backend and path.

    `report` is what `main` returns (or its JSON, loaded); returns the PNG's path.
    """
    rows = [{**r, "macs": r["M"] * r["N"] * r["D"]} for r in report["results"] if r.get("seconds")]

    def label(r: dict[str, Any]) -> str:
        name = f"{r['kernel']} {_LABELS.get(r['backend'], r['backend'])}"
        return name + (f" ({r['path']})" if r["path"] != "-" else "")

    ticks = {r["M"] * r["N"] * r["D"]: r["size"] for r in report["results"]}
    panels = [
        _plot.Panel(
            "throughput",
            "M x N x D (multiply-accumulates, log)",
            "GOPS = 2*M*N*D / time (log)",
            _plot.series_by(rows, label, "macs", "gops"),
            logx=True,
            logy=True,
            xticks=ticks,
        ),
        _plot.Panel(
            "speedup over numpy's dense int32 matmul",
            "M x N x D (multiply-accumulates, log)",
            "numpy time / time (log)",
            _plot.series_by(rows, label, "macs", "speedup_vs_numpy"),
            logx=True,
            logy=True,
            xticks=ticks,
        ),
    ]
    mach = report["machine"]
    note = (
        f"{report.get('command', 'python -m benchmarks.bench_qk')}; {report['date_utc']}; {mach['cpu_model']}, "
        f"{mach['usable_cpus']} CPUs, numba {mach['numba_version']}; qk_masked: "
        f"{report['settings']['mask_density']:.0%} random mask; median of {report['settings']['repeats']} samples"
    )
    return _plot.write_png(path, panels, "QK: int8 q, k -> int32 scores, on this CPU", note)


# ---- table ---------------------------------------------------------------------------------------

_LABELS = {"numpy": "numpy int32 @ (no BLAS)", "numpy-f32-blas": "numpy f32 @ (BLAS)"}


def format_table(report: dict[str, Any]) -> str:
    """The aligned summary table (also pasted into RESULTS.md)."""
    head = ["M x N x D", "kernel", "backend", "path", "ms/call", "spread", "GOPS", "vs numpy", "vs python"]
    lines = [head]
    for r in report["results"]:
        label = _LABELS.get(r["backend"], r["backend"])
        if r["kernel"] == "qk_masked":
            label += f" ({r['mask_density']:.0%} mask)"
        if r.get("skipped"):
            lines.append(
                [
                    r["size"],
                    r["kernel"],
                    label,
                    r["path"],
                    f"skipped (estimated {r['estimated_s']:.0f} s)",
                    "",
                    "",
                    "",
                    "",
                ]
            )
            continue
        vs_py = r["speedup_vs_python"]
        vs_py_s = (
            ""
            if vs_py is None or r["backend"] == "python"
            else ("~" if r["python_time_estimated"] else "") + f"{vs_py:,.0f}x"
        )
        spread = f"{r['spread']:.0%}" if len(r["samples_s"]) > 1 else "-"
        lines.append(
            [
                r["size"],
                r["kernel"],
                label,
                r["path"],
                _ms(r["ms_per_call"]),
                spread,
                f"{r['gops']:.3g}",
                f"{r['speedup_vs_numpy']:.3g}x",
                vs_py_s,
            ]
        )
    widths = [max(len(row[i]) for row in lines if len(row) > i) for i in range(len(head))]
    right = {4, 5, 6, 7, 8}
    out = []
    for n, row in enumerate(lines):
        if row[4].startswith("skipped"):
            cells = [row[i].ljust(widths[i]) for i in range(4)] + [row[4]]
        else:
            cells = [row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i]) for i in range(len(head))]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    comp = report["compile"]
    reps = report["settings"]["repeats"]
    notes = [
        f"ms/call: median of {reps} samples; spread: (max - min) / median; GOPS: 2*M*N*D / time (dense count, "
        "also for qk_masked)",
        "vs numpy / vs python: speedup over numpy's dense int32 matmul / over the python backend on qk_dense "
        "(~ = estimated); run: backends.run(), raw: the compiled function called directly",
        f"numba-cpu first call (JIT compile, {comp['qk_dense']['numba-cpu']['how']}): "
        f"qk_dense {comp['qk_dense']['numba-cpu']['total_s']:.2f} s, "
        f"qk_masked {comp['qk_masked']['numba-cpu']['total_s']:.2f} s",
    ]
    warm = comp.get("warm_cache_new_process", {})
    if "qk_dense" in warm:
        notes.append(
            f"new process, warm Numba disk cache: qk_dense {warm['qk_dense']['total_s']:.2f} s, "
            f"qk_masked {warm['qk_masked']['total_s']:.2f} s"
        )
    mach = report["machine"]
    notes.append(
        f"{mach['cpu_model']}, {mach['usable_cpus']} CPUs, numba {mach['numba_version']} "
        f"({mach['numba_threads']} threads), numpy {mach['numpy_version']}; "
        f"all results verified equal to numpy: {report['all_verified']}"
    )
    other = mach.get("other_work")
    if other:
        busy = other["other_processes_cpus"] + other["steal_cpus"] > 0.25
        notes.append(
            f"other work during the run: {other['other_processes_cpus']:.2f} CPUs busy with other processes, "
            f"{other['steal_cpus']:.2f} CPUs stolen by the hypervisor"
            + (" -- figures are pessimistic" if busy else " (quiet)")
        )
    return "\n".join(out + [""] + notes)


def _ms(ms: float) -> str:
    return f"{ms:,.0f}" if ms >= 1000 else f"{ms:.3g}" if ms >= 0.01 else f"{ms:.2g}"


if __name__ == "__main__":
    main()
