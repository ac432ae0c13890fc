"""strength: division, modulo and multiplication by a power-of-two constant become shifts and masks.

For every integer x and k >= 1, Python's floor semantics give exactly
`x // 2**k == x >> k` (an arithmetic shift floors too), `x % 2**k == x & (2**k - 1)`
(two's complement `&` of a negative x is its residue) and `x * 2**k == x << k`,
so each rewrite keeps the expression's value and its type: the new node
carries the old node's type, and nothing wraps that did not wrap before.
Hardware then gets wiring and an AND instead of a divider (a whole cycle of
its own in the delay model). Multiplications by other constants stay `*`:
the dataflow graph makes them `mulc` ops, which the emitter writes as shifts
and adds where that is cheaper than a multiplier (hls/hw/emit.py). Divisors
that are not powers of two, negative or zero (x // 0 raises) are left alone.
"""

from __future__ import annotations

import dataclasses

from hls.ir import nodes as ir
from hls.passes._util import const, map_expr, map_stmts
from hls.types import IntType

__all__ = ["reduce", "run"]

_MAX_SHIFT = 63  # the shift amounts every backend accepts (the interpreter raises outside 0..63)


def run(fn: ir.Function) -> ir.Function:
    """`fn` with `//`, `%` and `*` by power-of-two constants rewritten as `>>`, `&` and `<<`."""
    body = map_stmts(fn.body, _node)
    return fn if body == fn.body else dataclasses.replace(fn, body=body)


def reduce(e: ir.Expr) -> ir.Expr:
    """`e` with every division, modulo and multiplication by a power-of-two constant strength-reduced."""
    return map_expr(e, _node)


def _log2(e: ir.Expr) -> int | None:
    """k when `e` is the integer constant 2**k with 1 <= k <= 63, else None."""
    if not isinstance(e, ir.Const) or not isinstance(e.type, IntType):
        return None
    v = int(e.value)
    if v < 2 or v & (v - 1):
        return None
    k = v.bit_length() - 1
    return k if k <= _MAX_SHIFT else None


def _node(e: ir.Expr) -> ir.Expr:
    if not isinstance(e, ir.BinOp) or not isinstance(e.type, IntType):
        return e
    if e.op in ("//", "%") and isinstance(e.lhs.type, IntType):
        k = _log2(e.rhs)
        if k is None:
            return e
        if e.op == "//":
            return ir.BinOp(">>", e.lhs, const(k, e.rhs.loc), e.type, e.loc)
        return ir.BinOp("&", e.lhs, const((1 << k) - 1, e.rhs.loc), e.type, e.loc)
    if e.op == "*":
        for x, c in ((e.lhs, e.rhs), (e.rhs, e.lhs)):
            k = _log2(c)
            if k is not None and isinstance(x.type, IntType):
                return ir.BinOp("<<", x, const(k, c.loc), e.type, e.loc)
    return e
