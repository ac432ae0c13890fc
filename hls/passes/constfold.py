"""constfold: constant propagation and folding, exact under the kernel semantics.

Operators on constants are computed exactly (integers never wrap inside an
expression; `//`, `%` and `>>` floor); an operation that would raise (a
division by zero, a shift outside 0..63) is left for run time. Folded
constants get the exact type the frontend gives literals. Algebraic
identities (`x + 0`, `x * 1`, `x << 0`, ...) are simplified, and `x * 0`
becomes 0 when `x` cannot raise. Constant conditions select their branch;
loops over an empty constant range disappear.

Propagation is a forward dataflow over the structured code: locals start
at zero (a prange iteration's own locals at the start of each iteration), an
assignment of a constant records the wrapped value, an `if` keeps what both
branches agree on, and a loop forgets every local its body assigns. Locals
that are never read lose their (side-effect free) assignments and their
declarations, and an assignment overwritten in its block before any read
disappears.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import cast

from hls.ir import nodes as ir
from hls.ir.walk import map_blocks, statements
from hls.passes._util import assigned, const, map_expr, may_raise, subexprs
from hls.types import BoolType, FloatType, IntType, ScalarType, bool_

__all__ = ["fold", "run"]

Env = dict[str, ir.Const]

_ARITH: dict[str, Callable[[int, int], int]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "&": operator.and_,
    "|": operator.or_,
    "^": operator.xor,
    "//": operator.floordiv,
    "%": operator.mod,
    "<<": operator.lshift,
    ">>": operator.rshift,
}
_CMP: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def run(fn: ir.Function) -> ir.Function:
    """`fn` with constants propagated and folded, and unread locals removed."""
    tables = {t.name: t for t in fn.tables}
    types = {x.name: x.type for x in fn.locals}
    env = {x.name: _zero(x.type, x.loc) for x in fn.locals if not x.scope and not isinstance(x.type, FloatType)}
    body = _Folder(tables, types, fn.locals).block(fn.body, env)
    return _drop_unread(dataclasses.replace(fn, body=body))


def fold(e: ir.Expr, env: Env | None = None, tables: dict[str, ir.Table] | None = None) -> ir.Expr:
    """`e` folded bottom-up, with the locals in `env` replaced by their constants."""
    env = env or {}
    tables = tables or {}

    def node(x: ir.Expr) -> ir.Expr:
        if isinstance(x, ir.Var):
            c = env.get(x.name)
            return dataclasses.replace(c, loc=x.loc) if c is not None else x
        return _fold_node(x, tables)

    return map_expr(e, node)


# ---- expressions ---------------------------------------------------------------


def _int_const(e: ir.Expr) -> int | None:
    """The value of an integer or bool constant, else None."""
    if isinstance(e, ir.Const) and not isinstance(e.type, FloatType):
        return int(e.value)
    return None


def _fold_node(e: ir.Expr, tables: dict[str, ir.Table]) -> ir.Expr:
    if isinstance(e, ir.BinOp):
        return _binop(e)
    if isinstance(e, ir.UnaryOp):
        v = _int_const(e.operand)
        if v is None:
            return e
        if e.op == "not":
            return const(not v, e.loc, bool_)
        return const(-v if e.op == "-" else ~v, e.loc)
    if isinstance(e, ir.Compare):
        a, b = _int_const(e.lhs), _int_const(e.rhs)
        return e if a is None or b is None else const(_CMP[e.op](a, b), e.loc, bool_)
    if isinstance(e, ir.Logical):
        return _logical(e)
    if isinstance(e, ir.Select):
        c = _int_const(e.cond)
        return e if c is None else (e.then if c else e.orelse)
    if isinstance(e, ir.Cast):
        return _cast(e)
    if isinstance(e, ir.Intrinsic) and e.name in ("min", "max", "abs"):
        values = [_int_const(a) for a in e.args]
        if None in values or isinstance(e.type, FloatType):
            return e
        fns: dict[str, Callable[..., int]] = {"min": min, "max": max, "abs": abs}
        return const(fns[e.name](*values), e.loc)
    if isinstance(e, ir.Load) and e.array in tables:
        return _table_load(e, tables[e.array])
    return e


def _binop(e: ir.BinOp) -> ir.Expr:
    if isinstance(e.type, FloatType):
        return e
    a, b = _int_const(e.lhs), _int_const(e.rhs)
    if a is not None and b is not None:
        if (e.op in ("//", "%") and b == 0) or (e.op in ("<<", ">>") and not 0 <= b <= 63):
            return e  # NOTE: it raises at run time, if it runs at all
        return const(_ARITH[e.op](a, b), e.loc)
    x, k = (e.lhs, b) if b is not None else (e.rhs, a)
    if k is None or not isinstance(x.type, IntType):
        return e
    right = b is not None  # the constant is the right operand
    if k == 0 and (e.op in ("+", "|", "^") or (right and e.op in ("-", "<<", ">>"))):
        return x
    if k == 1 and (e.op == "*" or (right and e.op == "//")):
        return x
    if k == 0 and e.op in ("*", "&") and not may_raise(x):
        return const(0, e.loc)
    return e


def _logical(e: ir.Logical) -> ir.Expr:
    a, b = _int_const(e.lhs), _int_const(e.rhs)
    stop = e.op == "or"  # the value of the left side that decides the result
    if a is not None:
        return const(stop, e.loc, bool_) if bool(a) == stop else _truth(e.rhs)
    if b is not None:
        if bool(b) != stop:
            return _truth(e.lhs)
        if not may_raise(e.lhs):
            return const(stop, e.loc, bool_)
    return e


def _truth(e: ir.Expr) -> ir.Expr:
    return e if isinstance(e.type, BoolType) else ir.Cast(e, bool_, e.loc)


def _cast(e: ir.Cast) -> ir.Expr:
    v = _int_const(e.operand)
    if isinstance(e.type, FloatType):
        return e
    if v is not None:
        return const(e.type.wrap(v), e.loc, e.type)
    src = e.operand.type
    if isinstance(e.type, IntType) and isinstance(src, IntType) and e.type.lo <= src.lo and src.hi <= e.type.hi:
        return e.operand
    if isinstance(e.type, BoolType) and isinstance(src, BoolType):
        return e.operand
    return e


def _table_load(e: ir.Load, t: ir.Table) -> ir.Expr:
    consts = [_int_const(i) for i in e.indices]
    idx = [i for i in consts if i is not None]
    if len(idx) != len(consts) or not all(0 <= i < n for i, n in zip(idx, t.shape)):
        return e
    flat = 0
    for i, n in zip(idx, t.shape):
        flat = flat * n + i
    value = t.values[flat]
    return e if isinstance(t.elem, FloatType) else const(int(value), e.loc, t.elem)


def _same(a: ir.Const, b: ir.Const) -> bool:
    return (a.value, a.type) == (b.value, b.type)


def _zero(t: ScalarType, loc: ir.Loc) -> ir.Const:
    return const(0, loc, t)


# ---- statements ------------------------------------------------------------------


@dataclasses.dataclass
class _Folder:
    tables: dict[str, ir.Table]
    types: dict[str, ScalarType]  # local -> declared type
    locals: tuple[ir.Local, ...]

    def block(self, stmts: tuple[ir.Stmt, ...], env: Env) -> tuple[ir.Stmt, ...]:
        """Fold `stmts` under `env`, which is updated to the state after them."""
        out: list[ir.Stmt] = []
        for s in stmts:
            out.extend(self.stmt(s, env))
        return tuple(out)

    def expr(self, e: ir.Expr, env: Env) -> ir.Expr:
        return fold(e, env, self.tables)

    def stmt(self, s: ir.Stmt, env: Env) -> list[ir.Stmt]:
        if isinstance(s, ir.Assign):
            value = self.expr(s.value, env)
            t = self.types[s.name]
            if isinstance(value, ir.Const) and not isinstance(value.type, FloatType) and not isinstance(t, FloatType):
                env[s.name] = const(t.wrap(int(value.value)), s.loc, t)
            else:
                env.pop(s.name, None)
            return [dataclasses.replace(s, value=value)]
        if isinstance(s, ir.Store):
            pred = self.expr(s.pred, env) if s.pred is not None else None
            if pred is not None and _int_const(pred) is not None:
                if not _int_const(pred):
                    return []
                pred = None
            return [
                dataclasses.replace(
                    s, indices=tuple(self.expr(i, env) for i in s.indices), value=self.expr(s.value, env), pred=pred
                )
            ]
        if isinstance(s, ir.If):
            return self.if_stmt(s, env)
        if isinstance(s, ir.For):
            return self.for_loop(s, env)
        if isinstance(s, ir.While):
            return self.while_loop(s, env)
        if isinstance(s, ir.Return):
            return [dataclasses.replace(s, value=self.expr(s.value, env))]
        if isinstance(s, ir.Alloc):
            return [dataclasses.replace(s, dims=tuple(self.expr(d, env) for d in s.dims))]
        if isinstance(s, ir.Read | ir.Write):  # a stream op: folded operands; a constant predicate resolved
            pred = self.expr(s.pred, env) if s.pred is not None else None
            if pred is not None and _int_const(pred) is not None:
                if not _int_const(pred):
                    return []
                pred = None
            if isinstance(s, ir.Read):
                env.pop(s.name, None)
                return [dataclasses.replace(s, pred=pred)]
            return [dataclasses.replace(s, value=self.expr(s.value, env), pred=pred)]
        if isinstance(s, ir.CallStmt):
            # NOTE: folding leaves a call a call
            return [dataclasses.replace(s, call=cast(ir.Call, self.expr(s.call, env)))]
        raise TypeError(f"unknown statement {s!r}")  # pragma: no cover

    def if_stmt(self, s: ir.If, env: Env) -> list[ir.Stmt]:
        cond = self.expr(s.cond, env)
        c = _int_const(cond)
        if c is not None:
            return list(self.block(s.then if c else s.orelse, env))
        then_env, else_env = dict(env), dict(env)
        then, orelse = self.block(s.then, then_env), self.block(s.orelse, else_env)
        env.clear()
        env.update({k: v for k, v in then_env.items() if k in else_env and _same(else_env[k], v)})
        if not then and not orelse and not may_raise(cond):
            return []
        return [dataclasses.replace(s, cond=cond, then=then, orelse=orelse)]

    def for_loop(self, s: ir.For, env: Env) -> list[ir.Stmt]:
        start, stop = self.expr(s.start, env), self.expr(s.stop, env)
        a, b = _int_const(start), _int_const(stop)
        if a is not None and b is not None and not range(a, b, int(s.step.value)):
            return []
        scope = f"{s.var}@{s.loc.line}" if s.kind == "prange" else None
        owned = {
            x.name: _zero(x.type, x.loc)
            for x in self.locals
            if scope and x.scope == scope and not isinstance(x.type, FloatType)
        }
        killed = assigned(s.body) | set(owned) | {s.var}
        inner = {k: v for k, v in env.items() if k not in killed} | owned
        body = self.block(s.body, inner)
        for k in killed:
            env.pop(k, None)
        return [dataclasses.replace(s, start=start, stop=stop, body=body)]

    def while_loop(self, s: ir.While, env: Env) -> list[ir.Stmt]:
        killed = assigned(s.body)
        for k in killed:
            env.pop(k, None)
        cond = self.expr(s.cond, env)
        if _int_const(cond) == 0:
            return []
        body = self.block(s.body, dict(env))
        return [dataclasses.replace(s, cond=cond, body=body)]


# ---- unread locals -----------------------------------------------------------------


def _drop_unread(fn: ir.Function) -> ir.Function:
    """Remove assignments nothing reads (when their value cannot raise), then unused locals."""
    fn = dataclasses.replace(fn, body=_drop_overwritten(fn.body))
    while True:
        read = {e.name for e in subexprs(fn.body) if isinstance(e, ir.Var)}
        dead = {x.name for x in fn.locals} - read
        body = _without_assigns(fn.body, dead)
        if body == fn.body:
            break
        fn = dataclasses.replace(fn, body=body)
    used = read | {s.name for s in statements(fn.body) if isinstance(s, ir.Assign | ir.Read)}
    return dataclasses.replace(fn, locals=tuple(x for x in fn.locals if x.name in used))


def _without_assigns(stmts: tuple[ir.Stmt, ...], dead: set[str]) -> tuple[ir.Stmt, ...]:
    out: list[ir.Stmt] = []
    for s in stmts:
        if isinstance(s, ir.Assign) and s.name in dead and not may_raise(s.value):
            continue
        s = map_blocks(s, lambda b: _without_assigns(b, dead))
        if isinstance(s, ir.If) and not s.then and not s.orelse and not may_raise(s.cond):
            continue
        out.append(s)
    return tuple(out)


def _drop_overwritten(stmts: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
    """Remove an assignment that a later one in the same block overwrites before anything reads it."""
    dead: set[int] = set()
    pending: dict[str, tuple[int, ir.Assign]] = {}  # local -> its last assignment in this block not read since
    for k, s in enumerate(stmts):
        for e in subexprs((s,)):
            if isinstance(e, ir.Var):
                pending.pop(e.name, None)
        if isinstance(s, ir.Assign):
            if s.name in pending and not may_raise(pending[s.name][1].value):
                dead.add(pending[s.name][0])
            pending[s.name] = (k, s)
    return tuple(map_blocks(s, _drop_overwritten) for k, s in enumerate(stmts) if k not in dead)
