"""The IR passes of the HLS compiler, one module each, in the order `run_all` runs them.

`lower()` runs them one by one (each is `module.run(fn, ...) -> Function`);
`run_all` is the same list for tests and tools, with the verifier between
passes and the IR dump that `ATTNHLS_DUMP_IR=bind,unroll` (or `all`) asks for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from hls.ir import nodes as ir
from hls.ir import verify as _verifier
from hls.ir.printer import format_function
from hls.passes import bind, bitwidth, constfold, ifconvert, inline, scalarize, strength, unroll

__all__ = [
    "PASSES",
    "Pass",
    "bind",
    "bitwidth",
    "collect_callees",
    "constfold",
    "dump_requested",
    "ifconvert",
    "inline",
    "run_all",
    "scalarize",
    "strength",
    "unroll",
]


@dataclass(frozen=True)
class Pass:
    """One entry of PASSES: its name, its module's `run`, and the verifier stage its result meets."""

    name: str
    run: Callable[..., ir.Function]
    stage: str


# NOTE: constfold runs twice: after bind (dims are constants) and after unroll (loop variables are).
PASSES: list[Pass] = [
    Pass("inline", inline.run, "inlined"),  # kernel calls -> callee bodies
    Pass("bind", bind.run, "bound"),  # dim symbols and bound scalars -> constants; floats refused
    Pass("constfold", constfold.run, "bound"),  # constant propagation and folding
    Pass("unroll", unroll.run, "unrolled"),  # unroll loops replicated; local array sizes fixed
    Pass("constfold", constfold.run, "unrolled"),  # fold the unrolled copies
    Pass("scalarize", scalarize.run, "unrolled"),  # small constant-indexed local arrays -> a register per element
    Pass("ifconvert", ifconvert.run, "ifconverted"),  # ifs in pipelined bodies -> selects and predicated stores
    Pass("bitwidth", bitwidth.run, "ifconverted"),  # types narrowed to value ranges
    Pass("strength", strength.run, "ifconverted"),  # // % * by powers of two -> >> & <<, types kept
]


def collect_callees(kernel: Any) -> dict[str, ir.Function]:
    """The IR of every kernel that `kernel` calls, directly or not, by IR name."""
    out: dict[str, ir.Function] = {}
    stack = list(kernel.callees.values())
    while stack:
        k = stack.pop()
        if k.ir_name not in out:
            out[k.ir_name] = k.ir
            stack.extend(k.callees.values())
    return out


def dump_requested(name: str, dump: str | None = None) -> bool:
    """True when the IR after pass `name` is to be printed: `dump` (else ATTNHLS_DUMP_IR) names it or says all."""
    wanted = dump if dump is not None else os.environ.get("ATTNHLS_DUMP_IR", "")
    names = {w.strip() for w in wanted.split(",") if w.strip()}
    return "all" in names or name in names


def run_all(
    kernel: Any, params: dict[str, Any], verify: bool = False, dump: str | None = None, out: TextIO | None = None
) -> ir.Function:
    """Run PASSES on `kernel` (a Kernel) with `params` bound; run the verifier after each pass when `verify`.

    `dump` (default: the ATTNHLS_DUMP_IR environment variable) names the
    passes after which the IR is printed, to `out` (default: stderr).
    """
    fn = kernel.ir
    extra_args = {"inline": (collect_callees(kernel),), "bind": (params,)}  # NOTE: computed once, not per pass
    for p in PASSES:
        fn = p.run(fn, *extra_args.get(p.name, ()))
        if verify:
            _verifier.verify(fn, p.stage)
        if dump_requested(p.name, dump):
            stream = out or sys.stderr
            print(f"# IR after {p.name}", file=stream)
            print(format_function(fn), file=stream, end="")
    return fn
