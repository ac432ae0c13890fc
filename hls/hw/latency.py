"""Latency expressions: exact cycle counts, or bounds and a formula when trip counts depend on data."""

from __future__ import annotations

from dataclasses import dataclass


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


def _paren(f: str) -> str:
    return f"({f})" if any(c in f for c in " +|") else f
