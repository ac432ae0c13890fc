"""The integer typing rules, shared by the frontend, the passes and the hardware.

Every integer expression has the type of its exact value: the narrowest
`IntType` that holds every value it can take (`narrowest_int`: unsigned when
no value is negative; wider than 64 bits when needed), so `i32 + i32` is
`Int(33)` and nothing wraps inside an expression. Only assignments, stores,
arguments and return values wrap, to their declared types.

The interval of an operation follows from its operands' intervals (an integer
constant's interval is its own value, another operand's its type's range:
`value_range`). For `binop_range`, with a = alo..ahi and b = blo..bhi:

- `+ - *`: interval arithmetic (the extremes of the corners for `*`);
- `//`: by a divisor of one sign, the extremes of the corners; else -m..m,
  m = max(|alo|, |ahi|);
- `%`: takes the divisor's sign: 0..m-1 when blo >= 0, -(m-1)..0 when
  bhi <= 0, -(m-1)..m-1 otherwise, m = max(|blo|, |bhi|);
- `<< >>`: over the shift amounts in 0..63 that b can take (other amounts
  raise; none at all: no interval);
- `&`: 0..min(ahi, bhi) when both are non-negative, 0..hi of the
  non-negative one when one is; otherwise, and for `| ^`, the whole range
  of the narrowest type holding both (unsigned: 0..2**width - 1), since the
  bits of the result stay within that width.

`unary_range` gives `-a` as -ahi..-alo and `~a` as -ahi-1..-alo-1;
`intrinsic_range` gives `min`/`max` as the min/max of the bounds and `abs`
as 0 (when the interval holds it) or the least magnitude up to the greatest.
Comparisons and `and`/`or`/`not` are bool.

Operations that need the exact value (comparisons, `>>`, `//`, `%`, `min`,
`max`, `abs`, truth tests, indices, shift amounts, sizes, range bounds and
conversions to float) refuse operands whose type may not fit 64 bits
(`IntType.fits_i64`), so every backend computes the same result. Array
dims are at most MAX_DIM long, and `a.shape[k]` of an array parameter is
typed DIM_TYPE.
"""

from __future__ import annotations

from hls.ir import nodes as ir
from hls.types import FloatType, IntType, int_or_bool

__all__ = [
    "DIM_TYPE",
    "MAX_DIM",
    "Interval",
    "binop_range",
    "binop_type",
    "intrinsic_range",
    "literal_type",
    "narrowest_int",
    "unary_range",
    "value_range",
]

MAX_DIM = (1 << 31) - 1  # arrays are at most 2**31 - 1 long in each dim
DIM_TYPE = IntType(31, False)  # the type of an array parameter's `a.shape[k]`: 0..MAX_DIM
Interval = tuple[int, int]


def narrowest_int(lo: int, hi: int) -> IntType:
    """The narrowest integer type that holds every value in lo..hi (widths over 64 allowed)."""
    if lo >= 0:
        return IntType(max(1, hi.bit_length()), False)
    need = max((-lo - 1).bit_length(), hi.bit_length() if hi > 0 else 0) + 1
    return IntType(need, True)


def literal_type(value: int) -> IntType:
    """The type of the integer constant `value`: exactly its own value."""
    return narrowest_int(value, value)


def value_range(e: ir.Expr) -> Interval:
    """The values integer expression `e` can take: its own value for a constant, else its type's range."""
    if isinstance(e, ir.Const) and not isinstance(e.type, FloatType):
        return int(e.value), int(e.value)
    t = int_or_bool(e.type)
    return t.lo, t.hi


def binop_range(op: str, a: Interval, b: Interval) -> Interval | None:
    """The interval of `a op b` for integer operands in `a` and `b`; None when it always raises (or for `/`)."""
    (alo, ahi), (blo, bhi) = a, b
    if op == "+":
        return alo + blo, ahi + bhi
    if op == "-":
        return alo - bhi, ahi - blo
    if op == "*":
        corners = (alo * blo, alo * bhi, ahi * blo, ahi * bhi)
        return min(corners), max(corners)
    if op == "%":
        m = max(abs(blo), abs(bhi))
        return (0 if blo >= 0 else -(m - 1)), (0 if bhi <= 0 else m - 1)
    if op == "//":
        if blo > 0 or bhi < 0:  # the divisor has one sign: the extremes are at the corners
            quotients = [x // y for x in (alo, ahi) for y in (blo, bhi)]
            return min(quotients), max(quotients)
        m = max(abs(alo), abs(ahi))
        return -m, m
    if op in ("<<", ">>"):
        slo, shi = max(blo, 0), min(bhi, 63)
        if slo > shi:
            return None
        if op == "<<":
            return min(alo << slo, alo << shi), max(ahi << slo, ahi << shi)
        return min(alo >> slo, alo >> shi), max(ahi >> slo, ahi >> shi)
    if op in ("&", "|", "^"):
        return _bitwise_range(op, alo, ahi, blo, bhi)
    return None


def _bitwise_range(op: str, alo: int, ahi: int, blo: int, bhi: int) -> Interval:
    """The interval of `a op b` for a bitwise `op` on two's complement values."""
    if op == "&" and alo >= 0 and blo >= 0:
        return 0, min(ahi, bhi)
    if op == "&" and (alo >= 0 or blo >= 0):
        return 0, ahi if alo >= 0 else bhi
    t = narrowest_int(min(alo, blo), max(ahi, bhi))
    if t.signed:
        return t.lo, t.hi
    return 0, (1 << t.width) - 1


def binop_type(op: str, a: Interval, b: Interval) -> IntType:
    """The exact type of `a op b` for integer operands in `a` and `b`, an operation that does not always raise."""
    rng = binop_range(op, a, b)
    if rng is None:
        raise TypeError(f"`{op}` on {a} and {b} has no integer result")
    return narrowest_int(*rng)


def unary_range(op: str, a: Interval) -> Interval:
    """The interval of `-a` or `~a` for an integer operand in `a`."""
    lo, hi = a
    return (-hi, -lo) if op == "-" else (-hi - 1, -lo - 1)


def intrinsic_range(name: str, args: list[Interval]) -> Interval:
    """The interval of `min(...)`, `max(...)` or `abs(a)` for integer arguments in the intervals `args`."""
    if name == "abs":
        lo, hi = args[0]
        return (0 if lo <= 0 <= hi else min(abs(lo), abs(hi))), max(abs(lo), abs(hi))
    pick = min if name == "min" else max
    return pick(a[0] for a in args), pick(a[1] for a in args)
