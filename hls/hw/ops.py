"""The operator vocabulary of the hardware graph: what an op does, and the operator it carries.

`OpKind` names every kind of `hls.hw.dfg.Op`; the comment on each member says
what the op's `attr` holds for it. `BinaryOp` and `CompareOp` are the
operators of `BIN`/`MULC`/`SHIFT_CONST` and `CMP` ops, with their exact
semantics on constants (used by constant folding). The enums are `StrEnum`s,
so a kind prints as its name in the hardware ("bin", "+") and formats the
same in generated source.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from enum import StrEnum


class OpKind(StrEnum):
    """What a hardware op does."""

    CONST = "const"  # attr: the value (int)
    REG = "reg"  # read a register's value from before the region; attr: the register (str)
    SNAP = "snap"  # a pipeline's loop counter in the issue cycle; attr: the counter's register (str)
    VALID = "valid"  # 1 in a pipeline cycle that issues an iteration
    WREG = "wreg"  # write a register; attr: the register (str); args: value [, enable]
    LOAD = "load"  # attr: the Bank; args: address; the data comes one cycle later
    STORE = "store"  # attr: the Bank; args: address, value [, enable]
    BIN = "bin"  # attr: the BinaryOp
    MULC = "mulc"  # multiply by a constant (shifts and adds); attr: BinaryOp.MUL
    SHIFT_CONST = "shift_const"  # shift by a constant (wiring); attr: BinaryOp.SHL or BinaryOp.SHR
    CMP = "cmp"  # a 0/1 comparison; attr: the CompareOp
    NEG = "neg"
    INV = "inv"  # bitwise not
    NOT = "not"  # logical not of a value (0/1)
    AND = "and"  # logical and of two 0/1 values
    OR = "or"  # logical or of two 0/1 values
    SEL = "sel"  # args: condition, then, else
    MIN = "min"
    MAX = "max"
    ABS = "abs"
    CAST = "cast"  # wrap to the op's type
    SREAD = "sread"  # pop a stream's head (FWFT data, no latency); attr: the stream (str); args: [enable]
    SWRITE = "swrite"  # push onto a stream; attr: the stream (str); args: value [, enable]


ARITHMETIC = frozenset({OpKind.BIN, OpKind.MULC, OpKind.SHIFT_CONST})  # the kinds that carry a BinaryOp
MEMORY = frozenset({OpKind.LOAD, OpKind.STORE})  # the kinds that carry a Bank and use one of its ports
STREAM = frozenset({OpKind.SREAD, OpKind.SWRITE})  # the kinds that carry a stream name and stall when blocked
FREE = frozenset({OpKind.CONST, OpKind.REG})  # values read straight from constants and registers: no cycle


# NOTE: a constant with d non-zero canonical signed digits is d - 1 adders; up to two adders are cheaper than a
# multiplier (a DSP block, or a LUT array of about w x w bits) and no slower; beyond that the multiplier wins.
MULC_MAX_ADDS = 2  # a `mulc` op is emitted as shifts and adds up to this many adders, else as `*`


def csd_digits(c: int) -> list[tuple[int, int]]:
    """Return the canonical signed digits of `c` as (shift, +1 or -1), highest first: c == sum(d << s).

    No two non-zero digits are adjacent (7 is 8 - 1), so this is the fewest shifted terms that sum to c.
    """
    digits: list[tuple[int, int]] = []
    shift = 0
    while c:
        if c & 1:
            d = 2 - (c & 3)  # +1 or -1: the choice that leaves the next bit 0
            digits.append((shift, d))
            c -= d
        c >>= 1
        shift += 1
    return digits[::-1]


class BinaryOp(StrEnum):
    """An arithmetic or bitwise operator (Python's integer semantics: floor division, arithmetic shifts)."""

    ADD = "+"
    SUB = "-"
    MUL = "*"
    FLOORDIV = "//"
    MOD = "%"
    AND = "&"
    OR = "|"
    XOR = "^"
    SHL = "<<"
    SHR = ">>"

    @property
    def word(self) -> str:
        """Name the operator as the report counts it ("add", "shl", ...)."""
        return _WORDS[self]

    def fold(self, a: int, b: int) -> int | None:
        """Return the exact value of `a op b`, or None where it is not folded (shifts outside 0..63, x // 0)."""
        if self in (BinaryOp.SHL, BinaryOp.SHR):
            if not 0 <= b <= 63:
                return None
            return a << b if self is BinaryOp.SHL else a >> b
        if self in (BinaryOp.FLOORDIV, BinaryOp.MOD):
            if b == 0:
                return None
            return a // b if self is BinaryOp.FLOORDIV else a % b
        return _BINARY[self](a, b)


class CompareOp(StrEnum):
    """A comparison operator."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="

    def fold(self, a: int, b: int) -> int:
        """Return `a op b` as 0 or 1."""
        return int(_COMPARE[self](a, b))


_WORDS = {
    BinaryOp.ADD: "add",
    BinaryOp.SUB: "sub",
    BinaryOp.MUL: "mul",
    BinaryOp.FLOORDIV: "div",
    BinaryOp.MOD: "mod",
    BinaryOp.AND: "and",
    BinaryOp.OR: "or",
    BinaryOp.XOR: "xor",
    BinaryOp.SHL: "shl",
    BinaryOp.SHR: "shr",
}
_BINARY: dict[BinaryOp, Callable[[int, int], int]] = {
    BinaryOp.ADD: operator.add,
    BinaryOp.SUB: operator.sub,
    BinaryOp.MUL: operator.mul,
    BinaryOp.AND: operator.and_,
    BinaryOp.OR: operator.or_,
    BinaryOp.XOR: operator.xor,
}
_COMPARE: dict[CompareOp, Callable[[int, int], bool]] = {
    CompareOp.LT: operator.lt,
    CompareOp.LE: operator.le,
    CompareOp.GT: operator.gt,
    CompareOp.GE: operator.ge,
    CompareOp.EQ: operator.eq,
    CompareOp.NE: operator.ne,
}


__all__ = ["ARITHMETIC", "FREE", "MEMORY", "MULC_MAX_ADDS", "STREAM", "BinaryOp", "CompareOp", "OpKind", "csd_digits"]
