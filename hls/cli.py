"""`attnhls`: check, run, and inspect kernels named as `module:function`.

Backends come from the registry (`hls.runtime`); more commands (the demo) come from the
packages above `hls` through the entry-point group `attnhls.commands`: each names a
function that takes the subparsers object and adds its command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import time
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from hls.errors import ArgumentError, KernelError
from hls.lang import Kernel
from hls.types import ArrayType


class CliError(Exception):
    """An expected failure: printed as one line `attnhls: ...`, exit status 2."""


def load_kernel(target: str) -> Kernel:
    """Import `module:function` (from the current directory first, as `python -m` does) and return the kernel."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"name a kernel as module:function, e.g. algorithms.qk:qk_dense (got {target!r})")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise CliError(f"cannot import {module_name!r} (from {os.getcwd()} or the installed packages): {err}") from None
    obj = getattr(module, attr, None)
    if not isinstance(obj, Kernel):
        raise CliError(f"{target} is not a @kernel function")
    return obj


def _parse_dims(text: str) -> dict[str, int]:
    dims = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not value.strip().lstrip("-").isdigit():
            raise CliError(f"--dims takes NAME=INT pairs, e.g. M=64,N=64,D=16 (got {item!r})")
        dims[name.strip()] = int(value)
    return dims


def _dims_for(kernel: Kernel, text: str) -> dict[str, int]:
    """The --dims of a command that needs every dim symbol of `kernel` bound; names all missing ones."""
    dims = _parse_dims(text)
    symbols = [d for p in kernel.ir.params if isinstance(p.type, ArrayType) for d in p.type.dims if isinstance(d, str)]
    missing = [d for d in dict.fromkeys(symbols) if d not in dims]
    if missing:
        given = ",".join(f"{k}={v}" for k, v in dims.items())
        want = ",".join([given] * bool(given) + [f"{d}=8" for d in missing])
        raise CliError(f"{kernel.__name__} needs a size for dim(s) {', '.join(missing)}: add --dims {want}")
    return dims


def _cuda_simulator_if_no_gpu(names: list[str] | str) -> None:
    """Run numba-cuda on Numba's CUDA simulator where no NVIDIA GPU is visible, and say so."""
    if (
        (names == "all" or "numba-cuda" in names)
        and "NUMBA_ENABLE_CUDASIM" not in os.environ
        and shutil.which("nvidia-smi") is None
    ):
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # NOTE: before anything imports numba.cuda
        print("attnhls: no NVIDIA GPU here: numba-cuda runs on Numba's CUDA simulator", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    import warnings

    from hls.checker import check
    from hls.coverage import CoverageWarning

    kernel = load_kernel(args.target)
    spec = "all" if args.backends == "all" else args.backends.split(",")
    _cuda_simulator_if_no_gpu(spec)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 0.5 or done == total:
            last[0] = now
            print(f"\r  {kernel.__name__}: example {min(done, total)}/{total}", end="", file=sys.stderr, flush=True)

    try:
        with warnings.catch_warnings():  # NOTE: the report prints the coverage warnings, once each
            warnings.simplefilter("ignore", CoverageWarning)
            report = check(
                kernel,
                backends=spec,
                examples=args.examples,
                seed=None if args.random else args.seed,
                max_dim=args.max_dim,
                progress=progress,
            )
    finally:
        print(file=sys.stderr)
    print(report)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from hls import runtime
    from hls.strategies import random_arguments

    kernel = load_kernel(args.target)
    _cuda_simulator_if_no_gpu([args.backend])
    inputs = random_arguments(kernel, _dims_for(kernel, args.dims), seed=args.seed)
    print(f"compiling {kernel.__name__} for {args.backend} ...", file=sys.stderr, flush=True)
    times: list[float] = []
    for rep in range(args.repeat + 1):
        work = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
        result = runtime.run(kernel, *work, backend=args.backend, vcd=args.vcd)
        if rep and result.seconds is not None:
            times.append(result.seconds)
        print(f"\r  run {rep}/{args.repeat}{' (warm-up)' if not rep else ''}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for p, a in zip(kernel.ir.params, work):
        if isinstance(a, np.ndarray):
            flat = a.ravel()
            head = ", ".join(str(x) for x in flat[:8].tolist()) + (", ..." if flat.size > 8 else "")
            checksum = int(flat.astype(np.int64).sum()) if flat.dtype.kind in "iub" else float(flat.sum())
            print(f"{p.name}: {a.dtype}{list(a.shape)} sum={checksum} [{head}]")
        else:
            print(f"{p.name} = {a}")
    if result.value is not None:
        print(f"returned {result.value}")
    if result.cycles is not None:
        print(f"cycles: {result.cycles}")
    if args.vcd is not None:
        print(f"waveform: {args.vcd}")
    if times:
        print(f"{args.backend}: median {np.median(times) * 1e3:.3f} ms over {len(times)} run(s)")
    return 0


def cmd_source(args: argparse.Namespace) -> int:
    from hls import runtime

    kernel = load_kernel(args.target)
    hardware = args.backend in ("myhdl", "verilator")
    print(runtime.get(args.backend).source(kernel, _dims_for(kernel, args.dims) if hardware else {}))
    return 0


def cmd_ir(args: argparse.Namespace) -> int:
    from hls.ir import format_function

    kernel = load_kernel(args.target)
    if args.dims:  # the IR the scheduler sees: after every pass of hls.lower
        from hls.passes import run_all

        print(format_function(run_all(kernel, _dims_for(kernel, args.dims))), end="")
    else:
        print(format_function(kernel.ir), end="")
    return 0


def cmd_lower(args: argparse.Namespace) -> int:
    import warnings

    from hls.compiler import lower
    from hls.testbench import NoExampleWarning

    kernel = load_kernel(args.target)
    t0 = time.perf_counter()
    # Any: lower()'s `**params: int` takes the dims, but mypy would let a dict[str, int] fill its keyword options
    dims: dict[str, Any] = _dims_for(kernel, args.dims)
    design = lower(
        kernel,
        clock_ns=args.clock_ns,
        multipliers=args.multipliers,
        strict_ii=args.strict_ii,
        **dims,
    )
    print(f"lowered in {time.perf_counter() - t0:.2f} s")
    if args.synth:  # before saving: the report files carry Yosys's figures
        design.synthesize()
    if args.timing:  # Yosys synth_ecp5 + nextpnr-ecp5: the report prints the achieved clock beside the assumed one
        design.timing()
    if args.out:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", NoExampleWarning)
            try:
                written = design.save(args.out, force=args.force)
            except (FileExistsError, NotADirectoryError, ValueError) as err:
                raise CliError(str(err)) from None
        for path in written:
            print(f"wrote {path}")
        for note in notes:
            print(f"attnhls: {note.message}", file=sys.stderr)
    print(design.report)
    return 0


def _parse_grid(items: list[str]) -> dict[str, list[int | float]]:
    grid: dict[str, list[int | float]] = {}
    for item in items:
        name, _, values = item.partition("=")
        try:
            grid[name.strip()] = [float(v) if "." in v or "e" in v else int(v) for v in values.split(",") if v]
        except ValueError:
            raise CliError(f"--grid takes KEY=V1,V2,... with numbers, e.g. clock_ns=4,5,8 (got {item!r})") from None
        if not grid[name.strip()]:
            raise CliError(f"--grid {item!r} gives no values: KEY=V1,V2,...")
    return grid


def cmd_sweep(args: argparse.Namespace) -> int:
    from hls.sweep import SweepError, sweep

    kernel = load_kernel(args.target)
    if not args.grid:
        raise CliError("give at least one --grid KEY=V1,V2,..., e.g. --grid clock_ns=4,5,8")

    def progress(done: int, total: int) -> None:
        print(f"\r  {kernel.__name__}: point {done}/{total}", end="", file=sys.stderr, flush=True)

    dims: dict[str, Any] = _parse_dims(args.dims)  # Any: sweep()'s **dims, as in cmd_lower
    try:
        result = sweep(
            kernel,
            _parse_grid(args.grid),
            seed=args.seed,
            workers=args.workers,
            scheduler=args.scheduler,
            simulator=args.simulator,
            progress=progress,
            **dims,
        )
    except SweepError as err:  # a point's hardware disagrees with the reference: one line, like check's failures
        raise CliError(str(err)) from None
    finally:
        print(file=sys.stderr)
    print(result.table())
    cached = len(result.rows) - result.tool_runs
    print(f"{len(result.rows)} points in {result.seconds:.1f} s: {result.tool_runs} placed and routed, {cached} cached")
    if args.out:
        for path in result.write(args.out):
            print(f"wrote {path}")
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    from hls import runtime

    for name in runtime.names():
        why = runtime.available(name)
        print(f"{name:12s} {'available' if not why else 'NOT AVAILABLE: ' + why}")
    return 0


def _add(sub: argparse._SubParsersAction, name: str, help: str, example: str) -> argparse.ArgumentParser:
    """A subcommand whose --help shows every default and ends with an example."""
    return sub.add_parser(
        name, help=help, description=help, epilog=f"example:\n  {example}", formatter_class=_Formatter
    )


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The default in the help of every option that has one, the example kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == "":
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnhls",
        description=__doc__,
        formatter_class=_Formatter,
        epilog="example:\n  attnhls check algorithms.qk:qk_dense --backends all",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    target = "the kernel, as module:function (imported from the current directory first)"
    p = _add(
        sub,
        "check",
        "run a kernel on several backends with Hypothesis inputs and compare",
        "attnhls check algorithms.qk:qk_dense --backends python,numba-cpu,verilator --examples 50",
    )
    p.add_argument("target", help=target)
    p.add_argument("--backends", default="all", help="comma-separated backend names, or 'all'")
    p.add_argument("--examples", type=int, default=100, help="Hypothesis examples to draw")
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed (the same examples every run)")
    p.add_argument("--random", action="store_true", help="fresh random examples instead of the fixed seed")
    p.add_argument("--max-dim", type=int, default=6, help="largest size drawn for a symbolic dim")
    p.set_defaults(func=cmd_check)
    p = _add(
        sub,
        "run",
        "run a kernel on random full-range inputs and summarize the outputs",
        "attnhls run algorithms.qk:qk_dense --backend numba-cpu --dims M=512,N=512,D=64",
    )
    p.add_argument("target", help=target)
    p.add_argument("--backend", default="numba-cpu", help="the backend to run on (see `attnhls backends`)")
    p.add_argument("--dims", default="", help="sizes of every symbolic dim, e.g. M=64,N=64,D=16")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up run")
    p.add_argument(
        "--vcd",
        default=None,
        metavar="PATH",
        help="write the run's waveform to PATH (myhdl or verilator; every run is traced)",
    )
    p.set_defaults(func=cmd_run)
    p = _add(
        sub,
        "source",
        "print the code a backend generates (Python, MyHDL for myhdl, Verilog for verilator)",
        "attnhls source algorithms.qk:qk_dense --backend verilator --dims M=8,N=8,D=16",
    )
    p.add_argument("target", help=target)
    p.add_argument("--backend", default="numba-cpu", help="the backend whose code to print")
    p.add_argument("--dims", default="", help="dims and scalar parameters the HDL backends bind, e.g. M=8,N=8,D=16")
    p.set_defaults(func=cmd_source)
    p = _add(
        sub,
        "ir",
        "print a kernel's typed IR (after the HLS passes when --dims is given)",
        "attnhls ir algorithms.qk:qk_dense --dims M=8,N=8,D=16",
    )
    p.add_argument("target", help=target)
    p.add_argument("--dims", default="", help="bind dims (and scalar parameters) and run the passes, e.g. D=16")
    p.set_defaults(func=cmd_ir)
    p = _add(
        sub,
        "lower",
        "compile a kernel to hardware: report, MyHDL / Verilog / VHDL, testbench, report files",
        "attnhls lower algorithms.qk:qk_dense --dims M=8,N=8,D=16 --out build/ --synth",
    )
    p.add_argument("target", help=target)
    p.add_argument("--dims", default="", help="dims and scalar parameters to bind, e.g. M=8,N=8,D=16")
    p.add_argument(
        "--out",
        help="folder for <top>.py (MyHDL), <top>.v, <top>.vhd with MyHDL's VHDL package, "
        "tb_<top>.v (a self-checking testbench), report.json and report.html (none: print the report)",
    )
    p.add_argument("--force", action="store_true", help="write into --out even when it already holds files")
    p.add_argument("--synth", action="store_true", help="also synthesize with Yosys synth_xilinx (LUT/FF/DSP/BRAM)")
    p.add_argument(
        "--clock-ns",
        type=float,
        default=None,
        help="clock period the scheduler chains under (default: the kernel's @kernel(clock_ns=...), else 5.0)",
    )
    p.add_argument("--multipliers", type=int, default=None, help="at most this many multipliers per cycle")
    p.add_argument("--strict-ii", action="store_true", help="a pipelined loop that misses its ii is an error")
    p.add_argument(
        "--timing",
        action="store_true",
        help="also place and route (Yosys synth_ecp5, nextpnr-ecp5 on LFE5U-85F CABGA381): Fmax against the "
        "assumed clock, the critical path, placed LUT/FF/DSP/BRAM",
    )
    p.set_defaults(func=cmd_lower)
    p = _add(
        sub,
        "sweep",
        "lower, simulate, and place and route a kernel at every point of a grid; the table and its Pareto front",
        "attnhls sweep algorithms.qk:qk_dense --dims M=8,N=8,D=16 --grid clock_ns=4,5,8 --grid multipliers=4,8,16 "
        "--out sweep/",
    )
    p.add_argument("target", help=target)
    p.add_argument("--dims", default="", help="fixed dims and scalar parameters, e.g. M=8,N=8,D=16")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a key to sweep (a lower() option: clock_ns, multipliers; or a dim or scalar parameter), repeatable",
    )
    p.add_argument("--out", help="folder for sweep.json and sweep.png (none: print the table only)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    p.add_argument("--scheduler", default=None, help="a Dask scheduler's address (tcp://host:8786): run there")
    p.add_argument("--simulator", default="myhdl", choices=["myhdl", "verilator"], help="what simulates each point")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input every point simulates")
    p.set_defaults(func=cmd_sweep)
    p = _add(sub, "backends", "list the backends and whether they can run here", "attnhls backends")
    p.set_defaults(func=cmd_backends)
    for ep in entry_points(group="attnhls.commands"):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `attnhls` command; expected failures print one line and return 2, never a traceback."""
    from hls.checker import CheckFailure
    from hls.runtime import BackendUnavailable
    from hls.tools._common import ToolError, ToolMissing

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CheckFailure as err:
        print(f"attnhls: {err}", file=sys.stderr)
        return 2
    except (CliError, KernelError, ArgumentError, BackendUnavailable, ToolMissing, ToolError, ValueError) as err:
        print(
            f"attnhls: {type(err).__name__}: {err}" if not isinstance(err, CliError) else f"attnhls: {err}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
