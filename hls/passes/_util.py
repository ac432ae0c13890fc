"""Shared helpers of the passes: rebuilding nodes, substitution, exact constants, fresh names."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar, cast

from hls.inttypes import literal_type, narrowest_int
from hls.ir import nodes as ir
from hls.ir.walk import expr_children, map_blocks, statements, stmt_exprs
from hls.types import BoolType, FloatType, ScalarType, bool_

__all__ = [
    "NameSupply",
    "assigned",
    "const",
    "contains",
    "function_names",
    "join_types",
    "map_expr",
    "map_stmts",
    "may_raise",
    "raises_itself",
    "stmt_exprs",
    "subexprs",
    "with_children",
    "with_exprs",
    "zero",
]


def const(value: int, loc: ir.Loc, t: ScalarType | None = None) -> ir.Const:
    """An integer constant typed exactly as the frontend types literals (or as bool when `t` is bool)."""
    if isinstance(t, BoolType):
        return ir.Const(int(value != 0), bool_, loc)
    return ir.Const(int(value), literal_type(int(value)), loc)


def zero(t: ScalarType, loc: ir.Loc) -> ir.Const:
    """The zero a local of type `t` starts with."""
    if isinstance(t, FloatType):
        return ir.Const(0.0, t, loc)
    return const(0, loc, t)


def join_types(a: ScalarType, b: ScalarType) -> ScalarType:
    """A type that holds every value of `a` and of `b` (bool when both are bool)."""
    if isinstance(a, FloatType) or isinstance(b, FloatType):
        return a if isinstance(a, FloatType) else b
    if isinstance(a, BoolType) and isinstance(b, BoolType):
        return bool_
    return narrowest_int(min(a.lo, b.lo), max(a.hi, b.hi))


_E = TypeVar("_E", bound=ir.Expr)


def with_children(e: _E, kids: tuple[ir.Expr, ...]) -> _E:
    """`e` rebuilt with new scalar operands, given in `expr_children` order."""
    if isinstance(e, ir.Load):
        return dataclasses.replace(e, indices=kids)
    if isinstance(e, ir.BinOp | ir.Compare | ir.Logical):
        return dataclasses.replace(e, lhs=kids[0], rhs=kids[1])
    if isinstance(e, ir.UnaryOp | ir.Cast):
        return dataclasses.replace(e, operand=kids[0])
    if isinstance(e, ir.Select):
        return dataclasses.replace(e, cond=kids[0], then=kids[1], orelse=kids[2])
    if isinstance(e, ir.Intrinsic):
        return dataclasses.replace(e, args=kids)
    if isinstance(e, ir.Call):
        it = iter(kids)
        return dataclasses.replace(
            e, args=tuple(a if isinstance(a, ir.ArrayArg | ir.StreamArg) else next(it) for a in e.args)
        )
    return e


def map_expr(e: ir.Expr, fn: Callable[[ir.Expr], ir.Expr]) -> ir.Expr:
    """Rewrite `e` bottom-up: `fn` sees each node with its operands already rewritten."""
    kids = expr_children(e)
    if kids:
        new = tuple(map_expr(k, fn) for k in kids)
        if any(n is not k for n, k in zip(new, kids)):
            e = with_children(e, new)
    return fn(e)


def with_exprs(s: ir.Stmt, exprs: tuple[ir.Expr, ...]) -> ir.Stmt:
    """`s` rebuilt with new expressions, given in `stmt_exprs` order."""
    if isinstance(s, ir.Assign | ir.Return):
        return dataclasses.replace(s, value=exprs[0])
    if isinstance(s, ir.Store):
        n = len(s.indices)
        return dataclasses.replace(
            s, indices=exprs[:n], value=exprs[n], pred=exprs[n + 1] if s.pred is not None else None
        )
    if isinstance(s, ir.For):
        # NOTE: every rewrite maps a constant to a constant, so the step stays one (verify checks it after each pass)
        return dataclasses.replace(s, start=exprs[0], stop=exprs[1], step=cast(ir.Const, exprs[2]))
    if isinstance(s, ir.While | ir.If):
        return dataclasses.replace(s, cond=exprs[0])
    if isinstance(s, ir.CallStmt):
        # NOTE: every rewrite maps a call statement's call to a call (inline removes the statement itself)
        return dataclasses.replace(s, call=cast(ir.Call, exprs[0]))
    if isinstance(s, ir.Alloc):
        return dataclasses.replace(s, dims=exprs)
    if isinstance(s, ir.Read):
        return dataclasses.replace(s, pred=exprs[0] if s.pred is not None else None)
    if isinstance(s, ir.Write):
        return dataclasses.replace(s, value=exprs[0], pred=exprs[1] if s.pred is not None else None)
    if isinstance(s, ir.StreamDecl):
        return dataclasses.replace(s, depth=exprs[0])
    raise TypeError(f"unknown statement {s!r}")  # pragma: no cover


def map_stmts(stmts: tuple[ir.Stmt, ...], fn: Callable[[ir.Expr], ir.Expr]) -> tuple[ir.Stmt, ...]:
    """Apply the bottom-up rewrite `fn` to every expression of every statement, nested blocks included."""
    out = []
    for s in stmts:
        s = with_exprs(s, tuple(map_expr(e, fn) for e in stmt_exprs(s)))
        out.append(map_blocks(s, lambda b: map_stmts(b, fn)))
    return tuple(out)


def subexprs(stmts: tuple[ir.Stmt, ...]) -> Iterator[ir.Expr]:
    """Every expression evaluated anywhere in `stmts` (predicates included)."""
    for s in statements(stmts):
        for e in stmt_exprs(s):
            yield from _walk(e)


def _walk(e: ir.Expr) -> Iterator[ir.Expr]:
    yield e
    for k in expr_children(e):
        yield from _walk(k)


def contains(e: ir.Expr, pred: Callable[[ir.Expr], bool]) -> bool:
    """True when `pred` holds for `e` or one of its subexpressions."""
    return any(pred(x) for x in _walk(e))


def assigned(stmts: tuple[ir.Stmt, ...]) -> set[str]:
    """The locals assigned anywhere in `stmts` (by assignments and stream reads)."""
    return {s.name for s in statements(stmts) if isinstance(s, ir.Assign | ir.Read)}


def raises_itself(e: ir.Expr) -> bool:
    """True when the operation `e` itself (not its operands) may raise a defined error or run a call."""
    if isinstance(e, ir.Call):
        return True
    if not isinstance(e, ir.BinOp):
        return False
    if e.op in ("//", "%", "/"):
        return not (isinstance(e.rhs, ir.Const) and e.rhs.value != 0)
    if e.op in ("<<", ">>"):
        t = ir.value_type(e.rhs)
        return isinstance(t, FloatType) or t.lo < 0 or t.hi > 63
    return False


def may_raise(e: ir.Expr) -> bool:
    """True when evaluating `e` may raise a defined error: // or % by zero, a shift out of 0..63, float /."""
    return contains(e, raises_itself)


class NameSupply:
    """Fresh names that collide with none of `used` (nor with each other)."""

    def __init__(self, used: Iterable[str]) -> None:
        self.used = set(used)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


def function_names(fn: ir.Function) -> set[str]:
    """Every name `fn` declares: params, locals, tables, loop variables and local arrays."""
    names = {p.name for p in fn.params} | {x.name for x in fn.locals} | {t.name for t in fn.tables}
    for s in statements(fn.body):
        if isinstance(s, ir.For):
            names.add(s.var)
        elif isinstance(s, ir.Alloc):
            names.add(s.name)
    return names
