"""Control: a bound, inlined, unrolled function becomes a finite-state machine with a datapath.

Straight-line runs of statements become scheduled blocks (one state per
cycle). The statements that start a compound statement (a loop's counter and
bound, an if's condition) are merged into the run before it, and a loop's
increment and exit test into the last block of its body, so control costs no
extra cycles where it can share one. Pipelined loops become one state with a
modulo-scheduled body; a perfect nest whose innermost loop is pipelined and
whose inner bounds are constants is flattened into one pipeline (the qk unit:
M x N scores at II = 1 with no drain between rows). A pipelined loop whose
bounds are read per row of its enclosing loop (CSR row pointers:
`for e in range(indptr[i], indptr[i + 1])`) is flattened too: the pipeline
reads the next row's bounds while it issues the current row, and moving to the
next row costs one cycle (`Rows`).

States 0 and 1 are IDLE and DONE; `start` (in either) clears the locals,
latches the scalar parameters and enters the body; `done` is high in DONE.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import count
from typing import Any

from hls import ir
from hls.errors import KernelError
from hls.hw.dfg import BOOL, Builder, Edge, Graph, Op, Timing, exact, int_type
from hls.hw.latency import Lat, row_trips, trips
from hls.hw.memory import Memory
from hls.hw.ops import FREE, MEMORY, OpKind
from hls.hw.schedule import Limits, ModuloResult, schedule_block, schedule_modulo
from hls.ir.walk import map_blocks
from hls.types import ArrayType, IntType, ScalarType, StreamType, bool_

_STRAIGHT = (ir.Assign, ir.Store, ir.Read, ir.Write)  # the statements of straight-line runs


@dataclass(eq=False)
class Label:
    """A forward reference to a state (resolved once the target is built)."""

    state: State | None = None
    alias: Label | None = None

    def get(self) -> State:
        label = self
        while label.state is None:
            if label.alias is None:
                raise RuntimeError("unresolved label: compiler bug")
            label = label.alias
        return label.state


@dataclass(eq=False)
class Block:
    """A scheduled straight-line region: `length` states, one per cycle."""

    graph: Graph
    length: int
    loc: ir.Loc | None


@dataclass(eq=False)
class Level:
    """One loop of a (flattened) pipeline: counter register, bounds, step."""

    var: str
    start: int | None  # constant start (inner levels), None for the outermost (set on entry)
    stop: int | str  # a constant or the register holding the bound
    step: int


@dataclass(eq=False)
class Rows:
    """A pipeline over the rows of an outer loop whose inner bounds change per row.

    `lo` and `hi` compute the bounds of the row the pipeline entered in the
    previous cycle (bounds that read memory: the read is issued one cycle ahead,
    from the next row's index) or of the current row (bounds without reads);
    they are used in the cycle after a row change (`adv`), then held in `e`'s
    counter and `hi_reg`. `lo` is None when a row starts where the previous
    one ended (lo(i + step) is hi(i)).
    """

    lo: Op | None
    hi: Op
    hi_reg: str
    adv: str
    idle: int  # the inner counter's value in cycles that issue nothing


@dataclass(eq=False)
class Pipeline:
    """A modulo-scheduled loop (nest): one state issuing an iteration every `ii` cycles, `depth` cycles each."""

    graph: Graph
    levels: list[Level]
    ii: int
    ii_asked: int
    depth: int
    reason: str
    loc: ir.Loc
    name: str
    idle: int = 0  # the outer counter's value in cycles that issue nothing: inside its IR type's range
    rows: Rows | None = None

    @property
    def drain(self) -> int:
        """The cycles after the last issue until the last iteration's results are written."""
        return max(0, self.depth - 1 - self.ii)


@dataclass(eq=False)
class State:
    """One FSM state: a cycle of a block, or a pipeline; where it goes next."""

    index: int
    block: Block | None = None
    cycle: int = 0
    pipe: Pipeline | None = None
    goto: Label | None = None
    cond: Op | None = None  # branch: to if_true when cond, else if_false (at the end of the block)
    if_true: Label | None = None
    if_false: Label | None = None


@dataclass
class Cont:
    """What follows a run: a condition to evaluate, statements to append, and where to go."""

    extra: list[ir.Stmt]
    term: ir.Expr | None
    true: Label
    false: Label | None = None
    lat: Lat = field(default_factory=Lat.zero)  # cycles from leaving the run to reaching `true`'s code


@dataclass(frozen=True)
class FlattenNote:
    """Why a loop around a pipelined loop was, or was not, flattened into its pipeline (for the report)."""

    line: int
    var: str
    flattened: bool
    why: str


@dataclass
class PipelineReport:
    """What the report says of one pipeline: its line, loop variable, II asked and achieved, depth, why."""

    line: int
    var: str
    ii_asked: int
    ii: int
    depth: int
    flattened: list[str]
    reason: str


class Hardware:
    """Everything the FSM and the emitter need: registers, memories, states."""

    def __init__(
        self, fn: ir.Function, memories: dict[str, Memory], timing: Timing, limits: Limits, strict_ii: bool = False
    ):
        self.fn = fn
        self.memories = memories
        self.timing = timing
        self.limits = limits
        self.strict_ii = strict_ii
        self._ids = count()
        self._names = count()
        self.decl: dict[str, ScalarType] = {}  # register -> declared type (stores wrap to it)
        self.params: list[ir.Param] = []  # the scalar parameters (array parameters are memories)
        self.streams: dict[str, StreamType] = {}  # stream parameters (valid/ready ports), in parameter order
        for p in fn.params:
            if isinstance(p.type, StreamType):
                self.streams[p.name] = p.type
            elif not isinstance(p.type, ArrayType):
                self.params.append(p)
                self.decl[p.name] = p.type
        for loc_ in fn.locals:
            self.decl[loc_.name] = loc_.type
        if fn.ret is not None:
            self.decl["_ret"] = fn.ret
        self.states: list[State] = [State(0), State(1)]
        self.idle, self.done = self.states
        self.blocks: list[Block] = []
        self.pipelines: list[Pipeline] = []
        self.reports: list[PipelineReport] = []
        self.not_pipelined: list[str] = []
        self.flattening: list[FlattenNote] = []  # one per loop that encloses a pipelined loop, in lowering order
        self.entry: Label
        self.latency: Lat

    def next_id(self) -> int:
        """A new op id (ids number the ops of the whole design in creation order)."""
        return next(self._ids)

    def fresh(self, stem: str, t: ScalarType) -> str:
        """Declare a new register of type `t`; returns its name."""
        name = f"_{stem}{next(self._names)}"
        self.decl[name] = t
        return name

    def reg_decl(self, name: str) -> ScalarType:
        """The declared type of register `name` (a store to it wraps to this type)."""
        return self.decl[name]

    def reg_type(self, name: str) -> IntType:
        """The integer type of register `name`."""
        return int_type(self.decl[name])

    def graphs(self) -> list[Graph]:
        """The dataflow graphs of every block, then of every pipeline."""
        return [b.graph for b in self.blocks] + [p.graph for p in self.pipelines]

    def stream_dirs(self) -> dict[str, str]:
        """Each stream parameter the schedule uses, in parameter order: "read" or "write"."""
        used = {
            o.stream: ("read" if o.kind == OpKind.SREAD else "write")
            for g in self.graphs()
            for o in g.ops
            if o.kind in (OpKind.SREAD, OpKind.SWRITE)
        }
        return {s: used[s] for s in self.streams if s in used}

    def block_names(self) -> dict[int, str]:
        """id(block) -> the block's name in printed schedules and errors: `b<its first state>`."""
        names: dict[int, str] = {}
        for st in self.states:
            if st.block is not None:
                names.setdefault(id(st.block), f"b{st.index}")
        return names

    # ---- stages (hls.compiler.lower calls them in this order) ----------------------------------------------

    def declare_loop_vars(self) -> None:
        """Declare a register for every variable the IR leaves undeclared (loop counters: one step past the end)."""
        from hls.ir.walk import statements, stmt_exprs, subexpressions

        body = self.fn.body
        seen: dict[str, IntType] = {}
        for s in statements(body):
            for e in stmt_exprs(s):
                for x in subexpressions(e):
                    if isinstance(x, ir.Var) and x.name not in self.decl:
                        t = int_type(x.type)
                        old = seen.get(x.name, t)
                        seen[x.name] = exact(min(old.lo, t.lo), max(old.hi, t.hi))
        for s in statements(body):
            if isinstance(s, ir.For):  # the counter also holds the value one step past the end
                st, sp = int_type(s.start.type), int_type(s.stop.type)
                step = abs(_const(s.step) or 0)
                old = seen.get(s.var, st)
                seen[s.var] = exact(min(old.lo, st.lo, sp.lo) - step, max(old.hi, st.hi, sp.hi) + step)
        for name, t in seen.items():
            self.decl[name] = t

    def expand_allocs(self, body: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
        """Zero-fill each local array where it is declared: a pipelined loop of stores per bank."""
        out: list[ir.Stmt] = []
        for s in body:
            if isinstance(s, ir.Alloc):
                out.extend(self._clear(s))
                continue
            out.append(map_blocks(s, self.expand_allocs))
        return tuple(out)

    def build_fsm(self, body: tuple[ir.Stmt, ...]) -> None:
        """Build the states of `body`, each region's dataflow graph scheduled as it is built.

        Straight-line runs are list-scheduled into blocks; pipelined loops (and flattened nests, and CSR row
        nests) are modulo-scheduled. Building and scheduling go together: a block's length makes its states,
        and a row pipeline is kept only when its schedule reaches II = 1.
        """
        self.entry, self.latency = self.seq(body, Cont([], None, Label(self.done)))

    def trim_ports(self) -> None:
        """Give each bank only the ports its schedule uses (at least one)."""
        used: dict[str, int] = {}
        for g in self.graphs():
            for o in g.ops:
                if o.kind in MEMORY:
                    used[o.bank.prefix] = max(used.get(o.bank.prefix, 1), o.port + 1)
        for mem in self.memories.values():
            mem.banks = [replace(b, ports=used.get(b.prefix, 1)) for b in mem.banks]

    def _clear(self, s: ir.Alloc) -> list[ir.Stmt]:
        """Zero every word of every bank: one pipelined loop over the bank address, the indices recovered."""
        from hls.passes.strength import reduce  # power-of-two strides and sizes: shifts and masks, no divider

        mem = self.memories[s.name]
        depth = mem.banks[0].depth
        var = self.fresh("clr", exact(0, depth))
        flat = ir.Var(var, exact(0, depth), s.loc)

        def const(v: int) -> ir.Const:
            return ir.Const(v, exact(v, v), s.loc)

        stores = []
        for bank in mem.banks:
            idx = mem.indices_of(bank, flat, depth, s.loc)
            stores.append(ir.Store(s.name, tuple(reduce(x) for x in idx), const(0), s.loc))
        return [ir.For(var, const(0), const(depth), const(1), "pipeline", tuple(stores), s.loc, ii=1)]

    # ---- sequences and compound statements -------------------------------------------------------------

    def seq(self, stmts: tuple[ir.Stmt, ...], cont: Cont) -> tuple[Label, Lat]:
        """Lower `stmts` followed by `cont`; returns the entry and the cycles until cont's target."""
        items: list[list[ir.Stmt] | ir.Stmt] = []
        for s in stmts:
            if isinstance(s, _STRAIGHT):
                if items and isinstance(items[-1], list):
                    items[-1].append(s)
                else:
                    items.append([s])
            else:
                items.append(s)
        for item in reversed(items):
            if isinstance(item, list):
                label, n = self.block(item, cont)
                cont = Cont([], None, label, lat=cont.lat + n)
            else:
                after, lat = self.materialize(cont)
                cont = self.compound(item, after, lat)
        return self.materialize(cont)

    def materialize(self, cont: Cont) -> tuple[Label, Lat]:
        """A label for `cont`: its target, or a block evaluating its statements and condition."""
        if not cont.extra and cont.term is None:
            return cont.true, cont.lat
        label, n = self.block([], cont)
        return label, cont.lat + n

    def compound(self, s: ir.Stmt, after: Label, lat: Lat) -> Cont:
        """Lower an if, a loop or a return followed by `after` (`lat` cycles to its target)."""
        if isinstance(s, ir.If):
            then, lt = self.seq(s.then, Cont([], None, after))
            orelse, le = self.seq(s.orelse, Cont([], None, after))
            return Cont([], s.cond, then, orelse, lat=Lat.either(lt, le) + lat)
        if isinstance(s, ir.While):
            body = Label()
            entry, lb = self.seq(s.body, Cont([], s.cond, body, after))
            body.alias = entry
            return Cont([], s.cond, entry, after, lat=lb * Lat.unknown(f"trips@{s.loc.line}") + lat)
        if isinstance(s, ir.For):
            levels, why = self._flatten(s)
            if levels is not None:
                if len(levels) > 1:
                    self._note(s, True, why)
                return self.pipeline(levels, after, lat)
            rows = self.rows(s, after, lat)
            if isinstance(rows, Cont):
                return rows  # rows() noted how
            self._note(s, False, f"{why}; not a row pipeline either: {rows}")
            return self.serial(s, after, lat)
        if isinstance(s, ir.Return):
            return Cont([ir.Assign("_ret", s.value, s.loc)], None, Label(self.done), lat=Lat.zero())
        raise KernelError(
            f"{type(s).__name__} cannot be lowered to hardware here",
            s.loc,
            "kernel calls must be inlined first (hls.lower does it)",
        )

    def serial(self, s: ir.For, after: Label, lat: Lat) -> Cont:
        """Lower a loop as FSM states: counter set and tested before, incremented and tested in its last block."""
        step = _const(s.step)
        if step is None or step == 0:
            raise KernelError("the range step must be a non-zero constant", s.loc, "write range(a, b, 2)")
        t = self.reg_type(s.var)
        stop_t = int_type(s.stop.type)
        extra: list[ir.Stmt] = [ir.Assign(s.var, s.start, s.loc)]
        if isinstance(s.stop, ir.Const):
            lim: ir.Expr = s.stop
        else:
            name = self.fresh("lim", stop_t)
            extra.append(ir.Assign(name, s.stop, s.loc))
            lim = ir.Var(name, stop_t, s.loc)
        op = "<" if step > 0 else ">"
        step_c = ir.Const(step, exact(step, step), s.loc)
        nxt = ir.BinOp("+", ir.Var(s.var, t, s.loc), step_c, exact(t.lo + min(step, 0), t.hi + max(step, 0)), s.loc)
        body = Label()
        latch = Cont([ir.Assign(s.var, nxt, s.loc)], ir.Compare(op, nxt, lim, bool_, s.loc), body, after)
        entry, lb = self.seq(s.body, latch)
        body.alias = entry
        return Cont(extra, ir.Compare(op, s.start, s.stop, bool_, s.loc), entry, after, lat=lb * trips(s, step) + lat)

    def _flatten(self, s: ir.For) -> tuple[list[ir.For] | None, str]:
        """The loops of a perfect nest ending in a pipelined loop that can be pipelined (else None), and why.

        Loops inside the outermost one need constant, non-empty ranges (they are
        counted by the pipeline's odometer); otherwise the outer loops stay FSM
        loops and the pipelined loop is found again when their bodies are lowered.
        """
        levels = [s]
        while levels[-1].kind != "pipeline":
            body = levels[-1].body
            if len(body) != 1 or not isinstance(body[0], ir.For):
                return (
                    None,
                    f"not a perfect nest: the body of the loop at line {levels[-1].loc.line} is "
                    f"{len(body)} statement(s), not one loop",
                )
            levels.append(body[0])
        inner = levels[-1]
        blocker = next((b for b in inner.body if not isinstance(b, _STRAIGHT)), None)
        if blocker is not None:
            what = type(blocker).__name__.lower()
            if len(levels) == 1:
                if self.strict_ii:
                    raise KernelError(
                        f"this loop cannot be pipelined: its body contains a {what}",
                        inner.loc,
                        "unroll inner loops fully, or drop pipeline()",
                    )
                self.not_pipelined.append(
                    f"line {inner.loc.line}: not pipelined, its body has a {what} at line {blocker.loc.line}"
                )
            return None, f"the pipelined loop at line {inner.loc.line} has a {what} in its body"
        if any(_const(f.step) in (None, 0) for f in levels):
            return None, "a loop step is not a non-zero constant"
        for f in levels[1:]:
            if _const(f.start) is None or _const(f.stop) is None:
                return None, f"the bounds of the loop at line {f.loc.line} are not constants"
            if trips(f, _const(f.step)).hi == 0:
                return None, f"the loop at line {f.loc.line} runs no iteration"
        names = ", ".join(f.var for f in levels)
        return levels, f"a perfect nest ({names}) with constant inner bounds: one pipeline, no drain between rows"

    def _note(self, s: ir.For, flattened: bool, why: str) -> None:
        """Record why `s` was or was not flattened, when it encloses a pipelined loop."""
        from hls.ir.walk import statements

        if s.kind != "pipeline" and any(isinstance(x, ir.For) and x.kind == "pipeline" for x in statements(s.body)):
            self.flattening.append(FlattenNote(s.loc.line, s.var, flattened, why))

    def pipeline(self, levels: list[ir.For], after: Label, lat: Lat) -> Cont:
        """Lower a (flattened) pipelined loop nest as one modulo-scheduled state."""
        inner = levels[-1]
        g = Graph()
        asked = inner.ii or 1
        res = self._schedule_body(g, levels, asked)
        if self.strict_ii and res.ii > asked:
            raise KernelError(
                f"II={asked} cannot be met: {res.reason}; the best is II={res.ii}",
                inner.loc,
                "raise ii, or remove the bound (more ports/multipliers, or fewer accesses)",
            )
        extra: list[ir.Stmt] = []
        lv = []
        for k, f in enumerate(levels):
            step = _const(f.step)
            assert step is not None  # _flatten admits only constant steps
            extra.append(ir.Assign(f.var, f.start, f.loc))
            if k == 0 and not isinstance(f.stop, ir.Const):
                name = self.fresh("lim", ir.value_type(f.stop))
                extra.append(ir.Assign(name, f.stop, f.loc))
                stop: int | str = name
            else:
                const_stop = _const(f.stop)
                assert const_stop is not None  # a Const here, or an inner level, whose bounds _flatten checked
                stop = const_stop
            lv.append(Level(f.var, None if k == 0 else _const(f.start), stop, step))
        p = Pipeline(
            g,
            lv,
            res.ii,
            asked,
            max(res.length, 1),
            res.reason,
            inner.loc,
            f"p{len(self.pipelines)}",
            _idle_value(inner.body, levels[0].var),
        )
        state = self._add_pipeline(p, [f.var for f in levels[:-1]], after)
        n = Lat.one()
        for f in levels:
            n = n * trips(f, _const(f.step))
        return Cont(extra, None, Label(state), lat=n * Lat.const(res.ii) + Lat.const(1 + p.drain) + lat)

    def rows(self, s: ir.For, after: Label, lat: Lat) -> Cont | str:
        """`for i: for e in pipeline(range(lo(i), hi(i)))` as one II = 1 pipeline over all rows, else why not.

        The bounds may read arrays the pipelined body does not write (row
        pointers). The row pointers of row i + step are read while row i issues,
        so a row costs its trip count plus one cycle. A reason (the nest stays an FSM
        loop around the pipeline) when the shape does not fit or the schedule
        cannot give II = 1 with the bounds one cycle after their reads.
        """
        from hls.ir.walk import statements, subexpressions
        from hls.passes._util import assigned, map_expr

        if (
            s.kind == "pipeline"
            or len(s.body) != 1
            or not isinstance(s.body[0], ir.For)
            or s.body[0].kind != "pipeline"
        ):
            return "its body is not one pipelined loop"
        inner = s.body[0]
        step, istep = _const(s.step), _const(inner.step)
        if step is None or step <= 0 or istep is None or istep <= 0 or (inner.ii or 1) != 1:
            return "it needs positive constant steps and ii=1"
        if any(not isinstance(b, _STRAIGHT) for b in inner.body):
            return "the pipelined body is not straight-line code"
        written = assigned(inner.body) | {inner.var}
        stored = {b.array for b in statements(inner.body) if isinstance(b, ir.Store)}
        bounds = (inner.start, inner.stop)
        for b in bounds:
            for x in subexpressions(b):
                if isinstance(x, ir.Var) and x.name in written:
                    return f"the inner bounds use `{x.name}`, which the pipelined body writes"
                if isinstance(x, ir.Load) and (
                    x.array in stored or x.array not in self.memories or len(self.memories[x.array].banks) != 1
                ):
                    return f"the inner bounds read `{x.array}`, written by the body or in several banks"
            if _reads(b) and _mentions(_without_loads(b), s.var):
                return "the row index is used outside the reads of the inner bounds"
        if s.var in assigned(inner.body):
            return f"the pipelined body writes the row index `{s.var}`"
        loc = s.loc
        stop: ir.Expr = s.stop
        lim = None
        if not isinstance(s.stop, ir.Const):
            stop_t = ir.value_type(s.stop)
            lim = self.fresh("lim", stop_t)
            stop = ir.Var(lim, stop_t, loc)
        reg_t = self.reg_type(s.var)

        def row(e: ir.Expr, shift: int) -> ir.Expr:
            """e with the row index i replaced by i + shift where that row exists, else by a row inside i's type."""

            def sub(x: ir.Expr) -> ir.Expr:
                if not (isinstance(x, ir.Var) and x.name == s.var):
                    return x
                t = int_type(x.type)
                r: ir.Expr = ir.Var(s.var, reg_t, loc)
                if shift:
                    r = ir.BinOp("+", r, _int(shift, loc), exact(reg_t.lo + shift, reg_t.hi + shift), loc)
                safe = _int(max(t.lo, min(0, t.hi)), loc)
                return ir.Select(ir.Compare("<", r, stop, bool_, loc), r, safe, x.type, loc)

            return map_expr(e, sub)

        def next_row(x: ir.Expr) -> ir.Expr:
            if isinstance(x, ir.Var) and x.name == s.var:
                return ir.BinOp("+", x, _int(step, loc), x.type, loc)
            return x

        lo_is_last_hi = _key(map_expr(inner.start, next_row)) == _key(inner.stop)
        reads = [_reads(b) for b in bounds]
        # (the row each bound is computed for, relative to the row register; the cycle its value is used in)
        tries = [[(step, step) if r else (0, 0) for r in reads]]  # a read is issued a cycle ahead, for the next row
        if not any(reads):  # a bound computed from the row index that does not fit in the cycle after a row change
            now, ahead = (0, 0), (step, 1)  # is computed a cycle ahead, for the next row, and registered
            tries += [[now, ahead], [ahead, now], [ahead, ahead]]
        for shifted in tries:
            g = Graph()
            bound = Builder(self, g)  # no counters: reads the row register itself
            outs = {"row_hi": bound.expr(row(inner.stop, shifted[1][0]))}
            if not lo_is_last_hi:
                outs["row_lo"] = bound.expr(row(inner.start, shifted[0][0]))
            g.outputs.update(outs)
            res = self._schedule_body(g, [s, inner], 1)
            lo, hi = g.outputs.get("row_lo"), g.outputs["row_hi"]
            late = [
                o for o, (_, at) in zip((lo, hi), shifted) if o is not None and o.kind != OpKind.CONST and o.ready != at
            ]
            # a bound computed ahead reads the row register in its first cycle only: one cycle later it has moved on
            stale = any(o.time > 0 and any(a.kind == OpKind.REG and a.reg == s.var for a in o.args) for o in g.ops)
            if res.ii == 1 and not late and not stale:
                if any(reads):
                    how = "read per row, the next row's while the current row issues"
                elif shifted[0][1] or shifted[1][1]:
                    how = "computed from the row index, the next row's while the current row issues"
                else:
                    how = "computed from the row index in the cycle after a row change"
                self._note(
                    s, True, f"the pipelined loop's bounds are {how}: one pipeline over every row, a cycle per row"
                )
                break
        else:
            if lim is not None:
                del self.decl[lim]
            if not any(reads):
                return (
                    f"its schedule cannot reach II = 1 with the row bounds, computed from the row index, "
                    f"ready a cycle after a row change (at {self.timing.clock_ns} ns)"
                )
            return "its schedule cannot reach II = 1 with the row bounds a cycle after their reads"
        hi_reg = self.fresh("hi", ir.value_type(inner.stop))
        adv = self.fresh("adv", bool_)
        extra: list[ir.Stmt] = [ir.Assign(s.var, s.start, loc)]
        if lim is not None:
            extra.append(ir.Assign(lim, s.stop, loc))
        extra += [
            ir.Assign(inner.var, row(inner.start, 0), inner.loc),
            ir.Assign(hi_reg, row(inner.stop, 0), inner.loc),
        ]
        outer_stop: int | str | None = lim if lim is not None else _const(s.stop)
        assert outer_stop is not None  # without a `lim` register, s.stop is a Const
        levels = [
            Level(s.var, None, outer_stop, step),
            Level(inner.var, None, hi_reg, istep),
        ]
        p = Pipeline(
            g,
            levels,
            1,
            1,
            max(res.length, 1),
            res.reason,
            inner.loc,
            f"p{len(self.pipelines)}",
            _idle_value(inner.body, s.var),
            Rows(lo, hi, hi_reg, adv, _idle_value(inner.body, inner.var)),
        )
        state = self._add_pipeline(p, [s.var], after)
        rows_lat = row_trips(s, inner, step, istep)
        if rows_lat is None:
            rows_lat = (trips(inner, istep) + Lat.one()) * trips(s, step)
        return Cont(extra, None, Label(state), lat=rows_lat + Lat.const(1 + p.drain) + lat)

    def _schedule_body(self, g: Graph, levels: list[ir.For], ii: int) -> ModuloResult:
        """Build the innermost loop's body into `g` (its counters and `valid` pinned to the issue cycle), order its
        memory accesses across iterations, and modulo-schedule it at II >= `ii`."""
        inner = levels[-1]
        builder = Builder(self, g)
        builder.counters = {
            f.var: builder.op(OpKind.SNAP, (), self.reg_type(f.var), f.var, f.loc, pinned=0, pure=False) for f in levels
        }
        builder.valid = builder.op(OpKind.VALID, (), BOOL, None, inner.loc, pinned=0, pure=False)
        for st in inner.body:
            builder.stmt(st)
        builder.finish()
        self._carried_memory_edges(g, [f.var for f in levels])
        return schedule_modulo(g, self.timing, self.limits, ii)

    def _add_pipeline(self, p: Pipeline, flattened: list[str], after: Label) -> State:
        """Record `p` and its report; its state, which leaves for `after`."""
        self.pipelines.append(p)
        self.reports.append(
            PipelineReport(p.loc.line, p.levels[-1].var, p.ii_asked, p.ii, p.depth, flattened, p.reason)
        )
        state = self.new_state(pipe=p)
        state.goto = after
        return state

    def _carried_memory_edges(self, g: Graph, loop_vars: list[str]) -> None:
        """Order memory accesses of consecutive iterations unless they provably touch different elements."""
        mem_ops = [o for o in g.ops if o.kind in MEMORY]
        for i, a in enumerate(mem_ops):
            for b in mem_ops[i + 1 :]:
                if a.bank is not b.bank or (a.kind == OpKind.LOAD and b.kind == OpKind.LOAD):
                    continue
                if _independent_across_iterations(a, b, loop_vars):
                    continue
                # b of iteration k before a of iteration k + 1 (a store is seen by loads a cycle later)
                g.edges.append(
                    Edge(
                        b,
                        a,
                        1 if b.kind == OpKind.STORE else 0,
                        1,
                        f"memory `{a.bank.array}` written in one iteration, accessed in the next",
                    )
                )

    def new_state(self, **kw: Any) -> State:
        """Add a state (after the ones so far)."""
        st = State(len(self.states), **kw)
        self.states.append(st)
        return st

    def block(self, stmts: list[ir.Stmt], cont: Cont) -> tuple[Label, Lat]:
        """Build and list-schedule `stmts` and `cont`'s statements and condition; one state per cycle."""
        g = Graph()
        b = Builder(self, g)
        for s in stmts:
            b.stmt(s)
        cond = b.truth(b.expr(cont.term)) if cont.term is not None else None
        for s in cont.extra:
            b.stmt(s)
        b.finish(cond)
        cond = g.outputs.get("cond")
        target = cont.true
        if cond is not None and cond.kind == OpKind.CONST:  # a branch decided at compile time
            if not cond.value:
                assert cont.false is not None  # a Cont with a condition (`term`) always has a false target
                target = cont.false
            cond = None
        if cond is None and all(o.kind in FREE for o in g.ops):
            return target, Lat.zero()  # nothing to do: no state
        length = max(schedule_block(g, self.timing, self.limits), 1)
        if cond is not None:
            length = max(length, cond.ready + 1)
        blk = Block(g, length, stmts[0].loc if stmts else None)
        self.blocks.append(blk)
        states = [self.new_state(block=blk, cycle=c) for c in range(length)]
        for a, nxt in zip(states, states[1:]):
            a.goto = Label(nxt)
        last = states[-1]
        if cond is not None and cont.false is not None:
            last.cond, last.if_true, last.if_false = cond, cont.true, cont.false
        else:
            last.goto = target
        return Label(states[0]), Lat.const(length)


def _idle_value(body: tuple[ir.Stmt, ...], var: str) -> int:
    """A value of `var` inside the range its uses are typed for (the bitwidth pass narrows it to the loop's range).

    Cycles that issue no iteration still compute (the results are dropped); feeding them the counter one
    step past the end would take expressions outside their exact types.
    """
    from hls.ir.walk import statements, stmt_exprs, subexpressions

    for s in statements(body):
        for e in stmt_exprs(s):
            for x in subexpressions(e):
                if isinstance(x, ir.Var) and x.name == var:
                    t = int_type(x.type)
                    return max(t.lo, min(0, t.hi))
    return 0


def _const(e: ir.Expr) -> int | None:
    return int(e.value) if isinstance(e, ir.Const) and isinstance(e.value, (int, bool)) else None


def _key(e: ir.Expr) -> tuple:
    """A structural key of an expression, ignoring source locations."""
    from hls.ir.walk import expr_children

    extra = tuple(getattr(e, f) for f in ("op", "name", "value", "array", "axis") if hasattr(e, f))
    return (type(e).__name__, extra, tuple(_key(c) for c in expr_children(e)))


def _injective_in(e: ir.Expr, var: str) -> bool:
    """e = var, var + c, c + var, var - c or c - var, with c free of var."""
    if isinstance(e, ir.Var):
        return e.name == var
    if isinstance(e, ir.Cast):
        return False
    if isinstance(e, ir.BinOp) and e.op in ("+", "-"):
        lhs_has, rhs_has = _mentions(e.lhs, var), _mentions(e.rhs, var)
        if lhs_has and not rhs_has:
            return _injective_in(e.lhs, var)
        if rhs_has and not lhs_has:
            return _injective_in(e.rhs, var)
    return False


def _int(v: int, loc: ir.Loc) -> ir.Const:
    return ir.Const(v, exact(v, v), loc)


def _reads(e: ir.Expr) -> bool:
    from hls.ir.walk import subexpressions

    return any(isinstance(x, ir.Load) for x in subexpressions(e))


def _without_loads(e: ir.Expr) -> ir.Expr:
    """e with every array read replaced by 0 (to ask what e uses outside its reads)."""
    from hls.passes._util import map_expr

    return map_expr(e, lambda x: _int(0, x.loc) if isinstance(x, ir.Load) else x)


def _mentions(e: ir.Expr, var: str) -> bool:
    from hls.ir.walk import subexpressions

    return any(isinstance(x, ir.Var) and x.name == var for x in subexpressions(e))


def _independent_across_iterations(a: Op, b: Op, loop_vars: list[str]) -> bool:
    """Same index expression, injective in every loop variable: iterations touch different elements."""
    if a.index is None or b.index is None or len(a.index) != len(b.index):
        return False
    if [_key(x) for x in a.index] != [_key(x) for x in b.index]:
        return False
    return all(any(_injective_in(x, v) for x in a.index) for v in loop_vars)


__all__ = ["Block", "FlattenNote", "Hardware", "Label", "Level", "Pipeline", "PipelineReport", "Rows", "State"]
