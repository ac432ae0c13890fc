"""A deterministic text form of the IR, for debugging and golden tests."""

from __future__ import annotations

from hls.ir import nodes as ir
from hls.types import ArrayType, ScalarType, StreamType


def format_function(f: ir.Function) -> str:
    """Print `f`: signature, locals with their types, then the body, one statement per line."""
    params = ", ".join(f"{p.name}: {_type(p.type)}" for p in f.params)
    lines = [f"kernel {f.name}({params}){' -> ' + f.ret.name if f.ret else ''}"]
    for t in f.tables:
        lines.append(f"  table {t.name}: {t.elem.name}{list(t.shape)}")
    for local in f.locals:
        lines.append(f"  local {local.name}: {local.type.name}{' in prange ' + local.scope if local.scope else ''}")
    _block(f.body, 1, lines)
    return "\n".join(lines) + "\n"


def _type(t: ScalarType | ArrayType | StreamType) -> str:
    return t.name


def _block(stmts: tuple[ir.Stmt, ...], depth: int, out: list[str]) -> None:
    pad = "  " * depth
    for s in stmts:
        if isinstance(s, ir.Assign):
            out.append(f"{pad}{s.name} = {format_expr(s.value)}")
        elif isinstance(s, ir.Store):
            pred = f" if {format_expr(s.pred)}" if s.pred is not None else ""
            out.append(f"{pad}{s.array}[{_args(s.indices)}] = {format_expr(s.value)}{pred}")
        elif isinstance(s, ir.Alloc):
            out.append(f"{pad}{s.name} = zeros({s.type.elem.name}, {_args(s.dims)})")
        elif isinstance(s, ir.For):
            extra = f", ii={s.ii}" if s.ii else f", factor={s.factor}" if s.factor else ""
            out.append(
                f"{pad}for {s.var} in {s.kind}({format_expr(s.start)}, {format_expr(s.stop)}, "
                f"{format_expr(s.step)}{extra}):"
            )
            _block(s.body, depth + 1, out)
        elif isinstance(s, ir.While):
            out.append(f"{pad}while {format_expr(s.cond)}:")
            _block(s.body, depth + 1, out)
        elif isinstance(s, ir.If):
            out.append(f"{pad}if {format_expr(s.cond)}:")
            _block(s.then, depth + 1, out)
            if s.orelse:
                out.append(f"{pad}else:")
                _block(s.orelse, depth + 1, out)
        elif isinstance(s, ir.CallStmt):
            out.append(f"{pad}{format_expr(s.call)}")
        elif isinstance(s, ir.Return):
            out.append(f"{pad}return {format_expr(s.value)}")
        elif isinstance(s, ir.Read):
            pred = f" if {format_expr(s.pred)}" if s.pred is not None else ""
            out.append(f"{pad}{s.name} = {s.stream}.read(){pred}")
        elif isinstance(s, ir.Write):
            pred = f" if {format_expr(s.pred)}" if s.pred is not None else ""
            out.append(f"{pad}{s.stream}.write({format_expr(s.value)}){pred}")
        elif isinstance(s, ir.StreamDecl):
            out.append(f"{pad}{s.name} = stream({s.type.elem.name}, depth={format_expr(s.depth)})")
        else:  # pragma: no cover
            raise TypeError(f"unknown statement {s!r}")


def _args(exprs: tuple[ir.Expr, ...]) -> str:
    return ", ".join(format_expr(e) for e in exprs)


def format_expr(e: ir.Expr | ir.ArrayArg | ir.StreamArg) -> str:
    """Print an expression fully parenthesized, each node with its type after a colon where it matters."""
    if isinstance(e, ir.Const):
        return f"{e.value!r}:{e.type.name}"
    if isinstance(e, ir.Var):
        return e.name
    if isinstance(e, ir.Dim):
        return f"{e.array}.shape[{e.axis}]"
    if isinstance(e, ir.Load):
        return f"{e.array}[{_args(e.indices)}]"
    if isinstance(e, (ir.BinOp, ir.Compare, ir.Logical)):
        return f"({format_expr(e.lhs)} {e.op} {format_expr(e.rhs)}):{e.type.name}"
    if isinstance(e, ir.UnaryOp):
        return f"({e.op} {format_expr(e.operand)}):{e.type.name}"
    if isinstance(e, ir.Select):
        return f"({format_expr(e.then)} if {format_expr(e.cond)} else {format_expr(e.orelse)}):{e.type.name}"
    if isinstance(e, ir.Cast):
        return f"{e.type.name}({format_expr(e.operand)})"
    if isinstance(e, ir.Intrinsic):
        return f"{e.name}({_args(e.args)}):{e.type.name}"
    if isinstance(e, ir.Call):
        return f"call {e.callee}({', '.join(format_expr(a) for a in e.args)})"
    if isinstance(e, ir.ArrayArg):
        return e.array
    if isinstance(e, ir.StreamArg):
        return e.stream
    raise TypeError(f"unknown expression {e!r}")  # pragma: no cover
