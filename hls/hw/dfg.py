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
from typing import Any

from hls import ir
from hls.errors import KernelError
from hls.types import BoolType, IntType, ScalarType

BOOL = IntType(1, False)  # bools are 0/1 values in hardware


def int_type(t: ScalarType) -> IntType:
    """The integer type of a hardware value (bool is UInt(1))."""
    if isinstance(t, BoolType):
        return BOOL
    if not isinstance(t, IntType):
        raise TypeError(f"not an integer type: {t}")
    return t


def exact(lo: int, hi: int) -> IntType:
    """The narrowest IntType holding lo..hi (widths over 64 allowed for exact intermediates)."""
    if lo >= 0:
        return IntType(max(1, hi.bit_length()), False)
    width = max((-lo - 1).bit_length(), max(hi, 0).bit_length()) + 1
    return IntType(width, True)


def fits(t: IntType, target: IntType) -> bool:
    return target.lo <= t.lo and t.hi <= target.hi


@dataclass(eq=False)
class Op:
    """One hardware operation. `time` is its cycle (set by the scheduler)."""

    id: int
    kind: str
    args: tuple[Op, ...]
    type: IntType | None
    attr: Any = None
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

    def __repr__(self) -> str:
        return f"%{self.id}={self.kind}({self.attr})@{self.time}"


@dataclass(frozen=True)
class Edge:
    src: Op
    dst: Op
    latency: int
    distance: int = 0
    why: str = ""


@dataclass
class Timing:
    """Operator delay model (ns) and the clock budget for chaining."""

    clock_ns: float = 5.0

    def delay(self, kind: str, attr: Any, width: int) -> float:
        if kind in ("const", "reg", "snap", "valid", "param", "wreg", "store", "load", "cast", "not", "inv", "sel",
                    "and", "or"):
            return {"load": 0.5, "store": 0.5, "sel": 0.4, "and": 0.3, "or": 0.3, "not": 0.2}.get(kind, 0.0)
        if kind == "bin":
            if attr == "*":
                return 3.0 + 0.02 * width
            if attr in ("//", "%"):
                return self.clock_ns  # a divider takes a whole cycle of its own
            if attr in ("&", "|", "^"):
                return 0.3
            if attr in ("<<", ">>"):
                return 1.2 + 0.02 * width
            return 0.8 + 0.03 * width  # + -
        if kind == "shift_const":
            return 0.0
        if kind == "mulc":  # multiply by a constant: shifts and adds
            return 1.0 + 0.03 * width
        return 0.8 + 0.03 * width  # neg, compare, min, max, abs


@dataclass
class Graph:
    """The ops of one region (in a topological order) and their extra ordering edges."""

    ops: list[Op] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    writes: dict[str, Op] = field(default_factory=dict)  # local -> its wreg op
    outputs: dict[str, Op] = field(default_factory=dict)  # named values the control needs (conditions)


class Builder:
    """Build the dataflow graph of a run of statements."""

    def __init__(self, hw: Any, graph: Graph, counters: dict[str, Op] | None = None, valid: Op | None = None):
        self.hw = hw  # hls.hw.fsm.Hardware: register types, memory map, timing, op ids
        self.g = graph
        self.env: dict[str, Op] = {}  # local -> its value after the statements built so far
        self.old: dict[str, Op] = {}  # local -> the op reading its register (value before the run)
        self.cse: dict[tuple, Op] = {}
        self.mem_ops: dict[str, list[Op]] = {}  # bank prefix -> memory ops so far, in program order
        self.mem_version: dict[str, int] = {}
        self.counters = counters or {}  # pipeline loop variables -> their snapshot ops
        self.valid = valid

    # ---- op creation ------------------------------------------------------------------------------------

    def op(self, kind: str, args: tuple[Op, ...], t: IntType | None, attr: Any = None, loc: ir.Loc | None = None,
           *, latency: int = 0, resource: str | None = None, pinned: int | None = None, pure: bool = True) -> Op:
        if pure and args and all(a.kind == "const" for a in args):
            value = fold(kind, attr, [a.attr for a in args], t)
            if value is not None:
                return self.const(value)
        key = (kind, attr, tuple(a.id for a in args), t) if pure else None
        if key is not None and key in self.cse:
            return self.cse[key]
        width = t.width if t is not None else max((a.type.width for a in args if a.type), default=1)
        o = Op(self.hw.next_id(), kind, args, t, attr, loc, self.hw.timing.delay(kind, attr, width), latency,
               resource, pinned)
        self.g.ops.append(o)
        if key is not None:
            self.cse[key] = o
        return o

    def const(self, value: int) -> Op:
        return self.op("const", (), exact(value, value), int(value))

    # ---- expressions ---------------------------------------------------------------------------------------

    def expr(self, e: ir.Expr) -> Op:
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise KernelError(f"{type(e).__name__} cannot be lowered to hardware", e.loc,
                              "inline calls and bind dims before scheduling")
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
            self.old[e.name] = self.op("reg", (), t, e.name, e.loc)
        return self.old[e.name]

    def _load(self, e: ir.Load) -> Op:
        bank, addr = self.address(e.array, e.indices, e.loc)
        version = self.mem_version.get(bank.prefix, 0)
        key = ("load", bank.prefix, addr.id, version)
        if key in self.cse:
            return self.cse[key]
        o = self.op("load", (addr,), int_type(bank.elem), bank, e.loc, latency=1, resource=bank.prefix, pure=False)
        o.index = e.indices
        self.cse[key] = o
        self._order_memory(bank.prefix, o, store=False)
        return o

    def _binop(self, e: ir.BinOp) -> Op:
        a, b = self.expr(e.lhs), self.expr(e.rhs)
        t = int_type(e.type)
        if e.op == "*" and (a.kind == "const" or b.kind == "const"):
            c, x = (a, b) if a.kind == "const" else (b, a)
            if c.attr == 0:
                return self.const(0)
            if c.attr == 1:
                return x
            return self.op("mulc", (x, c), t, "*", e.loc)
        if e.op in ("<<", ">>") and b.kind == "const":
            return self.op("shift_const", (a, b), t, e.op, e.loc)
        if e.op == "*":
            return self.op("bin", (a, b), t, "*", e.loc, resource="mul")
        return self.op("bin", (a, b), t, e.op, e.loc)

    def _unaryop(self, e: ir.UnaryOp) -> Op:
        kind = {"-": "neg", "~": "inv", "not": "not"}[e.op]
        return self.op(kind, (self.expr(e.operand),), int_type(e.type), e.op, e.loc)

    def _compare(self, e: ir.Compare) -> Op:
        return self.op("cmp", (self.expr(e.lhs), self.expr(e.rhs)), BOOL, e.op, e.loc)

    def _logical(self, e: ir.Logical) -> Op:
        return self.op(e.op, (self.truth(self.expr(e.lhs)), self.truth(self.expr(e.rhs))), BOOL, e.op, e.loc)

    def _select(self, e: ir.Select) -> Op:
        c = self.truth(self.expr(e.cond))
        then, orelse = self.expr(e.then), self.expr(e.orelse)
        t = int_type(e.type)
        if then.kind == "bin" and then.attr == "+" and orelse in then.args:
            # `x + p if c else x` is `x + (p if c else 0)`: an if-converted accumulation stays an add chain,
            # which balance_sums turns into an adder tree (the value is one of the two, so t still holds it)
            p = then.args[1] if then.args[0] is orelse else then.args[0]
            gated = self.op("sel", (c, p, self.const(0)), exact(min(p.type.lo, 0), max(p.type.hi, 0)), None, e.loc)
            return self.op("bin", (orelse, gated), t, "+", e.loc)
        return self.op("sel", (c, then, orelse), t, None, e.loc)

    def _cast(self, e: ir.Cast) -> Op:
        return self.cast(self.expr(e.operand), e.type, e.loc)

    def _intrinsic(self, e: ir.Intrinsic) -> Op:
        if e.name not in ("min", "max", "abs"):
            raise KernelError(f"`{e.name}` cannot be lowered to hardware", e.loc, "use a fixed-point integer kernel")
        args = tuple(self.expr(a) for a in e.args)
        out = args[0]
        if e.name == "abs":
            return self.op("abs", args, int_type(e.type), None, e.loc)
        for a in args[1:]:  # min/max of several arguments: a chain of two-input ops
            lo, hi = (min(out.type.lo, a.type.lo), max(out.type.hi, a.type.hi))
            out = self.op(e.name, (out, a), exact(lo, hi), None, e.loc)
        return self.cast(out, e.type, e.loc) if not fits(out.type, int_type(e.type)) else out

    def truth(self, x: Op) -> Op:
        """A 0/1 value: the truth of x."""
        if x.type == BOOL:
            return x
        return self.op("cmp", (x, self.const(0)), BOOL, "!=", x.loc)

    def cast(self, x: Op, t: ScalarType, loc: ir.Loc | None) -> Op:
        """Store semantics: bool keeps the truth value, integers wrap to `t`."""
        if isinstance(t, BoolType):
            return self.truth(x)
        t = int_type(t)
        if fits(x.type, t):
            return x
        return self.op("cast", (x,), t, None, loc)

    # ---- memory ------------------------------------------------------------------------------------------

    def address(self, array: str, indices: tuple[ir.Expr, ...], loc: ir.Loc):
        mem = self.hw.memories.get(array)
        if mem is None:
            raise KernelError(f"array `{array}` has no memory", loc, "this is a compiler bug")
        idx = [self.expr(i) for i in indices]
        bank = mem.bank_for(idx, loc)
        addr: Op | None = None
        for axis, stride in mem.strides():
            term = idx[axis] if stride == 1 else self.op("mulc", (idx[axis], self.const(stride)),
                                                          exact(idx[axis].type.lo * stride, idx[axis].type.hi * stride)
                                                          if stride > 0 else idx[axis].type, "*", loc)
            if addr is None:
                addr = term
            else:
                addr = self.op("bin", (addr, term), exact(addr.type.lo + term.type.lo, addr.type.hi + term.type.hi),
                               "+", loc)
        return bank, addr if addr is not None else self.const(0)

    def _order_memory(self, prefix: str, o: Op, store: bool) -> None:
        for prev in self.mem_ops.get(prefix, []):
            prev_store = prev.kind == "store"
            if not (store or prev_store):
                continue
            if _distinct_addresses(prev, o):
                continue
            self.g.edges.append(Edge(prev, o, 1 if prev_store else 0, 0, f"memory order on {prefix}"))
        self.mem_ops.setdefault(prefix, []).append(o)

    # ---- statements --------------------------------------------------------------------------------------

    def stmt(self, s: ir.Stmt) -> None:
        if isinstance(s, ir.Assign):
            self.env[s.name] = self.cast(self.expr(s.value), self.hw.reg_decl(s.name), s.loc)
        elif isinstance(s, ir.Store):
            self.store(s)
        else:
            raise KernelError(f"{type(s).__name__} in straight-line code", s.loc, "this is a compiler bug")

    def store(self, s: ir.Store) -> None:
        mem = self.hw.memories[s.array]
        bank, addr = self.address(s.array, s.indices, s.loc)
        value = self.cast(self.expr(s.value), mem.elem, s.loc)
        enable = [self.truth(self.expr(s.pred))] if getattr(s, "pred", None) is not None else []
        if self.valid is not None:
            enable.append(self.valid)
        gate = enable[0] if enable else None
        for extra in enable[1:]:
            gate = self.op("and", (gate, extra), BOOL, "and", s.loc)
        args = (addr, value) + ((gate,) if gate is not None else ())
        o = self.op("store", args, None, bank, s.loc, resource=bank.prefix, pure=False)
        o.index = s.indices
        self._order_memory(bank.prefix, o, store=True)
        self.mem_version[bank.prefix] = self.mem_version.get(bank.prefix, 0) + 1

    def finish(self, cond: Op | None = None) -> Graph:
        """Balance sums, then write back every local the run assigned (`cond`: the branch condition)."""
        if cond is not None:
            self.g.outputs["cond"] = cond
        self.drop_dead()
        self.balance_sums()
        for name, value in self.env.items():
            old = self.old.get(name)
            if old is value:
                continue
            args = (value,) if self.valid is None else (value, self.valid)
            w = self.op("wreg", args, value.type, name, value.loc, pure=False)
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
        todo = [o for o in g.ops if o.kind == "store"] + list(g.outputs.values())
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
            return x.kind == "bin" and x.attr in ("+", "-") and x.id not in dead

        def collect(x: Op, t: IntType, leaves: list[tuple[Op, int]], inner: list[Op], sign: int = 1,
                    top: bool = False) -> None:
            if is_sum(x) and (top or users.get(x.id) == 1):
                inner.append(x)
                collect(x.args[0], t, leaves, inner, sign)
                collect(x.args[1], t, leaves, inner, -sign if x.attr == "-" else sign)
            elif (x.kind == "cast" and users.get(x.id) == 1 and x.type.width >= t.width
                  and is_sum(x.args[0]) and users.get(x.args[0].id) == 1):
                inner.append(x)
                collect(x.args[0], t, leaves, inner, sign)
            else:
                leaves.append((x, sign))

        for root in reversed(list(g.ops)):
            if root.id in dead:
                continue
            if root.kind == "cast" and is_sum(root.args[0]) and users.get(root.args[0].id) == 1:
                chain = root.args[0]  # a wrapping chain: any association is right modulo 2**width
            elif is_sum(root):
                chain = root  # an exact chain (the top one: chains below it were absorbed first)
            else:
                continue
            t = root.type
            leaves: list[tuple[Op, int]] = []
            inner: list[Op] = []
            collect(chain, t, leaves, inner, top=True)
            if len(leaves) < 4:
                continue
            dead.update(o.id for o in inner if o is not root)
            new: list[Op] = []
            carried = [lf for lf in leaves if lf[0].kind == "reg"]
            level = [lf for lf in leaves if lf[0].kind != "reg"]
            if not level:
                level, carried = carried[:1], carried[1:]
            while len(level) > 1:
                nxt = [self._combine(level[i], level[i + 1], t, new) for i in range(0, len(level) - 1, 2)]
                level = nxt + ([level[-1]] if len(level) % 2 else [])
            for lf in carried:
                level = [self._combine(level[0], lf, t, new)]
            top, sign = level[0]
            if sign < 0:
                top = self._new("neg", (top,), exact(-top.type.hi, -top.type.lo), None, top.loc, new)
            # the root becomes the wrap to its type (same op, so its users need no rewiring)
            root.kind, root.attr, root.args, root.delay, root.resource = "cast", None, (top,), 0.0, None
            at = g.ops.index(root)
            g.ops[at:at] = new
        if dead:
            g.ops[:] = [o for o in g.ops if o.id not in dead]

    def _new(self, kind: str, args: tuple[Op, ...], t: IntType, attr: Any, loc: Any, out: list[Op]) -> Op:
        width = t.width
        o = Op(self.hw.next_id(), kind, args, t, attr, loc, self.hw.timing.delay(kind, attr, width))
        out.append(o)
        return o

    def _combine(self, a: tuple[Op, int], b: tuple[Op, int], t: IntType, out: list[Op]) -> tuple[Op, int]:
        """a + b (or a - b) as an exact add, wrapped to t when it grows past t."""
        (x, sx), (y, sy) = a, b
        if sx == sy:
            r = self._new("bin", (x, y), exact(x.type.lo + y.type.lo, x.type.hi + y.type.hi), "+", x.loc, out)
            sign = sx
        else:
            if sx < 0:
                x, y = y, x
            r = self._new("bin", (x, y), exact(x.type.lo - y.type.hi, x.type.hi - y.type.lo), "-", x.loc, out)
            sign = 1
        if r.type.width > t.width:
            r = self._new("cast", (r,), t, None, r.loc, out)
        return r, sign


def _distinct_addresses(a: Op, b: Op) -> bool:
    """True when two memory ops provably touch different addresses (both constant and different)."""
    x, y = a.args[0], b.args[0]
    return x.kind == "const" and y.kind == "const" and x.attr != y.attr


def fold(kind: str, attr: Any, v: list[int], t: IntType | None) -> int | None:
    """The value of a pure op on constants (exact semantics), or None when it is not folded."""
    import operator

    bins = {"+": operator.add, "-": operator.sub, "*": operator.mul, "&": operator.and_, "|": operator.or_,
            "^": operator.xor}
    cmps = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
            "!=": operator.ne}
    if kind in ("bin", "mulc", "shift_const"):
        if attr in bins:
            return bins[attr](v[0], v[1])
        if attr in ("<<", ">>") and 0 <= v[1] <= 63:
            return v[0] << v[1] if attr == "<<" else v[0] >> v[1]
        if attr in ("//", "%") and v[1] != 0:
            return v[0] // v[1] if attr == "//" else v[0] % v[1]
        return None
    if kind == "cmp":
        return int(cmps[attr](v[0], v[1]))
    if kind == "neg":
        return -v[0]
    if kind == "inv":
        return ~v[0]
    if kind == "not":
        return int(v[0] == 0)
    if kind == "and":
        return int(bool(v[0]) and bool(v[1]))
    if kind == "or":
        return int(bool(v[0]) or bool(v[1]))
    if kind == "sel":
        return v[1] if v[0] else v[2]
    if kind == "min":
        return min(v)
    if kind == "max":
        return max(v)
    if kind == "abs":
        return abs(v[0])
    if kind == "cast" and t is not None:
        return t.wrap(v[0])
    return None
