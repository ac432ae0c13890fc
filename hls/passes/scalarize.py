"""scalarize: a small local array indexed only by constants becomes one register per element.

After unrolling, an accumulator array like `acc = zeros(i32, DV)` read and
written as `acc[c]` in an unrolled loop is indexed by constants only. Left a
RAM, every access pays the RAM's read latency, and a pipelined loop that reads
`acc[c]` and writes it back carries the recurrence through memory (II >= 3).
As registers (`acc_0`, `acc_1`, ... locals), the recurrence is just the
arithmetic on it, as in Vitis HLS's complete partitioning of small arrays.

An array is scalarized when it is a local array (`zeros(...)`) of constant
shape with at most MAX_ELEMENTS elements, every load and store of it has
constant indices inside its bounds, and it is not passed to a call. Its `Alloc`
becomes an assignment of zero to each element's local, at the same place (so
an array declared in a loop body is zeroed on every iteration, as before);
`a[i, j]` becomes the local, and a store `a[i, j] = v` an assignment, which
wraps `v` to the element type like the store did. Runs before ifconvert, so
stores under an `if` in a pipelined loop become selects like other assignments.
"""

from __future__ import annotations

import dataclasses
import math

from hls.ir import nodes as ir
from hls.ir.walk import map_blocks, statements
from hls.passes._util import NameSupply, function_names, map_expr, stmt_exprs, subexprs, with_exprs, zero
from hls.types import ArrayType

__all__ = ["MAX_ELEMENTS", "run"]

MAX_ELEMENTS = 64  # beyond this a register file costs more than the RAM it replaces


def run(fn: ir.Function) -> ir.Function:
    """`fn` with its small, constant-indexed local arrays replaced by one local per element."""
    chosen = _candidates(fn)
    if not chosen:
        return fn
    names = NameSupply(function_names(fn) | {x.name for x in fn.locals})
    elems: dict[str, dict[tuple[int, ...], str]] = {}
    new_locals: list[ir.Local] = []
    for alloc, scope in chosen:
        shape = _constant_shape(alloc)
        assert shape is not None  # _candidates checked
        cells = {}
        for flat in range(math.prod(shape)):
            index = _unflatten(flat, shape)
            cells[index] = names.fresh(f"{alloc.name}_{'_'.join(map(str, index))}")
            new_locals.append(ir.Local(cells[index], alloc.type.elem, scope, alloc.loc))
        elems[alloc.name] = cells
    body = _rewrite(fn.body, elems)
    return dataclasses.replace(fn, body=body, locals=fn.locals + tuple(new_locals))


def _unflatten(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for n in reversed(shape):
        out.append(flat % n)
        flat //= n
    return tuple(reversed(out))


def _candidates(fn: ir.Function) -> list[tuple[ir.Alloc, str]]:
    """The local arrays to scalarize, with the prange scope that owns each."""
    allocs: dict[str, tuple[ir.Alloc, str]] = {}

    def find(body: tuple[ir.Stmt, ...], scope: str) -> None:
        for s in body:
            if isinstance(s, ir.Alloc):
                allocs[s.name] = (s, scope)
            inner = f"{s.var}@{s.loc.line}" if isinstance(s, ir.For) and s.kind == "prange" else scope
            for attr in ("body", "then", "orelse"):
                find(getattr(s, attr, ()), inner)

    find(fn.body, "")
    ok: dict[str, tuple[ir.Alloc, str, tuple[int, ...]]] = {}
    for name, (a, scope) in allocs.items():
        shape = _constant_shape(a)
        if shape is not None and math.prod(shape) <= MAX_ELEMENTS:
            ok[name] = (a, scope, shape)
    for e in subexprs(fn.body):
        if isinstance(e, ir.Load) and e.array in ok and not _constant_inside(e.indices, ok[e.array][2]):
            del ok[e.array]
        elif isinstance(e, ir.Call):
            for arg in e.args:
                if isinstance(arg, ir.ArrayArg):
                    ok.pop(arg.array, None)
    for s in statements(fn.body):
        if isinstance(s, ir.Store) and s.array in ok:
            if s.pred is not None or not _constant_inside(s.indices, ok[s.array][2]):
                del ok[s.array]
    return [(a, scope) for a, scope, _ in ok.values()]


def _constant_shape(a: ir.Alloc) -> tuple[int, ...] | None:
    dims = [d for d in a.dims if isinstance(d, ir.Const)]
    return tuple(int(d.value) for d in dims) if len(dims) == len(a.dims) else None


def _constant_inside(indices: tuple[ir.Expr, ...], shape: tuple[int, ...]) -> bool:
    return all(isinstance(i, ir.Const) and 0 <= int(i.value) < n for i, n in zip(indices, shape, strict=True))


def _rewrite(body: tuple[ir.Stmt, ...], elems: dict[str, dict[tuple[int, ...], str]]) -> tuple[ir.Stmt, ...]:
    def expr(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Load) and e.array in elems:
            return ir.Var(elems[e.array][_index(e.indices)], e.type, e.loc)
        return e

    out: list[ir.Stmt] = []
    for s in body:
        if isinstance(s, ir.Alloc) and s.name in elems:
            assert isinstance(s.type, ArrayType)
            out.extend(ir.Assign(cell, zero(s.type.elem, s.loc), s.loc) for cell in elems[s.name].values())
            continue
        if isinstance(s, ir.Store) and s.array in elems:
            out.append(ir.Assign(elems[s.array][_index(s.indices)], map_expr(s.value, expr), s.loc))
            continue
        s = with_exprs(s, tuple(map_expr(x, expr) for x in stmt_exprs(s)))
        out.append(map_blocks(s, lambda b: _rewrite(b, elems)))
    return tuple(out)


def _index(indices: tuple[ir.Expr, ...]) -> tuple[int, ...]:
    return tuple(int(i.value) for i in indices if isinstance(i, ir.Const))  # all constant: _candidates checked
