"""attnhls kernel language: write an algorithm once, run it on every backend."""

from hls.errors import ArgumentError, KernelError, UnsupportedKernel
from hls.lang import Kernel, Table, exp, kernel, log, pipeline, prange, sqrt, table, unroll, zeros
from hls.types import (
    Array,
    ArrayType,
    BoolType,
    FloatType,
    Int,
    IntType,
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
    "BoolType",
    "FloatType",
    "Int",
    "IntType",
    "Kernel",
    "KernelError",
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
