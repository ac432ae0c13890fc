"""Random kernels for the cross-backend equivalence tests.

`generate(seed, n)` writes `n` small kernels (`rk_<seed>_<i>`) as real source
to one module under `<cache>/random_kernels/`, imports it and returns the
kernels; the same seed always gives the same source. Each kernel mixes
expressions of every width and signedness, wrap-around stores, nested and
data-dependent loops, `unroll`/`pipeline`/`prange`, `while`, branches and
local arrays, within what the frontend accepts: the generator mirrors the
frontend's range typing and wraps an operand in `i64(...)` where an operation
needs its exact value, as a user would. A candidate the frontend still refuses
is regenerated, and the count is kept (`RandomKernel.attempts`) so that a test
can assert it stays rare.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import random
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from hls.cache import cache_dir
from hls.errors import KernelError
from hls.lang import Kernel
from hls.types import BoolType, Int, IntType, ScalarType, UInt, bool_, i8, i16, i32, i64, u8, u16, u32, u64

__all__ = ["RandomKernel", "generate", "generate_cases", "kernel_source"]

MAX_ATTEMPTS = 20  # candidates per kernel before the generator gives up (a generator bug)
_HEADER = (
    "from hls import Array, Int, UInt, i8, i16, i32, i64, kernel, pipeline, prange, u8, u16, u32, u64, unroll, zeros\n"
)
_ODD = [Int(w) for w in (1, 3, 5, 7, 12, 17, 24, 33, 40, 63)] + [UInt(w) for w in (1, 2, 5, 12, 20, 31, 33, 48, 63)]
_ELEM_TYPES = [i8, i16, i32, i64, u8, u16, u32, u64, bool_, "odd"]
_ELEM_WEIGHTS = [3, 2, 2, 1, 2, 1, 1, 0.5, 1, 4]
_BIG_LITERALS = [127, -128, 255, 1000, -1000, 32767, -32768, 65535, (1 << 31) - 1, -(1 << 31), (1 << 32) - 1]
_HUGE_LITERALS = [(1 << 63) - 1, -(1 << 63), 0x9E3779B97F4A7C15, (1 << 64) - 1]


@dataclass(frozen=True)
class RandomKernel:
    """A generated kernel with where it came from and what it exercises."""

    kernel: Kernel
    seed: int
    index: int
    features: frozenset[str]
    attempts: int  # candidates the frontend refused before this one

    @property
    def name(self) -> str:
        return self.kernel.__name__

    def describe(self) -> str:
        """The seed, the file and the kernel's source: what a failing test shows."""
        fn = self.kernel.fn
        return (
            f"random kernel {self.name} (RANDOM_KERNELS_SEED={self.seed}, index {self.index}), "
            f"{inspect.getsourcefile(fn)}:{fn.__code__.co_firstlineno}\n{inspect.getsource(fn)}"
        )


# ---- value ranges, mirroring the frontend's typing rules -----------------------------------------------------


def _int_type(lo: int, hi: int) -> IntType:
    """The narrowest integer type holding lo..hi (the frontend's rule)."""
    if lo >= 0:
        return IntType(max(1, hi.bit_length()), False)
    return IntType(max((-lo - 1).bit_length(), hi.bit_length() if hi > 0 else 0) + 1, True)


@dataclass(frozen=True)
class E:
    """A generated expression: its text and the range the frontend gives it (exact for a literal)."""

    text: str
    lo: int
    hi: int
    atom: bool = False  # safe as an operand without parentheses
    cast: ScalarType | None = None  # the type, when the expression is a cast call (it declares a local's type)

    @staticmethod
    def typed(text: str, lo: int, hi: int, atom: bool = False) -> E:
        t = _int_type(lo, hi)
        return E(text, t.lo, t.hi, atom)

    @property
    def par(self) -> str:
        return self.text if self.atom else f"({self.text})"

    @property
    def fits64(self) -> bool:
        return -(1 << 63) <= self.lo and self.hi < (1 << 63)


def _bitwise(op: str, a: E, b: E) -> tuple[int, int]:
    if op == "&" and a.lo >= 0 and b.lo >= 0:
        return 0, min(a.hi, b.hi)
    if op == "&" and (a.lo >= 0 or b.lo >= 0):
        return 0, a.hi if a.lo >= 0 else b.hi
    t = _int_type(min(a.lo, b.lo), max(a.hi, b.hi))
    return (t.lo, t.hi) if t.signed else (0, (1 << t.width) - 1)


def _binop(op: str, a: E, b: E) -> E:
    if op == "+":
        lo, hi = a.lo + b.lo, a.hi + b.hi
    elif op == "-":
        lo, hi = a.lo - b.hi, a.hi - b.lo
    elif op == "*":
        corners = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
        lo, hi = min(corners), max(corners)
    elif op in ("//", "%"):
        m = max(abs(b.lo), abs(b.hi))
        if op == "%":
            lo, hi = (0 if b.lo >= 0 else -(m - 1)), (0 if b.hi <= 0 else m - 1)
        elif b.lo > 0 or b.hi < 0:
            corners = [x // y for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
            lo, hi = min(corners), max(corners)
        else:
            lo, hi = -max(abs(a.lo), abs(a.hi)), max(abs(a.lo), abs(a.hi))
    elif op in ("<<", ">>"):
        slo, shi = max(b.lo, 0), min(b.hi, 63)
        f = (lambda x, s: x << s) if op == "<<" else (lambda x, s: x >> s)
        lo, hi = min(f(a.lo, slo), f(a.lo, shi)), max(f(a.hi, slo), f(a.hi, shi))
    else:
        lo, hi = _bitwise(op, a, b)
    return E.typed(f"{a.par} {op} {b.par}", lo, hi)


def _fits(e: E, t: ScalarType) -> bool:
    return t.lo <= e.lo and e.hi <= t.hi


# ---- scopes --------------------------------------------------------------------------------------------------


@dataclass
class _Arr:
    elem: ScalarType
    dims: tuple[int, ...]
    param: bool


@dataclass
class _Scope:
    """Names visible in one block; `barrier` marks a prange body (outer locals become read-only)."""

    parent: _Scope | None = None
    barrier: bool = False
    pipeline: bool = False  # inside a pipelined loop: straight-line code, ifs and unrolled loops only
    loops: int = 0  # enclosing loops
    mult: int = 1  # trips of the enclosing loops, multiplied
    prange_var: str | None = None
    prange_out: frozenset[str] = frozenset()  # arrays a prange body writes, only at [prange_var, ...]
    locals: dict[str, tuple[ScalarType, bool]] = field(default_factory=dict)  # name -> (type, assignable)
    ivars: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # type lo, hi; value lo, hi
    arrays: dict[str, _Arr] = field(default_factory=dict)

    def child(self, **changes: object) -> _Scope:
        inherited = dict(
            pipeline=self.pipeline,
            loops=self.loops,
            mult=self.mult,
            prange_var=self.prange_var,
            prange_out=self.prange_out,
        )
        return _Scope(parent=self, **{**inherited, **changes})

    def chain(self) -> list[_Scope]:
        out, s = [], self
        while s is not None:
            out.append(s)
            s = s.parent
        return out

    def readable_locals(self) -> dict[str, ScalarType]:
        return {n: t for s in reversed(self.chain()) for n, (t, _) in s.locals.items()}

    def assignable_locals(self) -> dict[str, ScalarType]:
        out: dict[str, ScalarType] = {}
        for s in self.chain():
            out.update({n: t for n, (t, ok) in s.locals.items() if ok and n not in out})
            if s.barrier:
                break
        return out

    def index_vars(self) -> dict[str, tuple[int, int, int, int]]:
        return {n: v for s in reversed(self.chain()) for n, v in s.ivars.items()}

    def visible_arrays(self) -> dict[str, tuple[_Arr, bool]]:
        """name -> (array, private): private arrays were declared inside the innermost prange body (or none)."""
        out: dict[str, tuple[_Arr, bool]] = {}
        inside = True
        for s in self.chain():
            for n, a in s.arrays.items():
                out.setdefault(n, (a, inside or self.prange_var is None))
            if s.barrier:
                inside = False
        return out


# ---- the generator -------------------------------------------------------------------------------------------


class _Generator:
    """Writes one kernel's source from a seeded `random.Random`."""

    def __init__(self, rng: random.Random, name: str) -> None:
        self.rng = rng
        self.name = name
        self.lines: list[str] = []
        self.features: set[str] = set()
        self.stmts_left = rng.randint(6, 22)
        self.trips_left = 200
        self.counter = 0
        self.has_prange = False
        self.nesting = 0  # array reads being generated inside an index (kept shallow, for readability)

    # -- helpers

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def scalar_type(self, allow_bool: bool = True) -> ScalarType:
        t = self.rng.choices(_ELEM_TYPES, _ELEM_WEIGHTS)[0]
        if t == "odd":
            t = self.rng.choice(_ODD)
        if t is bool_ and not allow_bool:
            t = i16
        self.note_type(t)
        return t

    def note_type(self, t: ScalarType) -> None:
        if isinstance(t, BoolType):
            self.features.add("bool")
        elif t.width not in (8, 16, 32, 64):
            self.features.add("odd_width")
        if isinstance(t, IntType) and not t.signed:
            self.features.add("unsigned")
        if t == u64:
            self.features.add("u64")

    # -- expressions

    def exact(self, e: E, nonzero: bool = False) -> E:
        """`e`, wrapped to fewer bits where it may not fit int64 (for operations that need the exact value)."""
        if e.fits64:
            return e
        self.features.add("exact_wrap")
        t = i64 if nonzero else self.rng.choice([i64, i64, i64, i32, Int(40), u32])
        return E(f"{t.name}({e.text})", t.lo, t.hi, atom=True, cast=t)

    def literal(self) -> E:
        r = self.rng.random()
        if r < 0.65:
            v = self.rng.randint(-9, 9)
        elif r < 0.88:
            v = self.rng.choice(_BIG_LITERALS)
        elif r < 0.97:
            v = self.rng.randint(-(1 << 40), 1 << 40)
        else:
            v = self.rng.choice(_HUGE_LITERALS)
        text = hex(abs(v)) if abs(v) >= 1 << 32 else str(abs(v))
        return E(f"-{text}" if v < 0 else text, v, v, atom=v >= 0)

    def leaf(self, sc: _Scope) -> E:
        names = {**self.scalars, **sc.readable_locals()}
        ivars = sc.index_vars()
        loads = 4 if self.nesting < 2 else 0
        options = ["lit"] + ["var"] * 3 * bool(names) + ["ivar"] * 2 * bool(ivars) + ["load"] * loads
        kind = self.rng.choice(options)
        if kind == "lit":
            return self.literal()
        if kind == "var":
            n = self.rng.choice(sorted(names))
            return E(n, names[n].lo, names[n].hi, atom=True)
        if kind == "ivar":
            n = self.rng.choice(sorted(ivars))
            return E(n, ivars[n][0], ivars[n][1], atom=True)
        return self.load(sc)

    def readable_arrays(self, sc: _Scope) -> list[str]:
        return sorted(sc.visible_arrays())

    def writable_arrays(self, sc: _Scope) -> list[str]:
        return sorted(n for n, (a, private) in sc.visible_arrays().items() if private or n in sc.prange_out)

    def indices(self, sc: _Scope, name: str) -> str:
        arr, private = sc.visible_arrays()[name]
        idx = [self.index(sc, d) for d in arr.dims]
        if not private and sc.prange_var is not None and name in sc.prange_out:
            idx[0] = sc.prange_var  # NOTE: each prange iteration touches only its own row
        return ", ".join(idx)

    def load(self, sc: _Scope) -> E:
        name = self.rng.choice(self.readable_arrays(sc))
        arr = sc.visible_arrays()[name][0]
        self.features.add("array_read")
        self.nesting += 1
        try:
            return E(f"{name}[{self.indices(sc, name)}]", arr.elem.lo, arr.elem.hi, atom=True)
        finally:
            self.nesting -= 1

    def index(self, sc: _Scope, n: int) -> str:
        fitting = sorted(v for v, (_, _, lo, hi) in sc.index_vars().items() if 0 <= lo and hi < n)
        r = self.rng.random()
        if fitting and r < 0.5:
            return self.rng.choice(fitting)
        if r < 0.7 or n == 1:
            return str(self.rng.randrange(n))
        self.features.add("mod_index")
        e = self.exact(self.expr(sc, 1 if self.nesting < 2 else 0))
        return f"{e.par} % {n}"

    def expr(self, sc: _Scope, depth: int) -> E:
        if depth <= 0 or self.chance(0.2):
            return self.leaf(sc)
        kinds = ["arith", "bits", "shift", "divmod", "unary", "cast", "minmax", "abs", "select", "cmp"]
        kind = self.rng.choices(kinds, [6, 3, 2, 1.5, 1, 1.2, 1, 0.5, 0.8, 0.4])[0]
        d = depth - 1
        if kind == "arith":
            return _binop(self.rng.choice("+-*"), self.expr(sc, d), self.expr(sc, d))
        if kind == "bits":
            return _binop(self.rng.choice("&|^"), self.expr(sc, d), self.expr(sc, d))
        if kind == "shift":
            return self.shift(sc, d)
        if kind == "divmod":
            return self.divmod(sc, d)
        if kind == "unary":
            e = self.expr(sc, d)
            if self.chance(0.5):
                return E.typed(f"-{e.par}", -e.hi, -e.lo)
            return E.typed(f"~{e.par}", -e.hi - 1, -e.lo - 1)
        if kind == "cast":
            self.features.add("cast")
            t = self.scalar_type()
            e = self.expr(sc, d)
            if isinstance(t, BoolType):
                e = self.exact(e)
            return E(f"{t.name}({e.text})", t.lo, t.hi, atom=True, cast=t)
        if kind == "minmax":
            fn = self.rng.choice(["min", "max"])
            self.features.add("minmax")
            args = [self.exact(self.expr(sc, d)) for _ in range(self.rng.choice([2, 2, 3]))]
            pick = min if fn == "min" else max
            return E.typed(
                f"{fn}({', '.join(a.text for a in args)})",
                pick(a.lo for a in args),
                pick(a.hi for a in args),
                atom=True,
            )
        if kind == "abs":
            self.features.add("abs")
            e = self.exact(self.expr(sc, d))
            lo = 0 if e.lo <= 0 <= e.hi else min(abs(e.lo), abs(e.hi))
            return E.typed(f"abs({e.text})", lo, max(abs(e.lo), abs(e.hi)), atom=True)
        if kind == "select":
            self.features.add("select")
            c, a, b = self.cond(sc, d), self.expr(sc, d), self.expr(sc, d)
            return E.typed(f"({a.text} if {c.text} else {b.text})", min(a.lo, b.lo), max(a.hi, b.hi), atom=True)
        c = self.compare(sc, d)
        return E(f"({c.text})", 0, 1, atom=True)

    def shift(self, sc: _Scope, d: int) -> E:
        self.features.add("shift")
        op = self.rng.choice(["<<", ">>"])
        a = self.expr(sc, d)
        if op == ">>":
            a = self.exact(a)
        if self.chance(0.6):
            amount = self.rng.choice([0, 1, 2, 3, 4, 7, 8]) if op == "<<" else self.rng.randint(0, 63)
            b = E(str(amount), amount, amount, atom=True)
        else:
            self.features.add("shift_var")
            mask = self.rng.choice([3, 7, 15, 63]) if op == ">>" else self.rng.choice([3, 7])
            e = self.exact(self.expr(sc, d))
            b = E.typed(f"{e.par} & {mask}", 0, mask)
        return _binop(op, a, b)

    def divmod(self, sc: _Scope, d: int) -> E:
        self.features.add("divmod")
        op = self.rng.choice(["//", "%"])
        a = self.exact(self.expr(sc, d))
        if self.chance(0.7):
            v = self.rng.choice([-9, -7, -4, -3, -2, -1, 1, 2, 3, 4, 5, 7, 8, 16, 100])
            if v < 0:
                self.features.add("neg_divisor")
            b = E(str(v), v, v, atom=v > 0)
        else:
            # NOTE: an odd value is never zero, also after a wrap to fewer bits.
            self.features.add("var_divisor")
            e = self.expr(sc, d)
            b = self.exact(_binop("|", e, E("1", 1, 1, atom=True)), nonzero=True)
        return _binop(op, a, b)

    def compare(self, sc: _Scope, depth: int) -> E:
        a = self.exact(self.expr(sc, depth))
        b = self.exact(self.expr(sc, max(depth - 1, 0)) if self.chance(0.7) else self.literal())
        if self.chance(0.12):
            self.features.add("chained_compare")
            c = self.exact(self.expr(sc, 0))
            return E(f"{a.par} <= {b.par} < {c.par}", 0, 1)
        op = self.rng.choice(["<", "<=", ">", ">=", "==", "!="])
        return E(f"{a.par} {op} {b.par}", 0, 1)

    def cond(self, sc: _Scope, depth: int) -> E:
        r = self.rng.random()
        if r < 0.55 or depth <= 0:
            return self.compare(sc, max(depth, 1))
        if r < 0.8:
            self.features.add("logical")
            op = self.rng.choice(["and", "or"])
            a, b = self.cond(sc, depth - 1), self.cond(sc, depth - 1)
            return E(f"({a.text}) {op} ({b.text})", 0, 1)
        if r < 0.9:
            self.features.add("logical")
            return E(f"not ({self.cond(sc, depth - 1).text})", 0, 1)
        self.features.add("truth")
        return self.exact(self.expr(sc, depth - 1))

    # -- statements

    def block(self, sc: _Scope, depth: int, most: int) -> None:
        count = self.rng.randint(1, max(1, most))
        for k in range(count):
            if k and self.stmts_left <= 0:
                break
            self.stmt(sc, depth)

    def stmt(self, sc: _Scope, depth: int) -> None:
        self.stmts_left -= 1
        kinds = {
            "declare": 3,
            "assign": 2 * bool(sc.assignable_locals()),
            "store": 3 * bool(self.writable_arrays(sc)),
            "if": 1.5 * (depth < 4),
        }
        if depth < 4 and self.stmts_left > 2:
            kinds["unroll"] = 0.8
            if not sc.pipeline:
                kinds.update({"for": 1.5, "dyn_for": 1, "pipeline": 0.8, "while": 0.8})
            if depth == 1 and not self.has_prange:
                kinds["prange"] = 0.7  # NOTE: parallel kernels take Numba 2-3 times longer to compile
        if (depth == 1 or (sc.barrier and sc.loops)) and not sc.pipeline:
            kinds["zeros"] = 0.5
        kind = self.rng.choices(list(kinds), list(kinds.values()))[0]
        getattr(self, f"s_{kind}")(sc, depth)

    def s_declare(self, sc: _Scope, depth: int) -> None:
        name = self.fresh("x")
        e = self.expr(sc, self.rng.randint(1, 3))
        style = self.rng.choice(["typed", "cast", "plain"])
        if style == "plain":
            t = e.cast or i64
            self.emit(depth, f"{name} = {e.text}")
            self.features.add("untyped_local")
        else:
            t = self.scalar_type()
            if isinstance(t, BoolType):
                e = self.exact(e)
            self.features.add("typed_local")
            self.emit(depth, f"{name}: {t.name} = {e.text}" if style == "typed" else f"{name} = {t.name}({e.text})")
        sc.locals[name] = (t, True)

    def s_assign(self, sc: _Scope, depth: int) -> None:
        names = sc.assignable_locals()
        name = self.rng.choice(sorted(names))
        t = names[name]
        target = E(name, t.lo, t.hi, atom=True)
        self.assign(sc, depth, name, target, t)

    def assign(self, sc: _Scope, depth: int, text: str, target: E, t: ScalarType) -> None:
        """`text = expr` or `text op= expr` for a local or an array element of type `t`."""
        if self.chance(0.35):
            self.features.add("compound")
            ops = ["+", "-", "*", "&", "|", "^", "<<"] + [">>", "//", "%"] * target.fits64
            op = self.rng.choice(ops)
            d = self.rng.randint(0, 2)
            if op == "<<":
                k = self.rng.randint(0, 4)
                v = E(str(k), k, k, atom=True)
            elif op == ">>":
                amount = self.rng.randint(0, 9)
                v = E(str(amount), amount, amount, atom=True)
            elif op in ("//", "%"):
                k = self.rng.choice([-5, -3, -2, 2, 3, 7, 10])
                v = E(str(k), k, k, atom=k > 0)
            else:
                v = self.expr(sc, d)
            value = _binop(op, target, v)
            if isinstance(t, BoolType) and not value.fits64:
                op, v = "+", E("1", 1, 1, atom=True)  # a bool store needs the exact value
                value = _binop(op, target, v)
            self.emit(depth, f"{text} {op}= {v.text}")
        else:
            value = self.expr(sc, self.rng.randint(1, 3))
            if isinstance(t, BoolType):
                value = self.exact(value)
            self.emit(depth, f"{text} = {value.text}")
        if not _fits(value, t):
            self.features.add("wrap_store" if text.endswith("]") else "wrap_local")

    def s_store(self, sc: _Scope, depth: int) -> None:
        name = self.rng.choice(self.writable_arrays(sc))
        arr = sc.visible_arrays()[name][0]
        text = f"{name}[{self.indices(sc, name)}]"
        self.features.add("array_write")
        self.assign(sc, depth, text, E(text, arr.elem.lo, arr.elem.hi, atom=True), arr.elem)

    def s_if(self, sc: _Scope, depth: int) -> None:
        self.features.add("if")
        self.emit(depth, f"if {self.cond(sc, 2).text}:")
        self.block(sc.child(), depth + 1, 3)
        while self.chance(0.3) and self.stmts_left > 0:
            self.features.add("elif")
            self.emit(depth, f"elif {self.cond(sc, 2).text}:")
            self.block(sc.child(), depth + 1, 2)
        if self.chance(0.45) and self.stmts_left > 0:
            self.features.add("else")
            self.emit(depth, "else:")
            self.block(sc.child(), depth + 1, 2)

    def trips(self, sc: _Scope, most: int) -> int:
        """The largest trip count a new loop may have within the kernel's budget (0: none)."""
        return max(0, min(most, 48 // sc.mult, self.trips_left // sc.mult))

    def loop_body(
        self,
        sc: _Scope,
        depth: int,
        var: str,
        trips: int,
        values: tuple[int, int],
        typed: tuple[int, int],
        **changes: object,
    ) -> None:
        self.trips_left -= trips * sc.mult
        body = sc.child(loops=sc.loops + 1, mult=sc.mult * max(trips, 1), **changes)
        t = _int_type(*typed)  # the loop variable's type: the frontend's, from the range's bounds
        body.ivars[var] = (t.lo, t.hi, *values)
        if sc.loops:
            self.features.add("nested_loop")
        self.block(body, depth + 1, 4)

    def const_loop(self, sc: _Scope, depth: int, header: str, most: int, **changes: object) -> None:
        """A loop over a constant range: range(C), range(a, b) or range(a, b, step)."""
        top = self.trips(sc, most)
        if top < 1:
            return self.s_declare(sc, depth)
        var = self.fresh("i")
        r = self.rng.random()
        if r < 0.6 or header != "range":
            values = range(self.rng.randint(1, top))
            text = f"range({values.stop})"
        else:
            step = self.rng.choice([1, 2, 3, -1, -2]) if r < 0.9 else 1
            start = self.rng.randint(-3, 5)
            stop = start + step * self.rng.randint(0 if r > 0.95 else 1, top)
            values = range(start, stop, step)
            text = f"range({start}, {stop}{f', {step}' if step != 1 else ''})"
            self.features.add("step_range" if step != 1 else "range_start")
        if header == "unroll":
            factor = self.rng.choice([None, None, 2, 3])
            self.features.add("unroll_factor" if factor else "unroll")
            text = f"unroll({text}{f', factor={factor}' if factor else ''})"
        elif header == "pipeline":
            self.features.add("pipeline")
            text = f"pipeline({text}, ii={self.rng.choice([1, 1, 2])})"
        self.emit(depth, f"for {var} in {text}:")
        lo, hi = (min(values), max(values)) if len(values) else (0, -1)
        start, stop = values.start, values.stop
        self.loop_body(sc, depth, var, len(values), (lo, hi), (min(start, stop), max(start, stop)), **changes)

    def s_for(self, sc: _Scope, depth: int) -> None:
        self.const_loop(sc, depth, "range", 8)

    def s_unroll(self, sc: _Scope, depth: int) -> None:
        self.const_loop(sc, depth, "unroll", 4)

    def s_pipeline(self, sc: _Scope, depth: int) -> None:
        self.const_loop(sc, depth, "pipeline", 8, pipeline=True)

    def s_dyn_for(self, sc: _Scope, depth: int) -> None:
        """A loop whose trip count depends on the data: a scalar, an element or an outer loop variable."""
        top = self.trips(sc, 6)
        if top < 2:
            return self.s_declare(sc, depth)
        c = self.rng.randint(2, top)
        var = self.fresh("j")
        self.features.add("data_dep_loop")
        outer = sorted(v for v, (_, _, lo, hi) in sc.index_vars().items() if 0 <= lo and hi <= c)
        ints = sorted(n for n, t in self.scalars.items() if isinstance(t, IntType) and t.fits_i64())
        r = self.rng.random()
        if outer and r < 0.3:
            v = self.rng.choice(outer)
            lo_t, hi_t = sc.index_vars()[v][:2]
            if self.chance(0.5):
                self.emit(depth, f"for {var} in range({v}):")
                typed = (min(0, lo_t), max(0, hi_t))
            else:
                self.emit(depth, f"for {var} in range({v}, {c}):")
                typed = (min(lo_t, c), max(hi_t, c))
            return self.loop_body(sc, depth, var, c, (0, c - 1), typed)
        if ints and r < 0.7:
            name = self.rng.choice(ints)
            bound = E(name, self.scalars[name].lo, self.scalars[name].hi, atom=True)
        else:
            bound = self.exact(self.load(sc))
        form = self.rng.choice(["min", "mod", "and"])
        if form == "min":
            stop = E.typed(f"min({bound.text}, {c})", min(bound.lo, c), min(bound.hi, c), atom=True)
        elif form == "mod":
            stop = _binop("%", bound, E(str(c), c, c, atom=True))
        else:
            c = 1 << (c.bit_length() - 1)
            stop = _binop("&", bound, E(str(c - 1), c - 1, c - 1, atom=True))
        self.emit(depth, f"for {var} in range({stop.text}):")
        self.loop_body(sc, depth, var, c, (0, c - 1), (min(0, stop.lo), max(0, stop.hi)))

    def s_while(self, sc: _Scope, depth: int) -> None:
        top = self.trips(sc, 8)
        if top < 2:
            return self.s_declare(sc, depth)
        self.features.add("while")
        w = self.fresh("w")
        if self.chance(0.3):  # shift a narrow unsigned value out
            t = self.rng.choice([u8, UInt(5), UInt(3)])
            if t.width > top:
                t = UInt(min(top, 3))
            self.emit(depth, f"{w} = {t.name}({self.exact(self.expr(sc, 1)).text})")
            sc.locals[w] = (t, False)
            self.emit(depth, f"while {w} != 0:")
            self.trips_left -= t.width * sc.mult
            body = sc.child(loops=sc.loops + 1, mult=sc.mult * t.width)
            self.block(body, depth + 1, 3)
            self.emit(depth + 1, f"{w} >>= 1" if self.chance(0.6) else f"{w} = {w} // 2")
            return
        c = self.rng.randint(2, top)
        self.emit(depth, f"{w} = 0")
        sc.locals[w] = (i64, False)
        extra = (
            f" and ({self.cond(sc.child(ivars={w: (i64.lo, i64.hi, 0, c - 1)}), 1).text})" if self.chance(0.4) else ""
        )
        self.emit(depth, f"while {w} < {c}{extra}:")
        self.trips_left -= c * sc.mult
        body = sc.child(loops=sc.loops + 1, mult=sc.mult * c)
        body.ivars[w] = (i64.lo, i64.hi, 0, c - 1)
        self.block(body, depth + 1, 3)
        self.emit(depth + 1, f"{w} += 1")

    def s_prange(self, sc: _Scope, depth: int) -> None:
        rows = sorted(n for n, a in self.params.items() if a.dims[0] >= 2)
        top = self.trips(sc, 6)
        if not rows or top < 2:
            return self.s_declare(sc, depth)
        self.has_prange = True
        self.features.add("prange")
        out = self.rng.sample(rows, self.rng.randint(1, min(2, len(rows))))
        n = min(self.params[a].dims[0] for a in out)
        start = self.rng.choice([0, 0, 0, 1])
        stop = min(n, start + top)
        var = self.fresh("p")
        self.emit(depth, f"for {var} in prange({stop}):" if start == 0 else f"for {var} in prange({start}, {stop}):")
        self.trips_left -= stop - start
        body = sc.child(barrier=True, loops=1, mult=stop - start, prange_var=var, prange_out=frozenset(out))
        t = _int_type(min(start, stop), max(start, stop))
        body.ivars[var] = (t.lo, t.hi, start, stop - 1)
        self.block(body, depth + 1, 4)
        self.s_store_to(body, depth + 1, self.rng.choice(sorted(out)))

    def s_store_to(self, sc: _Scope, depth: int, name: str) -> None:
        arr = sc.visible_arrays()[name][0]
        text = f"{name}[{self.indices(sc, name)}]"
        self.assign(sc, depth, text, E(text, arr.elem.lo, arr.elem.hi, atom=True), arr.elem)

    def s_zeros(self, sc: _Scope, depth: int) -> None:
        self.features.add("local_array")
        name = self.fresh("buf")
        t = self.scalar_type()
        dims = tuple(self.rng.randint(1, 5) for _ in range(self.rng.choice([1, 1, 2])))
        self.emit(depth, f"{name} = zeros({t.name}, {', '.join(map(str, dims))})")
        sc.arrays[name] = _Arr(t, dims, param=False)
        for _ in range(self.rng.randint(1, 2)):
            self.s_store_to(sc, depth, name)

    # -- the kernel

    def kernel(self) -> str:
        self.params: dict[str, _Arr] = {}
        self.scalars: dict[str, ScalarType] = {}
        sig = []
        for k in range(self.rng.choice([1, 2, 2, 3])):
            name = "abc"[k]
            t = self.scalar_type()
            dims = tuple(self.rng.randint(1, 6) for _ in range(self.rng.choice([1, 2])))
            self.params[name] = _Arr(t, dims, param=True)
            sig.append(f"{name}: Array[{t.name}, {', '.join(map(str, dims))}]")
        for name in ("n", "m")[: self.rng.choice([0, 1, 1, 2])]:
            t = self.scalar_type()
            self.scalars[name] = t
            sig.append(f"{name}: {t.name}")
            self.features.add("scalar_param")
        ret = self.scalar_type() if self.chance(0.3) else None
        self.emit(0, "@kernel")
        self.emit(0, f"def {self.name}({', '.join(sig)}){f' -> {ret.name}' if ret else ''}:")
        top = _Scope()
        top.arrays.update(self.params)
        while self.stmts_left > 0:
            self.stmt(top, 1)
        # Make some top-level locals observable: store them, or return them.
        for name in self.rng.sample(sorted(top.locals), min(2, len(top.locals))):
            arr = self.rng.choice(sorted(self.params))
            t = top.locals[name][0]
            value = E(name, t.lo, t.hi, atom=True)
            if isinstance(self.params[arr].elem, BoolType):
                value = self.exact(value)
            index = ", ".join(str(self.rng.randrange(d)) for d in self.params[arr].dims)
            self.emit(1, f"{arr}[{index}] = {value.text}")
        if ret is not None:
            self.features.add("return")
            e = self.expr(top, 2)
            self.emit(1, f"return {(self.exact(e) if isinstance(ret, BoolType) else e).text}")
        return "\n".join(self.lines) + "\n"


def kernel_source(seed: int, index: int, attempt: int = 0) -> tuple[str, frozenset[str]]:
    """The source of kernel `rk_<seed>_<index>` (its `attempt`-th candidate) and the features it uses."""
    gen = _Generator(random.Random(f"{seed}/{index}/{attempt}"), f"rk_{seed}_{index}")
    text = gen.kernel()
    return text, frozenset(gen.features)


# ---- modules on disk -----------------------------------------------------------------------------------------


def _generator_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _import(path: Path, name: str) -> object:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # NOTE: atomic, so parallel test workers never import half a file


def _module_text(seed: int, sources: dict[int, str], meta: dict[str, object]) -> str:
    head = f'"""Random kernels of seed {seed}, generated by tests/random_kernels.py (do not edit)."""\n\n{_HEADER}'
    body = "\n\n".join(sources[i] for i in sorted(sources))
    return f"{head}\nMETA = {json.dumps(meta, sort_keys=True)}\n\n\n{body}"


def _refused(module: object, names: list[str]) -> set[str]:
    bad = set()
    for name in names:
        try:
            getattr(module, name).ir  # noqa: B018 - parse now: the frontend refuses or accepts
        except KernelError:
            bad.add(name)
    return bad


@cache
def generate_cases(seed: int, n: int) -> tuple[RandomKernel, ...]:
    """`n` random kernels for `seed`, each with its features and refused attempts (cached on disk)."""
    folder = cache_dir() / "random_kernels"
    tag = f"rk_{seed}_{n}_{_generator_hash()}".replace("-", "m")
    final = folder / f"{tag}.py"
    if not final.exists():
        attempts = dict.fromkeys(range(n), 0)
        pending = set(range(n))
        sources: dict[int, str] = {}
        features: dict[int, list[str]] = {}
        for round_ in range(MAX_ATTEMPTS + 1):
            if not pending:
                break
            for i in pending:
                sources[i], feats = kernel_source(seed, i, attempts[i])
                features[i] = sorted(feats)
            trial = folder / f"{tag}_trial{round_}_{os.getpid()}.py"
            _write(trial, _module_text(seed, sources, {}))
            sys.dont_write_bytecode, keep = True, sys.dont_write_bytecode  # NOTE: no .pyc for a file about to go
            try:
                module = _import(trial, trial.stem)
            finally:
                sys.dont_write_bytecode = keep
            bad = _refused(module, [f"rk_{seed}_{i}" for i in sorted(pending)])
            sys.modules.pop(trial.stem, None)
            trial.unlink()
            pending = {i for i in pending if f"rk_{seed}_{i}" in bad}
            for i in pending:
                attempts[i] += 1
                if attempts[i] >= MAX_ATTEMPTS:
                    raise RuntimeError(
                        f"random kernel rk_{seed}_{i}: the frontend refused {MAX_ATTEMPTS} "
                        f"candidates; the generator's range tracking is out of date"
                    )
        meta = {"attempts": attempts, "features": features}
        _write(final, _module_text(seed, sources, meta))
    module = _import(final, tag)
    meta = module.META
    return tuple(
        RandomKernel(
            getattr(module, f"rk_{seed}_{i}"), seed, i, frozenset(meta["features"][str(i)]), meta["attempts"][str(i)]
        )
        for i in range(n)
    )


def generate(seed: int, n: int) -> list[Kernel]:
    """`n` random kernels `rk_<seed>_<i>`, the same for the same seed."""
    return [c.kernel for c in generate_cases(seed, n)]
