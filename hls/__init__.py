"""attnhls kernel language: write an algorithm once, run it on every backend."""

from hls.errors import ArgumentError, DeadlockError, KernelError, UnsupportedKernel
from hls.lang import Kernel, Table, exp, kernel, log, pipeline, prange, sqrt, stream, table, unroll, zeros
from hls.types import (
    Array,
    ArrayType,
    BoolType,
    FloatType,
    Int,
    IntType,
    Stream,
    StreamType,
    UInt,
    bool_,
    f32,
    f64,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
)

__all__ = [
    "Array",
    "ArrayType",
    "ArgumentError",
    "DeadlockError",
    "BoolType",
    "FloatType",
    "Int",
    "IntType",
    "Kernel",
    "KernelError",
    "Stream",
    "StreamType",
    "Table",
    "UInt",
    "UnsupportedKernel",
    "bool_",
    "check",
    "lower",
    "exp",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "kernel",
    "log",
    "pipeline",
    "prange",
    "sqrt",
    "stream",
    "min_depths",
    "run",
    "table",
    "u8",
    "u16",
    "u32",
    "u64",
    "unroll",
    "zeros",
]


def check(kernel, backends=("python", "numba-cpu"), examples=100, **options):
    """Run `kernel` on every backend named with Hypothesis-drawn inputs; see hls.checker.check."""
    from hls.checker import check as _check

    return _check(kernel, backends=backends, examples=examples, **options)


def lower(kernel, **params):
    """Compile `kernel` to hardware (a Design: MyHDL source, Verilog, VHDL, report); see hls.compiler.lower."""
    from hls.compiler import lower as _lower

    return _lower(kernel, **params)


def run(kernel, *args, backend="python", **params):
    """Run `kernel` on `backend` (arrays updated in place); see hls.runtime.run. Returns a RunResult."""
    from hls.runtime import run as _run

    return _run(kernel, *args, backend=backend, **params)


def min_depths(region, *args, backend="verilator", **params):
    """The smallest depth of every FIFO of `region` at which it neither deadlocks nor runs more than 1% slower
    than with unbounded FIFOs, found by simulation; see hls.dataflow.min_depths."""
    from hls.dataflow import min_depths as _min_depths

    return _min_depths(region, *args, backend=backend, **params)
