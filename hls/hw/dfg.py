"""Dataflow graphs of straight-line code: the operations the scheduler places in cycles.

`Builder` turns a run of IR statements (assignments and stores, possibly
predicated) into `Op`s. Every op carries the exact IR type of its value, a
combinational delay (ns, for chaining under the clock budget), a latency
(loads: the RAM answers one cycle after the address), and the resource it
occupies (a memory bank's port, a multiplier). Extra ordering constraints
between ops are `Edge`s: `dst.time + distance * II >= src.time + latency`
(distance 1 edges are loop-carried, used by the modulo scheduler).

Locals live in registers. Reading a local not yet assigned in the run reads
its register ("reg" op, free); the run's last assignment of each local writes
the register ("wreg"), ordered after every read of the old value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hls import ir
from hls.errors import KernelError
from hls.hw.memory import Bank
from hls.hw.ops import ARITHMETIC, MEMORY, STREAM, BinaryOp, CompareOp, OpKind
from hls.inttypes import narrowest_int as exact  # the narrowest IntType holding lo..hi
from hls.types import BoolType, IntType, ScalarType

if TYPE_CHECKING:
    from hls.hw.fsm import Hardware

BOOL = IntType(1, False)  # bools are 0/1 values in hardware


def int_type(t: ScalarType | None) -> IntType:
    """The integer type of a hardware value (bool is UInt(1)); TypeError for a float or no value (a compiler bug)."""
    if isinstance(t, BoolType):
        return BOOL
    if not isinstance(t, IntType):
        raise TypeError(f"not an integer type: {t}")
    return t


def fits(t: IntType, target: IntType) -> bool:
    """Whether every value of `t` is a value of `target`."""
    return target.lo <= t.lo and t.hi <= target.hi


Attr = int | str | BinaryOp | CompareOp | Bank | None  # an op's payload; OpKind says which (hls/hw/ops.py)


@dataclass(eq=False)
class Op:
    """One hardware operation. `time` is its cycle (set by the scheduler).

    `attr` is typed by `kind` (see OpKind); read it through `value`, `reg`, `bank`, `binop` or `cmpop`, which
    check the kind.
    """

    id: int
    kind: OpKind
    args: tuple[Op, ...]
    type: IntType | None
    attr: Attr = None
    loc: ir.Loc | None = None
    delay: float = 0.0
    latency: int = 0
    resource: str | None = None
    pinned: int | None = None  # the op must run at this cycle (loop counters, valid)
    time: int = -1
    start: float = 0.0
    port: int = -1
    index: tuple | None = None  # memory ops: the IR index expressions (for loop-carried dependence tests)

    @property
    def ready(self) -> int:
        """The cycle in which the value can first be used."""
        return self.time + self.latency

    @property
    def value(self) -> int:
        """The value of a CONST op."""
        if self.kind == OpKind.CONST and isinstance(self.attr, int):
            return self.attr
        raise self._no("value")

    @property
    def reg(self) -> str:
        """The register a REG, WREG or SNAP op reads or writes."""
        if self.kind in (OpKind.REG, OpKind.WREG, OpKind.SNAP) and isinstance(self.attr, str):
            return self.attr
        raise self._no("register")

    @property
    def bank(self) -> Bank:
        """The memory bank of a LOAD or STORE op."""
        if self.kind in MEMORY and isinstance(self.attr, Bank):
            return self.attr
        raise self._no("bank")

    @property
    def stream(self) -> str:
        """The stream an SREAD or SWRITE op pops or pushes."""
        if self.kind in STREAM and isinstance(self.attr, str):
            return self.attr
        raise self._no("stream")

    @property
    def binop(self) -> BinaryOp:
        """The operator of a BIN, MULC or SHIFT_CONST op."""
        if self.kind in ARITHMETIC and isinstance(self.attr, BinaryOp):
            return self.attr
        raise self._no("binary operator")

    @property
    def cmpop(self) -> CompareOp:
        """The operator of a CMP op."""
        if self.kind == OpKind.CMP and isinstance(self.attr, CompareOp):
            return self.attr
        raise self._no("comparison")

    @property
    def value_type(self) -> IntType:
        """The type of the op's value (every op but a STORE has one)."""
        if self.type is not None:
            return self.type
        raise self._no("value")

    def _no(self, what: str) -> RuntimeError:
        return RuntimeError(f"{self!r} has no {what}: compiler bug")

    def __repr__(self) -> str:
        attr = self.attr.prefix if isinstance(self.attr, Bank) else self.attr
        return f"%{self.id}={self.kind.value}({attr})@{self.time}"


@dataclass(frozen=True)
class Edge:
    """An ordering constraint: `dst.time + distance * II >= src.time + latency` (`why` explains it)."""

    src: Op
    dst: Op
    latency: int
    distance: int = 0
    why: str = ""


@dataclass
class Timing:
    """Operator delay model (ns) and the clock budget for chaining."""

    clock_ns: float = 5.0

    def delay(self, kind: OpKind, attr: Attr, width: int) -> float:
        """Return the combinational delay (ns) of an op of `kind` with payload `attr` on `width`-bit values."""
        if kind in _FIXED_DELAY:
            return _FIXED_DELAY[kind]
        if kind == OpKind.BIN:
            if attr == BinaryOp.MUL:
                return 3.0 + 0.02 * width
            if attr in (BinaryOp.FLOORDIV, BinaryOp.MOD):
                return self.clock_ns  # a divider takes a whole cycle of its own
            if attr in (BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR):
                return 0.3
            if attr in (BinaryOp.SHL, BinaryOp.SHR):
                return 1.2 + 0.02 * width
            return 0.8 + 0.03 * width  # + -
        if kind == OpKind.SHIFT_CONST:
            return 0.0
        if kind == OpKind.MULC:  # multiply by a constant: shifts and adds
            return 1.0 + 0.03 * width
        return 0.8 + 0.03 * width  # neg, compare, min, max, abs


_FIXED_DELAY = {
    OpKind.CONST: 0.0,
    OpKind.REG: 0.0,
    OpKind.SNAP: 0.0,
    OpKind.VALID: 0.0,
    OpKind.WREG: 0.0,
    OpKind.CAST: 0.0,
    OpKind.INV: 0.0,
    OpKind.LOAD: 0.5,
    OpKind.STORE: 0.5,
    OpKind.SREAD: 0.5,
    OpKind.SWRITE: 0.5,
    OpKind.SEL: 0.4,
    OpKind.AND: 0.3,
    OpKind.OR: 0.3,
    OpKind.NOT: 0.2,
}


@dataclass
class Graph:
    """The ops of one region (in a topological order) and their extra ordering edges."""

    ops: list[Op] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    writes: dict[str, Op] = field(default_factory=dict)  # local -> its wreg op
    outputs: dict[str, Op] = field(default_factory=dict)  # named values the control needs (conditions)


class Builder:
    """Build the dataflow graph of a run of statements."""

    def __init__(self, hw: Hardware, graph: Graph, counters: dict[str, Op] | None = None, valid: Op | None = None):
        self.hw = hw  # hls.hw.fsm.Hardware: register types, memory map, timing, op ids
        self.g = graph
        self.env: dict[str, Op] = {}  # local -> its value after the statements built so far
        self.old: dict[str, Op] = {}  # local -> the op reading its register (value before the run)
        self.cse: dict[tuple, Op] = {}
        self.mem_ops: dict[str, list[Op]] = {}  # bank prefix -> memory ops so far, in program order
        self.mem_version: dict[str, int] = {}
        self.stream_ops: dict[str, list[Op]] = {}  # stream -> its ops so far, in program order
        self.counters = counters or {}  # pipeline loop variables -> their snapshot ops
        self.valid = valid

    # ---- op creation ------------------------------------------------------------------------------------

    def op(
        self,
        kind: OpKind,
        args: tuple[Op, ...],
        t: IntType | None,
        attr: Attr = None,
        loc: ir.Loc | None = None,
        *,
        latency: int = 0,
        resource: str | None = None,
        pinned: int | None = None,
        pure: bool = True,
    ) -> Op:
        """Add an op (a constant when it folds; the earlier one when `pure` and built before)."""
        if pure and args and all(a.kind == OpKind.CONST for a in args):
            value = fold(kind, attr, [a.value for a in args], t)
            if value is not None:
                return self.const(value)
        key = (kind, attr, tuple(a.id for a in args), t) if pure else None
        if key is not None and key in self.cse:
            return self.cse[key]
        width = t.width if t is not None else max((a.type.width for a in args if a.type), default=1)
        o = Op(
            self.hw.next_id(),
            kind,
            args,
            t,
            attr,
            loc,
            self.hw.timing.delay(kind, attr, width),
            latency,
            resource,
            pinned,
        )
        self.g.ops.append(o)
        if key is not None:
            self.cse[key] = o
        return o

    def const(self, value: int) -> Op:
        """The constant `value` (in its narrowest type)."""
        return self.op(OpKind.CONST, (), exact(value, value), int(value))

    # ---- expressions ---------------------------------------------------------------------------------------

    def expr(self, e: ir.Expr) -> Op:
        """Build `e`; returns the op holding its value."""
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise KernelError(
                f"{type(e).__name__} cannot be lowered to hardware",
                e.loc,
                "inline calls and bind dims before scheduling",
            )
        return method(e)

    def _const(self, e: ir.Const) -> Op:
        if not isinstance(e.value, (int, bool)):
            raise KernelError("floats cannot be lowered to hardware", e.loc, "use a fixed-point integer type")
        return self.const(int(e.value))

    def _var(self, e: ir.Var) -> Op:
        if e.name in self.env:
            return self.env[e.name]
        if e.name in self.counters:
            return self.counters[e.name]
        if e.name not in self.old:
            t = self.hw.reg_type(e.name)
            self.old[e.name] = self.op(OpKind.REG, (), t, e.name, e.loc)
        return self.old[e.name]

    def _load(self, e: ir.Load) -> Op:
        bank, addr = self.address(e.array, e.indices, e.loc)
        version = self.mem_version.get(bank.prefix, 0)
        key = (OpKind.LOAD, bank.prefix, addr.id, version)
        if key in self.cse:
            return self.cse[key]
        o = self.op(OpKind.LOAD, (addr,), int_type(bank.elem), bank, e.loc, latency=1, resource=bank.prefix, pure=False)
        o.index = e.indices
        self.cse[key] = o
        self._order_memory(bank.prefix, o, store=False)
        return o

    def _binop(self, e: ir.BinOp) -> Op:
        a, b = self.expr(e.lhs), self.expr(e.rhs)
        t = int_type(e.type)
        op = BinaryOp(e.op)
        if op == BinaryOp.MUL and (a.kind == OpKind.CONST or b.kind == OpKind.CONST):
            c, x = (a, b) if a.kind == OpKind.CONST else (b, a)
            if c.value == 0:
                return self.const(0)
            if c.value == 1:
                return x
            return self.op(OpKind.MULC, (x, c), t, op, e.loc)
        if op in (BinaryOp.SHL, BinaryOp.SHR) and b.kind == OpKind.CONST:
            return self.op(OpKind.SHIFT_CONST, (a, b), t, op, e.loc)
        if op == BinaryOp.MUL:
            return self.op(OpKind.BIN, (a, b), t, op, e.loc, resource="mul")
        return self.op(OpKind.BIN, (a, b), t, op, e.loc)

    def _unaryop(self, e: ir.UnaryOp) -> Op:
        kind = {"-": OpKind.NEG, "~": OpKind.INV, "not": OpKind.NOT}[e.op]
        return self.op(kind, (self.expr(e.operand),), int_type(e.type), None, e.loc)

    def _compare(self, e: ir.Compare) -> Op:
        return self.op(OpKind.CMP, (self.expr(e.lhs), self.expr(e.rhs)), BOOL, CompareOp(e.op), e.loc)

    def _logical(self, e: ir.Logical) -> Op:
        args = (self.truth(self.expr(e.lhs)), self.truth(self.expr(e.rhs)))
        return self.op(OpKind(e.op), args, BOOL, None, e.loc)

    def _select(self, e: ir.Select) -> Op:
        c = self.truth(self.expr(e.cond))
        then, orelse = self.expr(e.then), self.expr(e.orelse)
        t = int_type(e.type)
        if then.kind == OpKind.BIN and then.binop == BinaryOp.ADD and orelse in then.args:
            # `x + p if c else x` is `x + (p if c else 0)`: an if-converted accumulation stays an add chain,
            # which balance_sums turns into an adder tree (the value is one of the two, so t still holds it)
            p = then.args[1] if then.args[0] is orelse else then.args[0]
            pt = p.value_type
            gated = self.op(OpKind.SEL, (c, p, self.const(0)), exact(min(pt.lo, 0), max(pt.hi, 0)), None, e.loc)
            return self.op(OpKind.BIN, (orelse, gated), t, BinaryOp.ADD, e.loc)
        return self.op(OpKind.SEL, (c, then, orelse), t, None, e.loc)

    def _cast(self, e: ir.Cast) -> Op:
        return self.cast(self.expr(e.operand), e.type, e.loc)

    def _intrinsic(self, e: ir.Intrinsic) -> Op:
        if e.name not in ("min", "max", "abs"):
            raise KernelError(f"`{e.name}` cannot be lowered to hardware", e.loc, "use a fixed-point integer kernel")
        args = tuple(self.expr(a) for a in e.args)
        out = args[0]
        if e.name == "abs":
            return self.op(OpKind.ABS, args, int_type(e.type), None, e.loc)
        for a in args[1:]:  # min/max of several arguments: a chain of two-input ops
            lo, hi = (min(out.value_type.lo, a.value_type.lo), max(out.value_type.hi, a.value_type.hi))
            out = self.op(OpKind(e.name), (out, a), exact(lo, hi), None, e.loc)
        return self.cast(out, e.type, e.loc) if not fits(out.value_type, int_type(e.type)) else out

    def truth(self, x: Op) -> Op:
        """A 0/1 value: the truth of x."""
        if x.type == BOOL:
            return x
        return self.op(OpKind.CMP, (x, self.const(0)), BOOL, CompareOp.NE, x.loc)

    def cast(self, x: Op, t: ScalarType, loc: ir.Loc | None) -> Op:
        """Store semantics: bool keeps the truth value, integers wrap to `t`."""
        if isinstance(t, BoolType):
            return self.truth(x)
        t = int_type(t)
        if fits(x.value_type, t):
            return x
        return self.op(OpKind.CAST, (x,), t, None, loc)

    # ---- memory ------------------------------------------------------------------------------------------

    def address(self, array: str, indices: tuple[ir.Expr, ...], loc: ir.Loc) -> tuple[Bank, Op]:
        """The bank an access of `array[indices]` goes to, and the address inside it."""
        mem = self.hw.memories.get(array)
        if mem is None:
            raise KernelError(f"array `{array}` has no memory", loc, "this is a compiler bug")
        idx = [self.expr(i) for i in indices]
        bank, local = mem.locate(idx, loc)
        addr: Op | None = None
        for axis, stride in mem.strides():
            ix = self._bank_index(*local[axis], loc) if axis in local else idx[axis]
            term = (
                ix
                if stride == 1
                else self.op(
                    OpKind.MULC,
                    (ix, self.const(stride)),
                    exact(ix.value_type.lo * stride, ix.value_type.hi * stride) if stride > 0 else ix.type,
                    BinaryOp.MUL,
                    loc,
                )
            )
            if addr is None:
                addr = term
            else:
                at, tt = addr.value_type, term.value_type
                addr = self.op(OpKind.BIN, (addr, term), exact(at.lo + tt.lo, at.hi + tt.hi), BinaryOp.ADD, loc)
        return bank, addr if addr is not None else self.const(0)

    def _bank_index(self, ix: Op, offset: int, divisor: int, loc: ir.Loc) -> Op:
        """(ix - offset) // divisor: the index inside a bank of a cyclic (divisor) or block (offset) axis."""
        if offset:
            t = ix.value_type
            ix = self.op(OpKind.BIN, (ix, self.const(offset)), exact(t.lo - offset, t.hi - offset), BinaryOp.SUB, loc)
        if divisor > 1:
            if ix.kind == OpKind.CONST:
                return self.const(int(ix.value) // divisor)
            t = ix.value_type
            rt = exact(t.lo // divisor, t.hi // divisor)
            if divisor & (divisor - 1) == 0:
                k = divisor.bit_length() - 1
                return self.op(OpKind.SHIFT_CONST, (ix, self.const(k)), rt, BinaryOp.SHR, loc)
            return self.op(OpKind.BIN, (ix, self.const(divisor)), rt, BinaryOp.FLOORDIV, loc)
        return ix

    def _order_memory(self, prefix: str, o: Op, store: bool) -> None:
        for prev in self.mem_ops.get(prefix, []):
            prev_store = prev.kind == OpKind.STORE
            if not (store or prev_store):
                continue
            if _distinct_addresses(prev, o):
                continue
            self.g.edges.append(Edge(prev, o, 1 if prev_store else 0, 0, f"memory order on {prefix}"))
        self.mem_ops.setdefault(prefix, []).append(o)

    # ---- statements --------------------------------------------------------------------------------------

    def stmt(self, s: ir.Stmt) -> None:
        """Build an assignment or a store."""
        if isinstance(s, ir.Assign):
            self.env[s.name] = self.cast(self.expr(s.value), self.hw.reg_decl(s.name), s.loc)
        elif isinstance(s, ir.Store):
            self.store(s)
        elif isinstance(s, ir.Read | ir.Write):
            self.stream_op(s)
        else:
            raise KernelError(f"{type(s).__name__} in straight-line code", s.loc, "this is a compiler bug")

    def store(self, s: ir.Store) -> None:
        """Build a store (its enable: the statement's predicate and the pipeline's `valid`)."""
        mem = self.hw.memories[s.array]
        bank, addr = self.address(s.array, s.indices, s.loc)
        value = self.cast(self.expr(s.value), mem.elem, s.loc)
        enable = [self.truth(self.expr(s.pred))] if s.pred is not None else []
        if self.valid is not None:
            enable.append(self.valid)
        gate: Op | None = None
        for extra in enable:
            gate = extra if gate is None else self.op(OpKind.AND, (gate, extra), BOOL, None, s.loc)
        args = (addr, value) + ((gate,) if gate is not None else ())
        o = self.op(OpKind.STORE, args, None, bank, s.loc, resource=bank.prefix, pure=False)
        o.index = s.indices
        self._order_memory(bank.prefix, o, store=True)
        self.mem_version[bank.prefix] = self.mem_version.get(bank.prefix, 0) + 1

    def enable(self, pred: ir.Expr | None, loc: ir.Loc) -> tuple[Op | None, Op | None]:
        """(the statement's predicate, the enable: the predicate and the pipeline's `valid`), None for always."""
        p = self.truth(self.expr(pred)) if pred is not None else None
        gate = p
        if self.valid is not None:
            gate = self.valid if gate is None else self.op(OpKind.AND, (gate, self.valid), BOOL, None, loc)
        return p, gate

    def stream_op(self, s: ir.Read | ir.Write) -> None:
        """A stream read (its value kept by the local when the predicate is false) or write.

        Ops on one stream keep their program order, one per cycle (the stream is a resource of one use per
        cycle); in a pipeline the last of them comes before the next iteration's first (a loop-carried edge).
        """
        t = self.hw.streams[s.stream].elem
        pred, gate = self.enable(s.pred, s.loc)
        extra = (gate,) if gate is not None else ()
        res = f"stream:{s.stream}"
        if isinstance(s, ir.Read):
            o = self.op(OpKind.SREAD, extra, int_type(t), s.stream, s.loc, resource=res, pure=False)
            value = self.cast(o, self.hw.reg_decl(s.name), s.loc)
            if pred is not None:
                old = self.expr(ir.Var(s.name, self.hw.reg_decl(s.name), s.loc))
                value = self.op(OpKind.SEL, (pred, value, old), _join(value.value_type, old.value_type), None, s.loc)
            self.env[s.name] = value
        else:
            value = self.cast(self.expr(s.value), t, s.loc)
            o = self.op(OpKind.SWRITE, (value, *extra), None, s.stream, s.loc, resource=res, pure=False)
        ops = self.stream_ops.setdefault(s.stream, [])
        if ops:
            self.g.edges.append(Edge(ops[-1], o, 1, 0, f"order on stream {s.stream}"))
        ops.append(o)

    def finish(self, cond: Op | None = None) -> Graph:
        """Balance sums, then write back every local the run assigned (`cond`: the branch condition)."""
        if cond is not None:
            self.g.outputs["cond"] = cond
        for ops in self.stream_ops.values():
            if len(ops) > 1 and self.valid is not None:  # the next iteration's first op after this one's last
                self.g.edges.append(Edge(ops[-1], ops[0], 1, 1, f"order on stream {ops[0].stream}"))
        self.drop_dead()
        self.balance_sums()
        for name, value in self.env.items():
            old = self.old.get(name)
            if old is value:
                continue
            args = (value,) if self.valid is None else (value, self.valid)
            w = self.op(OpKind.WREG, args, value.type, name, value.loc, pure=False)
            self.g.writes[name] = w
            if old is not None:  # every reader of the old value runs no later than the write
                for o in self.g.ops:
                    if old in o.args and o is not w:
                        self.g.edges.append(Edge(o, w, 0, 0, f"`{name}` read before it is written"))
                        self.g.edges.append(Edge(w, o, 1, 1, f"recurrence on `{name}`"))
        return self.g

    def drop_dead(self) -> None:
        """Remove ops nothing needs (a value replaced while building, a load no one reads)."""
        g = self.g
        live: set[int] = set()
        todo = [o for o in g.ops if o.kind in (OpKind.STORE, OpKind.SREAD, OpKind.SWRITE)] + list(g.outputs.values())
        todo += [v for name, v in self.env.items() if self.old.get(name) is not v]
        while todo:
            o = todo.pop()
            if o.id not in live:
                live.add(o.id)
                todo.extend(o.args)
        g.ops[:] = [o for o in g.ops if o.id in live or o.pinned is not None]
        g.edges[:] = [e for e in g.edges if e.src.id in live and e.dst.id in live]

    def balance_sums(self) -> None:
        """Tree-height reduction: a chain of wrapping additions becomes a balanced adder tree.

        `acc = i32(acc + x_k)` repeated is, modulo 2**32, the sum of the x_k: the
        chain under a wrap to T (with inner wraps no narrower than T) is rebuilt
        as a balanced tree of exact adds (wrapped to T where they grow wider),
        with a register read of a recurrence added last, so unrolled dot
        products get log2(D) adder levels and accumulators a 1-add recurrence.
        """
        g = self.g
        users: dict[int, int] = {}
        for o in g.ops:
            for a in o.args:
                users[a.id] = users.get(a.id, 0) + 1
        for o in list(g.outputs.values()) + list(self.env.values()):
            users[o.id] = users.get(o.id, 0) + 1
        dead: set[int] = set()

        def is_sum(x: Op) -> bool:
            return x.kind == OpKind.BIN and x.binop in (BinaryOp.ADD, BinaryOp.SUB) and x.id not in dead

        def collect(
            x: Op, t: IntType, leaves: list[tuple[Op, int]], inner: list[Op], sign: int = 1, top: bool = False
        ) -> None:
            if is_sum(x) and (top or users.get(x.id) == 1):
                inner.append(x)
                collect(x.args[0], t, leaves, inner, sign)
                collect(x.args[1], t, leaves, inner, -sign if x.binop == BinaryOp.SUB else sign)
            elif (
                x.kind == OpKind.CAST
                and users.get(x.id) == 1
                and x.value_type.width >= t.width
                and is_sum(x.args[0])
                and users.get(x.args[0].id) == 1
            ):
                inner.append(x)
                collect(x.args[0], t, leaves, inner, sign)
            else:
                leaves.append((x, sign))

        for root in reversed(list(g.ops)):
            if root.id in dead:
                continue
            if root.kind == OpKind.CAST and is_sum(root.args[0]) and users.get(root.args[0].id) == 1:
                chain = root.args[0]  # a wrapping chain: any association is right modulo 2**width
            elif is_sum(root):
                chain = root  # an exact chain (the top one: chains below it were absorbed first)
            else:
                continue
            t = root.value_type
            leaves: list[tuple[Op, int]] = []
            inner: list[Op] = []
            collect(chain, t, leaves, inner, top=True)
            if len(leaves) < 4:
                continue
            dead.update(o.id for o in inner if o is not root)
            new: list[Op] = []
            carried = [lf for lf in leaves if lf[0].kind == OpKind.REG]
            level = [lf for lf in leaves if lf[0].kind != OpKind.REG]
            if not level:
                level, carried = carried[:1], carried[1:]
            while len(level) > 1:
                nxt = [self._combine(level[i], level[i + 1], t, new) for i in range(0, len(level) - 1, 2)]
                level = nxt + ([level[-1]] if len(level) % 2 else [])
            for lf in carried:
                level = [self._combine(level[0], lf, t, new)]
            top, sign = level[0]
            if sign < 0:
                top = self._new(OpKind.NEG, (top,), exact(-top.value_type.hi, -top.value_type.lo), None, top.loc, new)
            # the root becomes the wrap to its type (same op, so its users need no rewiring)
            root.kind, root.attr, root.args, root.delay, root.resource = OpKind.CAST, None, (top,), 0.0, None
            at = g.ops.index(root)
            g.ops[at:at] = new
        if dead:
            g.ops[:] = [o for o in g.ops if o.id not in dead]

    def _new(self, kind: OpKind, args: tuple[Op, ...], t: IntType, attr: Attr, loc: ir.Loc | None, out: list[Op]) -> Op:
        width = t.width
        o = Op(self.hw.next_id(), kind, args, t, attr, loc, self.hw.timing.delay(kind, attr, width))
        out.append(o)
        return o

    def _combine(self, a: tuple[Op, int], b: tuple[Op, int], t: IntType, out: list[Op]) -> tuple[Op, int]:
        """a + b (or a - b) as an exact add, wrapped to t when it grows past t."""
        (x, sx), (y, sy) = a, b
        if sx == sy:
            xt, yt = x.value_type, y.value_type
            r = self._new(OpKind.BIN, (x, y), exact(xt.lo + yt.lo, xt.hi + yt.hi), BinaryOp.ADD, x.loc, out)
            sign = sx
        else:
            if sx < 0:
                x, y = y, x
            xt, yt = x.value_type, y.value_type
            r = self._new(OpKind.BIN, (x, y), exact(xt.lo - yt.hi, xt.hi - yt.lo), BinaryOp.SUB, x.loc, out)
            sign = 1
        if r.value_type.width > t.width:
            r = self._new(OpKind.CAST, (r,), t, None, r.loc, out)
        return r, sign


def _distinct_addresses(a: Op, b: Op) -> bool:
    """True when two memory ops provably touch different addresses (both constant and different)."""
    x, y = a.args[0], b.args[0]
    return x.kind == OpKind.CONST and y.kind == OpKind.CONST and x.value != y.value


def fold(kind: OpKind, attr: Attr, v: list[int], t: IntType | None) -> int | None:
    """The value of a pure op on constants (exact semantics), or None when it is not folded."""
    if kind in ARITHMETIC and isinstance(attr, BinaryOp):
        return attr.fold(v[0], v[1])
    if kind == OpKind.CMP and isinstance(attr, CompareOp):
        return attr.fold(v[0], v[1])
    others = {
        OpKind.NEG: lambda: -v[0],
        OpKind.INV: lambda: ~v[0],
        OpKind.NOT: lambda: int(v[0] == 0),
        OpKind.AND: lambda: int(bool(v[0]) and bool(v[1])),
        OpKind.OR: lambda: int(bool(v[0]) or bool(v[1])),
        OpKind.SEL: lambda: v[1] if v[0] else v[2],
        OpKind.MIN: lambda: min(v),
        OpKind.MAX: lambda: max(v),
        OpKind.ABS: lambda: abs(v[0]),
    }
    if kind in others:
        return others[kind]()
    if kind == OpKind.CAST and t is not None:
        return t.wrap(v[0])
    return None


def _join(a: IntType, b: IntType) -> IntType:
    """The narrowest type holding every value of `a` and of `b`."""
    return exact(min(a.lo, b.lo), max(a.hi, b.hi))
