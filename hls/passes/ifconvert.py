"""ifconvert: turn the `if`s of pipelined loop bodies into straight-line, predicated code.

Inside a `pipeline(...)` loop (at any depth), an `if` whose branches hold
no loop, local array or call becomes: its condition evaluated once into a
fresh bool local (unless it is a bool variable neither branch assigns),
each assignment `x = v` under predicate p becomes `x = v if p else x` (the
old value fits x's type, so the assignment's wrap is unchanged), and each
store, stream read and stream write gets p as its predicate (AND-ed with nested conditions; a predicated
store evaluates nothing when p is false). A nested condition is evaluated
only under its outer predicate (`t = p and c`), so it raises exactly when
the original did. `if`s outside pipelined loops, and those holding a loop,
stay as they are.
"""

from __future__ import annotations

import dataclasses
from functools import partial

from hls.ir import nodes as ir
from hls.ir.walk import map_blocks, statements
from hls.passes._util import NameSupply, assigned, function_names, join_types, subexprs
from hls.types import BoolType, ScalarType, bool_

__all__ = ["run"]


def run(fn: ir.Function) -> ir.Function:
    """`fn` with the `if`s of its pipelined loop bodies if-converted."""
    c = _Converter({x.name: x.type for x in fn.locals}, NameSupply(function_names(fn)))
    body = c.block(fn.body, False, "")
    if body == fn.body:
        return fn
    # NOTE: an `if flag:` on a bool local no branch assigns is converted without a new local
    return dataclasses.replace(fn, body=body, locals=fn.locals + tuple(c.new_locals))


def _convertible(s: ir.If) -> bool:
    """True when the branches of `s` are straight-line code (no loops, local arrays or calls)."""
    inner = s.then + s.orelse
    if any(isinstance(x, ir.For | ir.While | ir.Alloc | ir.CallStmt | ir.Return) for x in statements(inner)):
        return False
    return not any(isinstance(e, ir.Call) for e in subexprs((s,)))


@dataclasses.dataclass
class _Converter:
    types: dict[str, ScalarType]  # local -> declared type
    names: NameSupply
    new_locals: list[ir.Local] = dataclasses.field(default_factory=list)

    def block(self, stmts: tuple[ir.Stmt, ...], in_pipeline: bool, scope: str) -> tuple[ir.Stmt, ...]:
        out: list[ir.Stmt] = []
        for s in stmts:
            if isinstance(s, ir.If) and in_pipeline and _convertible(s):
                out.extend(self.branch(s, None, scope))
                continue
            inner, pipelined = scope, in_pipeline
            if isinstance(s, ir.For):
                inner = f"{s.var}@{s.loc.line}" if s.kind == "prange" else scope
                pipelined = in_pipeline or s.kind == "pipeline"
            out.append(map_blocks(s, partial(self.block, in_pipeline=pipelined, scope=inner)))
        return tuple(out)

    def branch(self, s: ir.If, pred: ir.Expr | None, scope: str) -> list[ir.Stmt]:
        """The predicated form of `s`, itself executed under `pred` (None: always)."""
        c, loc = s.cond, s.loc
        out: list[ir.Stmt] = []
        stable = isinstance(c, ir.Var) and c.name not in assigned(s.then + s.orelse)
        if pred is None and stable and isinstance(c.type, BoolType):
            then_pred: ir.Expr = c
            else_pred: ir.Expr = ir.UnaryOp("not", c, bool_, loc)
        else:
            then_pred = self.hold(c if pred is None else ir.Logical("and", pred, c, bool_, loc), scope, out)
            not_t = ir.UnaryOp("not", then_pred, bool_, loc)
            else_pred = not_t
            if pred is not None and s.orelse:
                else_pred = self.hold(ir.Logical("and", pred, not_t, bool_, loc), scope, out)
        out += self.predicated(s.then, then_pred, scope)
        out += self.predicated(s.orelse, else_pred, scope)
        return out

    def hold(self, value: ir.Expr, scope: str, out: list[ir.Stmt]) -> ir.Var:
        """A fresh bool local assigned `value` (appended to `out`), to read instead of evaluating it again."""
        t = self.names.fresh("cond")
        self.new_locals.append(ir.Local(t, bool_, scope, value.loc))
        self.types[t] = bool_
        out.append(ir.Assign(t, value, value.loc))
        return ir.Var(t, bool_, value.loc)

    def predicated(self, stmts: tuple[ir.Stmt, ...], pred: ir.Expr, scope: str) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for s in stmts:
            if isinstance(s, ir.Assign):
                t = self.types[s.name]
                old = ir.Var(s.name, t, s.loc)
                out.append(
                    dataclasses.replace(
                        s, value=ir.Select(pred, s.value, old, join_types(ir.value_type(s.value), t), s.loc)
                    )
                )
            elif isinstance(s, ir.Store | ir.Read | ir.Write):  # nothing stored, read or written when false
                both = pred if s.pred is None else ir.Logical("and", pred, s.pred, bool_, s.loc)
                out.append(dataclasses.replace(s, pred=both))
            elif isinstance(s, ir.If):
                out.extend(self.branch(s, pred, scope))
            else:  # pragma: no cover - _convertible admits nothing else
                raise TypeError(f"cannot predicate {s!r}")
        return out
