"""`myhdl` and `verilator`: run a kernel as the hardware `hls.lower` builds, cycle-accurately.

The design is lowered with the call's dims bound (cached per kernel and dims);
array arguments load the external memory banks, scalar arguments the `p_*`
ports; the design runs from `start` to `done`; written banks are copied back
into the arrays, and the result carries `.cycles`. `myhdl` simulates the
generated MyHDL block; `verilator` simulates the Verilog MyHDL converts it to
(built by Verilator, cached by content hash; `prebuild` builds many designs in
one Verilator/C++ build). Both write the run's waveform when asked (`run(..., vcd=PATH)`): every
signal of the design, the top ports under their own names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hls.compiler import Design, lower
from hls.errors import UnsupportedKernel
from hls.ir.walk import statements, stmt_exprs, subexpressions
from hls.lang import Kernel
from hls.runtime import Backend, Bound, RunResult
from hls.types import ArrayType, FloatType

MAX_CYCLES = 10_000_000


class HdlBackend(Backend):
    """Shared by the two HDL backends: lower once per (kernel, dims), check floats up front."""

    name = ""
    waveforms = True

    def __init__(self) -> None:
        self._designs: dict[tuple[Any, ...], Design] = {}

    def unavailable(self) -> str | None:
        try:
            import myhdl  # noqa: F401
        except ImportError:
            return "MyHDL is not installed (pip install myhdl)"
        return None

    def unsupported(self, kernel: Kernel) -> str | None:
        """Why hardware cannot run `kernel` (it uses floats), or None."""
        float_line = _float_line(kernel)
        if float_line is not None:
            return f"{kernel.__name__} uses floats (line {float_line}); hardware needs fixed-point integer types"
        return None

    def source(self, kernel: Kernel, dims: dict[str, int] | None = None) -> str:
        """The generated MyHDL source of the design for `dims` (every dim and scalar the hardware needs)."""
        return self.design(kernel, dict(dims or {})).myhdl_source

    def prebuild(self, items: Sequence[tuple[Kernel, dict[str, int]]]) -> None:
        """Lower every (kernel, dims) that hardware can run, once."""
        for k, dims in items:
            if _float_line(k) is None:
                self.design(k, dims)

    def design(self, kernel: Kernel, dims: dict[str, int], depths: dict[str, int] | None = None) -> Design:
        """The design of `kernel` for `dims` (a region: with its FIFO `depths` overridden), lowered once."""
        key = (kernel, tuple(sorted(dims.items())), tuple(sorted((depths or {}).items())))
        d = self._designs.get(key)
        if d is None:
            params: dict[str, Any] = dict(dims)  # NOTE: dims and scalar parameters, never lower()'s options
            if depths:
                params["depths"] = dict(depths)
            d = self._designs[key] = lower(kernel, **params)
        return d

    def run(self, bound: Bound) -> RunResult:
        return self._run(bound, None)

    def run_traced(self, bound: Bound, vcd: Path) -> RunResult:
        """Run as `run` does and write the VCD of the simulation to `vcd`."""
        return self._run(bound, vcd)

    def _run(self, bound: Bound, vcd: Path | None) -> RunResult:
        why = self.unsupported(bound.kernel)
        if why is not None:
            raise UnsupportedKernel(why)
        design = self.design(bound.kernel, dict(bound.dims), bound.depths)
        values = {p.name: v for p, v in zip(bound.kernel.ir.params, bound.values)}
        t0 = time.perf_counter()
        value, cycles = self.simulate(design, values, vcd)
        fifos = getattr(design, "last_fifos", None)  # a region: its FIFOs' statistics
        return RunResult(self.name, value, cycles=cycles, seconds=time.perf_counter() - t0, fifos=fifos)

    def simulate(self, design: Design, values: dict[str, Any], vcd: Path | None = None) -> tuple[Any, int]:
        """Simulate `design` on `values` (outputs written in place): (return value, cycles); a VCD to `vcd`."""
        raise NotImplementedError


class MyhdlBackend(HdlBackend):
    """Simulate the generated MyHDL block."""

    name = "myhdl"

    def simulate(self, design: Design, values: dict[str, Any], vcd: Path | None = None) -> tuple[Any, int]:
        return design.simulate_myhdl(values, MAX_CYCLES, vcd)


class VerilatorBackend(HdlBackend):
    """Simulate the converted Verilog with Verilator."""

    name = "verilator"

    def unavailable(self) -> str | None:
        from hls.tools import verilator

        return super().unavailable() or verilator.missing()

    def simulate(self, design: Design, values: dict[str, Any], vcd: Path | None = None) -> tuple[Any, int]:
        return design.simulate_verilator(values, MAX_CYCLES, vcd)

    def source(self, kernel: Kernel, dims: dict[str, int] | None = None) -> str:
        """The Verilog MyHDL converts the design for `dims` to (what Verilator simulates)."""
        return self.design(kernel, dict(dims or {})).verilog

    def prebuild(self, items: Sequence[tuple[Kernel, dict[str, int]]]) -> None:
        """Lower every (kernel, dims) and build all their Verilator models in one batch."""
        designs = [self.design(k, dims) for k, dims in items if _float_line(k) is None]
        Design.build_verilator_many(designs)


def _float_line(kernel: Kernel) -> int | None:
    fn = kernel.ir
    for p in fn.params:
        t = p.type.elem if isinstance(p.type, ArrayType) else p.type
        if isinstance(t, FloatType):
            return p.loc.line
    for loc in fn.locals:
        if isinstance(loc.type, FloatType):
            return loc.loc.line
    if isinstance(fn.ret, FloatType):
        return fn.loc.line
    for s in statements(fn.body):
        for e in stmt_exprs(s):
            for x in subexpressions(e):
                if isinstance(x.type, FloatType):
                    return x.loc.line
    for callee in kernel.callees.values():
        line = _float_line(callee)
        if line is not None:
            return line
    return None
