"""bind: fix the array dims (and optionally scalar parameters) to the integers given to `lower()`.

Every dim symbol of an array parameter must be bound: the parameter's type
gets int dims and each `a.shape[k]` becomes a constant. A bound scalar
parameter becomes a constant and leaves the signature. The pass also
refuses floats anywhere in the kernel, since hardware computes on integers.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from hls.errors import KernelError
from hls.inttypes import MAX_DIM
from hls.ir import nodes as ir
from hls.ir.walk import statements
from hls.passes._util import const, map_stmts, subexprs
from hls.types import ArrayType, BoolType, FloatType, int_or_bool, is_int

__all__ = ["run"]

_FLOAT_FIX = "use a fixed-point integer type (e.g. i32 with a scale)"


def run(fn: ir.Function, params: dict[str, Any]) -> ir.Function:
    """`fn` with the dim symbols and scalar parameters named in `params` bound; raises KernelError."""
    _reject_floats(fn)
    symbols = _dim_symbols(fn)
    scalars = {p.name: p for p in fn.params if not isinstance(p.type, ArrayType)}
    for name, value in params.items():
        _check_value(fn, name, value, symbols, scalars)
    for sym, (p, _axis) in symbols.items():
        if sym not in params:
            raise KernelError(
                f"dim `{sym}` of array `{p.name}` is not bound",
                p.loc,
                f"pass {sym}=... to lower(), e.g. lower(kernel, {sym}=16)",
            )
    consts = {name: int(params[name]) for name in scalars if name in params}
    new_params = tuple(_bind_param(p, params) for p in fn.params if p.name not in consts)
    arrays = {p.name: p.type for p in new_params if isinstance(p.type, ArrayType)}

    def node(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Dim) and e.array in arrays:
            return const(cast(int, arrays[e.array].dims[e.axis]), e.loc)  # NOTE: _bind_param made every dim an int
        if isinstance(e, ir.Var) and e.name in consts:
            return const(consts[e.name], e.loc, e.type)
        return e

    return dataclasses.replace(fn, params=new_params, body=map_stmts(fn.body, node))


def _dim_symbols(fn: ir.Function) -> dict[str, tuple[ir.Param, int]]:
    """Each dim symbol and the first array parameter (and axis) that uses it."""
    out: dict[str, tuple[ir.Param, int]] = {}
    for p in fn.params:
        if isinstance(p.type, ArrayType):
            for axis, d in enumerate(p.type.dims):
                if isinstance(d, str):
                    out.setdefault(d, (p, axis))
    return out


def _check_value(
    fn: ir.Function, name: str, value: Any, symbols: dict[str, tuple[ir.Param, int]], scalars: dict[str, ir.Param]
) -> None:
    if name not in symbols and name not in scalars:
        known = sorted(symbols) + sorted(scalars)
        raise KernelError(
            f"`{name}` is neither a dim symbol nor a scalar parameter of this kernel",
            fn.loc,
            f"bind one of: {', '.join(known)}" if known else "this kernel takes no parameters to bind",
        )
    p = scalars.get(name)
    if p is not None and isinstance(p.type, BoolType) and isinstance(value, bool):
        return
    if not is_int(value):
        raise KernelError(
            f"`{name}` must be bound to an int, got {value!r}",
            (p or symbols[name][0]).loc,
            f"pass an integer, e.g. {name}=16",
        )
    if name in symbols and not 0 <= value <= MAX_DIM:
        raise KernelError(
            f"dim `{name}` = {value} is outside 0..{MAX_DIM}", symbols[name][0].loc, "pass a non-negative array size"
        )
    if p is not None:
        t = int_or_bool(p.type)  # NOTE: `scalars` holds no arrays, and _reject_floats has run
        if not t.lo <= value <= t.hi:
            raise KernelError(
                f"`{name}` = {value} does not fit its type {t.name} ({t.lo}..{t.hi})",
                p.loc,
                f"pass a value in {t.lo}..{t.hi}",
            )


def _bind_param(p: ir.Param, params: dict[str, Any]) -> ir.Param:
    if not isinstance(p.type, ArrayType):
        return p
    dims = tuple(int(params[d]) if isinstance(d, str) else d for d in p.type.dims)
    return dataclasses.replace(p, type=ArrayType(p.type.elem, dims))


def _reject_floats(fn: ir.Function) -> None:
    """Raise KernelError at the first float in `fn`: a parameter, local, table, local array or expression."""

    def fail(what: str, loc: ir.Loc) -> None:
        raise KernelError(f"floats cannot be lowered to hardware: {what}", loc, _FLOAT_FIX)

    for p in fn.params:
        elem = p.type.elem if isinstance(p.type, ArrayType) else p.type
        if isinstance(elem, FloatType):
            fail(f"parameter `{p.name}` is {p.type.name}", p.loc)
    if isinstance(fn.ret, FloatType):
        fail(f"the return type is {fn.ret.name}", fn.loc)
    for x in fn.locals:
        if isinstance(x.type, FloatType):
            fail(f"local `{x.name}` is {x.type.name}", x.loc)
    for s in statements(fn.body):
        if isinstance(s, ir.Alloc) and isinstance(s.type.elem, FloatType):
            fail(f"local array `{s.name}` holds {s.type.elem.name}", s.loc)
    for e in subexprs(fn.body):
        if isinstance(e.type, FloatType):
            fail(f"this expression is {e.type.name}", e.loc)
    for t in fn.tables:
        if isinstance(t.elem, FloatType):
            fail(f"table `{t.name}` holds {t.elem.name}", fn.loc)
