"""Scalar and array types of the kernel language.

Integers are exact in expressions and wrap (two's complement) when stored to a
typed local, an array element, a kernel parameter or a return value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ArrayType",
    "Array",
    "BoolType",
    "FloatType",
    "Int",
    "IntType",
    "ScalarType",
    "UInt",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "u8",
    "u16",
    "u32",
    "u64",
    "bool_",
    "as_type",
    "decode_value",
    "int_or_bool",
    "is_int",
    "numpy_dtype",
]


@dataclass(frozen=True, slots=True)
class IntType:
    """A signed or unsigned integer of `width` bits.

    Widths 1..64 can be declared; the frontend uses wider types internally for
    the exact value of an expression (`i32 + i32` is 33 bits wide).
    """

    width: int
    signed: bool

    @property
    def lo(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def name(self) -> str:
        if self.width in (8, 16, 32, 64):
            return f"{'i' if self.signed else 'u'}{self.width}"
        return f"{'Int' if self.signed else 'UInt'}({self.width})"

    def wrap(self, value: int) -> int:
        """Return `value` reduced to this type (two's complement wrap)."""
        mask = (1 << self.width) - 1
        value = int(value) & mask
        if self.signed and value > self.hi:
            value -= 1 << self.width
        return value

    def fits_i64(self) -> bool:
        """True when every value of this type is an int64 value."""
        return self.lo >= -(1 << 63) and self.hi < (1 << 63)

    def __call__(self, value: int) -> int:
        return self.wrap(value)

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class BoolType:
    """`bool`: storing a value keeps its truth (`x != 0`), it does not wrap."""

    width: int = 1
    signed: bool = False
    lo: int = 0
    hi: int = 1

    @property
    def name(self) -> str:
        return "bool"

    def wrap(self, value: int) -> int:
        return int(value != 0)

    def fits_i64(self) -> bool:
        return True

    def __call__(self, value: int) -> int:
        return self.wrap(value)

    def __repr__(self) -> str:
        return "bool"


@dataclass(frozen=True, slots=True)
class FloatType:
    """IEEE binary32 or binary64; only the Python and Numba backends run floats."""

    width: int

    @property
    def name(self) -> str:
        return f"f{self.width}"

    def __call__(self, value: float) -> float:
        return float(np.float32(value)) if self.width == 32 else float(value)

    def __repr__(self) -> str:
        return self.name


ScalarType = IntType | BoolType | FloatType


def Int(width: int) -> IntType:  # noqa: N802 - a type constructor, named like one
    """Signed integer type of `width` bits (1..64)."""
    _check_width(width)
    return IntType(width, True)


def UInt(width: int) -> IntType:  # noqa: N802
    """Unsigned integer type of `width` bits (1..64)."""
    _check_width(width)
    return IntType(width, False)


def _check_width(width: int) -> None:
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 64:
        raise ValueError(f"integer width must be an int in 1..64, got {width!r}")


i8, i16, i32, i64 = (IntType(w, True) for w in (8, 16, 32, 64))
u8, u16, u32, u64 = (IntType(w, False) for w in (8, 16, 32, 64))
bool_ = BoolType()
f32, f64 = FloatType(32), FloatType(64)


@dataclass(frozen=True, slots=True)
class ArrayType:
    """An n-dimensional array; each dim is a symbol (bound per call) or a fixed int."""

    elem: ScalarType
    dims: tuple[str | int, ...]

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def name(self) -> str:
        return f"Array[{self.elem.name}, {', '.join(repr(d) for d in self.dims)}]"

    def __repr__(self) -> str:
        return self.name


class Array:
    """`Array[dtype, dims...]`: annotation for an array argument."""

    def __class_getitem__(cls, item: object) -> ArrayType:
        if not isinstance(item, tuple) or len(item) < 2:
            raise TypeError('write Array[dtype, dim, ...], e.g. Array[i8, "M", "D"]')
        elem, *dims = item
        elem = as_type(elem)
        for d in dims:
            ok_int = isinstance(d, int) and not isinstance(d, bool) and d >= 0
            if not (ok_int or (isinstance(d, str) and d.isidentifier())):
                raise TypeError(f"array dims are identifiers or non-negative ints, got {d!r}")
        return ArrayType(elem, tuple(dims))


@dataclass(frozen=True, slots=True)
class StreamType:
    """A FIFO of scalars: a kernel parameter `x: Stream[i16]` or a local `s = stream(i16, depth=2)`."""

    elem: ScalarType

    @property
    def name(self) -> str:
        return f"Stream[{self.elem.name}]"

    def __repr__(self) -> str:
        return self.name


class Stream:
    """`Stream[dtype]`: annotation for a stream argument (read with `x.read()`, written with `x.write(v)`)."""

    def __class_getitem__(cls, item: object) -> StreamType:
        if isinstance(item, FloatType):
            raise TypeError("streams carry integers or bools, not floats (use a fixed-point integer type)")
        return StreamType(as_type(item))


def as_type(obj: object) -> ScalarType:
    """Accept our scalar types and Python's `bool`."""
    if obj is bool:
        return bool_
    if isinstance(obj, (IntType, BoolType, FloatType)):
        return obj
    raise TypeError(f"not a kernel scalar type: {obj!r} (use i8..u64, Int(w), UInt(w), bool, f32, f64)")


def int_or_bool(t: object) -> IntType | BoolType:
    """Return `t`, which the caller knows to be an integer or bool type (one with `lo` and `hi`).

    Raises TypeError for anything else (a float or array type, None): that is a compiler bug.
    """
    if isinstance(t, (IntType, BoolType)):
        return t
    raise TypeError(f"expected an integer or bool type, got {t!r}")


def is_int(v: object) -> bool:
    """True for a Python or numpy integer that is not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def numpy_dtype(t: ScalarType) -> np.dtype:
    """The numpy dtype that stores values of `t` (the narrowest that holds them)."""
    if isinstance(t, BoolType):
        return np.dtype(np.bool_)
    if isinstance(t, FloatType):
        return np.dtype(np.float32 if t.width == 32 else np.float64)
    for w in (8, 16, 32, 64):
        if t.width <= w:
            return np.dtype(f"{'int' if t.signed else 'uint'}{w}")
    raise ValueError(f"no numpy dtype holds {t.name}")


def decode_value(raw: Any, t: ScalarType | None) -> Any:
    """A backend's raw return value as the kernel's return type gives it: int (wrapped), bool, float or None.

    Every backend decodes its return value here, so all of them return the same Python value.
    """
    if t is None or raw is None:
        return None
    if isinstance(t, FloatType):
        return float(np.float32(raw)) if t.width == 32 else float(raw)
    if isinstance(t, BoolType):
        return bool(raw)
    return t.wrap(int(raw))
