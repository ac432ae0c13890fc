"""unroll: replicate the bodies of `unroll(...)` loops, and fix the sizes of local arrays.

A full unroll (no factor) needs constant bounds (after bind and constfold):
the body is copied once per iteration with the loop variable replaced by
its constant. `unroll(range(...), factor=F)` becomes a plain loop stepping
by F * step whose body is F copies (the variable, variable + step, ...),
followed by the remaining iterations as straight-line copies; with bounds
known only at run time, the groups run in one loop (its bounds computed
from the trip count) and the rest in a second, plain loop. Locals keep
their names (each copy assigns them in turn, as the iterations did).
Nested unroll loops are unrolled from the outside in, so inner bounds that
depend on an outer variable become constants. At most MAX_COPIES copies of
one body are made.

Afterwards every local array must have constant sizes: its type gets int
dims and `buf.shape[k]` becomes a constant.
"""

from __future__ import annotations

import dataclasses
from functools import partial

from hls.errors import KernelError
from hls.inttypes import binop_type, narrowest_int, value_range
from hls.ir import nodes as ir
from hls.ir.walk import map_blocks, statements
from hls.passes._util import NameSupply, assigned, const, function_names, map_stmts, subexprs
from hls.passes.constfold import fold
from hls.types import ArrayType, int_or_bool

__all__ = ["MAX_COPIES", "run"]

MAX_COPIES = 4096


def run(fn: ir.Function) -> ir.Function:
    """`fn` without unroll loops and with constant local array sizes; raises KernelError."""
    u = _Unroller(NameSupply(function_names(fn)))
    body = _fix_allocs(u.block(fn.body, 1, ""))
    return dataclasses.replace(fn, body=body, locals=fn.locals + tuple(u.new_locals))


@dataclasses.dataclass
class _Unroller:
    names: NameSupply
    new_locals: list[ir.Local] = dataclasses.field(default_factory=list)

    def block(self, stmts: tuple[ir.Stmt, ...], copies: int, scope: str) -> tuple[ir.Stmt, ...]:
        """Unroll the loops of `stmts`, which are themselves replicated `copies` times."""
        out: list[ir.Stmt] = []
        for s in stmts:
            if isinstance(s, ir.For) and s.kind == "unroll":
                out.extend(self.unroll(s, copies, scope))
                continue
            inner = f"{s.var}@{s.loc.line}" if isinstance(s, ir.For) and s.kind == "prange" else scope
            out.append(map_blocks(s, partial(self.block, copies=copies, scope=inner)))
        return tuple(out)

    def unroll(self, s: ir.For, copies: int, scope: str) -> list[ir.Stmt]:
        if s.factor == 1:
            return [dataclasses.replace(s, kind="range", factor=None, body=self.block(s.body, copies, scope))]
        start, stop, step = fold(s.start), fold(s.stop), int(s.step.value)
        if not isinstance(start, ir.Const) or not isinstance(stop, ir.Const):
            if s.factor is None:
                raise KernelError(
                    "unroll needs constant bounds", s.loc, "bind the dims with lower(..., D=16) or give factor="
                )
            return self.unroll_dynamic(dataclasses.replace(s, start=start, stop=stop), s.factor, copies, scope)
        iters = range(int(start.value), int(stop.value), step)
        factor = min(s.factor or len(iters), len(iters)) or 1
        main = len(iters) // factor * factor
        looped = s.factor is not None and factor > 1 and main > factor  # else every iteration is copied
        _check_copies(s, (factor + len(iters) - main if looped else len(iters)) * copies)
        out: list[ir.Stmt] = []
        rest = iters
        if looped:
            out.append(
                self.main_loop(
                    s,
                    const(iters.start, s.start.loc),
                    const(iters.start + main * step, s.stop.loc),
                    factor,
                    copies,
                    scope,
                )
            )
            rest = iters[main:]
        for v in rest:
            out.extend(self.block(_with_value(s.body, s.var, v), copies * factor, scope))
        return out

    def main_loop(self, s: ir.For, start: ir.Expr, stop: ir.Expr, factor: int, copies: int, scope: str) -> ir.For:
        """The loop from `start` to `stop` by factor * step whose body is `factor` consecutive iterations."""
        step = int(s.step.value)
        body: list[ir.Stmt] = []
        for k in range(factor):
            body.extend(_substitute(s.body, s.var, k * step))
        return dataclasses.replace(
            s,
            start=start,
            stop=stop,
            step=const(step * factor, s.step.loc),
            kind="range",
            factor=None,
            body=self.block(tuple(body), copies * factor, scope),
        )

    def unroll_dynamic(self, s: ir.For, factor: int, copies: int, scope: str) -> list[ir.Stmt]:
        """Unroll by `factor` (s.factor) with run-time bounds: a loop over whole groups, then a loop over the rest."""
        _check_copies(s, factor * copies)
        pre: list[ir.Stmt] = []
        bounds = []
        for e in (s.start, s.stop):  # NOTE: range() evaluates its bounds once, before the body runs
            if isinstance(e, ir.Const) or (isinstance(e, ir.Var) and e.name not in assigned(s.body)):
                bounds.append(e)
                continue
            name = self.names.fresh(f"{s.var}_bound")
            t = ir.value_type(e)  # NOTE: inline has removed the calls
            self.new_locals.append(ir.Local(name, t, scope, e.loc))
            pre.append(ir.Assign(name, e, e.loc))
            bounds.append(ir.Var(name, t, e.loc))
        lo, hi = bounds
        step, loc = int(s.step.value), s.loc
        # trips = max(0, (hi - lo - sign(step)) // step + 1); the groups end at lo + trips // F * (F * step)
        diff = _arith("-", _arith("-", hi, lo, loc), const(1 if step > 0 else -1, loc), loc)
        trips = _arith("+", _arith("//", diff, const(step, loc), loc), const(1, loc), loc)
        trips_t, lo_t, hi_t = int_or_bool(trips.type), int_or_bool(lo.type), int_or_bool(hi.type)  # integer bounds
        nonneg = narrowest_int(max(0, trips_t.lo), max(0, trips_t.hi))
        trips = ir.Intrinsic("max", (const(0, loc), trips), nonneg, loc)
        span = _arith("*", _arith("//", trips, const(factor, loc), loc), const(factor * step, loc), loc)
        bound_type = narrowest_int(min(lo_t.lo, hi_t.lo), max(lo_t.hi, hi_t.hi))
        end = ir.Cast(_arith("+", lo, span, loc), bound_type, loc)  # NOTE: between lo and hi: the cast never wraps
        rest = dataclasses.replace(
            s, start=end, stop=hi, kind="range", factor=None, body=self.block(s.body, copies, scope)
        )
        return pre + [self.main_loop(s, lo, end, factor, copies, scope), rest]


def _check_copies(s: ir.For, made: int) -> None:
    if made > MAX_COPIES:
        raise KernelError(
            f"unrolling this loop makes {made} copies of its body, over the limit of {MAX_COPIES}",
            s.loc,
            "unroll by a smaller factor (factor=...), or pipeline the loop",
        )


def _arith(op: str, a: ir.Expr, b: ir.Expr, loc: ir.Loc) -> ir.Expr:
    """`a op b` typed exactly from its operands' ranges, folded when both are constants."""
    return fold(ir.BinOp(op, a, b, binop_type(op, value_range(a), value_range(b)), loc))


def _substitute(body: tuple[ir.Stmt, ...], var: str, offset: int) -> tuple[ir.Stmt, ...]:
    """`body` with the loop variable `var` read as `var + offset`."""
    if offset == 0:
        return body

    def node(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Var) and e.name == var:
            vt = int_or_bool(e.type)  # a loop variable is an integer
            t = narrowest_int(vt.lo + offset, vt.hi + offset)
            return ir.BinOp("+", e, const(offset, e.loc), t, e.loc)
        return e

    return map_stmts(body, node)


def _with_value(body: tuple[ir.Stmt, ...], var: str, value: int) -> tuple[ir.Stmt, ...]:
    """`body` with the loop variable `var` replaced by the constant `value`."""
    return map_stmts(body, lambda e: const(value, e.loc) if isinstance(e, ir.Var) and e.name == var else e)


def _fix_allocs(body: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
    """Give local arrays constant sizes (int dims in their types) and fold `buf.shape[k]`."""
    sizes: dict[str, tuple[int, ...]] = {}
    for s in statements(body):
        if isinstance(s, ir.Alloc):
            dims = tuple(fold(d) for d in s.dims)
            consts = tuple(d for d in dims if isinstance(d, ir.Const))
            if len(consts) != len(dims):
                raise KernelError(
                    f"local array `{s.name}` needs constant sizes in hardware",
                    s.loc,
                    "size it with constants or dims bound by lower(..., N=64)",
                )
            shape = tuple(int(d.value) for d in consts)
            if sizes.setdefault(s.name, shape) != shape:
                raise KernelError(
                    f"local array `{s.name}` has different sizes in unrolled copies",
                    s.loc,
                    "give it a size that does not depend on the unrolled loop",
                )
    if not sizes and not any(isinstance(e, ir.Dim) for e in subexprs(body)):
        return body

    def node(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Dim) and e.array in sizes:
            return const(sizes[e.array][e.axis], e.loc)
        return e

    def alloc(s: ir.Stmt) -> ir.Stmt:
        if isinstance(s, ir.Alloc):
            shape = sizes[s.name]
            return dataclasses.replace(
                s, dims=tuple(const(v, d.loc) for v, d in zip(shape, s.dims)), type=ArrayType(s.type.elem, shape)
            )
        return map_blocks(s, lambda b: tuple(alloc(x) for x in b))

    return tuple(alloc(s) for s in map_stmts(body, node))
