"""inline: replace every kernel call with the callee's body.

Callees are inlined first, so the result calls nothing (`callees == ()`).
At each call site the callee's locals, loop variables and local arrays get
fresh names, scalar parameters become fresh locals assigned from the
arguments (which the frontend already converted to the parameter types, and
the assignment wraps again exactly as a call does), array parameters become
the caller's arrays (`a.shape[k]` included), the callee's tables join the
caller's (renamed on a clash), locals the callee may read before assigning
are reset to zero (a call starts with zeroed locals), and `return v` assigns
a fresh local that replaces the call in its expression.

A call is hoisted before the statement that evaluates it, keeping Python's
order of evaluation: operands evaluated before the call that read memory or
may raise are first saved to fresh locals; a call in the right side of
`and`/`or` or in a branch of `a if c else b` runs under an `if`; a call in a
while condition runs before the loop and again at the end of each
iteration. The pass also gives every loop variable a name of its own (the
frontend lets a loop variable share its name with a later local or loop).
"""

from __future__ import annotations

import dataclasses
from typing import cast

from hls.errors import KernelError
from hls.ir import nodes as ir
from hls.ir.walk import expr_children, map_blocks, statements
from hls.passes._util import (
    NameSupply,
    const,
    contains,
    function_names,
    map_expr,
    may_raise,
    raises_itself,
    stmt_exprs,
    with_children,
    with_exprs,
    zero,
)
from hls.types import FloatType, ScalarType, bool_

__all__ = ["run"]


def run(fn: ir.Function, callees: dict[str, ir.Function]) -> ir.Function:
    """`fn` with every call inlined; `callees` maps IR names to functions, transitively."""
    done: dict[str, ir.Function] = {}
    return _inline(fn, callees, done)


def _inline(fn: ir.Function, callees: dict[str, ir.Function], done: dict[str, ir.Function]) -> ir.Function:
    for name in fn.callees:
        if name not in done:
            if name not in callees:
                raise ValueError(f"inline: no IR given for callee {name} of {fn.name}")
            done[name] = _inline(callees[name], callees, done)
    fn = _unique_loop_vars(fn)
    if not fn.callees:
        return fn
    return _Inliner(fn, done).run()


# ---- renaming ----------------------------------------------------------------


@dataclasses.dataclass
class _Renamer:
    """Rename a block's variables and arrays; loop variables get fresh names where `names` says so."""

    scalars: dict[str, str]
    arrays: dict[str, str]
    dims: dict[str, ir.ArrayArg]  # array parameter -> the caller's array (for `a.shape[k]`)
    names: NameSupply
    all_fresh: bool  # True: every loop variable gets a fresh name; False: only those already used
    scopes: dict[str, str] = dataclasses.field(default_factory=dict)  # prange scope -> renamed scope

    def block(self, stmts: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
        return tuple(self.stmt(s) for s in stmts)

    def stmt(self, s: ir.Stmt) -> ir.Stmt:
        s = with_exprs(s, tuple(self.expr(e) for e in stmt_exprs(s)))
        if isinstance(s, ir.Assign | ir.Read):
            return dataclasses.replace(s, name=self.scalars.get(s.name, s.name))
        if isinstance(s, ir.Store | ir.Alloc):
            key = "array" if isinstance(s, ir.Store) else "name"
            return dataclasses.replace(s, **{key: self.arrays.get(getattr(s, key), getattr(s, key))})
        if isinstance(s, ir.For):
            return self.for_loop(s)
        return map_blocks(s, self.block)

    def for_loop(self, s: ir.For) -> ir.For:
        new = self.names.fresh(s.var) if self.all_fresh or s.var in self.names.used else s.var
        self.names.used.add(new)
        if s.kind == "prange":
            self.scopes[f"{s.var}@{s.loc.line}"] = f"{new}@{s.loc.line}"
        outer = self.scalars.get(s.var)
        self.scalars[s.var] = new
        try:
            body = self.block(s.body)
        finally:
            if outer is None:
                del self.scalars[s.var]
            else:
                self.scalars[s.var] = outer
        return dataclasses.replace(s, var=new, body=body)

    def expr(self, e: ir.Expr) -> ir.Expr:
        return map_expr(e, self.node)

    def node(self, e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Var) and e.name in self.scalars:
            return dataclasses.replace(e, name=self.scalars[e.name])
        if isinstance(e, ir.Load) and e.array in self.arrays:
            return dataclasses.replace(e, array=self.arrays[e.array])
        if isinstance(e, ir.Dim) and e.array in self.dims:
            arg = self.dims[e.array]
            size = arg.type.dims[e.axis]
            if isinstance(size, int):
                return const(size, e.loc)
            return dataclasses.replace(e, array=arg.array)
        if isinstance(e, ir.Dim) and e.array in self.arrays:
            return dataclasses.replace(e, array=self.arrays[e.array])
        if isinstance(e, ir.Call):
            return dataclasses.replace(
                e,
                args=tuple(
                    dataclasses.replace(a, array=self.arrays.get(a.array, a.array)) if isinstance(a, ir.ArrayArg) else a
                    for a in e.args
                ),
            )
        return e


def _unique_loop_vars(fn: ir.Function) -> ir.Function:
    """Rename loop variables that reuse the name of another variable or of an earlier loop."""
    declared = {p.name for p in fn.params} | {x.name for x in fn.locals} | {t.name for t in fn.tables}
    declared |= {s.name for s in statements(fn.body) if isinstance(s, ir.Alloc)}
    renamer = _Renamer({}, {}, {}, NameSupply(declared), all_fresh=False)
    body = renamer.block(fn.body)
    if body == fn.body:
        return fn
    locals_ = tuple(dataclasses.replace(x, scope=renamer.scopes.get(x.scope, x.scope)) for x in fn.locals)
    return dataclasses.replace(fn, body=body, locals=locals_)


# ---- inlining ----------------------------------------------------------------


class _Inliner:
    """Inline the calls of one function whose callees are already inlined."""

    def __init__(self, fn: ir.Function, callees: dict[str, ir.Function]) -> None:
        self.fn = fn
        self.callees = callees
        self.names = NameSupply(function_names(fn))
        self.locals = list(fn.locals)
        self.tables = {t.name: t for t in fn.tables}
        self.table_names: dict[str, dict[str, str]] = {}  # callee -> its table -> the caller's table

    def run(self) -> ir.Function:
        body = self.block(self.fn.body, "")
        return dataclasses.replace(
            self.fn, body=body, locals=tuple(self.locals), tables=tuple(self.tables.values()), callees=()
        )

    def new_local(self, base: str, t: ScalarType, scope: str, loc: ir.Loc) -> str:
        name = self.names.fresh(base)
        self.locals.append(ir.Local(name, t, scope, loc))
        return name

    # ---- statements ----------------------------------------------------------

    def block(self, stmts: tuple[ir.Stmt, ...], scope: str) -> tuple[ir.Stmt, ...]:
        out: list[ir.Stmt] = []
        for s in stmts:
            out.extend(self.stmt(s, scope))
        return tuple(out)

    def stmt(self, s: ir.Stmt, scope: str) -> list[ir.Stmt]:
        if isinstance(s, ir.CallStmt):
            pre, args = self.lift_seq(_scalar_args(s.call), scope)
            call = with_children(s.call, tuple(args))
            return pre + self.expand(call, scope, want=False)[0]
        if isinstance(s, ir.Store):  # NOTE: Python evaluates the value before the indices
            pre, (value, *indices) = self.lift_seq((s.value, *s.indices), scope)
            return pre + [dataclasses.replace(s, value=value, indices=tuple(indices))]
        if isinstance(s, ir.For):
            pre, (start, stop) = self.lift_seq((s.start, s.stop), scope)
            inner = f"{s.var}@{s.loc.line}" if s.kind == "prange" else scope
            return pre + [dataclasses.replace(s, start=start, stop=stop, body=self.block(s.body, inner))]
        if isinstance(s, ir.While):
            pre, cond = self.lift(s.cond, scope)
            return pre + [dataclasses.replace(s, cond=cond, body=self.block(s.body, scope) + tuple(pre))]
        if isinstance(s, ir.If):
            pre, cond = self.lift(s.cond, scope)
            return pre + [map_blocks(dataclasses.replace(s, cond=cond), lambda b: self.block(b, scope))]
        exprs = stmt_exprs(s)
        pre, new = self.lift_seq(exprs, scope)
        return pre + [with_exprs(s, tuple(new))]

    # ---- hoisting calls out of expressions -----------------------------------

    def lift(self, e: ir.Expr, scope: str) -> tuple[list[ir.Stmt], ir.Expr]:
        """Statements that run the calls in `e`, and `e` with each call replaced by its result."""
        if not contains(e, lambda x: isinstance(x, ir.Call)):
            return [], e
        if isinstance(e, ir.Call):
            pre, args = self.lift_seq(_scalar_args(e), scope)
            stmts, result = self.expand(with_children(e, tuple(args)), scope, want=True)
            return pre + stmts, cast(ir.Expr, result)  # NOTE: a call used as a value has a return type
        if isinstance(e, ir.Logical) and _has_call(e.rhs):
            return self.lift_logical(e, scope)
        if isinstance(e, ir.Select) and (_has_call(e.then) or _has_call(e.orelse)):
            return self.lift_select(e, scope)
        pre, kids = self.lift_seq(expr_children(e), scope)
        return pre, with_children(e, tuple(kids))

    def lift_seq(self, exprs: tuple[ir.Expr, ...], scope: str) -> tuple[list[ir.Stmt], list[ir.Expr]]:
        """Lift calls out of operands evaluated left to right; operands before a call are saved first."""
        pre: list[ir.Stmt] = []
        out: list[ir.Expr] = []
        for e in exprs:
            stmts, e = self.lift(e, scope)
            if stmts:
                for k, earlier in enumerate(out):
                    saved, out[k] = self.spill(earlier, scope)
                    pre += saved
                pre += stmts
            out.append(e)
        return pre, out

    def spill(self, e: ir.Expr, scope: str) -> tuple[list[ir.Stmt], ir.Expr]:
        """Save `e` to a fresh local when a later call could change its value or the error raised first."""
        if not contains(e, lambda x: isinstance(x, ir.Load)) and not may_raise(e):
            return [], e
        et = ir.value_type(e)  # NOTE: its calls are lifted already
        if _storable(et):
            t = self.new_local("tmp", et, scope, e.loc)
            return [ir.Assign(t, e, e.loc)], ir.Var(t, et, e.loc)
        if isinstance(e, ir.BinOp | ir.UnaryOp | ir.Compare | ir.Cast | ir.Intrinsic) and not raises_itself(e):
            pre: list[ir.Stmt] = []
            kids = []
            for k in expr_children(e):
                saved, k = self.spill(k, scope)
                pre += saved
                kids.append(k)
            return pre, with_children(e, tuple(kids))
        raise KernelError(
            "a kernel call here would change the order in which this expression is evaluated",
            e.loc,
            "assign the call's result to a local on its own line first",
        )

    def lift_logical(self, e: ir.Logical, scope: str) -> tuple[list[ir.Stmt], ir.Expr]:
        """`a and f()`: run the call only when `a` lets it run."""
        pre, lhs = self.lift(e.lhs, scope)
        rhs_pre, rhs = self.lift(e.rhs, scope)
        t = self.new_local("cond", bool_, scope, e.loc)
        var = ir.Var(t, bool_, e.loc)
        test = var if e.op == "and" else ir.UnaryOp("not", var, bool_, e.loc)
        stmts: list[ir.Stmt] = [
            ir.Assign(t, lhs, e.loc),
            ir.If(test, tuple(rhs_pre) + (ir.Assign(t, rhs, e.loc),), (), e.loc),
        ]
        return pre + stmts, var

    def lift_select(self, e: ir.Select, scope: str) -> tuple[list[ir.Stmt], ir.Expr]:
        """`f() if c else g()`: run only the chosen branch's calls."""
        if not _storable(e.type):
            raise KernelError(
                f"a kernel call in a conditional expression of {e.type.width} bits",
                e.loc,
                "assign each branch's value to a local under an `if` first",
            )
        pre, cond = self.lift(e.cond, scope)
        then_pre, then = self.lift(e.then, scope)
        else_pre, orelse = self.lift(e.orelse, scope)
        r = self.new_local("sel", e.type, scope, e.loc)
        branch = ir.If(
            cond,
            tuple(then_pre) + (ir.Assign(r, then, e.loc),),
            tuple(else_pre) + (ir.Assign(r, orelse, e.loc),),
            e.loc,
        )
        return pre + [branch], ir.Var(r, e.type, e.loc)

    # ---- one call site ---------------------------------------------------------

    def expand(self, call: ir.Call, scope: str, want: bool) -> tuple[list[ir.Stmt], ir.Expr | None]:
        """The callee's body for this call site, and the variable holding its result (when `want`)."""
        g = self.callees[call.callee]
        scalars: dict[str, str] = {}
        dims: dict[str, ir.ArrayArg] = {}
        arrays = dict(self.callee_tables(g))
        pre: list[ir.Stmt] = []
        for p, a in zip(g.params, call.args):
            if isinstance(a, ir.ArrayArg):
                arrays[p.name] = a.array
                dims[p.name] = a
            else:
                ptype = cast(ScalarType, p.type)  # NOTE: the frontend passes a scalar argument for a scalar parameter
                scalars[p.name] = self.new_local(p.name, ptype, scope, p.loc)
                pre.append(ir.Assign(scalars[p.name], cast(ir.Expr, a), call.loc))
        for x in g.locals:
            scalars[x.name] = self.names.fresh(x.name)
        for s in statements(g.body):
            if isinstance(s, ir.Alloc) and s.name not in arrays:
                arrays[s.name] = self.names.fresh(s.name)
        renamer = _Renamer(scalars, arrays, dims, self.names, all_fresh=True)
        body = list(renamer.block(g.body))
        for x in g.locals:
            own = renamer.scopes.get(x.scope, scope) if x.scope else scope
            self.locals.append(ir.Local(scalars[x.name], x.type, own, x.loc))
        zeroed = [
            ir.Assign(scalars[x.name], zero(x.type, call.loc), call.loc)
            for x in g.locals
            if not x.scope and x.name in _read_before_assigned(g)
        ]
        result = None
        ret = body[-1] if body else None
        if isinstance(ret, ir.Return):
            body.pop()
            if want:
                ret_t = cast(ScalarType, g.ret)  # NOTE: verify allows `return` only with a return type
                name = self.new_local("ret", ret_t, scope, ret.loc)
                body.append(ir.Assign(name, ret.value, ret.loc))
                result = ir.Var(name, ret_t, call.loc)
            else:
                saved, _ = self.spill(ret.value, scope)  # NOTE: a discarded result is still evaluated
                body += saved
        return pre + zeroed + body, result

    def callee_tables(self, g: ir.Function) -> dict[str, str]:
        """The caller's name for each of `g`'s tables, adding them to the caller's tables."""
        if g.name not in self.table_names:
            names = {}
            for t in g.tables:
                same = self.tables.get(t.name)
                if same is not None and (same.elem, same.values, same.shape) == (t.elem, t.values, t.shape):
                    names[t.name] = t.name
                    continue
                new = t.name if t.name not in self.names.used else self.names.fresh(t.name)
                self.names.used.add(new)
                self.tables[new] = dataclasses.replace(t, name=new)
                names[t.name] = new
            self.table_names[g.name] = names
        return self.table_names[g.name]


def _scalar_args(call: ir.Call) -> tuple[ir.Expr, ...]:
    return tuple(a for a in call.args if not isinstance(a, ir.ArrayArg | ir.StreamArg))


def _has_call(e: ir.Expr) -> bool:
    return contains(e, lambda x: isinstance(x, ir.Call))


def _storable(t: ScalarType) -> bool:
    """True when a local can hold every value of `t` (locals are at most 64 bits wide)."""
    return isinstance(t, FloatType) or t.width <= 64


def _read_before_assigned(g: ir.Function) -> set[str]:
    """Top-level locals of `g` that some statement may read before a top-level assignment sets them."""
    defined: set[str] = set()
    early: set[str] = set()
    for s in g.body:
        for inner in statements((s,)):
            for e in stmt_exprs(inner):
                early |= {x.name for x in _vars(e)} - defined
        if isinstance(s, ir.Assign):
            defined.add(s.name)
    return early


def _vars(e: ir.Expr) -> list[ir.Var]:
    out = [e] if isinstance(e, ir.Var) else []
    for k in expr_children(e):
        out += _vars(k)
    return out
