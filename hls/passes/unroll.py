"""unroll: replicate the bodies of `unroll(...)` loops, and fix the sizes of local arrays.

A full unroll (no factor) needs constant bounds (after bind and constfold):
the body is copied once per iteration with the loop variable replaced by
its constant. `unroll(range(...), factor=F)` becomes a plain loop stepping
by F * step whose body is F copies (the variable, variable + step, ...),
followed by the remaining iterations as straight-line copies. Locals keep
their names (each copy assigns them in turn, as the iterations did).
Nested unroll loops are unrolled from the outside in, so inner bounds that
depend on an outer variable become constants. At most MAX_COPIES copies of
one body are made.

Afterwards every local array must have constant sizes: its type gets int
dims and `buf.shape[k]` becomes a constant.
"""

from __future__ import annotations

import dataclasses

from hls.errors import KernelError
from hls.ir import nodes as ir
from hls.ir.walk import statements
from hls.passes._util import const, int_type, map_stmts, subexprs
from hls.passes.constfold import fold
from hls.types import ArrayType

__all__ = ["MAX_COPIES", "run"]

MAX_COPIES = 4096


def run(fn: ir.Function) -> ir.Function:
    """`fn` without unroll loops and with constant local array sizes; raises KernelError."""
    body = _block(fn.body, 1)
    return dataclasses.replace(fn, body=_fix_allocs(body))


def _block(stmts: tuple[ir.Stmt, ...], copies: int) -> tuple[ir.Stmt, ...]:
    """Unroll the loops of `stmts`, which are themselves replicated `copies` times."""
    out: list[ir.Stmt] = []
    for s in stmts:
        if isinstance(s, ir.For) and s.kind == "unroll":
            out.extend(_unroll(s, copies))
        elif isinstance(s, ir.For | ir.While):
            out.append(dataclasses.replace(s, body=_block(s.body, copies)))
        elif isinstance(s, ir.If):
            out.append(dataclasses.replace(s, then=_block(s.then, copies), orelse=_block(s.orelse, copies)))
        else:
            out.append(s)
    return tuple(out)


def _unroll(s: ir.For, copies: int) -> list[ir.Stmt]:
    if s.factor == 1:
        return [dataclasses.replace(s, kind="range", factor=None, body=_block(s.body, copies))]
    start, stop, step = fold(s.start), fold(s.stop), int(s.step.value)
    if not isinstance(start, ir.Const) or not isinstance(stop, ir.Const):
        fix = "bind the dims with lower(..., D=16)" + ("" if s.factor else " or give factor=")
        raise KernelError("unroll needs constant bounds", s.loc, fix)
    iters = range(int(start.value), int(stop.value), step)
    factor = min(s.factor or len(iters), len(iters)) or 1
    main = len(iters) // factor * factor
    looped = s.factor is not None and factor > 1 and main > factor  # else every iteration is copied
    made = (factor + len(iters) - main if looped else len(iters)) * copies
    if made > MAX_COPIES:
        raise KernelError(f"unrolling this loop makes {made} copies of its body, over the limit of {MAX_COPIES}",
                          s.loc, "unroll by a smaller factor (factor=...), or pipeline the loop")
    out: list[ir.Stmt] = []
    if looped:
        body: list[ir.Stmt] = []
        for k in range(factor):
            body.extend(_substitute(s.body, s.var, k * step))
        loop_stop = iters.start + main * step
        out.append(dataclasses.replace(s, start=const(iters.start, s.start.loc), stop=const(loop_stop, s.stop.loc),
                                       step=const(step * factor, s.step.loc), kind="range", factor=None,
                                       body=_block(tuple(body), copies * factor)))
        rest = iters[main:]
    else:
        rest = iters
    for v in rest:
        out.extend(_block(_with_value(s.body, s.var, v), copies * factor))
    return out


def _substitute(body: tuple[ir.Stmt, ...], var: str, offset: int) -> tuple[ir.Stmt, ...]:
    """`body` with the loop variable `var` read as `var + offset`."""
    if offset == 0:
        return body

    def node(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Var) and e.name == var:
            t = int_type(e.type.lo + offset, e.type.hi + offset)
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
            if not all(isinstance(d, ir.Const) for d in dims):
                raise KernelError(f"local array `{s.name}` needs constant sizes in hardware", s.loc,
                                  "size it with constants or dims bound by lower(..., N=64)")
            shape = tuple(int(d.value) for d in dims)
            if sizes.setdefault(s.name, shape) != shape:
                raise KernelError(f"local array `{s.name}` has different sizes in unrolled copies", s.loc,
                                  "give it a size that does not depend on the unrolled loop")
    if not sizes and not any(isinstance(e, ir.Dim) for e in subexprs(body)):
        return body

    def node(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Dim) and e.array in sizes:
            return const(sizes[e.array][e.axis], e.loc)
        return e

    def alloc(stmts: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
        out = []
        for s in stmts:
            if isinstance(s, ir.Alloc):
                shape = sizes[s.name]
                s = dataclasses.replace(s, dims=tuple(const(v, d.loc) for v, d in zip(shape, s.dims)),
                                        type=ArrayType(s.type.elem, shape))
            elif isinstance(s, ir.For | ir.While):
                s = dataclasses.replace(s, body=alloc(s.body))
            elif isinstance(s, ir.If):
                s = dataclasses.replace(s, then=alloc(s.then), orelse=alloc(s.orelse))
            out.append(s)
        return tuple(out)

    return alloc(map_stmts(body, node))
