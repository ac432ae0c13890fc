"""The stream half of the frontend: `Stream` parameters, `x.read()`, `x.write(v)`, local `stream(...)`s,
and the rules of dataflow regions (checked at the user's line).

A kernel whose body declares streams and then only calls kernels is a *region*;
each call is a process, and the processes run concurrently joined by the
streams. Every `x.read()` in an expression is hoisted into its own `ir.Read`
statement just before the statement that uses it, in evaluation order, so the
passes see reads as assignments with a side effect.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any, Literal, NoReturn, cast

from hls import lang
from hls._scope import LocalInfo
from hls.errors import KernelError
from hls.ir import nodes as ir
from hls.ir.walk import statements, stmt_exprs, subexpressions
from hls.types import ArrayType, FloatType, ScalarType, StreamType

__all__ = ["StreamLowering", "check_region", "stream_directions"]

Direction = Literal["read", "write"]


class StreamLowering:
    """Mixed into the frontend (which provides `scope`, `expr`, `convert`, `fail`, `loc`, `static_value`)."""

    scope: Any
    dim_symbols: dict[str, tuple[str, int]]  # while a depth is lowered: dim symbol -> (array, axis)
    streams: dict[str, tuple[StreamType, ir.Loc]]  # stream name (parameter or local) -> type, declaration
    pending: list[ir.Stmt]  # reads hoisted out of the statement being lowered

    # the methods the frontend provides (declared for the type checker; `_ExpressionLowering` defines them)
    fail: Callable[..., NoReturn]
    loc: Callable[[Any], ir.Loc]
    expr: Callable[[ast.expr], ir.Expr]
    convert: Callable[[ir.Expr, ScalarType, Any], ir.Expr]
    static_value: Callable[[ast.expr], Any]

    def init_streams(self) -> None:
        self.streams = {}
        self.pending = []
        self.dim_symbols = {}

    def stream_name(self, node: ast.expr) -> str | None:
        """The stream `node` names, or None."""
        if isinstance(node, ast.Name) and node.id in self.streams:
            return node.id
        return None

    def stream_method(self, e: ast.Call) -> ir.Expr | ir.Write | None:
        """`x.read()` (hoisted: a Var of a fresh local) or `x.write(v)` (a Write); None for other calls."""
        func = e.func
        if not isinstance(func, ast.Attribute):
            return None
        name = self.stream_name(func.value)
        if name is None:
            return None
        stype, _ = self.streams[name]
        self.no_prange(func.value, name)
        if e.keywords:
            self.fail(e, f"`{name}.{func.attr}()` takes no keyword arguments", f"write `{name}.{func.attr}(...)`")
        if func.attr == "read":
            if e.args:
                self.fail(e, "read() takes no arguments", f"write `v = {name}.read()`")
            tmp = self.read_local(name, stype.elem, e)
            self.pending.append(ir.Read(tmp, name, self.loc(e)))
            return ir.Var(tmp, stype.elem, self.loc(e))
        if func.attr == "write":
            if len(e.args) != 1:
                self.fail(e, "write() takes one value", f"write `{name}.write(v)`")
            value = self.expr(e.args[0])
            if isinstance(value.type, FloatType):
                self.fail(e.args[0], "streams carry integers or bools, not floats", "convert to a fixed-point integer")
            return ir.Write(name, self.convert(value, stype.elem, e), self.loc(e))
        self.fail(
            func,
            f"streams have only read() and write(v), not `{func.attr}`",
            f"write `v = {name}.read()` or `{name}.write(v)`",
        )

    def read_local(self, stream: str, t: ScalarType, node: ast.expr) -> str:
        """A fresh local to hold one value read from `stream`."""
        k = 0
        while f"_{stream}_rd{k}" in self.scope.locals:
            k += 1
        name = f"_{stream}_rd{k}"
        self.scope.locals[name] = LocalInfo(t, "", self.loc(node))
        return name

    def no_prange(self, node: ast.expr, name: str) -> None:
        if self.scope.prange:
            self.fail(
                node,
                f"stream `{name}` is used in a prange loop, whose iterations run in parallel",
                "use streams in serial or pipelined loops; a FIFO's order is the loop's order",
            )

    def lazy(self, before: int, node: ast.expr, what: str) -> None:
        """Refuse reads hoisted while lowering an operand that is evaluated only sometimes (`what`)."""
        if len(self.pending) > before:
            self.fail(
                node,
                f"a stream read inside {what} would be evaluated only sometimes",
                "read into a local first: `v = s.read()`, then use `v`",
            )

    def not_a_value(self, node: ast.expr, name: str) -> NoReturn:
        self.fail(node, f"stream `{name}` is used as a value", f"read it with `{name}.read()`")

    def not_an_array(self, node: ast.expr, name: str) -> NoReturn:
        self.fail(
            node,
            f"stream `{name}` is indexed or stored like an array",
            f"streams are FIFOs: `v = {name}.read()` pops the next value, `{name}.write(v)` pushes one",
        )

    def stream_decl(self, s: ast.Assign, call: ast.Call) -> ir.StreamDecl:
        """`name = stream(dtype, depth=EXPR)`."""
        target = s.targets[0]
        if not isinstance(target, ast.Name) or len(s.targets) != 1:
            self.fail(s, "a stream is declared as `name = stream(dtype, depth=n)`", "assign it to one name")
        name = target.id
        if name in self.streams or name in self.scope.params or name in self.scope.locals:
            self.fail(target, f"`{name}` is already declared", "give each stream its own name")
        depth_node = next((k.value for k in call.keywords if k.arg == "depth"), None)
        others = [k.arg for k in call.keywords if k.arg != "depth"]
        if len(call.args) != 1 or depth_node is None or others:
            self.fail(call, "stream() takes a dtype and `depth=`", "write `s = stream(i16, depth=2)`")
        hint = self.static_value(call.args[0])
        try:
            stype: StreamType = lang.Stream.__class_getitem__(hint)
        except TypeError as err:
            self.fail(call.args[0], str(err), "use i8..i64, u8..u64, Int(w), UInt(w) or bool")
        depth = self.depth_expr(depth_node)
        self.streams[name] = (stype, self.loc(target))
        return ir.StreamDecl(name, stype, depth, self.loc(s))

    def depth_expr(self, node: ast.expr) -> ir.Expr:
        """A depth: a constant, or an expression of dims (`N`, as in the annotations) and scalar parameters."""
        self.dim_symbols = {}
        for p in self.scope.params.values():
            if isinstance(p.type, ArrayType):
                for axis, d in enumerate(p.type.dims):
                    if isinstance(d, str):
                        self.dim_symbols.setdefault(d, (p.name, axis))
        try:
            e = self.expr(node)
        finally:
            self.dim_symbols = {}
        if not isinstance(e.type, ScalarType) or isinstance(e.type, FloatType):
            self.fail(
                node,
                "a stream depth is an integer expression of dims and scalar parameters",
                "write e.g. `depth=2` or `depth=N + 2`",
            )
        return e


def stream_directions(fn: ir.Function, callees: dict[str, lang.Kernel]) -> dict[str, Direction | None]:
    """How `fn` uses each of its stream parameters: read, write or not at all (a region: through its processes)."""
    out: dict[str, Direction | None] = {p.name: None for p in fn.params if isinstance(p.type, StreamType)}
    for s in statements(fn.body):
        if isinstance(s, ir.Read | ir.Write) and s.stream in out:
            out[s.stream] = "read" if isinstance(s, ir.Read) else "write"
        if isinstance(s, ir.CallStmt):
            callee = callees[s.call.callee]
            dirs = callee.stream_dirs
            for p, a in zip(callee.ir.params, s.call.args):
                if isinstance(a, ir.StreamArg) and a.stream in out:
                    out[a.stream] = cast(Direction | None, dirs[p.name])
    return out


def check_region(fn: ir.Function, kernel_name: str, callees: dict[str, lang.Kernel], loc_of: dict[str, ir.Loc]) -> bool:
    """True when `fn` is a dataflow region; KernelError where it breaks the rules of streams.

    A region declares streams and calls kernels, nothing else; each stream has exactly one
    writer and one reader among its processes; a process uses each stream one way.
    Outside regions, streams are not passed to calls.
    """
    stream_params = {p.name for p in fn.params if isinstance(p.type, StreamType)}
    calls_with_streams = [
        s for s in fn.body if isinstance(s, ir.CallStmt) and any(isinstance(a, ir.StreamArg) for a in s.call.args)
    ]
    decls = [s for s in fn.body if isinstance(s, ir.StreamDecl)]
    region = bool(decls or calls_with_streams)
    for s in fn.body if region else ():
        if not isinstance(s, ir.StreamDecl | ir.CallStmt):
            raise KernelError(
                "a dataflow region only declares streams and calls kernels (its processes)",
                s.loc,
                "move this code into a kernel of its own and call it from the region",
            )
        if isinstance(s, ir.CallStmt) and s.call.type is not None:
            raise KernelError("a process returns no value", s.loc, "write results to an Array or a Stream")
    processes = {id(s.call) for s in calls_with_streams} if region else set()
    for s in statements(fn.body):
        for e in stmt_exprs(s):
            for x in subexpressions(e):
                if (
                    isinstance(x, ir.Call)
                    and id(x) not in processes
                    and any(isinstance(a, ir.StreamArg) for a in x.args)
                ):
                    raise KernelError(
                        "streams are passed to kernels only by a dataflow region's top-level calls",
                        x.loc,
                        "call the process from a region, at the top of its body",
                    )
    if not region:
        for name in stream_params:
            reads = [s for s in statements(fn.body) if isinstance(s, ir.Read) and s.stream == name]
            writes = [s for s in statements(fn.body) if isinstance(s, ir.Write) and s.stream == name]
            if reads and writes:
                raise KernelError(
                    f"stream `{name}` is both read and written by `{kernel_name}`",
                    writes[0].loc,
                    "a process uses each stream one way: read it here and write another stream",
                )
        return False
    users: dict[str, dict[str, list[tuple[str, ir.Loc]]]] = {}
    for s in calls_with_streams:
        callee = callees[s.call.callee]
        dirs = callee.stream_dirs
        for p, a in zip(callee.ir.params, s.call.args):
            if isinstance(a, ir.StreamArg):
                d = dirs[p.name] or "unused"
                users.setdefault(a.stream, {}).setdefault(d, []).append((callee.__name__, s.loc))
    for decl in decls:
        use = users.get(decl.name, {})
        _one_user(decl.name, use, "read", decl.loc)
        _one_user(decl.name, use, "write", decl.loc)
    for name in stream_params:
        use = users.get(name, {})
        if len(use.get("read", [])) + len(use.get("write", [])) != 1:
            who = ", ".join(f"`{k}` (line {loc.line})" for d in ("read", "write") for k, loc in use.get(d, []))
            raise KernelError(
                f"stream parameter `{name}` must be used by exactly one process, got {who or 'none'}",
                loc_of.get(name, fn.loc),
                "pass it to the one process that reads (or writes) it",
            )
    return True


def _one_user(name: str, use: dict[str, list[tuple[str, ir.Loc]]], d: Direction, decl: ir.Loc) -> None:
    past = {"read": "read", "write": "written"}[d]
    got = use.get(d, [])
    if not got:
        raise KernelError(
            f"stream `{name}` is never {past}: no process {d}s it",
            decl,
            f"pass `{name}` to a process that {d}s it, or remove the stream",
        )
    if len(got) > 1:
        who = " and ".join(f"`{k}` (line {loc.line})" for k, loc in got)
        raise KernelError(
            f"stream `{name}` is {past} by two processes: {who}",
            got[1][1],
            "each stream has one writer and one reader; declare another stream for the second process",
        )
