"""bitwidth: narrow integer types to the value ranges the kernel can actually produce.

A flow-insensitive interval analysis over the bound, unrolled function:
parameters range over their types, a loop variable over [start, stop - 1]
of its bounds' intervals (mirrored for negative steps, and never outside
its type), a load over its element type (a table load over the table's
values), and a local over the join of zero (locals start at zero) and every
value assigned to it, each clipped to the local's type when it may wrap.
The locals and loop variables are iterated to a fixed point; a variable
still growing after WIDEN_AFTER rounds is widened to its type's range.

Then every integer expression gets the narrowest type holding its interval
(intersected with its old type, so no width grows), loop variables likewise,
and a local is narrowed only when every value assigned to it fits without
wrapping (so each assignment wraps exactly as before). A cast whose operand
already fits disappears. Parameters, array elements, loads and bools keep
their types.
"""

from __future__ import annotations

import dataclasses

from hls.ir import nodes as ir
from hls.ir.walk import statements
from hls.passes._util import bitwise_range, int_type, map_stmts, subexprs
from hls.types import BoolType, FloatType, IntType, ScalarType

__all__ = ["WIDEN_AFTER", "run"]

WIDEN_AFTER = 4
Interval = tuple[int, int]


def run(fn: ir.Function) -> ir.Function:
    """`fn` with integer expression, loop variable and local types narrowed to their value ranges."""
    a = _Analysis(fn)
    a.solve()
    return a.narrow()


def _join(a: Interval | None, b: Interval | None) -> Interval | None:
    if a is None or b is None:
        return a or b
    return min(a[0], b[0]), max(a[1], b[1])


def _meet(a: Interval, t: ScalarType) -> Interval:
    """`a` within the range of `t` (the range itself when they do not overlap)."""
    lo, hi = max(a[0], t.lo), min(a[1], t.hi)
    return (lo, hi) if lo <= hi else (t.lo, t.hi)


def _span(t: ScalarType) -> Interval:
    return t.lo, t.hi


class _Analysis:
    def __init__(self, fn: ir.Function) -> None:
        self.fn = fn
        self.tables = {t.name: t for t in fn.tables if t.values and not isinstance(t.elem, FloatType)}
        self.types: dict[str, ScalarType] = {}  # every scalar variable -> its (declared or frontend) type
        self.env: dict[str, Interval | None] = {}
        self.raw: dict[str, Interval] = {}  # local -> join of zero and its assigned values, before wrapping
        self.loops = [s for s in statements(fn.body) if isinstance(s, ir.For)]
        for p in fn.params:
            if isinstance(p.type, IntType | BoolType):
                self.types[p.name] = p.type
                self.env[p.name] = _span(p.type)
        for x in fn.locals:
            if isinstance(x.type, IntType | BoolType):
                self.types[x.name] = x.type
                self.env[x.name] = (0, 0)
        loop_vars = {s.var for s in self.loops}
        for e in subexprs(fn.body):
            if isinstance(e, ir.Var) and e.name in loop_vars:
                old = self.types.get(e.name)
                self.types[e.name] = e.type if old is None else int_type(min(old.lo, e.type.lo),
                                                                         max(old.hi, e.type.hi))
        for v in loop_vars:
            self.env.setdefault(v, None)

    # ---- the fixed point -------------------------------------------------------

    def solve(self) -> None:
        rounds = 0
        while True:
            new = self.step()
            changed = [k for k in new if new[k] != self.env[k]]
            if not changed:
                return
            rounds += 1
            if rounds >= WIDEN_AFTER:
                for k in changed:
                    new[k] = _span(self.types[k]) if k in self.types else new[k]
            self.env = new

    def step(self) -> dict[str, Interval | None]:
        """One round: every assignment and loop header evaluated under the current intervals."""
        new = dict(self.env)
        self.raw = {}
        for s in statements(self.fn.body):
            if isinstance(s, ir.Assign) and s.name in self.types:
                t = self.types[s.name]
                value = self.interval(s.value)
                self.raw[s.name] = _join(self.raw.get(s.name, (0, 0)), value)
                stored = value if t.lo <= value[0] and value[1] <= t.hi else _span(t)
                new[s.name] = _join(new[s.name], stored)
            elif isinstance(s, ir.For) and s.var in self.types:
                new[s.var] = _join(new[s.var], self.loop_range(s))
        return new

    def loop_range(self, s: ir.For) -> Interval | None:
        start, stop, step = self.interval(s.start), self.interval(s.stop), int(s.step.value)
        lo, hi = (start[0], stop[1] - 1) if step > 0 else (stop[0] + 1, start[1])
        t = self.types[s.var]
        lo, hi = max(lo, t.lo), min(hi, t.hi)
        return (lo, hi) if lo <= hi else None

    # ---- intervals of expressions -------------------------------------------------

    def interval(self, e: ir.Expr) -> Interval:
        """A sound interval of the integer or bool expression `e` under the current variable intervals."""
        r = self.raw_interval(e)
        return _span(e.type) if r is None else _meet(r, e.type)

    def raw_interval(self, e: ir.Expr) -> Interval | None:
        if isinstance(e, ir.Const):
            return int(e.value), int(e.value)
        if isinstance(e, ir.Var):
            return self.env.get(e.name)
        if isinstance(e, ir.Load):
            t = self.tables.get(e.array)
            return (min(t.values), max(t.values)) if t is not None else None
        if isinstance(e.type, BoolType) or isinstance(e, ir.Compare | ir.Logical):
            return 0, 1
        if isinstance(e, ir.BinOp):
            return _binop(e.op, self.interval(e.lhs), self.interval(e.rhs))
        if isinstance(e, ir.UnaryOp):
            lo, hi = self.interval(e.operand)
            return (-hi, -lo) if e.op == "-" else (-hi - 1, -lo - 1)
        if isinstance(e, ir.Select):
            return _join(self.interval(e.then), self.interval(e.orelse))
        if isinstance(e, ir.Cast):
            r = self.interval(e.operand)
            return r if e.type.lo <= r[0] and r[1] <= e.type.hi else None
        if isinstance(e, ir.Intrinsic) and e.name in ("min", "max", "abs"):
            return _intrinsic(e.name, [self.interval(a) for a in e.args])
        return None

    # ---- rewriting ------------------------------------------------------------------

    def narrow(self) -> ir.Function:
        fn = self.fn
        new_types = dict(self.types)
        for x in fn.locals:
            r = self.raw.get(x.name, (0, 0))
            if isinstance(x.type, IntType) and x.type.lo <= r[0] and r[1] <= x.type.hi:
                new_types[x.name] = int_type(*r)
        for s in self.loops:
            r = self.env.get(s.var)
            if r is not None:
                new_types[s.var] = int_type(*r)
        params = {p.name for p in fn.params}

        def node(e: ir.Expr) -> ir.Expr:
            if isinstance(e.type, FloatType | BoolType) or e.type is None:
                return e
            if isinstance(e, ir.Var):
                return e if e.name in params else dataclasses.replace(e, type=new_types.get(e.name, e.type))
            if isinstance(e, ir.Const | ir.Load | ir.Dim | ir.Call):
                return e
            if isinstance(e, ir.Cast) and isinstance(e.operand.type, IntType):
                lo, hi = self.interval(e.operand)
                if e.type.lo <= lo and hi <= e.type.hi:
                    return e.operand
            return dataclasses.replace(e, type=int_type(*self.interval(e)))

        locals_ = tuple(dataclasses.replace(x, type=new_types[x.name]) if x.name in new_types else x
                        for x in fn.locals)
        return dataclasses.replace(fn, locals=locals_, body=map_stmts(fn.body, node))


def _binop(op: str, a: Interval, b: Interval) -> Interval | None:
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
            corners = [x // y for x in (alo, ahi) for y in (blo, bhi)]
            return min(corners), max(corners)
        m = max(abs(alo), abs(ahi))
        return -m, m
    if op in ("<<", ">>"):
        slo, shi = max(blo, 0), min(bhi, 63)
        if slo > shi:
            return None  # NOTE: it always raises; keep the type
        if op == "<<":
            return min(alo << slo, alo << shi), max(ahi << slo, ahi << shi)
        return min(alo >> slo, alo >> shi), max(ahi >> slo, ahi >> shi)
    if op in ("&", "|", "^"):
        return bitwise_range(op, alo, ahi, blo, bhi)
    return None


def _intrinsic(name: str, args: list[Interval]) -> Interval:
    if name == "abs":
        lo, hi = args[0]
        return (0 if lo <= 0 <= hi else min(abs(lo), abs(hi))), max(abs(lo), abs(hi))
    pick = min if name == "min" else max
    return pick(a[0] for a in args), pick(a[1] for a in args)

