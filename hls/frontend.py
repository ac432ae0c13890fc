"""Python AST -> typed IR, through an explicit allowlist (the tables of `hls._allowlist`).

Anything outside the allowlist raises `KernelError` at the user's line with
what to write instead. Types follow the exact-value rules of `hls.inttypes`:
each integer expression gets the narrowest type that holds every value it can
take, and operations that need the exact value refuse (`need_exact`) operands
that may not fit 64 bits, so every backend computes the same result.

This module lowers the function and its statements; expressions are lowered
by the base class `hls._expressions._ExpressionLowering`.
"""

from __future__ import annotations

import ast
from typing import Any, NoReturn, cast

from hls import lang
from hls._allowlist import ARITH_OPS, LOOP_MARKERS, OP_FIX, REJECTED_STMTS
from hls._expressions import _MISSING, _const, _ExpressionLowering, _Node, kernel_annotations
from hls._scope import LocalInfo
from hls._streams import check_region
from hls.errors import KernelError
from hls.inttypes import narrowest_int, value_range
from hls.ir import nodes as ir
from hls.types import ArrayType, BoolType, FloatType, IntType, ScalarType, StreamType, i64

__all__ = ["kernel_annotations", "parse_kernel"]


def parse_kernel(kernel: lang.Kernel) -> ir.Function:
    """Parse and type-check `kernel`; fills `kernel.callees`. Raises KernelError."""
    try:
        func = _Frontend(kernel).parse()
        _check_no_recursion(kernel)
        return func
    except KernelError as err:
        # parse() fills these before the recursion check; a kernel that fails has no callees.
        kernel.__dict__.pop("callees", None)
        kernel.__dict__.pop("_call_sites", None)
        raise err.with_traceback(None) from None


def _check_no_recursion(root: lang.Kernel) -> None:
    # Each entry is a call path root -> ... -> k and the location of root's first call on it.
    stack = [([root, callee], loc) for callee, loc in root.__dict__["_call_sites"]]
    seen: set[int] = set()
    while stack:
        path, loc = stack.pop()
        k = path[-1]
        if k is root:
            via = " through " + ", ".join(f"`{p.__name__}`" for p in path[1:-1]) if len(path) > 2 else ""
            chain = " -> ".join(p.__name__ for p in path)
            raise KernelError(
                f"recursion is not supported in kernels: `{root.__name__}` calls itself{via} ({chain})",
                loc,
                "write the recursion as a loop",
            )
        if id(k) in seen:
            continue
        seen.add(id(k))
        stack += [(path + [c], loc) for c in _direct_callees(k)]


def _direct_callees(k: lang.Kernel) -> list[lang.Kernel]:
    """Kernels named in calls of `k`'s body, found without type-checking it."""
    names = _Frontend(k).resolver
    tree = _Frontend(k).tree
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            obj = names(node.func.id)
            if isinstance(obj, lang.Kernel):
                out.append(obj)
    return out


class _Frontend(_ExpressionLowering):
    """Lowers the kernel's `def` and its statements and loops (expressions: `_ExpressionLowering`)."""

    # ---- the function --------------------------------------------------------

    def parse(self) -> ir.Function:
        fdef = self.tree
        if not isinstance(fdef, ast.FunctionDef):
            raise KernelError("@kernel must decorate a plain `def` function", None)
        a = fdef.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
            self.fail(
                fdef,
                "kernel parameters must be plain positional parameters without defaults",
                "list each argument with a type annotation",
            )
        hints = kernel_annotations(self.kernel, self.globals, fdef)
        params = []
        for arg in a.args:
            if arg.arg not in hints:
                self.fail(
                    arg,
                    f"parameter `{arg.arg}` needs a type annotation",
                    f'annotate it, e.g. `{arg.arg}: i32` or `{arg.arg}: Array[i8, "N"]`',
                )
            ptype = self.param_type(arg, hints[arg.arg])
            params.append(ir.Param(arg.arg, ptype, self.loc(arg)))
            self.scope.params[arg.arg] = params[-1]
        ret = None
        if hints.get("return") is not None:
            ret = self.scalar_type(fdef.returns, hints["return"], "return type")
        self.is_float = any(isinstance(t, FloatType) for t in _scalar_types(params, ret))
        body = self.block(self.strip_docstring(fdef.body))
        if ret is not None:
            if not body or not isinstance(body[-1], ir.Return):
                self.fail(
                    fdef,
                    f"kernel `{fdef.name}` declares a return type but does not end with `return`",
                    "end the body with `return <value>`",
                )
            body = body[:-1] + (ir.Return(self.convert(body[-1].value, ret, fdef), body[-1].loc),)
        self.kernel.__dict__["callees"] = dict(self.callees)
        self.kernel.__dict__["_call_sites"] = list(self.call_sites)
        locals_ = tuple(ir.Local(n, info.type, info.scope, info.loc) for n, info in self.scope.locals.items())
        fn = ir.Function(
            self.kernel.ir_name,
            tuple(params),
            locals_,
            body,
            ret,
            tuple(self.scope.tables.values()),
            tuple(self.callees),
            self.loc(fdef),
        )
        # NOTE: a region with a return type ends with `return`, which check_region refuses as code in a region
        self.kernel.__dict__["is_region"] = check_region(
            fn, self.kernel.__name__, self.callees, {n: loc for n, (_, loc) in self.streams.items()}
        )
        return fn

    def param_type(self, arg: ast.arg, hint: Any) -> ScalarType | ArrayType | StreamType:
        if isinstance(hint, ArrayType):
            return hint
        if isinstance(hint, StreamType):
            self.streams[arg.arg] = (hint, self.loc(arg))
            return hint
        return self.scalar_type(arg, hint, f"parameter `{arg.arg}`")

    @staticmethod
    def strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            return body[1:]
        return body

    # ---- statements ----------------------------------------------------------

    def block(self, stmts: list[ast.stmt]) -> tuple[ir.Stmt, ...]:
        out: list[ir.Stmt] = []
        outer, self.pending = self.pending, []  # NOTE: reads hoisted from a loop header belong before the loop
        for s in stmts:
            if isinstance(s, ast.Pass):
                continue
            lowered = self.stmt(s)
            out += self.pending  # the stream reads of the statement, in evaluation order, before it
            self.pending = []
            if lowered is None:
                continue
            out.append(lowered)
            if isinstance(out[-1], ir.Return) and s is not self.fdef.body[-1]:
                self.fail(
                    s,
                    "`return` is only supported as the last statement of a kernel",
                    "store the value in a local and return it at the end",
                )
        self.pending = outer
        return tuple(out)

    def stmt(self, s: ast.stmt) -> ir.Stmt | None:
        if type(s) in REJECTED_STMTS:
            self.fail(s, *REJECTED_STMTS[type(s)])
        if isinstance(s, ast.Assign) and isinstance(s.value, ast.Call):
            what = self.static_value(s.value.func)
            if what is lang.zeros:
                return self.alloc(s, s.value)
            if what is lang.stream:
                return self.stream_decl(s, s.value)
        for target in getattr(s, "targets", [getattr(s, "target", None)]):
            base = target.value if isinstance(target, ast.Subscript) else target
            name = self.stream_name(base) if isinstance(base, ast.expr) else None
            if name is not None:
                self.not_an_array(base, name)
        if isinstance(s, ast.Assign):
            if isinstance(s.targets[0], (ast.Tuple, ast.List)):
                self.fail(s, "tuple unpacking is not supported in kernels", "assign each variable on its own line")
            if len(s.targets) != 1:
                self.fail(
                    s, "only one target per assignment is supported in kernels", "assign each variable on its own line"
                )
            return self.assign(s.targets[0], self.expr(s.value), s, declared=None)
        if isinstance(s, ast.AnnAssign):
            if s.value is None:
                self.fail(s, "a declaration needs a value", f"write `{ast.unparse(s.target)}: type = 0`")
            hint = self.static_value(s.annotation)
            if hint is _MISSING:
                self.fail(
                    s.annotation,
                    f"annotation `{ast.unparse(s.annotation)}` is not a kernel type",
                    "use i8..i64, u8..u64, Int(w) or UInt(w) with a constant w, bool, f32 or f64",
                )
            t = self.scalar_type(s.annotation, hint, "the annotation")
            return self.assign(s.target, self.expr(s.value), s, declared=t)
        if isinstance(s, ast.AugAssign):
            op = ARITH_OPS.get(type(s.op))
            if op is None:
                self.fail(s, f"operator `{ast.unparse(s)}` is not supported in kernels", OP_FIX)
            current = self.expr(s.target)
            value = self.binop(op, current, self.expr(s.value), s)
            return self.assign(s.target, value, s, declared=None)
        if isinstance(s, ast.For):
            return self.for_loop(s)
        if isinstance(s, ast.While):
            if s.orelse:
                self.fail(s, "while/else is not supported in kernels", "put the else code after the loop")
            test = self.truth(self.expr(s.test), s.test, "a while condition")
            self.lazy(0, s.test, "a while condition")
            return ir.While(test, self.block(s.body), self.loc(s))
        if isinstance(s, ast.If):
            cond = self.truth(self.expr(s.test), s.test, "an if condition")
            return ir.If(cond, self.block(s.body), self.block(s.orelse), self.loc(s))
        if isinstance(s, ast.Return):
            if s.value is None or self.fdef.returns is None:
                self.fail(
                    s,
                    "`return` needs a value and a declared return type",
                    "annotate the kernel, e.g. `def f(...) -> i32:`, and return a value",
                )
            return ir.Return(self.expr(s.value), self.loc(s))
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Call):
                method = self.stream_method(s.value)
                if isinstance(method, ir.Write):
                    return method
                if method is not None:  # a read whose value is dropped
                    return None
                self.statement_call = s.value
                e = self.expr(s.value)
                if isinstance(e, ir.Call):
                    return ir.CallStmt(e, self.loc(s))
            self.fail(s, "this expression statement has no effect", "assign its value or remove it")
        self.fail(
            s,
            f"`{type(s).__name__}` statements are not supported in kernels",
            "use for/while loops, if/else and assignments",
        )

    def assign(self, target: ast.expr, value: ir.Expr, s: ast.stmt, declared: ScalarType | None) -> ir.Stmt:
        if isinstance(target, ast.Subscript):
            name, arr = self.array_base(target)
            if name in self.scope.tables:
                self.fail(target, f"table `{name}` is read-only", "copy it into an Array argument to modify it")
            indices = self.indices(target, arr)
            return ir.Store(name, indices, self.convert(value, arr.elem, s), self.loc(s))
        if not isinstance(target, ast.Name):
            self.fail(
                target,
                "only names and array elements can be assigned in kernels",
                "assign to a local name or to `array[i, j]`",
            )
        name = target.id
        if name in self.scope.params:
            self.fail(target, f"parameter `{name}` cannot be assigned", "copy it to a local first")
        if name in self.scope.loop_vars:
            self.fail(target, f"loop variable `{name}` cannot be assigned inside its loop", "use another local")
        scope = self.scope.prange[-1] if self.scope.prange else ""
        name = self.scope.fresh(name, scope)
        info = self.scope.locals.get(name)
        if name in self.scope.arrays:
            self.fail(target, f"`{target.id}` is a local array", f"assign its elements, e.g. `{target.id}[i] = ...`")
        if info is None:
            if isinstance(value, ir.Cast) and declared is None:
                declared = value.type
            if declared is None:
                declared = value.type if isinstance(value.type, FloatType) else i64
            if isinstance(declared, FloatType) and not self.is_float:
                self._float_error(s)
            info = self.scope.locals[name] = LocalInfo(declared, scope, self.loc(target))
        else:
            if declared is not None and declared != info.type:
                self.fail(
                    s,
                    f"`{name}` was declared as {info.type.name} at line {info.loc.line}",
                    "use another name for a value of another type",
                )
            if info.scope != scope:
                self.prange_error(target, name, info)
        return ir.Assign(name, self.convert(value, info.type, s), self.loc(s))

    def alloc(self, s: ast.Assign, call: ast.Call) -> ir.Alloc:
        target = s.targets[0]
        if len(s.targets) != 1 or not isinstance(target, ast.Name):
            self.fail(s, "a local array is assigned to one name", "write `buf = zeros(f32, n)`")
        scope = self.scope.prange[-1] if self.scope.prange else ""
        name = self.scope.fresh(target.id, "\0")  # a new array whenever the old one's prange has ended
        if (
            name in self.scope.params
            or name in self.scope.locals
            or name in self.scope.loop_vars
            or name in self.scope.arrays
        ):
            self.fail(
                target,
                f"`{name}` is already declared; a local array is declared once",
                "use a new name, or reset its elements in a loop",
            )
        if len(call.args) < 2 or call.keywords:
            self.fail(call, "zeros() takes a dtype and one size per dimension", "write e.g. `zeros(f32, 64, 64)`")
        elem = self.scalar_type(call.args[0], self.static_value(call.args[0]), "the zeros() dtype")
        if isinstance(elem, FloatType) and not self.is_float:
            self._float_error(call.args[0])
        dims = []
        dim_types: list[IntType | BoolType] = []
        for node in call.args[1:]:
            d = self.expr(node)
            if not isinstance(d.type, (IntType, BoolType)):
                self.fail(node, "array sizes must be integers", "use an integer size")
            self.need_exact(d, node, "an array size")
            dims.append(d)
            dim_types.append(d.type)
        # NOTE: the sizes are integer expressions, so a constant one holds an int
        shape = tuple(cast(int, d.value) if isinstance(d, ir.Const) else f"{name}#{k}" for k, d in enumerate(dims))
        atype = ArrayType(elem, shape)
        self.scope.array_dims[name] = tuple(dim_types)
        self.scope.arrays[name] = (atype, scope, self.loc(target))
        return ir.Alloc(name, atype, tuple(dims), self.loc(s))

    def prange_error(self, node: _Node, name: str, info: LocalInfo) -> NoReturn:
        self.fail(
            node,
            f"local `{name}` is shared between prange iterations (declared at line {info.loc.line})",
            "prange iterations run in parallel: declare the local inside the prange body "
            "and write per-iteration results to an Array",
        )

    def for_loop(self, s: ast.For) -> ir.For:
        if s.orelse:
            self.fail(s, "for/else is not supported in kernels", "put the else code after the loop")
        if not isinstance(s.target, ast.Name):
            self.fail(s.target, "the loop variable must be a single name", "write `for i in range(n):`")
        var = s.target.id
        if (
            var in self.scope.params
            or self.scope.alias.get(var, var) in self.scope.locals
            or var in self.scope.loop_vars
            or self.scope.alias.get(var, var) in self.scope.arrays
        ):
            self.fail(
                s.target,
                f"loop variable `{var}` reuses the name of another variable",
                "use a fresh name for each loop variable",
            )
        kind, rng_call, ii, factor = self.loop_header(s.iter)
        start, stop, step = self.range_args(rng_call)
        (slo, shi), (elo, ehi) = value_range(start), value_range(stop)
        vtype = narrowest_int(min(slo, elo), max(shi, ehi))
        self.scope.loop_vars[var] = vtype
        if kind == "prange":
            self.scope.prange.append(f"{var}@{s.lineno + self.line_offset}")
        try:
            body = self.block(s.body)
        finally:
            del self.scope.loop_vars[var]
            self.scope.past_loop_vars.add(var)
            if kind == "prange":
                self.scope.prange.pop()
        return ir.For(var, start, stop, step, kind, body, self.loc(s), ii, factor)

    def loop_header(self, it: ast.expr) -> tuple[str, ast.Call, int | None, int | None]:
        if not isinstance(it, ast.Call):
            self.fail(
                it,
                "kernels loop over range(...) only",
                "write `for i in range(n)`, or prange/unroll/pipeline of a range",
            )
        marker = LOOP_MARKERS.get(self.static_value(it.func))
        if marker in ("range", "prange"):
            if it.keywords:
                self.fail(it, f"{marker}() takes no keyword arguments", f"write {marker}(start, stop, step)")
            return marker, it, None, None
        if marker in ("unroll", "pipeline"):
            if (
                len(it.args) != 1
                or not isinstance(it.args[0], ast.Call)
                or LOOP_MARKERS.get(self.static_value(it.args[0].func)) != "range"
            ):
                fix = (
                    "write `pipeline(range(n), ii=1)`"
                    if marker == "pipeline"
                    else "write `unroll(range(n))`, or `unroll(range(n), factor=2)` to unroll by a factor"
                )
                self.fail(it, f"{marker}() wraps a range", fix)
            opt = {"unroll": "factor", "pipeline": "ii"}[marker]
            value = None
            for kw in it.keywords:
                given = kw.value.value if isinstance(kw.value, ast.Constant) else None
                if kw.arg != opt or not isinstance(given, int) or isinstance(given, bool) or given < 1:
                    self.fail(kw, f"{marker}() takes `{opt}=` a positive integer constant", f"write `{opt}=1`")
                value = given
            if marker == "pipeline":
                return marker, it.args[0], value or 1, None
            return marker, it.args[0], None, value
        self.fail(
            it,
            f"`{ast.unparse(it.func)}` cannot be looped over in kernels",
            "loop over range(...), prange(...), unroll(range(...)) or pipeline(range(...), ii=1)",
        )

    def range_args(self, call: ast.Call) -> tuple[ir.Expr, ir.Expr, ir.Const]:
        args = [self.expr(a) for a in call.args]
        if not 1 <= len(args) <= 3:
            self.fail(
                call,
                "range() takes 1 to 3 arguments",
                "write range(stop), range(start, stop) or range(start, stop, step)",
            )
        for a, node in zip(args, call.args):
            if not isinstance(a.type, (IntType, BoolType)):
                self.fail(node, "range() bounds must be integers", "convert the bound to an integer type")
            self.need_exact(a, node, "a range bound")
        if len(args) == 1:
            args.insert(0, _const(0, self.loc(call)))
        if len(args) == 2:
            args.append(_const(1, self.loc(call)))
        step = args[2]
        if not isinstance(step, ir.Const) or step.value == 0:
            self.fail(call.args[2], "the range step must be a non-zero integer constant", "write e.g. range(a, b, 2)")
        return args[0], args[1], step


def _scalar_types(params: list[ir.Param], ret: ScalarType | None) -> list[ScalarType]:
    out = [p.type.elem if isinstance(p.type, ArrayType | StreamType) else p.type for p in params]
    return out + ([ret] if ret is not None else [])
