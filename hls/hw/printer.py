"""A deterministic text form of a scheduled `Hardware`: limits, memories, states, and every region's schedule.

    print(format_schedule(lower(qk_dense, M=2, N=2, D=4).hw))

Each block and pipeline lists its cycles and, in each, its ops in graph order:
`%id kind operator (operands) : type`, the memory port a load or store uses,
and the combinational window of the op inside its cycle (`start..end ns`).
Constants and register reads take no cycle: they appear inline among the
operands (`5`, `acc`). A pipeline also gives its II, depth, loop levels and
ordering edges (loop-carried ones with their distance). tests/test_schedule.py
pins the output for a few kernels.
"""

from __future__ import annotations

from hls.hw.dfg import Graph, Op
from hls.hw.fsm import Block, Hardware, Label, Pipeline, State
from hls.hw.ops import ARITHMETIC, MEMORY, OpKind


def format_schedule(hw: Hardware) -> str:
    """Return the schedule of `hw` as text (the same design always prints the same)."""
    mul = "unlimited" if hw.limits.multipliers is None else str(hw.limits.multipliers)
    lines = [
        f"hardware {hw.fn.name}: {len(hw.states)} states, latency {hw.latency}, clock {hw.timing.clock_ns} ns, "
        f"multipliers {mul}"
    ]
    for m in hw.memories.values():
        for b in m.banks:
            use = "/".join(x for x, on in (("read", m.reads), ("write", m.writes)) if on) or "unused"
            lines.append(f"memory {b.prefix}: {b.kind} {use}, {b.depth} x {b.elem}, {b.ports} port(s)")
    names = hw.block_names()
    names.update({id(p): p.name for p in hw.pipelines})
    lines.append(f"entry -> {_target(hw.entry)}")
    for st in hw.states:
        lines.append(_state(st, names))
    for blk in sorted(hw.blocks, key=lambda b: int(names[id(b)][1:])):  # in the order of their states
        lines += _block(blk, names[id(blk)])
    for p in hw.pipelines:
        lines += _pipeline(p)
    return "\n".join(lines) + "\n"


def _target(label: Label | None) -> str:
    return "-" if label is None else str(label.get().index)


def _state(st: State, names: dict[int, str]) -> str:
    if st.index in (0, 1):
        return f"state {st.index}: {'idle' if st.index == 0 else 'done'}"
    what = f"block {names[id(st.block)]} cycle {st.cycle}" if st.block is not None else f"pipeline {names[id(st.pipe)]}"
    if st.cond is not None:
        return f"state {st.index}: {what} -> {_target(st.if_true)} if {_operand(st.cond)} else {_target(st.if_false)}"
    return f"state {st.index}: {what} -> {_target(st.goto)}"


def _block(blk: Block, name: str) -> list[str]:
    line = f" (line {blk.loc.line})" if blk.loc is not None else ""
    return [f"block {name}{line}: {blk.length} cycle(s)"] + _cycles(blk.graph, blk.length, None) + _edges(blk.graph)


def _pipeline(p: Pipeline) -> list[str]:
    lines = [
        f"pipeline {p.name} (line {p.loc.line}): II={p.ii} (asked {p.ii_asked}), depth {p.depth}, "
        f"drain {p.drain}" + (f"; {p.reason}" if p.reason else "")
    ]
    for lv in p.levels:
        start = "entry" if lv.start is None else str(lv.start)
        lines.append(f"  level {lv.var}: from {start} to {lv.stop} step {lv.step}")
    if p.rows is not None:
        r = p.rows
        lo = "last hi" if r.lo is None else _operand(r.lo)
        lines.append(f"  rows: lo {lo}, hi {_operand(r.hi)}, held in {r.hi_reg}, row change {r.adv}")
    return lines + _cycles(p.graph, p.depth, p.ii) + _edges(p.graph)


def _cycles(g: Graph, length: int, ii: int | None) -> list[str]:
    lines: list[str] = []
    for cycle in range(length):
        phase = f" (phase {cycle % ii})" if ii is not None and ii > 1 else ""
        lines.append(f"  cycle {cycle}{phase}")
        here = [o for o in g.ops if o.time == cycle and o.kind not in (OpKind.CONST, OpKind.REG)]
        lines += [f"    {_op(o)}" for o in here] or ["    -"]
    return lines


def _edges(g: Graph) -> list[str]:
    return [f"  edge %{e.src.id} -> %{e.dst.id}: latency {e.latency}, distance {e.distance} ({e.why})" for e in g.edges]


def _op(o: Op) -> str:
    what = o.kind.value
    if o.kind in ARITHMETIC:
        what += f" {o.binop.value}"
    elif o.kind == OpKind.CMP:
        what += f" {o.cmpop.value}"
    elif o.kind in (OpKind.WREG, OpKind.SNAP):
        what += f" {o.reg}"
    elif o.kind in MEMORY:
        what += f" {o.bank.prefix}[port {o.port}]"
    if o.resource is not None and o.kind not in MEMORY:
        what += f" [{o.resource}]"
    args = f" ({', '.join(_operand(a) for a in o.args)})" if o.args else ""
    typ = f" : {o.type}" if o.type is not None else ""
    extra = " pinned" if o.pinned is not None else ""
    if o.latency:
        extra += f" latency {o.latency}"
    return f"%{o.id} {what}{args}{typ}  {o.start:.2f}..{o.start + o.delay:.2f} ns{extra}"


def _operand(a: Op) -> str:
    if a.kind == OpKind.CONST:
        return str(a.value)
    if a.kind == OpKind.REG:
        return a.reg
    return f"%{a.id}"


__all__ = ["format_schedule"]
