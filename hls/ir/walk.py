"""Traversals of the IR shared by the passes and backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from hls.ir import nodes as ir

Block = tuple[ir.Stmt, ...]


def statements(stmts: tuple[ir.Stmt, ...]) -> Iterator[ir.Stmt]:
    """Every statement of `stmts` and of the blocks nested in them, in source order."""
    for s in stmts:
        yield s
        for attr in ("body", "then", "orelse"):
            yield from statements(getattr(s, attr, ()))


def map_blocks(s: ir.Stmt, fn: Callable[[Block], Block]) -> ir.Stmt:
    """`s` rebuilt with `fn` applied to each block nested directly in it (a loop's body, an if's branches).

    A statement without blocks comes back as it is; `fn` sees an if's `then` before its `orelse`.
    """
    if isinstance(s, ir.For | ir.While):
        return dataclasses.replace(s, body=fn(s.body))
    if isinstance(s, ir.If):
        return dataclasses.replace(s, then=fn(s.then), orelse=fn(s.orelse))
    return s


def stmt_exprs(s: ir.Stmt) -> tuple[ir.Expr, ...]:
    """The expressions statement `s` itself evaluates (not those of its nested blocks), a store's predicate last."""
    if isinstance(s, ir.Assign | ir.Return):
        return (s.value,)
    if isinstance(s, ir.Store):
        return (*s.indices, s.value) + ((s.pred,) if s.pred is not None else ())
    if isinstance(s, ir.For):
        return (s.start, s.stop, s.step)
    if isinstance(s, ir.While | ir.If):
        return (s.cond,)
    if isinstance(s, ir.CallStmt):
        return (s.call,)
    if isinstance(s, ir.Alloc):
        return s.dims
    if isinstance(s, ir.Read):
        return (s.pred,) if s.pred is not None else ()
    if isinstance(s, ir.Write):
        return (s.value,) + ((s.pred,) if s.pred is not None else ())
    if isinstance(s, ir.StreamDecl):
        return (s.depth,)
    raise TypeError(f"unknown statement {s!r}")  # pragma: no cover


def expr_children(e: ir.Expr) -> tuple[ir.Expr, ...]:
    """The scalar operands of `e` (array arguments of a call are not expressions)."""
    if isinstance(e, ir.Load):
        return e.indices
    if isinstance(e, ir.BinOp | ir.Compare | ir.Logical):
        return (e.lhs, e.rhs)
    if isinstance(e, ir.UnaryOp | ir.Cast):
        return (e.operand,)
    if isinstance(e, ir.Select):
        return (e.cond, e.then, e.orelse)
    if isinstance(e, ir.Intrinsic):
        return e.args
    if isinstance(e, ir.Call):
        return tuple(a for a in e.args if not isinstance(a, ir.ArrayArg | ir.StreamArg))
    return ()


def subexpressions(e: ir.Expr) -> Iterator[ir.Expr]:
    """`e` and every expression inside it."""
    yield e
    for child in expr_children(e):
        yield from subexpressions(child)
