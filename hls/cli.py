"""`attnhls`: check, run, and inspect kernels named as `module:function`."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

import numpy as np

from hls.errors import ArgumentError, KernelError
from hls.lang import Kernel


def load_kernel(target: str) -> Kernel:
    """Import `module:function` and return the kernel it names."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"attnhls: name a kernel as module:function, e.g. algorithms.qk:qk_dense (got {target!r})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SystemExit(f"attnhls: cannot import {module_name!r}: {err}") from None
    obj = getattr(module, attr, None)
    if not isinstance(obj, Kernel):
        raise SystemExit(f"attnhls: {target} is not a @kernel function")
    return obj


def _parse_dims(text: str) -> dict[str, int]:
    dims = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise SystemExit(f"attnhls: --dims takes NAME=INT pairs, e.g. M=64,N=64,D=16 (got {item!r})")
        dims[name.strip()] = int(value)
    return dims


def cmd_check(args: argparse.Namespace) -> int:
    from hls.checker import CheckFailure, check

    kernel = load_kernel(args.target)
    spec = "all" if args.backends == "all" else args.backends.split(",")
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 0.5 or done == total:
            last[0] = now
            print(f"\r  {kernel.__name__}: example {min(done, total)}/{total}", end="", file=sys.stderr, flush=True)

    try:
        report = check(kernel, backends=spec, examples=args.examples, seed=None if args.random else args.seed,
                       max_dim=args.max_dim, progress=progress)
    except CheckFailure as err:
        print(file=sys.stderr)
        print(err)
        return 1
    print(file=sys.stderr)
    print(report)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import backends
    from hls.strategies import random_arguments

    kernel = load_kernel(args.target)
    inputs = random_arguments(kernel, _parse_dims(args.dims), seed=args.seed)
    print(f"compiling {kernel.__name__} for {args.backend} ...", file=sys.stderr, flush=True)
    times = []
    for rep in range(args.repeat + 1):
        work = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
        result = backends.run(kernel, *work, backend=args.backend)
        if rep:
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
    if times:
        print(f"{args.backend}: median {np.median(times) * 1e3:.3f} ms over {len(times)} run(s)")
    return 0


def cmd_source(args: argparse.Namespace) -> int:
    import backends

    print(backends.get(args.backend).source(load_kernel(args.target)))
    return 0


def cmd_ir(args: argparse.Namespace) -> int:
    from hls.ir import format_function

    kernel = load_kernel(args.target)
    if args.dims:  # the IR the scheduler sees: after every pass of hls.lower
        from hls.passes import run_all

        print(format_function(run_all(kernel, _parse_dims(args.dims))), end="")
    else:
        print(format_function(kernel.ir), end="")
    return 0


def cmd_lower(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hls.compiler import lower

    t0 = time.perf_counter()
    design = lower(load_kernel(args.target), clock_ns=args.clock_ns, multipliers=args.multipliers,
                   strict_ii=args.strict_ii, **_parse_dims(args.dims))
    print(f"lowered in {time.perf_counter() - t0:.2f} s")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".py", design.myhdl_source), (".v", design.verilog), (".vhd", design.vhdl)):
            (out / (design.top + suffix)).write_text(text)
            print(f"wrote {out / (design.top + suffix)}")
    if args.synth:
        design.synthesize()
    print(design.report)
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    import backends

    for name in backends.names():
        why = backends.available(name)
        print(f"{name:12s} {'available' if not why else 'NOT AVAILABLE: ' + why}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hls.demo import main as demo

    return demo(examples=args.examples)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnhls", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="run a kernel on several backends with Hypothesis inputs and compare")
    p.add_argument("target", help="module:function, e.g. algorithms.qk:qk_dense")
    p.add_argument("--backends", default="all", help="comma-separated backend names, or 'all' (default)")
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--random", action="store_true", help="fresh random examples instead of the fixed seed")
    p.add_argument("--max-dim", type=int, default=6, help="largest size drawn for a symbolic dim")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("run", help="run a kernel on random full-range inputs and summarize the outputs")
    p.add_argument("target")
    p.add_argument("--backend", default="numba-cpu")
    p.add_argument("--dims", default="", help="sizes of the symbolic dims, e.g. M=64,N=64,D=16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up run")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("source", help="print the source a software backend generates for a kernel")
    p.add_argument("target")
    p.add_argument("--backend", default="numba-cpu")
    p.set_defaults(func=cmd_source)
    p = sub.add_parser("ir", help="print a kernel's typed IR (after the HLS passes when --dims is given)")
    p.add_argument("target")
    p.add_argument("--dims", default="", help="bind dims (and scalar parameters) and run the passes, e.g. D=16")
    p.set_defaults(func=cmd_ir)
    p = sub.add_parser("lower", help="compile a kernel to hardware: report, and MyHDL / Verilog / VHDL files")
    p.add_argument("target")
    p.add_argument("--dims", default="", help="dims and scalar parameters to bind, e.g. M=8,N=8,D=16")
    p.add_argument("--out", help="folder for <top>.py (MyHDL), <top>.v and <top>.vhd")
    p.add_argument("--synth", action="store_true", help="also synthesize with Yosys synth_xilinx (LUT/FF/DSP/BRAM)")
    p.add_argument("--clock-ns", type=float, default=5.0, help="clock period the scheduler chains under")
    p.add_argument("--multipliers", type=int, default=None, help="at most this many multipliers per cycle")
    p.add_argument("--strict-ii", action="store_true", help="a pipelined loop that misses its ii is an error")
    p.set_defaults(func=cmd_lower)
    p = sub.add_parser("backends", help="list the backends and whether they can run here")
    p.set_defaults(func=cmd_backends)
    p = sub.add_parser("demo", help="check every library kernel on every backend and show the results")
    p.add_argument("--examples", type=int, default=100)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KernelError, ArgumentError, ValueError) as err:
        print(f"attnhls: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
