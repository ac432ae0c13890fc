"""Expression lowering for the frontend: `_ExpressionLowering` turns kernel expressions into typed IR."""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
from typing import Any, NoReturn, cast

import numpy as np

from hls import lang
from hls._allowlist import ARITH_OPS, COMPARE_OPS, FLOAT_FNS, LOOP_MARKERS, OP_FIX, REJECTED_EXPRS
from hls._scope import Scope
from hls._streams import StreamLowering
from hls.errors import KernelError
from hls.inttypes import DIM_TYPE, binop_type, intrinsic_range, literal_type, narrowest_int, unary_range, value_range
from hls.ir import nodes as ir
from hls.types import (
    ArrayType,
    BoolType,
    FloatType,
    Int,
    IntType,
    ScalarType,
    StreamType,
    UInt,
    as_type,
    bool_,
    is_int,
)

_Node = ast.stmt | ast.expr | ast.arg | ast.keyword  # the source nodes that carry a position

_MISSING = object()


def kernel_annotations(
    kernel: lang.Kernel, names: dict[str, Any] | None = None, node: ast.AST | None = None
) -> dict[str, Any]:
    """The kernel's annotations, evaluated (string annotations too)."""
    try:
        return inspect.get_annotations(kernel.fn, eval_str=True, locals=names)
    except Exception as err:  # noqa: BLE001 - any failure to evaluate an annotation
        fn = kernel.fn
        loc = ir.Loc(inspect.getsourcefile(fn) or "<unknown>", fn.__code__.co_firstlineno, 0)
        raise KernelError(
            f"the annotations of kernel `{fn.__name__}` cannot be evaluated: {err}",
            loc,
            "import the types (Array, i8, ...) at module level",
        ) from None


class _ExpressionLowering(StreamLowering):
    """The kernel's source and names, and the lowering of its expressions (names, constants, operators,
    subscripts, calls) with the typing rules they share with statements (`convert`, `need_exact`, `truth`)."""

    def __init__(self, kernel: lang.Kernel) -> None:
        self.kernel = kernel
        fn = kernel.fn
        self.file = inspect.getsourcefile(fn) or "<unknown>"
        lines, first = inspect.getsourcelines(fn)
        source = "".join(lines)
        dedented = textwrap.dedent(source)
        self.col_offset = len(lines[0]) - len(lines[0].lstrip()) if dedented != source else 0
        self.line_offset = first - 1
        module = ast.parse(dedented)
        self.tree = module.body[0]
        self.globals = dict(fn.__globals__)
        if fn.__closure__:
            self.globals.update(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__)))
        self.scope = Scope()
        self.callees: dict[str, lang.Kernel] = {}
        self.call_sites: list[tuple[lang.Kernel, ir.Loc]] = []
        self.is_float = False
        self.statement_call: ast.Call | None = None  # the call of the expression statement being lowered
        self.init_streams()

    # ---- helpers -------------------------------------------------------------

    @property
    def fdef(self) -> ast.FunctionDef:
        """The kernel's `def` statement."""
        return cast(ast.FunctionDef, self.tree)  # NOTE: parse() refuses a tree that is not a plain def

    def loc(self, node: _Node) -> ir.Loc:
        return ir.Loc(self.file, node.lineno + self.line_offset, node.col_offset + self.col_offset)

    def fail(self, node: _Node, message: str, fix: str = "") -> NoReturn:
        raise KernelError(message, self.loc(node), fix)

    def resolver(self, name: str) -> Any:
        if name in self.globals:
            return self.globals[name]
        return getattr(builtins, name, _MISSING)

    def static_value(self, node: ast.expr) -> Any:
        """The Python object a global name, attribute chain or Int(w) call denotes."""
        if isinstance(node, ast.Name):
            return self.resolver(node.id)
        if isinstance(node, ast.Attribute):
            base = self.static_value(node.value)
            return getattr(base, node.attr, _MISSING) if base is not _MISSING else _MISSING
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and self.resolver(node.func.id) in (Int, UInt)
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
            and not node.keywords
        ):
            try:
                return self.resolver(node.func.id)(node.args[0].value)
            except ValueError as err:
                self.fail(node, str(err), "use a width from 1 to 64")
        return _MISSING

    def scalar_type(self, node: _Node | None, hint: Any, what: str) -> ScalarType:
        try:
            return as_type(hint)
        except TypeError:
            self.fail(
                node or self.tree,
                f"{what} has unsupported type {hint!r}",
                "use i8..i64, u8..u64, Int(w), UInt(w), bool, f32, f64 or Array[...]",
            )

    # ---- expressions ---------------------------------------------------------

    def expr(self, e: ast.expr) -> ir.Expr:
        if type(e) in REJECTED_EXPRS:
            self.fail(e, *REJECTED_EXPRS[type(e)])
        loc = self.loc(e)
        if isinstance(e, ast.Constant):
            return self.constant(e.value, e)
        if isinstance(e, ast.Name):
            return self.name(e)
        if isinstance(e, ast.BinOp):
            op = ARITH_OPS.get(type(e.op))
            if op is None:
                self.fail(e, f"operator `{_op_text(e)}` is not supported in kernels", OP_FIX)
            return self.binop(op, self.expr(e.left), self.expr(e.right), e)
        if isinstance(e, ast.UnaryOp):
            operand = self.expr(e.operand)
            if isinstance(e.op, ast.UAdd):
                return operand
            if isinstance(e.op, ast.Not):
                return ir.UnaryOp("not", self.truth(operand, e.operand, "`not`"), bool_, loc)
            if isinstance(operand.type, FloatType):
                if isinstance(e.op, ast.Invert):
                    self.fail(e, "`~` is not defined on floats", "use integers for bit operations")
                return ir.UnaryOp("-", operand, operand.type, loc)
            if isinstance(e.op, ast.USub) and isinstance(operand, ir.Const) and isinstance(operand.type, IntType):
                return _const(-int(operand.value), loc)
            op = "-" if isinstance(e.op, ast.USub) else "~"
            return ir.UnaryOp(op, operand, narrowest_int(*unary_range(op, value_range(operand))), loc)
        if isinstance(e, ast.Compare):
            return self.compare(e)
        if isinstance(e, ast.BoolOp):
            op = "and" if isinstance(e.op, ast.And) else "or"
            terms = [self.truth(self.expr(e.values[0]), e.values[0], f"`{op}`")]
            before = len(self.pending)
            terms += [self.truth(self.expr(v), v, f"`{op}`") for v in e.values[1:]]
            self.lazy(before, e, f"`{op}`")
            out = terms[0]
            for term in terms[1:]:
                out = ir.Logical(op, out, term, bool_, loc)
            return out
        if isinstance(e, ast.IfExp):
            cond = self.truth(self.expr(e.test), e.test, "a conditional expression")
            before = len(self.pending)
            a, b = self.expr(e.body), self.expr(e.orelse)
            self.lazy(before, e, "a conditional expression")
            t = self.join_types(a, b, e)
            return ir.Select(
                cond,
                self.convert(a, t, e) if isinstance(t, FloatType) else a,
                self.convert(b, t, e) if isinstance(t, FloatType) else b,
                t,
                loc,
            )
        if isinstance(e, ast.Subscript):
            return self.subscript(e)
        if isinstance(e, ast.Call):
            return self.call(e)
        if isinstance(e, ast.Attribute):
            obj = self.static_value(e)
            if obj is not _MISSING:
                return self.global_value(obj, e, ast.unparse(e))
            if isinstance(e.value, ast.Name) and e.value.id in self.scope.params and e.attr == "shape":
                self.fail(e, "`.shape` must be indexed", f"write `{e.value.id}.shape[0]`")
            self.fail(
                e,
                f"attribute `{ast.unparse(e)}` is not supported in kernels",
                "kernels may read `array.shape[k]` and module-level constants",
            )
        self.fail(
            e,
            f"`{ast.unparse(e)}` is not supported in kernels",
            "use arithmetic, comparisons, array elements and calls to kernels, min, max, abs or type casts",
        )

    def constant(self, value: Any, node: ast.expr) -> ir.Expr:
        loc = self.loc(node)
        if isinstance(value, bool):
            return ir.Const(int(value), bool_, loc)
        if is_int(value):
            return _const(int(value), loc)
        if isinstance(value, float):
            if not self.is_float:
                self._float_error(node, f"float literal {value!r} in an integer kernel")
            return ir.Const(value, FloatType(64), loc)
        if isinstance(value, str):
            self.fail(node, "strings are not supported in kernels", "use integer codes")
        if value is None:
            self.fail(node, "None is not supported in kernels", "use an integer sentinel such as -1")
        self.fail(node, f"constant {value!r} is not supported in kernels", "use an integer")

    def _float_error(self, node: _Node, what: str = "floats in an integer kernel") -> NoReturn:
        self.fail(
            node,
            f"{what}: kernels whose signature has no float type are exact integer kernels",
            "use a fixed-point integer type (scale by 2**k and shift), or declare f32/f64 "
            "arguments for a float kernel (which the hardware backends do not run)",
        )

    def name(self, e: ast.Name) -> ir.Expr:
        n, loc = e.id, self.loc(e)
        if n in self.streams:
            self.not_a_value(e, n)
        if n in self.dim_symbols and n not in self.scope.params:
            array, axis = self.dim_symbols[n]
            return ir.Dim(array, axis, DIM_TYPE, loc)
        if n in self.scope.loop_vars:
            return ir.Var(n, self.scope.loop_vars[n], loc)
        n = self.scope.alias.get(n, n)
        if n in self.scope.locals:
            info = self.scope.locals[n]
            if info.scope and info.scope not in self.scope.prange:
                self.fail(
                    e,
                    f"local `{n}` belongs to the prange loop at {info.scope.split('@')[0]!r} "
                    f"and cannot be read outside it",
                    "store per-iteration results in an Array",
                )
            return ir.Var(n, info.type, loc)
        if n in self.scope.params:
            p = self.scope.params[n]
            if isinstance(p.type, ArrayType):
                self.fail(e, f"array `{n}` is used as a value", f"index it, e.g. `{n}[i]`")
            return ir.Var(n, p.type, loc)
        obj = self.resolver(n)
        if obj is _MISSING:
            assigned = any(
                isinstance(x, ast.Name) and x.id == n and isinstance(x.ctx, ast.Store) for x in ast.walk(self.tree)
            )
            loop_var = any(
                isinstance(x, ast.For) and isinstance(x.target, ast.Name) and x.target.id == n
                for x in ast.walk(self.tree)
            )
            if loop_var:
                self.fail(
                    e,
                    f"loop variable `{n}` is only defined inside its loop",
                    f"copy it to a local inside the loop, e.g. `last = {n}`",
                )
            if assigned:
                self.fail(e, f"`{n}` is used before it is assigned", f"assign `{n}` before this line")
            self.fail(e, f"name `{n}` is not defined", "define it at module level or pass it as an argument")
        return self.global_value(obj, e, n)

    def global_value(self, obj: Any, node: ast.expr, text: str) -> ir.Expr:
        if isinstance(obj, (bool, np.bool_)):
            return ir.Const(int(obj), bool_, self.loc(node))
        if is_int(obj):
            return _const(int(obj), self.loc(node))
        if isinstance(obj, (float, np.floating)):
            return self.constant(float(obj), node)
        if isinstance(obj, lang.Table):
            self.fail(node, f"table `{text}` is used as a value", f"index it, e.g. `{text}[i]`")
        if isinstance(obj, lang.Kernel):
            self.fail(node, f"kernel `{text}` is used as a value", f"call it: `{text}(...)`")
        if isinstance(obj, (list, dict, set, bytearray, np.ndarray)):
            self.fail(
                node,
                f"global `{text}` is a mutable {type(obj).__name__}; kernels cannot read mutable globals",
                f"pass it as an Array argument, or make it a constant with `{text} = hls.table(i32, ...)`",
            )
        self.fail(
            node,
            f"global `{text}` ({type(obj).__name__}) cannot be used in kernels",
            "kernels may use int constants, hls.table tables and other kernels",
        )

    def binop(self, op: str, a: ir.Expr, b: ir.Expr, node: _Node) -> ir.Expr:
        loc = self.loc(node)
        if isinstance(a.type, FloatType) or isinstance(b.type, FloatType):
            if op not in "+-*/":
                self.fail(node, f"`{op}` is not supported on floats", "use + - * / on floats")
            t = self.join_types(a, b, node)
            return ir.BinOp(op, self.convert(a, t, node), self.convert(b, t, node), t, loc)
        if op == "/":
            self.fail(
                node,
                "`/` is true division, which integer kernels do not have",
                "use `//` for floor division (or >> for powers of two)",
            )
        na, nb = _operand_nodes(node)
        if op in ("//", "%"):
            self.need_exact(a, na, f"`{op}`")
            self.need_exact(b, nb, f"`{op}`")
            if isinstance(b, ir.Const) and b.value == 0:
                self.fail(node, "division by zero", "divide by a non-zero value")
        elif op in ("<<", ">>"):
            self.need_exact(b, nb, "a shift amount")
            blo, bhi = value_range(b)
            if max(blo, 0) > min(bhi, 63):
                self.fail(node, f"shift amount is always outside 0..63 (range {blo}..{bhi})", "shift by 0..63")
            if op == ">>":
                self.need_exact(a, na, "`>>`")
        return ir.BinOp(op, a, b, binop_type(op, value_range(a), value_range(b)), loc)

    def compare(self, e: ast.Compare) -> ir.Expr:
        operands = [self.expr(e.left)] + [self.expr(c) for c in e.comparators]
        nodes = [e.left, *e.comparators]
        out: ir.Expr | None = None
        for op, (a, na), (b, nb) in zip(e.ops, zip(operands, nodes), zip(operands[1:], nodes[1:])):
            if type(op) not in COMPARE_OPS:
                self.fail(
                    e,
                    f"`{type(op).__name__}` comparisons are not supported in kernels",
                    "compare numbers with < <= > >= == !=",
                )
            if not (isinstance(a.type, FloatType) or isinstance(b.type, FloatType)):
                self.need_exact(a, na, "a comparison")
                self.need_exact(b, nb, "a comparison")
            else:
                t = self.join_types(a, b, e)
                a, b = self.convert(a, t, e), self.convert(b, t, e)
            c = ir.Compare(COMPARE_OPS[type(op)], a, b, bool_, self.loc(e))
            out = c if out is None else ir.Logical("and", out, c, bool_, self.loc(e))
        return cast(ir.Expr, out)  # NOTE: a comparison has at least one operator

    def subscript(self, e: ast.Subscript) -> ir.Expr:
        if isinstance(e.value, ast.Attribute) and e.value.attr == "shape":
            base = e.value.value
            arr = self.array_type_of(base)
            axis = e.slice.value if isinstance(e.slice, ast.Constant) else None
            if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < len(arr.dims):
                self.fail(
                    e.slice, f"shape index must be a constant in 0..{len(arr.dims) - 1}", "write e.g. `.shape[0]`"
                )
            dim = arr.dims[axis]
            if isinstance(dim, int):
                return _const(dim, self.loc(e))
            name = self.array_name(base)
            dtype = DIM_TYPE
            if name in self.scope.array_dims:  # a local array: its dim has the range of the size it was given
                size_t = self.scope.array_dims[name][axis]
                dtype = narrowest_int(max(0, size_t.lo), max(0, size_t.hi))
            return ir.Dim(name, axis, dtype, self.loc(e))
        name, arr = self.array_base(e)
        return ir.Load(name, self.indices(e, arr), arr.elem, self.loc(e))

    def array_type_of(self, base: ast.expr) -> ArrayType:
        if isinstance(base, ast.Name) and base.id in self.streams:
            self.not_an_array(base, base.id)
        if isinstance(base, ast.Name):
            p = self.scope.params.get(base.id)
            if p is not None and isinstance(p.type, ArrayType):
                return p.type
            internal = self.scope.alias.get(base.id, base.id)
            if internal in self.scope.arrays:
                atype, scope, loc = self.scope.arrays[internal]
                if scope and scope not in self.scope.prange:
                    self.fail(
                        base,
                        f"local array `{base.id}` belongs to the prange loop at "
                        f"{scope.split('@')[0]!r} and cannot be used outside it",
                        "store per-iteration results in an Array argument",
                    )
                return atype
            if p is None and base.id not in self.scope.locals and base.id not in self.scope.loop_vars:
                obj = self.resolver(base.id)
                if isinstance(obj, lang.Table):
                    return self.add_table(base.id, obj)
                if isinstance(obj, (list, dict, set, bytearray, np.ndarray)):
                    self.global_value(obj, base, base.id)  # raises: mutable globals are refused
        self.fail(base, f"`{ast.unparse(base)}` is not an array", "index Array parameters or hls.table constants")

    def add_table(self, name: str, t: lang.Table) -> ArrayType:
        if isinstance(t.elem, FloatType) and not self.is_float:
            self.fail(self.tree, f"table `{name}` holds floats but this is an integer kernel", "use an integer table")
        self.scope.tables[name] = ir.Table(name, t.elem, tuple(t.array.ravel().tolist()), t.shape)
        return ArrayType(t.elem, t.shape)

    def array_base(self, e: ast.Subscript) -> tuple[str, ArrayType]:
        arr = self.array_type_of(e.value)
        return self.array_name(e.value), arr

    def array_name(self, base: ast.expr) -> str:
        """The IR name of the array `base`, which array_type_of has accepted."""
        name = cast(ast.Name, base).id  # NOTE: array_type_of accepts only a name
        return self.scope.alias.get(name, name)

    def indices(self, e: ast.Subscript, arr: ArrayType) -> tuple[ir.Expr, ...]:
        idx_nodes = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
        if len(idx_nodes) != arr.rank:
            self.fail(
                e,
                f"`{ast.unparse(e.value)}` has {arr.rank} dimension(s) but {len(idx_nodes)} index(es) were given",
                "give one index per dimension",
            )
        out = []
        for n in idx_nodes:
            ix = self.expr(n)
            if not isinstance(ix.type, (IntType, BoolType)):
                self.fail(n, "array indices must be integers", "convert the index to an integer type")
            self.need_exact(ix, n, "an array index")
            out.append(ix)
        return tuple(out)

    def call(self, e: ast.Call) -> ir.Expr:
        loc = self.loc(e)
        method = self.stream_method(e)
        if isinstance(method, ir.Write):  # NOTE: a write statement is lowered by the frontend's stmt()
            self.fail(e, "write() returns no value", f"call it as a statement, `{ast.unparse(e)}`")
        if method is not None:
            return method
        fn = self.static_value(e.func)
        if e.keywords:
            self.fail(e, "keyword arguments are not supported in kernel calls", "pass arguments by position")
        if fn is bool or isinstance(fn, (IntType, BoolType, FloatType)):
            t = as_type(fn)
            if len(e.args) != 1:
                self.fail(e, f"{t.name}() takes one argument", f"write {t.name}(x)")
            if isinstance(t, FloatType) and not self.is_float:
                self._float_error(e)
            value = self.expr(e.args[0])
            if isinstance(t, BoolType):
                self.need_exact(value, e.args[0], "bool()")
            if isinstance(value.type, FloatType) and not isinstance(t, FloatType):
                self.fail(e, f"converting a float to {t.name} is not supported", "keep float values in float types")
            if isinstance(t, FloatType) and not isinstance(value.type, FloatType):
                self.need_exact(value, e.args[0], "a conversion to float")
            return ir.Cast(value, t, loc)
        if fn in (min, max, abs):
            name = fn.__name__
            args = [self.expr(a) for a in e.args]
            if (name == "abs") != (len(args) == 1) or not args:
                self.fail(
                    e,
                    f"{name}() takes {'one argument' if name == 'abs' else 'two or more arguments'}",
                    f"write {name}(a{', b' if name != 'abs' else ''})",
                )
            if any(isinstance(a.type, FloatType) for a in args):
                # NOTE: float literals take the precision of the other operands, as in join_types.
                widths = [a.type.width for a in args if isinstance(a.type, FloatType) and not isinstance(a, ir.Const)]
                t = FloatType(max(widths) if widths else 64)
                return ir.Intrinsic(name, tuple(self.convert(a, t, e) for a in args), t, loc)
            for a, n in zip(args, e.args):
                self.need_exact(a, n, f"{name}()")
            rng = intrinsic_range(name, [value_range(a) for a in args])
            return ir.Intrinsic(name, tuple(args), narrowest_int(*rng), loc)
        if fn in FLOAT_FNS:
            if not self.is_float:
                self._float_error(e, f"{FLOAT_FNS[fn]}() in an integer kernel")
            if len(e.args) != 1:
                self.fail(e, f"{FLOAT_FNS[fn]}() takes one argument", f"write {FLOAT_FNS[fn]}(x)")
            a = self.expr(e.args[0])
            t = a.type if isinstance(a.type, FloatType) else FloatType(64)
            return ir.Intrinsic(FLOAT_FNS[fn], (self.convert(a, t, e),), t, loc)
        if isinstance(fn, lang.Kernel):
            call = self.kernel_call(fn, e)
            if call.type is None and e is not self.statement_call:
                self.fail(
                    e,
                    f"kernel `{fn.__name__}` returns no value, so its call has none to use",
                    f"call it as a statement, `{ast.unparse(e)}`, or give `{fn.__name__}` a return type",
                )
            return call
        if fn in LOOP_MARKERS:
            self.fail(
                e,
                f"{LOOP_MARKERS[fn]}() can only be the iterable of a for loop",
                f"write `for i in {LOOP_MARKERS[fn]}(...)`",
            )
        text = ast.unparse(e.func)
        fix = "kernels can call other @kernel functions, min, max, abs and the type casts (i32(x), ...)"
        if fn is int:
            fix = "use a sized integer type, e.g. i64(x)"
        elif fn is len:
            fix = "use `a.shape[0]`"
        self.fail(e, f"call to `{text}` is not supported in kernels", fix)

    def kernel_call(self, callee: lang.Kernel, e: ast.Call) -> ir.Call:
        hints = kernel_annotations(callee)
        params = [ast_arg.arg for ast_arg in _ExpressionLowering(callee).fdef.args.args]
        if len(params) != len(e.args):
            self.fail(
                e,
                f"kernel `{callee.__name__}` takes {len(params)} argument(s), {len(e.args)} given",
                f"call it as {callee.__name__}({', '.join(params)})",
            )
        args: list[ir.Expr | ir.ArrayArg | ir.StreamArg] = []
        for p, node in zip(params, e.args):
            if p not in hints:
                self.fail(
                    node,
                    f"parameter `{p}` of kernel `{callee.__name__}` needs a type annotation",
                    f"annotate `{p}` in the definition of `{callee.__name__}`",
                )
            want = hints[p]
            if isinstance(want, StreamType):
                name = self.stream_name(node)
                if name is None:
                    self.fail(node, f"argument `{p}` of `{callee.__name__}` is a {want.name}", "pass a stream")
                got, _ = self.streams[name]
                if got != want:
                    self.fail(
                        node,
                        f"argument `{p}` of `{callee.__name__}` must be {want.name}, got {got.name}",
                        "pass a stream of the same element type",
                    )
                self.no_prange(node, name)
                args.append(ir.StreamArg(name, got, self.loc(node)))
                continue
            if isinstance(want, ArrayType):
                arr = self.array_type_of(node)
                if arr.elem != want.elem or arr.rank != want.rank:
                    self.fail(
                        node,
                        f"argument `{p}` of `{callee.__name__}` must be {want.name}, got {arr.name}",
                        "pass an array of the same element type and rank",
                    )
                source = cast(ast.Name, node).id  # NOTE: array_type_of accepts only a name
                if source in self.scope.tables and p in callee.written_arrays:
                    self.fail(
                        node,
                        f"table `{source}` is read-only, but `{callee.__name__}` writes its parameter `{p}`",
                        "copy the table into an Array argument to modify it",
                    )
                args.append(ir.ArrayArg(self.array_name(node), arr, self.loc(node)))
            else:
                args.append(self.convert(self.expr(node), self.scalar_type(node, want, f"parameter `{p}`"), node))
        ret = hints.get("return")
        ret_t = None if ret is None else self.scalar_type(e, ret, f"the return type of kernel `{callee.__name__}`")
        self.callees[callee.ir_name] = callee
        self.call_sites.append((callee, self.loc(e)))
        return ir.Call(callee.ir_name, tuple(args), ret_t, self.loc(e))

    # ---- typing rules --------------------------------------------------------

    def need_exact(self, e: ir.Expr, node: _Node, what: str) -> None:
        """Refuse an operand of an exact-value operation that may not fit 64 bits."""
        t = e.type
        if isinstance(t, IntType) and not t.fits_i64():
            self.fail(
                node,
                f"{what} needs the exact value of `{ast.unparse(node)}`, which may need "
                f"{t.width} bits (range {t.lo}..{t.hi})",
                "wrap it to 64 bits or fewer first, e.g. `i64(...)`, or use narrower operand types",
            )

    def truth(self, e: ir.Expr, node: _Node, what: str) -> ir.Expr:
        if isinstance(e.type, FloatType):
            self.fail(node, f"{what} needs a truth value, not a float", "compare the float, e.g. `x > 0.0`")
        self.need_exact(e, node, what)
        return e

    def join_types(self, a: ir.Expr, b: ir.Expr, node: _Node) -> ScalarType:
        ta, tb = a.type, b.type
        if isinstance(ta, FloatType) or isinstance(tb, FloatType):
            widths = [t.width for t in (ta, tb) if isinstance(t, FloatType)]
            if isinstance(a, ir.Const) and isinstance(ta, FloatType) and isinstance(tb, FloatType):
                return tb  # a float literal takes the other side's precision
            if isinstance(b, ir.Const) and isinstance(tb, FloatType) and isinstance(ta, FloatType):
                return ta
            return FloatType(max(widths))
        (alo, ahi), (blo, bhi) = value_range(a), value_range(b)
        return narrowest_int(min(alo, blo), max(ahi, bhi))

    def convert(self, e: ir.Expr, t: ScalarType, node: _Node) -> ir.Expr:
        """`e` as a value of `t` (a Cast where the value may change)."""
        if e.type == t:
            return e
        if isinstance(t, FloatType):
            if isinstance(e, ir.Const) and isinstance(e.type, FloatType):
                return ir.Const(e.value, t, e.loc)
            if not isinstance(e.type, FloatType):
                self.need_exact(e, node, "a conversion to float")
            return ir.Cast(e, t, e.loc)
        if isinstance(e.type, FloatType):
            self.fail(
                node, f"a float value cannot be stored as {t.name}", "keep float values in float locals and arrays"
            )
        if isinstance(t, BoolType):
            self.need_exact(e, node, "a bool store")
        elif isinstance(e.type, (IntType, BoolType)) and t.lo <= e.type.lo and e.type.hi <= t.hi:
            return e
        return ir.Cast(e, t, e.loc)


def _const(value: int, loc: ir.Loc) -> ir.Const:
    return ir.Const(value, literal_type(value), loc)


def _operand_nodes(node: _Node) -> tuple[_Node, _Node]:
    """The source nodes of a binary operation's two operands (for error locations)."""
    if isinstance(node, ast.BinOp):
        return node.left, node.right
    if isinstance(node, ast.AugAssign):
        return node.target, node.value
    return node, node


def _op_text(e: ast.BinOp) -> str:
    return {ast.Pow: "**", ast.MatMult: "@"}.get(type(e.op), type(e.op).__name__)
