"""Which loops of a top-level `prange` nest the numba-cuda backend spreads over the grid.

A top-level `prange` is one thread per iteration. When its whole body is one more loop, that loop's
iterations can be threads too, if they are independent: a nested `prange` says so itself, and a `range` or
`pipeline` loop is proved to be by `independent_iterations`. The nest then runs one thread per point of the
iteration space (i, j, ...), the last loop fastest (consecutive threads take consecutive j: `s[i, j]` stores
coalesce). Loop bounds must be known to the host before the launch and must not depend on the outer loops
(a rectangular space).

Proof of independence, for a loop `for j in range(...)` whose body is `body` (nothing before or after it in
its iteration of the outer loop, so nothing else can observe it):
- no local the body assigns can be read in an iteration before that iteration wrote it (a write inside a
  loop of the body counts only inside that loop, one in an `if` only when both branches write): no value
  flows from one iteration to the next;
- every array the body stores to is accessed (loaded and stored) with one same index tuple that has `j`
  itself on some axis: iterations touch different elements;
- the body has no call that takes an array (it might write it) and no stream operation;
- the loop variables of loops inside the body are read only inside their own loops.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from hls import ir
from hls.ir.printer import format_expr
from hls.ir.walk import expr_children, statements, stmt_exprs

__all__ = ["grid_levels", "independent_iterations"]

SERIAL_KINDS = ("range", "pipeline")  # loops whose iterations the proof may make threads (`unroll` stays serial)


def grid_levels(s: ir.For, host_evaluable: Callable[[ir.Expr], bool]) -> list[ir.For]:
    """The loops of the nest at the top-level prange `s` that become grid dimensions, outermost first."""
    levels = [s]
    while len(levels[-1].body) == 1 and isinstance(levels[-1].body[0], ir.For):
        inner = levels[-1].body[0]
        if inner.kind != "prange" and (inner.kind not in SERIAL_KINDS or not independent_iterations(inner)):
            break
        # NOTE: host_evaluable refuses the outer loop variables (the host does not know them): a rectangular space
        if not (host_evaluable(inner.start) and host_evaluable(inner.stop)):
            break
        levels.append(inner)
    return levels


def independent_iterations(loop: ir.For) -> bool:
    """True when no iteration of `loop` reads what another wrote (see the module docstring)."""
    body = loop.body
    for st in statements(body):
        if isinstance(st, ir.CallStmt | ir.Read | ir.Write | ir.Return | ir.StreamDecl):
            return False
    exprs = [e for st in statements(body) for top in stmt_exprs(st) for e in _walk(top)]
    if any(isinstance(e, ir.Call) and any(isinstance(a, ir.ArrayArg) for a in e.args) for e in exprs):
        return False
    return _locals_private(body) and _arrays_disjoint(body, loop.var, exprs) and _loop_vars_local(body)


def _locals_private(body: tuple[ir.Stmt, ...]) -> bool:
    assigned = {st.name for st in statements(body) if isinstance(st, ir.Assign)}
    exposed, _ = _exposed(body, set())
    return not exposed & assigned


def _exposed(stmts: tuple[ir.Stmt, ...], written: set[str]) -> tuple[set[str], set[str]]:
    """(the locals `stmts` may read before writing them, the locals surely written after them), given those
    surely written before. A loop's writes do not count after it (it may run no iteration); an `if`'s count
    when both branches make them."""
    exposed: set[str] = set()
    w = set(written)
    for st in stmts:
        exposed |= {e.name for top in stmt_exprs(st) for e in _walk(top) if isinstance(e, ir.Var)} - w
        if isinstance(st, ir.Assign):
            w.add(st.name)
        elif isinstance(st, ir.For | ir.While):
            inner, _ = _exposed(st.body, w | ({st.var} if isinstance(st, ir.For) else set()))
            exposed |= inner
        elif isinstance(st, ir.If):
            then_exposed, then_w = _exposed(st.then, w)
            else_exposed, else_w = _exposed(st.orelse, w)
            exposed |= then_exposed | else_exposed
            w |= then_w & else_w
    return exposed, w


def _arrays_disjoint(body: tuple[ir.Stmt, ...], var: str, exprs: list[ir.Expr]) -> bool:
    private = {st.name for st in statements(body) if isinstance(st, ir.Alloc)}  # allocated per iteration
    stored = {st.array for st in statements(body) if isinstance(st, ir.Store)} - private
    for array in stored:
        tuples = [st.indices for st in statements(body) if isinstance(st, ir.Store) and st.array == array]
        tuples += [e.indices for e in exprs if isinstance(e, ir.Load) and e.array == array]
        keys = {tuple(format_expr(i) for i in ix) for ix in tuples}
        if len(keys) != 1 or not any(isinstance(i, ir.Var) and i.name == var for i in tuples[0]):
            return False
    return True


def _loop_vars_local(body: tuple[ir.Stmt, ...]) -> bool:
    everywhere = _var_counts(body)
    for f in statements(body):
        if isinstance(f, ir.For) and everywhere[f.var] != _var_counts((f,))[f.var]:
            return False
    return True


def _var_counts(stmts: tuple[ir.Stmt, ...]) -> Counter[str]:
    return Counter(
        e.name for st in statements(stmts) for top in stmt_exprs(st) for e in _walk(top) if isinstance(e, ir.Var)
    )


def _walk(e: ir.Expr) -> list[ir.Expr]:
    out = [e]
    for c in expr_children(e):
        out += _walk(c)
    return out
