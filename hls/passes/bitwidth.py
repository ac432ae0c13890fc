"""bitwidth: narrow integer types to the value ranges the kernel can actually produce.

An interval analysis runs over the structured code like an interpreter
over sets of values: parameters range over their types, locals start at
zero (a prange iteration's own locals at each iteration), an assignment
sets its local to the value's interval (its type's whole range when the
value may wrap), a loop variable ranges over [start, stop - 1] of its
bounds' intervals (mirrored for negative steps, never outside its type), a
load over its element type (a table load over the table's values), and an
`if` joins what its branches leave. A loop's entry state is iterated to a
fixed point; a variable still growing after WIDEN_AFTER rounds is widened
to its type's range. Each expression node records the join of the
intervals it takes.

Then every integer expression gets the narrowest type holding its interval
(intersected with its old type, so no width grows); loop variables too;
a local is narrowed only when every value assigned to it fits without
wrapping (so each assignment wraps exactly as before); a cast whose
operand already fits disappears. Parameters, array elements, loads and
bools keep their types; code that never runs keeps its types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import cast, overload

from hls.inttypes import Interval, binop_range, intrinsic_range, narrowest_int, unary_range
from hls.ir import nodes as ir
from hls.ir.walk import expr_children, map_blocks, statements
from hls.passes._util import stmt_exprs, with_children, with_exprs
from hls.types import BoolType, FloatType, IntType, int_or_bool

__all__ = ["WIDEN_AFTER", "run"]

WIDEN_AFTER = 4
Env = dict[str, Interval]


def run(fn: ir.Function) -> ir.Function:
    """`fn` with integer expression, loop variable and local types narrowed to their value ranges."""
    a = _Analysis(fn)
    a.block(fn.body, a.entry_state())
    return a.narrow()


@overload
def _join(a: Interval | None, b: Interval) -> Interval: ...


@overload
def _join(a: Interval | None, b: Interval | None) -> Interval | None: ...


def _join(a: Interval | None, b: Interval | None) -> Interval | None:
    if a is None or b is None:
        return a or b
    return min(a[0], b[0]), max(a[1], b[1])


def _join_env(a: Env, b: Env) -> Env:
    """What holds after either state: variables known in both, joined."""
    return {k: _join(v, b[k]) for k, v in a.items() if k in b}


def _span(t: IntType | BoolType) -> Interval:
    return t.lo, t.hi


def _fits(r: Interval, t: IntType | BoolType) -> bool:
    return t.lo <= r[0] and r[1] <= t.hi


class _Analysis:
    def __init__(self, fn: ir.Function) -> None:
        self.fn = fn
        self.tables = {t.name: t for t in fn.tables if t.values and not isinstance(t.elem, FloatType)}
        self.types: dict[str, IntType | BoolType] = {}  # every integer or bool variable -> its type
        self.seen: dict[int, Interval] = {}  # id(expression node) -> join of the intervals it took
        self.raw: dict[str, Interval] = {}  # local -> join of zero and its assigned values, before wrapping
        self.loop_ranges: dict[str, Interval] = {}  # loop variable -> join of its intervals
        self.owned: dict[str, list[ir.Local]] = {}  # prange scope -> its locals
        for p in fn.params:
            if isinstance(p.type, IntType | BoolType):
                self.types[p.name] = p.type
        for x in fn.locals:
            if isinstance(x.type, IntType | BoolType):
                self.types[x.name] = x.type
                self.owned.setdefault(x.scope, []).append(x)
        loop_vars = {s.var for s in statements(fn.body) if isinstance(s, ir.For)}
        for s in statements(fn.body):
            for e in stmt_exprs(s):
                for v in _vars(e):
                    if v.name in loop_vars:
                        old, t = self.types.get(v.name), int_or_bool(v.type)  # loop variables are integers
                        self.types[v.name] = t if old is None else narrowest_int(min(old.lo, t.lo), max(old.hi, t.hi))

    def entry_state(self) -> Env:
        env = {p.name: _span(int_or_bool(p.type)) for p in self.fn.params if p.name in self.types}
        return env | {x.name: (0, 0) for x in self.owned.get("", [])}

    # ---- statements --------------------------------------------------------------

    def block(self, stmts: tuple[ir.Stmt, ...], env: Env) -> None:
        """Run `stmts` on the state `env`, which becomes the state after them."""
        for s in stmts:
            self.stmt(s, env)

    def stmt(self, s: ir.Stmt, env: Env) -> None:
        if isinstance(s, ir.Assign):
            value = self.eval(s.value, env)
            t = self.types.get(s.name)
            if t is None or value is None:
                env.pop(s.name, None)
                return
            self.raw[s.name] = _join(self.raw.get(s.name, (0, 0)), value)
            env[s.name] = (0, 1) if isinstance(t, BoolType) else value if _fits(value, t) else _span(t)
        elif isinstance(s, ir.Read):  # any value of the element type
            if s.pred is not None:
                self.eval(s.pred, env)
            t = self.types.get(s.name)
            if t is None:
                env.pop(s.name, None)
                return
            span = (0, 1) if isinstance(t, BoolType) else _span(t)
            self.raw[s.name] = _join(self.raw.get(s.name, (0, 0)), span)
            env[s.name] = span if s.pred is None else _join(env.get(s.name, (0, 0)), span)
        elif isinstance(s, ir.If):
            self.eval(s.cond, env)
            other = dict(env)
            self.block(s.then, env)
            self.block(s.orelse, other)
            joined = _join_env(env, other)
            env.clear()
            env.update(joined)
        elif isinstance(s, ir.For):
            self.for_loop(s, env)
        elif isinstance(s, ir.While):
            self.loop(s.body, env, lambda inner: self.eval(s.cond, inner))
        else:
            for e in stmt_exprs(s):
                self.eval(e, env)

    def for_loop(self, s: ir.For, env: Env) -> None:
        # NOTE: loop bounds are integer expressions, which always have an interval
        start, stop = cast(Interval, self.eval(s.start, env)), cast(Interval, self.eval(s.stop, env))
        lo, hi = (start[0], stop[1] - 1) if int(s.step.value) > 0 else (stop[0] + 1, start[1])
        t = self.types.get(s.var)  # None when no expression reads the loop variable
        if t is not None:
            lo, hi = max(lo, t.lo), min(hi, t.hi)
        if lo > hi:
            return  # the body never runs
        if t is not None:
            self.loop_ranges[s.var] = _join(self.loop_ranges.get(s.var), (lo, hi))
        owned = self.owned.get(f"{s.var}@{s.loc.line}", []) if s.kind == "prange" else []

        def enter(inner: Env) -> None:
            inner[s.var] = (lo, hi)
            inner.update({x.name: (0, 0) for x in owned})

        self.loop(s.body, env, enter)
        env.pop(s.var, None)

    def loop(self, body: tuple[ir.Stmt, ...], env: Env, enter: Callable[[Env], object]) -> None:
        """Iterate the state at the loop's head to a fixed point; `env` becomes it (the state after the loop)."""
        head = dict(env)
        rounds = 0
        while True:
            inner = dict(head)
            enter(inner)
            self.block(body, inner)
            new = _join_env(head, inner)
            changed = [k for k in new if new[k] != head[k]]
            if not changed:
                break
            rounds += 1
            if rounds >= WIDEN_AFTER:
                new.update({k: _span(self.types[k]) for k in changed if k in self.types})
            head = new
        env.clear()
        env.update(head)

    # ---- expressions ----------------------------------------------------------------

    def eval(self, e: ir.Expr, env: Env) -> Interval | None:
        """The interval of integer or bool expression `e` in state `env` (None for floats), recorded per node."""
        kids = [self.eval(k, env) for k in expr_children(e)]  # NOTE: both sides of a select: either may run
        if isinstance(e.type, FloatType) or e.type is None:
            return None
        r = self.raw_interval(e, kids, env)
        r = _span(e.type) if r is None else (max(r[0], e.type.lo), min(r[1], e.type.hi))
        if r[0] > r[1]:
            r = _span(e.type)
        self.seen[id(e)] = _join(self.seen.get(id(e)), r)
        return r

    def raw_interval(self, e: ir.Expr, kids: list[Interval | None], env: Env) -> Interval | None:
        if isinstance(e, ir.Const):
            return int(e.value), int(e.value)
        if isinstance(e, ir.Var):
            return env.get(e.name)
        if isinstance(e, ir.Load):
            t = self.tables.get(e.array)
            # NOTE: self.tables holds the integer tables only, whose values are ints
            return cast(Interval, (min(t.values), max(t.values))) if t is not None else None
        if isinstance(e.type, BoolType) or isinstance(e, ir.Compare | ir.Logical) or None in kids:
            return (0, 1) if isinstance(e.type, BoolType) else None
        known = cast(list[Interval], kids)  # NOTE: None is not among them (checked above)
        if isinstance(e, ir.BinOp):
            return binop_range(e.op, known[0], known[1])
        if isinstance(e, ir.UnaryOp):
            return unary_range(e.op, known[0])
        if isinstance(e, ir.Select):
            return _join(known[1], known[2])
        if isinstance(e, ir.Cast):
            return known[0] if _fits(known[0], int_or_bool(e.type)) else None
        if isinstance(e, ir.Intrinsic) and e.name in ("min", "max", "abs"):
            return intrinsic_range(e.name, known)
        return None

    # ---- rewriting --------------------------------------------------------------------

    def narrow(self) -> ir.Function:
        fn = self.fn
        self.new_types = dict(self.types)
        for x in fn.locals:
            r = self.raw.get(x.name, (0, 0))
            if isinstance(x.type, IntType) and _fits(r, x.type):
                self.new_types[x.name] = narrowest_int(*r)
        for var, r in self.loop_ranges.items():
            self.new_types[var] = narrowest_int(*r)
        self.params = {p.name for p in fn.params}
        locals_ = tuple(dataclasses.replace(x, type=self.new_types.get(x.name, x.type)) for x in fn.locals)
        return dataclasses.replace(fn, locals=locals_, body=self.rewrite_block(fn.body))

    def rewrite_block(self, stmts: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
        out = []
        for s in stmts:
            s = with_exprs(s, tuple(self.rewrite(e) for e in stmt_exprs(s)))
            out.append(map_blocks(s, self.rewrite_block))
        return tuple(out)

    def rewrite(self, e: ir.Expr) -> ir.Expr:
        """`e` (a node of the analysed function) with its subtree's types narrowed."""
        kids = expr_children(e)
        new_kids = tuple(self.rewrite(k) for k in kids)
        new = with_children(e, new_kids) if kids else e
        if not isinstance(e.type, IntType):
            return new
        if isinstance(e, ir.Var):
            return new if e.name in self.params else dataclasses.replace(new, type=self.new_types.get(e.name, e.type))
        r = self.seen.get(id(e))
        if r is None or isinstance(e, ir.Const | ir.Load | ir.Dim | ir.Call):
            return new
        if isinstance(e, ir.Cast) and isinstance(e.operand.type, IntType):
            inner = self.seen.get(id(e.operand))
            if inner is not None and _fits(inner, e.type):
                return new_kids[0]  # the rewritten operand
        return dataclasses.replace(new, type=narrowest_int(*r))


def _vars(e: ir.Expr) -> list[ir.Var]:
    out = [e] if isinstance(e, ir.Var) else []
    for k in expr_children(e):
        out += _vars(k)
    return out
