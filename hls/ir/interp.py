"""The IR interpreter: runs any IR function exactly, as the `python` backend runs its kernel.

Integers are Python ints (exact); they wrap only where stored: an assignment
wraps to the local's type, a store to the element type, a cast to its type.
`>>` floors, `//` and `%` floor, a shift amount outside 0..63 raises
ValueError, a division by zero ZeroDivisionError, an index outside the array
IndexError. Float values are numpy scalars of their width, as in the
reference backend. With `check_types` (the default) every integer value is
also checked against its expression's type, so a pass that types an
expression too narrowly fails here with IRError.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from hls.ir import nodes as ir
from hls.ir.verify import IRError
from hls.types import ArrayType, BoolType, FloatType, IntType, ScalarType, StreamType, decode_value, numpy_dtype

__all__ = ["run"]

_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "&": operator.and_,
    "|": operator.or_,
    "^": operator.xor,
    "//": operator.floordiv,
    "%": operator.mod,
}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_FLOAT_FNS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt}


def run(
    fn: ir.Function, args: dict[str, Any], callees: dict[str, ir.Function] | None = None, check_types: bool = True
) -> Any:
    """Run `fn` on `args` (parameter name -> numpy array, written in place, or scalar); return its value.

    `callees` maps the IR names of called functions to their IR. The return
    value is decoded as the backends decode it (int, bool, float or None).
    """
    missing = [p.name for p in fn.params if p.name not in args]
    if missing:
        raise ValueError(f"missing arguments: {', '.join(missing)}")
    raw = _Frame(fn, args, callees or {}, check_types).run()
    return decode_value(raw, fn.ret)


def _zero(t: ScalarType) -> Any:
    return _float(0.0, t) if isinstance(t, FloatType) else 0


def _float(value: Any, t: FloatType) -> Any:
    """`value` as a numpy float of `t`'s width (float32 arithmetic rounds to float32, as compiled code does)."""
    return np.float32(value) if t.width == 32 else np.float64(value)


def _store_value(value: Any, t: ScalarType) -> Any:
    """`value` as a local or element of type `t` holds it: integers wrap, bools keep the truth."""
    if isinstance(t, FloatType):
        return value
    return t.wrap(int(value))


class _Frame:
    """One activation of a function: its scalars, arrays and tables."""

    def __init__(
        self, fn: ir.Function, args: dict[str, Any], callees: dict[str, ir.Function], check_types: bool
    ) -> None:
        self.fn = fn
        self.callees = callees
        self.check_types = check_types
        self.scalars: dict[str, Any] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.elems: dict[str, ScalarType] = {}  # array -> its declared element type (odd widths wrap to it)
        self.local_types = {x.name: x.type for x in fn.locals}
        for p in fn.params:
            value = args[p.name]
            if isinstance(p.type, ArrayType):
                if not isinstance(value, np.ndarray) or value.ndim != p.type.rank:
                    raise ValueError(f"argument `{p.name}` must be a numpy array of rank {p.type.rank}")
                self.arrays[p.name] = value
                self.elems[p.name] = p.type.elem
            elif not isinstance(p.type, StreamType):  # NOTE: streams run on the backends, not here
                self.scalars[p.name] = (
                    _float(value, p.type) if isinstance(p.type, FloatType) else _store_value(value, p.type)
                )
        for t in fn.tables:
            self.arrays[t.name] = np.array(t.values, dtype=numpy_dtype(t.elem)).reshape(t.shape)
        for x in fn.locals:
            if not x.scope:
                self.scalars[x.name] = _zero(x.type)
        self.eval_fns: dict[type, Callable[[Any], Any]] = {
            ir.Const: self.const,
            ir.Var: self.var,
            ir.Dim: self.dim,
            ir.Load: self.load,
            ir.BinOp: self.binop,
            ir.UnaryOp: self.unary,
            ir.Compare: self.compare,
            ir.Logical: self.logical,
            ir.Select: self.select,
            ir.Cast: self.cast,
            ir.Intrinsic: self.intrinsic,
            ir.Call: self.call,
        }
        self.result: Any = None

    def run(self) -> Any:
        self.block(self.fn.body)
        return self.result

    # ---- statements ----------------------------------------------------------

    def block(self, stmts: tuple[ir.Stmt, ...]) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, s: ir.Stmt) -> None:
        if isinstance(s, ir.Assign):
            self.scalars[s.name] = _store_value(self.eval(s.value), self.local_types[s.name])
        elif isinstance(s, ir.Store):
            if s.pred is not None and not self.eval(s.pred):
                return
            value = self.eval(s.value)  # NOTE: Python evaluates `a[i] = v` value first, then the index
            arr = self.arrays[s.array]
            arr[self.index(arr, s.indices)] = _store_value(value, self.elems[s.array])
        elif isinstance(s, ir.For):
            self.for_loop(s)
        elif isinstance(s, ir.While):
            while self.eval(s.cond):
                self.block(s.body)
        elif isinstance(s, ir.If):
            self.block(s.then if self.eval(s.cond) else s.orelse)
        elif isinstance(s, ir.CallStmt):
            self.eval(s.call)
        elif isinstance(s, ir.Return):
            # NOTE: verify allows `return` only in a function with a return type
            self.result = _store_value(self.eval(s.value), cast(ScalarType, self.fn.ret))
        elif isinstance(s, ir.Alloc):
            dims = tuple(int(self.eval(d)) for d in s.dims)
            self.arrays[s.name] = np.zeros(dims, dtype=numpy_dtype(s.type.elem))
            self.elems[s.name] = s.type.elem
        else:  # pragma: no cover
            raise TypeError(f"unknown statement {s!r}")

    def for_loop(self, s: ir.For) -> None:
        start, stop = int(self.eval(s.start)), int(self.eval(s.stop))
        scope = f"{s.var}@{s.loc.line}" if s.kind == "prange" else None
        owned = [x for x in self.fn.locals if x.scope == scope] if scope else []
        shadowed = self.scalars.get(s.var)  # NOTE: a local may share its name with a loop variable before it
        for v in range(start, stop, int(s.step.value)):
            self.scalars[s.var] = v
            for x in owned:  # NOTE: a prange iteration starts its own locals at zero
                self.scalars[x.name] = _zero(x.type)
            self.block(s.body)
        if shadowed is not None:
            self.scalars[s.var] = shadowed

    # ---- expressions ---------------------------------------------------------

    def eval(self, e: ir.Expr) -> Any:
        value = self.eval_fns[type(e)](e)
        if self.check_types and isinstance(e.type, (IntType, BoolType)) and not e.type.lo <= value <= e.type.hi:
            raise IRError(f"{type(e).__name__} evaluated to {value}, outside its type {e.type.name}", e.loc)
        return value

    def const(self, e: ir.Const) -> Any:
        return _float(e.value, e.type) if isinstance(e.type, FloatType) else e.value

    def var(self, e: ir.Var) -> Any:
        return self.scalars[e.name]

    def dim(self, e: ir.Dim) -> int:
        return self.arrays[e.array].shape[e.axis]

    def index(self, arr: np.ndarray, indices: tuple[ir.Expr, ...]) -> tuple[int, ...]:
        idx = tuple(int(self.eval(i)) for i in indices)
        for k, n in zip(idx, arr.shape):
            if not 0 <= k < n:
                raise IndexError(f"index {idx} is out of bounds for shape {arr.shape}")
        return idx

    def load(self, e: ir.Load) -> Any:
        arr = self.arrays[e.array]
        value = arr[self.index(arr, e.indices)]
        return value if isinstance(e.type, FloatType) else int(value)

    def binop(self, e: ir.BinOp) -> Any:
        a, b = self.eval(e.lhs), self.eval(e.rhs)
        if isinstance(e.type, FloatType):
            if e.op == "/":
                if b == 0:
                    raise ZeroDivisionError("float division by zero")
                return a / b
            return _ARITH[e.op](a, b)
        a, b = int(a), int(b)
        if e.op in ("<<", ">>"):
            if not 0 <= b <= 63:
                raise ValueError("shift amount out of range 0..63")
            return a << b if e.op == "<<" else a >> b
        return _ARITH[e.op](a, b)

    def unary(self, e: ir.UnaryOp) -> Any:
        a = self.eval(e.operand)
        if e.op == "not":
            return int(not a)
        if isinstance(e.type, FloatType):
            return -a
        return -int(a) if e.op == "-" else ~int(a)

    def compare(self, e: ir.Compare) -> int:
        return int(_CMP[e.op](self.eval(e.lhs), self.eval(e.rhs)))

    def logical(self, e: ir.Logical) -> int:
        first = bool(self.eval(e.lhs))
        if first == (e.op == "or"):
            return int(first)
        return int(bool(self.eval(e.rhs)))

    def select(self, e: ir.Select) -> Any:
        return self.eval(e.then) if self.eval(e.cond) else self.eval(e.orelse)

    def cast(self, e: ir.Cast) -> Any:
        value = self.eval(e.operand)
        if isinstance(e.type, FloatType):
            return _float(value, e.type)
        return e.type.wrap(int(value))

    def intrinsic(self, e: ir.Intrinsic) -> Any:
        args = [self.eval(a) for a in e.args]
        if e.name in _FLOAT_FNS:
            return _FLOAT_FNS[e.name](args[0])
        if not isinstance(e.type, FloatType):
            args = [int(a) for a in args]
        fns: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs}
        return fns[e.name](*args)

    def call(self, e: ir.Call) -> Any:
        callee = self.callees.get(e.callee)
        if callee is None:
            raise IRError(f"no IR given for callee {e.callee}", e.loc)
        args: dict[str, Any] = {}
        for p, a in zip(callee.params, e.args):
            if isinstance(a, ir.StreamArg):
                raise IRError("the IR interpreter does not run dataflow regions (run them on a backend)", e.loc)
            args[p.name] = self.arrays[a.array] if isinstance(a, ir.ArrayArg) else self.eval(a)
        return _Frame(callee, args, self.callees, self.check_types).run()
