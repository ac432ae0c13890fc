"""The IR verifier: structural and typing invariants, checked between passes.

`verify(fn, stage)` checks what holds for every function, plus the promises
of each stage reached so far: STAGES lists them in pipeline order, and a stage
implies the earlier ones ("unrolled" also checks "inlined" and "bound").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hls.ir import nodes as ir
from hls.ir.walk import expr_children, statements
from hls.types import ArrayType, BoolType, FloatType, IntType, ScalarType, StreamType

__all__ = ["IRError", "STAGES", "verify"]

# inlined: no calls. bound: int dims on array parameters, no shape reads of them, no floats.
# unrolled: no unroll loops, constant local array sizes, no shape reads. ifconverted: no `if` in a pipelined
# loop unless it holds a loop, a local array or a call.
STAGES = ("inlined", "bound", "unrolled", "ifconverted")
_KINDS = ("range", "prange", "unroll", "pipeline")


class IRError(AssertionError):
    """The IR breaks an invariant: a compiler bug, reported with the offending node's location."""

    def __init__(self, message: str, loc: ir.Loc | None) -> None:
        self.loc = loc
        super().__init__(f"{loc}: {message}" if loc else message)


def verify(fn: ir.Function, stage: str | None = None) -> None:
    """Raise IRError unless `fn` is well formed and meets `stage` (one of STAGES, or None for none)."""
    if stage is not None and stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    reached = STAGES[: STAGES.index(stage) + 1] if stage else ()
    _Verifier(fn, reached).run()


@dataclass
class _Verifier:
    fn: ir.Function
    stages: tuple[str, ...]
    scalars: dict[str, ScalarType] = field(default_factory=dict)  # params and locals
    arrays: dict[str, ArrayType] = field(default_factory=dict)
    tables: set[str] = field(default_factory=set)

    def fail(self, message: str, loc: ir.Loc | None) -> None:
        raise IRError(f"{self.fn.name}: {message}", loc)

    def run(self) -> None:
        f = self.fn
        for p in f.params:
            self.declare(p.name, p.loc)
            if isinstance(p.type, ArrayType):
                self.storage_type(p.type.elem, p.loc, f"parameter {p.name}")
                self.arrays[p.name] = p.type
                if "bound" in self.stages and not all(isinstance(d, int) for d in p.type.dims):
                    self.fail(f"array parameter {p.name} has unbound dims {p.type.dims}", p.loc)
            elif isinstance(p.type, StreamType):
                self.storage_type(p.type.elem, p.loc, f"stream {p.name}")
            else:
                self.storage_type(p.type, p.loc, f"parameter {p.name}")
                self.scalars[p.name] = p.type
        for x in f.locals:
            self.declare(x.name, x.loc)
            self.storage_type(x.type, x.loc, f"local {x.name}")
            self.scalars[x.name] = x.type
        for t in f.tables:
            self.declare(t.name, f.loc)
            self.storage_type(t.elem, f.loc, f"table {t.name}")
            self.arrays[t.name] = ArrayType(t.elem, t.shape)
            self.tables.add(t.name)
        for s in statements(f.body):
            if isinstance(s, ir.Alloc):
                self.alloc(s)
        if "inlined" in self.stages and f.callees:
            self.fail(f"callees {f.callees} remain after inlining", f.loc)
        if f.ret is not None:
            self.storage_type(f.ret, f.loc, "the return type")
            if not f.body or not isinstance(f.body[-1], ir.Return):
                self.fail("a function with a return type must end with `return`", f.loc)
        self.block(f.body, frozenset(), in_pipeline=False, top=True)

    def declare(self, name: str, loc: ir.Loc) -> None:
        if name in self.scalars or name in self.arrays:
            self.fail(f"`{name}` is declared twice", loc)

    def storage_type(self, t: ScalarType, loc: ir.Loc, what: str) -> None:
        if isinstance(t, IntType):
            if not 1 <= t.width <= 64:
                self.fail(f"{what} has width {t.width}, outside 1..64", loc)
        elif not isinstance(t, (BoolType, FloatType)):
            self.fail(f"{what} has no scalar type: {t!r}", loc)
        if "bound" in self.stages and isinstance(t, FloatType):
            self.fail(f"{what} is a float after binding", loc)

    def alloc(self, s: ir.Alloc) -> None:
        self.storage_type(s.type.elem, s.loc, f"local array {s.name}")
        if len(s.dims) != s.type.rank:
            self.fail(f"local array {s.name} has {len(s.dims)} sizes for rank {s.type.rank}", s.loc)
        if "unrolled" in self.stages:
            sizes = tuple(d.value for d in s.dims if isinstance(d, ir.Const))
            if len(sizes) != len(s.dims) or sizes != s.type.dims:
                self.fail(f"local array {s.name} has non-constant sizes after unrolling", s.loc)
        old = self.arrays.get(s.name)
        if s.name in self.scalars or (old is not None and (s.name in self.tables or old.elem != s.type.elem)):
            self.fail(f"local array {s.name} clashes with another declaration", s.loc)
        self.arrays[s.name] = s.type

    # ---- statements ----------------------------------------------------------

    def block(self, stmts: tuple[ir.Stmt, ...], loops: frozenset[str], in_pipeline: bool, top: bool = False) -> None:
        for k, s in enumerate(stmts):
            if isinstance(s, ir.Return) and not (top and k == len(stmts) - 1 and self.fn.ret is not None):
                self.fail("`return` is only allowed as the last statement of a function with a return type", s.loc)
            self.stmt(s, loops, in_pipeline)

    def stmt(self, s: ir.Stmt, loops: frozenset[str], in_pipeline: bool) -> None:
        if isinstance(s, ir.Assign):
            if s.name not in self.scalars or s.name in {p.name for p in self.fn.params}:
                self.fail(f"assignment to `{s.name}`, which is not a local", s.loc)
            self.expr(s.value, loops)
        elif isinstance(s, ir.Store):
            if s.array in self.tables:
                self.fail(f"store to table {s.array}", s.loc)
            self.access(s.array, s.indices, s.loc, loops)
            self.expr(s.value, loops)
            if s.pred is not None:
                self.expr(s.pred, loops)
                if not isinstance(s.pred.type, BoolType):
                    self.fail(f"store predicate has type {s.pred.type!r}, not bool", s.loc)
        elif isinstance(s, ir.For):
            self.for_loop(s, loops, in_pipeline)
        elif isinstance(s, ir.While):
            self.expr(s.cond, loops)
            self.block(s.body, loops, in_pipeline)
        elif isinstance(s, ir.If):
            if "ifconverted" in self.stages and in_pipeline and not _keeps_if(s):
                self.fail("an if without loops remains in a pipelined loop after if-conversion", s.loc)
            self.expr(s.cond, loops)
            self.block(s.then, loops, in_pipeline)
            self.block(s.orelse, loops, in_pipeline)
        elif isinstance(s, ir.CallStmt):
            self.expr(s.call, loops)
        elif isinstance(s, ir.Return):
            self.expr(s.value, loops)
        elif isinstance(s, ir.Alloc):
            for d in s.dims:
                self.expr(d, loops)
        elif isinstance(s, ir.Read | ir.Write):
            streams = {p.name for p in self.fn.params if isinstance(p.type, StreamType)}
            if s.stream not in streams:
                self.fail(f"stream op on `{s.stream}`, which is not a stream parameter", s.loc)
            if isinstance(s, ir.Read) and s.name not in self.scalars:
                self.fail(f"stream read into `{s.name}`, which is not a local", s.loc)
            if isinstance(s, ir.Write):
                self.expr(s.value, loops)
            if s.pred is not None:
                self.expr(s.pred, loops)
        elif isinstance(s, ir.StreamDecl):
            self.expr(s.depth, loops)
        else:
            self.fail(f"unknown statement {s!r}", None)

    def for_loop(self, s: ir.For, loops: frozenset[str], in_pipeline: bool) -> None:
        if s.kind not in _KINDS:
            self.fail(f"unknown loop kind {s.kind!r}", s.loc)
        if "unrolled" in self.stages and s.kind == "unroll":
            self.fail("an unroll loop remains after unrolling", s.loc)
        if not isinstance(s.step, ir.Const) or not isinstance(s.step.value, int) or s.step.value == 0:
            self.fail("the loop step must be a non-zero integer constant", s.loc)
        # NOTE: the frontend lets a loop variable reuse the name of a local declared after its loop;
        # inlining renames such loop variables, so from then on every name means one variable.
        clash = s.var in loops or s.var in self.arrays or s.var in {p.name for p in self.fn.params}
        if clash or ("inlined" in self.stages and s.var in self.scalars):
            self.fail(f"loop variable `{s.var}` shadows another name", s.loc)
        for e in (s.start, s.stop, s.step):
            self.expr(e, loops)
            if not isinstance(e.type, (IntType, BoolType)):
                self.fail("loop bounds must be integers", s.loc)
        self.block(s.body, loops | {s.var}, in_pipeline or s.kind == "pipeline")

    # ---- expressions ---------------------------------------------------------

    def access(self, array: str, indices: tuple[ir.Expr, ...], loc: ir.Loc, loops: frozenset[str]) -> None:
        if array not in self.arrays:
            self.fail(f"`{array}` is not an array", loc)
        if len(indices) != self.arrays[array].rank:
            self.fail(f"`{array}` has rank {self.arrays[array].rank}, indexed with {len(indices)}", loc)
        for i in indices:
            if not isinstance(i.type, (IntType, BoolType)):
                self.fail(f"index of `{array}` is not an integer", i.loc)

    def expr(self, e: ir.Expr, loops: frozenset[str]) -> None:
        self.value_type(e)
        if isinstance(e, ir.Const):
            self.const(e)
        elif isinstance(e, ir.Var):
            self.var(e, loops)
        elif isinstance(e, ir.Dim):
            if e.array not in self.arrays or not 0 <= e.axis < self.arrays[e.array].rank:
                self.fail(f"`{e.array}.shape[{e.axis}]` names no array dim", e.loc)
            if "bound" in self.stages and e.array in {p.name for p in self.fn.params}:
                self.fail(f"`{e.array}.shape[{e.axis}]` remains after binding", e.loc)
            if "unrolled" in self.stages:
                self.fail(f"`{e.array}.shape[{e.axis}]` remains after unrolling", e.loc)
        elif isinstance(e, ir.Load):
            self.access(e.array, e.indices, e.loc, loops)
            if e.type != self.arrays[e.array].elem:
                self.fail(f"load of `{e.array}` typed {e.type.name}, not {self.arrays[e.array].elem.name}", e.loc)
        elif isinstance(e, ir.Call):
            if "inlined" in self.stages:
                self.fail(f"call to {e.callee} remains after inlining", e.loc)
            if e.callee not in self.fn.callees:
                self.fail(f"call to {e.callee}, which is not among the callees", e.loc)
            for a in e.args:
                if isinstance(a, ir.ArrayArg) and a.array not in self.arrays:
                    self.fail(f"array argument `{a.array}` is not an array", a.loc)
        elif isinstance(e, (ir.Compare, ir.Logical)) or (isinstance(e, ir.UnaryOp) and e.op == "not"):
            if not isinstance(e.type, BoolType):
                self.fail(f"{type(e).__name__} must be typed bool, not {e.type.name}", e.loc)
        elif "bound" in self.stages and isinstance(e.type, FloatType):
            self.fail("a float expression after binding", e.loc)
        for k in expr_children(e):
            self.expr(k, loops)

    def value_type(self, e: ir.Expr) -> None:
        t = e.type
        if isinstance(e, ir.Call) and t is None:
            return
        if isinstance(t, IntType):
            if t.width < 1:
                self.fail(f"expression typed with width {t.width}", e.loc)
        elif not isinstance(t, (BoolType, FloatType)):
            self.fail(f"expression without a scalar type: {t!r}", e.loc)

    def const(self, e: ir.Const) -> None:
        t = e.type
        if isinstance(t, FloatType):
            if "bound" in self.stages:
                self.fail("a float constant after binding", e.loc)
            return
        if not isinstance(e.value, int) or isinstance(e.value, bool) or not t.lo <= e.value <= t.hi:
            self.fail(f"constant {e.value!r} does not fit its type {t.name}", e.loc)

    def var(self, e: ir.Var, loops: frozenset[str]) -> None:
        if e.name in loops:
            return
        if e.name not in self.scalars:
            self.fail(f"`{e.name}` is not a parameter, local or loop variable in scope", e.loc)
        if e.type != self.scalars[e.name]:
            self.fail(f"`{e.name}` is typed {e.type.name} but declared {self.scalars[e.name].name}", e.loc)


def _keeps_if(s: ir.If) -> bool:
    """True for an `if` that if-conversion leaves: it holds a loop, a local array or a call."""
    return any(isinstance(x, (ir.For, ir.While, ir.Alloc, ir.CallStmt)) for x in statements(s.then + s.orelse))
