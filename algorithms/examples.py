"""Small kernels that exercise every construct of the kernel language.

They double as the language's executable examples: wrap-around stores,
odd widths, floor division of negative numbers, while loops, tables and
kernel calls. The equivalence tests run each one on every backend.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from hls import Array, Int, UInt, i8, i16, i32, i64, kernel, prange, table, u8, u16, u32, u64, unroll

# 2**(i/16) in Q8 fixed point: a constant table, a ROM in hardware.
EXP2_FRAC_Q8 = table(u16, [round(256 * 2 ** (i / 16)) for i in range(16)])
I12 = Int(12)
ROW_BIAS = 3


@kernel
def wrap_add(a: Array[i8, "N"], b: Array[i8, "N"], out: Array[i8, "N"]):
    """out = a + b, wrapping to int8 (127 + 1 == -128)."""
    for i in prange(a.shape[0]):
        out[i] = a[i] + b[i]


@kernel
def dot_wrap(a: Array[i8, "N"], b: Array[i8, "N"], out: Array[i16, 1]):
    """An int8 dot product accumulated in an i16 local, which overflows and wraps."""
    acc = i16(0)
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    out[0] = acc


@kernel
def floor_ops(a: Array[i16, "N"], b: Array[i16, "N"], quo: Array[i16, "N"], rem: Array[i16, "N"], sar: Array[i16, "N"]):
    """Python floor // and %, and arithmetic >>, on negative operands; x // 0 is avoided."""
    for i in range(a.shape[0]):
        if b[i] != 0:
            quo[i] = a[i] // b[i]
            rem[i] = a[i] % b[i]
        else:
            quo[i] = 0
            rem[i] = a[i]
        sar[i] = a[i] >> (b[i] & 15)


@kernel
def popcount(x: Array[u32, "N"], out: Array[u8, "N"]):
    """Count set bits with a while loop and shifts."""
    for i in range(x.shape[0]):
        v = x[i]
        c = u8(0)
        while v != 0:
            c += v & 1
            v >>= 1
        out[i] = c


@kernel
def classify(x: Array[i32, "N"], out: Array[i8, "N"]):
    """if/elif/else chains, and/or/not, chained comparisons and a conditional expression."""
    for i in range(x.shape[0]):
        v = x[i]
        if v < -1000:
            out[i] = -2
        elif -1000 <= v < 0:
            out[i] = -1
        elif v == 0 or not v:
            out[i] = 0
        else:
            out[i] = 1 if v <= 1000 and v != 7 else 2


@kernel
def clamp_odd_width(a: Array[I12, "N"], lo: i16, hi: i16, out: Array[UInt(5), "N"], wide: Array[I12, "N"]):
    """min/max/abs with scalar arguments; stores to 12- and 5-bit elements wrap."""
    for i in range(a.shape[0]):
        out[i] = min(max(a[i], lo), hi)
        wide[i] = abs(a[i]) * 3 + ROW_BIAS


@kernel
def exp2_q8(x: u8) -> u32:
    """2**(x/16) in Q8: a table lookup for the fraction, a shift for the integer part."""
    return EXP2_FRAC_Q8[x & 15] << (x >> 4)


@kernel
def exp2_rows(x: Array[u8, "M", "N"], out: Array[u32, "M", "N"]):
    """Call a kernel per element of a 2D array."""
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = exp2_q8(x[i, j])


@kernel
def bit_mix(a: Array[u64, "N"], b: Array[u32, "N"], c: Array[bool, "N"], out: Array[u64, "N"]):
    """64-bit unsigned wrap-around: xor, or, and, invert, variable left shift."""
    for i in range(a.shape[0]):
        t = a[i] ^ (b[i] << (b[i] & 31))
        if c[i]:
            t = ~t | 1
        out[i] = t * 0x9E3779B97F4A7C15 + (a[i] & 0xFF)


@kernel
def row_max_index(x: Array[i32, "M", "N"], idx: Array[i32, "M"]):
    """Index of the largest element per row (the first on ties); unroll by a factor."""
    for i in prange(x.shape[0]):
        best = i64(-(1 << 40))
        at = i32(-1)
        for j in unroll(range(x.shape[1]), factor=2):
            if x[i, j] > best:
                best = x[i, j]
                at = j
        idx[i] = at


@kernel(values={"s": st.integers(0, 63)})
def shift_by(a: Array[i64, "N"], s: Array[i8, "N"], left: Array[i64, "N"], right: Array[i64, "N"]):
    """Shifts by data-dependent amounts (0..63), wrapping at 64 bits."""
    for i in range(a.shape[0]):
        left[i] = a[i] << s[i]
        right[i] = a[i] >> s[i]


@kernel(values={"n": st.integers(-3, 40)})
def triangle_count(n: i32, out: Array[i64, 1]):
    """Nested loops with a data-dependent inner bound and a negative step."""
    total = 0
    for i in range(n, 0, -1):
        for j in range(i):
            total += j & 3
    out[0] = total


def floor_ops_reference(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """numpy reference for floor_ops (numpy's // and % floor like Python's)."""
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    safe = np.where(b64 == 0, 1, b64)
    quo = np.where(b64 == 0, 0, a64 // safe)
    rem = np.where(b64 == 0, a64, a64 % safe)
    return quo.astype(np.int16), rem.astype(np.int16), (a64 >> (b64 & 15)).astype(np.int16)


__all__ = [
    "EXP2_FRAC_Q8",
    "bit_mix",
    "clamp_odd_width",
    "classify",
    "dot_wrap",
    "exp2_q8",
    "exp2_rows",
    "floor_ops",
    "floor_ops_reference",
    "popcount",
    "row_max_index",
    "shift_by",
    "triangle_count",
    "wrap_add",
]
