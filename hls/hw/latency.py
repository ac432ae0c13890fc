"""Latency expressions: exact cycle counts, or bounds and a formula when trip counts depend on data; trip counts."""

from __future__ import annotations

from dataclasses import dataclass

from hls.inttypes import narrowest_int
from hls.ir import nodes as ir
from hls.ir.walk import subexpressions
from hls.types import BoolType, IntType


@dataclass(frozen=True)
class Lat:
    """Cycles between `lo` and `hi` (None: unbounded); `formula` names the data-dependent trip counts."""

    lo: int
    hi: int | None
    formula: str

    @staticmethod
    def const(n: int) -> Lat:
        return Lat(n, n, str(n))

    @staticmethod
    def zero() -> Lat:
        return Lat.const(0)

    @staticmethod
    def one() -> Lat:
        return Lat.const(1)

    @staticmethod
    def unknown(name: str) -> Lat:
        return Lat(0, None, name)

    @property
    def exact(self) -> bool:
        return self.hi == self.lo

    @staticmethod
    def either(a: Lat, b: Lat) -> Lat:
        """One of two branches runs."""
        if a == b:
            return a
        hi = None if a.hi is None or b.hi is None else max(a.hi, b.hi)
        return Lat(min(a.lo, b.lo), hi, f"({a.formula} | {b.formula})")

    def __add__(self, other: Lat) -> Lat:
        hi = None if self.hi is None or other.hi is None else self.hi + other.hi
        if self.exact and other.exact:
            return Lat.const(self.lo + other.lo)
        if self.formula == "0":
            return other
        if other.formula == "0":
            return self
        return Lat(self.lo + other.lo, hi, f"{self.formula} + {other.formula}")

    def __mul__(self, other: Lat) -> Lat:
        if self.exact and other.exact:
            return Lat.const(self.lo * other.lo)
        hi = None if self.hi is None or other.hi is None else self.hi * other.hi
        if self.formula == "1":
            return other
        if other.formula == "1":
            return self
        return Lat(self.lo * other.lo, hi, f"{_paren(self.formula)}*{_paren(other.formula)}")

    def __str__(self) -> str:
        if self.exact:
            return f"{self.lo} cycles"
        hi = "unbounded" if self.hi is None else str(self.hi)
        return f"{self.formula} cycles (from {self.lo} to {hi})"


def _count(a: int, b: int, step: int) -> int:
    """len(range(a, b, step)), for bounds of any size."""
    return max(0, -((a - b) // step)) if step > 0 else max(0, -((b - a) // -step))


def trips(f: ir.For, step: int | None) -> Lat:
    """The trip count of `f`: exact for constant bounds, else `trips@line` between the counts its bounds' types allow.

    The bounds' types are their value ranges (the bitwidth pass narrows them), so `range(min(K, n))` is capped at K.
    """
    a, b = _const(f.start), _const(f.stop)
    if step is None:
        return Lat.unknown(f"trips@{f.loc.line}")
    if a is not None and b is not None:
        return Lat.const(_count(a, b, step))
    (lo_a, hi_a), (lo_b, hi_b) = _range(f.start.type), _range(f.stop.type)
    if step > 0:
        return Lat(_count(hi_a, lo_b, step), _count(lo_a, hi_b, step), f"trips@{f.loc.line}")
    return Lat(_count(lo_a, hi_b, step), _count(hi_a, lo_b, step), f"trips@{f.loc.line}")


def row_trips(s: ir.For, inner: ir.For, step: int, istep: int) -> Lat | None:
    """The exact cycles of a row pipeline (each row: its trips and one cycle) when every row's bounds are known.

    That is when the rows are constant and the inner bounds are computed from the row index and constants only
    (no reads, no other locals): they are folded for each row. None otherwise.
    """
    from hls.passes.constfold import fold

    a, b = _const(s.start), _const(s.stop)
    if a is None or b is None or _reads(inner.start) or _reads(inner.stop):
        return None
    total = 0
    for i in range(a, b, step):
        env = {s.var: ir.Const(i, narrowest_int(i, i), s.loc)}
        lo, hi = _const(fold(inner.start, env)), _const(fold(inner.stop, env))
        if lo is None or hi is None:
            return None
        total += _count(lo, hi, istep) + 1
    return Lat.const(total)


def _const(e: ir.Expr) -> int | None:
    return int(e.value) if isinstance(e, ir.Const) and isinstance(e.value, (int, bool)) else None


def _reads(e: ir.Expr) -> bool:
    return any(isinstance(x, ir.Load) for x in subexpressions(e))


def _range(t: object) -> tuple[int, int]:
    """The values of an integer (or bool) bound's type."""
    if isinstance(t, BoolType):
        return 0, 1
    if not isinstance(t, IntType):
        raise TypeError(f"not an integer type: {t}")
    return t.lo, t.hi


def _paren(f: str) -> str:
    return f"({f})" if any(c in f for c in " +|") else f
