"""`hls.sweep`: lower, simulate, and place and route a kernel at every point of a grid; the table and its Pareto front.

    result = sweep(qk_dense, grid={"clock_ns": [4, 5, 8], "multipliers": [2, 4, 8, 16]}, M=8, N=8, D=16)
    print(result.table())     # cycles, assumed and achieved clock, time = cycles / Fmax, LUT/FF/DSP/BRAM; * = front
    result.write("sweep/")    # sweep.json and sweep.png

Each point of the grid (the product of its lists, in key order) is one `hls.lower` with the point's options
(LOWER_OPTIONS: clock_ns, multipliers, ...) and sizes (dims and scalar parameters, the grid's or the fixed
`**dims`), simulated on one seeded input (`hls.strategies.random_arguments`, the point's scalars bound as in
hardware) and checked against the python reference (a mismatch is a SweepError), then placed and routed
(`Design.timing()`: Yosys synth_ecp5 and nextpnr-ecp5 on an ECP5). The Pareto front is over time and LUTs,
both the lower the better.

Points run in parallel: on a local process pool (`workers`, default one per core), or on a Dask cluster when
`scheduler` gives its address (`tcp://host:8786`), since a sweep with place and route quickly outgrows one
machine. The workers import the kernel by its module and name, so it must be defined at the top level of a
module they can import; `workers=1` runs every point in this process instead. Tool runs are cached by content
hash (hls/tools/nextpnr.py), so a repeated sweep runs no tool: `SweepResult.tool_runs` counts the points that
ran one.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hls.lang import Kernel
from hls.types import ArrayType, StreamType

__all__ = ["LOWER_OPTIONS", "SweepError", "SweepResult", "pareto_front", "points", "sweep"]

LOWER_OPTIONS = ("clock_ns", "multipliers", "partition", "ports", "strict_ii")
SIMULATORS = ("myhdl", "verilator")


class SweepError(RuntimeError):
    """A point of a sweep simulated to results that differ from the python reference's."""


@dataclass(frozen=True)
class SweepResult:
    """The rows of a sweep, one per grid point in grid order, and what it cost.

    Each row: `point` (the grid's values), `cycles` (simulated), `clock_ns` (the scheduler's clock),
    `fmax_mhz`, `achieved_ns` and `slack_ns` (place and route), `time_us` (cycles / Fmax), `LUT`, `FF`,
    `DSP`, `BRAM` (placed), `critical_path` (its ends and lines, in words) and `pareto` (on the front of time
    against LUT). tool_runs: the points whose place and route ran the tools (0: all served from the cache).
    """

    kernel: str
    dims: dict[str, Any]
    grid: dict[str, list[Any]]
    device: str
    package: str
    simulator: str
    seed: int
    rows: list[dict[str, Any]]
    tool_runs: int
    seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    def table(self) -> str:
        """The rows as aligned text, the Pareto front marked `*`."""
        keys = list(self.grid)
        clock = ["clock_ns"] if "clock_ns" not in keys else []  # the assumed clock, once
        heads = [*keys, "cycles", *clock, "achieved ns", "Fmax MHz", "time us", "LUT", "FF", "DSP", "BRAM"]

        def fmt(v: Any, spec: str = "") -> str:
            return "-" if v is None else format(v, spec)

        body = [
            [str(r["point"][k]) for k in keys]
            + [fmt(r["cycles"]), *(fmt(r["clock_ns"], "g") for _ in clock), fmt(r["achieved_ns"], ".2f")]
            + [fmt(r["fmax_mhz"], ".1f"), fmt(r["time_us"], ".3f"), *(fmt(r[k]) for k in ("LUT", "FF", "DSP", "BRAM"))]
            for r in self.rows
        ]
        widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(heads)]
        bound = ", ".join(f"{k}={v}" for k, v in self.dims.items())
        lines = [
            f"sweep {self.kernel}({bound}): {len(self.rows)} points on {self.device} {self.package}, "
            f"* = Pareto front of time against LUT",
            "  " + "  ".join(h.rjust(w) for h, w in zip(heads, widths)),
        ]
        for r, row in zip(self.rows, body):
            lines.append(("* " if r["pareto"] else "  ") + "  ".join(c.rjust(w) for c, w in zip(row, widths)))
        return "\n".join(lines)

    def write(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write `sweep.json` and `sweep.png` into `folder` (made if missing); return their paths."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(self.to_json())
        return [out / "sweep.json", self.plot(out / "sweep.png")]

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """A PNG of two panels: LUT against time with the front drawn, and achieved against assumed clock."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12.8, 5.2), dpi=120, layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2)
        timed = [r for r in self.rows if r["time_us"] is not None]
        label = lambda r: ", ".join(f"{k}={v}" for k, v in r["point"].items())
        left.scatter([r["time_us"] for r in timed], [r["LUT"] for r in timed], color="0.55", label="points", zorder=2)
        front = sorted((r for r in timed if r["pareto"]), key=lambda r: r["time_us"])
        fx, fy = [r["time_us"] for r in front], [r["LUT"] for r in front]
        left.step(fx, fy, where="post", color="tab:red", linewidth=1.2, zorder=1)
        left.scatter(fx, fy, color="tab:red", marker="D", label="Pareto front", zorder=3)
        for r in timed:
            left.annotate(label(r), (r["time_us"], r["LUT"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        left.margins(0.15)  # room for the labels of the outermost points
        left.set(title="area against time", xlabel="time = cycles / Fmax (us)", ylabel="LUT (placed)")
        clocks = [r["clock_ns"] for r in timed]
        right.scatter(clocks, [r["achieved_ns"] for r in timed], color="tab:blue", label="achieved (nextpnr)")
        if clocks:
            span = [min(clocks + [r["achieved_ns"] for r in timed]), max(clocks + [r["achieved_ns"] for r in timed])]
            right.plot(span, span, linestyle="--", color="0.45", linewidth=1.0, label="achieved = assumed")
        right.set(
            title="clock period: above the line misses", xlabel="assumed clock_ns (scheduler)", ylabel="achieved ns"
        )
        for ax in (left, right):
            ax.grid(True, alpha=0.3)
            if timed:
                ax.legend(fontsize=7)
            else:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.4")
        bound = ", ".join(f"{k}={v}" for k, v in self.dims.items())
        fig.suptitle(f"sweep of {self.kernel}({bound}) on {self.device} {self.package}", fontsize=11)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
        return out


def points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every point of `grid`: the product of its value lists, the first key varying slowest."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def pareto_front(rows: Sequence[dict[str, Any]], x: str = "time_us", y: str = "LUT") -> list[bool]:
    """For each row, whether no other row dominates it: one at most as large on both `x` and `y` and smaller on one.

    Rows whose `x` or `y` is None (not timed) are never on the front; equal rows are both on it.
    """
    xy = [(r.get(x), r.get(y)) for r in rows]

    def dominated(a: tuple[Any, Any]) -> bool:
        return any(
            b[0] is not None and b[1] is not None and b[0] <= a[0] and b[1] <= a[1] and (b[0] < a[0] or b[1] < a[1])
            for b in xy
        )

    return [a[0] is not None and a[1] is not None and not dominated(a) for a in xy]


def sweep(
    kernel: Kernel,
    grid: Mapping[str, Sequence[Any]],
    *,
    seed: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
    simulator: str = "myhdl",
    device: str = "LFE5U-85F",
    package: str = "CABGA381",
    inputs: Callable[[Kernel, dict[str, int], int], tuple[Any, ...]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    **dims: Any,
) -> SweepResult:
    """Lower, simulate, and place and route `kernel` at every point of `grid`; return the table.

    grid: {key: [values]}, each key an option of `hls.lower` (LOWER_OPTIONS) or a dim or scalar parameter of
        the kernel; `dims` fixes the others the same way (every dim must be bound by one or the other).
    seed: of the input each point simulates (the same at every point with the same sizes).
    workers: local worker processes (None: one per core; 1: this process). scheduler: a Dask scheduler's
        address (`tcp://host:8786`): the points run on its cluster instead.
    simulator: "myhdl" or "verilator". device, package: the ECP5 placed on (hls.tools.nextpnr.DEVICES).
    inputs: `inputs(kernel, dims, seed) -> arguments` in place of random_arguments (kernels whose inputs need
        structure, such as sparse indices), a top-level function where the points run in other processes.
    progress: called as progress(done, total) as points finish.

    Raises ValueError on a bad grid (an unknown key, an empty list, a dim left unbound), ToolMissing when Yosys
    or nextpnr-ecp5 is not installed, SweepError when a point's simulation disagrees with the python reference.
    """
    from hls.tools import ToolMissing, nextpnr

    if not isinstance(kernel, Kernel):
        raise TypeError(f"sweep() takes a @kernel function, got {kernel!r}")
    _check_grid(kernel, grid, dims)
    if simulator not in SIMULATORS:
        raise ValueError(f"sweep(): simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    why = nextpnr.missing()
    if why is not None:
        raise ToolMissing(why)
    todo = points(grid)
    remote = scheduler is not None or (workers or os.cpu_count() or 1) > 1 and len(todo) > 1
    target: Kernel | tuple[str, str] = _reference(kernel) if remote else kernel
    common: dict[str, Any] = {
        "seed": seed,
        "simulator": simulator,
        "device": device,
        "package": package,
        "inputs": inputs,
    }
    specs = [{**dims, **point} for point in todo]
    t0 = time.perf_counter()
    results: list[tuple[dict[str, Any], int]] = []
    if scheduler is not None:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(scheduler) as client:
            futures = [client.submit(_run_point, target, spec, pure=False, **common) for spec in specs]
            for done, _ in enumerate(dask_completed(futures), start=1):
                if progress is not None:
                    progress(done, len(specs))
            results = client.gather(futures)
    elif not remote:
        for done, spec in enumerate(specs, start=1):
            results.append(_run_point(target, spec, **common))
            if progress is not None:
                progress(done, len(specs))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            local = [pool.submit(_run_point, target, spec, **common) for spec in specs]
            for done, _ in enumerate(as_completed(local), start=1):
                if progress is not None:
                    progress(done, len(specs))
            results = [f.result() for f in local]
    rows = [{"point": point, **row} for point, (row, _) in zip(todo, results)]
    for row, on_front in zip(rows, pareto_front(rows)):
        row["pareto"] = on_front
    return SweepResult(
        kernel=kernel.__name__,
        dims=dict(dims),
        grid={k: list(v) for k, v in grid.items()},
        device=device,
        package=package,
        simulator=simulator,
        seed=seed,
        rows=rows,
        tool_runs=sum(ran for _, ran in results),
        seconds=time.perf_counter() - t0,
    )


def _sizes(kernel: Kernel) -> tuple[list[str], list[str]]:
    """The kernel's dim symbols and its scalar parameters, in declaration order."""
    params = kernel.ir.params
    symbols = [d for p in params if isinstance(p.type, ArrayType) for d in p.type.dims if isinstance(d, str)]
    scalars = [p.name for p in params if not isinstance(p.type, ArrayType | StreamType)]
    return list(dict.fromkeys(symbols)), scalars


def _check_grid(kernel: Kernel, grid: Mapping[str, Sequence[Any]], dims: dict[str, Any]) -> None:
    """ValueError, naming the key and what is allowed, for anything in `grid` or `dims` that sweep cannot use."""
    name = kernel.__name__
    if kernel.is_region:
        raise ValueError(f"sweep(): {name} is a dataflow region; sweep takes a kernel without streams")
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"sweep(): grid must be a non-empty dict of {{key: [values]}}, got {grid!r}")
    symbols, scalars = _sizes(kernel)
    allowed = [*LOWER_OPTIONS, *symbols, *scalars]
    for key in [*grid, *dims]:
        if key not in allowed:
            sizes = ", ".join(symbols + scalars) or "none"
            raise ValueError(
                f"sweep(): grid key {key!r} is neither an option of lower() ({', '.join(LOWER_OPTIONS)}) nor a dim "
                f"or scalar parameter of {name} ({sizes})"
            )
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"sweep(): grid[{key!r}] must be a non-empty list of values, got {values!r}")
        if key in dims:
            raise ValueError(f"sweep(): {key!r} is both a grid key and fixed ({key}={dims[key]!r}); give it once")
    unbound = [d for d in symbols if d not in grid and d not in dims]
    if unbound:
        raise ValueError(
            f"sweep(): {name} needs a size for dim(s) {', '.join(unbound)}: add them to the grid or pass "
            + ", ".join(f"{d}=8" for d in unbound)
        )


def _reference(kernel: Kernel) -> tuple[str, str]:
    """(module, qualified name) by which a worker process imports `kernel`; ValueError when that finds another."""
    module, qualname = kernel.__module__, kernel.__qualname__
    try:
        found = _resolve((module, qualname))
    except (ImportError, AttributeError):
        found = None
    if found is not kernel:
        raise ValueError(
            f"sweep(): the worker processes import the kernel by name, and {module}.{qualname} does not give "
            f"{kernel.__name__}: define it at the top level of an importable module, or pass workers=1"
        )
    return module, qualname


def _resolve(target: Kernel | tuple[str, str]) -> Kernel:
    if isinstance(target, Kernel):
        return target
    module, qualname = target
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _run_point(
    target: Kernel | tuple[str, str],
    params: dict[str, Any],
    *,
    seed: int,
    simulator: str,
    device: str,
    package: str,
    inputs: Callable[[Kernel, dict[str, int], int], tuple[Any, ...]] | None,
) -> tuple[dict[str, Any], int]:
    """One point: lower, simulate against the python reference, place and route; (its row, tool runs 0 or 1)."""
    from hls.compiler import lower
    from hls.runtime import run
    from hls.strategies import random_arguments

    kernel = _resolve(target)
    symbols, scalars = _sizes(kernel)
    options = {k: v for k, v in params.items() if k in LOWER_OPTIONS}
    sizes = {k: v for k, v in params.items() if k not in LOWER_OPTIONS}
    design = lower(kernel, **options, **sizes)
    dims = {k: v for k, v in sizes.items() if k in symbols}
    args = list((inputs or random_arguments)(kernel, dims, seed))
    names = [p.name for p in kernel.ir.params]
    for i, n in enumerate(names):
        if n in scalars and n in sizes:  # bound in hardware: the reference must see the same value
            args[i] = sizes[n]
    copy = lambda vs: [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in vs]
    reference = copy(args)
    expected = run(kernel, *reference, backend="python").value
    values = dict(zip(names, copy(args)))
    simulate = design.simulate_myhdl if simulator == "myhdl" else design.simulate_verilator
    value, cycles = simulate(values)
    where = f"{kernel.__name__} at {params}"
    for n, ref in zip(names, reference):
        if n in kernel.written_arrays and not np.array_equal(values[n], ref):
            at = tuple(int(i) for i in np.argwhere(values[n] != ref)[0])
            raise SweepError(
                f"{where}: the {simulator} simulation disagrees with the python reference on `{n}` "
                f"(first at {at}: {values[n][at]} against {ref[at]})"
            )
    if value != expected:
        raise SweepError(f"{where}: {simulator} returned {value}, the python reference {expected}")
    t = design.timing(device, package)
    row = {
        "cycles": cycles,
        "clock_ns": t.clock_ns,
        "fmax_mhz": t.fmax_mhz,
        "achieved_ns": t.achieved_ns,
        "slack_ns": t.slack_ns,
        "time_us": None if not t.fmax_mhz else cycles / t.fmax_mhz,
        **{k: t.resources[k] for k in ("LUT", "FF", "DSP", "BRAM")},
        "critical_path": None if t.critical_path is None else str(t.critical_path),
    }
    return row, 0 if t.cached else 1
